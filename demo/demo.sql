-- pg_rollup demo: run by ./pg_test.sh demo in a fresh database of the throwaway cluster.
-- Part 1: the hll and topn sketches on a search-event stream, and instant-search keystrokes
-- collapsed into searches. Part 2: the seed scenario, bot
-- events of several customers and platforms with retries -> dedup -> 5-minute and daily rollups
-- (demo/bots.sql) kept fresh by pg_cron while events stream in -> status and dashboard answers.
-- Takes about 3 minutes (pg_cron 1.4 runs jobs once a minute); with -v dashboard=on the stream
-- and the wait are left to the live dashboard (examples/dashboard).
\set QUIET on
\pset footer off
\echo
\echo '== pg_rollup demo'
CREATE EXTENSION pg_rollup;
SELECT rollup.version() AS pg_rollup_version, current_setting('server_version') AS postgres;

\echo
\echo '== 2M search events over 7 days: 200k users, queries drawn from a Zipf law (s = 1.1)'
SET max_parallel_workers_per_gather = 0;
CREATE TABLE searches AS
SELECT timestamptz '2026-11-01' + (i % 604800) * interval '1 second' AS at,
       (hashint4(i) & 262143) % 200000 AS user_id,
       'q' || floor(least(power((hashint8(i)::float8 + 2147483649.0) / 4294967298.0, -10.0), 1e12 + i))::bigint AS query
FROM generate_series(1, 2000000) i;
ANALYZE searches;

\echo
\echo '== A daily rollup: one row per day with a distinct-users hll and a top-queries topn'
\timing on
CREATE TABLE daily AS
SELECT date_trunc('day', at) AS day, count(*) AS searches,
       hll_add_agg(hll_hash_integer(user_id)) AS users,
       topn_add_agg(query, 100) AS top_queries
FROM searches GROUP BY 1;
\timing off
SELECT pg_size_pretty(pg_total_relation_size('searches')) AS raw_events,
       pg_size_pretty(pg_total_relation_size('daily')) AS rollup;

\echo
\echo '== Dashboard: the whole week, from 7 rollup rows, next to the exact answer from 2M raw rows'
\timing on
SELECT sum(searches) AS searches, round(hll_cardinality(hll_union_agg(users))) AS distinct_users_estimate FROM daily;
\timing off
\timing on
SELECT count(*) AS searches, count(DISTINCT user_id) AS distinct_users_exact FROM searches;
\timing off

\echo
\echo '== Top 5 queries of the week, with guaranteed bounds, from the rollup'
\timing on
SELECT * FROM topn_bounds((SELECT topn_union_agg(top_queries) FROM daily), 5);
\timing off
\echo '   ... and the exact counts from the raw rows'
\timing on
SELECT query, count(*) FROM searches GROUP BY query ORDER BY 2 DESC, 1 LIMIT 5;
\timing off

\echo
\echo '== Sketches are byte-compatible with postgresql-hll, installed beside pg_rollup'
CREATE SCHEMA pghll;
CREATE EXTENSION hll SCHEMA pghll;
SELECT hll_add_agg(hll_hash_integer(user_id))::text = pghll.hll_add_agg(pghll.hll_hash_integer(user_id))::text AS identical_bytes,
       round(hll_cardinality(hll_add_agg(hll_hash_integer(user_id)))) AS pg_rollup_estimate,
       round(pghll.hll_cardinality(pghll.hll_add_agg(pghll.hll_hash_integer(user_id)))) AS postgresql_hll_estimate
FROM searches WHERE at < '2026-11-02';

\echo
\echo '== Instant search: a request per keystroke ("a", "al", ... "algolia"), collapsed into searches inside the database'
CREATE TABLE search_requests (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
                              app text, user_token text, query text, at timestamptz, hits int);
INSERT INTO search_requests (app, user_token, query, at, hits)
SELECT 'app' || (s % 20), 'user' || (s % 5000), left(w, i),
       '2026-11-02 08:00+00'::timestamptz + (s / 5000) * interval '30 seconds' + (s % 5000) * interval '5 milliseconds'
           + i * (100 + abs(hashint4(s)) % 300) * interval '1 millisecond',
       CASE WHEN abs(hashint4(s)) % 9 = 0 THEN 0 ELSE 100 * length(w) - 10 * i END
FROM (SELECT s, (ARRAY['algolia', 'apple pie', 'banana split', 'red dress', 'running shoes', 'postgres', 'rollup', 'cafe'])
                [1 + abs(hashint4(s * 7)) % 8] AS w FROM generate_series(0, 29999) s) x,
     generate_series(1, length(w)) i
ORDER BY 5;
SELECT name FROM rollup.create_search_sessions('searches_of_requests', 'search_requests', 'search_sessions',
    ARRAY['app', 'user_token'], 'query', 'at', gap => '3 seconds', keep => ARRAY['hits']);
\timing on
SELECT rollup.run('searches_of_requests') AS requests_read;
\timing off
SELECT (SELECT count(*) FROM search_requests) AS requests, (SELECT count(*) FROM search_sessions) AS searches,
       (SELECT count(*) FROM search_sessions_pending) AS still_open;
SELECT user_token, query, keystrokes, last_at - first_at AS typing, hits FROM search_sessions ORDER BY id LIMIT 3;
\echo '   ... searches by app, without results, top queries: a rollup over the searches'
SELECT name FROM rollup.create_rollup('search_sessions_hourly', 'search_sessions', 'search_sessions_hourly', 'last_at', '1 hour',
    ARRAY['app'], ARRAY['count(*) AS searches', 'count(*) FILTER (WHERE hits = 0) AS no_results', 'topn_add_agg(query) AS top']);
SELECT rollup.run('search_sessions_hourly') AS searches_read;
SELECT sum(searches) AS searches, sum(no_results) AS without_results,
       (SELECT array_agg(item ORDER BY frequency DESC) FROM topn(topn_union_agg(top), 3)) AS top_3
FROM search_sessions_hourly;

\ir bots.sql

\echo
\echo '== Scheduling with pg_cron. pg_cron lives in database "postgres"; rollup.schedule says what to run there:'
DO $$
BEGIN
    PERFORM rollup.schedule('bot_5min', '* * * * *');
EXCEPTION WHEN OTHERS THEN
    DECLARE hint text;
    BEGIN
        GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
        RAISE NOTICE '%', SQLERRM;
        RAISE NOTICE '%', hint;
    END;
END $$;
SELECT rollup.job_command('bot_5min') AS job_command, current_database() AS demo_db,
       format('pg_rollup %s.%s', current_database(), 'bot_5min') AS job_name \gset
\connect postgres
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT cron.schedule_in_database(:'job_name', '* * * * *', :'job_command', :'demo_db') > 0 AS scheduled_from_database_postgres;
\connect :demo_db
\set QUIET on
\pset footer off

-- With -v dashboard=on (./pg_test.sh demo, when Node is installed), the events stream in from
-- examples/dashboard/stream.mjs while the live dashboard shows the rollups, and the pg_cron job
-- stays scheduled until the demo is stopped.
\if :{?dashboard}
\else
\echo
\echo '== Events stream in for 100 seconds (a batch of 1000 webhooks every 2 seconds, retries included)'
\echo '   while pg_cron runs the rollups every minute'
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        PERFORM demo_stage(1000, 1000000 + i * 900, '2 seconds', now());
        PERFORM rollup.ingest('bot_events', 'bot_staging');
        COMMIT;
        PERFORM pg_sleep(2);
    END LOOP;
END $$;
\echo '   ... waiting for the next scheduled run to catch up'
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN (SELECT pending_rows = 0 AND last_run_end > now() - interval '70 seconds' FROM rollup.status WHERE name = 'bot_5min');
        PERFORM pg_sleep(0.5);
        COMMIT;
    END LOOP;
END $$;
\endif

\echo
\echo '== rollup.status'
\x on
SELECT name, mode, watermark, pending_rows, lag, last_run_end - last_run_start AS last_duration, last_rows,
       last_rows_per_second, total_runs, total_rows, last_error
FROM rollup.status WHERE name = 'bot_5min';
\x off
\echo
\echo '== Dashboard answers over the query view (daily rows before today, 5-minute rows since)'
SELECT date_bin('1 day', now() - interval '30 days', '2000-01-03 00:00+00') AS since \gset
\timing on
SELECT sum(events) AS events_30_days, round(hll_cardinality(hll_union_agg(users))) AS distinct_users,
       cardinality(topn_items(topn_union_agg(top_intents), 1000)) AS top_intents_listed
FROM bot_dashboard WHERE bucket >= :'since';
SELECT (topn(topn_union_agg(top_intents), 5)).* FROM bot_dashboard WHERE bucket >= :'since';
SELECT platform, sum(events) AS events, round(hll_cardinality(hll_union_agg(users))) AS users, bool_and(exact) AS exact
FROM bot_dashboard(now() - interval '15 minutes', now()) GROUP BY 1 ORDER BY 1;
\timing off
\echo '   ... next to the exact answers from the raw events'
\timing on
SELECT count(*) AS events_30_days,
       count(DISTINCT coalesce(payload->>'user', payload->>'sender', payload->>'From', payload->>'from')) AS distinct_users
FROM bot_events WHERE received_at >= :'since';
\timing off

\if :{?dashboard}
\else
\connect postgres
\set QUIET on
SELECT cron.unschedule(:'job_name') AS unscheduled_demo_job;
\endif
