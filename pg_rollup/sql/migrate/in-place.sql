-- Moves a database from postgresql-hll, postgresql-topn or both to pg_rollup in place, in one
-- transaction: every column of type hll or hll_hashval keeps its values byte for byte and its
-- type modifier; postgresql-topn's jsonb maps stay as they are (pg_rollup reads them, and its
-- topn_add, topn_union and + keep maps maps); the views, materialized views, functions, column
-- defaults, indexes and constraints that use either extension's objects are made again on
-- pg_rollup's (with their owners, privileges and comments). pg_rollup is created in the schema
-- the extensions were in; postgresql-topn's jsonb + operator and its type topn_record, which
-- pg_rollup does not have, are made again there as objects of the database. Run it with psql
-- as a superuser, in the database to move:
--
--   psql -v ON_ERROR_STOP=1 -d <database> -f "$(pg_config --sharedir)/extension/pg_rollup-migrate-in-place.sql"
--
-- Nothing is changed when it fails: it names what it cannot move (a domain or composite type
-- over hll, an array of hll, an aggregate or trigger that uses them) and rolls back.
BEGIN;
CREATE TEMP TABLE pg_rollup_migration (step int, seq int, what text, sql text) ON COMMIT DROP;
DO $migrate$
DECLARE
    ext record;
    has_topn boolean;
    o record;
    col record;
    n int := 0;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_rollup') THEN
        RAISE EXCEPTION 'pg_rollup is installed already' USING ERRCODE = '42710',
            HINT = 'This script moves a database that has postgresql-hll or postgresql-topn and not pg_rollup.';
    END IF;
    SELECT pg_catalog.array_agg(e.oid) AS oids, pg_catalog.min(n.nspname) AS nspname, pg_catalog.count(DISTINCT n.nspname) AS schemas INTO ext
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname IN ('hll', 'topn');
    IF ext.oids IS NULL THEN
        RAISE EXCEPTION 'neither postgresql-hll (extension hll) nor postgresql-topn (extension topn) is installed in database %', current_database()
            USING ERRCODE = '42704';
    ELSIF ext.schemas > 1 THEN
        RAISE EXCEPTION 'postgresql-hll and postgresql-topn are in different schemas' USING ERRCODE = '0A000',
            HINT = 'pg_rollup has one schema: bring them into one schema first.';
    END IF;
    has_topn := EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'topn');

    -- Everything that depends on postgresql-hll's objects, directly or through a view, with its
    -- depth (a view on a view comes after it). Columns are found by their type.
    CREATE TEMP TABLE pg_rollup_dependents ON COMMIT DROP AS
    WITH RECURSIVE own AS (
        SELECT classid, objid FROM pg_catalog.pg_depend WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND refobjid = ANY (ext.oids) AND deptype = 'e'
    ), members AS (
        -- (with the array types of its types, which go with them)
        SELECT classid, objid FROM own
        UNION ALL
        SELECT 'pg_catalog.pg_type'::regclass, t.typarray FROM own JOIN pg_catalog.pg_type t ON own.classid = 'pg_catalog.pg_type'::regclass AND t.oid = own.objid
        WHERE t.typarray <> 0
    ), dep(classid, objid, objsubid, depth) AS (
        SELECT d.classid, d.objid, d.objsubid, 1
        FROM pg_catalog.pg_depend d JOIN members m ON m.classid = d.refclassid AND m.objid = d.refobjid
        WHERE d.deptype = 'n' AND (d.classid, d.objid) NOT IN (SELECT classid, objid FROM members)
        UNION
        -- Views (their rewrite rules) that read a view or materialized view found above.
        SELECT d.classid, d.objid, d.objsubid, dep.depth + 1
        FROM dep JOIN pg_catalog.pg_rewrite w ON dep.classid = 'pg_catalog.pg_rewrite'::regclass AND w.oid = dep.objid
        JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = w.ev_class
        WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid <> dep.objid AND dep.depth < 50
    )
    SELECT classid, objid, objsubid, max(depth) AS depth FROM dep GROUP BY 1, 2, 3;

    FOR o IN SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS what
             FROM pg_rollup_dependents d
             WHERE d.classid NOT IN ('pg_catalog.pg_rewrite'::regclass, 'pg_catalog.pg_attrdef'::regclass, 'pg_catalog.pg_proc'::regclass,
                                     'pg_catalog.pg_constraint'::regclass, 'pg_catalog.pg_class'::regclass)
                OR (d.classid = 'pg_catalog.pg_proc'::regclass AND (SELECT prokind FROM pg_catalog.pg_proc WHERE oid = d.objid) NOT IN ('f', 'p'))
                OR (d.classid = 'pg_catalog.pg_class'::regclass
                    AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = d.objid) NOT IN ('r', 'p', 'i', 'I', 'm', 'v')) LOOP
        RAISE EXCEPTION 'cannot move % to pg_rollup', o.what USING ERRCODE = '0A000',
            HINT = 'Drop it, run this script, and make it again on pg_rollup''s types.';
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
               JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND e.typname IN ('hll', 'hll_hashval')
               JOIN pg_catalog.pg_depend x ON x.classid = 'pg_catalog.pg_type'::regclass AND x.objid = e.oid AND x.deptype = 'e' AND x.refobjid = ANY (ext.oids)
               WHERE a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'cannot move a column that is an array of hll to pg_rollup' USING ERRCODE = '0A000';
    END IF;

    -- Views and materialized views, deepest first when dropped, shallowest first when made.
    FOR o IN SELECT DISTINCT ON (c.oid) c.oid, c.relkind, c.relowner, c.relacl, c.reloptions, d.depth,
                    pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
             FROM pg_rollup_dependents d JOIN pg_catalog.pg_rewrite w ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND w.oid = d.objid
             JOIN pg_catalog.pg_class c ON c.oid = w.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('v', 'm')
             ORDER BY c.oid, d.depth DESC LOOP
        INSERT INTO pg_rollup_migration VALUES
            (1, -o.depth, o.name, pg_catalog.format('DROP %s %s', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END, o.name)),
            (6, o.depth, o.name, pg_catalog.format('CREATE %s %s%s AS %s', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END, o.name,
                                                   CASE WHEN o.reloptions IS NOT NULL THEN ' WITH (' || pg_catalog.array_to_string(o.reloptions, ', ') || ')' ELSE '' END,
                                                   pg_catalog.rtrim(pg_catalog.pg_get_viewdef(o.oid), ';'))),
            (7, o.depth, o.name, pg_catalog.format('ALTER TABLE %s OWNER TO %I', o.name, pg_catalog.pg_get_userbyid(o.relowner)));
        INSERT INTO pg_rollup_migration
        SELECT 7, o.depth, o.name, pg_catalog.format('GRANT %s ON %s TO %s', a.privilege_type, o.name,
                                                    CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)
        FROM pg_catalog.aclexplode(o.relacl) a WHERE a.grantee <> o.relowner;
        -- (A materialized view's indexes go with it.)
        INSERT INTO pg_rollup_migration
        SELECT 7, o.depth, o.name, pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i WHERE i.indrelid = o.oid;
        INSERT INTO pg_rollup_migration
        SELECT 7, o.depth, o.name, pg_catalog.format('COMMENT ON %s %s IS %L', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END, o.name, pg_catalog.obj_description(o.oid, 'pg_class'))
        WHERE pg_catalog.obj_description(o.oid, 'pg_class') IS NOT NULL;
    END LOOP;
    -- Functions and procedures whose arguments or result are postgresql-hll's types, or whose
    -- body PostgreSQL parsed (BEGIN ATOMIC).
    FOR o IN SELECT DISTINCT p.oid, p.proowner, p.proacl, p.prokind, p.oid::regprocedure::text AS name
             FROM pg_rollup_dependents d JOIN pg_catalog.pg_proc p ON d.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = d.objid LOOP
        INSERT INTO pg_rollup_migration VALUES
            (1, 100, o.name, pg_catalog.format('DROP %s %s', CASE o.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, o.name)),
            (5, 0, o.name, pg_catalog.pg_get_functiondef(o.oid)),
            (7, 0, o.name, pg_catalog.format('ALTER ROUTINE %s OWNER TO %I', o.name, pg_catalog.pg_get_userbyid(o.proowner)));
        IF o.proacl IS NOT NULL THEN
            INSERT INTO pg_rollup_migration VALUES (7, 0, o.name, pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', o.name));
            INSERT INTO pg_rollup_migration
            SELECT 7, 1, o.name, pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %s', o.name,
                                                  CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END)
            FROM pg_catalog.aclexplode(o.proacl) a WHERE a.grantee <> o.proowner;
        END IF;
    END LOOP;
    -- Column defaults, indexes and constraints that use them (made again after the columns).
    INSERT INTO pg_rollup_migration
    SELECT 1, 0, pg_catalog.format('%s.%I', ad.adrelid::regclass, a.attname),
           pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', ad.adrelid::regclass, a.attname)
    FROM pg_rollup_dependents d JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND ad.oid = d.objid
    JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    UNION ALL
    SELECT 5, 0, pg_catalog.format('%s.%I', ad.adrelid::regclass, a.attname),
           pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', ad.adrelid::regclass, a.attname, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
    FROM pg_rollup_dependents d JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND ad.oid = d.objid
    JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum;
    INSERT INTO pg_rollup_migration
    SELECT DISTINCT 1, 0, c.oid::regclass::text, pg_catalog.format('DROP INDEX %s', c.oid::regclass)
    FROM pg_rollup_dependents d JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid
    WHERE c.relkind IN ('i', 'I') AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conindid = c.oid)
    UNION ALL
    SELECT DISTINCT 5, 1, c.oid::regclass::text, pg_catalog.pg_get_indexdef(c.oid)
    FROM pg_rollup_dependents d JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid
    WHERE c.relkind IN ('i', 'I') AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conindid = c.oid);
    INSERT INTO pg_rollup_migration
    SELECT DISTINCT 1, 0, k.conname, pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname)
    FROM pg_rollup_dependents d JOIN pg_catalog.pg_constraint k ON d.classid = 'pg_catalog.pg_constraint'::regclass AND k.oid = d.objid
    UNION ALL
    SELECT DISTINCT 5, 2, k.conname, pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname, pg_catalog.pg_get_constraintdef(k.oid))
    FROM pg_rollup_dependents d JOIN pg_catalog.pg_constraint k ON d.classid = 'pg_catalog.pg_constraint'::regclass AND k.oid = d.objid;
    -- Columns: to bytea (hll: its stored bytes) or bigint (hll_hashval), then back with their
    -- type modifier, through pg_rollup's casts (which check every value).
    FOR col IN SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS rel, a.attname, t.typname,
                      pg_catalog.format('%I.%I', ext.nspname, t.typname)
                          || coalesce(pg_catalog.substring(pg_catalog.format_type(a.atttypid, a.atttypmod), '\(.*\)$'), '') AS typ
               FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
               JOIN pg_catalog.pg_depend x ON x.classid = 'pg_catalog.pg_type'::regclass AND x.objid = t.oid AND x.deptype = 'e' AND x.refobjid = ANY (ext.oids)
               WHERE t.typname IN ('hll', 'hll_hashval')
                 AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
                 -- (a partition follows its parent)
                 AND NOT c.relispartition LOOP
        n := n + 1;
        INSERT INTO pg_rollup_migration VALUES
            (2, n, col.rel || '.' || col.attname,
             CASE col.typname WHEN 'hll' THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE bytea USING pg_catalog.decode(pg_catalog.substr(%2$I::text, 3), ''hex'')', col.rel, col.attname)
                              ELSE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE bigint USING %2$I::text::bigint', col.rel, col.attname) END),
            (4, n, col.rel || '.' || col.attname,
             pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %2$I::%3$s', col.rel, col.attname, col.typ));
    END LOOP;
    INSERT INTO pg_rollup_migration
    SELECT 3, 0, e.extname, pg_catalog.format('DROP EXTENSION %I', e.extname) FROM pg_catalog.pg_extension e WHERE e.oid = ANY (ext.oids)
    UNION ALL
    SELECT 3, 1, 'pg_rollup', pg_catalog.format('CREATE EXTENSION pg_rollup SCHEMA %I', ext.nspname);
    IF has_topn THEN
        INSERT INTO pg_rollup_migration VALUES
            (3, 2, 'topn_record', pg_catalog.format('CREATE TYPE %I.topn_record AS (item text, frequency bigint)', ext.nspname)),
            (3, 2, '+', pg_catalog.format('CREATE OPERATOR %1$I.+ (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = %1$I.topn_union, COMMUTATOR = OPERATOR(%1$I.+))', ext.nspname)),
            (3, 3, '+', pg_catalog.format('COMMENT ON OPERATOR %I.+ (jsonb, jsonb) IS %L', ext.nspname,
                                          'union of two postgresql-topn jsonb maps (topn_union), kept from postgresql-topn by pg_rollup''s in-place move'));
    END IF;

    FOR o IN SELECT step, what, sql FROM pg_rollup_migration ORDER BY step, seq, what LOOP
        EXECUTE o.sql;
    END LOOP;
    RAISE NOTICE 'moved to pg_rollup: % columns, % views, % functions, % indexes',
        n, (SELECT count(*) FROM pg_rollup_migration WHERE step = 6), (SELECT count(*) FROM pg_rollup_migration WHERE step = 5 AND sql LIKE 'CREATE OR REPLACE%'),
        (SELECT count(*) FROM pg_rollup_migration WHERE step = 5 AND seq = 1);
END
$migrate$;
COMMIT;
