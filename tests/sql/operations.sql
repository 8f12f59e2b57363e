-- Rollups in production: catch-up in bounded transactions, overlapping runs, retention,
-- status, errors, and the query view over a 5-minute + daily chain.
\i helpers.sql
CREATE EXTENSION IF NOT EXISTS dblink;
-- Buckets are in UTC; so are the literals below.
SET timezone = 'UTC';

CREATE TABLE ops (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
                  site text NOT NULL, visitor int NOT NULL, page text NOT NULL);
CREATE FUNCTION pg_temp.load(n int, seed int, start_at timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO ops (at, site, visitor, page)
    SELECT start_at + ((i * 7919 + seed) % 172800) * interval '1 second', 's' || (i + seed) % 3,
           (i * 31 + seed) % 700, 'p' || ((i * i + seed) % 50)
    FROM generate_series(1, n) i
$$;
SELECT name FROM rollup.create_rollup('ops_5min', 'ops', 'ops_5min', 'at', '5 minutes', ARRAY['site', 'page'],
    ARRAY['count(*) AS views', 'hll_add_agg(hll_hash_integer(visitor)) AS visitors', 'topn_add_agg(page) AS top_pages'],
    batch_size => 1000);
SELECT name FROM rollup.create_rollup('ops_daily', 'ops_5min', 'ops_daily', bucket_width => '1 day', dimensions => ARRAY['site'],
    measures => ARRAY['sum(views) AS views', 'hll_union_agg(visitors) AS visitors', 'topn_union_agg(top_pages) AS top_pages']);

-- Every transaction that writes the 5-minute rollup is recorded.
CREATE TABLE writes (xid xid8);
CREATE FUNCTION record_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO writes SELECT pg_current_xact_id() WHERE NOT EXISTS (SELECT FROM writes WHERE xid = pg_current_xact_id()); RETURN NULL; END $$;
CREATE TRIGGER record_write AFTER INSERT OR UPDATE ON ops_5min FOR EACH ROW EXECUTE FUNCTION record_write();

-- A backlog of 2500 rows with batch_size 1000 is caught up in 3 transactions.
SELECT pg_temp.load(2500, 1, '2026-07-01');
SELECT name, watermark, pending_rows, lag IS NOT NULL AS has_lag, total_runs FROM rollup.status ORDER BY name;
CALL rollup.catch_up('ops_5min');
SELECT count(*) AS transactions FROM writes;
SELECT name, watermark, pending_rows, lag, last_rows, last_rows_per_second > 0 AS has_rate, total_runs, total_rows, last_error
FROM rollup.status ORDER BY name;
-- A level catches up through its base rollup.
SELECT pg_temp.load(300, 2, '2026-07-02');
CALL rollup.catch_up('ops_daily');
SELECT total_rows FROM rollup.status WHERE name = 'ops_5min';

-- Overlapping runs skip: while one session runs the rollup, another returns 0 at once.
SELECT dblink_connect('other', format('dbname=%s port=%s host=%s', current_database(), current_setting('port'),
                                      split_part(current_setting('unix_socket_directories'), ',', 1)));
SELECT pg_temp.load(100, 3, '2026-07-01');
SELECT dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', $$SELECT rollup.run('ops_5min')$$) AS r(rows bigint);
SELECT pg_temp.load(100, 4, '2026-07-01');
SET lock_timeout = '1s';
SELECT rollup.run('ops_5min') AS overlapping_run;
CALL rollup.catch_up('ops_5min');
RESET lock_timeout;
SELECT dblink_exec('other', 'COMMIT');
SELECT dblink_disconnect('other');
CALL rollup.catch_up('ops_5min');

-- Errors are recorded in status and raised.
CREATE TABLE fragile (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz, d int);
SELECT name FROM rollup.create_rollup('fragile_hourly', 'fragile', 'fragile_hourly', 'at', '1 hour', measures => ARRAY['sum(100 / d) AS q']);
INSERT INTO fragile (at, d) VALUES ('2026-07-01', 4), ('2026-07-01', 0);
CALL rollup.catch_up('fragile_hourly');
SELECT name, watermark, pending_rows, split_part(last_error, ' (at ', 1) AS last_error FROM rollup.status WHERE name = 'fragile_hourly';
DELETE FROM fragile WHERE d = 0;
CALL rollup.catch_up('fragile_hourly');
SELECT name, pending_rows, last_error FROM rollup.status WHERE name = 'fragile_hourly';
-- A plain rollup.run keeps its error in status too, although its transaction is rolled back
-- (a background worker records it in a transaction of its own).
INSERT INTO fragile (at, d) VALUES ('2026-07-01', 0);
BEGIN;
SELECT rollup.run('fragile_hourly');
ROLLBACK;
SELECT name, pending_rows, split_part(last_error, ' (at ', 1) AS last_error FROM rollup.status WHERE name = 'fragile_hourly';
-- When the caller's own transaction holds the rollup's status row (it ran the rollup before),
-- the record gives up after a second and says so, instead of waiting for the caller forever.
DELETE FROM fragile WHERE d = 0;
BEGIN;
INSERT INTO fragile (at, d) VALUES ('2026-07-01', 5);
SELECT rollup.run('fragile_hourly') AS rows;
INSERT INTO fragile (at, d) VALUES ('2026-07-01', 0);
SELECT rollup.run('fragile_hourly');
ROLLBACK;
SELECT rollup.run('fragile_hourly') AS rows;
SELECT name, pending_rows, last_error FROM rollup.status WHERE name = 'fragile_hourly';

-- The query view returns each range from exactly one level. With the 5-minute level trimmed
-- to its last day, ranges that cut through 5-minute buckets of the recent day and daily
-- buckets before it equal the same query on the raw rows.
SELECT rollup.create_view('ops_daily', 'ops_all');
UPDATE rollup.rollups SET target_keep = NULL WHERE name = 'ops_5min';
DELETE FROM ops_5min WHERE bucket < '2026-07-02';
CREATE FUNCTION pg_temp.compare(from_at timestamptz, to_at timestamptz) RETURNS TABLE (site text, same boolean) LANGUAGE sql AS $$
    WITH v AS (SELECT v.site, sum(views)::bigint AS views, hll_cardinality(hll_union_agg(visitors)) AS visitors,
                      (SELECT array_agg(t.item ORDER BY t.frequency DESC, t.item) FROM topn(topn_union_agg(top_pages), 3) t) AS top3
               FROM ops_all v WHERE bucket >= from_at AND bucket < to_at GROUP BY 1),
         raw AS (SELECT o.site, count(*) AS views, hll_cardinality(hll_add_agg(hll_hash_integer(visitor))) AS visitors,
                        (SELECT array_agg(t.item ORDER BY t.frequency DESC, t.item) FROM topn(topn_add_agg(page), 3) t) AS top3
                 FROM ops o WHERE at >= from_at AND at < to_at GROUP BY 1)
    SELECT coalesce(v.site, raw.site), v IS NOT DISTINCT FROM raw FROM v FULL JOIN raw ON v.site = raw.site ORDER BY 1
$$;
SELECT * FROM pg_temp.compare('2026-07-01', '2026-07-02 13:35');
SELECT * FROM pg_temp.compare('2026-06-01', '2026-07-02 00:05');
SELECT * FROM pg_temp.compare('2026-07-02 06:10', '2026-07-02 06:25');
SELECT * FROM pg_temp.compare('2026-07-01', '2026-08-01');
SELECT count(*) AS daily_rows_used FROM ops_all WHERE bucket < '2026-07-02';
-- With fine_window, only the last day of 5-minute rows is read; older ranges come from the
-- daily level (exact for day-aligned ranges).
SELECT rollup.create_view('ops_daily', 'ops_recent', fine_window => '1 day');
SELECT (SELECT sum(views) FROM ops_recent WHERE bucket >= '2026-07-01' AND bucket < '2026-07-04')
     = (SELECT count(*) FROM ops WHERE at >= '2026-07-01' AND at < '2026-07-04') AS day_aligned_equal,
       (SELECT count(*) FROM ops_recent) = (SELECT count(*) FROM ops_daily) AS only_daily_rows_read;
-- A range that does not follow the daily buckets: the view answers by whole buckets; its range
-- form, ops_recent(from, to), takes the 5-minute rows for the cut days at either end while they
-- exist and says (exact) when it had to take a whole day the range only cuts. In a time zone
-- other than UTC too (a local day).
SET TimeZone = 'America/New_York';
SELECT r.a, r.b, (SELECT count(*) FROM ops WHERE at >= r.a AND at < r.b) AS raw,
       (SELECT sum(views) FROM ops_recent WHERE bucket >= r.a AND bucket < r.b) AS view,
       (SELECT sum(views) FROM ops_recent(r.a, r.b)) AS range_form, (SELECT bool_and(exact) FROM ops_recent(r.a, r.b)) AS exact
FROM (VALUES ('2026-07-02 12:00+00'::timestamptz, '2026-07-03 06:00+00'::timestamptz),
             ('2026-07-02 00:00', '2026-07-03 00:00'),
             ('2026-07-02 13:00', '2026-07-02 14:00'),
             ('2026-07-02 13:02', '2026-07-02 14:00'),
             ('2026-07-01 12:00+00', '2026-07-02 12:00+00'),
             ('2026-06-01', '2026-08-01')) r(a, b)
ORDER BY 1, 2;
SELECT site, hll_cardinality(hll_union_agg(visitors)) = (SELECT hll_cardinality(hll_add_agg(hll_hash_integer(visitor))) FROM ops o
           WHERE o.site = f.site AND at >= '2026-07-02 12:00+00' AND at < '2026-07-03 06:00+00') AS same_visitors
FROM ops_recent('2026-07-02 12:00+00', '2026-07-03 06:00+00') f GROUP BY site ORDER BY site;
SET TimeZone = 'UTC';
SELECT pg_temp.error_of($$DROP VIEW ops_recent$$) AS view_without_cascade;

-- A level that keeps the finer rollup's dimensions and merges its columns (sum, max, the sketch
-- unions): each 5-minute row is a group of its own, and the view reads them as they are, cast to
-- the level's types, without grouping them (its range form too); a level that computes a measure
-- from an expression groups them. Both answer as the raw rows, for ranges that cut buckets, in
-- another time zone, when the 5-minute rows were trimmed, and whichever way the view finds where
-- they start (an index on the bucket, a statement when there is none or row security is on).
CREATE TABLE pv (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
                 site text, page text NOT NULL, visitor int NOT NULL);
INSERT INTO pv (at, site, page, visitor)
SELECT '2026-07-01'::timestamptz + ((i * 7919) % 259200) * interval '1 second', CASE WHEN i % 11 = 0 THEN NULL ELSE 's' || i % 3 END,
       'p' || (i * i) % 40, (i * 31) % 500
FROM generate_series(1, 6000) i;
SELECT name FROM rollup.create_rollup('pv_5min', 'pv', 'pv_5min', 'at', '5 minutes', ARRAY['site', 'page'],
    ARRAY['count(*) AS views', 'hll_add_agg(hll_hash_integer(visitor)) AS visitors', 'topn_add_agg(page) AS top_pages']);
SELECT name FROM rollup.create_rollup('pv_daily', 'pv_5min', 'pv_daily', bucket_width => '1 day', dimensions => ARRAY['page', 'site'],
    measures => ARRAY['sum(views) AS views', 'max(views) AS peak', 'hll_union_agg(visitors) AS visitors', 'topn_union_agg(top_pages) AS top_pages']);
SELECT name FROM rollup.create_rollup('pv_daily_x', 'pv_5min', 'pv_daily_x', bucket_width => '1 day', dimensions => ARRAY['page', 'site'],
    measures => ARRAY['sum(views * 2) AS views2', 'hll_union_agg(visitors) AS visitors']);
CALL rollup.catch_up('pv_5min');
SELECT rollup.create_view('pv_daily', 'pv_all'), rollup.create_view('pv_daily_x', 'pv_all_x', fine_window => '1 day');
SELECT pg_get_viewdef('pv_all') !~ 'GROUP BY' AS rows_as_they_are, pg_get_viewdef('pv_all_x') ~ 'GROUP BY' AS grouped,
       pg_get_functiondef('pv_all(timestamptz, timestamptz)'::regprocedure) !~ 'GROUP BY' AS range_form_as_they_are;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'pv_all'::regclass AND attname = 'views';
DELETE FROM pv_5min WHERE bucket < '2026-07-02 10:00';
CREATE FUNCTION pg_temp.pv_compare() RETURNS TABLE (a timestamptz, b timestamptz, range_form_same boolean, view_same boolean) LANGUAGE sql AS $$
    SELECT r.a, r.b,
           (SELECT (sum(views)::bigint, max(peak), hll_cardinality(hll_union_agg(visitors)),
                    (SELECT array_agg(t.item ORDER BY t.frequency DESC, t.item) FROM topn(topn_union_agg(top_pages), 5) t))
            FROM pv_all(r.a, r.b))
         = (SELECT (count(*), (SELECT max(c) FROM (SELECT count(*) AS c FROM pv WHERE at >= r.a AND at < r.b
                                                   GROUP BY site, page, date_bin('5 minutes', at, '2000-01-03')) m),
                    hll_cardinality(hll_add_agg(hll_hash_integer(visitor))),
                    (SELECT array_agg(t.item ORDER BY t.frequency DESC, t.item) FROM topn(topn_add_agg(page), 5) t))
            FROM pv WHERE at >= r.a AND at < r.b)
       AND (SELECT (sum(views2)::bigint, hll_cardinality(hll_union_agg(visitors))) FROM pv_all_x(r.a, r.b))
         = (SELECT (2 * count(*), hll_cardinality(hll_add_agg(hll_hash_integer(visitor)))) FROM pv WHERE at >= r.a AND at < r.b),
           -- the view, for ranges on its rows' buckets (UTC days before the 5-minute rows, 5 minutes after)
           (SELECT (sum(views)::bigint, hll_cardinality(hll_union_agg(visitors))) FROM pv_all WHERE bucket >= r.a AND bucket < r.b)
         = (SELECT (count(*), hll_cardinality(hll_add_agg(hll_hash_integer(visitor)))) FROM pv WHERE at >= r.a AND at < r.b)
    FROM (VALUES ('2026-07-01 00:00+00'::timestamptz, '2026-07-04 00:00+00'::timestamptz), ('2026-07-01 00:00+00', '2026-07-03 13:35+00'),
                 ('2026-07-03 11:10+00', '2026-07-03 11:25+00'), ('2026-07-02 10:00+00', '2026-07-03 13:35+00')) r(a, b)
$$;
-- (The view answers by whole days before the 5-minute rows: the last range, which cuts a day there, is
-- exact only in the range form.)
SET TimeZone = 'Asia/Kolkata';
SELECT * FROM pg_temp.pv_compare();
-- Without the index on the 5-minute rows' bucket; with row security on them (as the owner).
BEGIN;
DROP INDEX pv_5min_bucket_idx;
SELECT bool_and(range_form_same) AS range_form_same, bool_and(view_same) FILTER (WHERE a <> '2026-07-02 10:00+00') AS view_same
FROM pg_temp.pv_compare();
ROLLBACK;
BEGIN;
ALTER TABLE pv_5min ENABLE ROW LEVEL SECURITY;
SELECT bool_and(range_form_same) AS range_form_same, bool_and(view_same) FILTER (WHERE a <> '2026-07-02 10:00+00') AS view_same
FROM pg_temp.pv_compare();
ROLLBACK;
SET TimeZone = 'UTC';
-- No 5-minute rows at all: every row comes from the level.
BEGIN;
DELETE FROM pv_5min;
SELECT (SELECT count(*) FROM pv_all) = (SELECT count(*) FROM pv_daily) AS only_daily_rows,
       (SELECT sum(views) FROM pv_all) = (SELECT count(*) FROM pv) AS all_counted;
ROLLBACK;
DROP VIEW pv_all, pv_all_x CASCADE;
SELECT rollup.drop_rollup(name, drop_target => true) FROM rollup.rollups WHERE name IN ('pv_daily', 'pv_daily_x', 'pv_5min') ORDER BY name DESC;
DROP TABLE pv;

-- rollup.verify recomputes buckets from the rows the source still holds and lists every
-- difference: none where the rollups are whole; a changed count, a changed sketch, a lost row, and
-- (for the level) the days whose 5-minute rows are gone, each shown.
SELECT count(*) AS differences_5min FROM rollup.verify('ops_5min', '2026-07-02', '2026-07-04');
SELECT count(*) AS differences_daily FROM rollup.verify('ops_daily', '2026-07-02', '2026-07-04');
BEGIN;
UPDATE ops_5min SET views = views + 1 WHERE site = 's1' AND page = 'p7' AND bucket = (SELECT min(bucket) FROM ops_5min WHERE site = 's1' AND page = 'p7' AND bucket >= '2026-07-02');
UPDATE ops_5min SET visitors = hll_empty() WHERE site = 's2' AND page = 'p3' AND bucket = (SELECT min(bucket) FROM ops_5min WHERE site = 's2' AND page = 'p3' AND bucket >= '2026-07-02');
DELETE FROM ops_5min WHERE site = 's0' AND page = 'p1' AND bucket = (SELECT max(bucket) FROM ops_5min WHERE site = 's0' AND page = 'p1');
SELECT bucket, dimensions, measure, stored, recomputed FROM rollup.verify('ops_5min', '2026-07-02', '2026-07-04');
ROLLBACK;
SELECT bucket, dimensions, measure, stored, recomputed FROM rollup.verify('ops_daily') WHERE measure = 'views' ORDER BY 1, 2;
SELECT pg_temp.error_of($$SELECT * FROM rollup.verify('no such rollup')$$) AS unknown;
SELECT pg_temp.error_of($$SELECT rollup.create_view('ops_5min', 'nope')$$);
SELECT pg_temp.error_of($$SELECT rollup.create_view('ops_daily', 'nope', fine_window => '-1 day')$$);

-- Retention: raw rows go once every reader of the table has passed them (a second reader
-- lags behind), after the grace period; fine rollup rows go after target_keep.
SELECT name FROM rollup.create_rollup('ops_sites', 'ops', 'ops_sites', 'at', '1 day', ARRAY['site'], ARRAY['count(*) AS views'],
    batch_size => 1000);
SELECT rollup.run('ops_sites') AS second_reader_first_batch;
SELECT rollup.set_retention('ops_5min', source_grace => '0');
SELECT (SELECT watermark FROM rollup.progress WHERE name = 'ops_sites') AS slowest_watermark, count(*) AS raw_rows FROM ops;
CALL rollup.apply_retention('ops_5min', batch_size => 400);
SELECT min(id) - 1 = (SELECT watermark FROM rollup.progress WHERE name = 'ops_sites') AS deleted_exactly_up_to_slowest, count(*) AS raw_rows FROM ops;
SELECT rollup.set_retention('ops_5min', source_grace => '1000 years');
CALL rollup.catch_up('ops_sites');
CALL rollup.apply_retention('ops_5min');
SELECT count(*) AS raw_rows_kept_in_grace FROM ops;
SELECT rollup.set_retention('ops_5min', source_grace => '0', target_keep => '1 day');
SELECT rollup.set_retention('ops_daily', target_keep => '1 day');
CALL rollup.apply_retention('ops_5min', 10000, NULL);
SELECT count(*) AS raw_rows_left FROM ops;
SELECT count(*) AS old_five_minute_rows FROM ops_5min WHERE bucket < now() - interval '1 day';
SELECT count(*) AS old_daily_rows FROM ops_daily;
SELECT pg_temp.error_of($$SELECT rollup.set_retention('ops_daily', source_grace => '1 day')$$);
SELECT pg_temp.error_of($$SELECT rollup.set_retention('ops_5min', target_keep => '-1 day')$$);
-- A reset recomputes from the rows a source still holds: once retention deleted rows a rollup had
-- aggregated, it is refused, saying how many, unless forced (then it is exactly what is left).
-- A level counts what target_keep deleted from the rollup it reads.
SELECT name, source_rows_deleted, (SELECT sum(views) FROM ops_sites) AS sites_views FROM rollup.status
WHERE name IN ('ops_5min', 'ops_daily', 'ops_sites') ORDER BY name;
SELECT pg_temp.error_of($$SELECT rollup.reset('ops_5min')$$);
SELECT pg_temp.error_of($$SELECT rollup.reset('ops_daily')$$);
SELECT pg_temp.error_of($$SELECT rollup.reset('ops_sites')$$) AS reset_refused, (SELECT sum(views) FROM ops_sites) AS sites_views_kept;
INSERT INTO ops (at, site, visitor, page) VALUES (now(), 'fresh', 1, 'p1');
SELECT rollup.reset('ops_sites', force => true) AS forced_reset_rows;
SELECT (SELECT sum(views) FROM ops_sites) AS sites_views, (SELECT count(*) FROM ops) AS raw_rows;
SELECT name, source_rows_deleted FROM rollup.status WHERE name = 'ops_sites';
SELECT rollup.reset('ops_sites') AS reset_again_rows;

-- Scheduling needs pg_cron, which lives in another database here: the error says what to run where.
SELECT pg_temp.error_of($$SELECT rollup.schedule('ops_5min', '* * * * *')$$);
DO $$
BEGIN
    PERFORM rollup.schedule('ops_5min', '* * * * *');
EXCEPTION WHEN OTHERS THEN
    DECLARE h text;
    BEGIN
        GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
        RAISE NOTICE 'hint: %', h;
    END;
END $$;
SELECT pg_temp.error_of($$SELECT rollup.schedule('ops_daily', '* * * * *')$$);
SELECT rollup.job_command('ops_5min');

-- Leave the database as found.
DROP VIEW ops_all, ops_recent CASCADE;
SELECT rollup.drop_rollup(name, drop_target => true) FROM rollup.rollups WHERE name IN ('ops_daily', 'fragile_hourly', 'ops_sites');
SELECT rollup.drop_rollup('ops_5min', drop_target => true);
DROP TABLE ops, fragile, writes;
DROP FUNCTION record_write();
