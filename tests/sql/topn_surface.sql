-- The topn SQL surface: postgresql-topn's functions, bounds accessors, casts, validation.
-- First, in a session that has not loaded the library yet: the jsonb cast reads
-- topn.number_of_counters, which only exists once the library is loaded.
SELECT '{"x": 2, "y": 1}'::jsonb::topn::text AS cast_in_a_fresh_session;
\i helpers.sql

CREATE TEMP TABLE words AS
SELECT w FROM (VALUES ('apple', 50), ('banana', 30), ('cherry', 20), ('date', 10), ('elder', 5), ('fig', 1)) v(w, n),
     generate_series(1, n);

-- Aggregates, readers, metadata.
SELECT * FROM topn((SELECT topn_add_agg(w) FROM words), 3);
SELECT * FROM topn_bounds((SELECT topn_add_agg(w, 2) FROM words), 3);
SELECT topn_items(s, 2), topn_jsonb(s, 1), topn_total(s), topn_error_bound(s), topn_counters(s)
FROM (SELECT topn_add_agg(w, 4) AS s FROM words) x;
SELECT (topn(topn_add_agg(w), 2)).* FROM words;
-- Weights (bigint) and per-aggregate counters (integer).
SELECT topn_add_agg(w, length(w)::bigint)::text FROM words WHERE w IN ('fig', 'date');
SELECT topn_add_agg(w, length(w)::bigint, 1)::text FROM words WHERE w IN ('fig', 'date');
-- An integer column is a weight that would size the sketch: refused, with the bigint form in the
-- hint; the bigint form counts it exactly (41 = 20 + 21). Constants and parameters are counters.
CREATE TEMP TABLE weighted (item text, clicks int);
INSERT INTO weighted VALUES ('a', 20), ('a', 21), ('b', 3);
SELECT pg_temp.error_of($$SELECT topn_add_agg(item, clicks) FROM weighted$$) AS int_column;
SELECT item, frequency FROM topn((SELECT topn_add_agg(item, clicks::bigint) FROM weighted), 2);
SELECT topn_counters(topn_add_agg(item, 7)), topn_counters(topn_add_agg(item, 3 + 4)) FROM weighted;
PREPARE topn_with_counters(int) AS SELECT topn_counters(topn_add_agg(item, $1)) FROM weighted;
EXECUTE topn_with_counters(9);
DEALLOCATE topn_with_counters;
-- NULL items are skipped; a group of NULLs is an empty sketch; no rows give NULL.
SELECT topn_add_agg(NULL::text)::text, (SELECT topn_add_agg(w) IS NULL FROM words WHERE false) AS no_rows;
-- topn_add, topn_union and +.
SELECT topn_add(topn_add_agg(w, 3), 'fig', 100)::text FROM words;
SELECT (topn_add_agg(w) FILTER (WHERE w < 'c') + topn_add_agg(w) FILTER (WHERE w >= 'c'))::text = topn_add_agg(w)::text AS union_is_whole,
       topn_union(topn_add_agg(w) FILTER (WHERE w < 'c'), topn_add_agg(w) FILTER (WHERE w >= 'c'))::text = topn_add_agg(w)::text AS function_too
FROM words;
-- The session setting applies to topn_add_agg(item) and jsonb conversions.
SET topn.number_of_counters = 2;
SELECT topn_counters(topn_add_agg(w)), topn_add_agg(w)::text FROM words;
RESET topn.number_of_counters;
-- Items of any length.
SELECT length(item), frequency FROM topn((SELECT topn_add_agg(repeat('x', 100000)) FROM generate_series(1, 3)), 1);

-- jsonb: postgresql-topn's {item: count} form, both ways, and topn_union_agg over it.
SELECT topn_add_agg(w)::jsonb FROM words;
SELECT '{"a": 5, "b": 3}'::jsonb::topn::text;
SELECT * FROM topn('{"a": 5, "b": 3, "c": 9}'::jsonb, 2);
SELECT topn_union_agg(j)::text FROM (VALUES ('{"a": 5, "b": 3}'::jsonb), ('{"a": 1, "c": 7}'::jsonb), (NULL)) v(j);
SET topn.number_of_counters = 2;
-- A full map (as many items as counters) bounds what it may have dropped by its smallest count.
SELECT '{"a": 5, "b": 3}'::jsonb::topn::text;
RESET topn.number_of_counters;

-- Text form round trip and binary COPY round trip.
SELECT topn_add_agg(w, 3)::text::topn = topn_add_agg(w, 3) AS text_round_trip FROM words;
CREATE TEMP TABLE sk AS SELECT length(w) AS g, topn_add_agg(w) AS t FROM words GROUP BY 1;
COPY sk TO '/tmp/pg_rollup_topn.bin' WITH (FORMAT binary);
CREATE TEMP TABLE sk2 (g int, t topn);
COPY sk2 FROM '/tmp/pg_rollup_topn.bin' WITH (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE sk.t = sk2.t) AS equal FROM sk JOIN sk2 USING (g);
-- Equality operator classes.
SELECT count(DISTINCT t) AS distinct_sketches, count(*) AS sketches FROM (SELECT t FROM sk UNION ALL SELECT t FROM sk2) s;
CREATE UNIQUE INDEX ON sk (t);

-- Bad input: every path refuses with a SQLSTATE.
SELECT q, pg_temp.error_of(q) FROM (VALUES
    ($$SELECT 'nope'::topn$$),
    ($$SELECT '{"counters": 0, "total": 0, "error_bound": 0, "items": []}'::topn$$),
    ($$SELECT '{"counters": 1, "total": 2, "error_bound": 0, "items": [["a",1,1],["b",1,1]]}'::topn$$),
    ($$SELECT '{"counters": 5, "total": 2, "error_bound": 0, "items": [["a",1,1],["a",1,1]]}'::topn$$),
    ($$SELECT '{"counters": 5, "total": 2, "error_bound": 0, "items": [["a",1,3]]}'::topn$$),
    ($$SELECT '{"counters": 5, "total": 2, "error_bound": 0, "items": [], "extra": 1}'::topn$$),
    ($$SELECT '\x02'::bytea::topn$$),
    ($$SELECT '\x0105020001016101'::bytea::topn$$),
    ($$SELECT '\x01050200010161010000'::bytea::topn$$),
    ($$SELECT '{"a": -1}'::jsonb::topn$$),
    ($$SELECT '{"a": "x"}'::jsonb::topn$$),
    ($$SELECT '[1, 2]'::jsonb::topn$$),
    ($$SELECT topn_add_agg('a', 0)$$),
    ($$SELECT topn_add_agg('a', 2000000)$$),
    ($$SELECT topn_add_agg('a', -1::bigint)$$),
    ($$SELECT topn_add(topn_add_agg('a'), 'b', -5)$$),
    ($$SELECT * FROM topn((SELECT topn_add_agg('a')), -1)$$),
    -- (refused by SET, or where it is used when the setting is left to postgresql-topn)
    ($$SELECT topn_add_agg('a') FROM (SELECT set_config('topn.number_of_counters', '0', true)) s$$)
) v(q);
-- Invalid text in the database encoding is refused through binary input too.
SELECT pg_temp.error_of($$SELECT '\x010502000101ff0100'::bytea::topn$$);

-- Parallel aggregation: serialized partial states (whole working sets) merge to the serial
-- result (exact here: fewer distinct items than counters).
CREATE TABLE par AS SELECT 'item' || (i % 997) % (1 + i % 13) AS w FROM generate_series(1, 200000) i;
ANALYZE par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT topn_add_agg(w, 50) FROM par;
CREATE TEMP TABLE par_result AS SELECT topn_add_agg(w, 50) AS t FROM par;
SET max_parallel_workers_per_gather = 0;
SELECT t = (SELECT topn_add_agg(w, 50) FROM par) AS parallel_equals_serial FROM par_result;
DROP TABLE par;
