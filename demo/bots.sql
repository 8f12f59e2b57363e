-- The demo's part 2, set up: bot events of several customers and platforms, with retries,
-- deduplicated, 30 days of history shaped like real traffic (a daily and a weekly cycle, growth),
-- rolled up into 5-minute and daily rows with a query view. Included by demo.sql; the dashboard's
-- test (examples/dashboard) runs it alone; fewer events: psql -v history_events=20000 -f demo/bots.sql.
\if :{?history_events}
\else
\set history_events 500000
\endif
\echo
\echo '== Part 2: bot analytics. An events table for every platform, deduplicated by per-platform rules'
CREATE TABLE bot_events (
    id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
    customer text NOT NULL,
    platform text NOT NULL,
    bot_id int NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL);
SELECT platform, rollup.add_uniqueness_rule('bot_events', platform, preset => preset) AS index
FROM rollup.uniqueness_presets() WHERE preset <> 'web';
CREATE UNLOGGED TABLE bot_staging (customer text, platform text, bot_id int, received_at timestamptz, payload jsonb);
-- The demo's traffic at ts, relative to its busiest: a daily cycle peaking at 14:00 UTC (from
-- 0.3 at 02:00 to 1.7), weekends (UTC) at 60%, and 25% growth from `since` to `until`.
CREATE FUNCTION demo_traffic(ts timestamptz, since timestamptz, until timestamptz) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (1 + 0.7 * sin(2 * pi() * (extract(epoch FROM ts) / 3600 - 8) / 24)) / 1.7
         * CASE WHEN extract(isodow FROM ts AT TIME ZONE 'UTC') > 5 THEN 0.6 ELSE 1 END
         / (1 + 0.25 * extract(epoch FROM until - ts) / greatest(extract(epoch FROM until - since), 1))
$$;
-- n events over the `span` before `until`; every 10th is a webhook retry of an earlier one.
-- 20 bots, each on one platform, belong to 4 customers of different sizes (10, 5, 3 and 2 bots).
-- Uniform over the span, or with `shaped`, shaped like real traffic (demo_traffic): candidate
-- times, uniform over the span, are kept with the traffic's weight there until n are kept (a
-- retry has its original's time, so both are kept or neither).
CREATE FUNCTION demo_stage(n int, seed bigint, span interval, until timestamptz, shaped boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bot_staging
    SELECT CASE WHEN b.bot_id < 10 THEN 'acme' WHEN b.bot_id < 15 THEN 'globex' WHEN b.bot_id < 18 THEN 'initech' ELSE 'umbrella' END,
           p.platform, b.bot_id, s.at,
           CASE p.platform
               WHEN 'facebook' THEN jsonb_build_object('sender', k % 50000, 'message', jsonb_build_object('mid', 'm.' || k, 'text', q.query))
               WHEN 'slack' THEN jsonb_build_object('event_id', 'Ev' || k, 'user', k % 50000, 'text', q.query)
               WHEN 'twilio' THEN jsonb_build_object('MessageSid', 'SM' || k, 'From', k % 50000, 'Body', q.query)
               WHEN 'kik' THEN jsonb_build_object('id', 'kik-' || k, 'from', k % 50000, 'body', q.query)
               ELSE jsonb_build_object('update_id', k, 'from', k % 50000, 'text', q.query) END
    FROM (SELECT c.k, t.at FROM (SELECT seed + CASE WHEN i % 10 = 0 THEN i / 2 ELSE i END AS k FROM generate_series(1, 4 * n) i) c,
                 LATERAL (SELECT until - span * ((hashint8(c.k) & 1048575) / 1048576.0) AS at) t
          WHERE NOT shaped OR (hashint8(c.k * 17 + 1) & 1048575) / 1048576.0 < demo_traffic(t.at, until - span, until)
          LIMIT n) s,
         LATERAL (SELECT (ARRAY['facebook', 'slack', 'twilio', 'kik', 'telegram'])[1 + s.k % 5] AS platform) p,
         LATERAL (SELECT (s.k % 20)::int AS bot_id) b,
         LATERAL (SELECT 'intent ' || floor(power((hashint8(s.k * 31)::float8 + 2147483649.0) / 4294967298.0, -1.2))::bigint AS query) q
$$;
\echo
\echo '== Bulk ingest of 30 days of history:' :history_events 'webhook deliveries (10% retries) through a staging table,'
\echo '   busier in the daytime (UTC) than at night, on weekdays than at weekends, and growing'
-- Up to now, so the streams continue it; its keys (from 10^10) are apart from theirs.
SELECT demo_stage(:history_events, 10000000000, '30 days', now(), shaped => true) \g /dev/null
\timing on
SELECT * FROM rollup.ingest('bot_events', 'bot_staging');
\timing off

\echo
\echo '== Rollups: 5 minutes by customer, platform and bot, and a daily level by customer and platform fed by it'
SELECT name, mode, bucket_width FROM rollup.create_rollup('bot_5min', 'bot_events', 'bot_5min', 'received_at', '5 minutes',
    ARRAY['customer', 'platform', 'bot_id'],
    ARRAY['count(*) AS events',
          'hll_add_agg(hll_hash_text(coalesce(payload->>''user'', payload->>''sender'', payload->>''From'', payload->>''from''))) AS users',
          'topn_add_agg(coalesce(payload->>''text'', payload->''message''->>''text'', payload->>''Body'', payload->>''body'')) AS top_intents'],
    batch_size => 200000);
SELECT name, mode, bucket_width FROM rollup.create_rollup('bot_daily', 'bot_5min', 'bot_daily', bucket_width => '1 day',
    dimensions => ARRAY['customer', 'platform'],
    measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users', 'topn_union_agg(top_intents) AS top_intents']);
-- The dashboard reads daily rows, and 5-minute rows for today only.
SELECT rollup.create_view('bot_daily', 'bot_dashboard', fine_window => '1 day') AS query_view;
\timing on
CALL rollup.catch_up('bot_5min');
\timing off
