-- The trust boundary between roles (docs/security.md; the two gates are in src/security.rs).
--
-- The catalog tables (rollup.rollups, rollup.progress, rollup.uniqueness_rules,
-- rollup.ingest_views) are SELECT-only for PUBLIC, and row-level security shows each role the
-- rows of the tables and rollups it may act for. Every change goes through
-- rollup_internal.catalog_write, which the gate rollup_internal.write_catalog runs as the catalog's owner with
-- the calling role in `caller`; it checks, before it writes, that the caller has the
-- privileges of every owner the change involves, and it stores the SQL a rollup derives from
-- its fragments as it derives it itself (rollup_internal.derive). Whatever executes a rollup's
-- stored SQL goes through rollup_internal.owner_action, which the gate rollup_internal.as_owner runs as the
-- rollup's owner.

-- Raises unless `member` has the privileges of `role` (is it, a member of it, or a superuser).
CREATE FUNCTION rollup_internal.check_acts_for(member oid, role regrole, what text)
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

-- The one writer of pg_rollup's catalog, run by rollup_internal.write_catalog as the catalog's owner
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
CREATE FUNCTION rollup_internal.catalog_write(op text, caller oid, args jsonb)
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
        PERFORM rollup_internal.check_acts_for(caller, r.owner, format('rollup "%s"', r.name));
    END IF;
    CASE op
    WHEN 'add_rollup' THEN
        r := jsonb_populate_record(NULL::rollup.rollups, args);
        IF r.name IS NULL OR r.name !~ '^[[:alnum:]_.-]{1,63}$' THEN
            RAISE EXCEPTION 'invalid rollup name "%"', r.name USING ERRCODE = '42602';
        END IF;
        PERFORM rollup_internal.check_acts_for(caller, r.owner, format('rollup "%s"', r.name));
        PERFORM rollup_internal.check_owner(r.source_table, r.owner);
        PERFORM rollup_internal.check_owner(r.target_table, r.owner);
        IF r.search IS NOT NULL THEN
            PERFORM rollup_internal.check_owner(rollup_internal.search_pending(r), r.owner);
        END IF;
        -- A chain has one owner: its runs execute every level's SQL as that role.
        IF r.mode = 'level' AND NOT EXISTS (
                SELECT FROM rollup.rollups p
                WHERE p.name = r.parent AND p.target_table = r.source_table AND p.owner = r.owner) THEN
            RAISE EXCEPTION 'a level of rollup "%" must read its target and belong to its owner', r.parent
                USING ERRCODE = '42501';
        ELSIF r.mode <> 'level' AND EXISTS (SELECT FROM rollup.rollups p WHERE p.target_table = r.source_table AND p.search IS NULL) THEN
            RAISE EXCEPTION 'the source of rollup "%" is the target of a rollup; it can only be a level', r.name
                USING ERRCODE = '22023';
        END IF;
        r := rollup_internal.derive(r);
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
        r := rollup_internal.derive(r);
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
        WHERE p.name IN (SELECT c.name FROM rollup_internal.chain(r.name) c WHERE c.name <> r.name);
    WHEN 'run_failed' THEN
        UPDATE rollup.progress p
        SET last_error = format('%s (at %s)', args->>'error', clock_timestamp()), total_runs = p.total_runs + 1
        WHERE p.name IN (SELECT c.name FROM rollup_internal.chain(r.name) c);
    WHEN 'reset_progress' THEN
        UPDATE rollup.progress p
        SET watermark = (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence), checkpoints = '[]', nodes = '{}'
        WHERE p.name = r.name;
        -- The chain is recomputed from what its source holds now.
        UPDATE rollup.progress p SET source_rows_deleted = 0 WHERE p.name IN (SELECT c.name FROM rollup_internal.chain(r.name) c);
    WHEN 'retention_done' THEN
        -- `rows` were deleted from r's source (target: from its target): every rollup reading that
        -- table had aggregated them.
        UPDATE rollup.progress p SET source_rows_deleted = p.source_rows_deleted + (args->>'rows')::bigint
        WHERE p.name IN (SELECT x.name FROM rollup.rollups x
                         WHERE x.source_table = CASE WHEN (args->>'target')::boolean THEN r.target_table ELSE r.source_table END);
    WHEN 'add_rule' THEN
        rel := (args->>'events_table')::oid;
        PERFORM rollup_internal.check_owner(rel, caller);
        PERFORM rollup_internal.check_column(rel, args->>'platform_column');
        IF jsonb_typeof(args->'keys') IS DISTINCT FROM 'array' OR jsonb_array_length(args->'keys') = 0 THEN
            RAISE EXCEPTION 'a uniqueness rule needs at least one key' USING ERRCODE = '22023';
        END IF;
        FOR key IN SELECT jsonb_array_elements_text(args->'keys') LOOP
            PERFORM rollup_internal.parse_fragment(key, 'key');
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
        PERFORM rollup_internal.check_owner(rel, caller);
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
                PERFORM rollup_internal.check_owner(rel, caller);
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
-- Only the catalog's owner runs the writer and what only the writer calls; every other helper
-- runs as the role calling pg_rollup (or a query view, or an ingest statement), or as a
-- rollup's owner, and so stays executable.
REVOKE EXECUTE ON FUNCTION rollup_internal.catalog_write(text, oid, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rollup_internal.check_acts_for(oid, regrole, text) FROM PUBLIC;

-- What rollup_internal.as_owner runs as the rollup's owner: `action` of rollup `rollup_name`, read
-- from the catalog. Only the owner may run it, so that a superuser or a member cannot run the
-- owner's SQL with privileges of their own by calling it directly.
--   run            one bounded step (rollup_internal.run_once), arg: how long to wait for writers (ms)
--   verify         the differences between the stored rows and a recomputation, arg: {from, to}
--                  (rollup_internal.verify), as a jsonb array
--   reset          empty the chain's targets and recompute them (rollup_internal.reset)
--   validate       plan the statements of a run, aggregating nothing
--   fill           a new level: aggregate what its source already holds
--   retain_source  one batch (arg rows) of source retention; retain_target: of target retention
--   explain        the plans of the next run, a line each
--   load           rows shaped like the target, from the query in arg, into the chain (rollup_internal.load)
--   add_measures   the measures in arg (an array) added and filled (rollup_internal.add_measures)
CREATE FUNCTION rollup_internal.owner_action(rollup_name text, action text, arg jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    n bigint;
BEGIN
    IF r.owner::oid <> current_user::regrole::oid THEN
        RAISE EXCEPTION 'rollup "%" runs as its owner, role %', r.name, r.owner USING ERRCODE = '42501',
            HINT = 'Use rollup.run, rollup.catch_up, rollup.reset or rollup.apply_retention.';
    END IF;
    CASE action
    WHEN 'run' THEN
        RETURN rollup_internal.run_once(r, arg::int);
    WHEN 'verify' THEN
        RETURN (SELECT coalesce(jsonb_agg(to_jsonb(v)), '[]') FROM rollup_internal.verify(r, (arg->>'from')::timestamptz, (arg->>'to')::timestamptz) v);
    WHEN 'reset' THEN
        RETURN rollup_internal.reset(r);
    WHEN 'validate' THEN
        PERFORM rollup_internal.run_chain(r, NULL, NULL, validate => true);
    WHEN 'fill' THEN
        -- Runs of the chain wait meanwhile.
        PERFORM pg_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup_internal.root(r.name)));
        RETURN rollup_internal.run_chain(r, NULL, NULL);
    WHEN 'retain_source', 'retain_target' THEN
        n := rollup_internal.retention_batch(r, action = 'retain_target', arg::bigint);
        PERFORM rollup_internal.write_catalog('retention_done', jsonb_build_object('name', r.name, 'target', action = 'retain_target', 'rows', n));
        RETURN n;
    WHEN 'load' THEN
        RETURN rollup_internal.load(r, arg #>> '{}');
    WHEN 'add_measures' THEN
        RETURN rollup_internal.add_measures(r, ARRAY(SELECT jsonb_array_elements_text(arg)));
    WHEN 'explain' THEN
        RETURN (SELECT string_agg(line, E'\n') FROM rollup_internal.explain(r) line);
    ELSE
        RAISE EXCEPTION 'unknown rollup action "%"', action USING ERRCODE = '22023';
    END CASE;
    RETURN NULL;
END
$$;
