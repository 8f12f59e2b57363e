// The live dashboard: one process serving the page and a JSON API whose panels are plain SQL
// over the demo's rollups (panels.mjs). Connects as libpq does (PGHOST, PGPORT, PGDATABASE,
// PGUSER); listens on 127.0.0.1:$PORT (default 8029; 0 picks a free port) and prints its URL.
import express from 'express';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CUSTOMERS_SQL, DEFAULT_RANGE, PANELS, RANGES, rangeOf } from './panels.mjs';

// Counts are bigint and numeric in SQL, far below 2^53 here: numbers in JSON.
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, Number);

const pool = new pg.Pool({ max: 4, application_name: 'pg_rollup dashboard' });
// An idle connection that the server ends must not take the process down.
pool.on('error', (err) => console.error(`dashboard: idle connection: ${err.message}`));

class BadRequest extends Error {}

// The panels' rows and their queries' times, one query after the other on one connection of
// the pool (a new connection's set-up is not a query's time, nor are the other panels' queries
// competing for the same cores).
async function timed(queries) {
    const client = await pool.connect();
    try {
        const results = [];
        for (const query of queries) {
            const t0 = performance.now();
            const { rows } = await client.query(query.text, query.values);
            results.push({ rows, ms: Math.round((performance.now() - t0) * 10) / 10 });
        }
        return results;
    } finally {
        client.release();
    }
}

async function customers() {
    const { rows } = await pool.query(CUSTOMERS_SQL);
    return rows.map((r) => r.customer);
}

// ?range= one of RANGES (default 24h); ?customer= one of the rollups' customers, or empty for all.
async function parameters(query) {
    const range = query.range ?? DEFAULT_RANGE;
    if (typeof range !== 'string' || !Object.hasOwn(RANGES, range)) {
        throw new BadRequest(`range must be one of ${Object.keys(RANGES).join(', ')}`);
    }
    const customer = query.customer ?? '';
    if (typeof customer !== 'string') throw new BadRequest('customer must be given once');
    if (customer !== '' && !(await customers()).includes(customer)) {
        throw new BadRequest(`unknown customer ${JSON.stringify(customer.slice(0, 100))}`);
    }
    return { range, customer: customer === '' ? null : customer };
}

const app = express();
app.disable('x-powered-by');
app.use(express.static(fileURLToPath(new URL('public', import.meta.url))));
app.use('/vendor/chart.js', express.static(fileURLToPath(new URL('node_modules/chart.js/dist', import.meta.url))));

app.get('/api/customers', async (req, res) => {
    res.json({ customers: await customers() });
});

app.get('/api/panels', async (req, res) => {
    const { range, customer } = await parameters(req.query);
    const bounds = rangeOf(range);
    const names = Object.keys(PANELS);
    const queries = names.map((name) => PANELS[name](range, bounds, customer));
    const results = await timed(queries);
    const panels = Object.fromEntries(names.map((name, i) => [name, { ...results[i], width: queries[i].width }]));
    res.json({ range, customer, ...bounds, generatedAt: new Date(), panels });
});

app.use('/api', (req, res) => res.status(404).json({ error: `no such API: ${req.method} ${req.path}` }));

// Errors as JSON: a bad parameter is the caller's (400), anything else (say the database is
// down) is ours (500); the process stays up either way.
app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof BadRequest) return res.status(400).json({ error: err.message });
    console.error(`dashboard: ${req.method} ${req.originalUrl}: ${err.message}`);
    res.status(500).json({ error: err.message });
});

const port = Number(process.env.PORT ?? 8029);
const server = app.listen(port, '127.0.0.1', () => {
    console.log(`dashboard: http://127.0.0.1:${server.address().port}/`);
});
server.on('error', (err) => {
    console.error(`dashboard: ${err.message}`);
    process.exit(1);
});

function stop() {
    server.close(() => pool.end().then(() => process.exit(0)));
    server.closeAllConnections();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
