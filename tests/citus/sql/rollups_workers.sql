-- Exactly once wherever rows are written: writer sessions on the coordinator and on both
-- workers (each node draws ids from its own range of the sequence) insert single rows,
-- multi-row multi-shard batches and multi-statement transactions, some rolled back, one left
-- open on a worker across runs, while rollup.run is called again and again on the coordinator.
-- A node added to the cluster is covered from its first row; a node removed leaves no row
-- behind. At the end the rollup equals the aggregation of every committed row, sketch bytes
-- included, and no writer was blocked by a run.
SET citus.next_shard_id TO 850000;
SET timezone = 'UTC';
CREATE FUNCTION node_conn(name text, port_offset int) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s port=%s host=127.0.0.1', current_database(), current_setting('port')::int + port_offset))
$$;
-- The INSERT a writer runs: n rows over every platform (so every shard), deterministic content.
CREATE FUNCTION ins_w(n int, seed int) RETURNS text LANGUAGE sql AS $$
    SELECT format($q$INSERT INTO wev (at, platform, usr, query)
        SELECT '2026-05-01'::timestamptz + ((i * 53 + %2$s) %% 7200) * interval '1 second',
               (ARRAY['slack', 'web', 'kik', 'irc', 'sms'])[1 + (i + %2$s) %% 5], (i * 17 + %2$s) %% 300, 'q' || ((i * i + %2$s) %% 25)
        FROM generate_series(1, %1$s) i$q$, n, seed)
$$;
CREATE TABLE wev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz NOT NULL,
                  platform text NOT NULL, usr int, query text);
SELECT create_distributed_table('wev', 'platform');
CREATE INDEX ON wev (id);
CREATE FUNCTION differing_groups() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT count(*) FROM (
        (SELECT platform, query, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
                hll_add_agg(hll_hash_integer(usr))::bytea AS users, topn_add_agg(query)::text AS top
         FROM wev GROUP BY 1, 2, 3
         EXCEPT ALL
         SELECT platform, query, bucket, events, users::bytea, top::text FROM wev_5min)
        UNION ALL
        (SELECT platform, query, bucket, events, users::bytea, top::text FROM wev_5min
         EXCEPT ALL
         SELECT platform, query, date_bin('5 minutes', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
                hll_add_agg(hll_hash_integer(usr))::bytea AS users, topn_add_agg(query)::text AS top
         FROM wev GROUP BY 1, 2, 3)) d);
END
$$;

SELECT name FROM rollup.create_rollup('wconc', 'wev', 'wev_5min', 'at', '5 minutes', ARRAY['platform', 'query'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_integer(usr)) AS users', 'topn_add_agg(query) AS top']);
SELECT rollup.create_rollup('wconc_daily', 'wev_5min', 'wev_daily', bucket_width => '1 day', dimensions => ARRAY['platform'],
    measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users']) IS NOT NULL AS level_created;
SELECT node_conn('c', 0), node_conn('w1', 1), node_conn('w2', 2), node_conn('long1', 1), node_conn('w2b', 2);
SELECT dblink_exec(c, 'SET lock_timeout = ''2s''') FROM unnest(ARRAY['c', 'w1', 'w2', 'long1', 'w2b']) c;

-- Rows through each node land in that node's range of ids.
SELECT dblink_exec('c', ins_w(20, 1)), dblink_exec('w1', ins_w(20, 2)), dblink_exec('w2', ins_w(20, 3));
SELECT id >> 48 AS node_group, count(*) FROM wev GROUP BY 1 ORDER BY 1;
SELECT rollup.run('wconc') AS first_run, differing_groups() AS differing_after_first_run;
SELECT name, pending_rows FROM rollup.status WHERE name = 'wconc';

-- A transaction on worker 1 draws ids and stays open; others on every node commit and abort after it.
SELECT dblink_exec('long1', 'BEGIN'), dblink_exec('long1', ins_w(100, 4));
SELECT dblink_exec('w1', ins_w(30, 5));
SELECT dblink_exec('w2b', 'BEGIN'), dblink_exec('w2b', ins_w(50, 6)), dblink_exec('w2b', 'ROLLBACK');
SELECT dblink_exec('w2b', 'BEGIN'), dblink_exec('w2b', ins_w(5, 7)), dblink_exec('w2b', ins_w(5, 8)),
       dblink_exec('w2b', 'INSERT INTO wev (at, platform, usr, query) VALUES (''2026-05-01 00:30'', ''irc'', 1, ''single'')'),
       dblink_exec('w2b', 'COMMIT');
-- Runs while it is open: worker 1's rows after its ids wait (max_wait 0 returns at once); the
-- other nodes' rows are rolled up.
SELECT rollup.run('wconc', max_wait => '0') AS run_while_long_is_open;
SELECT id >> 48 AS node_group, count(*) AS rows, (SELECT sum(events) FROM wev_5min) AS rolled_up FROM wev GROUP BY 1 ORDER BY 1;
SELECT name, pending_rows FROM rollup.status WHERE name = 'wconc';
-- Writers on all three nodes commit and abort many small transactions while runs go on.
SELECT dblink_send_query('c', format($d$DO $x$ BEGIN FOR t IN 1..30 LOOP %s; IF t %% 5 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins_w(10, 9)));
SELECT dblink_send_query('w1', format($d$DO $x$ BEGIN FOR t IN 1..30 LOOP %s; IF t %% 4 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins_w(7, 10)));
SELECT dblink_send_query('w2', format($d$DO $x$ BEGIN FOR t IN 1..30 LOOP %s; IF t %% 3 = 0 THEN ROLLBACK; ELSE COMMIT; END IF; END LOOP; END $x$$d$, ins_w(9, 11)));
SELECT rollup.run('wconc', max_wait => '0') >= 0 AS run1, rollup.run('wconc', max_wait => '0') >= 0 AS run2;
SELECT rollup.run('wconc', max_wait => '0') >= 0 AS run3;
SELECT * FROM dblink_get_result('c') AS r(status text);
SELECT * FROM dblink_get_result('c') AS r(status text);
SELECT * FROM dblink_get_result('w1') AS r(status text);
SELECT * FROM dblink_get_result('w1') AS r(status text);
SELECT * FROM dblink_get_result('w2') AS r(status text);
SELECT * FROM dblink_get_result('w2') AS r(status text);
-- The long transaction commits more rows, after the newer ones; a run that waits for writers
-- takes no lock: the writers keep going meanwhile.
SELECT dblink_exec('long1', ins_w(40, 12)), dblink_exec('long1', 'COMMIT');
SELECT rollup.run('wconc', max_wait => '10 seconds') >= 0 AS last_run;
SELECT (SELECT count(*) FROM wev) AS committed_rows, (SELECT sum(events) FROM wev_5min) AS rolled_up_rows,
       (SELECT sum(events) FROM wev_daily) AS daily_rows, differing_groups() AS differing_groups;
SELECT name, pending_rows, last_error FROM rollup.status WHERE name IN ('wconc', 'wconc_daily') ORDER BY name;
SELECT total_rows = (SELECT count(*) FROM wev) AS every_row_counted_once, jsonb_object_keys(nodes) AS node_groups
FROM rollup.progress WHERE name = 'wconc' ORDER BY 2;
-- rollup.verify agrees, and a reset recomputes the same from every node's rows.
SELECT count(*) AS differences FROM rollup.verify('wconc');
SELECT rollup.reset('wconc') = (SELECT count(*) FROM wev) AS reset_counts_every_node, differing_groups() AS differing_after_reset;

-- On a worker, rollups are not defined: the error says where to go.
SELECT * FROM dblink('w1', $$SELECT rollup.run('wconc')$$) AS r(rows bigint);

-- A node added to the cluster: covered from its first row.
SELECT citus_add_node('127.0.0.1', current_setting('port')::int + 3) > 0 AS node_added;
SELECT node_conn('w3', 3);
SELECT dblink_exec('w3', ins_w(25, 13));
SELECT min(id) >> 48 AS new_node_group, count(*) FROM wev WHERE id >> 48 > 2;
SELECT rollup.run('wconc') AS rows_of_the_new_node, differing_groups() AS differing_groups;
-- Removed with rows not rolled up yet: its range is read to the end.
SELECT dblink_exec('w3', ins_w(15, 14));
SELECT dblink_disconnect('w3');
SELECT citus_remove_node('127.0.0.1', current_setting('port')::int + 3);
SELECT rollup.run('wconc') AS rows_of_the_removed_node, differing_groups() AS differing_groups;
SELECT name, pending_rows FROM rollup.status WHERE name = 'wconc';

SELECT dblink_disconnect(c) FROM unnest(ARRAY['c', 'w1', 'w2', 'long1', 'w2b']) c;
SELECT rollup.drop_rollup('wconc_daily', drop_target => true), rollup.drop_rollup('wconc', drop_target => true);
DROP TABLE wev;
