-- The in-place move (pg_rollup/sql/migrate/in-place.sql) of a database that has both
-- postgresql-hll and postgresql-topn in public, used the way their users use them: jsonb maps of
-- postgresql-topn in a rollup table, written with topn_add_agg and topn_add, read with topn(),
-- topn_union_agg and +; views, a function returning SETOF topn_record, SQL functions whose
-- text calls them. After the move the maps keep their bytes, and every view and function
-- answers what it answered before.
-- requires: hll, topn
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\set script `cat ../pg_rollup/sql/migrate/in-place.sql`
\i helpers.sql
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE IF EXISTS pg_rollup_migrate');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE pg_rollup_migrate');
SELECT dblink_connect('m', pg_temp.conninfo('pg_rollup_migrate'));
SELECT dblink_exec('m', $s$
    CREATE ROLE mig_topn_owner;
    GRANT CREATE ON SCHEMA public TO mig_topn_owner;
    CREATE EXTENSION hll;
    CREATE EXTENSION topn;
    SET ROLE mig_topn_owner;
    CREATE TABLE ev (id int, day date, q text, u int);
    INSERT INTO ev SELECT i, date '2026-11-01' + i % 3, 'q' || (i * i) % 37 % (1 + i % 11), i % 97 FROM generate_series(1, 3000) i;
    CREATE TABLE daily (day date PRIMARY KEY, top jsonb, users hll);
    INSERT INTO daily SELECT day, topn_add_agg(q), hll_add_agg(hll_hash_integer(u)) FROM ev GROUP BY day;
    UPDATE daily SET top = topn_add(top, 'late') WHERE day = '2026-11-02';
    CREATE VIEW top3 AS SELECT (topn(topn_union_agg(top), 3)).* FROM daily;
    CREATE VIEW by_day AS SELECT day, topn_add_agg(q) AS top FROM ev GROUP BY day;
    CREATE VIEW first_two AS SELECT a.top + b.top AS top FROM daily a, daily b WHERE a.day = '2026-11-01' AND b.day = '2026-11-02';
    CREATE FUNCTION top_of(n int) RETURNS SETOF topn_record LANGUAGE sql STABLE AS $$ SELECT (topn(topn_union_agg(top), n)).* FROM daily $$;
    CREATE FUNCTION all_days() RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT topn_union_agg(top) FROM daily $$;
    CREATE FUNCTION with_item(j jsonb, item text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$ SELECT topn_union(topn_add(j, item), '{}') $$;
    RESET ROLE;
    CREATE TABLE before AS
    SELECT 'top3' AS what, (SELECT jsonb_agg(t ORDER BY frequency DESC, item) FROM top3 t) AS answer
    UNION ALL SELECT 'by_day', (SELECT jsonb_object_agg(day, top) FROM by_day)
    UNION ALL SELECT 'first_two', (SELECT top FROM first_two)
    UNION ALL SELECT 'top_of', (SELECT jsonb_agg(t ORDER BY frequency DESC, item) FROM top_of(4) t)
    UNION ALL SELECT 'all_days', all_days()
    UNION ALL SELECT 'with_item', with_item(NULL, 'x')
    UNION ALL SELECT 'maps', (SELECT jsonb_object_agg(day, top::text) FROM daily)
    UNION ALL SELECT 'users', (SELECT jsonb_object_agg(day, users::text) FROM daily);
$s$);
SELECT dblink_exec('m', :'script');
-- Every answer is what it was (the maps never dropped an item: the counts are exact), the maps
-- kept their bytes, and the views' aggregates are pg_rollup's topn now.
SELECT * FROM dblink('m', $$
    SELECT b.what, a.answer = b.answer AS same
    FROM before b JOIN (
        SELECT 'top3' AS what, (SELECT jsonb_agg(t ORDER BY frequency DESC, item) FROM top3 t) AS answer
        UNION ALL SELECT 'by_day', (SELECT jsonb_object_agg(day, top::jsonb) FROM by_day)
        UNION ALL SELECT 'first_two', (SELECT top FROM first_two)
        UNION ALL SELECT 'top_of', (SELECT jsonb_agg(t ORDER BY frequency DESC, item) FROM top_of(4) t)
        UNION ALL SELECT 'all_days', all_days()
        UNION ALL SELECT 'with_item', with_item(NULL, 'x')
        UNION ALL SELECT 'maps', (SELECT jsonb_object_agg(day, top::text) FROM daily)
        UNION ALL SELECT 'users', (SELECT jsonb_object_agg(day, users::text) FROM daily)) a ON a.what = b.what
    ORDER BY 1
$$) AS r(what text, same boolean);
SELECT * FROM dblink('m', $$
    SELECT (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('hll', 'topn', 'pg_rollup')),
           (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'by_day'::regclass AND attname = 'top'),
           (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'top3'::regclass),
           (SELECT proowner::regrole::text FROM pg_proc WHERE proname = 'top_of')
$$) AS r(extensions text, by_day_top text, view_owner text, function_owner text);
-- Writing goes on as with postgresql-topn: a sketch into a jsonb column is stored as its map, and
-- the counts stay exact against the raw rows.
SELECT * FROM dblink('m', $$
    SET ROLE mig_topn_owner;
    INSERT INTO ev SELECT i, date '2026-11-04', 'q' || i % 5, i FROM generate_series(1, 500) i;
    INSERT INTO daily SELECT day, topn_add_agg(q), hll_add_agg(hll_hash_integer(u)) FROM ev WHERE day = '2026-11-04' GROUP BY day;
    SELECT pg_typeof(top)::text, (SELECT bool_and(t.frequency = (SELECT count(*) FROM ev WHERE day = '2026-11-04' AND q = t.item))
                                  FROM topn(top, 10) t)
    FROM daily WHERE day = '2026-11-04'
$$) AS r(stored_as text, exact boolean);
SELECT dblink_exec('m', 'RESET ROLE');
SELECT dblink_disconnect('m');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE pg_rollup_migrate');

-- postgresql-hll and postgresql-topn in different schemas: refused, nothing changed.
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE pg_rollup_migrate');
SELECT dblink_connect('m', pg_temp.conninfo('pg_rollup_migrate'));
SELECT dblink_exec('m', 'CREATE EXTENSION hll; CREATE SCHEMA t; CREATE EXTENSION topn SCHEMA t');
\set VERBOSITY terse
SELECT dblink_exec('m', :'script');
\set VERBOSITY default
SELECT dblink_exec('m', 'ROLLBACK');
SELECT * FROM dblink('m', $$SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('hll', 'topn', 'pg_rollup')$$) AS r(extensions text);
SELECT dblink_disconnect('m');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE pg_rollup_migrate');
DROP ROLE mig_topn_owner;
