-- The extension is created by pg_regress (--load-extension=pg_rollup).
SELECT extname, extrelocatable FROM pg_extension WHERE extname = 'pg_rollup';
SELECT rollup.version() = (SELECT extversion FROM pg_extension WHERE extname = 'pg_rollup') AS version_matches;
-- The library can be dropped and created again in the same session.
DROP EXTENSION pg_rollup;
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname IN ('rollup', 'rollup_internal');
CREATE EXTENSION pg_rollup;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname IN ('rollup', 'rollup_internal');
-- Every object of the public API has a description (psql's \df+, \do+, \dC+, \dn+): all but the
-- internal helpers (schema rollup_internal), type and aggregate support functions, array and row types.
SELECT pg_describe_object(d.classid, d.objid, 0) AS undescribed
FROM pg_depend d
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollup')
  AND d.deptype = 'e'
  AND d.classid IN ('pg_proc'::regclass, 'pg_type'::regclass, 'pg_class'::regclass, 'pg_operator'::regclass,
                    'pg_cast'::regclass, 'pg_opclass'::regclass, 'pg_namespace'::regclass)
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL
  AND coalesce(p.pronamespace, t.typnamespace, c.relnamespace, 0) <> 'rollup_internal'::regnamespace
  AND coalesce(p.proname, '') !~ '_(in|out|recv|send|typmod_in|typmod_out|trans[0-9]*|combine|serialize|deserialize|pack|lt|le|gt|ge|cmp|hash|hash_extended)$'
  AND coalesce(p.proname, '') <> 'hll_union_internal'
  AND coalesce(t.typcategory, '') <> 'A'
  -- (row types: of the catalog's tables and views, which PostgreSQL 18 lists as members)
  AND coalesce(t.typtype, '') <> 'c'
ORDER BY 1;
-- The helpers are out of the API's schema, and only the catalog's owner may run its writer.
SELECT count(*) AS helpers_in_rollup FROM pg_proc WHERE pronamespace = 'rollup'::regnamespace AND proname LIKE '\_%';
SELECT count(*) > 60 AS helpers_in_rollup_internal FROM pg_proc WHERE pronamespace = 'rollup_internal'::regnamespace;
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
FROM pg_proc p WHERE p.pronamespace = 'rollup_internal'::regnamespace
  AND p.proname IN ('catalog_write', 'check_acts_for', 'write_catalog', 'as_owner', 'get')
ORDER BY 1;
SELECT count(*) > 80 AS described_objects FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollup')
  AND d.deptype = 'e' AND obj_description(d.objid, d.classid::regclass::name) IS NOT NULL;
