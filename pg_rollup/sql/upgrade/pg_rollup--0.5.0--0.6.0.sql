-- pg_rollup 0.5.0 -> 0.6.0
-- Runs do not JIT-compile their statements (compiling them took ~0.2 s a run). PostgreSQL 14,
-- which has no UNIQUE NULLS NOT DISTINCT: create_rollup makes the target's key a unique index on
-- the row of the key columns as a composite type (rollup._key_type), merges name it in ON
-- CONFLICT (rollup._conflict_target), drop_rollup drops it with the target.

ALTER FUNCTION rollup._run_chain(rollup.rollups, bigint, bigint, boolean) SET jit = off;
ALTER FUNCTION rollup._explain(rollup.rollups) SET jit = off;

-- The composite type of the unique key that create_rollup makes on PostgreSQL 14 (no UNIQUE NULLS
-- NOT DISTINCT there): target's unique index on the row of its key columns as this type, whose
-- comparison takes NULL fields as equal. NULL for any other key.
CREATE OR REPLACE FUNCTION rollup._key_type(target regclass)
RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.refobjid::regtype
    FROM pg_index i
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refclassid = 'pg_type'::regclass
    JOIN pg_type t ON t.oid = d.refobjid AND t.typtype = 'c'
    WHERE i.indrelid = target AND i.indisunique AND i.indnatts = 1 AND i.indexprs IS NOT NULL
    LIMIT 1
$$;

-- What ON CONFLICT names for a merge into rollup r's target: its key columns, or the row of
-- them as rollup._key_type, the key that create_rollup makes on PostgreSQL 14.
CREATE OR REPLACE FUNCTION rollup._conflict_target(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN k IS NULL THEN rollup._ident_list(r.dimension_names || r.bucket_column)
                ELSE format('(ROW(%s)::%s)', rollup._ident_list(r.dimension_names || r.bucket_column), k) END
    FROM (SELECT rollup._key_type(r.target_table) AS k) x
$$;

-- The merge of the aggregated rows of CTE `delta` into r's target, in the order of the target's
-- key: the conflict checks and index inserts walk the index in order instead of at random.
CREATE OR REPLACE FUNCTION rollup._merge_into_sql(r rollup.rollups, delta text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'INSERT INTO %s AS t (%s)\nSELECT %2$s FROM %s ORDER BY %4$s\nON CONFLICT (%6$s) DO UPDATE SET %5$s',
        r.target_table,
        rollup._ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        delta,
        rollup._ident_list(r.dimension_names || r.bucket_column),
        (SELECT string_agg(format('%I = %s', m, rollup._merge_sql(rule, 't.' || quote_ident(m), 'EXCLUDED.' || quote_ident(m))), ', ')
         FROM unnest(r.measure_names, r.merge_rules) u(m, rule)),
        rollup._conflict_target(r))
$$;

-- A level belongs to the owner of its chain (the role whose privileges its runs use); a base
-- rollup to the role that creates it. An incremental rollup starts after id start_after, by
-- default from the sequence's start; an existing target that holds rows needs start_after (the
-- rows it holds would otherwise be counted again), and a level needs an empty one. Its id column
-- must be GENERATED ALWAYS, unless allow_explicit_ids accepts that a row inserted with an
-- explicit id at or below the watermark is never rolled up.
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
    key_type text;
    key_sorted name[];
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
        -- NULL dimension values are one group. PostgreSQL 14 has no NULLS NOT DISTINCT: there the
        -- key is a unique index on the row of the key columns as a composite type of its own,
        -- whose comparison takes NULL fields as equal (rollup._conflict_target, rollup._key_type).
        IF current_setting('server_version_num')::int >= 150000 THEN
            EXECUTE format('ALTER TABLE %s ADD UNIQUE NULLS NOT DISTINCT (%s)', target,
                rollup._ident_list(r.dimension_names || r.bucket_column));
        ELSE
            SELECT format('%I.%I', n.nspname, left(c.relname, 48) || ' pg_rollup key') INTO key_type
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
            EXECUTE format('CREATE TYPE %s AS (%s)', key_type,
                (SELECT string_agg(format('%I %s', k, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o)
                 FROM unnest(r.dimension_names || r.bucket_column) WITH ORDINALITY u(k, o)
                 JOIN pg_attribute a ON a.attrelid = target AND a.attname = u.k));
            EXECUTE format('CREATE UNIQUE INDEX ON %s ((ROW(%s)::%s))', target,
                rollup._ident_list(r.dimension_names || r.bucket_column), key_type);
        END IF;
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
        -- (or, on PostgreSQL 14, the key create_rollup makes there: see rollup._key_type)
        key_sorted := ARRAY(SELECT c FROM unnest(r.dimension_names || r.bucket_column) c ORDER BY c);
        IF NOT EXISTS (
            SELECT FROM pg_index i
            WHERE i.indrelid = target AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
              AND ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = target AND a.attnum = ANY (i.indkey) ORDER BY a.attname)
                = key_sorted)
           AND ARRAY(SELECT a.attname FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0
                     WHERE t.oid = rollup._key_type(target) ORDER BY a.attname)
               IS DISTINCT FROM key_sorted THEN
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

-- The work of alter_rollup's add_measures, as the rollup's owner: the columns (typed as the
-- aggregation types them), the definition, then the rows; returns {rows, filled, from}.
CREATE OR REPLACE FUNCTION rollup._add_measures(r rollup.rollups, measures text[])
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
                   rollup._conflict_target(r),
                   (SELECT string_agg(format('%I = EXCLUDED.%1$I', m), ', ') FROM unnest(added.measure_names) m),
                   format_type(time_type, NULL));
    GET DIAGNOSTICS filled = ROW_COUNT;
    RETURN jsonb_build_object('rows', total, 'filled', filled, 'from', first_complete);
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
    key_type regtype;
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
        key_type := rollup._key_type(r.target_table);
        EXECUTE format('DROP TABLE %s', r.target_table);
        IF key_type IS NOT NULL THEN
            EXECUTE format('DROP TYPE %s', key_type);
        END IF;
    END IF;
END
$$;
