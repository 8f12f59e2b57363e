-- Buckets in a rollup's time zone: daily, weekly and monthly buckets follow local midnight across
-- DST changes (America/New_York: 2026-03-08 and 2026-11-01), each answer compared with the raw
-- rows; levels that cannot be merged exactly are refused; views say which zone a bucket is in.
\i helpers.sql
-- The session's zone is neither the rollups' nor UTC: answers must not depend on it.
SET TimeZone = 'Asia/Tokyo';

CREATE TABLE tz_ev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
                    customer text NOT NULL, amount int NOT NULL);
-- About 90 rows a day, at times that fall on every hour of the local day, around both DST changes.
INSERT INTO tz_ev (at, customer, amount)
SELECT s + (abs(hashint4(i)) % 86400) * interval '1 second' + (i % 40) * interval '1 day', 'c' || i % 3, i % 97
FROM generate_series(1, 3600) i, (VALUES ('2026-02-20 00:00+00'::timestamptz), ('2026-10-15 00:00+00')) v(s);

SELECT name, time_zone, bucket_origin FROM rollup.create_rollup('tz_hourly', 'tz_ev', 'tz_hourly', 'at', '1 hour', ARRAY['customer'],
    ARRAY['count(*) AS events', 'sum(amount) AS amount'], time_zone => 'america/new_york');
SELECT name, time_zone FROM rollup.create_rollup('tz_daily', 'tz_hourly', 'tz_daily', bucket_width => '1 day',
    dimensions => ARRAY['customer'], measures => ARRAY['sum(events) AS events', 'sum(amount) AS amount']);
SELECT name, time_zone, bucket_origin FROM rollup.create_rollup('tz_weekly', 'tz_daily', 'tz_weekly', bucket_width => '7 days',
    measures => ARRAY['sum(events) AS events'], origin => '2000-01-02');
SELECT name, time_zone FROM rollup.create_rollup('tz_monthly', 'tz_daily', 'tz_monthly', bucket_width => '1 month',
    measures => ARRAY['sum(events) AS events']);
SELECT rollup.run('tz_hourly') AS rows;

-- Every local day, week (from Sunday) and month against the raw rows: no difference.
SELECT count(*) AS local_days, count(*) FILTER (WHERE d.events IS DISTINCT FROM r.events OR d.amount IS DISTINCT FROM r.amount) AS wrong_days
FROM (SELECT customer, date_trunc('day', at, 'America/New_York') AS bucket, count(*) AS events, sum(amount) AS amount
      FROM tz_ev GROUP BY 1, 2) r
FULL JOIN tz_daily d USING (customer, bucket);
SELECT count(*) AS local_weeks, count(*) FILTER (WHERE w.events IS DISTINCT FROM r.events) AS wrong_weeks
FROM (SELECT (date_trunc('week', (at AT TIME ZONE 'America/New_York') + interval '1 day') - interval '1 day') AT TIME ZONE 'America/New_York' AS bucket,
             count(*) AS events FROM tz_ev GROUP BY 1) r
FULL JOIN tz_weekly w USING (bucket);
SELECT count(*) AS local_months, count(*) FILTER (WHERE m.events IS DISTINCT FROM r.events) AS wrong_months
FROM (SELECT date_trunc('month', at, 'America/New_York') AS bucket, count(*) AS events FROM tz_ev GROUP BY 1) r
FULL JOIN tz_monthly m USING (bucket);
-- Local midnights, 23 and 25 hours apart across the changes; weeks start on Sunday.
SELECT to_char(bucket AT TIME ZONE 'America/New_York', 'YYYY-MM-DD Dy HH24:MI') AS local_start,
       lead(bucket) OVER (ORDER BY bucket) - bucket AS length
FROM (SELECT DISTINCT bucket FROM tz_daily) d
WHERE bucket AT TIME ZONE 'America/New_York' BETWEEN '2026-03-07' AND '2026-03-09'
   OR bucket AT TIME ZONE 'America/New_York' BETWEEN '2026-10-31' AND '2026-11-02'
ORDER BY bucket;
SELECT DISTINCT to_char(bucket AT TIME ZONE 'America/New_York', 'Dy HH24:MI') AS week_starts FROM tz_weekly;
SELECT DISTINCT to_char(bucket AT TIME ZONE 'America/New_York', 'DD HH24:MI') AS month_starts FROM tz_monthly;
-- The bucket columns say which zone they are in.
SELECT col_description('tz_daily'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'tz_daily'::regclass AND attname = 'bucket')) AS daily_bucket;

-- The query view and its range form: exact for local days and for any range, whatever the
-- session's zone.
SELECT rollup.create_view('tz_daily', 'tz_view');
SELECT col_description('tz_view'::regclass, 2) AS view_bucket;
SET TimeZone = 'America/New_York';
SELECT r.a, r.b, (SELECT count(*) FROM tz_ev WHERE at >= r.a AND at < r.b) AS raw,
       (SELECT sum(events) FROM tz_view WHERE bucket >= r.a AND bucket < r.b) AS view,
       (SELECT sum(events) FROM tz_view(r.a, r.b)) AS range_form, (SELECT bool_and(exact) FROM tz_view(r.a, r.b)) AS exact
FROM (VALUES ('2026-03-08'::timestamptz, '2026-03-09'::timestamptz),
             ('2026-11-01', '2026-11-02'),
             ('2026-10-20', '2026-11-10'),
             ('2026-03-07 12:00', '2026-03-09 06:00'),
             ('2026-11-01 01:00', '2026-11-01 03:00'),
             ('2026-11-01 01:30', '2026-11-01 12:00')) r(a, b)
ORDER BY 1, 2;
SET TimeZone = 'Asia/Tokyo';
SELECT (SELECT count(*) FROM tz_ev WHERE at >= '2026-11-01 00:00-04' AND at < '2026-11-02 00:00-05')
     = (SELECT sum(events) FROM tz_view('2026-11-01 00:00-04', '2026-11-02 00:00-05')) AS same_in_tokyo;

-- Levels that cannot hold whole buckets of their source are refused.
CREATE TABLE tz_ev2 (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL, at_local timestamp);
SELECT name FROM rollup.create_rollup('utc_hourly', 'tz_ev2', 'utc_hourly', 'at', '1 hour');
SELECT name FROM rollup.create_rollup('utc_daily', 'utc_hourly', 'utc_daily', bucket_width => '1 day', measures => ARRAY['sum(events) AS events']);
-- New York's midnights are whole UTC hours: a New York day is whole hours.
SELECT name FROM rollup.create_rollup('ny_daily', 'utc_hourly', 'ny_daily', bucket_width => '1 day', measures => ARRAY['sum(events) AS events'],
    time_zone => 'America/New_York');
-- Kolkata's are not; a New York day is not whole UTC days; weeks from Sunday are not whole weeks from Monday.
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('in_daily', 'utc_hourly', 'in_daily', bucket_width => '1 day',
    measures => ARRAY['sum(events) AS events'], time_zone => 'Asia/Kolkata')$$) AS kolkata_over_utc_hours;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('ny_over_utc', 'utc_daily', 'ny_over_utc', bucket_width => '1 day',
    measures => ARRAY['sum(events) AS events'], time_zone => 'America/New_York')$$) AS ny_days_over_utc_days;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('sunday_2w', 'tz_weekly', 'sunday_2w', bucket_width => '14 days',
    measures => ARRAY['sum(events) AS events'], origin => '2000-01-03')$$) AS monday_over_sunday_weeks;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('ny_weekly_over_months', 'tz_monthly', 'x1', bucket_width => '1 year',
    measures => ARRAY['sum(events) AS events'], time_zone => 'Europe/Paris')$$) AS paris_years_over_ny_months;
-- Bad zones and origins.
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'tz_ev2', 'bad', 'at', time_zone => 'Mars/Olympus')$$) AS unknown_zone;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'tz_ev2', 'bad', 'at', time_zone => 'UTC+5')$$) AS posix_offset;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'tz_ev2', 'bad', 'at_local', time_zone => 'Europe/Paris')$$) AS local_column;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'tz_ev2', 'bad', 'at', origin => '2000-01-01 00:00:00.5')$$) AS fractional_origin;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('bad', 'tz_ev2', 'bad', 'at', '1 month', origin => '2000-01-15')$$) AS month_origin;
SELECT count(*) AS none_created FROM rollup.rollups WHERE name IN ('bad', 'in_daily', 'ny_over_utc', 'sunday_2w', 'ny_weekly_over_months');

-- A UTC rollup with the default origin buckets as before (the same generated SQL).
SELECT name, bucket_sql FROM rollup.rollups WHERE name IN ('utc_hourly', 'tz_hourly', 'tz_daily', 'tz_monthly') ORDER BY name;

DROP VIEW tz_view CASCADE;
SELECT count(*) AS dropped FROM (SELECT rollup.drop_rollup(name, drop_target => true)
    FROM (VALUES ('tz_weekly'), ('tz_monthly'), ('tz_daily'), ('tz_hourly'), ('ny_daily'), ('utc_daily'), ('utc_hourly')) v(name)) d;
DROP TABLE tz_ev, tz_ev2;
