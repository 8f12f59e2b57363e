-- The extension is created by pg_regress (--load-extension=pg_rollup).
SELECT extname, extrelocatable FROM pg_extension WHERE extname = 'pg_rollup';
SELECT rollup.version() = (SELECT extversion FROM pg_extension WHERE extname = 'pg_rollup') AS version_matches;
-- The library can be dropped and created again in the same session.
DROP EXTENSION pg_rollup;
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname = 'rollup';
CREATE EXTENSION pg_rollup;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'rollup';
-- Every object of the public API has a description (psql's \df+): all but the rollup schema's
-- internal helpers (_name), type and aggregate support functions, array and row types.
SELECT pg_describe_object(d.classid, d.objid, 0) AS undescribed
FROM pg_depend d
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollup')
  AND d.deptype = 'e'
  AND d.classid IN ('pg_proc'::regclass, 'pg_type'::regclass, 'pg_class'::regclass)
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL
  AND NOT (coalesce(p.pronamespace, t.typnamespace, c.relnamespace) = 'rollup'::regnamespace
           AND coalesce(p.proname, t.typname, c.relname) LIKE '\_%')
  AND coalesce(p.proname, '') !~ '_(in|out|recv|send|typmod_in|typmod_out|trans[0-9]*|combine|serialize|deserialize|pack|eq|ne|lt|le|gt|ge|cmp|hash|hash_extended)$'
  AND coalesce(p.proname, '') <> 'hll_union_internal'
  AND coalesce(t.typcategory, '') <> 'A'
  -- (row types: of the catalog's tables and views, which PostgreSQL 18 lists as members, and
  -- rollup.fragment, internal)
  AND coalesce(t.typtype, '') <> 'c'
ORDER BY 1;
SELECT count(*) > 80 AS described_objects FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollup')
  AND d.deptype = 'e' AND obj_description(d.objid, d.classid::regclass::name) IS NOT NULL;
