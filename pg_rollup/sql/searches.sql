-- Search sessions: instant-search keystrokes collapsed into searches, inside the database.
--
-- A search-as-you-type box sends a request per keystroke ("a", "al", ... "algolia"); analytics
-- counts the search once, as its final query. A search-session stage reads a table of such
-- requests and writes one row per search into its target: the user's columns, the final query,
-- the first and last request's times, the number of requests (keystrokes) and the columns the
-- caller keeps from the last request (e.g. its hit count). Consecutive requests of one user are
-- one search when the next comes within `gap` of the previous one and its query continues the
-- previous query (rollup_core::searches: one is a prefix of the other, or they differ in the
-- last two characters of the shorter one; an empty query ends a search and is none).
--
-- A stage is a rollup of mode incremental with `search` set in the catalog: rollup.run,
-- rollup.catch_up, rollup.schedule, rollup.status and source retention work for it as for any
-- rollup, with the same exactly-once watermark. A run reads the new requests (in every node's
-- range of ids on Citus, in one statement) with the searches still open from earlier runs,
-- kept in the stage's pending table (the target's name, then "_pending"). A search is finished,
-- and written to the target, when its user's next request does not continue it, or when the
-- run has seen a request of anyone `gap` or more after its last one (the horizon: the newest
-- request of the run; with writes through several Citus nodes, the oldest of each node's
-- newest, so that no node's requests are still to come before it; never later than now(), so
-- that a request dated in the future ends no one's search), or, in a run that finds no
-- new request and no writer in flight, when its last request is more than `gap` before now().
-- A search still open stays pending. Requests are ordered by time, then id, and expected about
-- in that order (as they are when written as they come): a request written after the search it
-- would have continued was written starts a search of its own (written searches are never
-- changed, so rollups over the target stay exactly once). A request without a time, or with a
-- user column NULL, is part of no search.

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
