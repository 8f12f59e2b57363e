-- pg_rollup 0.4.0 -> 0.5.0
-- topn() and topn_bounds() return their rows from C (they were SQL over topn_columns arrays),
-- and so does rollup.view_boundary, which every query of a query view calls;
-- rollup.explain_run plans the range of ids the next run reads (it bound both ends to the
-- watermark); runs aggregate by hashing and merge into a target in the order of its key; rollups
-- and query views group by the bucket first (new query views: incremental sorts); the
-- sketch aggregates declare the memory their states grow to (aggtransspace), so that hash
-- aggregation spills before growing states take more than about twice work_mem ×
-- hash_mem_multiplier.

CREATE OR REPLACE FUNCTION topn(topn, integer) RETURNS TABLE (item text, frequency bigint)
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_rows' LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT ROWS 100;

CREATE OR REPLACE FUNCTION topn_bounds(topn, integer)
    RETURNS TABLE (item text, frequency bigint, lower_bound bigint, upper_bound bigint, guaranteed boolean)
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_rows' LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT ROWS 100;

-- The SELECT that aggregates rows of `from_sql` (aliased s) for rollup r, output columns
-- named like the target's. with_rows adds "pg_rollup rows", the number of source rows. Grouped
-- by the bucket first: rows read in time order (a query view's finer rows by their bucket's
-- index) are then grouped with small sorts of the rows of each bucket (incremental sort) rather
-- than one sort of them all by their text dimensions.
CREATE OR REPLACE FUNCTION rollup._aggregate_sql(r rollup.rollups, from_sql text, with_rows boolean)
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

-- The merge of the aggregated rows of CTE `delta` into r's target, in the order of the target's
-- key: the conflict checks and index inserts walk the index in order instead of at random.
CREATE OR REPLACE FUNCTION rollup._merge_into_sql(r rollup.rollups, delta text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'INSERT INTO %s AS t (%s)\nSELECT %2$s FROM %s ORDER BY %4$s\nON CONFLICT (%4$s) DO UPDATE SET %5$s',
        r.target_table,
        rollup._ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        delta,
        rollup._ident_list(r.dimension_names || r.bucket_column),
        (SELECT string_agg(format('%I = %s', m, rollup._merge_sql(rule, 't.' || quote_ident(m), 'EXCLUDED.' || quote_ident(m))), ', ')
         FROM unnest(r.measure_names, r.merge_rules) u(m, rule)))
$$;

-- Runs rollup r and the levels below it over (lo, hi] (see rollup._run_statements) and
-- returns the number of source rows. validate: only plans the statements (types, merge
-- functions, the unique key), aggregating nothing. Aggregation by hashing, spilling what does
-- not fit in work_mem, rather than sorting the batch by its groups: the planner, which expects
-- far more groups than a time-ordered batch has and sketch states of SSPACE bytes, would
-- otherwise sort whenever they do not fit, and sorting millions of rows by text dimensions
-- (collation comparisons) takes several times as long (BENCHMARKS.md, "rollup.run").
CREATE OR REPLACE FUNCTION rollup._run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
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

-- The plans of what the next run of base rollup r executes, planned for the range of ids it
-- would read (from the watermark to the sequence's last value, what writers still in flight
-- may hold back aside, within the batch size) with the settings of rollup._run_chain.
CREATE OR REPLACE FUNCTION rollup._explain(r rollup.rollups)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
AS $$
DECLARE
    statement text;
    w bigint := (SELECT p.watermark FROM rollup.progress p WHERE p.name = r.name);
    hi bigint;
BEGIN
    IF r.mode = 'flush' THEN
        hi := r.batch_size;
    ELSE
        hi := rollup._batch_end(r, w, pg_sequence_last_value(r.id_sequence));
    END IF;
    FOREACH statement IN ARRAY rollup._run_statements(r) LOOP
        RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || statement USING w, hi;
    END LOOP;
END
$$;

-- The boundary of a query view: the first bucket of width `width` (a level's buckets, in
-- time_zone from origin) that starts at or after the first bucket of the finer rollup `fine`,
-- and after now() - fine_window when given; 'infinity' while `fine` is empty. Bucket columns
-- without a time zone are read as UTC. In C (src/rollups/boundary.rs), with the statement that
-- computes it kept planned per view for the session. STABLE, so the planner estimates the
-- view's row counts with its actual value; costly, so it prefers plans that evaluate it once
-- (an index condition) to a filter on every row; parallel restricted, so the small scans of a
-- dashboard query are not handed to parallel workers whose start-up costs more than the scan.
CREATE OR REPLACE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval,
                                     time_zone text, origin timestamp)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pg_rollup_view_boundary'
LANGUAGE C STABLE PARALLEL RESTRICTED COST 10000
SET search_path = pg_catalog, pg_temp;

-- (ALTER AGGREGATE cannot change it, and dropping the aggregates would drop the views on them.)
UPDATE pg_catalog.pg_aggregate SET aggtransspace = 1024
WHERE aggfnoid IN ('@extschema@.hll_union_agg(@extschema@.hll)'::regprocedure,
                   '@extschema@.hll_add_agg(@extschema@.hll_hashval)'::regprocedure,
                   '@extschema@.hll_add_agg(@extschema@.hll_hashval, integer)'::regprocedure,
                   '@extschema@.hll_add_agg(@extschema@.hll_hashval, integer, integer)'::regprocedure,
                   '@extschema@.hll_add_agg(@extschema@.hll_hashval, integer, integer, bigint)'::regprocedure,
                   '@extschema@.hll_add_agg(@extschema@.hll_hashval, integer, integer, bigint, integer)'::regprocedure);
UPDATE pg_catalog.pg_aggregate SET aggtransspace = 8192
WHERE aggfnoid IN ('@extschema@.topn_add_agg(text)'::regprocedure,
                   '@extschema@.topn_add_agg(text, integer)'::regprocedure,
                   '@extschema@.topn_add_agg(text, bigint)'::regprocedure,
                   '@extschema@.topn_add_agg(text, bigint, integer)'::regprocedure,
                   '@extschema@.topn_union_agg(@extschema@.topn)'::regprocedure,
                   '@extschema@.topn_union_agg(jsonb)'::regprocedure);
