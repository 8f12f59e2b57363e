-- Rollups: every measure type, both modes, levels, late data, reset, batches, validation,
-- hostile identifiers and a non-superuser owner; each result compared with the same
-- aggregation computed directly from the raw rows.
\i helpers.sql
-- Rows of query a that are not in b and the other way round (0 and 0: equal multisets).
CREATE FUNCTION pg_temp.diff(a text, b text, OUT only_left bigint, OUT only_right bigint) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', a, b) INTO only_left;
    EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', b, a) INTO only_right;
END $$;

CREATE SCHEMA "app; x";
CREATE TABLE "app; x"."raw ""events""" (
    id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
    "Platform" text,
    "at time" timestamptz NOT NULL,
    payload jsonb,
    amount int,
    ok boolean);
CREATE FUNCTION pg_temp.load(n int, seed int, at_start timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO "app; x"."raw ""events""" ("Platform", "at time", payload, amount, ok)
    SELECT (ARRAY['slack', 'web', 'kik', NULL])[1 + (i * 7 + seed) % 4],
           at_start + ((i * 37 + seed) % 86400) * interval '2 seconds',
           jsonb_build_object('user', (i * 13 + seed) % 500, 'query', 'q' || ((i * i + seed) % 40)),
           (i * 31 + seed) % 1000, (i + seed) % 11 <> 0
    FROM generate_series(1, n) i
$$;
SELECT pg_temp.load(20000, 1, '2026-03-01');

SELECT name, mode, target_table, bucket_sql, dimension_names, measure_names, merge_rules, id_column, id_sequence
FROM rollup.create_rollup('five', '"app; x"."raw ""events"""', '"five ""min"""', 'at time', '5 minutes',
    ARRAY['"Platform"', 'payload->>''query'' AS "the query"'],
    ARRAY['count(*) AS events', 'sum(amount) AS amount', 'min(amount) AS lo', 'max("at time") AS last_at',
          'bool_and(ok) AS all_ok', 'count(*) FILTER (WHERE NOT ok) AS failed',
          'hll_add_agg(hll_hash_text(payload->>''user'')) AS users', 'topn_add_agg(payload->>''user'') AS top_users']);
\d "app; x"."five ""min"""
SELECT name, mode, parent, time_column, bucket_sql
FROM rollup.create_rollup('daily', '"app; x"."five ""min"""', 'daily', bucket_width => '1 day',
    dimensions => ARRAY['"Platform"'],
    measures => ARRAY['sum(events) AS events', 'sum(amount) AS amount', 'min(lo) AS lo', 'max(last_at) AS last_at',
                      'bool_and(all_ok) AS all_ok', 'sum(failed) AS failed',
                      'hll_union_agg(users) AS users', 'topn_union_agg(top_users) AS top_users']);

-- What a run executes: one statement that reads the source once and feeds both levels.
SELECT count(*) FILTER (WHERE l ~ '^\S') AS statements, count(*) FILTER (WHERE l ~ 'Insert on') AS merges,
       count(*) FILTER (WHERE l ~ 'Scan.* on "raw ""events"""') AS source_scans
FROM rollup.explain_run('daily') l;
-- planned for the ids the next run reads (20000 rows loaded, none rolled up yet), merged in key order.
SELECT count(*) FILTER (WHERE l ~ '> ''0''::bigint') AS from_watermark, count(*) FILTER (WHERE l ~ '<= ''20000''::bigint') AS to_last_id,
       count(*) FILTER (WHERE l ~ 'Sort Key: \w+\."Platform", \w+\."the query", \w+\.bucket') AS merge_in_key_order
FROM rollup.explain_run('daily') l;
-- Runs aggregate by hashing and do not JIT-compile (the merge's sort, costed as disabled, would
-- otherwise put every run above jit_above_cost).
SELECT proconfig FROM pg_proc WHERE oid = 'rollup_internal.run_chain(rollup.rollups, bigint, bigint, boolean)'::regprocedure;

-- The raw aggregations the two levels must equal (sketches compared by their bytes).
CREATE VIEW five_raw AS
SELECT "Platform", payload->>'query' AS "the query", date_bin('5 minutes', "at time", '2000-01-03 00:00+00') AS bucket,
       count(*) AS events, sum(amount) AS amount, min(amount) AS lo, max("at time") AS last_at, bool_and(ok) AS all_ok,
       count(*) FILTER (WHERE NOT ok) AS failed, hll_add_agg(hll_hash_text(payload->>'user'))::bytea AS users,
       topn_add_agg(payload->>'user')::text AS top_users
FROM "app; x"."raw ""events""" GROUP BY 1, 2, 3;
CREATE VIEW five_rolled AS
SELECT "Platform", "the query", bucket, events, amount, lo, last_at, all_ok, failed, users::bytea, top_users::text
FROM "app; x"."five ""min""";
CREATE VIEW daily_raw AS
SELECT "Platform", date_bin('1 day', "at time", '2000-01-03 00:00+00') AS bucket,
       count(*) AS events, sum(amount) AS amount, min(amount) AS lo, max("at time") AS last_at, bool_and(ok) AS all_ok,
       count(*) FILTER (WHERE NOT ok) AS failed, hll_cardinality(hll_add_agg(hll_hash_text(payload->>'user'))) AS users,
       (SELECT array_agg(t.item ORDER BY t.frequency DESC, t.item) FROM topn(topn_add_agg(payload->>'user'), 5) t) AS top5
FROM "app; x"."raw ""events""" GROUP BY 1, 2;
CREATE VIEW daily_rolled AS
SELECT "Platform", bucket, events, amount, lo, last_at, all_ok, failed, hll_cardinality(users) AS users,
       (SELECT array_agg(t.item ORDER BY t.frequency DESC, t.item) FROM topn(top_users, 5) t) AS top5
FROM "app; x".daily;

-- Several runs with inserts in between; each run reports its source rows.
SELECT rollup.run('five') AS first_run;
SELECT pg_temp.load(5000, 2, '2026-03-01 12:00');
SELECT rollup.run('daily') AS run_through_the_level;
SELECT rollup.run('five') AS nothing_new;
SELECT * FROM pg_temp.diff('SELECT * FROM five_raw', 'SELECT * FROM five_rolled');
SELECT * FROM pg_temp.diff('SELECT * FROM daily_raw', 'SELECT * FROM daily_rolled');
SELECT watermark = (SELECT max(id) FROM "app; x"."raw ""events""") AS watermark_at_last_id, total_runs, total_rows,
       checkpoints
FROM rollup.progress WHERE name = 'five';

-- Late events land in their own old buckets, in both levels.
SELECT pg_temp.load(300, 3, '2026-02-01');
SELECT rollup.run('five') AS late_rows;
SELECT count(*) AS late_daily_buckets FROM "app; x".daily WHERE bucket < '2026-03-01';
SELECT * FROM pg_temp.diff('SELECT * FROM five_raw', 'SELECT * FROM five_rolled');
SELECT * FROM pg_temp.diff('SELECT * FROM daily_raw', 'SELECT * FROM daily_rolled');

-- Reset recomputes from the raw rows still present (a level from its source).
DELETE FROM "app; x"."raw ""events""" WHERE "at time" < '2026-03-01';
SELECT rollup.reset('five') AS recomputed_rows;
SELECT * FROM pg_temp.diff('SELECT * FROM five_raw', 'SELECT * FROM five_rolled');
SELECT * FROM pg_temp.diff('SELECT * FROM daily_raw', 'SELECT * FROM daily_rolled');
UPDATE "app; x".daily SET events = 0;
SELECT rollup.reset('daily') AS recomputed_five_minute_rows;
SELECT * FROM pg_temp.diff('SELECT * FROM daily_raw', 'SELECT * FROM daily_rolled');

-- Bounded batches: a backlog of 2500 rows with batch_size 1000 takes 3 runs.
CREATE TABLE clicks (id bigserial, at timestamptz, page text);
ALTER SEQUENCE clicks_id_seq CACHE 1;
SELECT name FROM rollup.create_rollup('clicks_hourly', 'clicks', 'clicks_hourly', 'at', '1 hour',
    ARRAY['page'], ARRAY['count(*) AS views'], batch_size => 1000, allow_explicit_ids => true);
INSERT INTO clicks (at, page) SELECT '2026-03-01'::timestamptz + i * interval '1 minute', 'p' || i % 3 FROM generate_series(1, 2500) i;
SELECT rollup.run('clicks_hourly') AS run1, rollup.run('clicks_hourly') AS run2,
       rollup.run('clicks_hourly') AS run3, rollup.run('clicks_hourly') AS run4;
SELECT * FROM pg_temp.diff(
    $$SELECT page, date_trunc('hour', at) AS bucket, count(*) AS views FROM clicks GROUP BY 1, 2$$,
    'SELECT page, bucket, views FROM clicks_hourly');

-- Flush mode: the source is a queue; concurrent flushes cannot double count (rows are
-- deleted and aggregated in one statement). Month buckets.
CREATE TABLE queue (at timestamp, kind text, n int);
CREATE TABLE queue_copy (LIKE queue);
SELECT name, mode, bucket_sql FROM rollup.create_rollup('monthly', 'queue', 'queue_monthly', 'at', '1 month',
    ARRAY['kind'], ARRAY['count(*) AS c', 'sum(n) AS n'], mode => 'flush', batch_size => 400);
INSERT INTO queue SELECT '2026-01-01'::timestamp + i * interval '1 hour', 'k' || i % 2, i FROM generate_series(1, 1000) i;
INSERT INTO queue_copy SELECT * FROM queue;
SELECT count(*) FILTER (WHERE l ~ '^\S') AS statements, count(*) FILTER (WHERE l ~ 'Delete on queue') AS deletes,
       count(*) FILTER (WHERE l ~ 'Insert on queue_monthly') AS merges
FROM rollup.explain_run('monthly') l;
SELECT rollup.run('monthly') AS flushed1, rollup.run('monthly') AS flushed2, rollup.run('monthly') AS flushed3,
       (SELECT count(*) FROM queue) AS left_in_queue;
SELECT * FROM pg_temp.diff(
    $$SELECT kind, date_trunc('month', at) AS bucket, count(*) AS c, sum(n) AS n FROM queue_copy GROUP BY 1, 2$$,
    'SELECT kind, bucket, c, n FROM queue_monthly');
SELECT pg_temp.error_of($$SELECT rollup.reset('monthly')$$);

-- What exactly-once relies on is checked: CACHE 1, READ COMMITTED.
CREATE TABLE cached (id bigserial, at timestamptz);
ALTER SEQUENCE cached_id_seq CACHE 20;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('c', 'cached', 'cached_r', 'at')$$);
ALTER SEQUENCE clicks_id_seq CACHE 5;
SELECT pg_temp.error_of($$SELECT rollup.run('clicks_hourly')$$);
ALTER SEQUENCE clicks_id_seq CACHE 1;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.error_of($$SELECT rollup.run('clicks_hourly')$$);
ROLLBACK;
CREATE TABLE no_id (at timestamptz);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('c', 'no_id', 'no_id_r', 'at')$$);

-- Validation: non-mergeable measures name an alternative; fragments are single expressions.
SELECT m, pg_temp.error_of(format('SELECT rollup.create_rollup(%L, %L, %L, %L, measures => ARRAY[%L])',
                                  'bad', 'clicks', 'bad_target', 'at', m)) AS error
FROM unnest(ARRAY[
    'avg(id) AS a', 'count(DISTINCT page) AS a', 'percentile_cont(0.5) WITHIN GROUP (ORDER BY id) AS a',
    'array_agg(page) AS a', 'stddev(id) AS a', 'count(*)', 'id AS a', 'lower(page) AS a',
    'row_number() OVER () AS a', 'count(*) AS a FROM pg_authid', 'count(*) AS a; DROP TABLE clicks',
    'count(*) AS a) FROM clicks; DROP TABLE clicks; --', '$$', '', 'count(*) AS a /*']) m;
-- A trailing line comment stays inside its own line of the generated SQL.
SELECT name, measures FROM rollup.create_rollup('commented', 'clicks', 'commented', 'at', measures => ARRAY['count(*) AS a -- , 1'],
    allow_explicit_ids => true);
SELECT rollup.run('commented') = (SELECT count(*) FROM clicks) AS commented_counts_all;
SELECT rollup.drop_rollup('commented', drop_target => true);
SELECT d, pg_temp.error_of(format('SELECT rollup.create_rollup(%L, %L, %L, %L, %L, ARRAY[%L])',
                                  'bad', 'clicks', 'bad_target', 'at', '1 hour', d)) AS error
FROM unnest(ARRAY['lower(page)', 'page, at', '*', 'page UNION SELECT 1']) d;
SELECT w, pg_temp.error_of(format('SELECT rollup.create_rollup(%L, %L, %L, %L, %L)', 'bad', 'clicks', 'bad_target', 'at', w)) AS error
FROM unnest(ARRAY['0', '-5 minutes', '1 month 1 day', '3 months', '1 millisecond']) w;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('x; y', 'clicks', 'bad_target', 'at')$$);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'clicks', 'bad_target', 'page')$$);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'clicks', 'clicks_hourly', 'at', dimensions => ARRAY['page'], allow_explicit_ids => true)$$);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'clicks_hourly', 'bad_target', bucket_width => '90 minutes', measures => ARRAY['sum(views) AS v'])$$);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'clicks_hourly', 'bad_target', bucket_width => '1 day', measures => ARRAY['count(*) AS v'])$$);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'clicks_hourly', 'bad_target', bucket_width => '1 day', measures => ARRAY['hll_add_agg(hll_hash_text(page)) AS v'])$$);
SELECT pg_temp.error_of($$SELECT rollup.run('no such rollup')$$);
SELECT pg_temp.error_of($$SELECT rollup.drop_rollup('five')$$);
SELECT count(*) AS tables_named_bad_target FROM pg_class WHERE relname = 'bad_target';
SELECT count(*) AS clicks_still_there FROM clicks;

-- A non-superuser who owns the tables creates and runs rollups; another role sees none of
-- them and cannot run or drop them.
CREATE ROLE rollup_owner_test LOGIN;
CREATE ROLE rollup_other_test LOGIN;
GRANT CREATE ON SCHEMA public TO rollup_owner_test;
SET ROLE rollup_owner_test;
CREATE TABLE owned (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz, v int);
INSERT INTO owned (at, v) SELECT '2026-03-01'::timestamptz + i * interval '1 minute', i FROM generate_series(1, 100) i;
SELECT name, owner FROM rollup.create_rollup('owned_hourly', 'owned', 'owned_hourly', 'at', '1 hour', measures => ARRAY['sum(v) AS v']);
SELECT rollup.run('owned_hourly') AS owner_run, (SELECT sum(v) FROM owned_hourly) AS rolled_sum;
SELECT count(*) AS rollups_the_owner_sees FROM rollup.rollups;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('steal', 'clicks', 'stolen', 'at')$$);
SET ROLE rollup_other_test;
SELECT count(*) AS rollups_another_role_sees FROM rollup.rollups;
SELECT pg_temp.error_of($$SELECT rollup.run('owned_hourly')$$);
SELECT pg_temp.error_of($$SELECT rollup.drop_rollup('owned_hourly')$$);
SELECT pg_temp.error_of($$UPDATE rollup.progress SET watermark = 0$$) AS update_error,
       (SELECT count(*) FROM rollup.progress) AS progress_rows_visible;
-- ... nor read or write the owner's tables through pg_rollup's functions.
SELECT count(*) AS status_rows_visible FROM rollup.status;
SELECT pg_temp.error_of($$SELECT rollup.view_boundary('owned', 'at', '1 day', NULL)$$);
SELECT pg_temp.error_of($$SELECT * FROM rollup.ingest_json('owned', '[{"v": 1}]')$$);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('mine', 'owned', 'mine_target', 'at')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('owned', 'x', keys => ARRAY['v'], platform_column => 'v')$$);
SET ROLE rollup_owner_test;
-- The source and the target of a rollup cannot be dropped while the rollup exists.
SELECT pg_temp.error_of('DROP TABLE owned');
SELECT pg_temp.error_of('DROP TABLE owned_hourly');
SELECT rollup.drop_rollup('owned_hourly', drop_target => true);
DROP TABLE owned;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM rollup_owner_test;
DROP ROLE rollup_owner_test;
DROP ROLE rollup_other_test;

-- Ids that may be explicit (serial, GENERATED BY DEFAULT): a row inserted with an explicit id at
-- or below the watermark is never rolled up, so such a source is refused unless the rule is accepted.
CREATE TABLE by_default (id bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1), at timestamptz NOT NULL);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('by_default', 'by_default', 'by_default_hourly', 'at', '1 hour')$$) AS refused;
SELECT name FROM rollup.create_rollup('by_default', 'by_default', 'by_default_hourly', 'at', '1 hour', allow_explicit_ids => true);
INSERT INTO by_default (at) SELECT '2026-03-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 5) i;
SELECT rollup.run('by_default') AS rolled_up;
INSERT INTO by_default (id, at) VALUES (2, '2026-03-01 05:00'), (4, '2026-03-01 05:00'), (6, '2026-03-01 05:00');
SELECT rollup.run('by_default') AS only_the_id_above_the_watermark, (SELECT sum(events) FROM by_default_hourly) AS rolled, (SELECT count(*) FROM by_default) AS raw;
SELECT rollup.drop_rollup('by_default', drop_target => true);
ALTER TABLE by_default ALTER COLUMN id SET GENERATED ALWAYS;
SELECT name FROM rollup.create_rollup('by_default', 'by_default', 'by_default_hourly', 'at', '1 hour');
SELECT pg_temp.error_of($$INSERT INTO by_default (id, at) VALUES (1, now())$$) AS explicit_id_now;
SELECT rollup.drop_rollup('by_default', drop_target => true);
DROP TABLE by_default;

-- Re-creating a rollup over the target it left behind: refused while the target holds rows,
-- unless start_after says which source rows they count; a level needs an empty target.
CREATE TABLE again (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz NOT NULL);
INSERT INTO again (at) SELECT '2026-03-01'::timestamptz + i * interval '13 minutes' FROM generate_series(1, 302) i;
SELECT name FROM rollup.create_rollup('again_hourly', 'again', 'again_hourly', 'at', '1 hour');
SELECT name FROM rollup.create_rollup('again_daily', 'again_hourly', 'again_daily', bucket_width => '1 day', measures => ARRAY['sum(events) AS events']);
SELECT rollup.run('again_hourly') AS rows_rolled_up;
SELECT rollup.drop_rollup('again_daily');
SELECT rollup.drop_rollup('again_hourly');
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('again_hourly', 'again', 'again_hourly', 'at', '1 hour')$$) AS holds_rows;
SELECT name FROM rollup.create_rollup('again_hourly', 'again', 'again_hourly', 'at', '1 hour', start_after => (SELECT max(id) FROM again));
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('again_daily', 'again_hourly', 'again_daily', bucket_width => '1 day', measures => ARRAY['sum(events) AS events'])$$) AS level_holds_rows;
TRUNCATE again_daily;
SELECT name FROM rollup.create_rollup('again_daily', 'again_hourly', 'again_daily', bucket_width => '1 day', measures => ARRAY['sum(events) AS events']);
INSERT INTO again (at) SELECT '2026-03-05'::timestamptz + i * interval '13 minutes' FROM generate_series(1, 50) i;
SELECT rollup.run('again_hourly') AS new_rows;
SELECT (SELECT sum(events) FROM again_hourly) AS hourly, (SELECT sum(events) FROM again_daily) AS daily, (SELECT count(*) FROM again) AS raw;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'again', 'bad_target', 'at', mode => 'flush', start_after => 5)$$) AS flush_start_after;
-- History from elsewhere (rows shaped like the target, keys repeated) reaches the level too.
SELECT rollup.load_history('again_hourly', $$
    SELECT bucket - interval '30 days' AS bucket, events FROM again_hourly
    UNION ALL SELECT bucket - interval '30 days', 1 FROM again_hourly WHERE bucket < '2026-03-02'$$) AS history_rows;
SELECT (SELECT sum(events) FROM again_hourly WHERE bucket < '2026-02-15') AS hourly_history,
       (SELECT sum(events) FROM again_daily WHERE bucket < '2026-02-15') AS daily_history,
       (SELECT sum(events) + count(*) FILTER (WHERE bucket < '2026-03-02') FROM again_hourly WHERE bucket >= '2026-02-15') AS expected,
       (SELECT count(*) FROM rollup.verify('again_daily')) AS daily_differences;
SELECT pg_temp.error_of($$SELECT rollup.load_history('again_hourly', 'SELECT now() AS bucket, 1 AS events; DROP TABLE again')$$) AS two_statements,
       (SELECT count(*) FROM again) AS raw_rows_kept;
SELECT pg_temp.error_of($$SELECT rollup.load_history('again_hourly', 'SELECT 1 AS events')$$) AS no_bucket;
SELECT rollup.drop_rollup('again_daily', drop_target => true);
SELECT rollup.drop_rollup('again_hourly', drop_target => true);
DROP TABLE again;

-- Dropping: a level first, then its parent (and its target on request).
DROP VIEW five_rolled, five_raw, daily_rolled, daily_raw;
SELECT pg_temp.error_of($$DROP TABLE "app; x"."five ""min"""$$);
SELECT rollup.drop_rollup('daily');
SELECT rollup.drop_rollup('five', drop_target => true);
SELECT to_regclass('"app; x"."five ""min"""') IS NULL AS target_dropped, to_regclass('"app; x".daily') IS NOT NULL AS level_target_kept;
SELECT name FROM rollup.rollups ORDER BY name;
-- Only the sql_drop event trigger runs with its owner's rights (tests/sql/security.sql: the gates).
SELECT p.oid::regprocedure AS security_definer_functions FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollup') AND p.prosecdef;
