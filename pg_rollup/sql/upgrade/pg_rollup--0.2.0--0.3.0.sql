-- pg_rollup 0.2.0 -> 0.3.0
-- The catalog is a trust boundary (docs/security.md): the catalog tables are SELECT-only for
-- PUBLIC and every change goes through rollup._catalog_write, which the gate
-- rollup._write_catalog runs as the catalog's owner after checking that the caller may act for
-- every table and rollup the change names; whatever executes a rollup's SQL (runs, catch-up,
-- reset, retention, the plans of explain_run) runs as the rollup's owner through the gate
-- rollup._as_owner; a level belongs to the owner of its chain; the sql_drop event trigger runs as
-- the catalog's owner, and the policies that showed rows of dropped tables to every role are gone;
-- rollup.schedule by a superuser creates the job as the rollup's owner.
-- rollup.reset refuses to lose rows retention deleted (rollup.progress.source_rows_deleted,
-- rollup.status) unless force; rollup.create_rollup refuses a target that holds rows unless
-- start_after says where it starts; rollup.create_view also makes the view's range form (a
-- function of the same name, exact for any range the rollups still hold); an id column that takes
-- explicit values is refused unless allow_explicit_ids; rollup.verify lists the differences
-- between a rollup and a recomputation from its source; rollup.load_history loads rows of an
-- earlier rollup into a chain, levels included.

REVOKE INSERT, UPDATE, DELETE ON rollup.rollups, rollup.progress FROM PUBLIC;
REVOKE INSERT, DELETE ON rollup.uniqueness_rules, rollup.ingest_views FROM PUBLIC;
DROP POLICY rollups_of_dropped_tables ON rollup.rollups;
DROP POLICY rules_of_dropped_tables ON rollup.uniqueness_rules;
DROP POLICY delete_rules_of_dropped_tables ON rollup.uniqueness_rules;
DROP POLICY delete_dropped_views ON rollup.ingest_views;
DROP POLICY owner_only ON rollup.ingest_views;
DROP POLICY readable ON rollup.ingest_views;
CREATE POLICY readable ON rollup.ingest_views FOR SELECT
    USING (pg_catalog.has_table_privilege(view, 'INSERT'));
CREATE POLICY readers_of_own_tables ON rollup.rollups FOR SELECT
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = source_table), 'USAGE'));

CREATE FUNCTION rollup."_write_catalog"("op" TEXT, "args" jsonb) RETURNS jsonb
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'write_catalog_wrapper';
CREATE FUNCTION rollup."_as_owner"("rollup_name" TEXT, "action" TEXT, "arg" jsonb DEFAULT NULL) RETURNS TEXT
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'as_owner_wrapper';

DROP FUNCTION rollup._check_owner(regclass);
DROP FUNCTION rollup.reset(text);
DROP FUNCTION rollup._chain_sql(text, text, text);
DROP FUNCTION rollup.create_rollup(text, regclass, text, name, interval, text[], text[], text, name, bigint, name);
ALTER TABLE rollup.progress ADD COLUMN source_rows_deleted bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN rollup.progress.source_rows_deleted IS
    'rows that retention deleted from the source after this rollup had aggregated them, since its last reset: what a reset would lose';

-- Raises unless role `member` (by default the current user) may act as the owner of the table.
CREATE FUNCTION rollup._check_owner(rel regclass, member oid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_class c
                   WHERE c.oid = rel AND pg_has_role(coalesce(member, current_user::regrole::oid), c.relowner, 'USAGE')) THEN
        RAISE EXCEPTION 'must be owner of table %', rel USING ERRCODE = '42501';
    END IF;
END
$$;

-- Raises unless `member` has the privileges of `role` (is it, a member of it, or a superuser).
CREATE FUNCTION rollup._check_acts_for(member oid, role regrole, what text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF member IS NULL OR role IS NULL OR NOT pg_has_role(member, role, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for %', what USING ERRCODE = '42501',
            DETAIL = format('Role %s does not have the privileges of role %s.', member::regrole, role);
    END IF;
END
$$;

-- The one writer of pg_rollup's catalog, run by rollup._write_catalog as the catalog's owner
-- on behalf of role `caller`. `op` says what to change, `args` carries the values (relations
-- and roles as oids):
--   add_rollup       a definition made by rollup.create_rollup (fragments, tables, owner, start_after)
--   drop_rollup      {name}
--   set              {name, schedule | source_grace | target_keep}
--   run_done         {name, run_start, rows, watermark?, checkpoints?}
--   run_failed       {name, error}
--   reset_progress   {name}: back to the sequence's start, nothing deleted by retention
--   retention_done   {name, target, rows}: retention deleted rows of the rollup's source (or target)
--   add_rule         {events_table, platform_column, platform, keys, index_name}
--   drop_rule        {events_table, platform}: returns {index_name}
--   add_ingest_view  {view, events_table, rejects_table}
CREATE FUNCTION rollup._catalog_write(op text, caller oid, args jsonb)
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
    IF op IN ('drop_rollup', 'set', 'run_done', 'run_failed', 'reset_progress', 'retention_done') THEN
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
            target_keep = CASE WHEN args ? 'target_keep' THEN (args->>'target_keep')::interval ELSE x.target_keep END
        WHERE x.name = r.name;
    WHEN 'run_done' THEN
        UPDATE rollup.progress p
        SET watermark = CASE WHEN args ? 'watermark' THEN (args->>'watermark')::bigint ELSE p.watermark END,
            checkpoints = coalesce(args->'checkpoints', p.checkpoints),
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
        SET watermark = (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence), checkpoints = '[]'
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
CREATE FUNCTION rollup._owner_action(rollup_name text, action text, arg jsonb)
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
    WHEN 'explain' THEN
        RETURN (SELECT string_agg(line, E'\n') FROM rollup._explain(r) line);
    ELSE
        RAISE EXCEPTION 'unknown rollup action "%"', action USING ERRCODE = '22023';
    END CASE;
    RETURN NULL;
END
$$;

-- What a rollup's definition derives from what the user wrote, checked on the way: the
-- bucket expression (from the time column and the width), the names of the dimensions and
-- measures, the measures' merge rules, the sequence behind the id column. create_rollup works
-- with it, and the catalog stores what it returns (rollup._catalog_write), never SQL a caller sent.
CREATE FUNCTION rollup._derive(r rollup.rollups)
RETURNS rollup.rollups
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    time_type regtype;
    parsed jsonb;
    frag text;
BEGIN
    SELECT atttypid::regtype INTO time_type FROM pg_attribute
    WHERE attrelid = r.source_table AND attname = r.time_column AND attnum > 0 AND NOT attisdropped;
    IF time_type IS NULL THEN
        PERFORM rollup._check_column(r.source_table, r.time_column);
    END IF;
    r.bucket_sql := rollup._bucket_sql('s.' || quote_ident(r.time_column), time_type, r.bucket_width);

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

-- The plans of what the next run of base rollup r executes.
CREATE FUNCTION rollup._explain(r rollup.rollups)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    statement text;
    w bigint := (SELECT p.watermark FROM rollup.progress p WHERE p.name = r.name);
BEGIN
    FOREACH statement IN ARRAY rollup._run_statements(r) LOOP
        RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || statement USING w, CASE WHEN r.mode = 'flush' THEN r.batch_size ELSE w END;
    END LOOP;
END
$$;

-- The work of rollup.reset.
CREATE FUNCTION rollup._reset(r rollup.rollups)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    t regclass;
BEGIN
    PERFORM rollup._lock_chain(r.name);
    FOR t IN SELECT c.target_table FROM rollup._chain(r.name) c LOOP
        EXECUTE format('DELETE FROM %s', t);
    END LOOP;
    PERFORM rollup._write_catalog('reset_progress', jsonb_build_object('name', r.name));
    IF r.mode = 'level' THEN
        RETURN rollup._run_chain(r, NULL, NULL);
    END IF;
    r.batch_size := NULL;
    RETURN rollup._run_once(r, 3600000);
END
$$;

-- Empties a rollup's target (and the levels it feeds) and recomputes it from the rows its
-- source still holds, as the rollup's owner. Returns the number of source rows aggregated.
-- Refused when retention has deleted source rows the rollup had aggregated (they would be lost),
-- unless force.
CREATE FUNCTION rollup.reset(rollup_name text, force boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    lost bigint := (SELECT p.source_rows_deleted FROM rollup.progress p WHERE p.name = r.name);
BEGIN
    IF r.mode = 'flush' THEN
        RAISE EXCEPTION 'a flush rollup cannot be reset: its source rows were consumed' USING ERRCODE = '55000';
    END IF;
    IF lost > 0 AND NOT force THEN
        RAISE EXCEPTION 'resetting rollup "%" would lose % rows: retention deleted them from its source %', r.name, lost, r.source_table
            USING ERRCODE = '55000',
                  DETAIL = 'A reset recomputes the rollup and the levels below it from the rows its source still holds.',
                  HINT = format('To recompute it from what is left, run rollup.reset(%L, force => true).', r.name);
    END IF;
    RETURN rollup._as_owner(r.name, 'reset')::bigint;
END
$$;

-- Whether a table holds a row.
CREATE FUNCTION rollup._has_rows(rel regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', rel) INTO found;
    RETURN found;
END
$$;

-- An id column that takes explicit values (GENERATED BY DEFAULT, serial) can receive an id at or
-- below a rollup's watermark, which no run will read: refused unless allowed, then a warning.
CREATE FUNCTION rollup._check_explicit_ids(rel regclass, id_column name, allowed boolean)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    identity "char" := (SELECT a.attidentity FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = id_column);
    kind text := CASE identity WHEN 'a' THEN NULL WHEN 'd' THEN 'GENERATED BY DEFAULT' ELSE 'serial' END;
BEGIN
    IF kind IS NULL THEN
        RETURN;
    ELSIF NOT coalesce(allowed, false) THEN
        RAISE EXCEPTION 'column % of % is % and takes explicit ids', quote_ident(id_column), rel, kind
            USING ERRCODE = '55000',
                  DETAIL = 'A row inserted with an explicit id at or below the rollup''s watermark would never be rolled up.',
                  HINT = CASE WHEN identity = 'd' THEN format('ALTER TABLE %s ALTER COLUMN %I SET GENERATED ALWAYS; ', rel, id_column)
                              ELSE 'Make it an identity column (GENERATED ALWAYS AS IDENTITY (CACHE 1)), ' END
                         || 'or pass allow_explicit_ids => true to accept that rule.';
    END IF;
    RAISE WARNING 'column % of % is %: rows inserted with an explicit id at or below the watermark are never rolled up',
        quote_ident(id_column), rel, kind;
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
    allow_explicit_ids boolean DEFAULT false)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    parent_r rollup.rollups;
    target regclass;
    created boolean;
    parent_width numeric;
    width_ok boolean;
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
        -- Every coarse bucket must be a whole number of source buckets.
        parent_width := extract(epoch FROM parent_r.bucket_width);
        IF extract(month FROM parent_r.bucket_width) + extract(year FROM parent_r.bucket_width) > 0 THEN
            width_ok := bucket_width = parent_r.bucket_width
                        OR (parent_r.bucket_width = interval '1 month' AND bucket_width = interval '1 year');
        ELSIF extract(month FROM bucket_width) + extract(year FROM bucket_width) > 0 THEN
            width_ok := 86400 % parent_width = 0;
        ELSE
            width_ok := extract(epoch FROM bucket_width) % parent_width = 0;
        END IF;
        IF NOT width_ok THEN
            RAISE EXCEPTION 'bucket width % is not a whole number of the source''s % buckets', bucket_width, parent_r.bucket_width
                USING ERRCODE = '22023';
        END IF;
    ELSE
        r.mode := coalesce(mode, 'incremental');
        IF r.mode NOT IN ('incremental', 'flush') THEN
            RAISE EXCEPTION 'mode must be incremental or flush, not "%"', r.mode USING ERRCODE = '22023';
        END IF;
        IF time_column IS NULL THEN
            RAISE EXCEPTION 'time_column is required' USING ERRCODE = '22004';
        END IF;
        r.time_column := time_column;
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

-- The start of the bucket of width `width` after the one that starts at `bucket_sql` (UTC
-- arithmetic for timestamptz, as the buckets are UTC).
CREATE FUNCTION rollup._next_bucket_sql(bucket_sql text, time_type regtype, width interval)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN time_type = 'timestamptz'::regtype
                THEN format('((%s) AT TIME ZONE ''UTC'' + %L::interval) AT TIME ZONE ''UTC''', bucket_sql, width)
                ELSE format('((%s) + %L::interval)', bucket_sql, width) END
$$;

-- The first bucket of width `width` that starts at or after `time_sql`.
CREATE FUNCTION rollup._bucket_ceil_sql(time_sql text, time_type regtype, width interval)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(CASE WHEN %1$s = %2$s THEN %2$s ELSE %3$s END)', floor_sql, time_sql,
                  rollup._next_bucket_sql(floor_sql, time_type, width))
    FROM (SELECT rollup._bucket_sql(time_sql, time_type, width) AS floor_sql) f
$$;

-- The range form of query view `view_name` over level r: a function of the same name,
-- view_name(range_start, range_end), whose rows add up to exactly [range_start, range_end)
-- wherever the rollups still hold it: the level's rows for its whole buckets inside the range,
-- the finer rollup's rows for the partial coarse buckets at either end. Column `exact` is false
-- on a row that covers time outside the range: a finer bucket cut by an edge that is not on the
-- finer buckets, or a coarse bucket cut by an edge where retention already deleted the finer rows.
CREATE FUNCTION rollup._create_range_function(r rollup.rollups, view_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    time_type regtype := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column);
    fine_width interval := (SELECT p.bucket_width FROM rollup.rollups p WHERE p.name = r.parent);
    as_fine rollup.rollups := r;
    start_floor text := rollup._bucket_sql('$1', time_type, r.bucket_width);
    -- the first coarse bucket that starts in the range, and the start of the one it ends in
    a_up text := rollup._bucket_ceil_sql('$1', time_type, r.bucket_width);
    b_down text := rollup._bucket_sql('$2', time_type, r.bucket_width);
    -- where the partial coarse bucket at the end starts, when there is one (a coarse bucket start)
    tail text := format('greatest(%s, %s)', b_down, a_up);
    first_fine text := format('(SELECT min(m.%I) FROM %s m)', r.time_column, r.source_table);
    -- whether the finer rollup still holds the finer buckets from the range's start, from the tail
    fine_at_start text := format('coalesce(%s >= %s, false)', rollup._bucket_sql('$1', time_type, fine_width), first_fine);
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
        rollup._next_bucket_sql('f.' || quote_ident(r.bucket_column), time_type, fine_width),
        rollup._aggregate_sql(as_fine, format(E'%1$s s\nWHERE (s.%2$I >= %3$s AND s.%2$I < least(%4$s, $2) AND %5$s)\n'
                                              '   OR (s.%2$I >= %6$s AND s.%2$I < $2 AND %7$s)',
                                              r.source_table, r.time_column, rollup._bucket_sql('$1', time_type, fine_width),
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

-- Holds the chain of rollup_name (its base rollup's run lock) until the transaction ends, or
-- raises when a run holds it.
CREATE FUNCTION rollup._lock_chain(rollup_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup._root(rollup_name))) THEN
        RAISE EXCEPTION 'rollup "%" is running', rollup._root(rollup_name) USING ERRCODE = '55006';
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
    SELECT v.* FROM jsonb_to_recordset(rollup._as_owner((rollup._get(rollup_name)).name, 'verify',
                                                        jsonb_build_object('from', range_start, 'to', range_end))::jsonb)
        AS v(bucket timestamptz, dimensions jsonb, measure text, stored text, recomputed text)
$$;

-- The work of rollup.verify, as the rollup's owner.
CREATE FUNCTION rollup._verify(r rollup.rollups, range_start timestamptz, range_end timestamptz,
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
    watermark bigint := (SELECT p.watermark FROM rollup.progress p WHERE p.name = r.name);
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
        source_sql := source_sql || format(' AND s.%I <= $3', r.id_column);
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
        USING range_start, range_end, watermark;
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

-- Loads rows shaped like rollup `rollup_name`'s target (dimensions, bucket and measures, by
-- name), from `query`, into the target and every level below it, in one statement, merging them
-- as a run merges its delta; returns how many rows it read. For history the rollup does not
-- aggregate itself (rows of an earlier rollup, before the watermark create_rollup started after).
CREATE FUNCTION rollup.load_history(rollup_name text, query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
BEGIN
    IF query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF rollup._distribution_column(r.target_table) IS NOT NULL THEN
        RAISE EXCEPTION 'rollup.load_history does not load distributed rollups' USING ERRCODE = '0A000',
            HINT = 'INSERT the rows into the target of each level with INSERT .. ON CONFLICT.';
    END IF;
    RETURN rollup._as_owner(r.name, 'load', to_jsonb(query))::bigint;
END
$$;

-- The work of rollup.load_history: the rows of `query` are grouped by the target's key, each
-- measure merged by its rule (sum, min, max, bool_and, bool_or, hll_union_agg, topn_union_agg).
CREATE FUNCTION rollup._load(r rollup.rollups, query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    given rollup.rollups := r;
    n bigint;
BEGIN
    PERFORM rollup._lock_chain(r.name);
    given.dimensions := ARRAY(SELECT 's.' || quote_ident(d) || ' AS ' || quote_ident(d) FROM unnest(r.dimension_names) d);
    given.bucket_sql := 's.' || quote_ident(r.bucket_column);
    given.measures := ARRAY(
        SELECT format('%s(s.%I) AS %2$I', CASE u.rule WHEN 'add' THEN 'sum' WHEN 'least' THEN 'min' WHEN 'greatest' THEN 'max'
                                                       WHEN 'and' THEN 'bool_and' WHEN 'or' THEN 'bool_or'
                                                       WHEN 'hll_union' THEN 'hll_union_agg' WHEN 'topn_union' THEN 'topn_union_agg' END, u.m)
        FROM unnest(r.measure_names, r.merge_rules) WITH ORDINALITY u(m, rule, o) ORDER BY u.o);
    -- (A parameter makes EXECUTE take exactly one statement.)
    EXECUTE rollup._chain_sql(r.name, format(E'(\n%s\n) s WHERE $1 IS NULL', query), top_as => given) INTO n USING NULL::bigint;
    RETURN n;
END
$$;

-- The plans of what the next rollup.run of a rollup (of its base rollup, for a level) executes,
-- planned as the rollup's owner.
CREATE OR REPLACE FUNCTION rollup.explain_run(rollup_name text)
RETURNS SETOF text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_split_to_table(rollup._as_owner((rollup._get(coalesce(rollup._root(rollup_name), rollup_name))).name, 'explain'), E'\n')
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
    last_id bigint;
    called boolean;
    writers text[];
    safe bigint;
    upper_id bigint;
    cp jsonb;
    kept jsonb := '[]';
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
        PERFORM rollup._check_sequence(r.id_sequence);
        -- Every id <= last_id was drawn by a transaction that then held a write lock on the
        -- table (ids are drawn at insert time) and still holds it if it has not ended; so
        -- once the writers listed *after* reading last_id have ended, all rows <= last_id
        -- are committed or gone. The list is kept as a checkpoint when they are still
        -- running, and the newest checkpoint whose writers have all ended is the bound.
        EXECUTE format('SELECT last_value, is_called FROM %s', r.id_sequence) INTO last_id, called;
        IF NOT called THEN
            last_id := last_id - 1;
        END IF;
        -- The table itself and, when partitioned, every partition (writers may lock only those).
        writers := rollup._writers(r.source_table::oid || ARRAY(SELECT relid::oid FROM pg_partition_tree(r.source_table)));
        IF rollup._writers_done(writers, wait_ms) THEN
            safe := last_id;
        ELSE
            kept := jsonb_build_array(jsonb_build_object('id', last_id, 'writers', to_jsonb(writers)));
            FOR cp IN SELECT c FROM jsonb_array_elements(p.checkpoints) c ORDER BY (c->>'id')::bigint DESC LOOP
                IF safe IS NULL AND rollup._writers_done(ARRAY(SELECT jsonb_array_elements_text(cp->'writers')), 0) THEN
                    safe := (cp->>'id')::bigint;
                ELSIF safe IS NULL AND jsonb_array_length(kept) < 100 THEN
                    kept := kept || cp;
                END IF;
            END LOOP;
        END IF;
        safe := greatest(coalesce(safe, p.watermark), p.watermark);
        upper_id := safe;
        IF r.batch_size IS NOT NULL THEN
            EXECUTE format('SELECT %I FROM %s WHERE %1$I > $1 AND %1$I <= $2 ORDER BY %1$I OFFSET $3 LIMIT 1',
                           r.id_column, r.source_table)
                INTO upper_id USING p.watermark, safe, r.batch_size - 1;
            upper_id := coalesce(upper_id, safe);
        END IF;
        n := 0;
        IF upper_id > p.watermark THEN
            n := rollup._run_chain(r, p.watermark, upper_id);
        END IF;
    END IF;
    PERFORM rollup._write_catalog('run_done', jsonb_strip_nulls(jsonb_build_object('name', r.name, 'run_start', started,
        'rows', n, 'watermark', upper_id, 'checkpoints', CASE WHEN r.mode = 'incremental' THEN kept END)));
    RETURN n;
END
$$;

-- Aggregates every source row not yet rolled up (at most batch_size of them when the rollup
-- has one) and returns how many; 0 when another run of the rollup is in progress. A level
-- runs the base rollup of its chain, which feeds it. max_wait bounds how long to wait for
-- writers still inserting rows below the current sequence value; rows they may commit are
-- left for a later run. The run executes as the rollup's owner, whoever calls it.
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
    RETURN coalesce(rollup._as_owner(r.name, 'run', to_jsonb(least(extract(epoch FROM max_wait) * 1000, 3600000)::int))::bigint, 0);
END
$$;

CREATE OR REPLACE FUNCTION rollup.drop_rollup(rollup_name text, drop_target boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    child text;
BEGIN
    SELECT x.name INTO child FROM rollup.rollups x WHERE x.parent = r.name LIMIT 1;
    IF child IS NOT NULL THEN
        RAISE EXCEPTION 'rollup "%" feeds level "%"', r.name, child USING ERRCODE = '2BP01',
            HINT = 'Drop the level first.';
    END IF;
    IF r.schedule IS NOT NULL THEN
        PERFORM rollup.unschedule(r.name);  -- its pg_cron job would fail at every run
    END IF;
    PERFORM rollup._write_catalog('drop_rollup', jsonb_build_object('name', r.name));
    IF drop_target THEN
        EXECUTE format('DROP TABLE %s', r.target_table);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollup._record_error(rollup_name text, state text, message text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollup._write_catalog('run_failed', jsonb_build_object('name', rollup_name, 'error', format('%s: %s', state, message)))
$$;

-- Creates (or replaces) the pg_cron job that keeps a rollup and its levels fresh; returns its
-- job id. The job runs rollup.catch_up as the rollup's owner in the current database, which must
-- be pg_cron's. The owner schedules with cron.schedule; a superuser may schedule another role's
-- rollup (pg_cron's schedule_in_database, which names the job's user).
CREATE OR REPLACE FUNCTION rollup.schedule(rollup_name text, cron_expression text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    owner_name name := (SELECT rolname FROM pg_roles WHERE oid = r.owner);
    job bigint;
BEGIN
    IF cron_expression IS NULL THEN
        RAISE EXCEPTION 'cron_expression must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF r.mode = 'level' THEN
        RAISE EXCEPTION 'rollup "%" is a level: it runs with "%"', r.name, rollup._root(r.name) USING ERRCODE = '22023',
            HINT = format('Schedule %L instead.', rollup._root(r.name));
    END IF;
    PERFORM rollup._require_cron(format('SELECT cron.schedule_in_database(%L, %L, %L, %L, %L);',
        rollup._job_name(r.name), cron_expression, rollup.job_command(r.name), current_database(), owner_name));
    -- Here pg_cron's database is this one: cron.schedule (which unlike schedule_in_database is
    -- open to every role with USAGE on schema cron) runs the job here as the current user.
    IF owner_name = current_user THEN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING rollup._job_name(r.name), cron_expression, rollup.job_command(r.name);
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
            INTO job USING rollup._job_name(r.name), cron_expression, rollup.job_command(r.name), owner_name;
    ELSE
        RAISE EXCEPTION 'only the owner of rollup "%", role %, or a superuser may schedule it', r.name, r.owner
            USING ERRCODE = '42501', HINT = format('SET ROLE %s; then schedule it.', r.owner);
    END IF;
    PERFORM rollup._write_catalog('set', jsonb_build_object('name', r.name, 'schedule', cron_expression));
    RETURN job;
END
$$;

CREATE OR REPLACE FUNCTION rollup.unschedule(rollup_name text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    done boolean;
BEGIN
    PERFORM rollup._require_cron(format('SELECT cron.unschedule(%L);', rollup._job_name(r.name)));
    EXECUTE 'SELECT bool_or(cron.unschedule(jobid)) FROM cron.job WHERE jobname = $1 AND username = $2'
        INTO done USING rollup._job_name(r.name), (SELECT rolname FROM pg_roles WHERE oid = r.owner);
    PERFORM rollup._write_catalog('set', jsonb_build_object('name', r.name, 'schedule', NULL));
    RETURN coalesce(done, false);
END
$$;

-- Retention settings. source_grace: delete source rows once every rollup reading the table
-- has passed them and they are older than the grace period (NULL: keep them). target_keep:
-- delete this rollup's rows whose bucket is older than that (NULL: keep them); on a rollup
-- that feeds a level this is safe at any time, the level got every change in the same
-- transaction.
CREATE OR REPLACE FUNCTION rollup.set_retention(rollup_name text, source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
BEGIN
    IF source_grace < interval '0' OR target_keep < interval '0' THEN
        RAISE EXCEPTION 'retention periods must not be negative' USING ERRCODE = '22023';
    END IF;
    IF source_grace IS NOT NULL AND r.mode <> 'incremental' THEN
        RAISE EXCEPTION 'source retention applies to incremental rollups (a flush rollup consumes its source; a level''s source is its parent''s target)'
            USING ERRCODE = '22023';
    END IF;
    PERFORM rollup._write_catalog('set', jsonb_build_object('name', r.name,
        'source_grace', set_retention.source_grace, 'target_keep', set_retention.target_keep));
END
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
    boundary := format('rollup.view_boundary(%L, %L, %L, %L)', r.source_table, r.time_column, r.bucket_width, fine_window);
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
    -- The view runs the rollup's SQL: it belongs to the rollup's owner, whoever made it.
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER VIEW %s OWNER TO %s', qualified, r.owner);
    END IF;
    PERFORM rollup._create_range_function(r, qualified);
    RETURN qualified::regclass;
END
$$;

-- The boundary of a query view: the first bucket of width `width` (a level's buckets, in UTC)
-- that starts at or after the first bucket of the finer rollup `fine`, and after now() -
-- fine_window when given; 'infinity' while `fine` is empty. Bucket columns without a time
-- zone are read as UTC. STABLE, so the planner estimates the view's row counts with its
-- actual value; costly, so it prefers plans that evaluate it once (an index condition) to a
-- filter on every row; parallel restricted, so the small scans of a dashboard query are
-- not handed to parallel workers whose start-up costs more than the scan.
CREATE OR REPLACE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval)
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
        EXECUTE 'SELECT ' || rollup._bucket_ceil_sql('$1', 'timestamptz', width) INTO b USING t;
        result := greatest(result, b);
    END LOOP;
    RETURN result;
END
$$;

-- A rollup and every level below it, parents first. A chain has one owner (its runs execute
-- every level as that role): a level of another owner, which only a catalog written outside the
-- API could hold, is not part of it.
CREATE OR REPLACE FUNCTION rollup._chain(rollup_name text)
RETURNS SETOF rollup.rollups
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE down (r, depth) AS (
        SELECT x, 0 FROM rollup.rollups x WHERE x.name = rollup_name
        UNION ALL
        SELECT x, down.depth + 1 FROM rollup.rollups x
        JOIN down ON x.parent = (down.r).name AND x.owner::oid = (down.r).owner::oid)
    SELECT (r).* FROM down ORDER BY depth, (r).name
$$;

CREATE OR REPLACE FUNCTION rollup.add_uniqueness_rule(
    events_table regclass,
    platform text,
    keys text[] DEFAULT NULL,
    preset text DEFAULT NULL,
    platform_column name DEFAULT 'platform',
    payload_column name DEFAULT 'payload')
RETURNS name
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel_name name;
    dist name;
    key text;
    key_sql text[] := '{}';
    key_coll text;
    idx name;
BEGIN
    IF events_table IS NULL OR platform IS NULL OR platform_column IS NULL THEN
        RAISE EXCEPTION 'events_table, platform and platform_column must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM rollup._check_owner(events_table);
    PERFORM rollup._check_column(events_table, platform_column);
    IF keys IS NULL THEN
        SELECT p.keys INTO keys FROM rollup.uniqueness_presets() p
        WHERE p.preset = coalesce(add_uniqueness_rule.preset, add_uniqueness_rule.platform);
        IF keys IS NULL THEN
            RAISE EXCEPTION 'no keys given and no preset named "%"', coalesce(preset, platform)
                USING ERRCODE = '22023',
                      HINT = 'Pass keys => ARRAY[...] or one of the presets: '
                             || (SELECT string_agg(p.preset, ', ') FROM rollup.uniqueness_presets() p) || '.';
        END IF;
        PERFORM rollup._check_column(events_table, payload_column);
        keys := (SELECT array_agg(replace(k, '{payload}', quote_ident(payload_column)) ORDER BY o)
                 FROM unnest(keys) WITH ORDINALITY AS u(k, o));
    ELSIF preset IS NOT NULL THEN
        RAISE EXCEPTION 'give either keys or a preset, not both' USING ERRCODE = '22023';
    END IF;
    IF cardinality(keys) IS NULL OR cardinality(keys) = 0 THEN
        RAISE EXCEPTION 'a uniqueness rule needs at least one key' USING ERRCODE = '22023';
    END IF;
    SELECT c.relname INTO rel_name FROM pg_class c WHERE c.oid = events_table;
    FOREACH key IN ARRAY keys LOOP
        IF key IS NULL THEN
            RAISE EXCEPTION 'a key expression must not be NULL' USING ERRCODE = '22004';
        END IF;
        PERFORM rollup._parse_fragment(key, 'key');
        -- Text keys (what ->> gives) are indexed with text_pattern_ops: bytewise comparisons
        -- instead of the collation's, which makes every insert into the index cheaper; equality
        -- is the same under a deterministic collation, and `key = value` lookups and
        -- ON CONFLICT still use the index. The key's type and collation are those of the
        -- column of an empty subquery over the table's row type: the key is parsed, not
        -- evaluated, and the table not read (it may be a Citus table). A key that does not
        -- parse so keeps the default operator class (CREATE INDEX judges it).
        BEGIN
            EXECUTE format(E'SELECT CASE WHEN pg_typeof(k) IN (\'text\', \'varchar\') THEN pg_collation_for(k) END\n'
                           'FROM (SELECT) AS one LEFT JOIN (SELECT (\n%s\n) AS k\n'
                           'FROM (SELECT (NULL::%s).*) AS %I WHERE false) AS x ON true',
                           key, events_table, rel_name)
                INTO key_coll;
        EXCEPTION WHEN OTHERS THEN
            key_coll := NULL;
        END;
        key_sql := key_sql || (E'(\n' || key || E'\n)'
            || CASE WHEN (SELECT c.collisdeterministic FROM pg_collation c WHERE c.oid = key_coll::regcollation)
                    THEN ' text_pattern_ops' ELSE '' END);
    END LOOP;
    -- Citus: a unique index on a distributed table must contain the distribution column.
    dist := rollup._distribution_column(events_table);
    IF dist IS NOT NULL AND NOT (dist = ANY (keys) OR quote_ident(dist) = ANY (keys)) THEN
        key_sql := quote_ident(dist) || key_sql;
    END IF;

    -- <table>_<platform>_uniq; when that is over the 63 bytes of a name, cut (by whole
    -- characters) and made unique with a hash of the full name.
    idx := rel_name || '_' || platform || '_uniq';
    IF octet_length(idx) > 63 THEN
        idx := rel_name || '_' || platform;
        WHILE octet_length(idx) > 63 - 14 LOOP
            idx := left(idx, -1);
        END LOOP;
        idx := idx || '_' || left(md5(rel_name || '_' || platform), 8) || '_uniq';
    END IF;

    PERFORM rollup._write_catalog('add_rule', jsonb_build_object('events_table', events_table::oid,
        'platform_column', platform_column, 'platform', platform, 'keys', keys, 'index_name', idx));
    BEGIN
        EXECUTE format(E'CREATE UNIQUE INDEX %I ON %s (%s)\nWHERE %I = %L',
                       idx, events_table, array_to_string(key_sql, ', '), platform_column, platform);
    EXCEPTION WHEN undefined_function OR undefined_object THEN
        -- Names in keys are looked up with this function's fixed search_path.
        RAISE EXCEPTION '%', SQLERRM USING ERRCODE = SQLSTATE,
            HINT = 'Keys are read with search_path = pg_catalog, pg_temp: qualify your own functions, types and '
                   'operators with their schema, as in public.f(payload).';
    END;
    RETURN idx;
END
$$;

CREATE OR REPLACE FUNCTION rollup.drop_uniqueness_rule(events_table regclass, platform text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    idx name;
    idx_schema name;
BEGIN
    PERFORM rollup._check_owner(events_table);
    idx := rollup._write_catalog('drop_rule', jsonb_build_object('events_table', events_table::oid, 'platform', platform))->>'index_name';
    SELECT n.nspname INTO idx_schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = events_table;
    EXECUTE format('DROP INDEX IF EXISTS %I.%I', idx_schema, idx);
END
$$;

CREATE OR REPLACE FUNCTION rollup.create_ingest_view(
    events_table regclass, view_name text DEFAULT NULL, rejects_table regclass DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qualified text;
    view regclass;
    col record;
    citus_ddl text;
BEGIN
    IF events_table IS NULL THEN
        RAISE EXCEPTION 'events_table must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM rollup._check_owner(events_table);
    IF rejects_table IS NOT NULL THEN
        PERFORM rollup._check_column(rejects_table, 'reason');
        PERFORM rollup._check_column(rejects_table, 'event');
    END IF;
    qualified := rollup._qualify(coalesce(view_name,
        quote_ident((SELECT c.relname || '_ingest' FROM pg_class c WHERE c.oid = events_table))), events_table);
    -- On Citus the view stays on the coordinator, where COPY and ingest run (Citus would refuse
    -- its column defaults on the workers).
    citus_ddl := current_setting('citus.enable_ddl_propagation', true);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    EXECUTE format('CREATE VIEW %s AS SELECT %s FROM %s WHERE false', qualified,
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = events_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
           AND a.attidentity = ''),
        events_table);
    view := qualified::regclass;
    -- Columns an INSERT or COPY leaves out get the events table's defaults.
    FOR col IN SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS expr
               FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = events_table AND a.attgenerated = '' LOOP
        EXECUTE format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', view, col.attname, col.expr);
    END LOOP;
    EXECUTE format('CREATE TRIGGER ingest INSTEAD OF INSERT ON %s FOR EACH ROW EXECUTE FUNCTION rollup._ingest_view_row()', view);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', citus_ddl, true);
    END IF;
    PERFORM rollup._write_catalog('add_ingest_view', jsonb_build_object('view', view::oid,
        'events_table', events_table::oid, 'rejects_table', rejects_table::oid));
    RETURN view;
END
$$;

-- A dropped events table takes its rules along (its indexes go with it); an index of a rule
-- cannot be dropped on its own, which would leave a rule that no index enforces; nor can the
-- source or target table of a rollup (rollup.drop_rollup first, which can drop the target).
-- It runs as the catalog's owner: the rows of a dropped table are visible to nobody else.
CREATE OR REPLACE FUNCTION rollup._on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lost record;
BEGIN
    DELETE FROM rollup.uniqueness_rules r USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.object_type = 'table' AND r.events_table = d.objid;
    DELETE FROM rollup.ingest_views v USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND v.view = d.objid;
    SELECT v.view, d.object_identity INTO lost
    FROM rollup.ingest_views v
    JOIN pg_event_trigger_dropped_objects() d
      ON d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objid = v.rejects_table
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'table % is the rejects table of ingest view %', lost.object_identity, lost.view
            USING ERRCODE = '2BP01', HINT = 'Drop the ingest view first.';
    END IF;
    SELECT r.events_table, r.platform, r.index_name INTO lost
    FROM rollup.uniqueness_rules r
    JOIN pg_class c ON c.oid = r.events_table
    JOIN pg_event_trigger_dropped_objects() d
      ON d.object_type = 'index' AND d.object_name = r.index_name AND d.schema_name = c.relnamespace::regnamespace::name
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'index % enforces the uniqueness rule of platform % on table %',
            quote_ident(lost.index_name), quote_literal(lost.platform), lost.events_table
            USING ERRCODE = '2BP01',
                  HINT = 'Drop the rule with rollup.drop_uniqueness_rule(), which drops its index.';
    END IF;
    SELECT r.name, d.object_identity, d.objid = r.target_table AS is_target INTO lost
    FROM rollup.rollups r
    JOIN pg_event_trigger_dropped_objects() d
      ON d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objid IN (r.source_table, r.target_table)
    ORDER BY r.name
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'table % is the % of rollup "%"', lost.object_identity,
            CASE WHEN lost.is_target THEN 'target' ELSE 'source' END, lost.name
            USING ERRCODE = '2BP01',
                  HINT = 'Drop the rollup first with rollup.drop_rollup() (drop_target => true drops its target too).';
    END IF;
END
$$;

-- Runs a rollup until it has caught up, one transaction per batch of at most batch_size
-- source rows, then applies its retention. Returns (in rows) the source rows aggregated; 0
-- at once when another run of the same rollup is in progress. An error is recorded in
-- rollup.status (last_error) and raised again. Call it outside a transaction block. The runs
-- and the retention execute as the rollup's owner, whoever calls it (a pg_cron job, a superuser).
CREATE OR REPLACE PROCEDURE rollup.catch_up(rollup_name text, INOUT rows bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    r rollup.rollups := rollup._get(coalesce(rollup._root(rollup_name), rollup_name));
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
            n := rollup._as_owner(r.name, 'run', pg_catalog.to_jsonb(1000))::bigint;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        END;
        IF err IS NOT NULL THEN
            PERFORM rollup._record_error(r.name, err_state, err);
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

-- Deletes what the retention settings of a rollup and of the levels below it allow, in
-- transactions of at most batch_size rows, as the rollup's owner; returns (in deleted) how many
-- rows. Call it outside a transaction block.
CREATE OR REPLACE PROCEDURE rollup.apply_retention(rollup_name text, batch_size bigint DEFAULT 10000, INOUT deleted bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    x rollup.rollups;
    n bigint;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = '22023';
    END IF;
    deleted := 0;
    IF r.source_grace IS NOT NULL THEN
        LOOP
            n := rollup._as_owner(r.name, 'retain_source', pg_catalog.to_jsonb(batch_size))::bigint;
            deleted := deleted + n;
            COMMIT;
            EXIT WHEN n < batch_size;
        END LOOP;
    END IF;
    FOR x IN SELECT * FROM rollup._chain(r.name) c WHERE c.target_keep IS NOT NULL LOOP
        LOOP
            n := rollup._as_owner(x.name, 'retain_target', pg_catalog.to_jsonb(batch_size))::bigint;
            deleted := deleted + n;
            COMMIT;
            EXIT WHEN n < batch_size;
        END LOOP;
    END LOOP;
END
$$;

-- One row per rollup the current user owns; a level shows the runs (and errors) of its chain.
CREATE OR REPLACE VIEW rollup.status WITH (security_invoker = true) AS
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
CROSS JOIN LATERAL rollup._pending(r, p.watermark) x;

-- A chain has one owner now, whose privileges its runs use (levels are read through row-level
-- security as that owner). A level that 0.2.0 let a member of its chain's owner create becomes the
-- owner's, with its target; a level whose owner is not such a member (a row no API call could
-- make: written directly into the catalog, which 0.2.0 allowed) is reported, and its chain's runs
-- leave it out until it is dropped.
DO $$
DECLARE
    lvl record;
BEGIN
    LOOP
        SELECT l.name, l.owner AS old_owner, p.owner, l.target_table INTO lvl
        FROM rollup.rollups l JOIN rollup.rollups p ON p.name = l.parent
        WHERE l.owner <> p.owner AND pg_catalog.pg_has_role(l.owner, p.owner, 'USAGE')
        LIMIT 1;
        EXIT WHEN NOT FOUND;
        UPDATE rollup.rollups SET owner = lvl.owner WHERE name = lvl.name;
        IF (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = lvl.target_table) = lvl.old_owner THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', lvl.target_table, lvl.owner);
        END IF;
    END LOOP;
    FOR lvl IN SELECT l.name, l.owner, p.name AS parent, p.owner AS parent_owner
               FROM rollup.rollups l JOIN rollup.rollups p ON p.name = l.parent WHERE l.owner <> p.owner LOOP
        RAISE WARNING 'level "%" (owner %) of rollup "%" (owner %) was not made through pg_rollup''s API',
            lvl.name, lvl.owner, lvl.parent, lvl.parent_owner
            USING HINT = 'Check its measures, then drop it with rollup.drop_rollup as a superuser.';
    END LOOP;
END
$$;
