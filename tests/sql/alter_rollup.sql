-- rollup.alter_rollup: the changes users make in place (batch size, retention, schedule, a
-- measure added with a backfill from the raw rows still present), each answer compared with the
-- raw rows.
\i helpers.sql
SET TimeZone = 'UTC';

CREATE TABLE al_ev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
                    site text NOT NULL, visitor int NOT NULL, amount numeric NOT NULL);
CREATE FUNCTION pg_temp.load(n int, seed int, day timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO al_ev (at, site, visitor, amount)
    SELECT day + (abs(hashint4(i + seed)) % 86400) * interval '1 second', 's' || (i + seed) % 3, abs(hashint4(i * seed)) % 500, (i % 100) / 4.0
    FROM generate_series(1, n) i
$$;
SELECT name FROM rollup.create_rollup('al_hourly', 'al_ev', 'al_hourly', 'at', '1 hour', ARRAY['site'], ARRAY['count(*) AS events']);
SELECT name FROM rollup.create_rollup('al_daily', 'al_hourly', 'al_daily', bucket_width => '1 day', dimensions => ARRAY['site'],
    measures => ARRAY['sum(events) AS events']);
SELECT pg_temp.load(3000, 1, '2026-09-01'), pg_temp.load(3000, 2, '2026-09-02'), pg_temp.load(3000, 3, '2026-09-03');
SELECT rollup.run('al_hourly') AS rows;

-- Batch size: a run then takes at most that many rows; 0 lifts the limit.
SELECT batch_size FROM rollup.alter_rollup('al_hourly', batch_size => 1000);
SELECT pg_temp.load(2500, 4, '2026-09-03');
SELECT rollup.run('al_hourly') AS first_run, rollup.run('al_hourly') AS second_run;
SELECT batch_size FROM rollup.alter_rollup('al_hourly', batch_size => 0);
SELECT rollup.run('al_hourly') AS rest;

-- Retention: each setting kept unless given.
SELECT source_grace, target_keep FROM rollup.alter_rollup('al_hourly', target_keep => '100 years');
-- Source retention deletes the first day's raw rows (the hourly and daily rows keep them).
SELECT source_grace IS NOT NULL AS has_grace, target_keep FROM rollup.alter_rollup('al_hourly', source_grace => now() - '2026-09-02'::timestamptz);
CALL rollup.apply_retention('al_hourly');
SELECT count(*) AS raw_rows_left, min(at) AS oldest FROM al_ev;

-- A measure added: a column of the target, filled from the raw rows still present. Some hours'
-- raw rows are gone: refused, and nothing changed; with allow_partial those rows keep NULL (not
-- known).
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', add_measures => ARRAY['sum(amount) AS amount'])$$) AS raw_rows_gone;
SELECT measure_names FROM rollup.rollups WHERE name = 'al_hourly';
SELECT measure_names FROM rollup.alter_rollup('al_hourly',
    add_measures => ARRAY['sum(amount) AS amount', 'hll_add_agg(hll_hash_integer(visitor)) AS visitors', 'max(amount) AS top_amount'],
    allow_partial => true);
SELECT format_type(atttypid, atttypmod) AS type, attname FROM pg_attribute WHERE attrelid = 'al_hourly'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) AS hours, count(amount) AS filled, count(*) FILTER (WHERE amount IS NULL AND bucket >= '2026-09-02') AS missing_after
FROM al_hourly;
-- New rows merge into the new measures like the old ones.
SELECT pg_temp.load(1000, 5, '2026-09-03');
SELECT rollup.run('al_hourly') AS rows;
SELECT count(*) AS wrong_hours
FROM (SELECT site, date_bin('1 hour', at, '2000-01-03') AS bucket, count(*) AS events, sum(amount) AS amount, max(amount) AS top_amount,
             hll_add_agg(hll_hash_integer(visitor)) AS visitors FROM al_ev GROUP BY 1, 2) r
FULL JOIN al_hourly h USING (site, bucket)
WHERE h.amount IS NOT NULL AND (r.events, r.amount, r.top_amount, r.visitors::text) IS DISTINCT FROM (h.events, h.amount, h.top_amount, h.visitors::text);
SELECT measure, count(*) AS differences, count(*) FILTER (WHERE stored IS NULL) AS not_known FROM rollup.verify('al_hourly', '2026-09-02', '2026-09-05')
GROUP BY measure ORDER BY measure;

-- A level adds a measure over its source's new column, from the hourly rows it reads: the day
-- with an hour not known is refused, then kept NULL.
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_daily', add_measures => ARRAY['sum(amount) AS amount'])$$) AS hour_not_known;
SELECT measure_names FROM rollup.alter_rollup('al_daily', add_measures => ARRAY['sum(amount) AS amount'], allow_partial => true);
SELECT pg_temp.load(500, 6, '2026-09-04');
SELECT rollup.run('al_hourly') AS rows;
SELECT d.bucket, d.events, d.amount, r.events AS raw_events, r.amount AS raw_amount
FROM al_daily d LEFT JOIN LATERAL (SELECT count(*) AS events, sum(amount) AS amount FROM al_ev e
                                   WHERE e.site = d.site AND e.at >= d.bucket AND e.at < d.bucket + interval '1 day') r ON true
WHERE d.site = 's1' ORDER BY d.bucket;
-- A flush rollup's source is consumed: its rows keep NULL.
CREATE TABLE al_queue (at timestamptz NOT NULL, amount int NOT NULL);
SELECT name FROM rollup.create_rollup('al_flush', 'al_queue', 'al_flush', 'at', '1 day', mode => 'flush');
INSERT INTO al_queue SELECT '2026-09-01'::timestamptz + i * interval '1 hour', i FROM generate_series(1, 30) i;
SELECT rollup.run('al_flush') AS rows;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_flush', add_measures => ARRAY['sum(amount) AS amount'])$$) AS consumed;
SELECT measure_names FROM rollup.alter_rollup('al_flush', add_measures => ARRAY['sum(amount) AS amount'], allow_partial => true);
INSERT INTO al_queue SELECT '2026-09-02'::timestamptz + i * interval '1 hour', i FROM generate_series(1, 5) i;
SELECT rollup.run('al_flush') AS rows;
SELECT bucket, events, amount FROM al_flush ORDER BY bucket;

-- Refused, and nothing changed.
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_daily', batch_size => 10)$$) AS level_batch;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', batch_size => -1)$$) AS negative_batch;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', add_measures => ARRAY['count(*) AS amount'])$$) AS duplicate_name;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', add_measures => ARRAY['avg(amount) AS mean'])$$) AS not_mergeable;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', add_measures => ARRAY['sum(nope) AS nope'])$$) AS unknown_column;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_daily', add_measures => ARRAY['count(*) AS n'])$$) AS count_on_a_level;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('nope', batch_size => 10)$$) AS unknown_rollup;
SELECT name, batch_size, measure_names FROM rollup.rollups WHERE name LIKE 'al%' ORDER BY name;
SELECT count(*) AS hourly_columns FROM pg_attribute WHERE attrelid = 'al_hourly'::regclass AND attnum > 0 AND NOT attisdropped;
-- Another role cannot alter the rollup.
CREATE ROLE al_other;
GRANT SELECT ON al_hourly TO al_other;
SET ROLE al_other;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', batch_size => 10)$$) AS other_role;
SELECT pg_temp.error_of($$SELECT rollup.alter_rollup('al_hourly', add_measures => ARRAY['sum(visitor) AS v'])$$) AS other_role_measure;
RESET ROLE;
DROP OWNED BY al_other;
DROP ROLE al_other;
SELECT batch_size, measure_names FROM rollup.rollups WHERE name = 'al_hourly';

-- Every function names the rollup rollup_name; create_rollup's former name for it still works in
-- named notation, with a deprecation warning (01P01), and both at once are refused.
SELECT count(DISTINCT p.proargnames[1]) AS first_argument_names, min(p.proargnames[1]) AS first_argument
FROM pg_proc p WHERE p.pronamespace = 'rollup'::regnamespace AND p.proname IN
    ('create_rollup', 'alter_rollup', 'run', 'reset', 'drop_rollup', 'explain_run', 'load_history', 'verify', 'catch_up',
     'job_command', 'schedule', 'unschedule', 'set_retention', 'apply_retention', 'create_view');
BEGIN;
\set VERBOSITY sqlstate
SELECT name FROM rollup.create_rollup(name => 'al_named', source_table => 'al_ev', target_table => 'al_named', time_column => 'at');
\set VERBOSITY default
ROLLBACK;
SELECT name, source_table FROM rollup.create_rollup(name => 'al_named', source_table => 'al_ev', target_table => 'al_named',
    time_column => 'at', bucket_width => '1 hour');
SELECT pg_temp.error_of($$SELECT rollup.create_rollup(rollup_name => 'x', name => 'y', source_table => 'al_ev', target_table => 'x')$$) AS both_names;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup(source_table => 'al_ev', target_table => 'x')$$) AS no_name;

SELECT rollup.drop_rollup(name, drop_target => true) FROM (VALUES ('al_daily'), ('al_hourly'), ('al_flush'), ('al_named')) v(name);
DROP TABLE al_ev, al_queue;
