-- Rollups: declarative, incremental, exactly-once aggregation into rollup tables.
--
-- A rollup reads a source table and merges, per (dimensions, time bucket), its measures into
-- a target table with INSERT .. ON CONFLICT DO UPDATE. Progress is tracked one of two ways:
--   incremental  a bigint sequence/identity watermark; the source rows stay;
--   flush        the source is a queue; rows are deleted and aggregated in one statement.
-- A level is a rollup whose source is another rollup's target (5 minutes -> 1 day). It is fed
-- by the run of its parent, in the same statement, from the delta the parent merges: it can
-- never miss or double count a change of the finer level (late events included).
--
-- Generated SQL: user fragments (dimensions, measures) have been checked by
-- rollup_internal.parse_fragment to be exactly one expression and are embedded between newlines;
-- every identifier is quoted; functions run with search_path pg_catalog, @extschema@,
-- pg_temp, so user functions in measures must be schema-qualified.

CREATE TABLE rollup.rollups (
    name            text        PRIMARY KEY,
    source_table    regclass    NOT NULL,
    target_table    regclass    NOT NULL UNIQUE,
    mode            text        NOT NULL CHECK (mode IN ('incremental', 'flush', 'level')),
    parent          text,
    time_column     name        NOT NULL,
    bucket_width    interval    NOT NULL,
    bucket_column   name        NOT NULL,
    bucket_sql      text        NOT NULL,
    dimensions      text[]      NOT NULL,
    dimension_names name[]      NOT NULL,
    measures        text[]      NOT NULL,
    measure_names   name[]      NOT NULL,
    merge_rules     text[]      NOT NULL,
    id_column       name,
    id_sequence     regclass,
    batch_size      bigint      CHECK (batch_size > 0),
    schedule        text,
    source_grace    interval    CHECK (source_grace >= interval '0'),
    target_keep     interval    CHECK (target_keep >= interval '0'),
    owner           regrole     NOT NULL DEFAULT current_user::regrole,
    created_at      timestamptz NOT NULL DEFAULT now(),
    time_zone       text        NOT NULL DEFAULT 'UTC',
    bucket_origin   timestamp   NOT NULL DEFAULT '2000-01-03 00:00',
    -- A search-session stage (sql/searches.sql; its gap is bucket_width): {query_column, keep,
    -- pending}; NULL for a rollup.
    search          jsonb,
    CHECK ((mode = 'level') = (parent IS NOT NULL)),
    CHECK ((mode = 'incremental') = (id_sequence IS NOT NULL))
);
COMMENT ON TABLE rollup.rollups IS 'pg_rollup rollup definitions';

CREATE TABLE rollup.progress (
    name           text        PRIMARY KEY REFERENCES rollup.rollups (name) ON DELETE CASCADE,
    watermark      bigint,
    checkpoints    jsonb       NOT NULL DEFAULT '[]',
    last_run_start timestamptz,
    last_run_end   timestamptz,
    last_rows      bigint,
    total_runs     bigint      NOT NULL DEFAULT 0,
    total_rows     bigint      NOT NULL DEFAULT 0,
    last_error     text,
    source_rows_deleted bigint NOT NULL DEFAULT 0,
    nodes          jsonb       NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE rollup.progress IS
    'pg_rollup progress per rollup: the id watermark (incremental), writer checkpoints not yet safe, run statistics';
COMMENT ON COLUMN rollup.progress.nodes IS
    'on Citus, rows written through other nodes than the coordinator: per node group, the watermark in that group''s range of ids and its checkpoints';
COMMENT ON COLUMN rollup.progress.source_rows_deleted IS
    'rows that retention deleted from the source after this rollup had aggregated them, since its last reset: what a reset would lose';

SELECT pg_catalog.pg_extension_config_dump('rollup.rollups', '');
SELECT pg_catalog.pg_extension_config_dump('rollup.progress', '');

-- Each role sees the rollups of the roles whose privileges it has; changes go through the API
-- (sql/security.sql).
ALTER TABLE rollup.rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE rollup.progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON rollup.rollups USING (pg_catalog.pg_has_role(owner, 'USAGE'));
-- The owners of a table see every rollup that reads it: its source retention waits for them all.
CREATE POLICY readers_of_own_tables ON rollup.rollups FOR SELECT
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = source_table), 'USAGE'));
CREATE POLICY owner_only ON rollup.progress
    USING (EXISTS (SELECT FROM rollup.rollups r WHERE r.name = progress.name));
GRANT SELECT ON rollup.rollups, rollup.progress TO PUBLIC;

-- How a measure merges into an existing rollup row: %1$s is the stored value, %2$s the new one.
CREATE FUNCTION rollup_internal.merge_sql(rule text, stored text, incoming text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(CASE rule
        WHEN 'add'        THEN 'coalesce(%1$s + %2$s, %1$s, %2$s)'
        WHEN 'least'      THEN 'least(%1$s, %2$s)'
        WHEN 'greatest'   THEN 'greatest(%1$s, %2$s)'
        WHEN 'and'        THEN 'coalesce(%1$s AND %2$s, %1$s, %2$s)'
        WHEN 'or'         THEN 'coalesce(%1$s OR %2$s, %1$s, %2$s)'
        WHEN 'hll_union'  THEN 'coalesce(@extschema@.hll_union(%1$s, %2$s), %1$s, %2$s)'
        WHEN 'topn_union' THEN 'coalesce(@extschema@.topn_union(%1$s, %2$s), %1$s, %2$s)'
        WHEN 'qsketch_union' THEN 'coalesce(@extschema@.qsketch_union(%1$s, %2$s), %1$s, %2$s)'
    END, stored, incoming)
$$;

-- The merge rule of a measure, or an error that names a mergeable alternative.
-- level: the measure reads a finer rollup, whose rows are already aggregates.
CREATE FUNCTION rollup_internal.merge_rule(measure text, parsed rollup_internal.fragment, level boolean)
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
                  HINT = 'Keep percentiles with qsketch_add_agg(x) AS x_sketch and read them with qsketch_percentile(x_sketch, 0.99) (within 1 % of the exact value); the most frequent values with topn_add_agg(x).';
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
        WHEN func IN ('qsketch_union_agg') THEN 'qsketch_union'
        WHEN NOT level AND func = 'count' THEN 'add'
        WHEN NOT level AND func = 'hll_add_agg' THEN 'hll_union'
        WHEN NOT level AND func = 'topn_add_agg' THEN 'topn_union'
        WHEN NOT level AND func = 'qsketch_add_agg' THEN 'qsketch_union'
    END;
    IF rule IS NOT NULL THEN
        RETURN rule;
    END IF;
    hint := CASE
        WHEN func = 'count' THEN 'A level reads rows that are already counts: use sum(<count column>).'
        WHEN func = 'hll_add_agg' THEN 'A level reads sketches: use hll_union_agg(<hll column>).'
        WHEN func = 'topn_add_agg' THEN 'A level reads sketches: use topn_union_agg(<topn column>).'
        WHEN func = 'qsketch_add_agg' THEN 'A level reads sketches: use qsketch_union_agg(<qsketch column>).'
        WHEN func = 'avg' THEN 'Store sum(x) and count(x) as two measures and divide them at query time.'
        WHEN func IN ('stddev', 'stddev_samp', 'stddev_pop', 'variance', 'var_samp', 'var_pop')
            THEN 'Store sum(x), sum(x * x) and count(x) as measures and compute the spread at query time.'
        WHEN func IN ('array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'xmlagg')
            THEN 'Collections grow without bound; keep the most frequent values with topn_add_agg(x).'
        ELSE 'Mergeable measures: count, sum, min, max, bool_and, bool_or, hll_add_agg, hll_union_agg, topn_add_agg, topn_union_agg, qsketch_add_agg, qsketch_union_agg.'
    END;
    IF level AND func IN ('count', 'hll_add_agg', 'topn_add_agg', 'qsketch_add_agg') THEN
        RAISE EXCEPTION 'measure "%" does not merge the rows of a finer rollup', measure USING ERRCODE = '0A000', HINT = hint;
    ELSIF EXISTS (SELECT FROM pg_proc WHERE proname = func AND prokind = 'a') THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: % cannot be combined across batches', measure, func
            USING ERRCODE = '0A000', HINT = hint;
    END IF;
    RAISE EXCEPTION 'measure "%" is not an aggregate call', measure USING ERRCODE = '42803', HINT = hint;
END
$$;

-- The bucket of a time column, in time zone `time_zone` with buckets aligned on `origin` (a
-- local time). Widths counted in days (1 day, 7 days) follow local midnight: their buckets are
-- 23, 24 or 25 hours long across a DST change (date_bin on the local time). 1 month and 1 year
-- start at local midnight of the first day (date_trunc in the zone). Widths with hours, minutes
-- or seconds are fixed lengths of time from the origin (date_bin on the instant). A timestamp
-- column (without time zone) holds local times already: its zone is UTC, which means none.
-- In UTC with the default origin (Monday 2000-01-03) every width gives what 0.3.0 gave.
CREATE FUNCTION rollup_internal.bucket_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp)
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
    IF rollup_internal.calendar_zone(width, time_zone) <> 'UTC' THEN
        RETURN format('(date_bin(%L::interval, (%s) AT TIME ZONE %L, %L::timestamp) AT TIME ZONE %3$L)',
                      width, time_sql, time_zone, to_char(origin, 'YYYY-MM-DD HH24:MI:SS.US'));
    END IF;
    RETURN format('date_bin(%L::interval, %s, %L)', width, time_sql,
                  to_char(origin AT TIME ZONE time_zone AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
END
$$;

-- What a bucket column holds, for its comment: the width, the time zone and the origin.
CREATE FUNCTION rollup_internal.bucket_comment(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('start of the %s bucket, in time zone %s%s (pg_rollup rollup %s)', r.bucket_width, r.time_zone,
                  CASE WHEN r.bucket_origin <> '2000-01-03 00:00'::timestamp
                       THEN format(', from origin %s', to_char(r.bucket_origin, 'YYYY-MM-DD HH24:MI:SS')) ELSE '' END, r.name)
$$;

-- The zone in which buckets of width `width` are counted: the rollup's time zone for widths in
-- days, months or years (calendar units), UTC for widths with hours, minutes or seconds.
CREATE FUNCTION rollup_internal.calendar_zone(width interval, time_zone text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN date_trunc('day', width) = width THEN time_zone ELSE 'UTC' END
$$;

-- The SELECT that aggregates rows of `from_sql` (aliased s) for rollup r, output columns
-- named like the target's. with_rows adds "pg_rollup rows", the number of source rows. Grouped
-- by the bucket first: rows read in time order (a query view's finer rows by their bucket's
-- index) are then grouped with small sorts of the rows of each bucket (incremental sort) rather
-- than one sort of them all by their text dimensions.
CREATE FUNCTION rollup_internal.aggregate_sql(r rollup.rollups, from_sql text, with_rows boolean)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'SELECT %s %s AS %I,%s%s\nFROM %s\nGROUP BY %s',
        (SELECT string_agg(E'\n' || d || E'\n,', '' ORDER BY o) FROM unnest(r.dimensions) WITH ORDINALITY u(d, o)),
        r.bucket_sql, r.bucket_column,
        (SELECT string_agg(E'\n' || m || E'\n', ',' ORDER BY o) FROM unnest(r.measures) WITH ORDINALITY u(m, o)),
        CASE WHEN with_rows THEN ', count(*) AS "pg_rollup rows"' ELSE '' END,
        from_sql,
        (SELECT string_agg(i::text, ', ' ORDER BY i % (cardinality(r.dimensions) + 1)) FROM generate_series(1, cardinality(r.dimensions) + 1) i))
$$;

-- The composite type of the unique key that create_rollup makes on PostgreSQL 14 (no UNIQUE NULLS
-- NOT DISTINCT there): target's unique index on the row of its key columns as this type, whose
-- comparison takes NULL fields as equal. NULL for any other key.
CREATE FUNCTION rollup_internal.key_type(target regclass)
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
-- them as rollup_internal.key_type, the key that create_rollup makes on PostgreSQL 14.
CREATE FUNCTION rollup_internal.conflict_target(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN k IS NULL THEN rollup_internal.ident_list(r.dimension_names || r.bucket_column)
                ELSE format('(ROW(%s)::%s)', rollup_internal.ident_list(r.dimension_names || r.bucket_column), k) END
    FROM (SELECT rollup_internal.key_type(r.target_table) AS k) x
$$;

-- The merge of the aggregated rows of CTE `delta` into r's target, in the order of the target's
-- key: the conflict checks and index inserts walk the index in order instead of at random.
CREATE FUNCTION rollup_internal.merge_into_sql(r rollup.rollups, delta text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'INSERT INTO %s AS t (%s)\nSELECT %2$s FROM %s ORDER BY %4$s\nON CONFLICT (%6$s) DO UPDATE SET %5$s',
        r.target_table,
        rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        delta,
        rollup_internal.ident_list(r.dimension_names || r.bucket_column),
        (SELECT string_agg(format('%I = %s', m, rollup_internal.merge_sql(rule, 't.' || quote_ident(m), 'EXCLUDED.' || quote_ident(m))), ', ')
         FROM unnest(r.measure_names, r.merge_rules) u(m, rule)),
        rollup_internal.conflict_target(r))
$$;

-- The statement that aggregates `from_sql` (aliased s) into rollup `top` and feeds every
-- level below it from its parent's delta: CTE d<i> aggregates for the i-th rollup of the
-- chain, m<i> merges it into that rollup's target; `first_cte` (when given) comes before them
-- and may be what `from_sql` reads; `top_as` (when given) aggregates for `top` instead of its own
-- definition. It returns the number of source rows.
CREATE FUNCTION rollup_internal.chain_sql(top text, from_sql text, first_cte text DEFAULT NULL, top_as rollup.rollups DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    ctes text[] := CASE WHEN first_cte IS NULL THEN '{}' ELSE ARRAY[first_cte] END;
    names text[] := '{}';
BEGIN
    FOR r IN SELECT * FROM rollup_internal.chain(top) LOOP
        names := names || r.name;
        ctes := ctes
            || format('d%s AS (%s)', cardinality(names),
                      CASE WHEN r.name = top THEN rollup_internal.aggregate_sql(coalesce(top_as, r), from_sql, true)
                           ELSE rollup_internal.aggregate_sql(r, format('d%s s', array_position(names, r.parent)), false) END)
            || format('m%s AS (%s)', cardinality(names), rollup_internal.merge_into_sql(r, 'd' || cardinality(names)));
    END LOOP;
    RETURN format(E'WITH %s\nSELECT coalesce(sum("pg_rollup rows"), 0)::bigint FROM d1', array_to_string(ctes, E',\n'));
END
$$;

-- The statements of a run of rollup r and of the levels below it, with $1 and $2 bound to
-- (lo, hi]: ids of an incremental rollup; for a flush rollup $2 is the batch size (NULL:
-- everything); a level reads its whole source. The first statement returns the number of
-- source rows. One statement (rollup_internal.chain_sql) on a plain table; on Citus, which does not
-- push a CTE feeding an INSERT down to the shards, a count of the source rows, then for each
-- rollup of the chain an INSERT .. SELECT over its aggregation, the aggregations of its
-- parents nested as subqueries, then for a flush rollup a DELETE of the queue: statements
-- that run on the colocated shards.
CREATE FUNCTION rollup_internal.run_statements(r rollup.rollups)
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
    IF rollup_internal.distribution_column(r.source_table) IS NULL THEN
        IF r.mode = 'flush' THEN
            RETURN ARRAY[rollup_internal.chain_sql(r.name, 'flushed s',
                format(E'flushed AS (DELETE FROM %s WHERE $2 IS NULL OR (tableoid, ctid) IN (\n'
                       || E'    SELECT tableoid, ctid FROM %1$s LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *)', r.source_table))];
        END IF;
        RETURN ARRAY[rollup_internal.chain_sql(r.name, from_sql)];
    END IF;
    statements := ARRAY[format('SELECT count(*) FROM %s', from_sql)];
    FOR x IN SELECT * FROM rollup_internal.chain(r.name) LOOP
        aggregations := aggregations || rollup_internal.aggregate_sql(x,
            CASE WHEN x.name = r.name THEN from_sql
                 ELSE format('(%s) s', aggregations[array_position(names, x.parent)]) END, false);
        names := names || x.name;
        statements := statements || rollup_internal.merge_into_sql(x, format('(%s) d', aggregations[cardinality(aggregations)]));
    END LOOP;
    IF r.mode = 'flush' THEN
        statements := statements || format('DELETE FROM %s', r.source_table);
    END IF;
    RETURN statements;
END
$$;

-- Runs rollup r and the levels below it over (lo, hi] (see rollup_internal.run_statements) and
-- returns the number of source rows. validate: only plans the statements (types, merge
-- functions, the unique key), aggregating nothing. Aggregation by hashing, spilling what does
-- not fit in work_mem, rather than sorting the batch by its groups: the planner, which expects
-- far more groups than a time-ordered batch has and sketch states of SSPACE bytes, would
-- otherwise sort whenever they do not fit, and sorting millions of rows by text dimensions
-- (collation comparisons) takes several times as long (BENCHMARKS.md, "rollup.run"). No JIT:
-- the explicit sort of the merge, costed as disabled, would put every run's statement (and the
-- catalog queries that build it) above jit_above_cost, and compiling them took ~0.2 s a run,
-- more than a run of 100k rows; the sketches' work is in their C functions anyway.
CREATE FUNCTION rollup_internal.run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean DEFAULT false)
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

-- The plans of what the next run of base rollup r executes, planned for the range of ids it
-- would read (from the watermark to the sequence's last value, what writers still in flight
-- may hold back aside, within the batch size) with the settings of rollup_internal.run_chain.
CREATE FUNCTION rollup_internal.explain(r rollup.rollups)
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

-- The plans of what the next rollup.run of a rollup (of its base rollup, for a level) executes,
-- planned as the rollup's owner.
CREATE FUNCTION rollup.explain_run(rollup_name text)
RETURNS SETOF text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_split_to_table(rollup_internal.as_owner((rollup_internal.get(coalesce(rollup_internal.root(rollup_name), rollup_name))).name, 'explain'), E'\n')
$$;

-- The sequence behind an incremental rollup's id column, checked for what exactly-once
-- relies on: ascending, and CACHE 1 (with a cache, ids are not drawn in commit-able order).
CREATE FUNCTION rollup_internal.check_sequence(seq regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s pg_sequence;
BEGIN
    SELECT * INTO s FROM pg_sequence WHERE seqrelid = seq;
    IF s.seqcache > 1 THEN
        RAISE EXCEPTION 'sequence % has CACHE %; incremental rollups need CACHE 1', seq, s.seqcache
            USING ERRCODE = '55000',
                  DETAIL = 'With a cache, each session draws ids from its own block, so a committed row can have an id below the watermark.',
                  HINT = format('ALTER SEQUENCE %s CACHE 1;', seq);
    END IF;
    IF s.seqincrement < 0 THEN
        RAISE EXCEPTION 'sequence % is descending; incremental rollups need ascending ids', seq USING ERRCODE = '55000';
    END IF;
END
$$;

-- A level's buckets must each be a whole number of its source's buckets: every start of a
-- level bucket is the start of a source bucket. Fixed lengths of time (UTC) nest when the
-- widths and origins line up; calendar buckets (days in a time zone, months, years) are checked
-- start by start from 1970 to 2100 with the source's own bucket expression (DST changes, zones
-- whose midnight is not on the source's hours, weeks that do not start on the source's weeks).
CREATE FUNCTION rollup_internal.check_nesting(r rollup.rollups, p rollup.rollups, time_type regtype)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    zone text := rollup_internal.calendar_zone(r.bucket_width, r.time_zone);
    months boolean := extract(month FROM r.bucket_width) + extract(year FROM r.bucket_width) > 0;
    parent_calendar boolean := rollup_internal.calendar_zone(p.bucket_width, p.time_zone) <> 'UTC'
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
            rollup_internal.bucket_sql('s.b', time_type, p.bucket_width, p.time_zone, p.bucket_origin))
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

-- What a rollup's definition derives from what the user wrote, checked on the way: the
-- bucket expression (from the time column and the width), the names of the dimensions and
-- measures, the measures' merge rules, the sequence behind the id column. create_rollup works
-- with it, and the catalog stores what it returns (rollup_internal.catalog_write), never SQL a caller sent.
CREATE FUNCTION rollup_internal.derive(r rollup.rollups)
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

-- The definition create_rollup starts from (before rollup_internal.derive): what the caller gave,
-- checked, and for a level (a rollup whose source is another rollup's target) what it takes
-- from its parent. A level belongs to the owner of its chain (the role whose privileges its runs
-- use); a base rollup to the role that creates it.
CREATE FUNCTION rollup_internal.definition(name text, source_table regclass, time_column name, bucket_width interval,
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

-- The column an incremental rollup of `source_table` tracks its progress with when none is
-- named: the first whose values come from a sequence (identity or serial).
CREATE FUNCTION rollup_internal.id_column(source_table regclass)
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
-- NULL on a table Citus does not distribute) must be one of its dimensions (a stage's: of its
-- user columns, so that each user's requests are on one shard).
CREATE FUNCTION rollup_internal.check_distribution(r rollup.rollups)
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

-- A new target for rollup r, named target_table (qualified): created from the aggregation
-- itself (so its column types are exactly the measures'), with the unique key ON CONFLICT needs,
-- an index on the bucket, owned by the chain's owner and, on Citus, distributed by `dist` beside
-- the source.
CREATE FUNCTION rollup_internal.create_target(r rollup.rollups, target_table text, dist name)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    target regclass;
    key_type text;
BEGIN
    EXECUTE format(E'CREATE TABLE %s AS\n%s\nWITH NO DATA', target_table,
                   rollup_internal.aggregate_sql(r, format('%s s', r.source_table), false));
    target := to_regclass(target_table);
    IF target IS NULL THEN
        RAISE EXCEPTION 'could not find the created target table "%"', target_table USING ERRCODE = '42P01';
    END IF;
    -- NULL dimension values are one group. PostgreSQL 14 has no NULLS NOT DISTINCT: there the
    -- key is a unique index on the row of the key columns as a composite type of its own,
    -- whose comparison takes NULL fields as equal (rollup_internal.conflict_target, rollup_internal.key_type).
    IF current_setting('server_version_num')::int >= 150000 THEN
        EXECUTE format('ALTER TABLE %s ADD UNIQUE NULLS NOT DISTINCT (%s)', target,
            rollup_internal.ident_list(r.dimension_names || r.bucket_column));
    ELSE
        SELECT format('%I.%I', n.nspname, left(c.relname, 48) || ' pg_rollup key') INTO key_type
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
        EXECUTE format('CREATE TYPE %s AS (%s)', key_type,
            (SELECT string_agg(format('%I %s', k, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o)
             FROM unnest(r.dimension_names || r.bucket_column) WITH ORDINALITY u(k, o)
             JOIN pg_attribute a ON a.attrelid = target AND a.attname = u.k));
        EXECUTE format('CREATE UNIQUE INDEX ON %s ((ROW(%s)::%s))', target,
            rollup_internal.ident_list(r.dimension_names || r.bucket_column), key_type);
    END IF;
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', target, r.bucket_column, rollup_internal.bucket_comment(r));
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
-- there: see rollup_internal.key_type).
CREATE FUNCTION rollup_internal.check_target(r rollup.rollups, target regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    key_sorted name[] := ARRAY(SELECT c FROM unnest(r.dimension_names || r.bucket_column) c ORDER BY c);
BEGIN
    PERFORM rollup_internal.check_owner(target);
    IF NOT EXISTS (
        SELECT FROM pg_index i
        WHERE i.indrelid = target AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
          AND ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = target AND a.attnum = ANY (i.indkey) ORDER BY a.attname)
            = key_sorted)
       AND ARRAY(SELECT a.attname FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0
                 WHERE t.oid = rollup_internal.key_type(target) ORDER BY a.attname)
           IS DISTINCT FROM key_sorted THEN
        RAISE EXCEPTION 'target table % has no unique index on exactly (%)', target,
            array_to_string(r.dimension_names || r.bucket_column, ', ') USING ERRCODE = '42P10';
    END IF;
END
$$;

-- Raises unless `rollup_name` can name a rollup (the catalog writer checks it again).
CREATE FUNCTION rollup_internal.check_name(rollup_name text)
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

-- Writes definition r (its target made or checked) into the catalog, incremental ones starting
-- after id start_after, and validates the whole generated statement of its chain (types, merge
-- functions, unique key) as the owner, like every run; returns the definition as stored.
CREATE FUNCTION rollup_internal.add_rollup(r rollup.rollups, start_after bigint)
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

-- An incremental rollup starts after id start_after, by default from the sequence's start; an
-- existing target that holds rows needs start_after (the rows it holds would otherwise be
-- counted again), and a level needs an empty one. Its id column must be GENERATED ALWAYS,
-- unless allow_explicit_ids accepts that a row inserted with an explicit id at or below the
-- watermark is never rolled up. The parts: rollup_internal.definition, rollup_internal.derive, the target
-- (rollup_internal.create_target or rollup_internal.check_target), the catalog, then a validation of the
-- generated statement and, for a level, its first fill.
CREATE FUNCTION rollup.create_rollup(
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

-- An id column that takes explicit values (GENERATED BY DEFAULT, serial) can receive an id at or
-- below a rollup's watermark, which no run will read: refused unless allowed, then a warning.
CREATE FUNCTION rollup_internal.check_explicit_ids(rel regclass, id_column name, allowed boolean)
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

-- The work of rollup.load_history: the rows of `query` are grouped by the target's key, each
-- measure merged by its rule (sum, min, max, bool_and, bool_or, hll_union_agg, topn_union_agg,
-- qsketch_union_agg).
CREATE FUNCTION rollup_internal.load(r rollup.rollups, query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    given rollup.rollups := r;
    n bigint;
BEGIN
    PERFORM rollup_internal.lock_chain(r.name);
    given.dimensions := ARRAY(SELECT 's.' || quote_ident(d) || ' AS ' || quote_ident(d) FROM unnest(r.dimension_names) d);
    given.bucket_sql := 's.' || quote_ident(r.bucket_column);
    given.measures := ARRAY(
        SELECT format('%s(s.%I) AS %2$I', CASE u.rule WHEN 'add' THEN 'sum' WHEN 'least' THEN 'min' WHEN 'greatest' THEN 'max'
                                                       WHEN 'and' THEN 'bool_and' WHEN 'or' THEN 'bool_or'
                                                       WHEN 'hll_union' THEN 'hll_union_agg' WHEN 'topn_union' THEN 'topn_union_agg'
                                                       WHEN 'qsketch_union' THEN 'qsketch_union_agg' END, u.m)
        FROM unnest(r.measure_names, r.merge_rules) WITH ORDINALITY u(m, rule, o) ORDER BY u.o);
    -- (A parameter makes EXECUTE take exactly one statement.)
    EXECUTE rollup_internal.chain_sql(r.name, format(E'(\n%s\n) s WHERE $1 IS NULL', query), top_as => given) INTO n USING NULL::bigint;
    RETURN n;
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

-- The work of alter_rollup's add_measures, as the rollup's owner: the columns (typed as the
-- aggregation types them), the definition, then the rows; returns {rows, filled, from}.
CREATE FUNCTION rollup_internal.add_measures(r rollup.rollups, measures text[])
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
    PERFORM rollup_internal.lock_chain(r.name);
    -- The definition first: it checks the measures, their merge rules and their names.
    PERFORM rollup_internal.write_catalog('add_measures', jsonb_build_object('name', r.name, 'measures', measures));
    added.measures := measures;
    added := rollup_internal.derive(added);
    -- (pg_typeof of a NULL still names its type: the outer join gives one row.)
    EXECUTE format(E'SELECT string_agg(format(''ADD COLUMN %%I %%s'', m, t), '', '' ORDER BY o) FROM (SELECT ARRAY[%s] AS types\n'
                   'FROM (SELECT) one LEFT JOIN (%s) x ON true LIMIT 1) y, unnest(%L::name[], types) WITH ORDINALITY u(m, t, o)',
                   (SELECT string_agg(format('pg_typeof(x.%I)::regtype::text', m), ', ') FROM unnest(added.measure_names) m),
                   rollup_internal.aggregate_sql(added, from_sql || ' WHERE false', false), added.measure_names)
        INTO columns;
    EXECUTE format('ALTER TABLE %s %s', r.target_table, columns);
    EXECUTE format('SELECT count(*) FROM %s', r.target_table) INTO total;
    IF r.mode = 'flush' THEN
        RETURN jsonb_build_object('rows', total, 'filled', 0);
    END IF;
    IF r.mode = 'incremental' THEN
        from_sql := from_sql || ' WHERE ' || rollup_internal.covered_sql(r);
    END IF;
    -- Where retention deleted source rows, only buckets that start at or after the oldest row
    -- left are whole.
    IF (SELECT p.source_rows_deleted FROM rollup.progress p WHERE p.name = r.name) > 0 THEN
        EXECUTE format('SELECT %s FROM (SELECT min(%I) AS t FROM %s) m',
                       rollup_internal.bucket_ceil_sql('m.t', time_type, r.bucket_width, r.time_zone, r.bucket_origin), r.time_column, r.source_table)
            INTO first_complete;
    END IF;
    -- A level reads rows of a rollup that may have just got the measures it reads: NULL there
    -- means not known, and so is any bucket of the level with such a row.
    IF r.mode = 'level' THEN
        SELECT string_agg(format('s.%I IS NOT NULL', p.m), ' AND ') INTO known
        FROM rollup.rollups x, unnest(x.measure_names) p(m)
        WHERE x.name = r.parent AND EXISTS (SELECT FROM unnest(add_measures.measures) f WHERE strpos(lower(f), lower(p.m)) > 0);
    END IF;
    added.measures := added.measures || format('bool_and(%s) AS "pg_rollup known"', coalesce(known, 'true'));
    -- Only into the rows the target holds: no row for buckets whose rows target retention deleted.
    EXECUTE format(E'INSERT INTO %1$s AS t (%2$s)\nSELECT %2$s FROM (%3$s) d\n'
                   'WHERE d."pg_rollup known" AND d.%4$I >= coalesce(%5$L::%8$s, ''-infinity'') AND d.%4$I >= (SELECT min(%4$I) FROM %1$s)\n'
                   'ON CONFLICT (%6$s) DO UPDATE SET %7$s',
                   r.target_table, rollup_internal.ident_list(r.dimension_names || r.bucket_column || added.measure_names),
                   rollup_internal.aggregate_sql(added, from_sql, false), r.bucket_column, first_complete,
                   rollup_internal.conflict_target(r),
                   (SELECT string_agg(format('%I = EXCLUDED.%1$I', m), ', ') FROM unnest(added.measure_names) m),
                   format_type(time_type, NULL));
    GET DIAGNOSTICS filled = ROW_COUNT;
    RETURN jsonb_build_object('rows', total, 'filled', filled, 'from', first_complete);
END
$$;

-- Whether a table holds a row.
CREATE FUNCTION rollup_internal.has_rows(rel regclass)
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

-- The base rollup at the top of a chain of levels.
CREATE FUNCTION rollup_internal.root(rollup_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE up AS (
        SELECT r.name, r.parent FROM rollup.rollups r WHERE r.name = rollup_name
        UNION ALL
        SELECT r.name, r.parent FROM rollup.rollups r JOIN up ON r.name = up.parent
    )
    SELECT name FROM up WHERE parent IS NULL
$$;

-- A rollup and every level below it, parents first. A chain has one owner (its runs execute
-- every level as that role): a level of another owner, which only a catalog written outside the
-- API could hold, is not part of it.
CREATE FUNCTION rollup_internal.chain(rollup_name text)
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

-- The definition of a rollup the current user may see, or an error.
CREATE FUNCTION rollup_internal.get(rollup_name text)
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

-- The end of the next batch of rollup r after id lo, up to safe (NULL: nothing new): at most
-- batch_size rows when r has one.
CREATE FUNCTION rollup_internal.batch_end(r rollup.rollups, lo bigint, safe bigint)
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
-- (node group g: from g << 48 + 1). The bounds (rollup_internal.safe_watermark, as jsonb {safe,
-- checkpoints}) of the rows written through
-- the other nodes than this one, by node group: each active worker computes its own, in
-- parallel, with the checkpoints kept for it in `nodes`; a group no longer in the cluster (a
-- removed node) has no writers left, so its whole range. '{}' for a table Citus does not manage.
-- A worker that does not answer fails the run: its writers cannot be known.
CREATE FUNCTION rollup_internal.node_bounds(r rollup.rollups, nodes jsonb, wait_ms int)
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
    command := format('SELECT pg_catalog.to_jsonb(b) FROM rollup_internal.safe_watermark(%L::pg_catalog.regclass, %L::pg_catalog.regclass, %s,
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

-- The rows of rollup r's source that its runs have aggregated, as a condition on alias s:
-- ids up to the watermark and, on Citus, in each node group's range up to that group's.
CREATE FUNCTION rollup_internal.covered_sql(r rollup.rollups)
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

-- One bounded step of a base rollup; rows processed, or NULL when another run of the same
-- rollup holds it (the caller returns at once instead of queueing behind it).
CREATE FUNCTION rollup_internal.run_once(r rollup.rollups, wait_ms int)
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

-- Aggregates every source row not yet rolled up (at most batch_size of them when the rollup
-- has one) and returns how many; 0 when another run of the rollup is in progress. A level
-- runs the base rollup of its chain, which feeds it. max_wait bounds how long to wait for
-- writers still inserting rows below the current sequence value; rows they may commit are
-- left for a later run. The run executes as the rollup's owner, whoever calls it. An error is
-- kept in rollup.status (last_error) although the caller's transaction is rolled back, and raised.
CREATE FUNCTION rollup.run(rollup_name text, max_wait interval DEFAULT '1 second')
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
    r := rollup_internal.get(coalesce(rollup_internal.root(rollup_name), rollup_name));
    RETURN coalesce(rollup_internal.as_owner(r.name, 'run', to_jsonb(least(extract(epoch FROM max_wait) * 1000, 3600000)::int))::bigint, 0);
EXCEPTION WHEN OTHERS THEN
    -- The caller's transaction is rolled back: the error is kept by a transaction of its own
    -- (src/rollups/run_errors.rs), for a role that may act for the rollup.
    IF r.name IS NOT NULL AND pg_has_role(r.owner, 'USAGE') THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        PERFORM rollup_internal.record_run_error(r.name, format('%s: %s', err_state, err));
    END IF;
    RAISE;
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
    r rollup.rollups := rollup_internal.get(rollup_name);
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
    RETURN rollup_internal.as_owner(r.name, 'reset')::bigint;
END
$$;

-- Holds the chain of rollup_name (its base rollup's run lock) until the transaction ends, or
-- raises when a run holds it.
CREATE FUNCTION rollup_internal.lock_chain(rollup_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup_internal.root(rollup_name))) THEN
        RAISE EXCEPTION 'rollup "%" is running', rollup_internal.root(rollup_name) USING ERRCODE = '55006';
    END IF;
END
$$;

-- The work of rollup.reset.
CREATE FUNCTION rollup_internal.reset(r rollup.rollups)
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

CREATE FUNCTION rollup.drop_rollup(rollup_name text, drop_target boolean DEFAULT false)
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
