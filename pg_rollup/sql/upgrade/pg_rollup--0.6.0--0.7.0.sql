-- pg_rollup 0.6.0 -> 0.7.0
-- The watermark of incremental runs is decided in Rust (rollup._safe_watermark, with the
-- decision unit-tested in rollup-core), replacing the PL/pgSQL rollup._safe_id and the text
-- interface of rollup._writers and rollup._writers_done; rollup._parse_fragment returns a
-- rollup.fragment (it returned jsonb read by key); create_rollup is split into parts
-- (rollup._definition, _id_column, _check_distribution, _create_target, _check_target); topn's
-- SQL functions work with the extension in a schema of its own and any search_path.
-- What runs do is unchanged; the checkpoints kept in rollup.progress keep their form.

DROP FUNCTION rollup._safe_id(regclass, regclass, integer, jsonb);
DROP FUNCTION rollup._writers(oid[]);
DROP FUNCTION rollup._writers_done(text[], integer);
DROP FUNCTION rollup._merge_rule(text, jsonb, boolean);
DROP FUNCTION rollup._parse_fragment(text, text);
DROP FUNCTION rollup._require_cron(text);

CREATE FUNCTION rollup."_safe_watermark"(
	"sequence" oid, /* pg_sys :: Oid */
	"relation" oid, /* pg_sys :: Oid */
	"wait_ms" INT, /* i32 */
	"checkpoints" jsonb /* Option < JsonB > */
) RETURNS TABLE (
	"safe" bigint,  /* Option < i64 > */
	"checkpoints" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE  
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'safe_watermark_wrapper';

-- The shape of one select-list fragment (rollup._parse_fragment).
CREATE TYPE rollup.fragment AS (
    name text,          -- output name (AS name, or a column's name), NULL when it has none
    kind text,          -- column, call or expression
    func text,          -- a call's function name (unqualified, lower case)
    func_schema text,   -- its schema when qualified
    star boolean,       -- f(*)
    is_distinct boolean, -- f(DISTINCT ..)
    has_filter boolean, -- FILTER (WHERE ..)
    is_window boolean,  -- OVER (..)
    within_group boolean, -- WITHIN GROUP (..)
    nargs integer       -- the number of arguments
);

CREATE FUNCTION rollup."_parse_fragment"(
	"fragment" TEXT, /* & str */
	"what" TEXT /* & str */
) RETURNS rollup.fragment /* :: pgrx :: heap_tuple :: PgHeapTuple < '_, :: pgrx :: pgbox :: AllocatedByRust
> */
STRICT VOLATILE PARALLEL SAFE   
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fragment_shape_wrapper';

-- The merge rule of a measure, or an error that names a mergeable alternative.
-- level: the measure reads a finer rollup, whose rows are already aggregates.
CREATE OR REPLACE FUNCTION rollup._merge_rule(measure text, parsed rollup.fragment, level boolean)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    func text := parsed.func;
    rule text;
    hint text;
BEGIN
    IF parsed.kind <> 'call' THEN
        RAISE EXCEPTION 'measure "%" is not an aggregate call', measure USING ERRCODE = '42803',
            HINT = 'Write measures as aggregate calls with a name, e.g. count(*) AS events, sum(amount) AS amount.';
    END IF;
    IF parsed.is_window THEN
        RAISE EXCEPTION 'measure "%" is a window function', measure USING ERRCODE = '42803';
    END IF;
    IF parsed.is_distinct THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: %(DISTINCT ...) cannot be combined across batches', measure, func
            USING ERRCODE = '0A000',
                  HINT = 'Count distinct values with hll_add_agg(hll_hash_<type>(x)) and read them with hll_cardinality().';
    END IF;
    IF parsed.within_group OR func IN ('percentile_cont', 'percentile_disc', 'mode', 'median') THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: ordered-set aggregates cannot be combined across batches', measure
            USING ERRCODE = '0A000',
                  HINT = 'Keep the most frequent values with topn_add_agg(x); store min(x) and max(x) for ranges.';
    END IF;
    IF parsed.name IS NULL THEN
        RAISE EXCEPTION 'measure "%" needs a name', measure USING ERRCODE = '42601',
            HINT = 'Add AS <column name>, e.g. count(*) AS events.';
    END IF;
    rule := CASE
        WHEN func IN ('sum') THEN 'add'
        WHEN func IN ('min') THEN 'least'
        WHEN func IN ('max') THEN 'greatest'
        WHEN func IN ('bool_and', 'every') THEN 'and'
        WHEN func IN ('bool_or') THEN 'or'
        WHEN func IN ('hll_union_agg') THEN 'hll_union'
        WHEN func IN ('topn_union_agg') THEN 'topn_union'
        WHEN NOT level AND func = 'count' THEN 'add'
        WHEN NOT level AND func = 'hll_add_agg' THEN 'hll_union'
        WHEN NOT level AND func = 'topn_add_agg' THEN 'topn_union'
    END;
    IF rule IS NOT NULL THEN
        RETURN rule;
    END IF;
    hint := CASE
        WHEN func = 'count' THEN 'A level reads rows that are already counts: use sum(<count column>).'
        WHEN func = 'hll_add_agg' THEN 'A level reads sketches: use hll_union_agg(<hll column>).'
        WHEN func = 'topn_add_agg' THEN 'A level reads sketches: use topn_union_agg(<topn column>).'
        WHEN func = 'avg' THEN 'Store sum(x) and count(x) as two measures and divide them at query time.'
        WHEN func IN ('stddev', 'stddev_samp', 'stddev_pop', 'variance', 'var_samp', 'var_pop')
            THEN 'Store sum(x), sum(x * x) and count(x) as measures and compute the spread at query time.'
        WHEN func IN ('array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'xmlagg')
            THEN 'Collections grow without bound; keep the most frequent values with topn_add_agg(x).'
        ELSE 'Mergeable measures: count, sum, min, max, bool_and, bool_or, hll_add_agg, hll_union_agg, topn_add_agg, topn_union_agg.'
    END;
    IF level AND func IN ('count', 'hll_add_agg', 'topn_add_agg') THEN
        RAISE EXCEPTION 'measure "%" does not merge the rows of a finer rollup', measure USING ERRCODE = '0A000', HINT = hint;
    ELSIF EXISTS (SELECT FROM pg_proc WHERE proname = func AND prokind = 'a') THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: % cannot be combined across batches', measure, func
            USING ERRCODE = '0A000', HINT = hint;
    END IF;
    RAISE EXCEPTION 'measure "%" is not an aggregate call', measure USING ERRCODE = '42803', HINT = hint;
END
$$;

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
    parsed rollup.fragment;
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
        IF parsed.name IS NULL THEN
            RAISE EXCEPTION 'dimension "%" needs a name', frag USING ERRCODE = '42601',
                HINT = 'Add AS <column name>, e.g. payload->>''query'' AS query.';
        END IF;
        r.dimension_names := r.dimension_names || parsed.name::name;
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
        r.measure_names := r.measure_names || parsed.name::name;
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

-- The definition create_rollup starts from (before rollup._derive): what the caller gave,
-- checked, and for a level (a rollup whose source is another rollup's target) what it takes
-- from its parent. A level belongs to the owner of its chain (the role whose privileges its runs
-- use); a base rollup to the role that creates it.
CREATE OR REPLACE FUNCTION rollup._definition(name text, source_table regclass, time_column name, bucket_width interval,
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
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.name = _definition.name) THEN
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

    SELECT * INTO parent_r FROM rollup.rollups x WHERE x.target_table = _definition.source_table;
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
        r.id_column := coalesce(id_column, rollup._id_column(source_table));
    ELSIF id_column IS NOT NULL OR start_after IS NOT NULL THEN
        RAISE EXCEPTION '% applies to incremental rollups only', CASE WHEN id_column IS NULL THEN 'start_after' ELSE 'id_column' END
            USING ERRCODE = '22023';
    END IF;
    RETURN r;
END
$$;

-- The column an incremental rollup of `source_table` tracks its progress with when none is
-- named: the first whose values come from a sequence (identity or serial).
CREATE OR REPLACE FUNCTION rollup._id_column(source_table regclass)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    id_column name;
BEGIN
    SELECT a.attname INTO id_column FROM pg_attribute a
    WHERE a.attrelid = source_table AND a.attnum > 0 AND NOT a.attisdropped
      AND pg_get_serial_sequence(source_table::text, a.attname) IS NOT NULL
    ORDER BY a.attnum LIMIT 1;
    IF id_column IS NULL THEN
        RAISE EXCEPTION 'table % has no identity or serial column to track progress with', source_table
            USING ERRCODE = '22023',
                  HINT = 'Add one (ALTER TABLE .. ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1)), pass id_column, or use mode => ''flush''.';
    END IF;
    RETURN id_column;
END
$$;

-- On Citus a rollup runs shard by shard: the distribution column of its source (returned;
-- NULL on a table Citus does not distribute) must be one of its dimensions.
CREATE OR REPLACE FUNCTION rollup._check_distribution(r rollup.rollups)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    dist name := rollup._distribution_column(r.source_table);
BEGIN
    IF dist IS NOT NULL AND NOT dist = ANY (r.dimension_names) THEN
        RAISE EXCEPTION 'table % is distributed by %, which must be one of the dimensions', r.source_table, quote_ident(dist)
            USING ERRCODE = '0A000', HINT = format('Add %L to dimensions, so that every shard is rolled up on its own.', quote_ident(dist));
    END IF;
    RETURN dist;
END
$$;

-- A new target for rollup r, named target_table (qualified): created from the aggregation
-- itself (so its column types are exactly the measures'), with the unique key ON CONFLICT needs,
-- an index on the bucket, owned by the chain's owner and, on Citus, distributed by `dist` beside
-- the source.
CREATE OR REPLACE FUNCTION rollup._create_target(r rollup.rollups, target_table text, dist name)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    target regclass;
    key_type text;
BEGIN
    EXECUTE format(E'CREATE TABLE %s AS\n%s\nWITH NO DATA', target_table,
                   rollup._aggregate_sql(r, format('%s s', r.source_table), false));
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
            USING target, dist::text, r.source_table::text;
    END IF;
    RETURN target;
END
$$;

-- Raises unless an existing table can be rollup r's target: the caller owns it, and it has a
-- unique index on exactly the key columns (or, on PostgreSQL 14, the key create_rollup makes
-- there: see rollup._key_type).
CREATE OR REPLACE FUNCTION rollup._check_target(r rollup.rollups, target regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    key_sorted name[] := ARRAY(SELECT c FROM unnest(r.dimension_names || r.bucket_column) c ORDER BY c);
BEGIN
    PERFORM rollup._check_owner(target);
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
END
$$;

-- An incremental rollup starts after id start_after, by default from the sequence's start; an
-- existing target that holds rows needs start_after (the rows it holds would otherwise be
-- counted again), and a level needs an empty one. Its id column must be GENERATED ALWAYS,
-- unless allow_explicit_ids accepts that a row inserted with an explicit id at or below the
-- watermark is never rolled up. The parts: rollup._definition, rollup._derive, the target
-- (rollup._create_target or rollup._check_target), the catalog, then a validation of the
-- generated statement and, for a level, its first fill.
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
    r := rollup._derive(rollup._definition(name, source_table, time_column, bucket_width, dimensions, measures, mode,
                                           id_column, batch_size, bucket_column, start_after, time_zone, origin));
    IF r.mode = 'incremental' THEN
        PERFORM rollup._check_explicit_ids(source_table, r.id_column, allow_explicit_ids);
    END IF;
    dist := rollup._check_distribution(r);

    -- An unqualified target name is in the source table's schema.
    target_table := rollup._qualify(target_table, source_table);
    target := to_regclass(target_table);
    created := target IS NULL;
    IF created THEN
        target := rollup._create_target(r, target_table, dist);
    ELSE
        PERFORM rollup._check_target(r, target);
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

-- On Citus every node takes writes, and each draws ids from its own range of the sequence
-- (node group g: from g << 48 + 1). The bounds (rollup._safe_watermark, as jsonb {safe,
-- checkpoints}) of the rows written through
-- the other nodes than this one, by node group: each active worker computes its own, in
-- parallel, with the checkpoints kept for it in `nodes`; a group no longer in the cluster (a
-- removed node) has no writers left, so its whole range. '{}' for a table Citus does not manage.
-- A worker that does not answer fails the run: its writers cannot be known.
CREATE OR REPLACE FUNCTION rollup._node_bounds(r rollup.rollups, nodes jsonb, wait_ms int)
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
    command := format('SELECT pg_catalog.to_jsonb(b) FROM rollup._safe_watermark(%L::pg_catalog.regclass, %L::pg_catalog.regclass, %s,
                           %L::jsonb -> (SELECT groupid::text FROM pg_catalog.pg_dist_local_group) -> ''checkpoints'') b',
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
    here record;
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
        SELECT * INTO here FROM rollup._safe_watermark(r.id_sequence, r.source_table, wait_ms, p.checkpoints);
        kept := here.checkpoints;
        upper_id := rollup._batch_end(r, p.watermark, here.safe);
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

-- topn's SQL functions name their functions with their schema: they work whatever the caller's search_path.
CREATE OR REPLACE FUNCTION topn_to_jsonb(topn) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT @extschema@.topn_to_json_text($1)::pg_catalog.jsonb $$;
CREATE OR REPLACE FUNCTION topn(jsonb, integer) RETURNS TABLE (item text, frequency bigint)
    LANGUAGE sql STABLE PARALLEL SAFE STRICT ROWS 100
    AS $$ SELECT t.item, t.frequency FROM @extschema@.topn(@extschema@.topn($1), $2) t $$;
CREATE OR REPLACE FUNCTION topn_items(topn, integer) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT items FROM @extschema@.topn_columns($1, $2) $$;
CREATE OR REPLACE FUNCTION topn_jsonb(topn, integer) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('item', u.item, 'frequency', u.lower_bound,
                                                        'upper_bound', u.upper_bound, 'guaranteed', u.guaranteed) ORDER BY u.rank), '[]')
          FROM @extschema@.topn_columns($1, $2) c,
               ROWS FROM (pg_catalog.unnest(c.items), pg_catalog.unnest(c.lower_bounds), pg_catalog.unnest(c.upper_bounds),
                          pg_catalog.unnest(c.guaranteed)) WITH ORDINALITY AS u(item, lower_bound, upper_bound, guaranteed, rank) $$;

-- Scheduling: the hint from another database than pg_cron's says that a superuser runs
-- schedule_in_database; drop_rollup warns with the statement to remove a job it cannot;
-- rollup.status shows the error of the last failed run of a rollup's pg_cron job.
-- Raises unless pg_cron's functions are installed in this database, with a hint that says
-- what to run where; by_superuser: what only a superuser may run there (a job in another
-- database: pg_cron's schedule_in_database).
CREATE OR REPLACE FUNCTION rollup._require_cron(todo text, by_superuser boolean DEFAULT false)
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
    -- (A job in another database is pg_cron's schedule_in_database, for superusers: the job runs
    -- as the rollup's owner.)
    PERFORM rollup._require_cron(format('SELECT cron.schedule_in_database(%L, %L, %L, %L, username => %L);',
        rollup._job_name(r.name), cron_expression, rollup.job_command(r.name), current_database(), owner_name), true);
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
-- The error of the last run of rollup r's pg_cron job when that run failed (a job that could not
-- connect, or whose command failed), read from pg_cron's cron.job_run_details where this
-- database has it and the caller may read it (pg_cron shows each role its own jobs); else NULL.
CREATE OR REPLACE FUNCTION rollup._job_error(r rollup.rollups)
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
        INTO failure USING rollup._job_name(r.name);
    RETURN failure;
END
$$;
DO $status$
DECLARE
    invoker boolean := current_setting('server_version_num')::int >= 150000;
BEGIN
    EXECUTE format($view$CREATE OR REPLACE VIEW rollup.status%s AS
SELECT r.name, r.mode, r.parent, r.source_table, r.target_table, r.schedule, r.batch_size,
       -- a level is fed up to its base rollup's watermark
       coalesce(p.watermark, (SELECT b.watermark FROM rollup.progress b WHERE b.name = rollup._root(r.name))) AS watermark,
       x.pending_rows, x.oldest_pending, now() - x.oldest_pending AS lag,
       p.last_run_start, p.last_run_end, p.last_run_end - p.last_run_start AS last_duration, p.last_rows,
       CASE WHEN p.last_run_end > p.last_run_start
            THEN round(p.last_rows / extract(epoch FROM p.last_run_end - p.last_run_start))::bigint END AS last_rows_per_second,
       p.total_runs, p.total_rows, p.last_error, p.source_rows_deleted,
       rollup._job_error(r) AS last_job_error
FROM rollup.rollups r
JOIN rollup.progress p USING (name)
CROSS JOIN LATERAL rollup._pending(r) x%s$view$,
        CASE WHEN invoker THEN ' WITH (security_invoker = true)' ELSE '' END,
        CASE WHEN NOT invoker THEN
            E'\nWHERE pg_catalog.pg_has_role(r.owner, ''USAGE'') OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = r.source_table), ''USAGE'')'
        ELSE '' END);
END
$status$;
CREATE OR REPLACE FUNCTION rollup.drop_rollup(rollup_name text, drop_target boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup._get(rollup_name);
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
            RAISE WARNING 'the pg_cron job "%" of rollup "%" is not removed: %', rollup._job_name(r.name), r.name, cron_error
                USING HINT = cron_hint;
        END;
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

-- What psql's \df+, \dT+ and \dv+ show for every object of the public API (the catalog tables are
-- commented where they are made). Loaded after everything else.

-- hll: types
COMMENT ON TYPE hll IS 'HyperLogLog sketch for estimating distinct counts; postgresql-hll''s type, with the same stored bytes and typmod hll(log2m, regwidth, expthresh, sparseon)';
COMMENT ON TYPE hll_hashval IS '64-bit hash of a value, to add to an hll; made by the hll_hash_* functions, or cast from bigint or integer';

-- hll: conversions
COMMENT ON FUNCTION hll(hll,integer,boolean) IS 'coerce an hll to a type modifier; raises unless the value has the log2m, regwidth, expthresh and sparseon of the typmod';
COMMENT ON FUNCTION hll_from_bytea(bytea) IS 'convert bytea to hll, validating the bytes (postgresql-hll''s cast accepts any bytes)';
COMMENT ON FUNCTION hll_hashval(bigint) IS 'convert a bigint to hll_hashval unchanged, to add hashes computed elsewhere';
COMMENT ON FUNCTION hll_hashval_int4(integer) IS 'convert an integer to hll_hashval (the integer to hll_hashval cast)';

-- hll: hashing (MurmurHash3 of the bytes postgresql-hll hashes: the same hashes)
COMMENT ON FUNCTION hll_hash_boolean(boolean,integer) IS 'hash a boolean for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_smallint(smallint,integer) IS 'hash a smallint for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_integer(integer,integer) IS 'hash an integer for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_bigint(bigint,integer) IS 'hash a bigint for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_bytea(bytea,integer) IS 'hash a bytea for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_text(text,integer) IS 'hash a text for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_any(anyelement,integer) IS 'hash a value of any type for hll, over the bytes postgresql-hll hashes; the second argument is the hash seed (default 0)';

-- hll: sketches
COMMENT ON FUNCTION hll_cardinality(hll) IS 'estimated number of distinct values in an hll (the # operator); a maximum-likelihood estimate, which can differ slightly from postgresql-hll''s for dense sketches';
COMMENT ON FUNCTION hll_union(hll,hll) IS 'union of two hll sketches (the hll || hll operator); they must have the same parameters';
COMMENT ON FUNCTION hll_add(hll,hll_hashval) IS 'add a hashed value to an hll (the hll || hll_hashval operator)';
COMMENT ON FUNCTION hll_add_rev(hll_hashval,hll) IS 'add a hashed value to an hll, arguments reversed (the hll_hashval || hll operator)';
COMMENT ON FUNCTION hll_print(hll) IS 'debugging text of an hll: its representation, parameters and contents, laid out as postgresql-hll prints them';
COMMENT ON FUNCTION hll_empty() IS 'empty hll with the session''s default parameters (hll_set_defaults)';
COMMENT ON FUNCTION hll_empty(integer) IS 'empty hll with the given log2m, and the session''s defaults for the other parameters';
COMMENT ON FUNCTION hll_empty(integer,integer) IS 'empty hll with the given log2m and regwidth, and the session''s defaults for expthresh and sparseon';
COMMENT ON FUNCTION hll_empty(integer,integer,bigint) IS 'empty hll with the given log2m, regwidth and expthresh, and the session''s default sparseon';
COMMENT ON FUNCTION hll_empty(integer,integer,bigint,integer) IS 'empty hll with the given log2m, regwidth, expthresh and sparseon';

-- hll: metadata
COMMENT ON FUNCTION hll_schema_version(hll) IS 'storage specification version of an hll (1)';
COMMENT ON FUNCTION hll_type(hll) IS 'representation of an hll, numbered as in postgresql-hll: 0 undefined, 1 empty, 2 explicit, 3 sparse, 4 full';
COMMENT ON FUNCTION hll_log2m(hll) IS 'log2m parameter of an hll: the base-2 logarithm of its number of registers';
COMMENT ON FUNCTION hll_regwidth(hll) IS 'regwidth parameter of an hll: the width of each register in bits';
COMMENT ON FUNCTION hll_expthresh(hll) IS 'explicit threshold of an hll: as specified (-1: automatic), and the number of hashes it keeps explicitly in effect';
COMMENT ON FUNCTION hll_sparseon(hll) IS 'sparseon parameter of an hll: 1 if it may be stored sparse, 0 if not';

-- hll: session settings (postgresql-hll's; they change this session only)
COMMENT ON FUNCTION hll_set_defaults(integer,integer,bigint,integer) IS 'set the session''s default log2m, regwidth, expthresh and sparseon, used by hll_empty and hll_add_agg; returns the previous defaults';
COMMENT ON FUNCTION hll_set_max_sparse(integer) IS 'set the session''s largest number of filled registers stored sparse (-1: sparse while smaller than full); returns the previous value';
COMMENT ON FUNCTION hll_set_output_version(integer) IS 'postgresql-hll''s output version setting; version 1 is the only one, so it accepts and returns 1';

-- hll: aggregates
COMMENT ON AGGREGATE hll_add_agg(hll_hashval) IS 'hll of the hashed values, with the session''s default parameters (hll_set_defaults)';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer) IS 'hll of the hashed values, with the given log2m and the session''s defaults for the other parameters';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer) IS 'hll of the hashed values, with the given log2m and regwidth and the session''s defaults for expthresh and sparseon';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer,bigint) IS 'hll of the hashed values, with the given log2m, regwidth and expthresh and the session''s default sparseon';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer,bigint,integer) IS 'hll of the hashed values, with the given log2m, regwidth, expthresh and sparseon';
COMMENT ON AGGREGATE hll_union_agg(hll) IS 'union of hll sketches: an hll of every value any of them counts';

-- topn: type and conversions
COMMENT ON TYPE topn IS 'most frequent items (Space-Saving), with a lower and an upper bound on each item''s count; takes postgresql-topn''s queries, and converts from its jsonb';
COMMENT ON FUNCTION topn(jsonb) IS 'convert a postgresql-topn jsonb map {item: count} to topn: counts become lower bounds; in a full map the smallest count bounds the dropped items';
COMMENT ON FUNCTION topn_from_bytea(bytea) IS 'convert bytea to topn, validating the bytes';
COMMENT ON FUNCTION topn_to_jsonb(topn) IS 'postgresql-topn''s jsonb map {item: frequency} of a topn, frequencies being lower bounds (the topn to jsonb cast)';
COMMENT ON FUNCTION topn_to_json_text(topn) IS 'postgresql-topn''s map {"item": frequency} of a topn as text, frequencies being lower bounds';

-- topn: sketches
COMMENT ON FUNCTION topn_add(topn,text) IS 'add one occurrence of an item to a topn';
COMMENT ON FUNCTION topn_add(topn,text,bigint) IS 'add an item to a topn with a weight: the number of occurrences, a non-negative bigint';
COMMENT ON FUNCTION topn_union(topn,topn) IS 'union of two topn sketches, keeping the bounds (the + operator)';
COMMENT ON FUNCTION topn_total(topn) IS 'total weight of the items added to a topn (of a converted jsonb map: the sum of its counts)';
COMMENT ON FUNCTION topn_error_bound(topn) IS 'bound on the count of every item a topn does not list, and on each listed item''s upper minus lower bound';
COMMENT ON FUNCTION topn_counters(topn) IS 'number of counters of a topn: how many items it stores';

-- topn: reading the top n
COMMENT ON FUNCTION topn(topn,integer) IS 'the n most frequent items of a topn as rows (item, frequency), frequency being the lower bound; postgresql-topn''s reader';
COMMENT ON FUNCTION topn(jsonb,integer) IS 'the n most frequent items of a postgresql-topn jsonb map as rows (item, frequency), read as by topn(topn(map), n)';
COMMENT ON FUNCTION topn_bounds(topn,integer) IS 'the n most frequent items of a topn as rows (item, frequency, lower_bound, upper_bound, guaranteed); guaranteed means surely in the true top n';
COMMENT ON FUNCTION topn_columns(topn,integer) IS 'the n most frequent items of a topn as arrays: items, lower bounds, upper bounds, and whether each is surely in the true top n';
COMMENT ON FUNCTION topn_items(topn,integer) IS 'the n most frequent items of a topn as a text array; not set-returning, so it works where an SRF over an aggregate does not (Citus)';
COMMENT ON FUNCTION topn_jsonb(topn,integer) IS 'the n most frequent items of a topn as a jsonb array of {item, frequency, upper_bound, guaranteed}; not set-returning';

-- topn: aggregates
COMMENT ON AGGREGATE topn_add_agg(text) IS 'topn of the items, with topn.number_of_counters counters (default 1000)';
COMMENT ON AGGREGATE topn_add_agg(text,integer) IS 'topn of the items, with the given number of counters (a constant), which distributed plans need';
COMMENT ON AGGREGATE topn_add_agg(text,bigint) IS 'topn of the items, each added with the given bigint weight, with topn.number_of_counters counters';
COMMENT ON AGGREGATE topn_add_agg(text,bigint,integer) IS 'topn of the items, each added with the given bigint weight, with the given number of counters (a constant)';
COMMENT ON AGGREGATE topn_union_agg(topn) IS 'union of topn sketches, keeping the bounds';
COMMENT ON AGGREGATE topn_union_agg(jsonb) IS 'union of postgresql-topn jsonb maps as a topn, each map converted as by topn(jsonb)';

-- events: uniqueness rules and ingest
COMMENT ON FUNCTION rollup.uniqueness_presets() IS 'the shipped uniqueness rule presets: name, platform, key expressions over {payload} (the payload column) and description';
COMMENT ON FUNCTION rollup.add_uniqueness_rule(regclass,text,text[],text,name,name) IS 'make events of a platform unique by key expressions (or a preset''s), with a partial unique index it creates; returns the index''s name';
COMMENT ON FUNCTION rollup.drop_uniqueness_rule(regclass,text) IS 'drop the uniqueness rule of a platform of an events table, and its index';
COMMENT ON FUNCTION rollup.ingest(regclass,regclass,regclass,boolean) IS 'move a staging table''s rows into an events table, skipping duplicates; bad events go to rejects_table or are an error; returns (inserted, duplicates, rejected)';
COMMENT ON FUNCTION rollup.ingest_json(regclass,jsonb,regclass) IS 'insert a jsonb array of row objects {column: value} into an events table, skipping duplicates; returns (inserted, duplicates, rejected)';
COMMENT ON FUNCTION rollup.create_ingest_view(regclass,text,regclass) IS 'create a view that COPY or INSERT loads: it stores each event once in the events table and rejects bad events as rollup.ingest does';

-- rollups
COMMENT ON FUNCTION rollup.version() IS 'version of the installed pg_rollup library';
COMMENT ON FUNCTION rollup.create_rollup(text,regclass,text,name,interval,text[],text[],text,name,bigint,name,bigint,boolean,text,timestamp without time zone) IS 'define a rollup that aggregates a source table by dimensions and time bucket into a target table, created if missing; returns the definition';
COMMENT ON FUNCTION rollup.alter_rollup(text,bigint,text,interval,interval,text[],boolean) IS 'change a rollup in place: batch size, schedule, retention, new measures (filled from the source rows still present); a NULL argument keeps its setting';
COMMENT ON FUNCTION rollup.drop_rollup(text,boolean) IS 'drop a rollup and its pg_cron job; the second argument (drop_target) drops its target table too';
COMMENT ON FUNCTION rollup.run(text,interval) IS 'aggregate the source rows not yet rolled up (at most batch_size) into a rollup, as its owner; returns their number; max_wait bounds the wait for writers';
COMMENT ON FUNCTION rollup.reset(text,boolean) IS 'empty a rollup''s target and its levels and recompute them from the source rows still present; force: even after retention deleted aggregated rows';
COMMENT ON FUNCTION rollup.explain_run(text) IS 'plans of the statements the next rollup.run of a rollup executes, a line per row';
COMMENT ON FUNCTION rollup.load_history(text,text) IS 'merge rows shaped like a rollup''s target, from a query, into the target and its levels; returns the number of rows read';

-- operations: catch-up, scheduling, retention, status, query views, verification
COMMENT ON PROCEDURE rollup.catch_up(text,bigint) IS 'run a rollup until it has caught up, a transaction per batch, then apply its retention; the second argument returns the source rows aggregated';
COMMENT ON FUNCTION rollup.job_command(text) IS 'the statement a scheduler runs for a rollup: CALL rollup.catch_up(name)';
COMMENT ON FUNCTION rollup.schedule(text,text) IS 'create or replace the pg_cron job that runs rollup.catch_up for a rollup on a cron schedule, as its owner; returns the job id';
COMMENT ON FUNCTION rollup.unschedule(text) IS 'remove the pg_cron job of a rollup; returns whether there was one';
COMMENT ON FUNCTION rollup.set_retention(text,interval,interval) IS 'set a rollup''s retention: source_grace for source rows every rollup has passed, target_keep for its rows by bucket age; NULL keeps them';
COMMENT ON PROCEDURE rollup.apply_retention(text,bigint,bigint) IS 'delete what the retention of a rollup and its levels allows, in transactions of at most batch_size rows; the last argument returns the rows deleted';
COMMENT ON VIEW rollup.status IS 'one row per rollup: watermark, pending rows and lag, last run, totals, last error and the last pg_cron job error';
COMMENT ON FUNCTION rollup.create_view(text,text,interval) IS 'create a query view over a level and the rollup it reads, each time range from one of them, and its range form view_name(range_start, range_end)';
COMMENT ON FUNCTION rollup.view_boundary(regclass,name,interval,interval,text,timestamp without time zone) IS 'boundary of a query view: the first level bucket the finer rollup holds completely (and, with fine_window, that starts within it of now)';
COMMENT ON FUNCTION rollup.view_boundary(regclass,name,interval,interval) IS 'boundary of the query views made by pg_rollup 0.3.0 and before (UTC buckets from 2000-01-03)';
COMMENT ON FUNCTION rollup.verify(text,timestamp with time zone,timestamp with time zone) IS 'differences between a rollup''s stored rows and a recomputation from its source, for buckets starting in [range_start, range_end); no row: verified';
