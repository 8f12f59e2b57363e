-- pg_rollup 0.3.0 -> 0.4.0
-- Per-rollup time zones and origins: rollup.rollups.time_zone and bucket_origin, create_rollup's
-- time_zone and origin; buckets in days follow local midnight, levels are checked to nest
-- (rollup._check_nesting), query views and their range form count buckets in the rollup's zone,
-- and bucket columns say in their comment which zone they are in. rollup.alter_rollup changes a
-- rollup in place (batch size, schedule, retention, measures added and filled from the source).
-- On Citus, incremental rollups read the rows written through every node: each node draws ids
-- from its own range, and its writers are waited for on that node (rollup._safe_id,
-- rollup._node_bounds); rollup.progress.nodes keeps a watermark per node group.
-- Ingest never stops on one bad event: rows with a NULL in a NOT NULL column, a failed CHECK, a
-- NULL platform or a key over 2000 bytes (rollup._key_fits) are rejected with the reason, and a
-- batch that one row's own error makes fail is stored again in parts (rollup._ingest_rows).
-- rollup.run keeps the error of a failed run in rollup.status through a background worker
-- (rollup._record_run_error), although the caller's transaction is rolled back.

-- (A function whose parameter defaults to a NULL of the catalog's row type holds the table's shape.)
DROP FUNCTION rollup._chain_sql(text, text, text, rollup.rollups);
DROP VIEW rollup.status;
DROP FUNCTION rollup._refuse_event(text, jsonb);
DROP FUNCTION rollup._ingest(regclass, text, boolean, name[], boolean, jsonb, regclass);
CREATE FUNCTION rollup._key_fits(VARIADIC "any") RETURNS boolean
    AS 'MODULE_PATHNAME', 'pg_rollup_key_fits' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rollup._read_row(event jsonb, rowtype anyelement, pos bigint) RETURNS anyelement
    AS 'MODULE_PATHNAME', 'pg_rollup_read_row' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION rollup._unread() RETURNS text
    AS 'MODULE_PATHNAME', 'pg_rollup_unread' LANGUAGE C VOLATILE PARALLEL UNSAFE;
DROP FUNCTION rollup._pending(rollup.rollups, bigint);
ALTER TABLE rollup.progress ADD COLUMN nodes jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN rollup.progress.nodes IS
    'on Citus, rows written through other nodes than the coordinator: per node group, the watermark in that group''s range of ids and its checkpoints';
ALTER TABLE rollup.rollups ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
ALTER TABLE rollup.rollups ADD COLUMN bucket_origin timestamp NOT NULL DEFAULT '2000-01-03 00:00';
DROP FUNCTION rollup._bucket_ceil_sql(text, regtype, interval);
DROP FUNCTION rollup._next_bucket_sql(text, regtype, interval);
DROP FUNCTION rollup._bucket_sql(text, regtype, interval);
DROP FUNCTION rollup.create_rollup(text, regclass, text, name, interval, text[], text[], text, name, bigint, name, bigint, boolean);

CREATE FUNCTION rollup."_record_run_error"("rollup_name" TEXT, "error" TEXT) RETURNS bool
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'record_run_error_wrapper';


-- The zone in which buckets of width `width` are counted: the rollup's time zone for widths in
-- days, months or years (calendar units), UTC for widths with hours, minutes or seconds.
CREATE FUNCTION rollup._calendar_zone(width interval, time_zone text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN date_trunc('day', width) = width THEN time_zone ELSE 'UTC' END
$$;

-- The bucket of a time column, in time zone `time_zone` with buckets aligned on `origin` (a
-- local time). Widths counted in days (1 day, 7 days) follow local midnight: their buckets are
-- 23, 24 or 25 hours long across a DST change (date_bin on the local time). 1 month and 1 year
-- start at local midnight of the first day (date_trunc in the zone). Widths with hours, minutes
-- or seconds are fixed lengths of time from the origin (date_bin on the instant). A timestamp
-- column (without time zone) holds local times already: its zone is UTC, which means none.
-- In UTC with the default origin (Monday 2000-01-03) every width gives what 0.3.0 gave.
CREATE FUNCTION rollup._bucket_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    months int := extract(year FROM width)::int * 12 + extract(month FROM width)::int;
    rest interval := width - make_interval(months => months);
BEGIN
    IF time_type NOT IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN
        RAISE EXCEPTION 'the time column must be timestamptz or timestamp, not %', time_type USING ERRCODE = '42804';
    END IF;
    IF width IS NULL OR width <= interval '0' OR rest < interval '0' THEN
        RAISE EXCEPTION 'bucket width must be a positive interval, not %', width USING ERRCODE = '22023';
    END IF;
    IF months > 0 THEN
        IF rest <> interval '0' OR months NOT IN (1, 12) THEN
            RAISE EXCEPTION 'bucket width % is not supported', width USING ERRCODE = '22023',
                HINT = 'Use 1 month, 1 year, or a width without months (1 minute, 5 minutes, 1 hour, 1 day, 7 days).';
        END IF;
        IF origin <> '2000-01-03 00:00'::timestamp THEN
            RAISE EXCEPTION 'month and year buckets start on the first day of a month; origin applies to widths without months'
                USING ERRCODE = '22023';
        END IF;
        RETURN format(CASE WHEN time_type = 'timestamptz'::regtype THEN 'date_trunc(%L, %s, %L)' ELSE 'date_trunc(%L, %s)' END,
                      CASE months WHEN 1 THEN 'month' ELSE 'year' END, time_sql, time_zone);
    END IF;
    IF width < interval '1 second' THEN
        RAISE EXCEPTION 'bucket width % is below 1 second', width USING ERRCODE = '22023';
    END IF;
    IF rollup._calendar_zone(width, time_zone) <> 'UTC' THEN
        RETURN format('(date_bin(%L::interval, (%s) AT TIME ZONE %L, %L::timestamp) AT TIME ZONE %3$L)',
                      width, time_sql, time_zone, to_char(origin, 'YYYY-MM-DD HH24:MI:SS.US'));
    END IF;
    RETURN format('date_bin(%L::interval, %s, %L)', width, time_sql,
                  to_char(origin AT TIME ZONE time_zone AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
END
$$;

-- What a bucket column holds, for its comment: the width, the time zone and the origin.
CREATE FUNCTION rollup._bucket_comment(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('start of the %s bucket, in time zone %s%s (pg_rollup rollup %s)', r.bucket_width, r.time_zone,
                  CASE WHEN r.bucket_origin <> '2000-01-03 00:00'::timestamp
                       THEN format(', from origin %s', to_char(r.bucket_origin, 'YYYY-MM-DD HH24:MI:SS')) ELSE '' END, r.name)
$$;

-- A level's buckets must each be a whole number of its source's buckets: every start of a
-- level bucket is the start of a source bucket. Fixed lengths of time (UTC) nest when the
-- widths and origins line up; calendar buckets (days in a time zone, months, years) are checked
-- start by start from 1970 to 2100 with the source's own bucket expression (DST changes, zones
-- whose midnight is not on the source's hours, weeks that do not start on the source's weeks).
CREATE FUNCTION rollup._check_nesting(r rollup.rollups, p rollup.rollups, time_type regtype)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    zone text := rollup._calendar_zone(r.bucket_width, r.time_zone);
    months boolean := extract(month FROM r.bucket_width) + extract(year FROM r.bucket_width) > 0;
    parent_calendar boolean := rollup._calendar_zone(p.bucket_width, p.time_zone) <> 'UTC'
                               OR extract(month FROM p.bucket_width) + extract(year FROM p.bucket_width) > 0;
    parent_width numeric := extract(epoch FROM p.bucket_width);
    misses bigint;
BEGIN
    IF zone = 'UTC' AND NOT months THEN
        IF NOT parent_calendar
           AND extract(epoch FROM r.bucket_width) % parent_width = 0
           AND extract(epoch FROM (r.bucket_origin AT TIME ZONE r.time_zone) - (p.bucket_origin AT TIME ZONE p.time_zone)) % parent_width = 0 THEN
            RETURN;
        END IF;
    ELSE
        EXECUTE format(
            'SELECT count(*) FROM (SELECT %s AS b FROM generate_series(%s, ''2100-01-01''::timestamp, %L::interval) x) s WHERE %s IS DISTINCT FROM s.b',
            CASE WHEN time_type = 'timestamptz'::regtype THEN format('x AT TIME ZONE %L', zone) ELSE 'x' END,
            CASE WHEN months THEN '''1970-01-01''::timestamp'
                 ELSE format('date_bin(%L::interval, ''1970-01-01''::timestamp, %L::timestamp)', r.bucket_width, r.bucket_origin) END,
            r.bucket_width,
            rollup._bucket_sql('s.b', time_type, p.bucket_width, p.time_zone, p.bucket_origin))
            INTO misses;
        IF misses = 0 THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION 'bucket width % is not a whole number of the source''s % buckets', r.bucket_width, p.bucket_width
        USING ERRCODE = '22023',
              DETAIL = format('The level''s buckets: %s in %s from %s; the source''s: %s in %s from %s.', r.bucket_width, r.time_zone,
                              r.bucket_origin, p.bucket_width, p.time_zone, p.bucket_origin),
              HINT = 'Keep the source''s time zone and origin; a level in another time zone needs a source whose buckets divide its every day.';
END
$$;

-- The start of the bucket of width `width` after the one that starts at `bucket_sql`: calendar
-- arithmetic in the rollup's time zone for widths in days, months or years, in UTC otherwise.
CREATE FUNCTION rollup._next_bucket_sql(bucket_sql text, time_type regtype, width interval, time_zone text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN time_type = 'timestamptz'::regtype
                THEN format('((%s) AT TIME ZONE %L + %L::interval) AT TIME ZONE %2$L', bucket_sql, rollup._calendar_zone(width, time_zone), width)
                ELSE format('((%s) + %L::interval)', bucket_sql, width) END
$$;

-- The first bucket of width `width` (in time_zone, from origin) that starts at or after `time_sql`.
CREATE FUNCTION rollup._bucket_ceil_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(CASE WHEN %1$s = %2$s THEN %2$s ELSE %3$s END)', floor_sql, time_sql,
                  rollup._next_bucket_sql(floor_sql, time_type, width, time_zone))
    FROM (SELECT rollup._bucket_sql(time_sql, time_type, width, time_zone, origin) AS floor_sql) f
$$;

-- The boundary of a query view: the first bucket of width `width` (a level's buckets, in
-- time_zone from origin) that starts at or after the first bucket of the finer rollup `fine`,
-- and after now() - fine_window when given; 'infinity' while `fine` is empty. Bucket columns
-- without a time zone are read as UTC. STABLE, so the planner estimates the view's row counts
-- with its actual value; costly, so it prefers plans that evaluate it once (an index condition)
-- to a filter on every row; parallel restricted, so the small scans of a dashboard query are
-- not handed to parallel workers whose start-up costs more than the scan.
CREATE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval,
                                     time_zone text, origin timestamp)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED COST 10000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_fine timestamptz;
    t timestamptz;
    b timestamptz;
    result timestamptz;
BEGIN
    EXECUTE format('SELECT CASE WHEN pg_typeof(m) = ''timestamptz''::regtype THEN m::timestamptz ELSE m::timestamp AT TIME ZONE ''UTC'' END
                    FROM (SELECT min(%I) AS m FROM %s) f', fine_bucket, fine)
        INTO first_fine;
    IF first_fine IS NULL THEN
        RETURN 'infinity';
    END IF;
    FOREACH t IN ARRAY ARRAY[first_fine, now() - fine_window] LOOP
        CONTINUE WHEN t IS NULL;
        EXECUTE 'SELECT ' || rollup._bucket_ceil_sql('$1', 'timestamptz', width, time_zone, origin) INTO b USING t;
        result := greatest(result, b);
    END LOOP;
    RETURN result;
END
$$;

-- A level belongs to the owner of its chain (the role whose privileges its runs use); a base
-- rollup to the role that creates it. An incremental rollup starts after id start_after, by
-- default from the sequence's start; an existing target that holds rows needs start_after (the
-- rows it holds would otherwise be counted again), and a level needs an empty one. Its id column
-- must be GENERATED ALWAYS, unless allow_explicit_ids accepts that a row inserted with an
-- explicit id at or below the watermark is never rolled up.
CREATE FUNCTION rollup.create_rollup(
    name text,
    source_table regclass,
    target_table text,
    time_column name DEFAULT NULL,
    bucket_width interval DEFAULT '5 minutes',
    dimensions text[] DEFAULT '{}',
    measures text[] DEFAULT ARRAY['count(*) AS events'],
    mode text DEFAULT NULL,
    id_column name DEFAULT NULL,
    batch_size bigint DEFAULT NULL,
    bucket_column name DEFAULT 'bucket',
    start_after bigint DEFAULT NULL,
    allow_explicit_ids boolean DEFAULT false,
    time_zone text DEFAULT NULL,
    origin timestamp DEFAULT NULL)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    parent_r rollup.rollups;
    target regclass;
    created boolean;
    dist name;
BEGIN
    IF name IS NULL OR source_table IS NULL OR target_table IS NULL OR dimensions IS NULL OR measures IS NULL THEN
        RAISE EXCEPTION 'name, source_table, target_table, dimensions and measures must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF name !~ '^[[:alnum:]_.-]{1,63}$' THEN
        RAISE EXCEPTION 'invalid rollup name "%"', name USING ERRCODE = '42602',
            HINT = 'Use up to 63 letters, digits, _, . or -.';
    END IF;
    PERFORM rollup._check_owner(source_table);
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.name = create_rollup.name) THEN
        RAISE EXCEPTION 'rollup "%" already exists', name USING ERRCODE = '42710';
    END IF;
    IF batch_size IS NOT NULL AND batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = '22023';
    END IF;

    r.name := name;
    r.source_table := source_table;
    r.bucket_width := bucket_width;
    r.bucket_column := bucket_column;
    r.batch_size := batch_size;
    r.dimensions := dimensions;
    r.measures := measures;
    r.owner := current_user::regrole;

    SELECT * INTO parent_r FROM rollup.rollups x WHERE x.target_table = create_rollup.source_table;
    IF parent_r.name IS NOT NULL THEN
        IF coalesce(mode, 'level') <> 'level' THEN
            RAISE EXCEPTION 'the source of rollup "%" is the target of rollup "%"; it can only be a level', name, parent_r.name
                USING ERRCODE = '22023';
        END IF;
        r.mode := 'level';
        r.parent := parent_r.name;
        r.owner := parent_r.owner;
        r.time_column := coalesce(time_column, parent_r.bucket_column);
        IF batch_size IS NOT NULL THEN
            RAISE EXCEPTION 'a level has no batch size: it runs with its parent' USING ERRCODE = '22023';
        END IF;
        -- Buckets in the zone and from the origin of its source unless told otherwise.
        r.time_zone := coalesce(time_zone, parent_r.time_zone);
        r.bucket_origin := coalesce(origin, CASE WHEN extract(month FROM bucket_width) + extract(year FROM bucket_width) = 0
                                                 THEN parent_r.bucket_origin END);
    ELSE
        r.mode := coalesce(mode, 'incremental');
        IF r.mode NOT IN ('incremental', 'flush') THEN
            RAISE EXCEPTION 'mode must be incremental or flush, not "%"', r.mode USING ERRCODE = '22023';
        END IF;
        IF time_column IS NULL THEN
            RAISE EXCEPTION 'time_column is required' USING ERRCODE = '22004';
        END IF;
        r.time_column := time_column;
        r.time_zone := time_zone;
        r.bucket_origin := origin;
    END IF;

    IF r.mode = 'incremental' THEN
        IF id_column IS NULL THEN
            SELECT a.attname INTO id_column FROM pg_attribute a
            WHERE a.attrelid = source_table AND a.attnum > 0 AND NOT a.attisdropped
              AND pg_get_serial_sequence(source_table::text, a.attname) IS NOT NULL
            ORDER BY a.attnum LIMIT 1;
            IF id_column IS NULL THEN
                RAISE EXCEPTION 'table % has no identity or serial column to track progress with', source_table
                    USING ERRCODE = '22023',
                          HINT = 'Add one (ALTER TABLE .. ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1)), pass id_column, or use mode => ''flush''.';
            END IF;
        END IF;
        r.id_column := id_column;
    ELSIF id_column IS NOT NULL OR start_after IS NOT NULL THEN
        RAISE EXCEPTION '% applies to incremental rollups only', CASE WHEN id_column IS NULL THEN 'start_after' ELSE 'id_column' END
            USING ERRCODE = '22023';
    END IF;
    r := rollup._derive(r);
    IF r.mode = 'incremental' THEN
        PERFORM rollup._check_explicit_ids(source_table, r.id_column, allow_explicit_ids);
    END IF;

    -- On Citus a rollup runs shard by shard: the distribution column must be a dimension.
    dist := rollup._distribution_column(source_table);
    IF dist IS NOT NULL AND NOT dist = ANY (r.dimension_names) THEN
        RAISE EXCEPTION 'table % is distributed by %, which must be one of the dimensions', source_table, quote_ident(dist)
            USING ERRCODE = '0A000', HINT = format('Add %L to dimensions, so that every shard is rolled up on its own.', quote_ident(dist));
    END IF;

    -- The target: created from the aggregation itself (so its column types are exactly the
    -- measures'), with the unique key ON CONFLICT needs; or an existing table with that key.
    -- An unqualified target name is in the source table's schema.
    target_table := rollup._qualify(target_table, source_table);
    target := to_regclass(target_table);
    created := target IS NULL;
    IF created THEN
        EXECUTE format(E'CREATE TABLE %s AS\n%s\nWITH NO DATA', target_table,
                       rollup._aggregate_sql(r, format('%s s', source_table), false));
        target := to_regclass(target_table);
        IF target IS NULL THEN
            RAISE EXCEPTION 'could not find the created target table "%"', target_table USING ERRCODE = '42P01';
        END IF;
        EXECUTE format('ALTER TABLE %s ADD UNIQUE NULLS NOT DISTINCT (%s)', target,
            rollup._ident_list(r.dimension_names || r.bucket_column));
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', target, r.bucket_column, rollup._bucket_comment(r));
        -- Dashboards, retention and query views select by time range.
        IF cardinality(r.dimension_names) > 0 THEN
            EXECUTE format('CREATE INDEX ON %s (%I)', target, r.bucket_column);
        END IF;
        -- The chain's owner writes it (a level made for another role by a member or a superuser).
        IF r.owner::oid <> current_user::regrole::oid THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %s', target, r.owner);
        END IF;
        -- On Citus: sharded like the source, on the same nodes (colocated), so that runs are
        -- pushed down to the shards.
        IF dist IS NOT NULL THEN
            EXECUTE 'SELECT create_distributed_table($1, $2, colocate_with => $3)'
                USING target, dist::text, source_table::text;
        END IF;
    ELSE
        PERFORM rollup._check_owner(target);
        IF NOT EXISTS (
            SELECT FROM pg_index i
            WHERE i.indrelid = target AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
              AND (SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_attribute a
                   WHERE a.attrelid = target AND a.attnum = ANY (i.indkey))
                = (SELECT array_agg(c ORDER BY c) FROM unnest(r.dimension_names || r.bucket_column) c)) THEN
            RAISE EXCEPTION 'target table % has no unique index on exactly (%)', target,
                array_to_string(r.dimension_names || r.bucket_column, ', ') USING ERRCODE = '42P10';
        END IF;
    END IF;
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.target_table = target) OR target = source_table THEN
        RAISE EXCEPTION 'table % is already the target of a rollup', target USING ERRCODE = '42710';
    END IF;
    IF r.mode <> 'flush' AND start_after IS NULL AND NOT created AND rollup._has_rows(target) THEN
        RAISE EXCEPTION 'target table % already holds rows', target USING ERRCODE = '55000',
            DETAIL = 'A new rollup aggregates every source row it has not seen; merged into rows that already count them, they would be counted twice.',
            HINT = CASE WHEN r.mode = 'level' THEN 'Empty the table first (TRUNCATE), or give the level a new target.'
                        ELSE 'Say where the rows it holds end: start_after => <the last source id they count>, or empty the table first.' END;
    END IF;
    r.target_table := target;

    PERFORM rollup._write_catalog('add_rollup', to_jsonb(r) || jsonb_build_object('source_table', r.source_table::oid,
        'target_table', r.target_table::oid, 'id_sequence', r.id_sequence::oid, 'owner', r.owner::oid, 'start_after', start_after));
    r := rollup._get(r.name);
    -- Validate the whole generated statement (types, merge functions, unique key) now, and start
    -- a new level from what its source already holds; as the owner, like every run.
    PERFORM rollup._as_owner(rollup._root(r.name), 'validate');
    IF r.mode = 'level' THEN
        PERFORM rollup._as_owner(r.name, 'fill');
    END IF;
    IF r.mode = 'incremental' AND NOT EXISTS (
        SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = source_table AND a.attname = r.id_column) THEN
        RAISE NOTICE 'no index of % starts with %: each run of rollup "%" reads the whole table to find its new rows',
            source_table, quote_ident(r.id_column), name
            USING HINT = format('CREATE INDEX ON %s (%I)', source_table, r.id_column);
    END IF;
    RETURN r;
END
$$;

-- Changes a rollup in place; an argument left NULL leaves its setting as it is.
--   batch_size    source rows per run of a base rollup (0: no limit)
--   schedule      a cron expression: rollup.schedule
--   source_grace, target_keep  retention (rollup.set_retention clears them)
--   add_measures  measures added to the definition and, as columns, to the target, filled from
--                 the source rows still present: a base rollup's rows up to its watermark, a
--                 level's source rows. Refused when a row cannot be filled (its source rows were
--                 deleted by retention or consumed by a flush run; a level's source rows hold
--                 NULL in what the measure reads) unless allow_partial: such rows keep NULL.
--                 Query views keep their columns: create them again to show the new ones.
CREATE FUNCTION rollup.alter_rollup(rollup_name text, batch_size bigint DEFAULT NULL, schedule text DEFAULT NULL,
    source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL, add_measures text[] DEFAULT NULL,
    allow_partial boolean DEFAULT false)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    filled jsonb;
BEGIN
    IF batch_size IS NOT NULL THEN
        IF r.mode = 'level' THEN
            RAISE EXCEPTION 'a level has no batch size: it runs with its parent' USING ERRCODE = '22023';
        ELSIF batch_size < 0 THEN
            RAISE EXCEPTION 'batch_size must not be negative' USING ERRCODE = '22023', HINT = 'Pass 0 for no limit.';
        END IF;
        PERFORM rollup._write_catalog('set', jsonb_build_object('name', r.name, 'batch_size', nullif(batch_size, 0)));
    END IF;
    IF source_grace IS NOT NULL OR target_keep IS NOT NULL THEN
        PERFORM rollup.set_retention(r.name, coalesce(source_grace, r.source_grace), coalesce(target_keep, r.target_keep));
    END IF;
    IF cardinality(add_measures) > 0 THEN
        filled := rollup._as_owner(r.name, 'add_measures', to_jsonb(add_measures))::jsonb;
        IF (filled->>'filled')::bigint < (filled->>'rows')::bigint AND NOT coalesce(allow_partial, false) THEN
            RAISE EXCEPTION 'only % of the % rows of rollup "%" can be filled with the new measures', filled->'filled', filled->'rows', r.name
                USING ERRCODE = '55000',
                      DETAIL = CASE WHEN r.mode = 'flush' THEN 'A flush rollup''s source rows are consumed.'
                                    ELSE concat_ws(' ', 'The others'' source rows are gone (retention)'
                                                        || CASE WHEN filled->>'from' IS NOT NULL THEN format(' before %s', filled->>'from') END,
                                                   CASE WHEN r.mode = 'level' THEN 'or hold NULL in the columns the new measures read.' END) END,
                      HINT = 'Pass allow_partial => true to add them anyway: the other rows keep NULL (not known), and rows that arrive late for their buckets would make them partial.';
        END IF;
        RAISE NOTICE 'rollup "%": % of its % rows filled with the new measures', r.name, filled->'filled', filled->'rows';
    END IF;
    IF schedule IS NOT NULL THEN
        PERFORM rollup.schedule(r.name, schedule);
    END IF;
    RETURN rollup._get(r.name);
END
$$;

-- The work of alter_rollup's add_measures, as the rollup's owner: the columns (typed as the
-- aggregation types them), the definition, then the rows; returns {rows, filled, from}.
CREATE FUNCTION rollup._add_measures(r rollup.rollups, measures text[])
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    added rollup.rollups := r;
    time_type regtype := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column);
    columns text;
    from_sql text := format('%s s', r.source_table);
    first_complete text;
    known text;
    total bigint;
    filled bigint := 0;
BEGIN
    PERFORM rollup._lock_chain(r.name);
    -- The definition first: it checks the measures, their merge rules and their names.
    PERFORM rollup._write_catalog('add_measures', jsonb_build_object('name', r.name, 'measures', measures));
    added.measures := measures;
    added := rollup._derive(added);
    -- (pg_typeof of a NULL still names its type: the outer join gives one row.)
    EXECUTE format(E'SELECT string_agg(format(''ADD COLUMN %%I %%s'', m, t), '', '' ORDER BY o) FROM (SELECT ARRAY[%s] AS types\n'
                   'FROM (SELECT) one LEFT JOIN (%s) x ON true LIMIT 1) y, unnest(%L::name[], types) WITH ORDINALITY u(m, t, o)',
                   (SELECT string_agg(format('pg_typeof(x.%I)::regtype::text', m), ', ') FROM unnest(added.measure_names) m),
                   rollup._aggregate_sql(added, from_sql || ' WHERE false', false), added.measure_names)
        INTO columns;
    EXECUTE format('ALTER TABLE %s %s', r.target_table, columns);
    EXECUTE format('SELECT count(*) FROM %s', r.target_table) INTO total;
    IF r.mode = 'flush' THEN
        RETURN jsonb_build_object('rows', total, 'filled', 0);
    END IF;
    IF r.mode = 'incremental' THEN
        from_sql := from_sql || ' WHERE ' || rollup._covered_sql(r);
    END IF;
    -- Where retention deleted source rows, only buckets that start at or after the oldest row
    -- left are whole.
    IF (SELECT p.source_rows_deleted FROM rollup.progress p WHERE p.name = r.name) > 0 THEN
        EXECUTE format('SELECT %s FROM (SELECT min(%I) AS t FROM %s) m',
                       rollup._bucket_ceil_sql('m.t', time_type, r.bucket_width, r.time_zone, r.bucket_origin), r.time_column, r.source_table)
            INTO first_complete;
    END IF;
    -- A level reads rows of a rollup that may have just got the measures it reads: NULL there
    -- means not known, and so is any bucket of the level with such a row.
    IF r.mode = 'level' THEN
        SELECT string_agg(format('s.%I IS NOT NULL', p.m), ' AND ') INTO known
        FROM rollup.rollups x, unnest(x.measure_names) p(m)
        WHERE x.name = r.parent AND EXISTS (SELECT FROM unnest(_add_measures.measures) f WHERE strpos(lower(f), lower(p.m)) > 0);
    END IF;
    added.measures := added.measures || format('bool_and(%s) AS "pg_rollup known"', coalesce(known, 'true'));
    -- Only into the rows the target holds: no row for buckets whose rows target retention deleted.
    EXECUTE format(E'INSERT INTO %1$s AS t (%2$s)\nSELECT %2$s FROM (%3$s) d\n'
                   'WHERE d."pg_rollup known" AND d.%4$I >= coalesce(%5$L::%8$s, ''-infinity'') AND d.%4$I >= (SELECT min(%4$I) FROM %1$s)\n'
                   'ON CONFLICT (%6$s) DO UPDATE SET %7$s',
                   r.target_table, rollup._ident_list(r.dimension_names || r.bucket_column || added.measure_names),
                   rollup._aggregate_sql(added, from_sql, false), r.bucket_column, first_complete,
                   rollup._ident_list(r.dimension_names || r.bucket_column),
                   (SELECT string_agg(format('%I = EXCLUDED.%1$I', m), ', ') FROM unnest(added.measure_names) m),
                   format_type(time_type, NULL));
    GET DIAGNOSTICS filled = ROW_COUNT;
    RETURN jsonb_build_object('rows', total, 'filled', filled, 'from', first_complete);
END
$$;

-- The statement that aggregates `from_sql` (aliased s) into rollup `top` and feeds every
-- level below it from its parent's delta: CTE d<i> aggregates for the i-th rollup of the
-- chain, m<i> merges it into that rollup's target; `first_cte` (when given) comes before them
-- and may be what `from_sql` reads; `top_as` (when given) aggregates for `top` instead of its own
-- definition. It returns the number of source rows.
CREATE FUNCTION rollup._chain_sql(top text, from_sql text, first_cte text DEFAULT NULL, top_as rollup.rollups DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    ctes text[] := CASE WHEN first_cte IS NULL THEN '{}' ELSE ARRAY[first_cte] END;
    names text[] := '{}';
BEGIN
    FOR r IN SELECT * FROM rollup._chain(top) LOOP
        names := names || r.name;
        ctes := ctes
            || format('d%s AS (%s)', cardinality(names),
                      CASE WHEN r.name = top THEN rollup._aggregate_sql(coalesce(top_as, r), from_sql, true)
                           ELSE rollup._aggregate_sql(r, format('d%s s', array_position(names, r.parent)), false) END)
            || format('m%s AS (%s)', cardinality(names), rollup._merge_into_sql(r, 'd' || cardinality(names)));
    END LOOP;
    RETURN format(E'WITH %s\nSELECT coalesce(sum("pg_rollup rows"), 0)::bigint FROM d1', array_to_string(ctes, E',\n'));
END
$$;

-- The bound of an incremental run on this node: every row of `rel` whose id from `seq` is at
-- or below it is committed or gone. Every id <= last_id was drawn by a transaction that then
-- held a write lock on the table (ids are drawn at insert time) and still holds it if it has
-- not ended; so once the writers listed *after* reading last_id have ended, all rows <= last_id
-- are committed or gone. When they are still running after wait_ms, the list is kept as a
-- checkpoint, and the newest of `checkpoints` whose writers have all ended is the bound.
-- Returns {"safe": the bound or null, "checkpoints": what to keep}. A Citus worker runs it for
-- the rows written through it (rollup._node_bounds).
CREATE FUNCTION rollup._safe_id(seq regclass, rel regclass, wait_ms int, checkpoints jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    last_id bigint;
    called boolean;
    writers text[];
    cp jsonb;
    kept jsonb;
BEGIN
    PERFORM rollup._check_sequence(seq);
    EXECUTE format('SELECT last_value, is_called FROM %s', seq) INTO last_id, called;
    IF NOT called THEN
        last_id := last_id - 1;
    END IF;
    -- The table itself and, when partitioned, every partition (writers may lock only those).
    writers := rollup._writers(rel::oid || ARRAY(SELECT relid::oid FROM pg_partition_tree(rel)));
    IF rollup._writers_done(writers, wait_ms) THEN
        RETURN jsonb_build_object('safe', last_id, 'checkpoints', '[]'::jsonb);
    END IF;
    kept := jsonb_build_array(jsonb_build_object('id', last_id, 'writers', to_jsonb(writers)));
    FOR cp IN SELECT c FROM jsonb_array_elements(coalesce(checkpoints, '[]')) c ORDER BY (c->>'id')::bigint DESC LOOP
        IF rollup._writers_done(ARRAY(SELECT jsonb_array_elements_text(cp->'writers')), 0) THEN
            RETURN jsonb_build_object('safe', (cp->>'id')::bigint, 'checkpoints', kept);
        ELSIF jsonb_array_length(kept) < 100 THEN
            kept := kept || cp;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('safe', NULL, 'checkpoints', kept);
END
$$;

-- The end of the next batch of rollup r after id lo, up to safe (NULL: nothing new): at most
-- batch_size rows when r has one.
CREATE FUNCTION rollup._batch_end(r rollup.rollups, lo bigint, safe bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    upper_id bigint;
BEGIN
    IF safe IS NULL OR safe <= lo THEN
        RETURN lo;
    ELSIF r.batch_size IS NULL THEN
        RETURN safe;
    END IF;
    EXECUTE format('SELECT %I FROM %s WHERE %1$I > $1 AND %1$I <= $2 ORDER BY %1$I OFFSET $3 LIMIT 1', r.id_column, r.source_table)
        INTO upper_id USING lo, safe, r.batch_size - 1;
    RETURN coalesce(upper_id, safe);
END
$$;

-- On Citus every node takes writes, and each draws ids from its own range of the sequence
-- (node group g: from g << 48 + 1). The bounds (rollup._safe_id) of the rows written through
-- the other nodes than this one, by node group: each active worker computes its own, in
-- parallel, with the checkpoints kept for it in `nodes`; a group no longer in the cluster (a
-- removed node) has no writers left, so its whole range. '{}' for a table Citus does not manage.
-- A worker that does not answer fails the run: its writers cannot be known.
CREATE FUNCTION rollup._node_bounds(r rollup.rollups, nodes jsonb, wait_ms int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb := '{}';
    managed boolean;
    names text[];
    ports int[];
    groups int[];
    answer record;
    group_id int;
    command text;
BEGIN
    -- (Citus' catalog is named in dynamic SQL only: without Citus it does not exist.)
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN result;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)' INTO managed USING r.source_table;
    IF NOT managed THEN
        RETURN result;
    END IF;
    command := format('SELECT rollup._safe_id(%L, %L, %s, %L::jsonb -> (SELECT groupid::text FROM pg_catalog.pg_dist_local_group) -> ''checkpoints'')',
                      r.id_sequence::text, r.source_table::text, wait_ms, nodes);
    EXECUTE 'SELECT array_agg(nodename ORDER BY nodeid), array_agg(nodeport ORDER BY nodeid), array_agg(groupid ORDER BY nodeid)
             FROM pg_catalog.pg_dist_node WHERE groupid > 0 AND noderole = ''primary'' AND isactive AND hasmetadata'
        INTO names, ports, groups;
    -- (None on a cluster of the coordinator alone.)
    IF names IS NOT NULL THEN
        FOR answer IN EXECUTE
            'SELECT n.groupid, w.success, w.result
             FROM unnest($1, $2, $3) n(nodename, nodeport, groupid)
             JOIN pg_catalog.master_run_on_worker($1, $2, array_fill($4, ARRAY[cardinality($1)]), true) w
               ON w.node_name = n.nodename AND w.node_port = n.nodeport'
            USING names, ports, groups, command
        LOOP
            IF NOT answer.success THEN
                RAISE EXCEPTION 'rollup "%" cannot run: node group % did not say which of its writers are done: %', r.name, answer.groupid, answer.result
                    USING ERRCODE = '08006', HINT = 'pg_rollup must be installed on every node, and every node reachable from the coordinator.';
            END IF;
            result := result || jsonb_build_object(answer.groupid::text, answer.result::jsonb);
        END LOOP;
    END IF;
    -- Removed nodes: every id of their range is in (their writers have ended).
    FOR group_id IN EXECUTE 'SELECT key::int FROM jsonb_object_keys($1) key
                             WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE groupid = key::int)' USING nodes LOOP
        result := result || jsonb_build_object(group_id::text, jsonb_build_object('safe', ((group_id + 1)::bigint << 48), 'checkpoints', '[]'::jsonb));
    END LOOP;
    RETURN result;
END
$$;

-- The rows of rollup r's source that its runs have aggregated, as a condition on alias s:
-- ids up to the watermark and, on Citus, in each node group's range up to that group's.
CREATE FUNCTION rollup._covered_sql(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(s.%I <= %s', r.id_column, coalesce(p.watermark::text, 'NULL'))
           || coalesce((SELECT string_agg(format(' OR s.%1$I > %2$s AND s.%1$I <= %3$s', r.id_column, key::bigint << 48, value->>'watermark'), '')
                        FROM jsonb_each(p.nodes)), '')
           || ')'
    FROM rollup.progress p WHERE p.name = r.name
$$;

-- Source rows not yet rolled up and the time of the oldest of them (NULL for a level).
CREATE FUNCTION rollup._pending(r rollup.rollups, OUT pending_rows bigint, OUT oldest_pending timestamptz)
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
            covered := rollup._covered_sql(r);
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

-- Raised from inside the ingest statement when the caller asked for errors on bad events.
CREATE FUNCTION rollup._refuse_event(reason text, event jsonb, state text DEFAULT '23502')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'event rejected: %', reason
        USING ERRCODE = state, DETAIL = 'Event: ' || left(event::text, 1000),
              HINT = 'Pass rejects_table => ''<table with columns reason text, event jsonb>'' to record bad events instead.';
END
$$;

-- The batch statements shared by both ingest functions. source_sql yields the columns `cols`
-- of the batch; with source_once (a DELETE .. RETURNING, a jsonb batch) it is read once, into
-- a CTE that one statement shares, otherwise (a SELECT) by each statement that needs it.
--
-- Every row ends stored, a duplicate or rejected. A row is rejected, before its key is looked
-- at, when a column it gives is NULL where the events table says NOT NULL, when it fails a CHECK
-- constraint of the table (batch columns of the table's types), or when a uniqueness rule exists
-- and its platform is NULL; then when its platform has a rule and the key is missing, or takes
-- more than 2000 bytes (rollup._key_fits). A rejected row is an error naming it, or a row in
-- rejects_table (reason, event). Of the others the first of each rule's key in the batch is
-- inserted (rollup._first_of_key), the rest are duplicates. The insert first runs without ON
-- CONFLICT, which costs about half as much, and only when it meets a stored row with the same
-- key (a unique violation) again with ON CONFLICT DO NOTHING. keys_comparable: the batch's
-- columns have the events table's types, so that a key computed on a batch row is the key its
-- index computes (else, or with BEFORE INSERT row triggers that may change a row, or on Citus,
-- only ON CONFLICT DO NOTHING decides what is a duplicate).
--
-- Any other error that one row can cause (a value its column's type does not take, a foreign
-- key, an index entry too large, a trigger's error: SQLSTATE classes 22, 23 and 54) rolls the
-- batch back; with `parts` the batch is then stored again in parts (rollup._ingest_rows): a row
-- that fails alone is rejected with its error, or without rejects_table its error is raised,
-- naming the row. Errors of the batch as a whole (no such table, permissions, a serialization
-- failure, disk full) are raised.
CREATE FUNCTION rollup._ingest(
    events_table regclass, source_sql text, source_once boolean, cols name[], keys_comparable boolean,
    batch jsonb, rejects_table regclass, parts boolean,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off  -- compiling the long key expressions costs more than it saves
AS $$
DECLARE
    col_list text := rollup._ident_list(cols);
    checks text := '';
    key_checks text := '';
    firsts text := '';
    reasons text;
    key_reasons text;
    keep text;
    rule record;
    c record;
    outcome text;
    reject text;
    key_values text;
    unreadable jsonb;
    total bigint;
    src text := CASE WHEN source_once THEN 'batch' ELSE '(' || source_sql || ')' END;
    rejects_sql text;
    prefix text;
    suffix text := '';
    filtered boolean := keys_comparable AND NOT EXISTS (
        SELECT FROM pg_trigger t  -- ROW (1), BEFORE (2), INSERT (4); a partitioned table's partitions too
        WHERE (t.tgrelid = events_table OR t.tgrelid IN (SELECT relid FROM pg_partition_tree(events_table)))
          AND NOT t.tgisinternal AND t.tgtype & 7 = 7);
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AND filtered THEN
        EXECUTE 'SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO filtered USING events_table;
    END IF;
    -- A reason, or (without rejects_table) the error that names the row: a WHEN .. THEN for each.
    outcome := CASE WHEN rejects_table IS NULL THEN 'rollup._refuse_event(%L, to_jsonb(b), %L)' ELSE '%L' END;
    reject := E'\n    WHEN %s THEN ' || outcome;
    -- Checks of the row's columns.
    FOR c IN SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = events_table AND a.attnotnull AND a.attname = ANY (cols) ORDER BY a.attnum LOOP
        checks := checks || format(reject, format('b.%I IS NULL', c.attname), format('column %s is NULL: it is NOT NULL', c.attname), '23502');
    END LOOP;
    IF keys_comparable THEN
        FOR c IN SELECT k.conname, pg_get_expr(k.conbin, k.conrelid) AS expr FROM pg_constraint k
                 WHERE k.conrelid = events_table AND k.contype = 'c'
                   AND (SELECT bool_and(a.attname = ANY (cols)) FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey))
                 ORDER BY k.conname LOOP
            checks := checks || format(reject, format('NOT coalesce((%s), true)', c.expr), format('check constraint %s fails', c.conname), '23514');
        END LOOP;
    END IF;
    FOR rule IN SELECT * FROM rollup.uniqueness_rules r WHERE r.events_table = _ingest.events_table ORDER BY r.platform LOOP
        IF NOT rule.platform_column = ANY (cols) THEN
            RAISE EXCEPTION 'the batch has no column % for the uniqueness rule of platform %',
                quote_ident(rule.platform_column), quote_literal(rule.platform) USING ERRCODE = '42703';
        END IF;
        IF strpos(checks, format('WHEN b.%I IS NULL THEN', rule.platform_column)) = 0 THEN
            checks := checks || format(reject, format('b.%I IS NULL', rule.platform_column),
                                       format('the platform (column %s) is NULL', rule.platform_column), '23502');
        END IF;
        key_values := (SELECT string_agg(format(E'(\n%s\n)', k), ', ') FROM unnest(rule.keys) k);
        -- (The key computed once: _key_fits is NULL for a missing key, false for one too large.)
        key_checks := key_checks || format(E'\n    WHEN b.%I = %L THEN CASE coalesce(rollup._key_fits(%s)::int, -1) WHEN -1 THEN %s WHEN 0 THEN %s END',
            rule.platform_column, rule.platform, key_values,
            format(outcome, format('platform %s: a key is missing (%s)', rule.platform, array_to_string(rule.keys, ', ')), '23502'),
            format(outcome, format('platform %s: the key (%s) takes more than 2000 bytes', rule.platform, array_to_string(rule.keys, ', ')), '54000'));
        firsts := firsts || format(E'\n    WHEN b.%I = %L THEN rollup._first_of_key(%s)', rule.platform_column, rule.platform, key_values);
    END LOOP;
    reasons := CASE WHEN checks = '' THEN 'NULL::text' ELSE 'CASE' || checks || E'\n    END' END;
    key_reasons := CASE WHEN key_checks = '' THEN 'NULL::text' ELSE 'CASE' || key_checks || E'\n    END' END;
    IF firsts = '' THEN
        filtered := false;
    END IF;
    -- The row's checks come first (a rejected row's key is not remembered); _first_of_key is
    -- NULL for a key that is missing or too large: only then are the key's reasons evaluated.
    keep := CASE WHEN filtered THEN format(E'CASE WHEN %s IS NOT NULL THEN false ELSE coalesce(CASE%s\n    ELSE true END, %s IS NULL) END',
                                           reasons, firsts, key_reasons)
                 ELSE format('coalesce(%s, %s) IS NULL', reasons, key_reasons) END;
    IF rejects_table IS NOT NULL THEN
        PERFORM rollup._check_column(rejects_table, 'reason');
        PERFORM rollup._check_column(rejects_table, 'event');
        rejects_sql := format(E'INSERT INTO %s (reason, event)\n    SELECT r.reason, to_jsonb(b) FROM %s b, LATERAL (SELECT coalesce(%s, %s) AS reason) r\n    WHERE r.reason IS NOT NULL',
                              rejects_table, src, reasons, key_reasons);
    END IF;
    prefix := format(E'INSERT INTO %s (%s) SELECT %s FROM %s b\n    WHERE %s', events_table, col_list, col_list, src, keep);
    IF source_once THEN
        prefix := format(E'WITH batch AS (%s),\n    rejected AS (%s),\n    inserted AS (%s',
                         source_sql, coalesce(rejects_sql || ' RETURNING 1', 'SELECT 1 WHERE false'), prefix);
        suffix := E' RETURNING 1)\nSELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM inserted), (SELECT count(*) FROM rejected)';
    END IF;

    BEGIN
        FOR attempt IN 1..2 LOOP
            CONTINUE WHEN attempt = 1 AND NOT filtered;
            BEGIN
                IF source_once THEN
                    EXECUTE prefix || CASE WHEN attempt = 2 THEN E'\n    ON CONFLICT DO NOTHING' ELSE '' END || suffix
                        INTO total, inserted, rejected USING batch;
                ELSE
                    rejected := 0;
                    IF rejects_sql IS NOT NULL THEN
                        EXECUTE rejects_sql USING batch;
                        GET DIAGNOSTICS rejected = ROW_COUNT;
                    END IF;
                    EXECUTE prefix || CASE WHEN attempt = 2 THEN E'\n    ON CONFLICT DO NOTHING' ELSE '' END USING batch;
                    GET DIAGNOSTICS inserted = ROW_COUNT;
                END IF;
                EXIT;
            EXCEPTION WHEN unique_violation OR exclusion_violation THEN
                IF attempt = 2 THEN
                    RAISE;
                END IF;  -- rolled back: again, with ON CONFLICT
            END;
        END LOOP;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
        IF NOT parts THEN
            RAISE;
        END IF;
        -- A jsonb batch with rejects_table: again, each object read on its own (rollup._read_row);
        -- those that do not read are left out, then rejected with their error.
        IF batch IS NOT NULL AND source_once AND rejects_table IS NOT NULL AND source_sql !~ 'rollup\._read_row' THEN
            PERFORM rollup._unread();
            SELECT x.inserted, x.duplicates, x.rejected INTO inserted, duplicates, rejected
            FROM rollup._ingest(events_table,
                format('SELECT %s FROM (SELECT (y.r).* FROM (SELECT rollup._read_row(x.e, NULL::%s, x.o) AS r FROM jsonb_array_elements($1) WITH ORDINALITY x(e, o)) y
                        WHERE y.r IS DISTINCT FROM NULL) z', col_list, events_table),
                true, cols, keys_comparable, batch, rejects_table, true) x;
            unreadable := rollup._unread()::jsonb;
            EXECUTE format('INSERT INTO %s (reason, event) SELECT format(''%%s (row %%s of the batch)'', u->>1, u->>0), $1 -> ((u->>0)::int - 1)
                            FROM jsonb_array_elements($2) u', rejects_table)
                USING batch, unreadable;
            rejected := rejected + jsonb_array_length(unreadable);
            RETURN;
        END IF;
        -- A row's own error: the batch again, in parts (without rejects_table, to name the row).
        SELECT x.inserted, x.duplicates, x.rejected INTO inserted, duplicates, rejected
        FROM rollup._ingest_rows(events_table, cols,
            CASE WHEN batch IS NOT NULL AND source_once THEN batch
                 ELSE rollup._batch_rows(source_sql, batch) END, rejects_table) x;
        RETURN;
    END;
    IF NOT source_once THEN
        EXECUTE format('SELECT count(*) FROM %s b', src) INTO total USING batch;
    END IF;
    duplicates := total - inserted - rejected;
END
$$;

-- The rows of a batch whose source is a query (its columns; a DELETE .. RETURNING too), as a
-- jsonb array of objects.
CREATE FUNCTION rollup._batch_rows(source_sql text, batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('WITH s AS (%s) SELECT coalesce(jsonb_agg(to_jsonb(s)), ''[]'') FROM s', source_sql) INTO result USING batch;
    RETURN result;
END
$$;

-- A batch that one of its rows made fail (rollup._ingest), stored again: in parts of 100 rows,
-- and a part that fails again row by row; a row that fails alone is rejected with its error
-- and its position in the batch (without rejects_table: its error is raised, naming it).
-- `rows`: the batch as a jsonb array of objects.
CREATE FUNCTION rollup._ingest_rows(events_table regclass, cols name[], rows jsonb, rejects_table regclass,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := jsonb_array_length(rows);
    source_sql text := format('SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1)', rollup._ident_list(cols), events_table);
    part jsonb;
    x record;
    one jsonb;
BEGIN
    inserted := 0; duplicates := 0; rejected := 0;
    FOR start_at IN 0 .. n - 1 BY 100 LOOP
        part := jsonb_path_query_array(rows, format('$[%s to %s]', start_at, least(start_at + 99, n - 1))::jsonpath);
        BEGIN
            SELECT * INTO x FROM rollup._ingest(events_table, source_sql, true, cols, true, part, rejects_table, false);
            inserted := inserted + x.inserted; duplicates := duplicates + x.duplicates; rejected := rejected + x.rejected;
            CONTINUE;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
            NULL;  -- rolled back: row by row
        END;
        FOR i IN 0 .. jsonb_array_length(part) - 1 LOOP
            one := part -> i;
            BEGIN
                SELECT * INTO x FROM rollup._ingest(events_table, source_sql, true, cols, true, jsonb_build_array(one), rejects_table, false);
                inserted := inserted + x.inserted; duplicates := duplicates + x.duplicates; rejected := rejected + x.rejected;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
                IF rejects_table IS NULL THEN
                    RAISE EXCEPTION '%', SQLERRM USING ERRCODE = SQLSTATE,
                        DETAIL = format('Row %s of the batch: %s', start_at + i + 1, left(one::text, 1000)),
                        HINT = 'Pass rejects_table => ''<table with columns reason text, event jsonb>'' to record bad events instead.';
                END IF;
                EXECUTE format('INSERT INTO %s (reason, event) VALUES ($1, $2)', rejects_table)
                    USING format('%s: %s (row %s of the batch)', SQLSTATE, SQLERRM, start_at + i + 1), one;
                rejected := rejected + 1;
            END;
        END LOOP;
    END LOOP;
END
$$;

-- One row per rollup the current user owns; a level shows the runs (and errors) of its chain.
CREATE VIEW rollup.status WITH (security_invoker = true) AS
SELECT r.name, r.mode, r.parent, r.source_table, r.target_table, r.schedule, r.batch_size,
       -- a level is fed up to its base rollup's watermark
       coalesce(p.watermark, (SELECT b.watermark FROM rollup.progress b WHERE b.name = rollup._root(r.name))) AS watermark,
       x.pending_rows, x.oldest_pending, now() - x.oldest_pending AS lag,
       p.last_run_start, p.last_run_end, p.last_run_end - p.last_run_start AS last_duration, p.last_rows,
       CASE WHEN p.last_run_end > p.last_run_start
            THEN round(p.last_rows / extract(epoch FROM p.last_run_end - p.last_run_start))::bigint END AS last_rows_per_second,
       p.total_runs, p.total_rows, p.last_error, p.source_rows_deleted
FROM rollup.rollups r
JOIN rollup.progress p USING (name)
CROSS JOIN LATERAL rollup._pending(r) x;
GRANT SELECT ON rollup.status TO PUBLIC;

-- What a rollup's definition derives from what the user wrote, checked on the way: the
-- bucket expression (from the time column and the width), the names of the dimensions and
-- measures, the measures' merge rules, the sequence behind the id column. create_rollup works
-- with it, and the catalog stores what it returns (rollup._catalog_write), never SQL a caller sent.
CREATE OR REPLACE FUNCTION rollup._derive(r rollup.rollups)
RETURNS rollup.rollups
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    time_type regtype;
    zone text;
    parsed jsonb;
    frag text;
BEGIN
    SELECT atttypid::regtype INTO time_type FROM pg_attribute
    WHERE attrelid = r.source_table AND attname = r.time_column AND attnum > 0 AND NOT attisdropped;
    IF time_type IS NULL THEN
        PERFORM rollup._check_column(r.source_table, r.time_column);
    END IF;
    -- The time zone: a name of the zone database, spelled as it spells it.
    SELECT z.name INTO zone FROM pg_timezone_names z
    WHERE lower(z.name) = lower(coalesce(r.time_zone, 'UTC')) ORDER BY z.name = r.time_zone DESC LIMIT 1;
    IF zone IS NULL THEN
        RAISE EXCEPTION 'time zone "%" is not a time zone name', r.time_zone USING ERRCODE = '22023',
            HINT = 'Use a name from pg_timezone_names, e.g. America/New_York: a name follows its zone''s DST rules, an offset does not.';
    ELSIF zone <> 'UTC' AND time_type = 'timestamp'::regtype THEN
        RAISE EXCEPTION 'column % of % is timestamp without time zone: its values are local times already', quote_ident(r.time_column), r.source_table
            USING ERRCODE = '22023', HINT = 'Leave time_zone unset, or store the time as timestamptz.';
    END IF;
    r.time_zone := zone;
    r.bucket_origin := coalesce(r.bucket_origin, '2000-01-03 00:00');
    IF NOT isfinite(r.bucket_origin) OR date_trunc('second', r.bucket_origin) <> r.bucket_origin THEN
        RAISE EXCEPTION 'origin % is not a whole second', r.bucket_origin USING ERRCODE = '22023';
    END IF;
    r.bucket_sql := rollup._bucket_sql('s.' || quote_ident(r.time_column), time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    IF r.mode = 'level' THEN
        PERFORM rollup._check_nesting(r, p, time_type) FROM rollup.rollups p WHERE p.name = r.parent;
    END IF;

    -- Dimensions: a column, or an expression with AS name.
    r.dimension_names := '{}';
    FOREACH frag IN ARRAY r.dimensions LOOP
        parsed := rollup._parse_fragment(frag, 'dimension');
        IF parsed->>'name' IS NULL THEN
            RAISE EXCEPTION 'dimension "%" needs a name', frag USING ERRCODE = '42601',
                HINT = 'Add AS <column name>, e.g. payload->>''query'' AS query.';
        END IF;
        r.dimension_names := r.dimension_names || (parsed->>'name')::name;
    END LOOP;
    -- Measures: an aggregate call with AS name and a merge rule.
    IF cardinality(r.measures) = 0 THEN
        RAISE EXCEPTION 'a rollup needs at least one measure' USING ERRCODE = '22023';
    END IF;
    r.measure_names := '{}';
    r.merge_rules := '{}';
    FOREACH frag IN ARRAY r.measures LOOP
        parsed := rollup._parse_fragment(frag, 'measure');
        r.merge_rules := r.merge_rules || rollup._merge_rule(frag, parsed, r.mode = 'level');
        r.measure_names := r.measure_names || (parsed->>'name')::name;
    END LOOP;
    IF EXISTS (SELECT FROM unnest(r.dimension_names || r.bucket_column || r.measure_names) c GROUP BY c HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'dimension, bucket and measure names must be distinct: %',
            array_to_string(r.dimension_names || r.bucket_column || r.measure_names, ', ') USING ERRCODE = '42701';
    END IF;

    r.id_sequence := NULL;
    IF r.mode = 'incremental' THEN
        PERFORM rollup._check_column(r.source_table, r.id_column);
        r.id_sequence := pg_get_serial_sequence(r.source_table::text, r.id_column)::regclass;
        IF r.id_sequence IS NULL THEN
            RAISE EXCEPTION 'column % of % is not an identity or serial column', quote_ident(r.id_column), r.source_table
                USING ERRCODE = '22023';
        END IF;
        PERFORM rollup._check_sequence(r.id_sequence);
    END IF;
    RETURN r;
END
$$;

-- The boundary of the query views made by 0.3.0 and before (UTC buckets from 2000-01-03).
CREATE OR REPLACE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL RESTRICTED COST 10000
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollup.view_boundary(fine, fine_bucket, width, fine_window, 'UTC', '2000-01-03 00:00')
$$;

-- A view over a level and the rollup it reads that returns each time range from exactly one
-- of them: the level's rows before a boundary, the finer rows (grouped by the level's
-- dimensions) from there on. The boundary is the first of the level's buckets that the finer
-- rollup holds completely, or, with fine_window, the first that starts within fine_window
-- of now if that is later (fewer, coarser rows to read). Sums and sketch unions over any
-- range are counted once; ranges that start before the boundary are answered at the level's
-- granularity.
CREATE OR REPLACE FUNCTION rollup.create_view(rollup_name text, view_name text, fine_window interval DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    as_fine rollup.rollups;
    qualified text := rollup._qualify(view_name, r.target_table);
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
    IF rollup._distribution_column(r.target_table) IS NOT NULL THEN
        -- On Citus: computed once, on the coordinator (Citus would run the function, which
        -- reads a distributed table, on the workers).
        cte := format(E'WITH boundary AS MATERIALIZED (SELECT %s AS b)\n', boundary);
        boundary := '(SELECT b FROM boundary)';
    END IF;
    -- The finer rows keep their own bucket.
    as_fine := r;
    as_fine.bucket_sql := 's.' || quote_ident(r.time_column);
    EXECUTE format(E'CREATE VIEW %s AS\n%sSELECT %s FROM %s WHERE %I < %s\nUNION ALL\n%s',
        qualified, cte,
        rollup._ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        r.target_table, r.bucket_column, boundary,
        rollup._aggregate_sql(as_fine, format('%s s WHERE s.%I >= %s', r.source_table, r.time_column, boundary), false));
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', qualified, r.bucket_column, rollup._bucket_comment(r));
    -- The view runs the rollup's SQL: it belongs to the rollup's owner, whoever made it.
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER VIEW %s OWNER TO %s', qualified, r.owner);
    END IF;
    PERFORM rollup._create_range_function(r, qualified);
    RETURN qualified::regclass;
END
$$;

-- The range form of query view `view_name` over level r: a function of the same name,
-- view_name(range_start, range_end), whose rows add up to exactly [range_start, range_end)
-- wherever the rollups still hold it: the level's rows for its whole buckets inside the range,
-- the finer rollup's rows for the partial coarse buckets at either end. Column `exact` is false
-- on a row that covers time outside the range: a finer bucket cut by an edge that is not on the
-- finer buckets, or a coarse bucket cut by an edge where retention already deleted the finer rows.
CREATE OR REPLACE FUNCTION rollup._create_range_function(r rollup.rollups, view_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    time_type regtype := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column);
    fine rollup.rollups := (SELECT p FROM rollup.rollups p WHERE p.name = r.parent);
    as_fine rollup.rollups := r;
    start_floor text := rollup._bucket_sql('$1', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    -- the first coarse bucket that starts in the range, and the start of the one it ends in
    a_up text := rollup._bucket_ceil_sql('$1', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    b_down text := rollup._bucket_sql('$2', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    -- where the partial coarse bucket at the end starts, when there is one (a coarse bucket start)
    tail text := format('greatest(%s, %s)', b_down, a_up);
    first_fine text := format('(SELECT min(m.%I) FROM %s m)', r.time_column, r.source_table);
    -- whether the finer rollup still holds the finer buckets from the range's start, from the tail
    fine_start text := rollup._bucket_sql('$1', time_type, fine.bucket_width, fine.time_zone, fine.bucket_origin);
    fine_at_start text := format('coalesce(%s >= %s, false)', fine_start, first_fine);
    fine_at_tail text := format('coalesce(%s >= %s, false)', tail, first_fine);
    columns text := rollup._ident_list(r.dimension_names || r.bucket_column || r.measure_names);
    body text;
    signature text;
BEGIN
    as_fine.bucket_sql := 's.' || quote_ident(r.time_column);
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
        rollup._next_bucket_sql('f.' || quote_ident(r.bucket_column), time_type, fine.bucket_width, fine.time_zone),
        rollup._aggregate_sql(as_fine, format(E'%1$s s\nWHERE (s.%2$I >= %3$s AND s.%2$I < least(%4$s, $2) AND %5$s)\n'
                                              '   OR (s.%2$I >= %6$s AND s.%2$I < $2 AND %7$s)',
                                              r.source_table, r.time_column, fine_start,
                                              a_up, fine_at_start, tail, fine_at_tail), false));
    signature := format(E'%s(range_start %s, range_end %2$s)\nRETURNS TABLE (%s, exact boolean)', view_name, format_type(time_type, NULL),
        (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
         FROM pg_attribute a WHERE a.attrelid = view_name::regclass AND a.attnum > 0 AND NOT a.attisdropped));
    IF rollup._distribution_column(r.target_table) IS NULL THEN
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

-- The one writer of pg_rollup's catalog, run by rollup._write_catalog as the catalog's owner
-- on behalf of role `caller`. `op` says what to change, `args` carries the values (relations
-- and roles as oids):
--   add_rollup       a definition made by rollup.create_rollup (fragments, tables, owner, start_after)
--   drop_rollup      {name}
--   set              {name, schedule | source_grace | target_keep | batch_size}
--   add_measures     {name, measures}: measures appended to the definition
--   run_done         {name, run_start, rows, watermark?, checkpoints?, nodes?}
--   run_failed       {name, error}
--   reset_progress   {name}: back to the sequence's start, nothing deleted by retention
--   retention_done   {name, target, rows}: retention deleted rows of the rollup's source (or target)
--   add_rule         {events_table, platform_column, platform, keys, index_name}
--   drop_rule        {events_table, platform}: returns {index_name}
--   add_ingest_view  {view, events_table, rejects_table}
CREATE OR REPLACE FUNCTION rollup._catalog_write(op text, caller oid, args jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    rel regclass;
    key text;
    idx name;
    constraint_name text;
BEGIN
    IF op IN ('drop_rollup', 'set', 'add_measures', 'run_done', 'run_failed', 'reset_progress', 'retention_done') THEN
        SELECT * INTO r FROM rollup.rollups x WHERE x.name = args->>'name';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'rollup "%" does not exist', args->>'name' USING ERRCODE = '42704';
        END IF;
        PERFORM rollup._check_acts_for(caller, r.owner, format('rollup "%s"', r.name));
    END IF;
    CASE op
    WHEN 'add_rollup' THEN
        r := jsonb_populate_record(NULL::rollup.rollups, args);
        IF r.name IS NULL OR r.name !~ '^[[:alnum:]_.-]{1,63}$' THEN
            RAISE EXCEPTION 'invalid rollup name "%"', r.name USING ERRCODE = '42602';
        END IF;
        PERFORM rollup._check_acts_for(caller, r.owner, format('rollup "%s"', r.name));
        PERFORM rollup._check_owner(r.source_table, r.owner);
        PERFORM rollup._check_owner(r.target_table, r.owner);
        -- A chain has one owner: its runs execute every level's SQL as that role.
        IF r.mode = 'level' AND NOT EXISTS (
                SELECT FROM rollup.rollups p
                WHERE p.name = r.parent AND p.target_table = r.source_table AND p.owner = r.owner) THEN
            RAISE EXCEPTION 'a level of rollup "%" must read its target and belong to its owner', r.parent
                USING ERRCODE = '42501';
        ELSIF r.mode <> 'level' AND EXISTS (SELECT FROM rollup.rollups p WHERE p.target_table = r.source_table) THEN
            RAISE EXCEPTION 'the source of rollup "%" is the target of a rollup; it can only be a level', r.name
                USING ERRCODE = '22023';
        END IF;
        r := rollup._derive(r);
        r.schedule := NULL;
        r.source_grace := NULL;
        r.target_keep := NULL;
        r.created_at := now();
        BEGIN
            INSERT INTO rollup.rollups SELECT r.*;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
            IF constraint_name = 'rollups_pkey' THEN
                RAISE EXCEPTION 'rollup "%" already exists', r.name USING ERRCODE = '42710';
            END IF;
            RAISE EXCEPTION 'table % is already the target of a rollup', r.target_table USING ERRCODE = '42710';
        END;
        INSERT INTO rollup.progress (name, watermark)
        SELECT r.name, CASE WHEN r.mode = 'incremental'
                            THEN coalesce((args->>'start_after')::bigint, (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence)) END;
    WHEN 'drop_rollup' THEN
        DELETE FROM rollup.rollups x WHERE x.name = r.name;
    WHEN 'set' THEN
        UPDATE rollup.rollups x
        SET schedule = CASE WHEN args ? 'schedule' THEN args->>'schedule' ELSE x.schedule END,
            source_grace = CASE WHEN args ? 'source_grace' THEN (args->>'source_grace')::interval ELSE x.source_grace END,
            target_keep = CASE WHEN args ? 'target_keep' THEN (args->>'target_keep')::interval ELSE x.target_keep END,
            batch_size = CASE WHEN args ? 'batch_size' THEN (args->>'batch_size')::bigint ELSE x.batch_size END
        WHERE x.name = r.name;
    WHEN 'add_measures' THEN
        r.measures := r.measures || ARRAY(SELECT jsonb_array_elements_text(args->'measures'));
        r := rollup._derive(r);
        UPDATE rollup.rollups x SET measures = r.measures, measure_names = r.measure_names, merge_rules = r.merge_rules
        WHERE x.name = r.name;
    WHEN 'run_done' THEN
        UPDATE rollup.progress p
        SET watermark = CASE WHEN args ? 'watermark' THEN (args->>'watermark')::bigint ELSE p.watermark END,
            checkpoints = coalesce(args->'checkpoints', p.checkpoints),
            nodes = coalesce(args->'nodes', p.nodes),
            last_run_start = (args->>'run_start')::timestamptz, last_run_end = clock_timestamp(),
            last_rows = (args->>'rows')::bigint, total_runs = p.total_runs + 1,
            total_rows = p.total_rows + (args->>'rows')::bigint, last_error = NULL
        WHERE p.name = r.name;
        -- The levels below ran in the same statement.
        UPDATE rollup.progress p
        SET last_run_start = (args->>'run_start')::timestamptz, last_run_end = clock_timestamp(),
            total_runs = p.total_runs + 1, last_error = NULL
        WHERE p.name IN (SELECT c.name FROM rollup._chain(r.name) c WHERE c.name <> r.name);
    WHEN 'run_failed' THEN
        UPDATE rollup.progress p
        SET last_error = format('%s (at %s)', args->>'error', clock_timestamp()), total_runs = p.total_runs + 1
        WHERE p.name IN (SELECT c.name FROM rollup._chain(r.name) c);
    WHEN 'reset_progress' THEN
        UPDATE rollup.progress p
        SET watermark = (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence), checkpoints = '[]', nodes = '{}'
        WHERE p.name = r.name;
        -- The chain is recomputed from what its source holds now.
        UPDATE rollup.progress p SET source_rows_deleted = 0 WHERE p.name IN (SELECT c.name FROM rollup._chain(r.name) c);
    WHEN 'retention_done' THEN
        -- `rows` were deleted from r's source (target: from its target): every rollup reading that
        -- table had aggregated them.
        UPDATE rollup.progress p SET source_rows_deleted = p.source_rows_deleted + (args->>'rows')::bigint
        WHERE p.name IN (SELECT x.name FROM rollup.rollups x
                         WHERE x.source_table = CASE WHEN (args->>'target')::boolean THEN r.target_table ELSE r.source_table END);
    WHEN 'add_rule' THEN
        rel := (args->>'events_table')::oid;
        PERFORM rollup._check_owner(rel, caller);
        PERFORM rollup._check_column(rel, args->>'platform_column');
        IF jsonb_typeof(args->'keys') IS DISTINCT FROM 'array' OR jsonb_array_length(args->'keys') = 0 THEN
            RAISE EXCEPTION 'a uniqueness rule needs at least one key' USING ERRCODE = '22023';
        END IF;
        FOR key IN SELECT jsonb_array_elements_text(args->'keys') LOOP
            PERFORM rollup._parse_fragment(key, 'key');
        END LOOP;
        BEGIN
            INSERT INTO rollup.uniqueness_rules (events_table, platform_column, platform, keys, index_name)
            VALUES (rel, args->>'platform_column', args->>'platform',
                    ARRAY(SELECT jsonb_array_elements_text(args->'keys')), args->>'index_name');
        EXCEPTION WHEN unique_violation THEN
            RAISE EXCEPTION 'table % already has a uniqueness rule for platform %', rel, quote_literal(args->>'platform')
                USING ERRCODE = '42710', HINT = 'Drop it first with rollup.drop_uniqueness_rule.';
        END;
    WHEN 'drop_rule' THEN
        rel := (args->>'events_table')::oid;
        PERFORM rollup._check_owner(rel, caller);
        DELETE FROM rollup.uniqueness_rules u WHERE u.events_table = rel AND u.platform = args->>'platform'
        RETURNING u.index_name INTO idx;
        IF idx IS NULL THEN
            RAISE EXCEPTION 'table % has no uniqueness rule for platform %', rel, quote_literal(args->>'platform')
                USING ERRCODE = '42704';
        END IF;
        RETURN jsonb_build_object('index_name', idx);
    WHEN 'add_ingest_view' THEN
        FOREACH rel IN ARRAY ARRAY[(args->>'view')::oid, (args->>'events_table')::oid, (args->>'rejects_table')::oid] LOOP
            IF rel IS NOT NULL THEN
                PERFORM rollup._check_owner(rel, caller);
            END IF;
        END LOOP;
        INSERT INTO rollup.ingest_views (view, events_table, rejects_table)
        VALUES ((args->>'view')::oid, (args->>'events_table')::oid, (args->>'rejects_table')::oid);
    ELSE
        RAISE EXCEPTION 'unknown catalog change "%"', op USING ERRCODE = '22023';
    END CASE;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION rollup._catalog_write(text, oid, jsonb) FROM PUBLIC;

-- What rollup._as_owner runs as the rollup's owner: `action` of rollup `rollup_name`, read
-- from the catalog. Only the owner may run it, so that a superuser or a member cannot run the
-- owner's SQL with privileges of their own by calling it directly.
--   run            one bounded step (rollup._run_once), arg: how long to wait for writers (ms)
--   verify         the differences between the stored rows and a recomputation, arg: {from, to}
--                  (rollup._verify), as a jsonb array
--   reset          empty the chain's targets and recompute them (rollup._reset)
--   validate       plan the statements of a run, aggregating nothing
--   fill           a new level: aggregate what its source already holds
--   retain_source  one batch (arg rows) of source retention; retain_target: of target retention
--   explain        the plans of the next run, a line each
--   load           rows shaped like the target, from the query in arg, into the chain (rollup._load)
--   add_measures   the measures in arg (an array) added and filled (rollup._add_measures)
CREATE OR REPLACE FUNCTION rollup._owner_action(rollup_name text, action text, arg jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    n bigint;
BEGIN
    IF r.owner::oid <> current_user::regrole::oid THEN
        RAISE EXCEPTION 'rollup "%" runs as its owner, role %', r.name, r.owner USING ERRCODE = '42501',
            HINT = 'Use rollup.run, rollup.catch_up, rollup.reset or rollup.apply_retention.';
    END IF;
    CASE action
    WHEN 'run' THEN
        RETURN rollup._run_once(r, arg::int);
    WHEN 'verify' THEN
        RETURN (SELECT coalesce(jsonb_agg(to_jsonb(v)), '[]') FROM rollup._verify(r, (arg->>'from')::timestamptz, (arg->>'to')::timestamptz) v);
    WHEN 'reset' THEN
        RETURN rollup._reset(r);
    WHEN 'validate' THEN
        PERFORM rollup._run_chain(r, NULL, NULL, validate => true);
    WHEN 'fill' THEN
        -- Runs of the chain wait meanwhile.
        PERFORM pg_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup._root(r.name)));
        RETURN rollup._run_chain(r, NULL, NULL);
    WHEN 'retain_source', 'retain_target' THEN
        n := rollup._retention_batch(r, action = 'retain_target', arg::bigint);
        PERFORM rollup._write_catalog('retention_done', jsonb_build_object('name', r.name, 'target', action = 'retain_target', 'rows', n));
        RETURN n;
    WHEN 'load' THEN
        RETURN rollup._load(r, arg #>> '{}');
    WHEN 'add_measures' THEN
        RETURN rollup._add_measures(r, ARRAY(SELECT jsonb_array_elements_text(arg)));
    WHEN 'explain' THEN
        RETURN (SELECT string_agg(line, E'\n') FROM rollup._explain(r) line);
    ELSE
        RAISE EXCEPTION 'unknown rollup action "%"', action USING ERRCODE = '22023';
    END CASE;
    RETURN NULL;
END
$$;

-- Aggregates every source row not yet rolled up (at most batch_size of them when the rollup
-- has one) and returns how many; 0 when another run of the rollup is in progress. A level
-- runs the base rollup of its chain, which feeds it. max_wait bounds how long to wait for
-- writers still inserting rows below the current sequence value; rows they may commit are
-- left for a later run. The run executes as the rollup's owner, whoever calls it. An error is
-- kept in rollup.status (last_error) although the caller's transaction is rolled back, and raised.
CREATE OR REPLACE FUNCTION rollup.run(rollup_name text, max_wait interval DEFAULT '1 second')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    err text;
    err_state text;
BEGIN
    -- Parameters first: a bad max_wait is reported as such, whichever rollup is named.
    IF max_wait IS NULL OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_wait must be a non-negative interval' USING ERRCODE = '22023';
    END IF;
    r := rollup._get(coalesce(rollup._root(rollup_name), rollup_name));
    RETURN coalesce(rollup._as_owner(r.name, 'run', to_jsonb(least(extract(epoch FROM max_wait) * 1000, 3600000)::int))::bigint, 0);
EXCEPTION WHEN OTHERS THEN
    -- The caller's transaction is rolled back: the error is kept by a transaction of its own
    -- (src/rollups/run_errors.rs), for a role that may act for the rollup.
    IF r.name IS NOT NULL AND pg_has_role(r.owner, 'USAGE') THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        PERFORM rollup._record_run_error(r.name, format('%s: %s', err_state, err));
    END IF;
    RAISE;
END
$$;

-- One bounded step of a base rollup; rows processed, or NULL when another run of the same
-- rollup holds it (the caller returns at once instead of queueing behind it).
CREATE OR REPLACE FUNCTION rollup._run_once(r rollup.rollups, wait_ms int)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    p rollup.progress;
    started timestamptz := clock_timestamp();
    bound jsonb;
    upper_id bigint;
    kept jsonb;
    node text;
    nodes jsonb := '{}';
    lo bigint;
    hi bigint;
    n bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'rollup.run needs READ COMMITTED isolation, not %', current_setting('transaction_isolation')
            USING ERRCODE = '25000', DETAIL = 'Each step reads with a fresh snapshot taken after in-flight writers ended.';
    END IF;
    -- One run per rollup at a time; a concurrent run returns at once.
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_rollup'), hashtext(r.name)) THEN
        RETURN NULL;
    END IF;
    -- (The lock above keeps other runs out until this transaction ends.)
    SELECT * INTO p FROM rollup.progress WHERE name = r.name;

    IF r.mode = 'flush' THEN
        n := rollup._run_chain(r, NULL, NULL);
    ELSE
        bound := rollup._safe_id(r.id_sequence, r.source_table, wait_ms, p.checkpoints);
        kept := bound->'checkpoints';
        upper_id := rollup._batch_end(r, p.watermark, (bound->>'safe')::bigint);
        n := 0;
        IF upper_id > p.watermark THEN
            n := rollup._run_chain(r, p.watermark, upper_id);
        END IF;
        -- On Citus, rows written through the other nodes, each in its node's own range of ids,
        -- in the same transaction.
        FOR node, bound IN SELECT * FROM jsonb_each(rollup._node_bounds(r, p.nodes, wait_ms)) LOOP
            lo := coalesce((p.nodes->node->>'watermark')::bigint, node::bigint << 48);
            hi := rollup._batch_end(r, lo, (bound->>'safe')::bigint);
            IF hi > lo THEN
                n := n + rollup._run_chain(r, lo, hi);
            END IF;
            nodes := nodes || jsonb_build_object(node, jsonb_build_object('watermark', hi, 'checkpoints', bound->'checkpoints'));
        END LOOP;
    END IF;
    PERFORM rollup._write_catalog('run_done', jsonb_strip_nulls(jsonb_build_object('name', r.name, 'run_start', started,
        'rows', n, 'watermark', upper_id, 'checkpoints', CASE WHEN r.mode = 'incremental' THEN kept END,
        'nodes', CASE WHEN r.mode = 'incremental' THEN nodes END)));
    RETURN n;
END
$$;

-- The work of rollup.verify, as the rollup's owner.
CREATE OR REPLACE FUNCTION rollup._verify(r rollup.rollups, range_start timestamptz, range_end timestamptz,
    OUT bucket timestamptz, OUT dimensions jsonb, OUT measure text, OUT stored text, OUT recomputed text)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    utc boolean := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.target_table AND attname = r.bucket_column) = 'timestamp'::regtype;
    in_range text := CASE WHEN utc THEN '%1$s >= coalesce($1 AT TIME ZONE ''UTC'', ''-infinity'') AND %1$s < coalesce($2 AT TIME ZONE ''UTC'', ''infinity'')'
                          ELSE '%1$s >= coalesce($1, ''-infinity'') AND %1$s < coalesce($2, ''infinity'')' END;
    cols text := rollup._ident_list(r.dimension_names || r.bucket_column || r.measure_names);
    keys text := rollup._ident_list(r.dimension_names || r.bucket_column);
    source_sql text;
    picks text := '';
    comparisons text := '';
    m int;
BEGIN
    IF r.mode = 'flush' THEN
        RAISE EXCEPTION 'a flush rollup cannot be verified: its source rows were consumed' USING ERRCODE = '55000';
    END IF;
    source_sql := format('%s s WHERE %s', r.source_table, format(in_range, r.bucket_sql));
    IF r.mode = 'incremental' THEN
        source_sql := source_sql || ' AND ' || rollup._covered_sql(r);
    END IF;
    FOR m IN 1 .. cardinality(r.measure_names) LOOP
        picks := picks || format(', (array_agg(%1$I) FILTER (WHERE side))[1] AS "pg_rollup stored %2$s"'
                                 ', (array_agg(%1$I) FILTER (WHERE NOT side))[1] AS "pg_rollup recomputed %2$s"', r.measure_names[m], m);
        comparisons := comparisons || CASE WHEN m > 1 THEN ', ' ELSE '' END || format(
            CASE r.merge_rules[m]
                WHEN 'hll_union' THEN '(%1$L, round(hll_cardinality(%2$s))::text, round(hll_cardinality(%3$s))::text, %2$s::text IS NOT DISTINCT FROM %3$s::text)'
                WHEN 'topn_union' THEN '(%1$L, topn_total(%2$s)::text, topn_total(%3$s)::text, topn_total(%2$s) IS NOT DISTINCT FROM topn_total(%3$s))'
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
        rollup._aggregate_sql(r, source_sql, false), comparisons)
        USING range_start, range_end;
END
$$;

-- The definition of a rollup the current user may see, or an error.
CREATE OR REPLACE FUNCTION rollup._get(rollup_name text)
RETURNS rollup.rollups
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    worker boolean;
BEGIN
    SELECT * INTO r FROM rollup.rollups WHERE name = rollup_name;
    IF r.name IS NULL THEN
        IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
            EXECUTE 'SELECT groupid > 0 FROM pg_catalog.pg_dist_local_group' INTO worker;
        END IF;
        IF worker THEN
            RAISE EXCEPTION 'rollup "%" does not exist', rollup_name USING ERRCODE = '42704',
                HINT = 'This is a Citus worker: rollups are defined, run and shown on the coordinator.';
        END IF;
        RAISE EXCEPTION 'rollup "%" does not exist', rollup_name USING ERRCODE = '42704';
    END IF;
    RETURN r;
END
$$;

-- Moves every row of staging_table into events_table, skipping duplicates. The staging rows
-- are deleted in the same statement (a temporary table, which no other session can write, is
-- read by several statements and emptied with TRUNCATE after them), unless keep_staging.
CREATE OR REPLACE FUNCTION rollup.ingest(
    events_table regclass, staging_table regclass, rejects_table regclass DEFAULT NULL,
    keep_staging boolean DEFAULT false,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols name[];
    extra text;
    col_list text;
    same_types boolean;
    temporary boolean;
BEGIN
    IF events_table IS NULL OR staging_table IS NULL THEN
        RAISE EXCEPTION 'events_table and staging_table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(s.attname ORDER BY s.attnum) FILTER (WHERE e.attname IS NOT NULL),
           string_agg(quote_ident(s.attname), ', ') FILTER (WHERE e.attname IS NULL),
           bool_and(s.atttypid = e.atttypid AND s.atttypmod = e.atttypmod)
    INTO cols, extra, same_types
    FROM pg_attribute s
    LEFT JOIN pg_attribute e ON e.attrelid = events_table AND e.attname = s.attname AND e.attnum > 0
                               AND NOT e.attisdropped AND e.attgenerated = ''
    WHERE s.attrelid = staging_table AND s.attnum > 0 AND NOT s.attisdropped;
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'staging table % has columns that % does not have (or are generated): %', staging_table, events_table, extra
            USING ERRCODE = '42703';
    END IF;
    IF cols IS NULL THEN
        RAISE EXCEPTION 'staging table % has no columns', staging_table USING ERRCODE = '42703';
    END IF;
    col_list := rollup._ident_list(cols);
    temporary := (SELECT c.relpersistence = 't' FROM pg_class c WHERE c.oid = staging_table);
    -- A table that other sessions may write is read by one statement (one snapshot).
    SELECT i.inserted, i.duplicates, i.rejected INTO inserted, duplicates, rejected
    FROM rollup._ingest(events_table,
        CASE WHEN keep_staging OR temporary THEN format('SELECT %s FROM %s', col_list, staging_table)
             ELSE format('DELETE FROM %s RETURNING %s', staging_table, col_list) END,
        NOT temporary, cols, same_types, NULL, rejects_table, true) i;
    IF temporary AND NOT keep_staging THEN
        EXECUTE format('TRUNCATE %s', staging_table);
    END IF;
END
$$;

-- Inserts a jsonb array of row objects ({column: value}) into events_table, skipping
-- duplicates. Keys that are not columns of the table are an error; a column missing from
-- an object is NULL in that row.
CREATE OR REPLACE FUNCTION rollup.ingest_json(
    events_table regclass, events jsonb, rejects_table regclass DEFAULT NULL,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols name[];
    extra text;
BEGIN
    IF events_table IS NULL OR events IS NULL THEN
        RAISE EXCEPTION 'events_table and events must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(events) <> 'array' THEN
        RAISE EXCEPTION 'events must be a jsonb array of objects, not %', jsonb_typeof(events) USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM jsonb_array_elements(events) e WHERE jsonb_typeof(e) <> 'object') THEN
        RAISE EXCEPTION 'every element of events must be a jsonb object' USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(k.key::name ORDER BY k.key) FILTER (WHERE a.attname IS NOT NULL),
           string_agg(quote_ident(k.key), ', ') FILTER (WHERE a.attname IS NULL)
    INTO cols, extra
    FROM (SELECT DISTINCT jsonb_object_keys(e) AS key FROM jsonb_array_elements(events) e) k
    LEFT JOIN pg_attribute a ON a.attrelid = events_table AND a.attname = k.key AND a.attnum > 0
                               AND NOT a.attisdropped AND a.attgenerated = '';
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'events have keys that are not columns of %: %', events_table, extra USING ERRCODE = '42703';
    END IF;
    IF cols IS NULL THEN
        inserted := 0; duplicates := 0; rejected := 0;
        RETURN;
    END IF;
    SELECT i.inserted, i.duplicates, i.rejected INTO inserted, duplicates, rejected
    FROM rollup._ingest(events_table,
        format('SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1)',
               rollup._ident_list(cols),
               events_table),
        true, cols, true, events, rejects_table, true) i;
END
$$;
