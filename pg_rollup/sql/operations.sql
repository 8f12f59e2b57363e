-- Rollups in production: catch-up in bounded transactions, scheduling with pg_cron,
-- retention, status, and a query view per chain of levels.
--
-- pg_cron is optional: nothing here references its schema statically. It lives in one
-- database per cluster (cron.database_name); there rollup.schedule creates the job directly,
-- elsewhere it says what to run in that database.

-- Procedures cannot both commit and carry a SET search_path clause: they do no dynamic SQL
-- themselves and qualify every name; the work is done by functions that fix search_path.

-- Runs a rollup until it has caught up, one transaction per batch of at most batch_size
-- source rows, then applies its retention. Returns (in rows) the source rows aggregated; 0
-- at once when another run of the same rollup is in progress. An error is recorded in
-- rollup.status (last_error) and raised again. Call it outside a transaction block. The runs
-- and the retention execute as the rollup's owner, whoever calls it (a pg_cron job, a superuser).
CREATE PROCEDURE rollup.catch_up(rollup_name text, INOUT rows bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(coalesce(rollup_internal.root(rollup_name), rollup_name));
    n bigint;
    deleted bigint;
    err text;
    err_state text;
BEGIN
    rows := 0;
    -- Held across the batches, so a concurrent run or catch-up returns at once.
    IF NOT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('pg_rollup'), pg_catalog.hashtext(r.name)) THEN
        RETURN;
    END IF;
    LOOP
        BEGIN
            n := rollup_internal.as_owner(r.name, 'run', pg_catalog.to_jsonb(1000))::bigint;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        END;
        IF err IS NOT NULL THEN
            PERFORM rollup_internal.record_error(r.name, err_state, err);
            COMMIT;
            PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('pg_rollup'), pg_catalog.hashtext(r.name));
            RAISE EXCEPTION 'rollup "%" failed: %', r.name, err USING ERRCODE = err_state;
        END IF;
        rows := rows + coalesce(n, 0);
        COMMIT;
        EXIT WHEN n IS NULL OR r.batch_size IS NULL OR n < r.batch_size;
    END LOOP;
    -- Retention needs no exclusivity; released first, the lock cannot outlive an error there.
    PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('pg_rollup'), pg_catalog.hashtext(r.name));
    CALL rollup.apply_retention(r.name, 10000, deleted);
END
$$;

CREATE FUNCTION rollup_internal.record_error(rollup_name text, state text, message text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollup_internal.write_catalog('run_failed', jsonb_build_object('name', rollup_name, 'error', format('%s: %s', state, message)))
$$;

-- The statement a scheduler runs for a rollup.
CREATE FUNCTION rollup.job_command(rollup_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('CALL rollup.catch_up(%L)', (rollup_internal.get(rollup_name)).name)
$$;

CREATE FUNCTION rollup_internal.job_name(rollup_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('pg_rollup %s.%s', current_database(), rollup_name)
$$;

-- Raises unless pg_cron's functions are installed in this database, with a hint that says
-- what to run where; by_superuser: what only a superuser may run there (a job in another
-- database: pg_cron's schedule_in_database).
CREATE FUNCTION rollup_internal.require_cron(todo text, by_superuser boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_db text;
    is_superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    by_superuser := by_superuser AND NOT is_superuser;
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
            HINT = 'In the database named by the cron.database_name setting, '
                   || CASE WHEN by_superuser THEN 'a superuser runs: ' ELSE 'run: ' END || todo;
    END;
    IF cron_db IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not available in this cluster' USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries and CREATE EXTENSION pg_cron, or run the rollup from your own scheduler with: '
                   || todo;
    ELSIF cron_db <> current_database() THEN
        RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_db, current_database() USING ERRCODE = '55000',
            HINT = CASE WHEN by_superuser
                        THEN format('A superuser runs, connected to database %I: %s', cron_db, todo)
                        ELSE format('Connect to database %I and run: %s', cron_db, todo) END;
    ELSE
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', cron_db USING ERRCODE = '55000',
            HINT = 'CREATE EXTENSION pg_cron; then try again.';
    END IF;
END
$$;

-- Creates (or replaces) the pg_cron job that keeps a rollup and its levels fresh; returns its
-- job id. The job runs rollup.catch_up as the rollup's owner in the current database, which must
-- be pg_cron's. The owner schedules with cron.schedule; a superuser may schedule another role's
-- rollup (pg_cron's schedule_in_database, which names the job's user).
CREATE FUNCTION rollup.schedule(rollup_name text, cron_expression text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    owner_name name := (SELECT rolname FROM pg_roles WHERE oid = r.owner);
    job bigint;
BEGIN
    IF cron_expression IS NULL THEN
        RAISE EXCEPTION 'cron_expression must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF r.mode = 'level' THEN
        RAISE EXCEPTION 'rollup "%" is a level: it runs with "%"', r.name, rollup_internal.root(r.name) USING ERRCODE = '22023',
            HINT = format('Schedule %L instead.', rollup_internal.root(r.name));
    END IF;
    -- (A job in another database is pg_cron's schedule_in_database, for superusers: the job runs
    -- as the rollup's owner.)
    PERFORM rollup_internal.require_cron(format('SELECT cron.schedule_in_database(%L, %L, %L, %L, username => %L);',
        rollup_internal.job_name(r.name), cron_expression, rollup.job_command(r.name), current_database(), owner_name), true);
    -- Here pg_cron's database is this one: cron.schedule (which unlike schedule_in_database is
    -- open to every role with USAGE on schema cron) runs the job here as the current user.
    IF owner_name = current_user THEN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING rollup_internal.job_name(r.name), cron_expression, rollup.job_command(r.name);
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
            INTO job USING rollup_internal.job_name(r.name), cron_expression, rollup.job_command(r.name), owner_name;
    ELSE
        RAISE EXCEPTION 'only the owner of rollup "%", role %, or a superuser may schedule it', r.name, r.owner
            USING ERRCODE = '42501', HINT = format('SET ROLE %s; then schedule it.', r.owner);
    END IF;
    PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name, 'schedule', cron_expression));
    RETURN job;
END
$$;

CREATE FUNCTION rollup.unschedule(rollup_name text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    done boolean;
BEGIN
    PERFORM rollup_internal.require_cron(format('SELECT cron.unschedule(%L);', rollup_internal.job_name(r.name)));
    EXECUTE 'SELECT bool_or(cron.unschedule(jobid)) FROM cron.job WHERE jobname = $1 AND username = $2'
        INTO done USING rollup_internal.job_name(r.name), (SELECT rolname FROM pg_roles WHERE oid = r.owner);
    PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name, 'schedule', NULL));
    RETURN coalesce(done, false);
END
$$;

-- Retention settings. source_grace: delete source rows once every rollup reading the table
-- has passed them and they are older than the grace period (NULL: keep them). target_keep:
-- delete this rollup's rows whose bucket is older than that (NULL: keep them); on a rollup
-- that feeds a level this is safe at any time, the level got every change in the same
-- transaction.
CREATE FUNCTION rollup.set_retention(rollup_name text, source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
BEGIN
    IF source_grace < interval '0' OR target_keep < interval '0' THEN
        RAISE EXCEPTION 'retention periods must not be negative' USING ERRCODE = '22023';
    END IF;
    IF target_keep IS NOT NULL THEN
        PERFORM rollup_internal.refuse_stage(r, 'target retention');
    END IF;
    IF source_grace IS NOT NULL AND r.mode <> 'incremental' THEN
        RAISE EXCEPTION 'source retention applies to incremental rollups (a flush rollup consumes its source; a level''s source is its parent''s target)'
            USING ERRCODE = '22023';
    END IF;
    PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name,
        'source_grace', set_retention.source_grace, 'target_keep', set_retention.target_keep));
END
$$;

-- One bounded delete of retention: the source rows of base rollup r that every reader of
-- the table has passed and that are older than its source_grace (nothing when a reader is
-- not incremental), or, for target, r's rows older than its target_keep.
CREATE FUNCTION rollup_internal.retention_batch(r rollup.rollups, target boolean, batch_size bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cond text;
    n bigint;
    -- On Citus a batch is what each shard deletes in one statement (no LIMIT across shards).
    distributed boolean := rollup_internal.distribution_column(CASE WHEN target THEN r.target_table ELSE r.source_table END) IS NOT NULL;
BEGIN
    IF target THEN
        EXECUTE format(CASE WHEN distributed THEN 'DELETE FROM %s WHERE %I < $1'
                            ELSE 'DELETE FROM %s WHERE ctid IN (SELECT ctid FROM %1$s WHERE %I < $1 LIMIT $2)' END,
                       r.target_table, r.bucket_column)
            USING now() - r.target_keep, batch_size;
    ELSE
        IF EXISTS (SELECT FROM rollup.rollups o WHERE o.source_table = r.source_table AND o.mode <> 'incremental') THEN
            RETURN 0;
        END IF;
        SELECT string_agg(format('s.%I <= %s', o.id_column, p.watermark), ' AND ') INTO cond
        FROM rollup.rollups o JOIN rollup.progress p USING (name)
        WHERE o.source_table = r.source_table;
        EXECUTE format(CASE WHEN distributed THEN 'DELETE FROM %s s WHERE %s AND s.%I < $1'
                            ELSE 'DELETE FROM %s WHERE (tableoid, ctid) IN (SELECT tableoid, ctid FROM %1$s s WHERE %s AND s.%I < $1 LIMIT $2)' END,
                       r.source_table, cond, r.time_column)
            USING now() - r.source_grace, batch_size;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Deletes what the retention settings of a rollup and of the levels below it allow, in
-- transactions of at most batch_size rows, as the rollup's owner; returns (in deleted) how many
-- rows. Call it outside a transaction block.
CREATE PROCEDURE rollup.apply_retention(rollup_name text, batch_size bigint DEFAULT 10000, INOUT deleted bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    x rollup.rollups;
    n bigint;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = '22023';
    END IF;
    deleted := 0;
    IF r.source_grace IS NOT NULL THEN
        LOOP
            n := rollup_internal.as_owner(r.name, 'retain_source', pg_catalog.to_jsonb(batch_size))::bigint;
            deleted := deleted + n;
            COMMIT;
            EXIT WHEN n < batch_size;
        END LOOP;
    END IF;
    FOR x IN SELECT * FROM rollup_internal.chain(r.name) c WHERE c.target_keep IS NOT NULL LOOP
        LOOP
            n := rollup_internal.as_owner(x.name, 'retain_target', pg_catalog.to_jsonb(batch_size))::bigint;
            deleted := deleted + n;
            COMMIT;
            EXIT WHEN n < batch_size;
        END LOOP;
    END LOOP;
END
$$;

-- Source rows not yet rolled up and the time of the oldest of them (NULL for a level).
CREATE FUNCTION rollup_internal.pending(r rollup.rollups, OUT pending_rows bigint, OUT oldest_pending timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    covered text;
BEGIN
    -- (On Citus: the rows of every node's range of ids that its runs have not aggregated; NULL
    -- while a node cannot be reached, so that status still shows the rest, the run's error too.)
    BEGIN
        IF r.mode = 'incremental' THEN
            covered := rollup_internal.covered_sql(r);
            EXECUTE format('SELECT count(*) FROM %s s WHERE NOT %s', r.source_table, covered) INTO pending_rows;
            EXECUTE format('SELECT s.%I FROM %s s WHERE NOT %s ORDER BY s.%I LIMIT 1', r.time_column, r.source_table, covered, r.id_column)
                INTO oldest_pending;
        ELSIF r.mode = 'flush' THEN
            EXECUTE format('SELECT count(*), min(%I) FROM %s', r.time_column, r.source_table) INTO pending_rows, oldest_pending;
        END IF;
    EXCEPTION WHEN connection_exception THEN
        pending_rows := NULL;
        oldest_pending := NULL;
    END;
END
$$;

-- The error of the last run of rollup r's pg_cron job when that run failed (a job that could not
-- connect, or whose command failed), read from pg_cron's cron.job_run_details where this
-- database has it and the caller may read it (pg_cron shows each role its own jobs); else NULL.
CREATE FUNCTION rollup_internal.job_error(r rollup.rollups)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failure text;
BEGIN
    IF r.schedule IS NULL OR to_regclass('cron.job_run_details') IS NULL
       OR NOT has_table_privilege('cron.job_run_details', 'SELECT') OR NOT has_table_privilege('cron.job', 'SELECT') THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT CASE WHEN d.status = ''failed'' THEN coalesce(d.return_message, ''failed'') END
             FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
             WHERE j.jobname = $1 AND d.status IN (''succeeded'', ''failed'')
             ORDER BY d.start_time DESC LIMIT 1'
        INTO failure USING rollup_internal.job_name(r.name);
    RETURN failure;
END
$$;

-- One row per rollup the current user owns; a level shows the runs (and errors) of its chain.
-- The view reads the catalog as its caller (security_invoker), so that the catalog's row-level
-- security applies. PostgreSQL 14 has no security_invoker: there the view reads as its owner and
-- keeps the same rows with the policies' conditions in its WHERE clause.
DO $status$
DECLARE
    invoker boolean := current_setting('server_version_num')::int >= 150000;
BEGIN
    EXECUTE format($view$CREATE VIEW rollup.status%s AS
SELECT r.name, r.mode, r.parent, r.source_table, r.target_table, r.schedule, r.batch_size,
       -- a level is fed up to its base rollup's watermark
       coalesce(p.watermark, (SELECT b.watermark FROM rollup.progress b WHERE b.name = rollup_internal.root(r.name))) AS watermark,
       x.pending_rows, x.oldest_pending, now() - x.oldest_pending AS lag,
       p.last_run_start, p.last_run_end, p.last_run_end - p.last_run_start AS last_duration, p.last_rows,
       CASE WHEN p.last_run_end > p.last_run_start
            THEN round(p.last_rows / extract(epoch FROM p.last_run_end - p.last_run_start))::bigint END AS last_rows_per_second,
       p.total_runs, p.total_rows, p.last_error, p.source_rows_deleted,
       rollup_internal.job_error(r) AS last_job_error
FROM rollup.rollups r
JOIN rollup.progress p USING (name)
CROSS JOIN LATERAL rollup_internal.pending(r) x%s$view$,
        CASE WHEN invoker THEN ' WITH (security_invoker = true)' ELSE '' END,
        CASE WHEN NOT invoker THEN
            E'\nWHERE pg_catalog.pg_has_role(r.owner, ''USAGE'') OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = r.source_table), ''USAGE'')'
        ELSE '' END);
END
$status$;
GRANT SELECT ON rollup.status TO PUBLIC;

-- The boundary of a query view: the first bucket of width `width` (a level's buckets, in
-- time_zone from origin) that starts at or after the first bucket of the finer rollup `fine`,
-- and after now() - fine_window when given; 'infinity' while `fine` is empty. Bucket columns
-- without a time zone are read as UTC. In C (src/rollups/boundary.rs), with the statement that
-- computes it kept planned per view for the session. STABLE, so the planner estimates the
-- view's row counts with its actual value; costly, so it prefers plans that evaluate it once
-- (an index condition) to a filter on every row; parallel restricted, so the small scans of a
-- dashboard query are not handed to parallel workers whose start-up costs more than the scan.
CREATE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval,
                                     time_zone text, origin timestamp)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pg_rollup_view_boundary'
LANGUAGE C STABLE PARALLEL RESTRICTED COST 10000
SET search_path = pg_catalog, pg_temp;

-- The boundary of the query views made by 0.3.0 and before (UTC buckets from 2000-01-03).
CREATE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL RESTRICTED COST 10000
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollup.view_boundary(fine, fine_bucket, width, fine_window, 'UTC', '2000-01-03 00:00')
$$;

-- The finer rows that query views over level r read, from `from_sql` (the finer rollup's
-- target as s, and a WHERE clause), each with its own bucket and the level's columns. When the
-- level keeps exactly the finer rollup's dimensions, as plain columns, and every measure merges
-- one of its columns (sum, min, max, bool_and, every, bool_or or a sketch union), each finer
-- row is a group of its own and the merge of one value is that value: the rows are read as they
-- are, cast to the level's types (nothing to group, less to plan). Otherwise they are grouped.
CREATE FUNCTION rollup_internal.fine_rows_sql(r rollup.rollups, from_sql text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    fine_dimensions name[] := (SELECT p.dimension_names FROM rollup.rollups p WHERE p.name = r.parent);
    as_fine rollup.rollups := r;
    dims text[] := ARRAY(SELECT CASE WHEN (rollup_internal.parse_fragment(d, 'dimension')).kind = 'column'
                                     THEN rollup_internal.fragment_column(d) END
                         FROM unnest(r.dimensions) WITH ORDINALITY u(d, o) ORDER BY o);
    merged text[] := ARRAY(SELECT CASE WHEN p.func_schema IS NULL
                                            AND p.func IN ('sum', 'min', 'max', 'bool_and', 'every', 'bool_or',
                                                           'hll_union_agg', 'topn_union_agg', 'qsketch_union_agg')
                                       THEN rollup_internal.fragment_column(m) END
                           FROM unnest(r.measures) WITH ORDINALITY u(m, o), rollup_internal.parse_fragment(m, 'measure') p
                           ORDER BY o);
BEGIN
    as_fine.bucket_sql := 's.' || quote_ident(r.time_column);
    IF fine_dimensions IS NULL OR array_position(dims, NULL) IS NOT NULL OR array_position(merged, NULL) IS NOT NULL
       OR cardinality(dims) <> cardinality(fine_dimensions)
       OR NOT (dims @> fine_dimensions::text[] AND dims <@ fine_dimensions::text[])
       OR EXISTS (SELECT FROM unnest(merged) c
                  WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = r.source_table AND a.attname = c
                                                                 AND a.attnum > 0 AND NOT a.attisdropped)) THEN
        RETURN rollup_internal.aggregate_sql(as_fine, from_sql, false);
    END IF;
    RETURN format(E'SELECT %s,\n%s,\n%s\nFROM %s',
        (SELECT string_agg(format('s.%I AS %I', c, n), ', ' ORDER BY o) FROM unnest(dims, r.dimension_names) WITH ORDINALITY u(c, n, o)),
        format('s.%I AS %I', r.time_column, r.bucket_column),
        (SELECT string_agg(format('CAST(s.%I AS %s) AS %I', c, format_type(a.atttypid, a.atttypmod), n), ', ' ORDER BY o)
         FROM unnest(merged, r.measure_names) WITH ORDINALITY u(c, n, o)
         JOIN pg_attribute a ON a.attrelid = r.target_table AND a.attname = u.n),
        from_sql);
END
$$;

-- A view over a level and the rollup it reads that returns each time range from exactly one
-- of them: the level's rows before a boundary, the finer rows (grouped by the level's
-- dimensions) from there on. The boundary is the first of the level's buckets that the finer
-- rollup holds completely, or, with fine_window, the first that starts within fine_window
-- of now if that is later (fewer, coarser rows to read). Sums and sketch unions over any
-- range are counted once; ranges that start before the boundary are answered at the level's
-- granularity.
CREATE FUNCTION rollup.create_view(rollup_name text, view_name text, fine_window interval DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    qualified text := rollup_internal.qualify(view_name, r.target_table);
    boundary text;
    cte text := '';
BEGIN
    IF r.mode <> 'level' THEN
        RAISE EXCEPTION 'rollup "%" is not a level; a query view combines a level with the rollup it reads', r.name
            USING ERRCODE = '22023';
    END IF;
    IF fine_window < interval '0' THEN
        RAISE EXCEPTION 'fine_window must not be negative' USING ERRCODE = '22023';
    END IF;
    boundary := format('rollup.view_boundary(%L, %L, %L, %L, %L, %L::timestamp)', r.source_table, r.time_column, r.bucket_width,
                       fine_window, r.time_zone, to_char(r.bucket_origin, 'YYYY-MM-DD HH24:MI:SS'));
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column) = 'timestamp'::regtype THEN
        boundary := format('(%s AT TIME ZONE ''UTC'')', boundary);
    END IF;
    IF rollup_internal.distribution_column(r.target_table) IS NOT NULL THEN
        -- On Citus: computed once, on the coordinator (Citus would run the function, which
        -- reads a distributed table, on the workers).
        cte := format(E'WITH boundary AS MATERIALIZED (SELECT %s AS b)\n', boundary);
        boundary := '(SELECT b FROM boundary)';
    END IF;
    EXECUTE format(E'CREATE VIEW %s AS\n%sSELECT %s FROM %s WHERE %I < %s\nUNION ALL\n%s',
        qualified, cte,
        rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        r.target_table, r.bucket_column, boundary,
        rollup_internal.fine_rows_sql(r, format('%s s WHERE s.%I >= %s', r.source_table, r.time_column, boundary)));
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', qualified, r.bucket_column, rollup_internal.bucket_comment(r));
    -- The view runs the rollup's SQL: it belongs to the rollup's owner, whoever made it.
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER VIEW %s OWNER TO %s', qualified, r.owner);
    END IF;
    PERFORM rollup_internal.create_range_function(r, qualified);
    RETURN qualified::regclass;
END
$$;

-- The start of the bucket of width `width` after the one that starts at `bucket_sql`: calendar
-- arithmetic in the rollup's time zone for widths in days, months or years, in UTC otherwise.
CREATE FUNCTION rollup_internal.next_bucket_sql(bucket_sql text, time_type regtype, width interval, time_zone text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN time_type = 'timestamptz'::regtype
                THEN format('((%s) AT TIME ZONE %L + %L::interval) AT TIME ZONE %2$L', bucket_sql, rollup_internal.calendar_zone(width, time_zone), width)
                ELSE format('((%s) + %L::interval)', bucket_sql, width) END
$$;

-- The first bucket of width `width` (in time_zone, from origin) that starts at or after `time_sql`.
CREATE FUNCTION rollup_internal.bucket_ceil_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(CASE WHEN %1$s = %2$s THEN %2$s ELSE %3$s END)', floor_sql, time_sql,
                  rollup_internal.next_bucket_sql(floor_sql, time_type, width, time_zone))
    FROM (SELECT rollup_internal.bucket_sql(time_sql, time_type, width, time_zone, origin) AS floor_sql) f
$$;

-- The range form of query view `view_name` over level r: a function of the same name,
-- view_name(range_start, range_end), whose rows add up to exactly [range_start, range_end)
-- wherever the rollups still hold it: the level's rows for its whole buckets inside the range,
-- the finer rollup's rows for the partial coarse buckets at either end. Column `exact` is false
-- on a row that covers time outside the range: a finer bucket cut by an edge that is not on the
-- finer buckets, or a coarse bucket cut by an edge where retention already deleted the finer rows.
CREATE FUNCTION rollup_internal.create_range_function(r rollup.rollups, view_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    time_type regtype := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column);
    fine rollup.rollups := (SELECT p FROM rollup.rollups p WHERE p.name = r.parent);
    start_floor text := rollup_internal.bucket_sql('$1', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    -- the first coarse bucket that starts in the range, and the start of the one it ends in
    a_up text := rollup_internal.bucket_ceil_sql('$1', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    b_down text := rollup_internal.bucket_sql('$2', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    -- where the partial coarse bucket at the end starts, when there is one (a coarse bucket start)
    tail text := format('greatest(%s, %s)', b_down, a_up);
    first_fine text := format('(SELECT min(m.%I) FROM %s m)', r.time_column, r.source_table);
    -- whether the finer rollup still holds the finer buckets from the range's start, from the tail
    fine_start text := rollup_internal.bucket_sql('$1', time_type, fine.bucket_width, fine.time_zone, fine.bucket_origin);
    fine_at_start text := format('coalesce(%s >= %s, false)', fine_start, first_fine);
    fine_at_tail text := format('coalesce(%s >= %s, false)', tail, first_fine);
    columns text := rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names);
    body text;
    signature text;
BEGIN
    body := format(
        -- whole coarse buckets
        E'SELECT %1$s, true FROM %2$s l WHERE l.%3$I >= %4$s AND l.%3$I < %5$s\n'
        -- partial coarse buckets whose finer rows are gone
        'UNION ALL\nSELECT %1$s, false FROM %2$s l\n'
        'WHERE (l.%3$I = %6$s AND $1 < least(%4$s, $2) AND NOT %7$s)\n'
        '   OR (l.%3$I = %8$s AND %8$s < $2 AND NOT %9$s)\n'
        -- partial coarse buckets from the finer rows
        'UNION ALL\nSELECT f.*, f.%3$I >= $1 AND %10$s <= $2 FROM (\n%11$s) f',
        columns, r.target_table, r.bucket_column, a_up, b_down, start_floor, fine_at_start, tail, fine_at_tail,
        rollup_internal.next_bucket_sql('f.' || quote_ident(r.bucket_column), time_type, fine.bucket_width, fine.time_zone),
        rollup_internal.fine_rows_sql(r, format(E'%1$s s\nWHERE (s.%2$I >= %3$s AND s.%2$I < least(%4$s, $2) AND %5$s)\n'
                                              '   OR (s.%2$I >= %6$s AND s.%2$I < $2 AND %7$s)',
                                              r.source_table, r.time_column, fine_start,
                                              a_up, fine_at_start, tail, fine_at_tail)));
    signature := format(E'%s(range_start %s, range_end %2$s)\nRETURNS TABLE (%s, exact boolean)', view_name, format_type(time_type, NULL),
        (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
         FROM pg_attribute a WHERE a.attrelid = view_name::regclass AND a.attnum > 0 AND NOT a.attisdropped));
    IF rollup_internal.distribution_column(r.target_table) IS NULL THEN
        -- Parsed now, like the view; the reference to the view makes DROP VIEW .. CASCADE drop it too.
        EXECUTE format(E'CREATE FUNCTION %s LANGUAGE sql STABLE\nBEGIN ATOMIC\n%s\n'
                       'UNION ALL SELECT %s, NULL FROM %s WHERE false;\nEND', signature, body, columns, view_name);
    ELSE
        -- Citus plans a distributed query with parameters from PL/pgSQL, not from a SQL function.
        EXECUTE format(E'CREATE FUNCTION %s LANGUAGE plpgsql STABLE SET search_path = pg_catalog, %I, pg_temp\n'
                       'AS %L', signature, (SELECT extnamespace::regnamespace::name FROM pg_extension WHERE extname = 'pg_rollup'),
                       format(E'BEGIN\nRETURN QUERY EXECUTE %L USING $1, $2;\nEND', body));
    END IF;
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER FUNCTION %s(%s, %2$s) OWNER TO %s', view_name, format_type(time_type, NULL), r.owner);
    END IF;
END
$$;

-- Verification: the stored rows of a rollup against a recomputation from the rows its source
-- still holds (a base rollup: the source rows up to its watermark; a level: the rollup it reads),
-- for the buckets that start in [range_start, range_end) (NULL: unbounded). One row per
-- difference, by bucket, dimensions and measure: counts, sums, min/max exactly, hll sketches by
-- their bytes (shown as estimates), topn sketches by their total weight. No row: verified. Rows
-- that retention deleted from the source show as differences.
CREATE FUNCTION rollup.verify(rollup_name text, range_start timestamptz DEFAULT NULL, range_end timestamptz DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, dimensions jsonb, measure text, stored text, recomputed text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT v.* FROM jsonb_to_recordset(rollup_internal.as_owner((rollup_internal.get(rollup_name)).name, 'verify',
                                                        jsonb_build_object('from', range_start, 'to', range_end))::jsonb)
        AS v(bucket timestamptz, dimensions jsonb, measure text, stored text, recomputed text)
$$;

-- The work of rollup.verify, as the rollup's owner.
CREATE FUNCTION rollup_internal.verify(r rollup.rollups, range_start timestamptz, range_end timestamptz,
    OUT bucket timestamptz, OUT dimensions jsonb, OUT measure text, OUT stored text, OUT recomputed text)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    utc boolean := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.target_table AND attname = r.bucket_column) = 'timestamp'::regtype;
    in_range text := CASE WHEN utc THEN '%1$s >= coalesce($1 AT TIME ZONE ''UTC'', ''-infinity'') AND %1$s < coalesce($2 AT TIME ZONE ''UTC'', ''infinity'')'
                          ELSE '%1$s >= coalesce($1, ''-infinity'') AND %1$s < coalesce($2, ''infinity'')' END;
    cols text := rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names);
    keys text := rollup_internal.ident_list(r.dimension_names || r.bucket_column);
    source_sql text;
    picks text := '';
    comparisons text := '';
    m int;
BEGIN
    PERFORM rollup_internal.refuse_stage(r, 'rollup.verify');
    IF r.mode = 'flush' THEN
        RAISE EXCEPTION 'a flush rollup cannot be verified: its source rows were consumed' USING ERRCODE = '55000';
    END IF;
    source_sql := format('%s s WHERE %s', r.source_table, format(in_range, r.bucket_sql));
    IF r.mode = 'incremental' THEN
        source_sql := source_sql || ' AND ' || rollup_internal.covered_sql(r);
    END IF;
    FOR m IN 1 .. cardinality(r.measure_names) LOOP
        picks := picks || format(', (array_agg(%1$I) FILTER (WHERE side))[1] AS "pg_rollup stored %2$s"'
                                 ', (array_agg(%1$I) FILTER (WHERE NOT side))[1] AS "pg_rollup recomputed %2$s"', r.measure_names[m], m);
        comparisons := comparisons || CASE WHEN m > 1 THEN ', ' ELSE '' END || format(
            CASE r.merge_rules[m]
                WHEN 'hll_union' THEN '(%1$L, round(hll_cardinality(%2$s))::text, round(hll_cardinality(%3$s))::text, %2$s::text IS NOT DISTINCT FROM %3$s::text)'
                WHEN 'topn_union' THEN '(%1$L, topn_total(%2$s)::text, topn_total(%3$s)::text, topn_total(%2$s) IS NOT DISTINCT FROM topn_total(%3$s))'
                -- (the same bins give the same percentiles; the sum is a float sum, whose order may differ)
                WHEN 'qsketch_union' THEN '(%1$L, qsketch_count(%2$s)::text, qsketch_count(%3$s)::text,
                    qsketch_count(%2$s) IS NOT DISTINCT FROM qsketch_count(%3$s)
                    AND qsketch_percentiles(%2$s, ''{0,0.01,0.1,0.5,0.9,0.99,0.999,1}'') IS NOT DISTINCT FROM qsketch_percentiles(%3$s, ''{0,0.01,0.1,0.5,0.9,0.99,0.999,1}''))'
                ELSE '(%1$L, %2$s::text, %3$s::text, %2$s IS NOT DISTINCT FROM %3$s)' END,
            r.measure_names[m], format('g."pg_rollup stored %s"', m), format('g."pg_rollup recomputed %s"', m));
    END LOOP;
    RETURN QUERY EXECUTE format(
        E'SELECT g.%1$I%2$s, %3$s, m.measure, m.stored, m.recomputed\n'
        'FROM (SELECT %4$s%5$s\n'
        '      FROM (SELECT true AS side, %6$s FROM %7$s WHERE %8$s\n'
        '            UNION ALL\n'
        '            SELECT false, %6$s FROM (%9$s) x) u\n'
        '      GROUP BY %4$s) g\n'
        'CROSS JOIN LATERAL (VALUES %10$s) m(measure, stored, recomputed, same)\n'
        'WHERE NOT m.same ORDER BY 1, 2, 3',
        r.bucket_column, CASE WHEN utc THEN ' AT TIME ZONE ''UTC''' ELSE '' END,
        coalesce((SELECT format('jsonb_build_object(%s)', string_agg(format('%L, g.%I', d, d), ', ' ORDER BY o))
                  FROM unnest(r.dimension_names) WITH ORDINALITY u(d, o)), '''{}''::jsonb'),
        keys, picks, cols, r.target_table, format(in_range, quote_ident(r.bucket_column)),
        rollup_internal.aggregate_sql(r, source_sql, false), comparisons)
        USING range_start, range_end;
END
$$;
