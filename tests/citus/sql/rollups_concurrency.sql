-- The exactly-once test of tests/sql/rollups_concurrency.sql on distributed tables, with every
-- write through the coordinator: writer sessions insert and COPY while rollup.run is called
-- again and again; some writer transactions abort, one stays open across several runs. At
-- the end the rollup equals the aggregation of all committed rows, and no writer was ever
-- blocked by a run (writers run with a lock_timeout; a wait behind a run would fail them).
SET citus.next_shard_id TO 840000;
-- as in the writer sessions (the rows are rebuilt here at the end)
SET timezone = 'UTC';
CREATE OR REPLACE FUNCTION connect_to(name text) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s port=%s host=127.0.0.1', current_database(), current_setting('port')))
$$;
-- The INSERT a writer runs: n rows, deterministic content from seed.
CREATE FUNCTION ins(n int, seed int) RETURNS text LANGUAGE sql AS $$
    SELECT format($q$INSERT INTO cev (at, platform, usr, query)
        SELECT '2026-05-01'::timestamptz + ((i * 53 + %2$s) %% 7200) * interval '1 second',
               (ARRAY['slack', 'web', 'kik'])[1 + (i + %2$s) %% 3], (i * 17 + %2$s) %% 300, 'q' || ((i * i + %2$s) %% 25)
        FROM generate_series(1, %1$s) i$q$, n, seed)
$$;

CREATE TABLE cev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz NOT NULL,
                  platform text NOT NULL, usr int, query text);
SELECT create_distributed_table('cev', 'platform');
SELECT name FROM rollup.create_rollup('conc', 'cev', 'cev_5min', 'at', '5 minutes', ARRAY['platform', 'query'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_integer(usr)) AS users', 'topn_add_agg(query) AS top']);
SELECT connect_to('long'), connect_to('w1'), connect_to('w2'), connect_to('runner');
SELECT dblink_exec(c, 'SET lock_timeout = ''2s''') FROM unnest(ARRAY['long', 'w1', 'w2']) c;

-- A long transaction draws the first ids and stays open.
SELECT dblink_exec('long', 'BEGIN'), dblink_exec('long', ins(100, 1));
-- Others commit and abort after it.
SELECT dblink_exec('w1', ins(200, 2));
SELECT dblink_exec('w2', 'BEGIN'), dblink_exec('w2', ins(50, 3)), dblink_exec('w2', 'ROLLBACK');
-- Runs while it is open aggregate nothing past its ids (and do not wait: max_wait 0).
SELECT rollup.run('conc', max_wait => '0') AS run_while_long_is_open;
SET lock_timeout = '2s';
COPY cev (at, platform, usr, query) FROM stdin;
2026-05-01 00:00:01+00	slack	1	copied
2026-05-01 00:00:02+00	web	2	copied
2026-05-01 01:00:03+00	kik	3	copied
\.
RESET lock_timeout;
-- Two writers commit and abort many small transactions while runs go on.
SELECT dblink_send_query('w1', format($d$DO $x$ BEGIN FOR t IN 1..40 LOOP %s; IF t %% 5 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins(10, 4)));
SELECT dblink_send_query('w2', format($d$DO $x$ BEGIN FOR t IN 1..40 LOOP %s; IF t %% 3 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins(7, 5)));
SELECT rollup.run('conc', max_wait => '0') AS run1, rollup.run('conc', max_wait => '0') AS run2;
SELECT rollup.run('conc', max_wait => '0') AS run3;
-- Each writer's DO block, then the end of its results.
SELECT * FROM dblink_get_result('w1') AS r(status text);
SELECT * FROM dblink_get_result('w1') AS r(status text);
SELECT * FROM dblink_get_result('w2') AS r(status text);
SELECT * FROM dblink_get_result('w2') AS r(status text);
SELECT rollup.run('conc', max_wait => '0') AS run_after_writers_still_blocked_by_long;

-- A run that waits for the long transaction takes no lock: writers keep inserting and copying
-- (with lock_timeout set, any wait behind the run would make them fail).
SELECT dblink_send_query('runner', $$SELECT rollup.run('conc', max_wait => '60 seconds')$$);
SELECT pg_sleep(0.2);
SET lock_timeout = '200ms';
SELECT dblink_exec('w1', ins(30, 6));
COPY cev (at, platform, usr, query) FROM stdin;
2026-05-01 00:10:01+00	slack	4	copied
2026-05-01 00:20:02+00	web	5	copied
\.
RESET lock_timeout;
SELECT dblink_is_busy('runner') AS runner_still_waiting;
SELECT dblink_exec('long', ins(100, 7)), dblink_exec('long', 'COMMIT');
SELECT r.rows > 0 AS runner_aggregated_rows FROM dblink_get_result('runner') AS r(rows bigint);
SELECT * FROM dblink_get_result('runner') AS r(rows bigint);

-- Progress past a transaction that is still open: a checkpoint taken while T1 was the only
-- writer becomes the bound once T1 has ended, even though T2 (newer ids) is still open.
SELECT rollup.run('conc') >= 0 AS caught_up;
SELECT dblink_exec('w1', 'BEGIN'), dblink_exec('w1', ins(10, 8));
SELECT rollup.run('conc', max_wait => '0') AS run_with_t1_open;
SELECT dblink_exec('w1', 'COMMIT');
SELECT dblink_exec('w2', 'BEGIN'), dblink_exec('w2', ins(10, 9));
SELECT rollup.run('conc', max_wait => '0') AS t1_rows_aggregated;
SELECT watermark FROM rollup.progress WHERE name = 'conc' \gset
SELECT :watermark >= (SELECT max(id) FROM cev) AS bound_covers_t1,
       (SELECT sum(events) FROM cev_5min) = (SELECT count(*) FROM cev WHERE id <= :watermark) AS all_rows_up_to_bound;
SELECT dblink_exec('w2', 'COMMIT');
SELECT rollup.run('conc', max_wait => '0') AS t2_rows_aggregated;

-- The rollup equals the aggregation of every committed row, sketches included.
SELECT (SELECT count(*) FROM cev) AS committed_rows, (SELECT sum(events) FROM cev_5min) AS rolled_up_rows;
SELECT count(*) AS differing_groups FROM (
    (SELECT platform, query, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_integer(usr))::bytea AS users, topn_add_agg(query)::text AS top
     FROM cev GROUP BY 1, 2, 3
     EXCEPT ALL
     SELECT platform, query, bucket, events, users::bytea, top::text FROM cev_5min)
    UNION ALL
    (SELECT platform, query, bucket, events, users::bytea, top::text FROM cev_5min
     EXCEPT ALL
     SELECT platform, query, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_integer(usr))::bytea AS users, topn_add_agg(query)::text AS top
     FROM cev GROUP BY 1, 2, 3)) d;
SELECT total_rows = (SELECT count(*) FROM cev) AS progress_counts_every_row_once, checkpoints FROM rollup.progress WHERE name = 'conc';

-- Flush mode: writers through the coordinator wait while a run aggregates and empties the
-- queue (it holds the queue's EXCLUSIVE lock); every committed row is counted once.
CREATE TABLE cq (at timestamptz NOT NULL, platform text NOT NULL, usr int, query text);
SELECT create_distributed_table('cq', 'platform', colocate_with => 'cev');
SELECT name FROM rollup.create_rollup('cqf', 'cq', 'cq_5min', 'at', '5 minutes', ARRAY['platform', 'query'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_integer(usr)) AS users'], mode => 'flush');
-- The writers commit 32 x 10 and 27 x 7 rows (509) and roll back the others.
CREATE FUNCTION ins_queue(n int, seed int) RETURNS text LANGUAGE sql AS $$
    SELECT replace(ins(n, seed), 'INSERT INTO cev', 'INSERT INTO cq')
$$;
SELECT dblink_exec(c, 'SET lock_timeout = 0') FROM unnest(ARRAY['w1', 'w2']) c;
SELECT dblink_send_query('w1', format($d$DO $x$ BEGIN FOR t IN 1..40 LOOP %s; IF t %% 5 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins_queue(10, 10)));
SELECT dblink_send_query('w2', format($d$DO $x$ BEGIN FOR t IN 1..40 LOOP %s; IF t %% 3 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins_queue(7, 11)));
SELECT rollup.run('cqf') >= 0 AS run1, rollup.run('cqf') >= 0 AS run2;
SELECT rollup.run('cqf') >= 0 AS run3;
SELECT * FROM dblink_get_result('w1') AS r(status text);
SELECT * FROM dblink_get_result('w1') AS r(status text);
SELECT * FROM dblink_get_result('w2') AS r(status text);
SELECT * FROM dblink_get_result('w2') AS r(status text);
SELECT rollup.run('cqf') >= 0 AS last_run;
SELECT (SELECT count(*) FROM cq) AS left_in_queue, (SELECT sum(events) FROM cq_5min) AS rolled_up;
SELECT total_rows AS rows_of_all_runs FROM rollup.progress WHERE name = 'cqf';
-- A writer's transactions all insert the same rows: the committed rows, rebuilt.
CREATE TABLE cq_committed (LIKE cq);
DO $$
BEGIN
    FOR t IN 1..32 LOOP EXECUTE replace(ins_queue(10, 10), 'INSERT INTO cq', 'INSERT INTO cq_committed'); END LOOP;
    FOR t IN 1..27 LOOP EXECUTE replace(ins_queue(7, 11), 'INSERT INTO cq', 'INSERT INTO cq_committed'); END LOOP;
END
$$;
SELECT count(*) AS differing_groups FROM (
    (SELECT platform, query, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_integer(usr))::bytea AS users FROM cq_committed GROUP BY 1, 2, 3
     EXCEPT ALL SELECT platform, query, bucket, events, users::bytea FROM cq_5min)
    UNION ALL
    (SELECT platform, query, bucket, events, users::bytea FROM cq_5min
     EXCEPT ALL SELECT platform, query, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
            hll_add_agg(hll_hash_integer(usr))::bytea AS users FROM cq_committed GROUP BY 1, 2, 3)) d;

SELECT dblink_disconnect(c) FROM unnest(ARRAY['long', 'w1', 'w2', 'runner']) c;
