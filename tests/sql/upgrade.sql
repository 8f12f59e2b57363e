-- ALTER EXTENSION pg_rollup UPDATE from the first release (0.1.0, through 0.2.0, 0.3.0, 0.4.0, 0.5.0, 0.6.0, 0.7.0 and 0.8.0; install scripts kept in
-- pg_rollup/sql/releases): a database created with 0.1.0, with sketches, rules, rollups and
-- progress, is updated; its extension objects then match a fresh install exactly, and the
-- rollups continue where they stopped.
-- requires: pg15 (the releases before 0.6.0 installed on PostgreSQL 15 alone)
CREATE EXTENSION IF NOT EXISTS dblink;
\i helpers.sql
-- What defines each extension object: identity, and its definition (privileges included) where it has one.
CREATE FUNCTION pg_temp.fingerprint_sql() RETURNS text LANGUAGE sql AS $f$ SELECT $q$
    SELECT pg_describe_object(d.classid, d.objid, 0),
           CASE d.classid
               WHEN 'pg_proc'::regclass THEN (
                   SELECT md5(concat_ws('|', p.prosrc, p.probin, p.proconfig::text, p.provolatile, p.proparallel, p.proisstrict,
                                        p.prokind, p.prosecdef, p.proacl::text, pg_get_function_result(p.oid), pg_get_function_arguments(p.oid),
                                        (SELECT concat_ws(',', a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn,
                                                          a.aggtranstype::regtype, a.aggtransspace, a.agginitval)
                                         FROM pg_aggregate a WHERE a.aggfnoid = p.oid)))
                   FROM pg_proc p WHERE p.oid = d.objid)
               WHEN 'pg_class'::regclass THEN (
                   SELECT md5(concat_ws('|', c.relkind, c.relrowsecurity, c.relacl::text,
                                        (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull, ', ' ORDER BY a.attnum)
                                         FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                                        CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
                                        (SELECT string_agg(pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname) FROM pg_constraint k WHERE k.conrelid = c.oid),
                                        (SELECT string_agg(pol.polname || pg_get_expr(pol.polqual, pol.polrelid), ', ' ORDER BY pol.polname) FROM pg_policy pol WHERE pol.polrelid = c.oid)))
                   FROM pg_class c WHERE c.oid = d.objid)
               ELSE '' END
    FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_rollup')
$q$ $f$;

SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE IF EXISTS pg_rollup_upgrade');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE pg_rollup_upgrade');
SELECT dblink_connect('old', pg_temp.conninfo('pg_rollup_upgrade'));
SELECT dblink_exec('old', $$CREATE EXTENSION pg_rollup VERSION '0.1.0'$$);
SELECT * FROM dblink('old', $$SELECT extversion FROM pg_extension WHERE extname = 'pg_rollup'$$) AS r(installed text);
SELECT dblink_exec('old', $s$
    CREATE TABLE ev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, platform text NOT NULL, at timestamptz NOT NULL, payload jsonb NOT NULL);
$s$);
SELECT dblink_exec('old', $s$ DO $d$ BEGIN
    PERFORM rollup.add_uniqueness_rule('ev', 'slack');
    PERFORM rollup.create_rollup('ev_hourly', 'ev', 'ev_hourly', 'at', '1 hour', ARRAY['platform'],
        ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_text(payload->>''user'')) AS users', 'topn_add_agg(payload->>''text'') AS texts']);
    PERFORM rollup.create_rollup('ev_daily', 'ev_hourly', 'ev_daily', bucket_width => '1 day', dimensions => ARRAY['platform'],
        measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users', 'topn_union_agg(texts) AS texts']);
    PERFORM rollup.ingest_json('ev', (SELECT jsonb_agg(jsonb_build_object('platform', 'slack', 'at', '2026-10-01'::timestamptz + i * interval '1 minute',
        'payload', jsonb_build_object('event_id', 'E' || i, 'user', i % 50, 'text', 't' || i % 7))) FROM generate_series(1, 3000) i));
    PERFORM rollup.run('ev_hourly');
END $d$ $s$);
-- 0.2.0 let a member of a rollup's owner add a level of its own, and let any role write the
-- catalog: a role forged a level under another role's rollup, with a measure calling its own
-- function. 0.3.0 gives the member's level to the chain's owner and leaves the forged one out.
SELECT dblink_exec('old', $$ALTER EXTENSION pg_rollup UPDATE TO '0.2.0'$$);
SELECT dblink_exec('old', $s$
    CREATE ROLE upg_team; CREATE ROLE upg_member IN ROLE upg_team; CREATE ROLE upg_mallory;
    GRANT CREATE ON SCHEMA public TO upg_team, upg_mallory;
    SET ROLE upg_team;
    CREATE TABLE team_ev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz NOT NULL);
    INSERT INTO team_ev (at) SELECT '2026-10-01'::timestamptz + i * interval '1 hour' FROM generate_series(1, 100) i;
    SELECT rollup.create_rollup('team_hourly', 'team_ev', 'team_hourly', 'at', '1 hour');
    SET ROLE upg_member;
    SELECT rollup.create_rollup('team_daily', 'team_hourly', 'team_daily', bucket_width => '1 day', measures => ARRAY['sum(events) AS events']);
    SET ROLE upg_mallory;
    CREATE FUNCTION public.upg_f() RETURNS bigint LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''upg_f ran as %'', current_user; END';
    INSERT INTO rollup.rollups (name, source_table, target_table, mode, parent, time_column, bucket_width, bucket_column,
                                bucket_sql, dimensions, dimension_names, measures, measure_names, merge_rules)
    VALUES ('forged', 'team_hourly', '999999', 'level', 'team_hourly', 'bucket', '1 day', 'bucket', 's.bucket',
            '{}', '{}', ARRAY['sum(public.upg_f()) AS x'], ARRAY['x'], ARRAY['add']);
    RESET ROLE;
$s$);
-- 0.3.0 made query views with a boundary in UTC buckets; 0.4.0 keeps them working.
SELECT dblink_exec('old', $$ALTER EXTENSION pg_rollup UPDATE TO '0.3.0'$$);
SELECT * FROM dblink('old', $$SELECT rollup.create_view('ev_daily', 'ev_view')::text$$) AS r(view text);
SELECT dblink_exec('old', 'ALTER EXTENSION pg_rollup UPDATE');
SELECT * FROM dblink('old', $$SELECT extversion FROM pg_extension WHERE extname = 'pg_rollup'$$) AS r(updated text);
SELECT extversion AS fresh FROM pg_extension WHERE extname = 'pg_rollup';

-- The updated extension is the fresh one, object by object.
CREATE TEMP TABLE fresh AS SELECT * FROM dblink(pg_temp.conninfo(current_database()), pg_temp.fingerprint_sql()) AS r(object text, definition text);
CREATE TEMP TABLE updated AS SELECT * FROM dblink('old', pg_temp.fingerprint_sql()) AS r(object text, definition text);
SELECT count(*) > 100 AS many_objects_compared FROM fresh;
SELECT 'only in the fresh install' AS difference, object FROM (SELECT * FROM fresh EXCEPT SELECT * FROM updated) x
UNION ALL
SELECT 'only after the update', object FROM (SELECT * FROM updated EXCEPT SELECT * FROM fresh) y
ORDER BY 1, 2;

-- Data and progress carried over: new rows are rolled up, duplicates still dropped, both levels equal the raw rows.
SELECT * FROM dblink('old', $s$
    SELECT inserted, duplicates FROM rollup.ingest_json('ev', (SELECT jsonb_agg(jsonb_build_object('platform', 'slack', 'at', '2026-10-03'::timestamptz + i * interval '1 minute',
               'payload', jsonb_build_object('event_id', 'E' || i, 'user', i % 50, 'text', 't' || i % 7))) FROM generate_series(2001, 4000) i))
$s$) AS r(inserted bigint, duplicates bigint);
SELECT * FROM dblink('old', $$SELECT rollup.run('ev_hourly')$$) AS r(rolled_up bigint);
SELECT * FROM dblink('old', $s$
    SELECT (SELECT sum(events) FROM ev_hourly) = (SELECT count(*) FROM ev)
       AND (SELECT sum(events) FROM ev_daily) = (SELECT count(*) FROM ev)
       AND (SELECT hll_union_agg(users)::text FROM ev_hourly) = (SELECT hll_add_agg(hll_hash_text(payload->>'user'))::text FROM ev)
$s$) AS r(rollups_equal_raw boolean);
-- The rollups made before time zones are in UTC from the default origin, and derive the SQL they ran.
SELECT * FROM dblink('old', $$SELECT time_zone, bucket_origin::text, bool_and((rollup_internal.derive(r)).bucket_sql = r.bucket_sql), count(*)
                              FROM rollup.rollups r WHERE name <> 'forged' GROUP BY 1, 2$$) AS r(time_zone text, bucket_origin text, same_sql boolean, rollups bigint);
SELECT * FROM dblink('old', $$SELECT (SELECT sum(events) FROM ev_view) = (SELECT count(*) FROM ev)
                                 AND (SELECT sum(events) FROM ev_view('2026-10-01 12:00+00', '2026-10-03 12:00+00'))
                                   = (SELECT count(*) FROM ev WHERE at >= '2026-10-01 12:00+00' AND at < '2026-10-03 12:00+00')$$) AS r(view_equals_raw boolean);
-- The member's level is the team's; the team's runs feed it and never run the forged level.
SELECT * FROM dblink('old', $$SELECT name, owner::text FROM rollup.rollups WHERE name IN ('team_hourly', 'team_daily', 'forged') ORDER BY 1$$)
    AS r(name text, owner text);
SELECT dblink_exec('old', $s$
    SET ROLE upg_team;
    INSERT INTO team_ev (at) SELECT '2026-10-06'::timestamptz + i * interval '1 hour' FROM generate_series(1, 20) i;
    RESET ROLE;
$s$);
SELECT * FROM dblink('old', $$SELECT rollup.run('team_hourly')$$) AS r(rolled_up bigint);
SELECT * FROM dblink('old', $$SELECT (SELECT sum(events) FROM team_hourly), (SELECT sum(events) FROM team_daily), (SELECT count(*) FROM team_ev)$$)
    AS r(hourly bigint, daily bigint, raw bigint);
SELECT dblink_disconnect('old');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE pg_rollup_upgrade');
DROP ROLE upg_member, upg_team, upg_mallory;
