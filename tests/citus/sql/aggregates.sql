-- Sketch aggregates on a distributed table, grouped by a column that is not the distribution
-- column: each shard runs the aggregate (the worker task shows it), the coordinator merges the
-- shards' sketches with hll_union_agg / topn_union_agg; the results equal the same query on a
-- local copy of the rows.
SET citus.next_shard_id TO 810000;
-- Plans without what changes from run to run (the worker's address, shard numbers, oids).
CREATE FUNCTION plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        CONTINUE WHEN line ~ 'Node: host=';
        RETURN NEXT regexp_replace(line, '''[0-9]+''::oid', '<oid>', 'g');
    END LOOP;
END
$$;

CREATE TABLE ev (tenant int NOT NULL, platform text, user_id bigint, item text, weight bigint);
SELECT create_distributed_table('ev', 'tenant');
INSERT INTO ev
SELECT i % 40, 'p' || (i % 5), (i * 7919) % 20000,
       -- 300 items of different frequencies (item k: 2k + 1 in 90000 rows): the topn sketches
       -- of 1000 counters are exact
       'item ' || floor(sqrt((i * 7) % 90000))::int, 1 + i % 3
FROM generate_series(1, 60000) i;
CREATE TABLE ev_local AS SELECT * FROM ev;
SELECT citus_table_type FROM citus_tables WHERE table_name = 'ev'::regclass;

-- The aggregates run inside the worker tasks; the coordinator merges with the union aggregates.
SELECT * FROM plan($$SELECT platform, hll_add_agg(hll_hash_bigint(user_id)) FROM ev GROUP BY platform$$);
SELECT * FROM plan($$SELECT platform, topn_add_agg(item) FROM ev GROUP BY platform$$);
SELECT * FROM plan($$SELECT platform, topn_add_agg(item, weight, 100) FROM ev GROUP BY platform$$);

-- Equal to the local results, byte for byte.
WITH d AS (SELECT platform, hll_add_agg(hll_hash_bigint(user_id)) AS h, hll_add_agg(hll_hash_text(item), 12, 5) AS h12,
                  topn_add_agg(item) AS t, topn_add_agg(item, weight) AS tw
           FROM ev GROUP BY platform),
     l AS (SELECT platform, hll_add_agg(hll_hash_bigint(user_id)) AS h, hll_add_agg(hll_hash_text(item), 12, 5) AS h12,
                  topn_add_agg(item) AS t, topn_add_agg(item, weight) AS tw
           FROM ev_local GROUP BY platform)
SELECT platform, d.h::bytea = l.h::bytea AS hll_equal, d.h12::bytea = l.h12::bytea AS hll_12_5_equal,
       d.t::bytea = l.t::bytea AS topn_equal, d.tw::bytea = l.tw::bytea AS weighted_topn_equal,
       round(hll_cardinality(d.h)) AS distinct_users
FROM d JOIN l USING (platform) ORDER BY platform;

-- A sketch table on the shards, and the union aggregates over it (grouped and not).
CREATE TABLE sketches (tenant int NOT NULL, platform text, users hll, items topn);
SELECT create_distributed_table('sketches', 'tenant', colocate_with => 'ev');
INSERT INTO sketches SELECT tenant, platform, hll_add_agg(hll_hash_bigint(user_id)), topn_add_agg(item) FROM ev GROUP BY 1, 2;
SELECT * FROM plan($$SELECT platform, hll_union_agg(users), topn_union_agg(items) FROM sketches GROUP BY platform$$);
WITH d AS (SELECT hll_union_agg(users) AS h, topn_union_agg(items) AS t FROM sketches),
     l AS (SELECT hll_add_agg(hll_hash_bigint(user_id)) AS h, topn_add_agg(item) AS t FROM ev_local)
SELECT d.h::bytea = l.h::bytea AS hll_union_equal, d.t::bytea = l.t::bytea AS topn_union_equal FROM d, l;

-- The topn accessors in the forms users write, over an aggregate of a distributed table
-- (postgresql-topn's fail on Citus with "set-valued function called in context that cannot
-- accept a set"): the set-returning forms, and the array and jsonb forms.
SELECT topn(topn_union_agg(items), 3) FROM sketches;
SELECT (topn(topn_add_agg(item), 3)).* FROM ev;
SELECT platform, (topn(topn_add_agg(item), 2)).* FROM ev GROUP BY platform ORDER BY platform, frequency DESC, item;
SELECT * FROM topn_bounds((SELECT topn_union_agg(items) FROM sketches), 2);
SELECT topn_items(topn_union_agg(items), 3), topn_jsonb(topn_union_agg(items), 1) FROM sketches;
-- The same answers as the local rows.
SELECT array_agg(item ORDER BY n DESC, item) AS local_top_3
FROM (SELECT item, count(*) AS n FROM ev_local GROUP BY item ORDER BY n DESC, item LIMIT 3) t;

-- Many items: the distributed sketch (a union of shard sketches) keeps its guarantee: every
-- reported item's true count is inside its bounds, and the top 10 are the true top 10.
CREATE TABLE zipf (tenant int NOT NULL, item text);
SELECT create_distributed_table('zipf', 'tenant', colocate_with => 'ev');
INSERT INTO zipf SELECT i % 40, 'z' || floor(1 / power(((hashint4(i)::bigint + 2147483649) / 4294967297.0), 1 / 1.1))::bigint
FROM generate_series(1, 300000) i;
CREATE TABLE zipf_local AS SELECT * FROM zipf;
WITH t AS (SELECT item, count(*) AS n FROM zipf_local GROUP BY item),
     b AS (SELECT * FROM topn_bounds((SELECT topn_add_agg(item, 200) FROM zipf), 200))
SELECT count(*) AS reported, count(*) FILTER (WHERE t.n BETWEEN b.lower_bound AND b.upper_bound) AS inside_bounds
FROM b JOIN t USING (item);
WITH t AS (SELECT item FROM zipf_local GROUP BY item ORDER BY count(*) DESC, item LIMIT 10)
SELECT (SELECT array_agg(item ORDER BY item) FROM t)
     = (SELECT array_agg(item ORDER BY item) FROM unnest(topn_items((SELECT topn_add_agg(item, 200) FROM zipf), 10)) item) AS top_10_exact;

-- qsketch: grouped by a column that is not the distribution column, and its union over a sketch
-- table on the shards. Citus' generic two stages (its state is not `internal`): each shard
-- aggregates (worker_partial_agg), the coordinator combines the partial sketches
-- (coord_combine_agg); the same bins (so the same percentiles) and count as over the local rows.
SELECT * FROM plan($$SELECT platform, qsketch_add_agg(user_id) FROM ev GROUP BY platform$$);
WITH d AS (SELECT platform, qsketch_add_agg(user_id) AS q FROM ev GROUP BY platform),
     l AS (SELECT platform, qsketch_add_agg(user_id) AS q FROM ev_local GROUP BY platform)
SELECT platform, qsketch_count(d.q) = qsketch_count(l.q) AS same_count,
       qsketch_percentiles(d.q, '{0,0.1,0.5,0.9,0.99,1}') = qsketch_percentiles(l.q, '{0,0.1,0.5,0.9,0.99,1}') AS same_percentiles
FROM d JOIN l USING (platform) ORDER BY platform;
CREATE TABLE qsketches (tenant int NOT NULL, platform text, q qsketch);
SELECT create_distributed_table('qsketches', 'tenant', colocate_with => 'ev');
INSERT INTO qsketches SELECT tenant, platform, qsketch_add_agg(user_id) FROM ev GROUP BY 1, 2;
SELECT * FROM plan($$SELECT platform, qsketch_union_agg(q) FROM qsketches GROUP BY platform$$);
SELECT qsketch_percentiles((SELECT qsketch_union_agg(q) FROM qsketches), '{0,0.1,0.5,0.9,0.99,1}')
     = qsketch_percentiles((SELECT qsketch_add_agg(user_id) FROM ev_local), '{0,0.1,0.5,0.9,0.99,1}') AS union_same_percentiles,
       (SELECT qsketch_count(qsketch_union_agg(q)) FROM qsketches) AS union_count;
