// The dashboard in headless Chromium: loads the page, waits for every panel, reads what each
// shows (the charts' plotted data, the tiles' and tables' text) and compares it with the answers
// of SQL written here, over the same range; then picks other ranges and a customer with real
// clicks, adds events and waits for the page to show them by itself, tries bad parameters on
// the API. Saves a screenshot of the page as it first opens. Prints "ok - ..." / "not ok - ..." a check; exits 1 on any
// failure. Never asserts timings.
//
//   DASHBOARD_URL (default http://127.0.0.1:8029/), SCREENSHOT (default dashboard.png),
//   CHROMIUM (default /usr/bin/chromium), and libpq's PGHOST, PGPORT, PGDATABASE, PGUSER.
import assert from 'node:assert/strict';
import pg from 'pg';
import puppeteer from 'puppeteer-core';

const URL_ = process.env.DASHBOARD_URL ?? 'http://127.0.0.1:8029/';
const SCREENSHOT = process.env.SCREENSHOT ?? 'dashboard.png';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const RANGE_MS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };
const ORIGIN = '2000-01-03 00:00+00';

pg.types.setTypeParser(pg.types.builtins.INT8, Number);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, Number);

let failures = 0;
async function check(name, fn) {
    try {
        await fn();
        console.log(`ok - ${name}`);
    } catch (err) {
        failures++;
        console.log(`not ok - ${name}\n    ${String(err.message).split('\n').join('\n    ')}`);
    }
}

// Never hang a test run: the whole test has two minutes.
setTimeout(() => {
    console.log('not ok - the browser test finished within 2 minutes');
    process.exit(1);
}, 120_000).unref();

const db = new pg.Client({ application_name: 'pg_rollup dashboard test' });
await db.connect();
const rows = async (text, values) => (await db.query(text, values)).rows;
const digits = (text) => Number(text.replace(/,/g, ''));

// What the page shows, read at one instant.
async function shown(page) {
    return page.evaluate(() => {
        const plotted = (id) => {
            const chart = Chart.getChart(document.getElementById(id));
            return { labels: chart.data.labels, datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data })) };
        };
        const table = (id) => [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [...tr.cells].map((td) => td.textContent));
        const text = (selector) => document.querySelector(selector).textContent;
        return {
            ...document.body.dataset,
            events: plotted('events-chart'),
            eventsTitle: text('#events-title'),
            usersPerDay: plotted('users-chart'),
            totals: { events: text('#total-events'), users: text('#total-users'), exact: text('#total-exact') },
            top: table('top-table'),
            status: table('status-table'),
            times: [...document.querySelectorAll('[data-panel] .ms')].map((e) => e.textContent),
            error: document.getElementById('error').hidden ? null : text('#error'),
        };
    });
}

// The events chart as {bucket: {platform: events}}, zeros left out.
function byBucket(chart) {
    const out = {};
    for (const { label, data } of chart.datasets) {
        data.forEach((v, i) => {
            if (v !== 0) (out[chart.labels[i]] ??= {})[label] = v;
        });
    }
    return out;
}

// Compares everything the page shows with SQL over the range it says it shows.
async function verify(page, what, range, customer) {
    const s = await shown(page);
    const c = customer || null;
    await check(`${what}: the page shows range ${range}, customer ${customer || 'all'}, no error`, () => {
        assert.equal(s.error, null);
        assert.equal(s.range, range);
        assert.equal(s.customer, customer);
        assert.equal(Date.parse(s.end) - Date.parse(s.start), RANGE_MS[range]);
        assert.equal(Date.parse(s.end) % 300_000, 0, 'the range ends on a 5-minute bucket');
    });
    const width = { '1h': '5 minutes', '24h': '5 minutes', '7d': '1 hour', '30d': '1 day' }[range];
    // Straight from the 5-minute rows, whatever the width: the daily chart and the totals read
    // the query view, which must add up to the same.
    const events = await rows(
        `SELECT date_bin($4::interval, bucket, '${ORIGIN}') AS bucket, platform, sum(events) AS events
         FROM bot_5min WHERE bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR customer = $3)
         GROUP BY 1, 2`, [s.start, s.end, c, width]);
    await check(`${what}: events per ${width} by platform`, () => {
        const expected = {};
        for (const r of events) (expected[r.bucket.toISOString()] ??= {})[r.platform] = r.events;
        assert.ok(Object.keys(expected).length > 0, 'SQL finds events in the range');
        assert.deepEqual(byBucket(s.events), expected);
        assert.equal(s.eventsTitle, `Events per ${width === '5 minutes' ? width : width.slice(2)} by platform`);
    });
    const [totals] = await rows(
        `SELECT (SELECT sum(events) FROM bot_5min WHERE bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR customer = $3)) AS events,
                round(hll_cardinality(hll_union_agg(users))) AS users, bool_and(exact) AS exact
         FROM bot_dashboard($1, $2) WHERE $3::text IS NULL OR customer = $3`, [s.start, s.end, c]);
    await check(`${what}: total events and distinct users`, () => {
        assert.deepEqual(
            { events: digits(s.totals.events), users: digits(s.totals.users), exact: s.totals.exact },
            { events: totals.events, users: totals.users, exact: totals.exact ? 'yes' : 'no' });
        assert.equal(totals.exact, true, 'the view answers the range exactly');
    });
    const perDay = await rows(
        `SELECT bucket AS day, round(hll_cardinality(hll_union_agg(users))) AS users FROM bot_daily
         WHERE bucket >= $1 AND ($2::text IS NULL OR customer = $2) GROUP BY 1 ORDER BY 1`, [s.daysStart, c]);
    await check(`${what}: distinct users per day, 30 days`, () => {
        assert.equal(Date.parse(s.end) - Date.parse(s.daysStart) <= 30 * 86_400_000, true);
        assert.deepEqual(s.usersPerDay.labels, perDay.map((r) => r.day.toISOString()));
        assert.deepEqual(s.usersPerDay.datasets[0].data, perDay.map((r) => r.users));
    });
    const top = await rows(
        `SELECT item, frequency, lower_bound, upper_bound, guaranteed
         FROM topn_bounds((SELECT topn_union_agg(top_intents) FROM bot_dashboard($1, $2)
                           WHERE $3::text IS NULL OR customer = $3), 20)`, [s.start, s.end, c]);
    await check(`${what}: top 20 queries with their bounds`, () => {
        assert.ok(top.length > 0 && top.length <= 20, `${top.length} items`);
        assert.deepEqual(
            s.top.map(([rank, item, f, lo, hi, g]) => [Number(rank), item, digits(f), digits(lo), digits(hi), g]),
            top.map((r, i) => [i + 1, r.item, r.frequency, r.lower_bound, r.upper_bound, r.guaranteed ? 'guaranteed' : 'maybe']));
    });
    const status = await rows(
        `SELECT name, pending_rows, lag, watermark, total_runs FROM rollup.status
         WHERE name IN ('bot_5min', 'bot_daily') ORDER BY name`);
    await check(`${what}: rollup lag from rollup.status`, () => {
        assert.deepEqual(
            s.status.map(([name, pending, , watermark, , runs]) => [name, pending === '–' ? null : digits(pending), digits(watermark), digits(runs)]),
            status.map((r) => [r.name, r.pending_rows, r.watermark, r.total_runs]));
        s.status.forEach(([, , lag], i) => assert.match(lag, status[i].lag === null ? /^caught up$/ : /^\d+\.\d s$/));
    });
    await check(`${what}: every panel shows its query time`, () => {
        assert.equal(s.times.length, 5);
        for (const t of s.times) assert.match(t, /^query \d+\.\d ms$/);
    });
}

// Waits until the page has drawn the answer for this range and customer.
async function drawn(page, range, customer) {
    await page.waitForFunction(
        (r, c) => document.body.dataset.range === r && document.body.dataset.customer === c,
        { timeout: 20_000 }, range, customer);
}

const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true, // Chromium's new headless mode
    args: ['--no-sandbox', '--disable-dev-shm-usage'], // as root, in a container
});
try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1050 });
    const pageErrors = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && pageErrors.push(msg.text()));

    await page.goto(URL_, { waitUntil: 'domcontentloaded' });
    await drawn(page, '24h', '');
    await verify(page, '24 h, all customers', '24h', '');
    // The page as the demo shows it: the history and what the stream added, before the burst
    // below; after a refresh, so that the query times are those of the dashboard's connections
    // once they have been used, not of their first queries.
    const refreshes = await page.evaluate(() => Number(document.body.dataset.refreshes));
    await page.waitForFunction((n) => Number(document.body.dataset.refreshes) > n, { timeout: 20_000 }, refreshes);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);

    await page.click('button[data-range="7d"]');
    await drawn(page, '7d', '');
    await verify(page, '7 d, all customers', '7d', '');

    const [customer] = (await rows('SELECT customer FROM bot_daily GROUP BY 1 ORDER BY sum(events) DESC OFFSET 1 LIMIT 1')).map((r) => r.customer);
    await page.select('#customer', customer);
    await drawn(page, '7d', customer);
    await verify(page, `7 d, ${customer}`, '7d', customer);

    await page.click('button[data-range="30d"]');
    await drawn(page, '30d', customer);
    await verify(page, `30 d, ${customer}`, '30d', customer);

    await page.click('button[data-range="1h"]');
    await drawn(page, '1h', customer);
    await verify(page, `1 h, ${customer}`, '1h', customer);

    // New events, rolled up: the page shows them at its next refresh, without being told.
    const before = await page.$eval('#total-events', (e) => e.textContent);
    await db.query("SELECT demo_stage(2000, 900000000, '1 minute', now())");
    await db.query("SELECT * FROM rollup.ingest('bot_events', 'bot_staging')");
    await db.query("SELECT rollup.run('bot_5min')");
    await check('the page refreshes itself: new events show up', () => page.waitForFunction(
        (b) => document.querySelector('#total-events').textContent !== b, { timeout: 15_000 }, before));
    await verify(page, `1 h, ${customer}, after new events`, '1h', customer);

    await page.select('#customer', '');
    await page.click('button[data-range="24h"]');
    await drawn(page, '24h', '');
    await verify(page, '24 h, all customers, after new events', '24h', '');

    await check('no error in the page', () => assert.deepEqual(pageErrors, []));
    for (const [query, status] of [['range=2y', 400], ['customer=nobody', 400], ['range=1h&range=7d', 400]]) {
        await check(`the API answers ?${query} with a JSON error (${status})`, async () => {
            const res = await fetch(new URL(`api/panels?${query}`, URL_));
            assert.equal(res.status, status);
            assert.match((await res.json()).error, /\w/);
        });
    }
} finally {
    await browser.close();
    await db.end();
}
console.log(failures === 0 ? 'browser test: all checks passed' : `browser test: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
