-- What the SQL of every feature area shares: the schemas' grants, and the helpers that check
-- ownership and columns and quote or qualify names. Loaded before the feature areas
-- (events.sql, rollups.sql, operations.sql, security.sql).
--
-- Every function that runs dynamic SQL sets search_path to pg_catalog, pg_temp.

-- Every role may call pg_rollup's functions; what they act on is checked per table owner.
-- The helpers in rollup_internal run as the role that calls pg_rollup's functions (or as a
-- rollup's owner), so their schema is usable by every role too; security.sql revokes EXECUTE
-- on those that only the catalog's owner runs.
GRANT USAGE ON SCHEMA rollup TO PUBLIC;
GRANT USAGE ON SCHEMA rollup_internal TO PUBLIC;

-- Raises unless role `member` (by default the current user) may act as the owner of the table.
CREATE FUNCTION rollup_internal.check_owner(rel regclass, member oid DEFAULT NULL)
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

-- Quoted, comma-separated identifiers, in order.
CREATE FUNCTION rollup_internal.ident_list(names name[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(quote_ident(c), ', ' ORDER BY o) FROM unnest(names) WITH ORDINALITY u(c, o)
$$;

-- A table or view name as the user wrote it (parsed like an identifier), qualified: an
-- unqualified name is in the schema of `beside`.
CREATE FUNCTION rollup_internal.qualify(relation_name text, beside regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[] := parse_ident(relation_name);
BEGIN
    IF cardinality(parts) = 1 THEN
        parts := ARRAY[(SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.oid = beside)] || parts;
    ELSIF cardinality(parts) <> 2 THEN
        RAISE EXCEPTION 'invalid relation name "%"', relation_name USING ERRCODE = '42602';
    END IF;
    RETURN format('%I.%I', parts[1], parts[2]);
END
$$;

-- The distribution column of a Citus-distributed table, NULL elsewhere.
CREATE FUNCTION rollup_internal.distribution_column(rel regclass)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col name;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT column_to_column_name(logicalrelid, partkey) FROM pg_catalog.pg_dist_partition
             WHERE logicalrelid = $1 AND partkey IS NOT NULL'
        INTO col USING rel;
    RETURN col;
END
$$;

-- Raises unless the column exists in the table.
CREATE FUNCTION rollup_internal.check_column(rel regclass, col name)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % of table % does not exist', quote_ident(col), rel USING ERRCODE = '42703';
    END IF;
END
$$;
