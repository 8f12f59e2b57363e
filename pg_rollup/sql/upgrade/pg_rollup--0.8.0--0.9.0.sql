-- pg_rollup 0.8.0 -> 0.9.0
-- qsketch's stored form is version 2 (sparse or difference-coded bins, the shorter); the
-- library reads version 1 values as before, so stored sketches need no rewrite.
-- Search-session stages (sql/searches.sql): the catalog's column `search`, the stage's
-- functions, and the rollup functions that know stages (definitions, runs, explain, reset,
-- drop, the guards of what applies to rollups only, the catalog writer).

ALTER TABLE rollup.rollups ADD COLUMN search jsonb;

CREATE OR REPLACE FUNCTION rollup_internal.run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
SET jit = off
AS $$
DECLARE
    statements text[];
    distributed boolean;
    n bigint;
BEGIN
    IF r.search IS NOT NULL THEN
        RETURN rollup_internal.run_searches(r, ARRAY[lo], ARRAY[hi], 0, false, validate);
    END IF;
    statements := rollup_internal.run_statements(r);
    -- One statement on a plain table, several on Citus.
    distributed := cardinality(statements) > 1;
    IF r.mode = 'flush' THEN
        hi := r.batch_size;
        IF distributed AND hi IS NOT NULL THEN
            RAISE EXCEPTION 'a flush rollup of a distributed table has no batch size' USING ERRCODE = '0A000';
        ELSIF distributed AND NOT validate THEN
            -- On Citus the queue is read and emptied by separate statements: writers through the
            -- coordinator wait for the run (readers do not).
            EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', r.source_table);
        END IF;
    END IF;
    FOR i IN 1 .. cardinality(statements) LOOP
        IF validate THEN
            EXECUTE 'EXPLAIN ' || statements[i] USING 0::bigint, 0::bigint;
        ELSIF i = 1 THEN
            EXECUTE statements[i] INTO n USING lo, hi;
        ELSE
            EXECUTE statements[i] USING lo, hi;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.explain(r rollup.rollups)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
SET jit = off
AS $$
DECLARE
    statement text;
    w bigint := (SELECT p.watermark FROM rollup.progress p WHERE p.name = r.name);
    hi bigint;
BEGIN
    IF r.mode = 'flush' THEN
        hi := r.batch_size;
    ELSE
        hi := rollup_internal.batch_end(r, w, pg_sequence_last_value(r.id_sequence));
    END IF;
    IF r.search IS NOT NULL THEN
        FOREACH statement IN ARRAY rollup_internal.search_statements(r, 1, 0) LOOP
            RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || statement USING ARRAY[w], ARRAY[hi], 0::bigint, now();
        END LOOP;
        RETURN;
    END IF;
    FOREACH statement IN ARRAY rollup_internal.run_statements(r) LOOP
        RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || statement USING w, hi;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.derive(r rollup.rollups)
RETURNS rollup.rollups
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    time_type regtype;
    zone text;
    parsed rollup_internal.fragment;
    frag text;
BEGIN
    SELECT atttypid::regtype INTO time_type FROM pg_attribute
    WHERE attrelid = r.source_table AND attname = r.time_column AND attnum > 0 AND NOT attisdropped;
    IF time_type IS NULL THEN
        PERFORM rollup_internal.check_column(r.source_table, r.time_column);
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
    r.bucket_sql := rollup_internal.bucket_sql('s.' || quote_ident(r.time_column), time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    IF r.mode = 'level' THEN
        PERFORM rollup_internal.check_nesting(r, p, time_type) FROM rollup.rollups p WHERE p.name = r.parent;
    END IF;

    -- Dimensions: a column, or an expression with AS name.
    r.dimension_names := '{}';
    FOREACH frag IN ARRAY r.dimensions LOOP
        parsed := rollup_internal.parse_fragment(frag, 'dimension');
        IF parsed.name IS NULL THEN
            RAISE EXCEPTION 'dimension "%" needs a name', frag USING ERRCODE = '42601',
                HINT = 'Add AS <column name>, e.g. payload->>''query'' AS query.';
        END IF;
        r.dimension_names := r.dimension_names || parsed.name::name;
    END LOOP;
    -- Measures: an aggregate call with AS name and a merge rule (a search-session stage has
    -- none: rollup_internal.check_search).
    IF r.search IS NOT NULL THEN
        r.measures := '{}';
    ELSIF cardinality(r.measures) = 0 THEN
        RAISE EXCEPTION 'a rollup needs at least one measure' USING ERRCODE = '22023';
    END IF;
    r.measure_names := '{}';
    r.merge_rules := '{}';
    FOREACH frag IN ARRAY r.measures LOOP
        parsed := rollup_internal.parse_fragment(frag, 'measure');
        r.merge_rules := r.merge_rules || rollup_internal.merge_rule(frag, parsed, r.mode = 'level');
        r.measure_names := r.measure_names || parsed.name::name;
    END LOOP;
    IF EXISTS (SELECT FROM unnest(r.dimension_names || r.bucket_column || r.measure_names) c GROUP BY c HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'dimension, bucket and measure names must be distinct: %',
            array_to_string(r.dimension_names || r.bucket_column || r.measure_names, ', ') USING ERRCODE = '42701';
    END IF;

    r.id_sequence := NULL;
    IF r.mode = 'incremental' THEN
        PERFORM rollup_internal.check_column(r.source_table, r.id_column);
        r.id_sequence := pg_get_serial_sequence(r.source_table::text, r.id_column)::regclass;
        IF r.id_sequence IS NULL THEN
            RAISE EXCEPTION 'column % of % is not an identity or serial column', quote_ident(r.id_column), r.source_table
                USING ERRCODE = '22023';
        END IF;
        PERFORM rollup_internal.check_sequence(r.id_sequence);
    END IF;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.definition(name text, source_table regclass, time_column name, bucket_width interval,
                                   dimensions text[], measures text[], mode text, id_column name, batch_size bigint,
                                   bucket_column name, start_after bigint, time_zone text, origin timestamp)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    parent_r rollup.rollups;
BEGIN
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.name = definition.name) THEN
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

    SELECT * INTO parent_r FROM rollup.rollups x WHERE x.target_table = definition.source_table AND x.search IS NULL;
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
        r.id_column := coalesce(id_column, rollup_internal.id_column(source_table));
    ELSIF id_column IS NOT NULL OR start_after IS NOT NULL THEN
        RAISE EXCEPTION '% applies to incremental rollups only', CASE WHEN id_column IS NULL THEN 'start_after' ELSE 'id_column' END
            USING ERRCODE = '22023';
    END IF;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.check_distribution(r rollup.rollups)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    dist name := rollup_internal.distribution_column(r.source_table);
    -- (a search-session stage's dimensions are its user columns)
    what text := CASE WHEN r.search IS NULL THEN 'dimensions' ELSE 'user_columns' END;
BEGIN
    IF dist IS NOT NULL AND NOT dist = ANY (r.dimension_names) THEN
        RAISE EXCEPTION 'table % is distributed by %, which must be one of the %', r.source_table, quote_ident(dist), what
            USING ERRCODE = '0A000', HINT = format('Add %L to %s, so that every shard is rolled up on its own.', quote_ident(dist), what);
    END IF;
    RETURN dist;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.check_name(rollup_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF rollup_name !~ '^[[:alnum:]_.-]{1,63}$' THEN
        RAISE EXCEPTION 'invalid rollup name "%"', rollup_name USING ERRCODE = '42602',
            HINT = 'Use up to 63 letters, digits, _, . or -.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.add_rollup(r rollup.rollups, start_after bigint)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollup_internal.write_catalog('add_rollup', to_jsonb(r) || jsonb_build_object('source_table', r.source_table::oid,
        'target_table', r.target_table::oid, 'id_sequence', r.id_sequence::oid, 'owner', r.owner::oid, 'start_after', start_after));
    PERFORM rollup_internal.as_owner(rollup_internal.root(r.name), 'validate');
    RETURN rollup_internal.get(r.name);
END
$$;

CREATE OR REPLACE FUNCTION rollup.create_rollup(
    rollup_name text DEFAULT NULL,
    source_table regclass DEFAULT NULL,
    target_table text DEFAULT NULL,
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
    origin timestamp DEFAULT NULL,
    name text DEFAULT NULL)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    target regclass;
    created boolean;
    dist name;
BEGIN
    -- `name` is the argument's name before 0.8.0, kept for calls in named notation.
    IF name IS NOT NULL THEN
        IF rollup_name IS NOT NULL THEN
            RAISE EXCEPTION 'rollup_name and name both given' USING ERRCODE = '22023',
                HINT = 'name is the former name of rollup_name: pass only rollup_name.';
        END IF;
        RAISE WARNING 'the argument "name" of rollup.create_rollup is deprecated' USING ERRCODE = '01P01',
            HINT = 'Call it with rollup_name => instead.';
        rollup_name := name;
    END IF;
    IF rollup_name IS NULL OR source_table IS NULL OR target_table IS NULL OR dimensions IS NULL OR measures IS NULL THEN
        RAISE EXCEPTION 'rollup_name, source_table, target_table, dimensions and measures must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM rollup_internal.check_name(rollup_name);
    PERFORM rollup_internal.check_owner(source_table);
    r := rollup_internal.derive(rollup_internal.definition(rollup_name, source_table, time_column, bucket_width, dimensions, measures, mode,
                                           id_column, batch_size, bucket_column, start_after, time_zone, origin));
    IF r.mode = 'incremental' THEN
        PERFORM rollup_internal.check_explicit_ids(source_table, r.id_column, allow_explicit_ids);
    END IF;
    dist := rollup_internal.check_distribution(r);

    -- An unqualified target name is in the source table's schema.
    target_table := rollup_internal.qualify(target_table, source_table);
    target := to_regclass(target_table);
    created := target IS NULL;
    IF created THEN
        target := rollup_internal.create_target(r, target_table, dist);
    ELSE
        PERFORM rollup_internal.check_target(r, target);
    END IF;
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.target_table = target) OR target = source_table THEN
        RAISE EXCEPTION 'table % is already the target of a rollup', target USING ERRCODE = '42710';
    END IF;
    IF r.mode <> 'flush' AND start_after IS NULL AND NOT created AND rollup_internal.has_rows(target) THEN
        RAISE EXCEPTION 'target table % already holds rows', target USING ERRCODE = '55000',
            DETAIL = 'A new rollup aggregates every source row it has not seen; merged into rows that already count them, they would be counted twice.',
            HINT = CASE WHEN r.mode = 'level' THEN 'Empty the table first (TRUNCATE), or give the level a new target.'
                        ELSE 'Say where the rows it holds end: start_after => <the last source id they count>, or empty the table first.' END;
    END IF;
    r.target_table := target;

    r := rollup_internal.add_rollup(r, start_after);
    -- Start a new level from what its source already holds; as the owner, like every run.
    IF r.mode = 'level' THEN
        PERFORM rollup_internal.as_owner(r.name, 'fill');
    END IF;
    IF r.mode = 'incremental' AND NOT EXISTS (
        SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = source_table AND a.attname = r.id_column) THEN
        RAISE NOTICE 'no index of % starts with %: each run of rollup "%" reads the whole table to find its new rows',
            source_table, quote_ident(r.id_column), r.name
            USING HINT = format('CREATE INDEX ON %s (%I)', source_table, r.id_column);
    END IF;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION rollup.load_history(rollup_name text, query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
BEGIN
    IF query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM rollup_internal.refuse_stage(r, 'rollup.load_history');
    IF rollup_internal.distribution_column(r.target_table) IS NOT NULL THEN
        RAISE EXCEPTION 'rollup.load_history does not load distributed rollups' USING ERRCODE = '0A000',
            HINT = 'INSERT the rows into the target of each level with INSERT .. ON CONFLICT.';
    END IF;
    RETURN rollup_internal.as_owner(r.name, 'load', to_jsonb(query))::bigint;
END
$$;

CREATE OR REPLACE FUNCTION rollup.alter_rollup(rollup_name text, batch_size bigint DEFAULT NULL, schedule text DEFAULT NULL,
    source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL, add_measures text[] DEFAULT NULL,
    allow_partial boolean DEFAULT false)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    filled jsonb;
BEGIN
    IF batch_size IS NOT NULL THEN
        IF r.mode = 'level' THEN
            RAISE EXCEPTION 'a level has no batch size: it runs with its parent' USING ERRCODE = '22023';
        ELSIF batch_size < 0 THEN
            RAISE EXCEPTION 'batch_size must not be negative' USING ERRCODE = '22023', HINT = 'Pass 0 for no limit.';
        END IF;
        PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name, 'batch_size', nullif(batch_size, 0)));
    END IF;
    IF source_grace IS NOT NULL OR target_keep IS NOT NULL THEN
        PERFORM rollup.set_retention(r.name, coalesce(source_grace, r.source_grace), coalesce(target_keep, r.target_keep));
    END IF;
    IF cardinality(add_measures) > 0 THEN
        PERFORM rollup_internal.refuse_stage(r, 'add_measures');
        filled := rollup_internal.as_owner(r.name, 'add_measures', to_jsonb(add_measures))::jsonb;
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
    RETURN rollup_internal.get(r.name);
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.run_once(r rollup.rollups, wait_ms int)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    p rollup.progress;
    started timestamptz := clock_timestamp();
    here record;
    bound jsonb;
    upper_id bigint;
    kept jsonb;
    node text;
    nodes jsonb := '{}';
    lo bigint;
    hi bigint;
    los bigint[];
    his bigint[];
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
        n := rollup_internal.run_chain(r, NULL, NULL);
    ELSE
        SELECT * INTO here FROM rollup_internal.safe_watermark(r.id_sequence, r.source_table, wait_ms, p.checkpoints);
        kept := here.checkpoints;
        upper_id := rollup_internal.batch_end(r, p.watermark, here.safe);
        los := ARRAY[p.watermark];
        his := ARRAY[upper_id];
        -- On Citus, rows written through the other nodes, each in its node's own range of ids,
        -- in the same transaction.
        FOR node, bound IN SELECT * FROM jsonb_each(rollup_internal.node_bounds(r, p.nodes, wait_ms)) LOOP
            lo := coalesce((p.nodes->node->>'watermark')::bigint, node::bigint << 48);
            hi := rollup_internal.batch_end(r, lo, (bound->>'safe')::bigint);
            los := los || lo;
            his := his || hi;
            nodes := nodes || jsonb_build_object(node, jsonb_build_object('watermark', hi, 'checkpoints', bound->'checkpoints'));
        END LOOP;
        IF r.search IS NOT NULL THEN
            -- A search-session stage reads every range at once (searches span them).
            -- (quiet: no writer in flight anywhere)
            n := rollup_internal.run_searches(r, los, his, p.total_runs + 1,
                quiet => jsonb_array_length(kept) = 0
                         AND NOT EXISTS (SELECT FROM jsonb_each(nodes) x WHERE jsonb_array_length(x.value->'checkpoints') > 0));
        ELSE
            n := 0;
            FOR i IN 1 .. cardinality(los) LOOP
                IF his[i] > los[i] THEN
                    n := n + rollup_internal.run_chain(r, los[i], his[i]);
                END IF;
            END LOOP;
        END IF;
    END IF;
    PERFORM rollup_internal.write_catalog('run_done', jsonb_strip_nulls(jsonb_build_object('name', r.name, 'run_start', started,
        'rows', n, 'watermark', upper_id, 'checkpoints', CASE WHEN r.mode = 'incremental' THEN kept END,
        'nodes', CASE WHEN r.mode = 'incremental' THEN nodes END)));
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.reset(r rollup.rollups)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    t regclass;
BEGIN
    PERFORM rollup_internal.lock_chain(r.name);
    FOR t IN SELECT c.target_table FROM rollup_internal.chain(r.name) c
             UNION ALL SELECT rollup_internal.search_pending(r) WHERE r.search IS NOT NULL LOOP
        EXECUTE format('DELETE FROM %s', t);
    END LOOP;
    PERFORM rollup_internal.write_catalog('reset_progress', jsonb_build_object('name', r.name));
    IF r.mode = 'level' THEN
        RETURN rollup_internal.run_chain(r, NULL, NULL);
    END IF;
    r.batch_size := NULL;
    RETURN rollup_internal.run_once(r, 3600000);
END
$$;

CREATE OR REPLACE FUNCTION rollup.drop_rollup(rollup_name text, drop_target boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    child text;
    key_type regtype;
    cron_error text;
    cron_hint text;
BEGIN
    SELECT x.name INTO child FROM rollup.rollups x WHERE x.parent = r.name LIMIT 1;
    IF child IS NOT NULL THEN
        RAISE EXCEPTION 'rollup "%" feeds level "%"', r.name, child USING ERRCODE = '2BP01',
            HINT = 'Drop the level first.';
    END IF;
    -- Its pg_cron job would fail at every run: removed, or when pg_cron is in another database,
    -- named with how to remove it there.
    IF r.schedule IS NOT NULL THEN
        BEGIN
            PERFORM rollup.unschedule(r.name);
        EXCEPTION WHEN object_not_in_prerequisite_state OR insufficient_privilege THEN
            GET STACKED DIAGNOSTICS cron_error = MESSAGE_TEXT, cron_hint = PG_EXCEPTION_HINT;
            RAISE WARNING 'the pg_cron job "%" of rollup "%" is not removed: %', rollup_internal.job_name(r.name), r.name, cron_error
                USING HINT = cron_hint;
        END;
    END IF;
    PERFORM rollup_internal.write_catalog('drop_rollup', jsonb_build_object('name', r.name));
    -- A search-session stage's open searches go with it.
    IF r.search IS NOT NULL THEN
        EXECUTE format('DROP TABLE %s', rollup_internal.search_pending(r));
    END IF;
    IF drop_target THEN
        key_type := rollup_internal.key_type(r.target_table);
        EXECUTE format('DROP TABLE %s', r.target_table);
        IF key_type IS NOT NULL THEN
            EXECUTE format('DROP TYPE %s', key_type);
        END IF;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION rollup.set_retention(rollup_name text, source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION rollup_internal.verify(r rollup.rollups, range_start timestamptz, range_end timestamptz,
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

CREATE OR REPLACE FUNCTION rollup_internal.catalog_write(op text, caller oid, args jsonb)
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

-- New: search-session stages.

-- Raises for a search-session stage: `what` is for rollups.
CREATE FUNCTION rollup_internal.refuse_stage(r rollup.rollups, what text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF r.search IS NOT NULL THEN
        RAISE EXCEPTION '% does not apply to search-session stage "%"', what, r.name USING ERRCODE = '0A000',
            HINT = format('Its target %s is a table of searches: build rollups on it.', r.target_table);
    END IF;
END
$$;

-- The table where stage r keeps its open searches.
CREATE FUNCTION rollup_internal.search_pending(r rollup.rollups)
RETURNS regclass
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (r.search->>'pending')::oid::regclass
$$;

-- Columns `names` of the relation aliased `alias`, quoted, comma-separated: "alias.a, alias.b"
-- (NULL for none).
CREATE FUNCTION rollup_internal.column_list(alias text, names name[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(alias || '.' || quote_ident(c), ', ' ORDER BY o) FROM unnest(names) WITH ORDINALITY u(c, o)
$$;

-- The searches of one user's requests (rollup_core::searches::walk): the arguments are a
-- request's query, time, id, keystrokes (1; minus an open search's count) and first time (its
-- own; an open search's first), and the gap. It returns an array per column of the searches,
-- in the same order: their final queries, first and last times, keystrokes, their last
-- request's id and position among the group's rows (in the order they came, as array_agg keeps
-- them), and whether each is finished (another search of the user followed it; the user's last
-- search is finished once the horizon is `gap` past its last request); then how many rows were
-- new requests and the newest one's time (-infinity when none). Searches whose final query is
-- empty are left out.
CREATE FUNCTION rollup_internal.search_trans(internal, text, timestamptz, bigint, integer, timestamptz, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'pg_rollup_search_trans'
LANGUAGE C PARALLEL SAFE;
CREATE TYPE rollup_internal.search_result AS (queries text[], first_at timestamptz[], last_at timestamptz[], keystrokes bigint[],
                                              last_ids bigint[], positions bigint[], finished boolean[],
                                              new_requests bigint, newest timestamptz);
CREATE FUNCTION rollup_internal.search_final(internal)
RETURNS rollup_internal.search_result
AS 'MODULE_PATHNAME', 'pg_rollup_search_final'
LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE rollup_internal.searches(text, timestamptz, bigint, integer, timestamptz, interval) (
    SFUNC = rollup_internal.search_trans,
    STYPE = internal,
    FINALFUNC = rollup_internal.search_final,
    FINALFUNC_MODIFY = READ_WRITE
);

-- Whether query `next` continues query `previous` (rollup_core::searches::continues).
CREATE FUNCTION rollup_internal.search_continues(previous text, next text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_rollup_search_continues'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The statements of run number `run` (which marks the pending rows it writes) of stage r over
-- `ranges` ranges of ids, bound to $1 (the ranges' lower ends, exclusive), $2 (their upper
-- ends), $3 (`run`) and $4. The collapse: the new requests and the open searches grouped by user
-- by hashing, each user's collapsed by rollup_internal.searches; the finished searches go to
-- the target, the open ones to the pending table, which loses the rows read. On a plain table
-- that is one statement, which returns the number of new requests and the horizon (their
-- newest time, or now() if that is later; $4 when there is none: now() when no writer is in
-- flight, else NULL). On Citus,
-- where a statement whose CTEs write is not run on the shards, four: the number of new requests
-- and the horizon (the oldest of each range's newest time), then with $4 that horizon, the
-- collapse into the pending table (finished searches marked), the finished ones moved to the
-- target (the target's ids are drawn on the coordinator, where Citus plans the statement only
-- without parameters: `run` is written into it), and the rows read or moved deleted; each over
-- tables colocated by the user's distribution column.
CREATE FUNCTION rollup_internal.search_statements(r rollup.rollups, ranges int, run bigint)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pending regclass := rollup_internal.search_pending(r);
    q name := r.search->>'query_column';
    keep name[] := ARRAY(SELECT jsonb_array_elements_text(r.search->'keep'));
    users text := rollup_internal.ident_list(r.dimension_names);
    -- (columns: users, the query, first_at, last_at, keystrokes, kept ones)
    columns text := format('%s, %I, first_at, last_at, keystrokes', users, q) || coalesce(', ' || rollup_internal.ident_list(keep), '');
    per_range text[] := ARRAY(SELECT format('s.%1$I > $1[%2$s] AND s.%1$I <= $2[%2$s]', r.id_column, i) FROM generate_series(1, ranges) i);
    groups text;
    searches text;
BEGIN
    -- A row per user: the searches (rollup_internal.searches), the kept columns of every request
    -- in the order they came, and how many of them are new and the newest's time. (A request
    -- with a user column NULL is given no time: it is counted and part of no search.)
    groups := format($sql$SELECT %1$s, %2$s AS "pg_rollup searches"%3$s,
       (%2$s).new_requests AS "pg_rollup new", nullif((%2$s).newest, '-infinity') AS "pg_rollup newest"
FROM (
    SELECT %4$s, s.%5$I AS "pg_rollup q", CASE WHEN ROW(%4$s) IS NOT NULL THEN s.%6$I END AS "pg_rollup at", s.%7$I AS "pg_rollup id",
           1 AS "pg_rollup n", s.%6$I AS "pg_rollup first"%8$s
    FROM %9$s s WHERE %10$s
    UNION ALL
    SELECT %11$s, p.%5$I, p.last_at, p."pg_rollup last_id", -p.keystrokes, p.first_at%12$s
    FROM %13$s p WHERE p."pg_rollup run" <> $3 AND NOT p."pg_rollup closed"
) k
GROUP BY %1$s$sql$,
        users,
        format('rollup_internal.searches("pg_rollup q", "pg_rollup at", "pg_rollup id", "pg_rollup n", "pg_rollup first", %L)', r.bucket_width),
        coalesce((SELECT string_agg(format(', array_agg(%I) AS "pg_rollup keep %s"', k, o), '' ORDER BY o) FROM unnest(keep) WITH ORDINALITY u(k, o)), ''),
        rollup_internal.column_list('s', r.dimension_names), q, r.time_column, r.id_column,
        coalesce(', ' || rollup_internal.column_list('s', keep), ''), r.source_table,
        array_to_string(per_range, ' OR '), rollup_internal.column_list('p', r.dimension_names),
        coalesce(', ' || rollup_internal.column_list('p', keep), ''), pending);
    -- A row per search of `%1$s` (the groups above): the target's columns, its last request's id
    -- and whether it is finished, with `%2$s` the horizon. (The arrays unnested side by side:
    -- set-returning functions in the select list, which Citus runs on the shards, where a join
    -- with one would not be.)
    searches := format($sql$SELECT %1$s, "pg_rollup q" AS %2$I, "pg_rollup first_at" AS first_at, "pg_rollup last_at" AS last_at,
       "pg_rollup keystrokes"::int AS keystrokes%3$s, "pg_rollup last_id",
       "pg_rollup followed" OR coalesce("pg_rollup last_at" <= %%2$s - %4$L::interval, false) AS "pg_rollup finished"
FROM (SELECT g.*, unnest(("pg_rollup searches").queries) AS "pg_rollup q",
             unnest(("pg_rollup searches").first_at) AS "pg_rollup first_at", unnest(("pg_rollup searches").last_at) AS "pg_rollup last_at",
             unnest(("pg_rollup searches").keystrokes) AS "pg_rollup keystrokes", unnest(("pg_rollup searches").last_ids) AS "pg_rollup last_id",
             unnest(("pg_rollup searches").positions) AS "pg_rollup position", unnest(("pg_rollup searches").finished) AS "pg_rollup followed"
      FROM %%1$s g) g$sql$,
        users, q,
        coalesce((SELECT string_agg(format(', "pg_rollup keep %s"["pg_rollup position"] AS %I', o, k), '' ORDER BY o)
                  FROM unnest(keep) WITH ORDINALITY u(k, o)), ''),
        r.bucket_width);
    IF rollup_internal.distribution_column(r.source_table) IS NULL THEN
        RETURN ARRAY[format($sql$WITH g AS (%1$s),
h AS (SELECT coalesce(sum("pg_rollup new"), 0)::bigint AS n,
             CASE WHEN coalesce(sum("pg_rollup new"), 0) = 0 THEN $4 WHEN max("pg_rollup newest") > now() THEN now()
                  ELSE max("pg_rollup newest") END AS horizon FROM g),
c AS (%2$s),
w AS (INSERT INTO %3$s (%4$s) SELECT %4$s FROM c WHERE "pg_rollup finished"),
d AS (DELETE FROM %5$s p WHERE p."pg_rollup run" <> $3),
o AS (INSERT INTO %5$s (%4$s, "pg_rollup last_id", "pg_rollup run", "pg_rollup closed")
      SELECT %4$s, "pg_rollup last_id", $3, false FROM c WHERE NOT "pg_rollup finished")
SELECT n, horizon FROM h$sql$, groups, format(searches, 'g', '(SELECT horizon FROM h)'), r.target_table, columns, pending)];
    END IF;
    RETURN ARRAY[
        format('SELECT coalesce(sum(c), 0)::bigint, CASE WHEN min(m) > now() THEN now() ELSE min(m) END FROM (%s) x WHERE c > 0',
               (SELECT string_agg(format('SELECT count(*) AS c, max(CASE WHEN ROW(%s) IS NOT NULL THEN s.%I END) AS m FROM %s s WHERE %s',
                                         rollup_internal.column_list('s', r.dimension_names), r.time_column, r.source_table, f), ' UNION ALL ')
                FROM unnest(per_range) f)),
        format($sql$INSERT INTO %1$s (%2$s, "pg_rollup last_id", "pg_rollup run", "pg_rollup closed")
SELECT %2$s, "pg_rollup last_id", $3, "pg_rollup finished" FROM (%3$s) c$sql$, pending, columns, format(searches, '(' || groups || ')', '$4')),
        format($sql$INSERT INTO %1$s (%2$s) SELECT %2$s FROM %3$s p WHERE p."pg_rollup run" = %4$s AND p."pg_rollup closed"$sql$,
               r.target_table, columns, pending, run),
        format('DELETE FROM %s p WHERE p."pg_rollup run" <> $3 OR p."pg_rollup closed"', pending)];
END
$$;

-- A run of stage r over the ranges of ids (los[i], his[i]] (rollup_internal.run_once), as run
-- number `run`; returns the number of new requests. quiet: no writer of the source is in
-- flight (a run that finds no new request then ends the searches quiet for `gap` by the
-- clock). validate: plans the statements only. The requests are grouped by user by hashing
-- (sorting them by user, text columns, took longer than the rest of the run) and without JIT
-- (as rollup_internal.run_chain).
CREATE FUNCTION rollup_internal.run_searches(r rollup.rollups, los bigint[], his bigint[], run bigint, quiet boolean,
                                             validate boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
SET jit = off
AS $$
DECLARE
    statements text[] := rollup_internal.search_statements(r, cardinality(los), run);
    n bigint;
    horizon timestamptz := CASE WHEN quiet THEN now() END;
BEGIN
    IF validate THEN
        FOR i IN 1 .. cardinality(statements) LOOP
            EXECUTE 'EXPLAIN ' || statements[i] USING los, his, run, now();
        END LOOP;
        RETURN 0;
    ELSIF cardinality(statements) = 1 THEN
        EXECUTE statements[1] INTO n USING los, his, run, horizon;
        RETURN n;
    END IF;
    EXECUTE statements[1] INTO n, horizon USING los, his;
    IF n = 0 AND quiet THEN
        horizon := now();
    END IF;
    FOR i IN 2 .. cardinality(statements) LOOP
        EXECUTE statements[i] USING los, his, run, horizon;
    END LOOP;
    RETURN n;
END
$$;

-- Raises unless the columns of a stage can be read from `source`: the time column timestamptz,
-- the query a string, every name distinct from the target's own columns.
CREATE FUNCTION rollup_internal.check_search(source regclass, user_columns name[], query_column name, time_column name, keep name[], gap interval)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c name;
    t regtype;
BEGIN
    IF gap IS NULL OR gap <= interval '0' THEN
        RAISE EXCEPTION 'gap must be a positive interval' USING ERRCODE = '22023';
    END IF;
    IF cardinality(user_columns) = 0 THEN
        RAISE EXCEPTION 'a search-session stage needs at least one user column' USING ERRCODE = '22023';
    END IF;
    FOREACH c IN ARRAY user_columns || query_column || time_column || keep LOOP
        PERFORM rollup_internal.check_column(source, c);
    END LOOP;
    t := (SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = source AND a.attname = time_column);
    IF t <> 'timestamptz'::regtype THEN
        RAISE EXCEPTION 'column % of % is %, not timestamp with time zone', quote_ident(time_column), source, t USING ERRCODE = '42804',
            HINT = 'Searches end by the clock when no request comes: their times must say which instant they are.';
    END IF;
    t := (SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = source AND a.attname = query_column);
    IF t NOT IN ('text'::regtype, 'character varying'::regtype) THEN
        RAISE EXCEPTION 'column % of % is %, not text or varchar', quote_ident(query_column), source, t USING ERRCODE = '42804';
    END IF;
    IF EXISTS (SELECT FROM unnest(user_columns || query_column || keep || ARRAY['id', 'first_at', 'last_at', 'keystrokes']::name[]) x
               GROUP BY x HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'user columns, the query column, kept columns and id, first_at, last_at, keystrokes must be distinct: %',
            array_to_string(user_columns || query_column || keep, ', ') USING ERRCODE = '42701';
    END IF;
END
$$;

-- Declares a search-session stage `rollup_name`: the requests of `source_table` (one row per
-- keystroke, with an identity or serial id) collapsed into one row per search in
-- `target_table` (created; unqualified: in the source's schema), with the pending table beside
-- it. The target's columns: id (identity, so that rollups can read it incrementally), the user
-- columns, the query column (the final query), first_at and last_at (the times of the first and
-- last request), keystrokes (requests), the kept columns (the last request's). Run, schedule,
-- status, retention and drop it like a rollup; build rollups on its target.
CREATE FUNCTION rollup.create_search_sessions(
    rollup_name text,
    source_table regclass,
    target_table text,
    user_columns name[],
    query_column name,
    time_column name,
    gap interval DEFAULT '3 seconds',
    keep name[] DEFAULT '{}',
    id_column name DEFAULT NULL,
    batch_size bigint DEFAULT NULL,
    start_after bigint DEFAULT NULL,
    allow_explicit_ids boolean DEFAULT false)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    dist name;
    target regclass;
    pending regclass;
    pending_name text;
    select_sql text;
    other text;
BEGIN
    IF rollup_name IS NULL OR source_table IS NULL OR target_table IS NULL OR user_columns IS NULL OR query_column IS NULL
       OR time_column IS NULL OR keep IS NULL THEN
        RAISE EXCEPTION 'rollup_name, source_table, target_table, user_columns, query_column, time_column and keep must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    PERFORM rollup_internal.check_name(rollup_name);
    PERFORM rollup_internal.check_owner(source_table);
    PERFORM rollup_internal.check_search(source_table, user_columns, query_column, time_column, keep, gap);
    SELECT x.name INTO other FROM rollup.rollups x WHERE x.target_table = create_search_sessions.source_table;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'the source of search-session stage "%" is the target of rollup "%"', rollup_name, other USING ERRCODE = '22023';
    END IF;
    r := rollup_internal.definition(rollup_name, source_table, time_column, gap,
                                    ARRAY(SELECT quote_ident(u) FROM unnest(user_columns) u), '{}', 'incremental',
                                    id_column, batch_size, 'last_at', start_after, NULL, NULL);
    r.search := jsonb_build_object('query_column', query_column, 'keep', to_jsonb(keep));
    r := rollup_internal.derive(r);
    PERFORM rollup_internal.check_explicit_ids(source_table, r.id_column, allow_explicit_ids);
    dist := rollup_internal.check_distribution(r);

    target_table := rollup_internal.qualify(target_table, source_table);
    IF to_regclass(target_table) IS NOT NULL THEN
        RAISE EXCEPTION 'relation % already exists', target_table USING ERRCODE = '42P07',
            HINT = 'A search-session stage creates its target.';
    END IF;
    pending_name := rollup_internal.qualify(quote_ident(left((parse_ident(target_table))[2], 55) || '_pending'), source_table);
    IF to_regclass(pending_name) IS NOT NULL THEN
        RAISE EXCEPTION 'relation % already exists', pending_name USING ERRCODE = '42P07',
            HINT = 'A search-session stage keeps its open searches in a table of this name.';
    END IF;
    -- The columns from the source's, typed as they are there.
    select_sql := format('SELECT %s, s.%I, s.%I AS first_at, s.%3$I AS last_at, 0 AS keystrokes%s FROM %s s',
        rollup_internal.column_list('s', user_columns), query_column, time_column,
        coalesce(', ' || rollup_internal.column_list('s', keep), ''), source_table);
    EXECUTE format('CREATE TABLE %s AS %s WITH NO DATA', target_table, select_sql);
    target := target_table::regclass;
    EXECUTE format('ALTER TABLE %s ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1)', target);
    -- Rollups read it by ranges of ids, which grow with the pages it fills: a BRIN index finds
    -- them at a fraction of a B-tree's cost to the run that writes. (An index on the times is the
    -- reader's choice.)
    EXECUTE format('CREATE INDEX ON %s USING brin (id)', target);
    EXECUTE format('CREATE TABLE %s AS SELECT x.*, 0::bigint AS "pg_rollup last_id", 0::bigint AS "pg_rollup run", false AS "pg_rollup closed" FROM (%s) x WITH NO DATA',
                   pending_name, select_sql);
    pending := pending_name::regclass;
    EXECUTE format('ALTER TABLE %s ALTER COLUMN "pg_rollup run" SET NOT NULL, ALTER COLUMN "pg_rollup closed" SET NOT NULL', pending);
    EXECUTE format('COMMENT ON TABLE %s IS %L', target, format('searches of pg_rollup search-session stage "%s"', rollup_name));
    EXECUTE format('COMMENT ON TABLE %s IS %L', pending, format('searches still open of pg_rollup search-session stage "%s"', rollup_name));
    IF dist IS NOT NULL THEN
        EXECUTE 'SELECT create_distributed_table($1, $2, colocate_with => $3)' USING target, dist::text, source_table::text;
        EXECUTE 'SELECT create_distributed_table($1, $2, colocate_with => $3)' USING pending, dist::text, source_table::text;
    END IF;
    r.target_table := target;
    r.search := r.search || jsonb_build_object('pending', pending::oid);

    RETURN rollup_internal.add_rollup(r, start_after);
END
$$;


-- Query views read the finer rows as they are (no grouping) when each is a group of its own
-- (rollup_internal.fine_rows_sql); views made before keep their definition until made again.
-- The column a fragment reads as a whole (pg_rollup::sqlparse::fragment_column).
CREATE  FUNCTION rollup_internal."fragment_column"(
	"fragment" TEXT /* & str */
) RETURNS TEXT /* Option < String > */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fragment_column_wrapper';

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
CREATE OR REPLACE FUNCTION rollup.create_view(rollup_name text, view_name text, fine_window interval DEFAULT NULL)
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

-- The range form of query view `view_name` over level r: a function of the same name,
-- view_name(range_start, range_end), whose rows add up to exactly [range_start, range_end)
-- wherever the rollups still hold it: the level's rows for its whole buckets inside the range,
-- the finer rollup's rows for the partial coarse buckets at either end. Column `exact` is false
-- on a row that covers time outside the range: a finer bucket cut by an edge that is not on the
-- finer buckets, or a coarse bucket cut by an edge where retention already deleted the finer rows.
CREATE OR REPLACE FUNCTION rollup_internal.create_range_function(r rollup.rollups, view_name text)
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


COMMENT ON FUNCTION rollup.create_search_sessions(text,regclass,text,name[],name,name,interval,name[],name,bigint,bigint,boolean) IS 'define a search-session stage: instant-search requests (a row per keystroke) collapsed into a row per search, with its final query, in a target table it creates; run, schedule and read it like a rollup';
