-- pg_rollup 0.1.0 -> 0.2.0
-- rollup.run checks max_wait before looking up the rollup; rollup.schedule and unschedule work
-- for roles that may not read cron.database_name, and say how to grant them the cron schema.
CREATE OR REPLACE FUNCTION rollup.run(rollup_name text, max_wait interval DEFAULT '1 second')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
BEGIN
    -- Parameters first: a bad max_wait is reported as such, whichever rollup is named.
    IF max_wait IS NULL OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_wait must be a non-negative interval' USING ERRCODE = '22023';
    END IF;
    r := rollup._get(coalesce(rollup._root(rollup_name), rollup_name));
    RETURN coalesce(rollup._run_once(r, least(extract(epoch FROM max_wait) * 1000, 3600000)::int), 0);
END
$$;

CREATE OR REPLACE FUNCTION rollup._require_cron(todo text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_db text;
BEGIN
    IF to_regnamespace('cron') IS NOT NULL AND NOT has_schema_privilege('cron', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema cron' USING ERRCODE = '42501',
            HINT = format('An administrator can allow it with: GRANT USAGE ON SCHEMA cron TO %I;', current_user);
    END IF;
    IF to_regprocedure('cron.schedule(text,text,text)') IS NOT NULL THEN
        RETURN;
    END IF;
    BEGIN
        cron_db := current_setting('cron.database_name', true);
    EXCEPTION WHEN insufficient_privilege THEN
        -- only superusers may read it: say what we can
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database() USING ERRCODE = '55000',
            HINT = 'In the database named by the cron.database_name setting, run: ' || todo;
    END;
    IF cron_db IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not available in this cluster' USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries and CREATE EXTENSION pg_cron, or run the rollup from your own scheduler with: '
                   || todo;
    ELSIF cron_db <> current_database() THEN
        RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_db, current_database() USING ERRCODE = '55000',
            HINT = format('Connect to database %I and run: %s', cron_db, todo);
    ELSE
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', cron_db USING ERRCODE = '55000',
            HINT = 'CREATE EXTENSION pg_cron; then try again.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollup.schedule(rollup_name text, cron_expression text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    job bigint;
BEGIN
    IF cron_expression IS NULL THEN
        RAISE EXCEPTION 'cron_expression must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF r.mode = 'level' THEN
        RAISE EXCEPTION 'rollup "%" is a level: it runs with "%"', r.name, rollup._root(r.name) USING ERRCODE = '22023',
            HINT = format('Schedule %L instead.', rollup._root(r.name));
    END IF;
    PERFORM rollup._require_cron(format('SELECT cron.schedule_in_database(%L, %L, %L, %L);',
        rollup._job_name(r.name), cron_expression, rollup.job_command(r.name), current_database()));
    -- Here pg_cron's database is this one: cron.schedule (which unlike schedule_in_database is
    -- open to every role with USAGE on schema cron) runs the job here as the current user.
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING rollup._job_name(r.name), cron_expression, rollup.job_command(r.name);
    UPDATE rollup.rollups SET schedule = cron_expression WHERE name = r.name;
    RETURN job;
END
$$;
