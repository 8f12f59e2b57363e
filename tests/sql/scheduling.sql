-- Scheduling with pg_cron, in the database where pg_cron lives (cron.database_name, here
-- "postgres"): rollup.schedule creates a job in cron.job, pg_cron runs it (the next minute:
-- pg_cron 1.4 has no seconds schedules), the rollup catches up; unschedule removes the job.
-- requires: pg_cron
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('crondb', format('dbname=postgres port=%s host=%s', current_setting('port'),
                                       split_part(current_setting('unix_socket_directories'), ',', 1)));
SELECT dblink_exec('crondb', 'CREATE EXTENSION IF NOT EXISTS pg_cron');
SELECT dblink_exec('crondb', 'DROP EXTENSION IF EXISTS pg_rollup CASCADE');
SELECT dblink_exec('crondb', 'DROP TABLE IF EXISTS sched_events, sched_hourly');
SELECT dblink_exec('crondb', 'CREATE EXTENSION pg_rollup');
SELECT dblink_exec('crondb', $$CREATE TABLE sched_events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz, kind text)$$);
SELECT dblink_exec('crondb', $$INSERT INTO sched_events (at, kind) SELECT '2026-08-01'::timestamptz + i * interval '1 minute', 'k' || i % 4 FROM generate_series(1, 500) i$$);
SELECT * FROM dblink('crondb', $$SELECT name FROM rollup.create_rollup('sched', 'sched_events', 'sched_hourly', 'at', '1 hour', ARRAY['kind'])$$) AS r(name text);
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('sched', '* * * * *') > 0$$) AS r(scheduled boolean);
-- A search-session stage is scheduled the same way: three users type "algolia"; the first run
-- writes the two searches the newest request is 3 s past and keeps the third open.
SELECT dblink_exec('crondb', 'DROP TABLE IF EXISTS sched_requests, sched_searches, sched_searches_pending');
SELECT dblink_exec('crondb', $$CREATE TABLE sched_requests (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), usr text, q text, at timestamptz)$$);
SELECT dblink_exec('crondb', $$INSERT INTO sched_requests (usr, q, at)
    SELECT 'u' || u, left('algolia', k), '2026-08-01'::timestamptz + u * interval '10 seconds' + k * interval '200 milliseconds'
    FROM generate_series(1, 3) u, generate_series(1, 7) k ORDER BY 3$$);
SELECT * FROM dblink('crondb', $$SELECT name FROM rollup.create_search_sessions('sched_searches', 'sched_requests', 'sched_searches',
                                   ARRAY['usr'], 'q', 'at')$$) AS r(name text);
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('sched_searches', '* * * * *') > 0$$) AS r(scheduled boolean);
SELECT * FROM dblink('crondb', $$SELECT jobname, schedule, command, database, username FROM cron.job WHERE jobname LIKE 'pg_rollup %'$$)
    AS r(jobname text, schedule text, command text, database text, username text);
SELECT * FROM dblink('crondb', $$SELECT schedule FROM rollup.status$$) AS r(schedule text);
-- Wait (at most 3 minutes) for pg_cron to run the job.
SELECT dblink_exec('crondb', $q$DO $w$ BEGIN
    FOR i IN 1..360 LOOP
        EXIT WHEN (SELECT min(total_runs) FROM rollup.progress WHERE name IN ('sched', 'sched_searches')) > 0;
        PERFORM pg_sleep(0.5);
    END LOOP;
END $w$$q$);
SELECT * FROM dblink('crondb', $$SELECT total_rows, last_error, (SELECT sum(events) FROM sched_hourly) FROM rollup.status WHERE name = 'sched'$$)
    AS r(total_rows bigint, last_error text, events numeric);
SELECT * FROM dblink('crondb', $$SELECT s.total_rows, s.last_error, (SELECT array_agg(usr || ' ' || q || ' ' || keystrokes ORDER BY usr) FROM sched_searches),
                                        (SELECT array_agg(usr || ' ' || q || ' ' || keystrokes) FROM sched_searches_pending)
                                 FROM rollup.status s WHERE s.name = 'sched_searches'$$)
    AS r(total_rows bigint, last_error text, written text[], still_open text[]);
SELECT * FROM dblink('crondb', $$SELECT rollup.unschedule('sched_searches')$$) AS r(unscheduled boolean);
SELECT * FROM dblink('crondb', $$SELECT rollup.drop_rollup('sched_searches', drop_target => true)$$) AS r(dropped text);
SELECT * FROM dblink('crondb', $$SELECT d.status, d.command FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                                 WHERE j.jobname LIKE 'pg_rollup %' ORDER BY d.start_time LIMIT 1$$) AS r(status text, command text);
SELECT * FROM dblink('crondb', $$SELECT rollup.unschedule('sched')$$) AS r(unscheduled boolean);
SELECT * FROM dblink('crondb', $$SELECT count(*) FROM cron.job WHERE jobname LIKE 'pg_rollup %'$$) AS r(jobs bigint);
-- A non-superuser who owns the table schedules its rollup once allowed to use schema cron.
SELECT dblink_exec('crondb', 'CREATE ROLE sched_owner_test');
SELECT dblink_exec('crondb', 'GRANT CREATE ON SCHEMA public TO sched_owner_test');
SELECT dblink_exec('crondb', 'SET ROLE sched_owner_test');
SELECT dblink_exec('crondb', 'CREATE TABLE owned_events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz)');
SELECT * FROM dblink('crondb', $$SELECT name FROM rollup.create_rollup('owned', 'owned_events', 'owned_daily', 'at', '1 day')$$) AS r(name text);
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('owned', '0 * * * *') > 0$$, false) AS r(scheduled boolean);
SELECT dblink_error_message('crondb') AS without_usage_on_schema_cron;
SELECT dblink_exec('crondb', 'RESET ROLE');
SELECT dblink_exec('crondb', 'GRANT USAGE ON SCHEMA cron TO sched_owner_test');
SELECT dblink_exec('crondb', 'SET ROLE sched_owner_test');
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('owned', '0 * * * *') > 0$$) AS r(scheduled boolean);
SELECT * FROM dblink('crondb', $$SELECT jobname, username, command FROM cron.job$$) AS r(jobname text, username text, command text);
-- A superuser who schedules it (again) changes the owner's job, which runs as the owner; no second job.
-- (pg_cron's schedule_in_database takes only roles that can log in.)
SELECT dblink_exec('crondb', 'RESET ROLE');
SELECT dblink_exec('crondb', 'ALTER ROLE sched_owner_test LOGIN');
SELECT dblink_exec('crondb', $$INSERT INTO owned_events (at) SELECT '2026-08-01'::timestamptz + i * interval '1 hour' FROM generate_series(1, 50) i$$);
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('owned', '* * * * *') > 0$$) AS r(scheduled boolean);
SELECT * FROM dblink('crondb', $$SELECT jobname, schedule, username, command FROM cron.job$$)
    AS r(jobname text, schedule text, username text, command text);
SELECT dblink_exec('crondb', $q$DO $w$ BEGIN
    FOR i IN 1..360 LOOP
        EXIT WHEN (SELECT total_runs FROM rollup.progress WHERE name = 'owned') > 0
              AND EXISTS (SELECT FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'pg_rollup postgres.owned' AND d.status IN ('succeeded', 'failed'));
        PERFORM pg_sleep(0.5);
    END LOOP;
END $w$$q$);
SELECT * FROM dblink('crondb', $$SELECT total_rows, last_error, (SELECT sum(events) FROM owned_daily), last_job_error FROM rollup.status WHERE name = 'owned'$$)
    AS r(total_rows bigint, last_error text, events numeric, last_job_error text);
SELECT * FROM dblink('crondb', $$SELECT d.username, d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                                 WHERE j.jobname = 'pg_rollup postgres.owned' AND d.status <> 'running' ORDER BY d.start_time LIMIT 1$$) AS r(username text, status text);
-- A job that cannot connect (its owner may no longer log in) shows pg_cron's error in rollup.status.
SELECT dblink_exec('crondb', 'ALTER ROLE sched_owner_test NOLOGIN');
SELECT dblink_exec('crondb', $q$DO $w$ BEGIN
    FOR i IN 1..360 LOOP
        EXIT WHEN EXISTS (SELECT FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'pg_rollup postgres.owned' AND d.status = 'failed');
        PERFORM pg_sleep(0.5);
    END LOOP;
END $w$$q$);
SELECT * FROM dblink('crondb', $$SELECT last_job_error FROM rollup.status WHERE name = 'owned'$$) AS r(last_job_error text);
SELECT dblink_exec('crondb', 'ALTER ROLE sched_owner_test LOGIN');
-- A role that may act for the owner, but is neither the owner nor a superuser, may not.
SELECT dblink_exec('crondb', 'CREATE ROLE sched_member_test IN ROLE sched_owner_test');
SELECT dblink_exec('crondb', 'GRANT USAGE ON SCHEMA cron TO sched_member_test');
SELECT dblink_exec('crondb', 'SET ROLE sched_member_test');
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('owned', '0 * * * *') > 0$$, false) AS r(scheduled boolean);
SELECT dblink_error_message('crondb') AS member_schedules;
SELECT dblink_exec('crondb', 'RESET ROLE');
SELECT dblink_exec('crondb', 'REVOKE USAGE ON SCHEMA cron FROM sched_member_test');
SELECT dblink_exec('crondb', 'DROP ROLE sched_member_test');
SELECT dblink_exec('crondb', 'SET ROLE sched_owner_test');
SELECT * FROM dblink('crondb', $$SELECT rollup.unschedule('owned')$$) AS r(unscheduled boolean);
-- Dropping a scheduled rollup removes its job too.
SELECT * FROM dblink('crondb', $$SELECT rollup.schedule('owned', '0 * * * *') > 0$$) AS r(scheduled boolean);
SELECT * FROM dblink('crondb', $$SELECT rollup.drop_rollup('owned', drop_target => true)$$) AS r(dropped text);
SELECT * FROM dblink('crondb', $$SELECT count(*) FROM cron.job$$) AS r(jobs_left bigint);
SELECT dblink_exec('crondb', 'DROP TABLE owned_events');
SELECT dblink_exec('crondb', 'RESET ROLE');
SELECT dblink_exec('crondb', 'REVOKE USAGE ON SCHEMA cron FROM sched_owner_test');
SELECT dblink_exec('crondb', 'REVOKE CREATE ON SCHEMA public FROM sched_owner_test');
SELECT dblink_exec('crondb', 'DROP ROLE sched_owner_test');
SELECT dblink_exec('crondb', 'DROP EXTENSION pg_rollup CASCADE');
SELECT dblink_exec('crondb', 'DROP TABLE sched_events, sched_hourly');
SELECT dblink_disconnect('crondb');

-- From another database than pg_cron's: the statement to run there, which for a role that is not
-- a superuser a superuser runs (pg_cron's schedule_in_database), naming the owner the job runs as.
CREATE FUNCTION pg_temp.hint_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; h text;
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || m || ' / ' || h;
END $$;
CREATE ROLE sched_elsewhere;
GRANT CREATE ON SCHEMA public TO sched_elsewhere;
SET ROLE sched_elsewhere;
CREATE TABLE elsewhere_events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz);
SELECT name FROM rollup.create_rollup('elsewhere', 'elsewhere_events', 'elsewhere_daily', 'at', '1 day');
SELECT pg_temp.hint_of($$SELECT rollup.schedule('elsewhere', '0 * * * *')$$) AS as_owner;
RESET ROLE;
SELECT pg_temp.hint_of($$SELECT rollup.schedule('elsewhere', '0 * * * *')$$) AS as_superuser;
SET ROLE sched_elsewhere;
SELECT rollup.drop_rollup('elsewhere', drop_target => true);
DROP TABLE elsewhere_events;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM sched_elsewhere;
DROP ROLE sched_elsewhere;
