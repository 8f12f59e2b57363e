// The dashboard's panels: plain SQL over the demo's rollups (bot_5min, bot_daily), its query
// view bot_dashboard and rollup.status, never the raw events. Every panel takes the customer
// ($3, NULL for all) and the range [$1, $2) as parameters.

// The range picker's choices, in milliseconds.
export const RANGES = {
    '1h': 3_600_000,
    '24h': 86_400_000,
    '7d': 7 * 86_400_000,
    '30d': 30 * 86_400_000,
};
export const DEFAULT_RANGE = '24h';

const FIVE_MINUTES = 300_000;
const DAY = 86_400_000;

// The range ends at the end of the current 5-minute bucket and starts the picked length before:
// whole 5-minute buckets, which the query view's range form answers exactly. The per-day panel
// shows the 30 UTC days up to today's. (The rollups' buckets are UTC, from 2000-01-03, a Monday:
// Unix time multiples of 5 minutes and of a day.)
export function rangeOf(range, now = Date.now()) {
    const end = Math.floor(now / FIVE_MINUTES) * FIVE_MINUTES + FIVE_MINUTES;
    const start = end - RANGES[range];
    const daysStart = Math.floor((end - 1) / DAY) * DAY - 29 * DAY;
    return { start: new Date(start), end: new Date(end), daysStart: new Date(daysStart) };
}

// Events by platform and bucket. Up to a day: 5-minute rows; a week: 5-minute rows by hour;
// longer: the query view's range form by day (daily rows, and 5-minute rows for cut days).
function eventsQuery(range, { start, end }, customer) {
    if (RANGES[range] > 7 * DAY) {
        return {
            width: '1 day',
            text: `SELECT date_bin('1 day', bucket, '2000-01-03 00:00+00') AS bucket, platform, sum(events)::bigint AS events
                   FROM bot_dashboard($1, $2)
                   WHERE $3::text IS NULL OR customer = $3
                   GROUP BY 1, 2 ORDER BY 1, 2`,
            values: [start, end, customer],
        };
    }
    const width = RANGES[range] > DAY ? '1 hour' : '5 minutes';
    return {
        width,
        text: `SELECT date_bin($4::interval, bucket, '2000-01-03 00:00+00') AS bucket, platform, sum(events)::bigint AS events
               FROM bot_5min
               WHERE bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR customer = $3)
               GROUP BY 1, 2 ORDER BY 1, 2`,
        values: [start, end, customer, width],
    };
}

// name -> (range, bounds, customer) -> { text, values, ... }
export const PANELS = {
    events: eventsQuery,
    totals: (range, { start, end }, customer) => ({
        text: `SELECT coalesce(sum(events), 0)::bigint AS events,
                      coalesce(round(hll_cardinality(hll_union_agg(users))), 0)::bigint AS users,
                      coalesce(bool_and(exact), true) AS exact
               FROM bot_dashboard($1, $2)
               WHERE $3::text IS NULL OR customer = $3`,
        values: [start, end, customer],
    }),
    usersPerDay: (range, { daysStart }, customer) => ({
        text: `SELECT bucket AS day, round(hll_cardinality(hll_union_agg(users)))::bigint AS users
               FROM bot_daily
               WHERE bucket >= $1 AND ($2::text IS NULL OR customer = $2)
               GROUP BY 1 ORDER BY 1`,
        values: [daysStart, customer],
    }),
    top: (range, { start, end }, customer) => ({
        text: `SELECT item, frequency, lower_bound, upper_bound, guaranteed
               FROM topn_bounds((SELECT topn_union_agg(top_intents) FROM bot_dashboard($1, $2)
                                 WHERE $3::text IS NULL OR customer = $3), 20)`,
        values: [start, end, customer],
    }),
    status: () => ({
        text: `SELECT name, pending_rows, extract(epoch FROM lag)::float8 AS lag_seconds, watermark,
                      extract(epoch FROM now() - last_run_end)::float8 AS last_run_seconds_ago,
                      total_runs, last_error
               FROM rollup.status
               WHERE name IN ('bot_5min', 'bot_daily')
               ORDER BY name`,
        values: [],
    }),
};

export const CUSTOMERS_SQL = 'SELECT DISTINCT customer FROM bot_daily ORDER BY 1';
