-- The in-place move from postgresql-hll (pg_rollup/sql/migrate/in-place.sql) on a database
-- whose hll objects belong to a role that is not a superuser, with privileges granted to another
-- role and comments: owners, privileges and comments are kept, the bytes too. And a database
-- holding what the script cannot move: refused, nothing changed.
-- requires: hll
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\set script `cat ../pg_rollup/sql/migrate/in-place.sql`
\i helpers.sql
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE IF EXISTS pg_rollup_migrate');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE pg_rollup_migrate');
SELECT dblink_connect('m', pg_temp.conninfo('pg_rollup_migrate'));
SELECT dblink_exec('m', $s$
    CREATE ROLE mig_owner; CREATE ROLE mig_reader;
    GRANT CREATE ON SCHEMA public TO mig_owner;
    CREATE EXTENSION hll;
    SET ROLE mig_owner;
    CREATE TABLE sk (id int PRIMARY KEY, h hll(11, 4), v hll_hashval);
    INSERT INTO sk SELECT g, hll_add_agg(hll_hash_integer(i), 11, 4), hll_hash_integer(g)
    FROM generate_series(1, 20) g, generate_series(1, g * 50) i GROUP BY g;
    CREATE VIEW sk_sizes AS SELECT id, #h AS size FROM sk;
    COMMENT ON VIEW sk_sizes IS 'sizes';
    GRANT SELECT ON sk, sk_sizes TO mig_reader;
    CREATE FUNCTION sk_union() RETURNS hll LANGUAGE sql STABLE AS $$ SELECT hll_union_agg(h) FROM sk $$;
    REVOKE ALL ON FUNCTION sk_union() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION sk_union() TO mig_reader;
    RESET ROLE;
    CREATE TABLE before AS SELECT id, h::text AS h, v::text AS v FROM sk;
$s$);
SELECT dblink_exec('m', :'script');
SELECT * FROM dblink('m', $$
    SELECT (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('hll', 'pg_rollup')),
           (SELECT count(*) FROM before b JOIN sk s ON s.id = b.id AND s.h::text = b.h AND s.v::text = b.v),
           (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'sk'::regclass AND attname = 'h'),
           (SELECT relowner::regrole::text || ' ' || array_to_string(relacl, ',') FROM pg_class WHERE oid = 'sk_sizes'::regclass),
           obj_description('sk_sizes'::regclass, 'pg_class'),
           (SELECT proowner::regrole::text || ' ' || array_to_string(proacl, ',') FROM pg_proc WHERE proname = 'sk_union')
$$) AS r(extensions text, same_rows bigint, h_type text, view_owner_acl text, view_comment text, function_owner_acl text);
-- The reader reads through the view and the function, on pg_rollup.
SELECT * FROM dblink('m', $$
    SET ROLE mig_reader;
    SELECT (SELECT count(*) FROM sk_sizes WHERE size > 0), hll_cardinality(sk_union()) > 900
$$) AS r(sizes bigint, union_counts boolean);
SELECT dblink_exec('m', 'RESET ROLE');
SELECT dblink_disconnect('m');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE pg_rollup_migrate');

-- A domain over hll cannot be moved: refused with its name, and the database keeps postgresql-hll.
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE pg_rollup_migrate');
SELECT dblink_connect('m', pg_temp.conninfo('pg_rollup_migrate'));
SELECT dblink_exec('m', $s$
    CREATE EXTENSION hll;
    CREATE DOMAIN small_hll AS hll(10, 4);
    CREATE TABLE t (h hll);
    INSERT INTO t SELECT hll_add_agg(hll_hash_integer(i)) FROM generate_series(1, 100) i;
$s$);
\set VERBOSITY terse
SELECT dblink_exec('m', :'script');
\set VERBOSITY default
SELECT dblink_exec('m', 'ROLLBACK');
SELECT * FROM dblink('m', $$
    SELECT (SELECT string_agg(extname, ',') FROM pg_extension WHERE extname IN ('hll', 'pg_rollup')),
           (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'h')
$$) AS r(extensions text, h_type text);
SELECT dblink_disconnect('m');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE pg_rollup_migrate');
DROP ROLE mig_owner, mig_reader;
