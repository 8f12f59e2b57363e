// Fetches /api/panels every 5 seconds and on every pick, and draws what it returns. After each
// drawing, <body data-range data-customer data-start data-end data-days-start data-refreshes>
// says what is shown (the browser test reads it).
'use strict';

const REFRESH_MS = 5000;
const PLATFORM_COLORS = { facebook: '#3d7bd9', kik: '#7c3aed', slack: '#e0a100', telegram: '#17a2b8', twilio: '#d9480f' };
const number = (n) => Number(n).toLocaleString('en-US');
const utc = (iso, width) => (width === '1 day' ? iso.slice(5, 10) : iso.slice(11, 16));
const $ = (selector) => document.querySelector(selector);

const params = new URLSearchParams(location.search);
const state = { range: params.get('range') || '24h', customer: params.get('customer') || '', refreshes: 0 };
let latest = 0; // the sequence number of the newest request: older answers are dropped

function chart(canvas, type, stacked) {
    return new Chart(canvas, {
        type,
        data: { labels: [], datasets: [] },
        options: {
            animation: false,
            maintainAspectRatio: false,
            interaction: { mode: 'index', intersect: false },
            elements: { point: { radius: 0 } },
            plugins: { legend: { position: 'bottom' } },
            scales: {
                x: { stacked, ticks: { maxRotation: 0, autoSkipPadding: 12, callback() { return ''; } } },
                y: { stacked, beginAtZero: true },
            },
        },
    });
}
const eventsChart = chart($('#events-chart'), 'bar', true);
const usersChart = chart($('#users-chart'), 'bar', false);

// Labels are the buckets' ISO times (what the test compares); ticks and tooltips show them as UTC.
function setTimeLabels(c, labels, width) {
    c.data.labels = labels;
    const show = (i) => utc(labels[i], width);
    c.options.scales.x.ticks.callback = show;
    c.options.plugins.tooltip = { callbacks: { title: (items) => `${labels[items[0].dataIndex]} UTC` } };
}

function drawEvents({ rows, width }) {
    const labels = [...new Set(rows.map((r) => r.bucket))];
    const index = new Map(labels.map((l, i) => [l, i]));
    const platforms = [...new Set(rows.map((r) => r.platform))].sort();
    const data = Object.fromEntries(platforms.map((p) => [p, new Array(labels.length).fill(0)]));
    for (const r of rows) data[r.platform][index.get(r.bucket)] = r.events;
    setTimeLabels(eventsChart, labels, width);
    eventsChart.data.datasets = platforms.map((p) => ({
        label: p, data: data[p], backgroundColor: PLATFORM_COLORS[p], borderWidth: 0, barPercentage: 1, categoryPercentage: 1,
    }));
    eventsChart.update();
    $('#events-title').textContent = `Events per ${width === '5 minutes' ? '5 minutes' : width.replace('1 ', '')} by platform`;
    $('#events-source').textContent = width === '1 day' ? 'bot_dashboard(from, to)' : 'bot_5min';
}

function drawUsersPerDay({ rows }) {
    setTimeLabels(usersChart, rows.map((r) => r.day), '1 day');
    usersChart.data.datasets = [{ label: 'distinct users (hll)', data: rows.map((r) => r.users), backgroundColor: '#3d7bd9' }];
    usersChart.options.plugins.legend.display = false;
    usersChart.update();
}

function drawTotals({ rows: [t] }) {
    $('#total-events').textContent = number(t.events);
    $('#total-users').textContent = number(t.users);
    $('#total-exact').textContent = t.exact ? 'yes' : 'no';
}

function fillTable(table, rows) {
    table.tBodies[0].replaceChildren(...rows.map((cells) => {
        const tr = document.createElement('tr');
        for (const c of cells) tr.insertCell().textContent = c;
        return tr;
    }));
}

function drawTop({ rows }) {
    fillTable($('#top-table'), rows.map((r, i) => [
        i + 1, r.item, number(r.frequency), number(r.lower_bound), number(r.upper_bound), r.guaranteed ? 'guaranteed' : 'maybe',
    ]));
}

function drawStatus({ rows }) {
    fillTable($('#status-table'), rows.map((r) => [
        r.name,
        r.pending_rows === null ? '–' : number(r.pending_rows),
        r.lag_seconds === null ? 'caught up' : `${r.lag_seconds.toFixed(1)} s`,
        number(r.watermark),
        r.last_error ? `error: ${r.last_error}` : r.last_run_seconds_ago === null ? 'never' : `${Math.round(r.last_run_seconds_ago)} s ago`,
        number(r.total_runs),
    ]));
}

const DRAW = { events: drawEvents, totals: drawTotals, usersPerDay: drawUsersPerDay, top: drawTop, status: drawStatus };

async function refresh() {
    const seq = ++latest;
    const query = new URLSearchParams({ range: state.range, customer: state.customer });
    try {
        const res = await fetch(`api/panels?${query}`);
        const body = await res.json();
        if (!res.ok) throw new Error(body.error || res.statusText);
        if (seq !== latest) return;
        for (const [name, panel] of Object.entries(body.panels)) {
            DRAW[name](panel);
            document.querySelector(`[data-panel="${name}"] .ms`).textContent = `query ${panel.ms.toFixed(1)} ms`;
        }
        $('#updated').textContent = `${body.start.slice(0, 16)} to ${body.end.slice(0, 16)} UTC · updated ${body.generatedAt.slice(11, 19)} UTC, every ${REFRESH_MS / 1000} s`;
        $('#error').hidden = true;
        Object.assign(document.body.dataset, {
            range: body.range, customer: body.customer ?? '', start: body.start, end: body.end,
            daysStart: body.daysStart, refreshes: ++state.refreshes,
        });
    } catch (err) {
        if (seq !== latest) return;
        $('#error').textContent = `Could not refresh: ${err.message}`;
        $('#error').hidden = false;
    }
}

function pick(change) {
    Object.assign(state, change);
    const query = new URLSearchParams({ range: state.range });
    if (state.customer) query.set('customer', state.customer);
    history.replaceState(null, '', `?${query}`);
    for (const b of document.querySelectorAll('#ranges button')) b.setAttribute('aria-pressed', b.dataset.range === state.range);
    refresh();
}

async function start() {
    const res = await fetch('api/customers');
    const { customers = [] } = await res.json();
    const select = $('#customer');
    for (const c of customers) select.add(new Option(c, c));
    select.value = state.customer;
    select.addEventListener('change', () => pick({ customer: select.value }));
    for (const b of document.querySelectorAll('#ranges button')) b.addEventListener('click', () => pick({ range: b.dataset.range }));
    pick({});
    setInterval(refresh, REFRESH_MS);
}

start();
