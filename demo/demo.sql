-- pg_rollup demo: run by ./pg_test.sh demo in a fresh database of the throwaway cluster.
-- It grows with every capability; today: the hll and topn sketches on a search-event stream.
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
