-- pg_rollup 0.1.0 -> 0.2.0
-- rollup.run checks max_wait before looking up the rollup; rollup.schedule and unschedule work
-- for roles that may not read cron.database_name, and say how to grant them the cron schema;
-- a new level starts from what its source rollup already holds; rollup.catch_up releases its
-- lock before retention; index names of uniqueness rules are cut by bytes, not characters;
-- one builder (rollup._chain_sql) makes the whole statement of a run, a reset and a new level.
-- Citus: rollups of distributed tables run as statements pushed down to colocated shards
-- (rollup._run_statements, rollup._run_chain instead of rollup._run_sql), their targets are
-- distributed like their source, retention deletes per shard, query views compute their boundary
-- on the coordinator; rollup.explain_run shows the plans.
-- topn: items are ranked, trimmed and reported by the weight seen for them (the lower bound);
-- topn_columns returns lower and upper bounds.

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

DROP FUNCTION rollup._chain_sql(text, text);
CREATE FUNCTION rollup._chain_sql(top text, from_sql text, first_cte text DEFAULT NULL)
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
                      rollup._aggregate_sql(r, CASE WHEN r.name = top THEN from_sql
                                                    ELSE format('d%s s', array_position(names, r.parent)) END,
                                            r.name = top))
            || format('m%s AS (%s)', cardinality(names), rollup._merge_into_sql(r, 'd' || cardinality(names)));
    END LOOP;
    RETURN format(E'WITH %s\nSELECT coalesce(sum("pg_rollup rows"), 0)::bigint FROM d1', array_to_string(ctes, E',\n'));
END
$$;

CREATE OR REPLACE FUNCTION rollup.create_rollup(
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
    bucket_column name DEFAULT 'bucket')
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    parent_r rollup.rollups;
    parsed jsonb;
    frag text;
    time_type regtype;
    target regclass;
    parent_width numeric;
    width_ok boolean;
    sql text;
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
    r.owner := current_user::regrole;
    r.created_at := now();

    SELECT * INTO parent_r FROM rollup.rollups x WHERE x.target_table = create_rollup.source_table;
    IF parent_r.name IS NOT NULL THEN
        IF coalesce(mode, 'level') <> 'level' THEN
            RAISE EXCEPTION 'the source of rollup "%" is the target of rollup "%"; it can only be a level', name, parent_r.name
                USING ERRCODE = '22023';
        END IF;
        r.mode := 'level';
        r.parent := parent_r.name;
        r.time_column := coalesce(time_column, parent_r.bucket_column);
        IF batch_size IS NOT NULL THEN
            RAISE EXCEPTION 'a level has no batch size: it runs with its parent' USING ERRCODE = '22023';
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

    SELECT atttypid::regtype INTO time_type FROM pg_attribute
    WHERE attrelid = source_table AND attname = r.time_column AND attnum > 0 AND NOT attisdropped;
    IF time_type IS NULL THEN
        PERFORM rollup._check_column(source_table, r.time_column);
    END IF;
    r.bucket_sql := rollup._bucket_sql('s.' || quote_ident(r.time_column), time_type, bucket_width);
    IF r.mode = 'level' THEN
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
        PERFORM rollup._check_column(source_table, id_column);
        r.id_column := id_column;
        r.id_sequence := pg_get_serial_sequence(source_table::text, id_column)::regclass;
        IF r.id_sequence IS NULL THEN
            RAISE EXCEPTION 'column % of % is not an identity or serial column', quote_ident(id_column), source_table
                USING ERRCODE = '22023';
        END IF;
        PERFORM rollup._check_sequence(r.id_sequence);
    ELSIF id_column IS NOT NULL THEN
        RAISE EXCEPTION 'id_column applies to incremental rollups only' USING ERRCODE = '22023';
    END IF;

    -- Dimensions: a column, or an expression with AS name.
    r.dimensions := '{}';
    r.dimension_names := '{}';
    FOREACH frag IN ARRAY dimensions LOOP
        parsed := rollup._parse_fragment(frag, 'dimension');
        IF parsed->>'name' IS NULL THEN
            RAISE EXCEPTION 'dimension "%" needs a name', frag USING ERRCODE = '42601',
                HINT = 'Add AS <column name>, e.g. payload->>''query'' AS query.';
        END IF;
        r.dimensions := r.dimensions || frag;
        r.dimension_names := r.dimension_names || (parsed->>'name')::name;
    END LOOP;
    -- Measures: an aggregate call with AS name and a merge rule.
    IF cardinality(measures) = 0 THEN
        RAISE EXCEPTION 'a rollup needs at least one measure' USING ERRCODE = '22023';
    END IF;
    r.measures := '{}';
    r.measure_names := '{}';
    r.merge_rules := '{}';
    FOREACH frag IN ARRAY measures LOOP
        parsed := rollup._parse_fragment(frag, 'measure');
        r.merge_rules := r.merge_rules || rollup._merge_rule(frag, parsed, r.mode = 'level');
        r.measures := r.measures || frag;
        r.measure_names := r.measure_names || (parsed->>'name')::name;
    END LOOP;
    IF EXISTS (SELECT FROM unnest(r.dimension_names || r.bucket_column || r.measure_names) c GROUP BY c HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'dimension, bucket and measure names must be distinct: %',
            array_to_string(r.dimension_names || r.bucket_column || r.measure_names, ', ') USING ERRCODE = '42701';
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
    IF target IS NULL THEN
        sql := rollup._aggregate_sql(r, format('%s s', source_table), false);
        EXECUTE format(E'CREATE TABLE %s AS\n%s\nWITH NO DATA', target_table, sql);
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
    r.target_table := target;

    INSERT INTO rollup.rollups SELECT r.*;
    INSERT INTO rollup.progress (name, watermark)
    SELECT r.name, CASE WHEN r.mode = 'incremental' THEN (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence) END;

    -- Validate the whole generated statement (types, merge functions, unique key) now.
    SELECT * INTO parent_r FROM rollup.rollups x WHERE x.name = rollup._root(r.name);
    PERFORM rollup._run_chain(parent_r, NULL, NULL, validate => true);
    -- A new level starts from what its source already holds (runs of the chain wait).
    IF r.mode = 'level' THEN
        PERFORM pg_advisory_xact_lock(hashtext('pg_rollup'), hashtext(parent_r.name));
        PERFORM rollup._run_chain(r, NULL, NULL);
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

CREATE OR REPLACE FUNCTION rollup.reset(rollup_name text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
    t regclass;
    n bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup._root(r.name))) THEN
        RAISE EXCEPTION 'rollup "%" is running', rollup._root(r.name) USING ERRCODE = '55006';
    END IF;
    IF r.mode = 'flush' THEN
        RAISE EXCEPTION 'a flush rollup cannot be reset: its source rows were consumed' USING ERRCODE = '55000';
    END IF;
    FOR t IN SELECT c.target_table FROM rollup._chain(r.name) c LOOP
        EXECUTE format('DELETE FROM %s', t);
    END LOOP;
    IF r.mode = 'level' THEN
        n := rollup._run_chain(r, NULL, NULL);
    ELSE
        UPDATE rollup.progress SET watermark = (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence),
                                   checkpoints = '[]'
        WHERE name = r.name;
        r.batch_size := NULL;
        n := rollup._run_once(r, 3600000);
    END IF;
    RETURN n;
END
$$;

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
            n := rollup._run_once(r, 1000);
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

    BEGIN
        INSERT INTO rollup.uniqueness_rules (events_table, platform_column, platform, keys, index_name)
        VALUES (add_uniqueness_rule.events_table, add_uniqueness_rule.platform_column,
                add_uniqueness_rule.platform, add_uniqueness_rule.keys, idx);
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'table % already has a uniqueness rule for platform %', events_table, quote_literal(platform)
            USING ERRCODE = '42710', HINT = 'Drop it first with rollup.drop_uniqueness_rule.';
    END;
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

CREATE OR REPLACE FUNCTION rollup._run_statements(r rollup.rollups)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    from_sql text := format('%s s', r.source_table);
    x rollup.rollups;
    names text[] := '{}';
    aggregations text[] := '{}';
    statements text[];
BEGIN
    IF r.mode = 'incremental' THEN
        from_sql := from_sql || format(' WHERE s.%I > $1 AND s.%1$I <= $2', r.id_column);
    END IF;
    IF rollup._distribution_column(r.source_table) IS NULL THEN
        IF r.mode = 'flush' THEN
            RETURN ARRAY[rollup._chain_sql(r.name, 'flushed s',
                format(E'flushed AS (DELETE FROM %s WHERE $2 IS NULL OR (tableoid, ctid) IN (\n'
                       || E'    SELECT tableoid, ctid FROM %1$s LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *)', r.source_table))];
        END IF;
        RETURN ARRAY[rollup._chain_sql(r.name, from_sql)];
    END IF;
    statements := ARRAY[format('SELECT count(*) FROM %s', from_sql)];
    FOR x IN SELECT * FROM rollup._chain(r.name) LOOP
        aggregations := aggregations || rollup._aggregate_sql(x,
            CASE WHEN x.name = r.name THEN from_sql
                 ELSE format('(%s) s', aggregations[array_position(names, x.parent)]) END, false);
        names := names || x.name;
        statements := statements || rollup._merge_into_sql(x, format('(%s) d', aggregations[cardinality(aggregations)]));
    END LOOP;
    IF r.mode = 'flush' THEN
        statements := statements || format('DELETE FROM %s', r.source_table);
    END IF;
    RETURN statements;
END
$$;

CREATE OR REPLACE FUNCTION rollup._run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    statements text[] := rollup._run_statements(r);
    -- One statement on a plain table, several on Citus.
    distributed boolean := cardinality(statements) > 1;
    n bigint;
BEGIN
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

CREATE OR REPLACE FUNCTION rollup.explain_run(rollup_name text)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(coalesce(rollup._root(rollup_name), rollup_name));
    statement text;
    w bigint := (SELECT p.watermark FROM rollup.progress p WHERE p.name = r.name);
BEGIN
    FOREACH statement IN ARRAY rollup._run_statements(r) LOOP
        RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || statement USING w, CASE WHEN r.mode = 'flush' THEN r.batch_size ELSE w END;
    END LOOP;
END
$$;

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
    SELECT * INTO p FROM rollup.progress WHERE name = r.name FOR UPDATE;

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
        UPDATE rollup.progress SET watermark = upper_id, checkpoints = kept WHERE name = r.name;
    END IF;
    UPDATE rollup.progress
    SET last_run_start = started, last_run_end = clock_timestamp(), last_rows = n,
        total_runs = total_runs + 1, total_rows = total_rows + n, last_error = NULL
    WHERE name = r.name;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION rollup._retention_batch(r rollup.rollups, target boolean, batch_size bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cond text;
    n bigint;
    -- On Citus a batch is what each shard deletes in one statement (no LIMIT across shards).
    distributed boolean := rollup._distribution_column(CASE WHEN target THEN r.target_table ELSE r.source_table END) IS NOT NULL;
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

DROP FUNCTION rollup._run_sql(rollup.rollups);

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
    RETURN qualified::regclass;
END
$$;

-- topn readers rank items by the weight seen (lower bound) and report it as the frequency.
DROP FUNCTION topn_columns(topn, integer);
CREATE FUNCTION topn_columns(topn, integer, OUT items text[], OUT lower_bounds bigint[],
                             OUT upper_bounds bigint[], OUT guaranteed boolean[])
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_columns' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION topn(topn, integer) RETURNS TABLE (item text, frequency bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT ROWS 100
    AS $$ SELECT u.item, u.frequency FROM topn_columns($1, $2) c, unnest(c.items, c.lower_bounds) WITH ORDINALITY AS u(item, frequency, rank) ORDER BY u.rank $$;
CREATE OR REPLACE FUNCTION topn(jsonb, integer) RETURNS TABLE (item text, frequency bigint)
    LANGUAGE sql STABLE PARALLEL SAFE STRICT ROWS 100
    AS $$ SELECT t.item, t.frequency FROM topn(topn($1), $2) t $$;
CREATE OR REPLACE FUNCTION topn_bounds(topn, integer)
    RETURNS TABLE (item text, frequency bigint, lower_bound bigint, upper_bound bigint, guaranteed boolean)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT ROWS 100
    AS $$ SELECT u.item, u.lower_bound, u.lower_bound, u.upper_bound, u.guaranteed
          FROM topn_columns($1, $2) c,
               unnest(c.items, c.lower_bounds, c.upper_bounds, c.guaranteed) WITH ORDINALITY AS u(item, lower_bound, upper_bound, guaranteed, rank)
          ORDER BY u.rank $$;
CREATE OR REPLACE FUNCTION topn_items(topn, integer) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT items FROM topn_columns($1, $2) $$;
CREATE OR REPLACE FUNCTION topn_jsonb(topn, integer) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT coalesce(jsonb_agg(jsonb_build_object('item', u.item, 'frequency', u.lower_bound,
                                                        'upper_bound', u.upper_bound, 'guaranteed', u.guaranteed) ORDER BY u.rank), '[]')
          FROM topn_columns($1, $2) c,
               unnest(c.items, c.lower_bounds, c.upper_bounds, c.guaranteed) WITH ORDINALITY AS u(item, lower_bound, upper_bound, guaranteed, rank) $$;

-- rollup.ingest inserts without ON CONFLICT first, skipping in-batch duplicates with rollup._first_of_key.
CREATE FUNCTION rollup._first_of_key(VARIADIC "any") RETURNS boolean
    AS 'MODULE_PATHNAME', 'pg_rollup_first_of_key' LANGUAGE C VOLATILE PARALLEL UNSAFE;
DROP FUNCTION rollup._ingest(regclass, text, name[], jsonb, regclass);
CREATE FUNCTION rollup._ingest(
    events_table regclass, source_sql text, source_once boolean, cols name[], keys_comparable boolean,
    batch jsonb, rejects_table regclass,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off  -- compiling the long key expressions costs more than it saves
AS $$
DECLARE
    col_list text := rollup._ident_list(cols);
    reasons text := '';
    firsts text := '';
    keep text;
    rule record;
    reason text;
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
    FOR rule IN SELECT * FROM rollup.uniqueness_rules r WHERE r.events_table = _ingest.events_table ORDER BY r.platform LOOP
        IF NOT rule.platform_column = ANY (cols) THEN
            RAISE EXCEPTION 'the batch has no column % for the uniqueness rule of platform %',
                quote_ident(rule.platform_column), quote_literal(rule.platform) USING ERRCODE = '42703';
        END IF;
        reason := format('%L', format('platform %s: a key is missing (%s)', rule.platform, array_to_string(rule.keys, ', ')));
        reasons := reasons || format(E'\n    WHEN b.%I = %L AND (%s) THEN %s',
            rule.platform_column, rule.platform,
            (SELECT string_agg(format(E'(\n%s\n) IS NULL', k), ' OR ') FROM unnest(rule.keys) k),
            CASE WHEN rejects_table IS NULL THEN format('rollup._refuse_event(%s, to_jsonb(b))', reason) ELSE reason END);
        firsts := firsts || format(E'\n    WHEN b.%I = %L THEN rollup._first_of_key(%s)',
            rule.platform_column, rule.platform,
            (SELECT string_agg(format(E'(\n%s\n)', k), ', ') FROM unnest(rule.keys) k));
    END LOOP;
    IF reasons = '' THEN
        reasons := 'NULL::text';
        filtered := false;
    ELSE
        reasons := 'CASE' || reasons || E'\n    END';
    END IF;
    -- _first_of_key is NULL for a row with a NULL key: only then are the reasons evaluated.
    keep := CASE WHEN filtered THEN format(E'coalesce(CASE%s\n    ELSE true END, %s IS NULL)', firsts, reasons)
                 ELSE format('%s IS NULL', reasons) END;
    IF rejects_table IS NOT NULL THEN
        PERFORM rollup._check_column(rejects_table, 'reason');
        PERFORM rollup._check_column(rejects_table, 'event');
        rejects_sql := format(E'INSERT INTO %s (reason, event)\n    SELECT r.reason, to_jsonb(b) FROM %s b, LATERAL (SELECT %s AS reason) r\n    WHERE r.reason IS NOT NULL',
                              rejects_table, src, reasons);
    END IF;
    prefix := format(E'INSERT INTO %s (%s) SELECT %s FROM %s b\n    WHERE %s', events_table, col_list, col_list, src, keep);
    IF source_once THEN
        prefix := format(E'WITH batch AS (%s),\n    rejected AS (%s),\n    inserted AS (%s',
                         source_sql, coalesce(rejects_sql || ' RETURNING 1', 'SELECT 1 WHERE false'), prefix);
        suffix := E' RETURNING 1)\nSELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM inserted), (SELECT count(*) FROM rejected)';
    ELSE
        rejected := 0;
        IF rejects_sql IS NOT NULL THEN
            EXECUTE rejects_sql USING batch;
            GET DIAGNOSTICS rejected = ROW_COUNT;
        END IF;
    END IF;

    FOR attempt IN 1..2 LOOP
        CONTINUE WHEN attempt = 1 AND NOT filtered;
        BEGIN
            IF source_once THEN
                EXECUTE prefix || CASE WHEN attempt = 2 THEN E'\n    ON CONFLICT DO NOTHING' ELSE '' END || suffix
                    INTO total, inserted, rejected USING batch;
            ELSE
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
    IF NOT source_once THEN
        EXECUTE format('SELECT count(*) FROM %s b', src) INTO total USING batch;
    END IF;
    duplicates := total - inserted - rejected;
END
$$;
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
        NOT temporary, cols, same_types, NULL, rejects_table) i;
    IF temporary AND NOT keep_staging THEN
        EXECUTE format('TRUNCATE %s', staging_table);
    END IF;
END
$$;
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
        true, cols, true, events, rejects_table) i;
END
$$;

-- A dropped events table takes its uniqueness rules along; a rule's index cannot be dropped alone.
DELETE FROM rollup.uniqueness_rules r WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.events_table);
CREATE FUNCTION rollup._on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
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
CREATE EVENT TRIGGER pg_rollup_sql_drop ON sql_drop EXECUTE FUNCTION rollup._on_sql_drop();
-- Whoever drops a table may delete its rules: owner_only no longer finds the owner. (Only while
-- the dropping transaction runs: the trigger deletes them in it.)
CREATE POLICY rules_of_dropped_tables ON rollup.uniqueness_rules FOR SELECT
    USING (NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = events_table));
CREATE POLICY delete_rules_of_dropped_tables ON rollup.uniqueness_rules FOR DELETE
    USING (NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = events_table));

-- rollup.drop_rollup removes the pg_cron job of a scheduled rollup.
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
    DELETE FROM rollup.rollups WHERE name = r.name;
    IF drop_target THEN
        EXECUTE format('DROP TABLE %s', r.target_table);
    END IF;
END
$$;

-- Dropping the source or target table of a rollup is refused (rollup._on_sql_drop).
CREATE POLICY rollups_of_dropped_tables ON rollup.rollups FOR SELECT
    USING (NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = source_table)
           OR NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = target_table));

-- Ingest views: COPY (or INSERT) into the view stores the rows in the events table, skipping
-- duplicates as rollup.ingest does. The view has the events table's columns but its identity
-- and generated ones, which the table fills, and the same defaults. The INSTEAD OF trigger handles any events table, a row at
-- a time; a COPY into the view is read straight into the events table by pg_rollup's loader
-- (src/events/loader.rs) when rollup._ingest_view_target calls it direct.
CREATE TABLE rollup.ingest_views (
    view          regclass    PRIMARY KEY,
    events_table  regclass    NOT NULL,
    rejects_table regclass,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rollup.ingest_views IS
    'pg_rollup ingest views: COPY into view stores into events_table, skipping duplicates; bad events go to rejects_table, or are an error';
SELECT pg_catalog.pg_extension_config_dump('rollup.ingest_views', '');
ALTER TABLE rollup.ingest_views ENABLE ROW LEVEL SECURITY;
-- Anyone who may COPY into a view may learn where it stores; only its owner registers or removes it.
CREATE POLICY readable ON rollup.ingest_views FOR SELECT USING (true);
CREATE POLICY owner_only ON rollup.ingest_views
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = view), 'USAGE'));
CREATE POLICY delete_dropped_views ON rollup.ingest_views FOR DELETE
    USING (NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = view));
GRANT SELECT, INSERT, DELETE ON rollup.ingest_views TO PUBLIC;

CREATE FUNCTION rollup.create_ingest_view(
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
    INSERT INTO rollup.ingest_views (view, events_table, rejects_table)
    VALUES (view, create_ingest_view.events_table, create_ingest_view.rejects_table);
    RETURN view;
END
$$;

-- The INSTEAD OF INSERT trigger of ingest views: the row is stored unless it is a duplicate
-- (or rejected); only stored rows count in an INSERT's row count. A COPY that pg_rollup's
-- loader would have taken had the session loaded pg_rollup gets a warning, once.
CREATE FUNCTION rollup._ingest_view_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target record;
    stored bigint;
BEGIN
    SELECT * INTO target FROM rollup.ingest_views v WHERE v.view = TG_RELID;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'view % is not a pg_rollup ingest view', TG_RELID::regclass USING ERRCODE = '55000',
            HINT = 'Create ingest views with rollup.create_ingest_view().';
    END IF;
    IF current_setting('rollup.ingest_view_warned', true) IS DISTINCT FROM statement_timestamp()::text
       AND current_query() ~* '^\s*copy\M' THEN
        PERFORM set_config('rollup.ingest_view_warned', statement_timestamp()::text, true);
        IF (SELECT t.direct FROM rollup._ingest_view_target(TG_RELID) t) THEN
            RAISE WARNING 'COPY into % goes through its trigger, a row at a time: this session has not loaded pg_rollup', TG_RELID::regclass
                USING HINT = 'Preload pg_rollup (shared_preload_libraries, or ALTER DATABASE .. SET session_preload_libraries = ''pg_rollup''), or run LOAD ''pg_rollup'' before the COPY.';
        END IF;
    END IF;
    SELECT i.inserted INTO stored
    FROM rollup.ingest_json(target.events_table, jsonb_build_array(to_jsonb(NEW)), target.rejects_table) i;
    RETURN CASE WHEN stored > 0 THEN NEW END;
END
$$;

-- Where a COPY into an ingest view stores, and whether pg_rollup's loader may write the events
-- table directly: a plain table (no partitions) without triggers (foreign keys are triggers),
-- row-level security, stored generated columns, exclusion or deferred constraints, not a Citus
-- table. No row: not an ingest view.
CREATE FUNCTION rollup._ingest_view_target(view regclass,
    OUT events_table regclass, OUT rejects_table text, OUT direct boolean)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    citus boolean := false;
BEGIN
    SELECT v.events_table, CASE WHEN r.oid IS NOT NULL THEN format('%I.%I', n.nspname, r.relname) END INTO events_table, rejects_table
    FROM rollup.ingest_views v
    LEFT JOIN pg_class r ON r.oid = v.rejects_table
    LEFT JOIN pg_namespace n ON n.oid = r.relnamespace
    WHERE v.view = _ingest_view_target.view;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO citus USING events_table;
    END IF;
    direct := NOT citus AND EXISTS (
        SELECT FROM pg_class c
        WHERE c.oid = events_table AND c.relkind = 'r' AND NOT c.relispartition
          AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid) AND NOT c.relrowsecurity
          AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attgenerated <> '')
          AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisexclusion OR NOT i.indimmediate)));
    RETURN NEXT;
END
$$;
