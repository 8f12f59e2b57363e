-- Rollups between colocated distributed tables. rollup.create_rollup distributes the target
-- like the source; every statement of a run is pushed down to the shards (no pull to the
-- coordinator, no repartition); levels, flush mode and retention run shard by shard; the
-- results equal the aggregation of the raw rows.
SET citus.next_shard_id TO 830000;
SET timezone = 'UTC';
-- The statements of a run and how Citus executes each: one line per statement.
CREATE FUNCTION run_plan(name text) RETURNS TABLE (statement int, plan text) LANGUAGE plpgsql AS $$
DECLARE
    line text;
    n int := 0;
    s text := '';
BEGIN
    FOR line IN SELECT * FROM rollup.explain_run(name) LOOP
        IF line !~ '^ ' AND s <> '' THEN
            n := n + 1; statement := n; plan := s; RETURN NEXT; s := '';
        END IF;
        -- what tells where it runs
        IF line ~ 'Custom Scan|Task Count|INSERT/SELECT method|Insert on|Delete on|Aggregate$|intermediate|Subplan|Pull|repartition' THEN
            s := s || CASE WHEN s = '' THEN '' ELSE ' / ' END || regexp_replace(trim(line), '_[0-9]{6}', '_<shard>', 'g');
        END IF;
    END LOOP;
    n := n + 1; statement := n; plan := s; RETURN NEXT;
END
$$;
CREATE FUNCTION plan_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        RETURN NEXT line;
    END LOOP;
END
$$;
CREATE FUNCTION differences(rollup_table regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format($q$
        WITH raw AS (SELECT account, platform, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
                            hll_add_agg(hll_hash_bigint(usr))::bytea AS users, topn_add_agg(query)::text AS top
                     FROM raw_events GROUP BY 1, 2, 3),
             r AS (SELECT account, platform, bucket, events, users::bytea AS users, top::text AS top FROM %s)
        SELECT count(*) FROM ((TABLE raw EXCEPT ALL TABLE r) UNION ALL (TABLE r EXCEPT ALL TABLE raw)) d$q$, rollup_table)
    INTO n;
    RETURN n;
END
$$;

CREATE TABLE raw_events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), account int NOT NULL, platform text,
                         at timestamptz NOT NULL, usr bigint, query text);
SELECT create_distributed_table('raw_events', 'account');
INSERT INTO raw_events (account, platform, at, usr, query)
SELECT i % 12, (ARRAY['slack', 'web', 'kik'])[1 + i % 3], '2026-05-01'::timestamptz + (i * 37 % 86400) * interval '1 second',
       i * 7 % 900, 'q' || floor(sqrt(i % 400))::int
FROM generate_series(1, 30000) i;

-- The distribution column must be a dimension.
SELECT rollup.create_rollup('bad', 'raw_events', 'bad_5min', 'at', '5 minutes', ARRAY['platform'], ARRAY['count(*) AS events']);
SELECT name, mode FROM rollup.create_rollup('r5', 'raw_events', 'raw_5min', 'at', '5 minutes', ARRAY['account', 'platform'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_bigint(usr)) AS users', 'topn_add_agg(query) AS top']);
-- The target is distributed like the source, on the same shards.
SELECT table_name, distribution_column, colocation_id = (SELECT colocation_id FROM citus_tables WHERE table_name = 'raw_events'::regclass) AS colocated
FROM citus_tables WHERE table_name = 'raw_5min'::regclass;
SELECT rollup.run('r5') AS rows;
SELECT differences('raw_5min');

-- A daily level, fed by the runs of r5.
SELECT name, mode FROM rollup.create_rollup('rday', 'raw_5min', 'raw_day', bucket_width => '1 day',
    dimensions => ARRAY['account', 'platform'],
    measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users', 'topn_union_agg(top) AS top']);
-- Each statement of a run executes on the shards: a count, the INSERT .. SELECT of r5, and the
-- INSERT .. SELECT of rday over r5's aggregation, each a task per shard.
SELECT * FROM run_plan('r5');
SELECT count(*) AS through_the_coordinator FROM rollup.explain_run('r5') line
WHERE line ~* 'pull to coordinator|repartition|intermediate result|subplan';

-- New and late rows, written through the coordinator.
INSERT INTO raw_events (account, platform, at, usr, query)
SELECT i % 12, 'web', '2026-05-01'::timestamptz + (i * 53 % 86400) * interval '1 second', i % 1500, 'late'
FROM generate_series(1, 5000) i;
SELECT rollup.run('r5') AS rows;
SELECT differences('raw_5min');
SELECT count(*) AS differing_days FROM (
    (SELECT account, platform, date_bin('1 day', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_bigint(usr))::bytea AS users
     FROM raw_events GROUP BY 1, 2, 3
     EXCEPT ALL SELECT account, platform, bucket, events, users::bytea FROM raw_day)
    UNION ALL
    (SELECT account, platform, bucket, events, users::bytea FROM raw_day
     EXCEPT ALL SELECT account, platform, date_bin('1 day', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_bigint(usr))::bytea AS users
     FROM raw_events GROUP BY 1, 2, 3)) d;
-- Dashboard queries over the distributed rollups.
SELECT platform, sum(events) AS events, round(hll_cardinality(hll_union_agg(users))) AS users, topn_items(topn_union_agg(top), 3) AS top_3
FROM raw_day GROUP BY platform ORDER BY platform;

-- A query view (the daily level before a boundary, the 5-minute rows after it): the boundary
-- is computed once on the coordinator, the rest runs on the shards; any range is counted once.
SELECT rollup.create_view('rday', 'dashboard', fine_window => '2 days');
SELECT platform, sum(events) AS events, round(hll_cardinality(hll_union_agg(users))) AS users, topn_items(topn_union_agg(top), 3) AS top_3
FROM dashboard WHERE bucket >= '2026-05-01' GROUP BY platform ORDER BY platform;
SELECT platform, count(*) AS events, round(hll_cardinality(hll_add_agg(hll_hash_bigint(usr)))) AS users
FROM raw_events GROUP BY platform ORDER BY platform;
SELECT count(*) AS boundary_subplans FROM plan_lines($$SELECT sum(events) FROM dashboard WHERE bucket >= '2026-05-01'$$) l
WHERE l ~ 'Distributed Subplan';
-- Its range form on distributed tables: a range that cuts days, equal to the raw rows.
SELECT (SELECT sum(events) FROM dashboard('2026-05-01 07:30+00', '2026-05-02 13:05+00')) AS range_form,
       (SELECT bool_and(exact) FROM dashboard('2026-05-01 07:30+00', '2026-05-02 13:05+00')) AS exact,
       (SELECT count(*) FROM raw_events WHERE at >= '2026-05-01 07:30+00' AND at < '2026-05-02 13:05+00') AS raw;
-- Without fine_window the boundary is where the first whole day of 5-minute rows starts, found on
-- the coordinator through Citus (the rows are on the workers): a range that cuts days is read from
-- the 5-minute rows and equals the raw rows.
SELECT rollup.create_view('rday', 'dashboard_all');
SELECT (SELECT sum(events) FROM dashboard_all WHERE bucket >= '2026-05-01 07:30+00' AND bucket < '2026-05-02 13:05+00') AS view_events,
       (SELECT count(*) FROM raw_events WHERE at >= '2026-05-01 07:30+00' AND at < '2026-05-02 13:05+00') AS raw,
       (SELECT count(*) FROM dashboard_all WHERE bucket <> date_trunc('day', bucket)) > 0 AS reads_5min_rows;
DROP VIEW dashboard_all CASCADE;
-- rollup.verify on distributed tables: every 5-minute and daily bucket equals a recomputation.
SELECT (SELECT count(*) FROM rollup.verify('r5')) AS differences_5min, (SELECT count(*) FROM rollup.verify('rday')) AS differences_daily;

-- reset recomputes from the source, shard by shard.
SELECT rollup.reset('r5') AS rows;
SELECT differences('raw_5min');

-- Retention: source rows every reader has passed, and target rows past target_keep, are
-- deleted on every shard.
SELECT rollup.set_retention('r5', source_grace => '0 seconds');
CALL rollup.apply_retention('r5');
SELECT count(*) AS raw_rows_left FROM raw_events;
INSERT INTO raw_events (account, platform, at, usr, query) VALUES (1, 'web', '2026-05-02 00:00+00', 1, 'after');
SELECT rollup.run('r5') AS rows;
SELECT sum(events) AS rolled_up FROM raw_5min;

-- Flush mode: the source is a queue, emptied by each run.
CREATE TABLE queue (account int NOT NULL, platform text, at timestamptz NOT NULL, usr bigint, query text);
SELECT create_distributed_table('queue', 'account', colocate_with => 'raw_events');
SELECT rollup.create_rollup('qf', 'queue', 'queue_5min', 'at', '5 minutes', ARRAY['account', 'platform'],
    ARRAY['count(*) AS events'], mode => 'flush', batch_size => 100);
SELECT name FROM rollup.create_rollup('qf', 'queue', 'queue_5min', 'at', '5 minutes', ARRAY['account', 'platform'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_bigint(usr)) AS users'], mode => 'flush');
SELECT * FROM run_plan('qf');
INSERT INTO queue SELECT i % 7, 'kik', '2026-05-03'::timestamptz + i * interval '1 minute', i % 333, 'x' FROM generate_series(1, 3000) i;
-- and 10 rows of the last hour, which target retention keeps
INSERT INTO queue SELECT i % 7, 'web', now() - interval '1 hour', i, 'y' FROM generate_series(1, 10) i;
CREATE TABLE queue_copy AS SELECT * FROM queue;
SELECT rollup.run('qf') AS rows;
SELECT count(*) AS queue_left FROM queue;
SELECT rollup.run('qf') AS rows_of_an_empty_queue;
SELECT count(*) AS differing_groups FROM (
    (SELECT account, platform, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_bigint(usr))::bytea AS users FROM queue_copy GROUP BY 1, 2, 3
     EXCEPT ALL SELECT account, platform, bucket, events, users::bytea FROM queue_5min)
    UNION ALL
    (SELECT account, platform, bucket, events, users::bytea FROM queue_5min
     EXCEPT ALL SELECT account, platform, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_bigint(usr))::bytea AS users FROM queue_copy GROUP BY 1, 2, 3)) d;
-- Target retention per shard.
SELECT rollup.set_retention('qf', target_keep => '1 day');
CALL rollup.apply_retention('qf');
SELECT count(*) FILTER (WHERE bucket < now() - interval '1 day') AS old_buckets_left, sum(events) AS recent_events_kept FROM queue_5min;

-- Buckets in a time zone, shard by shard: a Los Angeles day over hourly buckets, pushed down
-- like the rest, equal to the raw rows' local days; a plain run's error kept in status.
INSERT INTO raw_events (account, platform, at, usr, query)
SELECT i % 12, 'web', '2026-10-30 00:00+00'::timestamptz + (abs(hashint4(i)) % (5 * 86400)) * interval '1 second', 1 + i % 50, 'q'
FROM generate_series(1, 5000) i;
SELECT name, time_zone FROM rollup.create_rollup('tz_h', 'raw_events', 'tz_hourly', 'at', '1 hour', ARRAY['account'],
    ARRAY['count(*) AS events', 'sum(100 / usr) AS q'], time_zone => 'America/Los_Angeles');
SELECT name, time_zone FROM rollup.create_rollup('tz_d', 'tz_hourly', 'tz_daily', bucket_width => '1 day', dimensions => ARRAY['account'],
    measures => ARRAY['sum(events) AS events']);
SELECT rollup.run('tz_h') AS rows;
SELECT count(*) AS local_days, count(*) FILTER (WHERE d.events IS DISTINCT FROM r.events) AS wrong_days
FROM (SELECT account, date_trunc('day', at, 'America/Los_Angeles') AS bucket, count(*) AS events FROM raw_events GROUP BY 1, 2) r
FULL JOIN tz_daily d USING (account, bucket);
SELECT * FROM run_plan('tz_h');
INSERT INTO raw_events (account, platform, at, usr, query) VALUES (3, 'web', '2026-11-01 12:00+00', 0, 'q');
BEGIN;
SELECT rollup.run('tz_h');
ROLLBACK;
SELECT name, pending_rows, split_part(last_error, ' (at ', 1) AS last_error FROM rollup.status WHERE name IN ('tz_h', 'tz_d') ORDER BY 1;
