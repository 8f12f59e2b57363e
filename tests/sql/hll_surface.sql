-- The hll SQL surface beyond byte compatibility: validation with SQLSTATEs, typmods,
-- operator classes, parallel aggregation, estimates.
\i helpers.sql

-- Malformed input through every path: text, bytea cast, typmod, parameters.
SELECT q, pg_temp.error_of(q) FROM (VALUES
    ($$SELECT '\x'::hll$$),
    ($$SELECT '\x11'::hll$$),
    ($$SELECT '\x218b7f'::hll$$),
    ($$SELECT '\x158b7f'::hll$$),
    ($$SELECT '\x118b7f00'::hll$$),
    ($$SELECT '\x11927f'::hll$$),
    ($$SELECT '\x118bff'::hll$$),
    ($$SELECT '\x128b7f010203'::hll$$),
    ($$SELECT '\x128b7f00000000000000020000000000000001'::hll$$),
    ($$SELECT '\x148b7f0000'::hll$$),
    ($$SELECT '\x138b7fffff000100'::hll$$),
    ($$SELECT '\xzz'::hll$$),
    ($$SELECT '\x118'::hll$$),
    ($$SELECT '\x218b7f'::bytea::hll$$),
    ($$SELECT hll_cardinality('\x148b7f00'::bytea::hll)$$),
    ($$SELECT hll_empty(18)$$),
    ($$SELECT hll_empty(11, 0)$$),
    ($$SELECT hll_empty(11, 8)$$),
    ($$SELECT hll_empty(11, 5, 3)$$),
    ($$SELECT hll_empty(11, 5, 16384)$$),
    ($$SELECT hll_empty(11, 5, -1, 2)$$),
    ($$SELECT hll_add_agg(hll_hash_integer(1), 40)$$),
    ($$CREATE TEMP TABLE t_bad (h hll(11, 5, -1, 1, 0))$$),
    ($$CREATE TEMP TABLE t_bad (h hll(abc))$$),
    ($$CREATE TEMP TABLE t_bad (h hll(99))$$),
    ($$SELECT hll_union(hll_empty(11), hll_empty(12))$$),
    ($$SELECT hll_empty(11, 5) || hll_empty(11, 4)$$),
    ($$SELECT hll_union_agg(h) FROM (VALUES (hll_empty(11)), (hll_empty(10))) v(h)$$),
    ($$SELECT hll_set_output_version(2)$$),
    ($$SELECT hll_set_max_sparse(-2)$$)
) v(q);

-- Binary input (hll_recv) validates too: COPY BINARY of corrupt bytes into an hll column.
COPY (SELECT '\x218b7f'::bytea) TO '/tmp/pg_rollup_bad_hll.bin' WITH (FORMAT binary);
CREATE TEMP TABLE from_binary (h hll);
SELECT pg_temp.error_of($$COPY from_binary FROM '/tmp/pg_rollup_bad_hll.bin' WITH (FORMAT binary)$$);

-- Typmods: the declared parameters are enforced on insert and shown by \d.
CREATE TEMP TABLE typed (h hll(14, 4, 256, 0));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'typed'::regclass AND attname = 'h';
INSERT INTO typed SELECT hll_add_agg(hll_hash_integer(i), 14, 4, 256, 0) FROM generate_series(1, 1000) i;
SELECT pg_temp.error_of($$INSERT INTO typed SELECT hll_add_agg(hll_hash_integer(i)) FROM generate_series(1, 10) i$$);
SELECT pg_temp.error_of($$INSERT INTO typed VALUES ('\x118b7f')$$);
SELECT hll_log2m(h), hll_regwidth(h), hll_expthresh(h), hll_sparseon(h), hll_type(h) FROM typed;
SELECT format_type('hll'::regtype, typmod) FROM (VALUES (hll_typmod_in('{11}'::cstring[])), (hll_typmod_in('{10,4}'::cstring[])), (hll_typmod_in('{12,5,0,0}'::cstring[]))) t(typmod);

-- Session defaults apply to hll_empty, typmods and the defaulted aggregate, and come back.
SELECT * FROM hll_set_defaults(10, 4, 0, 0);
SELECT hll_empty(), hll_print(hll_add_agg(hll_hash_integer(1))) FROM generate_series(1, 1);
SELECT * FROM hll_set_defaults(11, 5, -1, 1);
SELECT hll_empty();

-- Operators and metadata.
SELECT #(hll_empty() || hll_hash_integer(1) || hll_hash_integer(2)) AS two,
       #(hll_hash_integer(3) || hll_empty()) AS one,
       hll_empty() = hll_empty() AS eq, hll_empty() <> hll_empty(10) AS ne,
       hll_schema_version(hll_empty()) AS version;
SELECT hll_print(hll_add_agg(hll_hash_integer(i), 5, 3, 0, 1)) FROM generate_series(1, 4) i;

-- Equality operator classes: GROUP BY, DISTINCT, hash join and a unique index on sketches.
CREATE TEMP TABLE sk AS
SELECT g, hll_add_agg(hll_hash_integer(i % 50)) AS h FROM generate_series(1, 6000) i, generate_series(1, 4) g GROUP BY g;
INSERT INTO sk SELECT 5, hll_empty();
SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT h, count(*) AS n FROM sk GROUP BY h) x;
SELECT count(DISTINCT h) FROM sk;
SET enable_hashagg = off;
SELECT count(*) AS sorted_groups FROM (SELECT h FROM sk GROUP BY h) x;
RESET enable_hashagg;
CREATE UNIQUE INDEX ON sk (g, h);
SELECT pg_temp.error_of($$INSERT INTO sk SELECT 1, h FROM sk WHERE g = 1$$);
CREATE INDEX sk_hash ON sk USING hash (h);
SET enable_seqscan = off;
SELECT g FROM sk WHERE h = hll_empty();
RESET enable_seqscan;

-- hll_hash_any on types postgresql-hll mishandles: by-reference fixed size and cstring.
SELECT hll_hash_any('08:00:2b:01:02:03:04:05'::macaddr8) = hll_hash_any('08:00:2b:01:02:03:04:05'::macaddr8) AS macaddr8_stable,
       hll_hash_any('08:00:2b:01:02:03:04:05'::macaddr8) <> hll_hash_any('08:00:2b:01:02:03:04:06'::macaddr8) AS macaddr8_distinct,
       hll_hash_any('(1,2)'::point) <> hll_hash_any('(1,3)'::point) AS point_distinct,
       hll_hash_any('abc'::name) <> hll_hash_any('abd'::name) AS name_distinct;

-- Estimates: exact in explicit mode, within 3 standard errors (3 * 1.04/sqrt(2048) = 6.9%)
-- beyond, including around 2.5 * m where postgresql-hll's estimator switches.
SELECT n, round(hll_cardinality(hll_add_agg(hll_hash_bigint(i)))::numeric / n, 2) BETWEEN 0.93 AND 1.07 AS within_bounds,
       hll_cardinality(hll_add_agg(hll_hash_bigint(i))) = n AS exact
FROM (VALUES (160), (161), (1000), (5120), (6000), (100000)) v(n), generate_series(1, n) i
GROUP BY n ORDER BY n;
SELECT hll_cardinality(hll_add_agg(hll_hash_bigint(i), 11, 6)) > 0 AS regwidth_6_is_a_number,
       hll_cardinality(hll_add_agg(hll_hash_bigint(i), 11, 7)) > 0 AS regwidth_7_is_a_number
FROM generate_series(1, 100000) i;

-- Parallel aggregation: partial states are serialized, combined, and equal the serial result.
CREATE TABLE par AS SELECT i, i % 3 AS g FROM generate_series(1, 200000) i;
ANALYZE par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT hll_add_agg(hll_hash_integer(i)) FROM par;
CREATE TEMP TABLE par_result AS
SELECT (SELECT hll_add_agg(hll_hash_integer(i)) FROM par) AS add_all,
       (SELECT hll_add_agg(hll_hash_integer(i)) FROM par WHERE i <= 100) AS add_explicit,
       (SELECT hll_union_agg(h) FROM (SELECT hll_add_agg(hll_hash_integer(i)) AS h FROM par GROUP BY i % 1000) s) AS union_all;
SET max_parallel_workers_per_gather = 0;
SELECT add_all = (SELECT hll_add_agg(hll_hash_integer(i)) FROM par) AS add_all_equal,
       add_explicit = (SELECT hll_add_agg(hll_hash_integer(i)) FROM par WHERE i <= 100) AS add_explicit_equal,
       union_all = (SELECT hll_union_agg(h) FROM (SELECT hll_add_agg(hll_hash_integer(i)) AS h FROM par GROUP BY i % 1000) s) AS union_equal
FROM par_result;
DROP TABLE par;
