// The demo's event stream: batches of webhooks (every 10th a retry of an earlier one) staged by
// demo/bots.sql's demo_stage and ingested with rollup.ingest, until stopped (SIGINT, SIGTERM).
// Its rate is the history's at this time of the week: the events per second in bot_5min over
// the hour around now, a week earlier (asked again every minute), in batches of about 2 seconds
// of it, at least 1 event (then less often). STREAM_BATCH=n: n events every 2 seconds instead.
// Connects as libpq does (PGHOST, PGDATABASE...).
import pg from 'pg';

const FIXED_BATCH = process.env.STREAM_BATCH ? Number(process.env.STREAM_BATCH) : null;
const INTERVAL_MS = 2000;
// Keys of the stream's events: apart from the history's and from other streams'.
const SEED = 1_000_000_000 + (Date.now() % 1_000_000) * 1000;

const client = new pg.Client({ application_name: 'pg_rollup demo stream' });
await client.connect();

let stopping = false;
let wake = () => {};
function stop() {
    stopping = true;
    wake();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

// Events per second a week ago, in the hour around the same time.
async function historyRate() {
    const { rows: [r] } = await client.query(
        `SELECT coalesce(sum(events), 0)::float8 / 3600 AS rate FROM bot_5min
         WHERE bucket >= now() - interval '7 days 30 minutes' AND bucket < now() - interval '6 days 23 hours 30 minutes'`);
    return r.rate;
}

let rate = 0;
let rateAt = 0;
let key = SEED;
for (let i = 1; !stopping; i++) {
    const t0 = Date.now();
    if (FIXED_BATCH === null && t0 - rateAt >= 60_000) {
        rate = await historyRate();
        rateAt = t0;
    }
    const batch = FIXED_BATCH ?? Math.max(1, Math.round((rate * INTERVAL_MS) / 1000));
    const intervalMs = FIXED_BATCH === null && rate > 0 ? (batch / rate) * 1000 : INTERVAL_MS;
    // Consecutive batches overlap by a tenth of their keys, as late retries of the previous batch do.
    await client.query('SELECT demo_stage($1, $2, $3, now())', [batch, key, `${Math.round(intervalMs)} milliseconds`]);
    key += Math.max(1, Math.round(batch * 0.9));
    const { rows: [r] } = await client.query("SELECT * FROM rollup.ingest('bot_events', 'bot_staging')");
    if (i === 1 || i % 30 === 0) {
        console.log(`stream: batch ${i}: ${r.inserted} inserted, ${r.duplicates} duplicates` +
            (FIXED_BATCH === null ? ` (${(rate * 300).toFixed(0)} events per 5 minutes, as a week ago)` : ''));
    }
    if (stopping) break;
    await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - t0)));
        wake = () => { clearTimeout(timer); resolve(); };
    });
}
await client.end();
