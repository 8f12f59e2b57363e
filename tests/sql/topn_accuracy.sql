-- TopN accuracy at scale: Zipf (s = 1.1) over 10M rows, 1000 counters. Top 10 exact, and the
-- true count of every reported item inside its bounds, for one sketch of all rows and for the
-- union of 1000 partial sketches built from shuffled partitions.
SET max_parallel_workers_per_gather = 0;
SET work_mem = '256MB';
-- Inverse transform of a uniform drawn from a hash of the row number: P(X >= x) = x^-0.1, so
-- item k has probability ~ 0.1 k^-1.1 (a Zipf law with exponent 1.1), with a long tail.
CREATE TEMP TABLE zipf AS
SELECT i, 'w' || floor(least(power(u, -10.0), 1e15))::bigint AS item
FROM (SELECT i, (hashint8(i)::float8 + 2147483649.0) / 4294967298.0 AS u FROM generate_series(1, 10000000) i) s;
CREATE TEMP TABLE truth AS SELECT item, count(*) AS n FROM zipf GROUP BY item;
ANALYZE truth;
SELECT count(*) AS rows, (SELECT count(*) FROM truth) > 1000000 AS over_a_million_distinct_items FROM zipf;

-- Partitions by a multiplicative shuffle of the row number, independent of the item.
CREATE TEMP TABLE sketches AS
SELECT 'one sketch' AS how, topn_add_agg(item, 1000) AS s FROM zipf
UNION ALL
SELECT 'union of 1000 shuffled partitions', topn_union_agg(part)
FROM (SELECT topn_add_agg(item, 1000) AS part FROM zipf GROUP BY (i::bigint * 2654435761) % 1000) p;
CREATE TEMP TABLE reported AS
SELECT s.how, b.rank, b.item, b.lower_bound, b.upper_bound, b.guaranteed, topn_error_bound(s.s) AS error_bound
FROM sketches s, LATERAL (SELECT *, row_number() OVER () AS rank FROM topn_bounds(s.s, 1000)) b;

-- Top 10: the same items, in the same order, with exact counts (lower = upper = truth).
WITH true_top AS (SELECT item, n, row_number() OVER (ORDER BY n DESC, item) AS rank FROM truth ORDER BY n DESC, item LIMIT 10)
SELECT r.how, count(*) AS top10_compared,
       count(*) FILTER (WHERE r.item = t.item AND r.lower_bound = t.n AND r.upper_bound = t.n AND r.guaranteed) AS top10_exact
FROM reported r JOIN true_top t USING (rank)
GROUP BY r.how ORDER BY r.how;

-- Every reported item: lower <= true count <= upper.
SELECT r.how, count(*) AS reported,
       count(*) FILTER (WHERE coalesce(t.n, 0) BETWEEN r.lower_bound AND r.upper_bound) AS inside_bounds
FROM reported r LEFT JOIN truth t USING (item)
GROUP BY r.how ORDER BY r.how;

-- Every item not reported is within the sketch's error bound, which is within total/counters.
CREATE TEMP TABLE bounds AS SELECT how, topn_error_bound(s) AS error_bound, topn_total(s) AS total FROM sketches;
SELECT b.how, count(t.item) FILTER (WHERE r.item IS NULL) AS unreported_over_bound,
       b.error_bound <= b.total / 1000 AS error_bound_within_total_over_counters
FROM bounds b
LEFT JOIN truth t ON t.n > b.error_bound
LEFT JOIN reported r ON r.how = b.how AND r.item = t.item
GROUP BY b.how, b.error_bound, b.total ORDER BY b.how;
