// The demo's event stream: every 2 seconds a batch of webhooks (STREAM_BATCH, default 200;
// every 10th a retry of an earlier one) staged by demo/bots.sql's demo_stage and ingested with
// rollup.ingest, until stopped (SIGINT, SIGTERM). Connects as libpq does (PGHOST, PGDATABASE...).
import pg from 'pg';

const BATCH = Number(process.env.STREAM_BATCH ?? 200);
const INTERVAL_MS = 2000;

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

// Batches overlap by a tenth of their keys, as late retries of the previous batch do.
for (let i = 1; !stopping; i++) {
    const t0 = Date.now();
    await client.query('SELECT demo_stage($1, $2, $3, now())', [BATCH, 1_000_000 + i * Math.round(BATCH * 0.9), `${INTERVAL_MS} milliseconds`]);
    const { rows: [r] } = await client.query("SELECT * FROM rollup.ingest('bot_events', 'bot_staging')");
    if (i === 1 || i % 30 === 0) {
        console.log(`stream: batch ${i}: ${r.inserted} inserted, ${r.duplicates} duplicates`);
    }
    if (stopping) break;
    await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, INTERVAL_MS - (Date.now() - t0)));
        wake = () => { clearTimeout(timer); resolve(); };
    });
}
await client.end();
