-- qsketch: percentiles within the sketch's relative accuracy of the exact ones (percentile_disc),
-- on skewed data of both signs with zeros; unions of hundreds of partial sketches; parallel
-- plans; the text and bytea forms; errors with their SQLSTATEs; a rollup, its level and query
-- view keeping percentiles.
\i helpers.sql
-- Latencies: log-normal (a long right tail), 3 % zeros, 10 % negative (clock skew); uniforms
-- from hashes, the same on every PostgreSQL version.
CREATE TABLE lat AS
SELECT i, i % 300 AS part,
       CASE WHEN i % 33 = 0 THEN 0
            ELSE (CASE WHEN i % 10 = 0 THEN -1 ELSE 1 END) * round(exp(2 + 1.5 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2))::numeric, 3)::float8
       END AS ms
FROM (SELECT i, (hashint4(i)::float8 + 2147483649.0) / 4294967298.0 AS u1,
             (hashint4(-i)::float8 + 2147483649.0) / 4294967298.0 AS u2
      FROM generate_series(1, 100000) i) g;
CREATE TABLE qs AS SELECT unnest(ARRAY[0, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1]) AS q;
CREATE FUNCTION pg_temp.exact(q float8) RETURNS float8 LANGUAGE sql AS $$ SELECT percentile_disc(q) WITHIN GROUP (ORDER BY ms) FROM lat $$;
CREATE FUNCTION pg_temp.within(estimate float8, exact float8, accuracy float8) RETURNS boolean LANGUAGE sql AS
$$ SELECT abs(estimate - exact) <= accuracy * abs(exact) * (1 + 1e-9) $$;

-- One sketch of all rows, at 1 % and at 0.5 %: every quantile within the accuracy.
CREATE TABLE whole AS SELECT qsketch_add_agg(ms) AS s, qsketch_add_agg(ms, 0.005) AS fine FROM lat;
SELECT qsketch_relative_accuracy(s) AS accuracy, qsketch_relative_accuracy(fine) AS fine_accuracy,
       qsketch_count(s) = 100000 AS count_exact, qsketch_min(s) = (SELECT min(ms) FROM lat) AS min_exact,
       qsketch_max(s) = (SELECT max(ms) FROM lat) AS max_exact,
       abs(qsketch_mean(s) - (SELECT avg(ms) FROM lat)) < 1e-9 * (SELECT avg(abs(ms)) FROM lat) AS mean
FROM whole;
SELECT count(*) AS quantiles,
       count(*) FILTER (WHERE pg_temp.within(qsketch_percentile(s, q), pg_temp.exact(q), qsketch_relative_accuracy(s))) AS within_1pct,
       count(*) FILTER (WHERE pg_temp.within(qsketch_percentile(fine, q), pg_temp.exact(q), qsketch_relative_accuracy(fine))) AS within_half_pct,
       max(abs(qsketch_percentile(s, q) - pg_temp.exact(q)) / nullif(abs(pg_temp.exact(q)), 0)) <= 0.01 AS worst_under_1pct
FROM whole, qs;

-- 300 partial sketches (as a rollup stores them), merged: the same sketch as one over all rows
-- (same bins: the same percentiles), whatever the order.
CREATE TABLE parts AS SELECT part, qsketch_add_agg(ms) AS s FROM lat GROUP BY part;
SELECT (SELECT qsketch_percentiles(qsketch_union_agg(s ORDER BY part), (SELECT array_agg(q ORDER BY q) FROM qs)) FROM parts)
     = (SELECT qsketch_percentiles(qsketch_union_agg(s ORDER BY part DESC), (SELECT array_agg(q ORDER BY q) FROM qs)) FROM parts) AS order_independent,
       (SELECT qsketch_percentiles(qsketch_union_agg(s), (SELECT array_agg(q ORDER BY q) FROM qs)) FROM parts)
     = (SELECT qsketch_percentiles(s, (SELECT array_agg(q ORDER BY q) FROM qs)) FROM whole) AS equals_whole,
       (SELECT qsketch_count(qsketch_union_agg(s)) FROM parts) AS merged_count;

-- Parallel plans (partial aggregation: serialize, combine, deserialize) give the same sketch.
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT qsketch_add_agg(ms) FROM lat;
SELECT qsketch_percentiles(qsketch_add_agg(ms), (SELECT array_agg(q ORDER BY q) FROM qs))
     = (SELECT qsketch_percentiles(s, (SELECT array_agg(q ORDER BY q) FROM qs)) FROM whole) AS parallel_equals_serial,
       qsketch_count(qsketch_add_agg(ms)) AS parallel_count
FROM lat;
SELECT count(*) AS groups, bool_and(qsketch_count(s) = n) AS counts FROM (
    SELECT part % 7 AS g, qsketch_union_agg(s) AS s, sum(qsketch_count(s)) AS n FROM parts GROUP BY 1) x;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;

-- Small and empty sketches, NULLs, the text and bytea forms.
SELECT qsketch_add_agg(x)::text AS three FROM (VALUES (1.5::float8), (-2), (0)) v(x);
SELECT qsketch_percentiles(qsketch_add_agg(x), '{0,0.5,1}') AS three_quantiles, qsketch_rank(qsketch_add_agg(x), 0) AS rank_of_zero
FROM (VALUES (1.5::float8), (-2), (0)) v(x);
SELECT qsketch_add_agg(ms) IS NULL AS no_rows FROM lat WHERE false;
SELECT qsketch_count(s) AS nulls_count, qsketch_percentile(s, 0.5) AS nulls_median, qsketch_min(s) AS nulls_min
FROM (SELECT qsketch_add_agg(NULL::float8) AS s FROM generate_series(1, 3)) x;
SELECT s::text::qsketch = s AS text_round_trip, s::bytea::qsketch = s AS bytea_round_trip,
       octet_length(s::bytea) AS bytes_for_100k_values, pg_column_size(fine) AS fine_bytes
FROM whole;
SELECT (s + s) = qsketch_union(s, s) AS plus, qsketch_count(s + s) AS doubled FROM whole;
-- pg_rollup 0.8.0's bytes (version 1) of a sketch of 1.5 read as that sketch, in version 2.
SELECT v1::qsketch::text AS v1_text, v1::qsketch::bytea AS v2_bytes,
       v1::qsketch = (SELECT qsketch_add_agg(1.5)) AS same_sketch
FROM (VALUES ('\x017b14ae47e17a843f000100000000000000f83f000000000000f83f000000000000f83f00012a01'::bytea)) v(v1);
-- A few values over three orders of magnitude store their bins sparse: 20 of them in under
-- 100 bytes (version 1 wrote the ~350 bins between them).
SELECT octet_length(qsketch_add_agg(10 ^ (i % 7 / 2.0 + i / 20.0))::bytea) < 100 AS sparse_bins
FROM generate_series(0, 19) i;

-- Errors.
SELECT q, pg_temp.error_of(q) FROM (VALUES
    ($$SELECT qsketch_add_agg(x) FROM (VALUES ('NaN'::float8)) v(x)$$),
    ($$SELECT qsketch_add_agg(x) FROM (VALUES ('Infinity'::float8)) v(x)$$),
    ($$SELECT qsketch_add_agg(1, 0)$$),
    ($$SELECT qsketch_add_agg(1, 0.9)$$),
    ($$SELECT qsketch_percentile(s, 1.5) FROM whole$$),
    ($$SELECT qsketch_percentile(s, 'NaN') FROM whole$$),
    ($$SELECT qsketch_rank(s, 'NaN') FROM whole$$),
    ($$SELECT qsketch_union(s, fine) FROM whole$$),
    ($$SELECT qsketch_union_agg(x) FROM (SELECT s FROM whole UNION ALL SELECT fine FROM whole) u(x)$$),
    ($$SELECT '\x0300'::bytea::qsketch$$),
    ($$SELECT '\x017b14ae47e17a843f00010000'::bytea::qsketch$$),
    ($$SELECT 'not json'::qsketch$$),
    ($$SELECT '{"relative_accuracy": 0.01}'::qsketch$$)
) v(q);

-- In a rollup: 5-minute buckets, a daily level and a query view keep percentiles for any range.
CREATE TABLE req (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL, route text, ms float8);
INSERT INTO req (at, route, ms)
SELECT '2026-11-01 00:00+00'::timestamptz + i * interval '7 seconds', 'r' || i % 3, ms FROM lat;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('req_bad', 'req', 'req_bad', time_column => 'at',
    measures => ARRAY['percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99'])$$) AS refused;
DO $$ BEGIN
    PERFORM rollup.create_rollup('req_bad', 'req', 'req_bad', time_column => 'at',
        measures => ARRAY['percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99']);
EXCEPTION WHEN OTHERS THEN
    DECLARE h text; BEGIN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; RAISE NOTICE 'hint names qsketch: %', h LIKE '%qsketch_add_agg%'; END;
END $$;
SELECT name FROM rollup.create_rollup('req_5min', 'req', 'req_5min', time_column => 'at', bucket_width => '5 minutes',
    dimensions => ARRAY['route'], measures => ARRAY['count(*) AS requests', 'qsketch_add_agg(ms) AS latency']);
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('req_daily_bad', 'req_5min', 'req_daily_bad', bucket_width => '1 day',
    dimensions => ARRAY['route'], measures => ARRAY['qsketch_add_agg(latency) AS latency'])$$) AS level_of_values;
SELECT name FROM rollup.create_rollup('req_daily', 'req_5min', 'req_daily', bucket_width => '1 day',
    dimensions => ARRAY['route'], measures => ARRAY['sum(requests) AS requests', 'qsketch_union_agg(latency) AS latency']);
SELECT rollup.create_view('req_daily', 'req_view');
-- Rows arrive in two batches: the second run merges into the stored sketches.
SELECT rollup.run('req_5min') AS first_run;
INSERT INTO req (at, route, ms) SELECT at + interval '1 second', route, -ms FROM req WHERE id % 4 = 0;
SELECT rollup.run('req_5min') AS second_run;
SELECT pg_column_size(latency) < 2000 AS small_rows, count(*) AS rows FROM req_5min GROUP BY 1;
-- Ranges that do not line up with days (on the 5-minute buckets, where the range form is exact):
-- the view's answer against the raw rows.
CREATE FUNCTION pg_temp.check_range(a timestamptz, b timestamptz) RETURNS TABLE (quantiles bigint, within bigint, same_count boolean)
LANGUAGE sql AS $$
    WITH v AS (SELECT qsketch_union_agg(latency) AS s, sum(requests) AS n, bool_and(exact) AS exact FROM req_view(a, b)),
         e AS (SELECT q, percentile_disc(q) WITHIN GROUP (ORDER BY ms) AS exact FROM qs, req WHERE at >= a AND at < b GROUP BY q)
    SELECT count(*), count(*) FILTER (WHERE pg_temp.within(qsketch_percentile(v.s, e.q), e.exact, qsketch_relative_accuracy(v.s))),
           bool_and(v.exact AND qsketch_count(v.s) = v.n AND v.n = (SELECT count(*) FROM req WHERE at >= a AND at < b))
    FROM v, e
$$;
SELECT * FROM pg_temp.check_range('2026-11-01 03:15+00', '2026-11-06 21:45+00');
SELECT * FROM pg_temp.check_range('2026-11-02 23:55+00', '2026-11-03 00:40+00');
SELECT * FROM pg_temp.check_range('2026-11-01 00:00+00', '2026-11-09 00:00+00');
SELECT count(*) AS differences FROM rollup.verify('req_5min');
SELECT count(*) AS differences FROM rollup.verify('req_daily');
DROP VIEW req_view CASCADE;
SELECT rollup.drop_rollup('req_daily', drop_target => true);
SELECT rollup.drop_rollup('req_5min', drop_target => true);
DROP TABLE req, lat, qs, whole, parts;
