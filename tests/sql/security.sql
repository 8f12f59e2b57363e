-- The rollup catalog is a trust boundary (docs/security.md): no role can change another role's
-- rules, rollups or progress, nor make another role's rollup (or a superuser's catch-up) run SQL
-- of its own; a run executes its owner's SQL with its owner's privileges, whoever calls it.
\i helpers.sql
CREATE ROLE sec_victim;
CREATE ROLE sec_mallory;
CREATE ROLE sec_member IN ROLE sec_victim;
CREATE SCHEMA sec;
GRANT USAGE, CREATE ON SCHEMA sec TO sec_victim, sec_mallory;
-- A function only the victim (and superusers) may execute.
CREATE FUNCTION sec.one() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT 1';
REVOKE EXECUTE ON FUNCTION sec.one() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sec.one() TO sec_victim;

-- The attacker's function: it says who ran it.
SET ROLE sec_mallory;
CREATE FUNCTION sec.f() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'sec.f ran as %', current_user; RETURN 1; END $$;
CREATE TABLE sec.m_events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz NOT NULL, platform text);
CREATE VIEW sec.m_view AS SELECT * FROM sec.m_events;
RESET ROLE;

-- The victim's events, rule, ingest view and rollups; the measure ran_as records who ran it.
SET ROLE sec_victim;
CREATE TABLE sec.events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
                         platform text NOT NULL, payload jsonb NOT NULL);
CREATE FUNCTION sec.who() RETURNS text LANGUAGE sql STABLE AS 'SELECT current_user::text';
SELECT rollup.add_uniqueness_rule('sec.events', 'slack');
SELECT rollup.create_ingest_view('sec.events');
SELECT name, owner FROM rollup.create_rollup('sec_hourly', 'sec.events', 'sec.hourly', 'at', '1 hour', ARRAY['platform'],
    ARRAY['count(*) AS events', 'max(sec.who()) AS ran_as', 'sum(sec.one()) AS ones']);
SELECT name, owner FROM rollup.create_rollup('sec_daily', 'sec.hourly', 'sec.daily', bucket_width => '1 day',
    dimensions => ARRAY['platform'], measures => ARRAY['sum(events) AS events', 'max(ran_as) AS ran_as']);
INSERT INTO sec.events (at, platform, payload)
SELECT '2026-06-01'::timestamptz + i * interval '7 minutes', 'slack', jsonb_build_object('event_id', 'E' || i) FROM generate_series(1, 300) i;
RESET ROLE;

-- The attacker writes each catalog table directly: refused, whatever the row.
SET ROLE sec_mallory;
SELECT pg_temp.error_of($$INSERT INTO rollup.rollups (name, source_table, target_table, mode, parent, time_column, bucket_width,
        bucket_column, bucket_sql, dimensions, dimension_names, measures, measure_names, merge_rules, owner)
    VALUES ('forged', 'sec.hourly', 'sec.m_events', 'level', 'sec_hourly', 'bucket', '1 day', 'bucket', 's.bucket',
            '{}', '{}', ARRAY['sum(sec.f()) AS x'], ARRAY['x'], ARRAY['add'], 'sec_victim')$$) AS forged_level;
SELECT pg_temp.error_of($$INSERT INTO rollup.rollups (name, source_table, target_table, mode, time_column, bucket_width,
        bucket_column, bucket_sql, dimensions, dimension_names, measures, measure_names, merge_rules, owner)
    VALUES ('forged_owner', 'sec.m_events', '999999', 'flush', 'at', '1 day', 'bucket', 's.at',
            '{}', '{}', ARRAY['sum(sec.f()) AS x'], ARRAY['x'], ARRAY['add'], 'sec_victim')$$) AS forged_owner;
SELECT pg_temp.error_of($$UPDATE rollup.rollups SET measures = ARRAY['sum(sec.f()) AS events']$$) AS update_rollups;
SELECT pg_temp.error_of($$DELETE FROM rollup.rollups$$) AS delete_rollups;
SELECT pg_temp.error_of($$INSERT INTO rollup.progress (name, watermark) VALUES ('sec_hourly', 0)$$) AS insert_progress;
SELECT pg_temp.error_of($$UPDATE rollup.progress SET watermark = 1000000$$) AS update_progress;
SELECT pg_temp.error_of($$DELETE FROM rollup.progress$$) AS delete_progress;
SELECT pg_temp.error_of($$INSERT INTO rollup.uniqueness_rules (events_table, platform_column, platform, keys, index_name)
    VALUES ('sec.events', 'platform', 'web', ARRAY['sec.f()'], 'x')$$) AS insert_rule;
SELECT pg_temp.error_of($$UPDATE rollup.uniqueness_rules SET keys = ARRAY['sec.f()']$$) AS update_rules;
SELECT pg_temp.error_of($$DELETE FROM rollup.uniqueness_rules$$) AS delete_rules;
SELECT pg_temp.error_of($$INSERT INTO rollup.ingest_views (view, events_table) VALUES ('sec.m_view', 'sec.events')$$) AS insert_view;
SELECT pg_temp.error_of($$INSERT INTO rollup.ingest_views (view, events_table) VALUES ('999999', '999999')$$) AS insert_dropped;
SELECT pg_temp.error_of($$UPDATE rollup.ingest_views SET rejects_table = 'sec.m_events'$$) AS update_views;
SELECT pg_temp.error_of($$DELETE FROM rollup.ingest_views$$) AS delete_views;
-- ... nor through the gate that writes the catalog, with the same rows.
SELECT pg_temp.error_of(format('SELECT rollup_internal.write_catalog(%L, %L)', 'add_rollup', jsonb_build_object(
    'name', 'forged', 'source_table', 'sec.hourly'::regclass::oid, 'target_table', 'sec.m_events'::regclass::oid,
    'mode', 'level', 'parent', 'sec_hourly', 'time_column', 'bucket', 'bucket_width', '1 day', 'bucket_column', 'bucket',
    'dimensions', '{}'::text[], 'measures', ARRAY['sum(sec.f()) AS x'], 'owner', 'sec_victim'::regrole::oid))) AS gate_forged_level;
SELECT pg_temp.error_of(format('SELECT rollup_internal.write_catalog(%L, %L)', 'add_rollup', jsonb_build_object(
    'name', 'forged', 'source_table', 'sec.hourly'::regclass::oid, 'target_table', 'sec.m_events'::regclass::oid,
    'mode', 'level', 'parent', 'sec_hourly', 'time_column', 'bucket', 'bucket_width', '1 day', 'bucket_column', 'bucket',
    'dimensions', '{}'::text[], 'measures', ARRAY['sum(sec.f()) AS x'], 'owner', 'sec_mallory'::regrole::oid))) AS gate_own_level;
SELECT pg_temp.error_of($$SELECT rollup_internal.write_catalog('run_done', '{"name": "sec_hourly", "rows": 0, "watermark": 1000000}')$$) AS gate_progress;
SELECT pg_temp.error_of($$SELECT rollup_internal.write_catalog('drop_rollup', '{"name": "sec_hourly"}')$$) AS gate_drop;
SELECT pg_temp.error_of(format('SELECT rollup_internal.write_catalog(%L, %L)', 'drop_rule',
    jsonb_build_object('events_table', 'sec.events'::regclass::oid, 'platform', 'slack'))) AS gate_drop_rule;
SELECT pg_temp.error_of(format('SELECT rollup_internal.write_catalog(%L, %L)', 'add_ingest_view',
    jsonb_build_object('view', 'sec.m_view'::regclass::oid, 'events_table', 'sec.events'::regclass::oid))) AS gate_ingest_view;
SELECT pg_temp.error_of($$SELECT rollup_internal.write_catalog('no such change', '{}')$$) AS gate_unknown;
SELECT pg_temp.error_of($$SELECT rollup_internal.catalog_write('drop_rollup', 10, '{"name": "sec_hourly"}')$$) AS catalog_writer;
-- ... nor run, reset, schedule, change or drop them, with the API or with its inner functions.
SELECT pg_temp.error_of($$SELECT rollup.run('sec_hourly')$$) AS run;
SELECT pg_temp.error_of($$SELECT rollup.reset('sec_hourly')$$) AS reset;
SELECT pg_temp.error_of($$SELECT rollup.set_retention('sec_hourly', target_keep => '1 day')$$) AS set_retention;
SELECT pg_temp.error_of($$SELECT rollup.drop_rollup('sec_daily')$$) AS drop_rollup;
SELECT pg_temp.error_of($$SELECT rollup_internal.as_owner('sec_hourly', 'run')$$) AS as_owner;
SELECT pg_temp.error_of($$SELECT rollup_internal.owner_action('sec_hourly', 'run', '0')$$) AS owner_action;
SELECT (SELECT count(*) FROM rollup.rollups) AS rollups, (SELECT count(*) FROM rollup.progress) AS progress,
       (SELECT count(*) FROM rollup.uniqueness_rules) AS rules, (SELECT count(*) FROM rollup.ingest_views) AS ingest_views;
-- Its own tables' rules it manages; the sql_drop trigger removes them with the table.
SELECT rollup.add_uniqueness_rule('sec.m_events', 'web', keys => ARRAY['id']) IS NOT NULL AS own_rule;
SELECT events_table, platform FROM rollup.uniqueness_rules;
DROP TABLE sec.m_events CASCADE;
SELECT count(*) AS own_rules_left FROM rollup.uniqueness_rules;
RESET ROLE;
SELECT events_table, platform FROM rollup.uniqueness_rules WHERE events_table::text LIKE 'sec.%' ORDER BY 1, 2;
SELECT name, owner, measures FROM rollup.rollups WHERE name LIKE 'sec%' ORDER BY name;

-- The victim's runs keep working, exactly, and run as the victim.
SET ROLE sec_victim;
SELECT rollup.run('sec_hourly') AS rows_rolled_up;
RESET ROLE;
SELECT (SELECT sum(events) FROM sec.hourly) AS hourly_events, (SELECT sum(events) FROM sec.daily) AS daily_events,
       (SELECT count(*) FROM sec.events) AS raw_events,
       (SELECT string_agg(DISTINCT ran_as, ', ') FROM sec.hourly) AS hourly_ran_as,
       (SELECT string_agg(DISTINCT ran_as, ', ') FROM sec.daily) AS daily_ran_as;

-- A superuser's catch_up, run and reset of the victim's rollup run as the victim.
SET ROLE sec_victim;
INSERT INTO sec.events (at, platform, payload)
SELECT '2026-06-03'::timestamptz + i * interval '7 minutes', 'web', '{}' FROM generate_series(1, 100) i;
RESET ROLE;
CALL rollup.catch_up('sec_hourly');
SELECT platform, sum(events) AS events, string_agg(DISTINCT ran_as, ', ') AS ran_as FROM sec.hourly GROUP BY 1 ORDER BY 1;
SELECT rollup.reset('sec_hourly') AS reset_rows, (SELECT string_agg(DISTINCT ran_as, ', ') FROM sec.daily) AS daily_ran_as;
-- ... and with the victim's privileges: without EXECUTE on sec.one() its run fails, for the
-- superuser's catch_up too (recorded in rollup.status), and works again once it is granted back.
REVOKE EXECUTE ON FUNCTION sec.one() FROM sec_victim;
SET ROLE sec_victim;
INSERT INTO sec.events (at, platform, payload) VALUES ('2026-06-05', 'web', '{}');
RESET ROLE;
CALL rollup.catch_up('sec_hourly');
SELECT pg_temp.error_of($$SELECT rollup.run('sec_hourly')$$) AS superuser_run;
SELECT pg_temp.error_of($$SELECT * FROM rollup.verify('sec_hourly')$$) AS superuser_verify;
SELECT name, last_error ~ '^42501: permission denied for function one' AS error_recorded FROM rollup.status WHERE name = 'sec_hourly';
GRANT EXECUTE ON FUNCTION sec.one() TO sec_victim;
CALL rollup.catch_up('sec_hourly');
SELECT (SELECT sum(events) FROM sec.hourly) AS hourly_events, (SELECT count(*) FROM sec.events) AS raw_events,
       (SELECT last_error FROM rollup.status WHERE name = 'sec_hourly') AS last_error;

-- A member of the owner acts for it; the run is still the owner's.
SET ROLE sec_member;
INSERT INTO sec.events (at, platform, payload) VALUES ('2026-06-06', 'web', '{}');
SELECT rollup.run('sec_hourly') AS member_run;
SELECT ran_as FROM sec.hourly WHERE bucket = '2026-06-06';
RESET ROLE;

-- A level or a query view that a superuser makes in the victim's chain belongs to the victim.
SELECT name, owner FROM rollup.create_rollup('sec_weekly', 'sec.daily', 'sec.weekly', bucket_width => '7 days',
    dimensions => ARRAY['platform'], measures => ARRAY['sum(events) AS events']);
SELECT rollup.create_view('sec_daily', 'sec.dashboard', fine_window => '1 day') AS view;
SELECT relname::text AS object, relowner::regrole AS owner FROM pg_class WHERE oid IN ('sec.weekly'::regclass, 'sec.dashboard'::regclass)
UNION ALL
SELECT oid::regprocedure::text, proowner::regrole FROM pg_proc WHERE oid = 'sec.dashboard(timestamptz, timestamptz)'::regprocedure
ORDER BY 1;
SELECT (SELECT sum(events) FROM sec.weekly) AS weekly_events, (SELECT sum(events) FROM sec.dashboard) AS dashboard_events;
-- A role granted the query view alone reads it (the view reads the rollups' tables as their
-- owner, and where the finer rows start too); a role without it cannot learn that through
-- rollup.view_boundary.
CREATE ROLE sec_reader;
GRANT USAGE ON SCHEMA sec TO sec_reader;
GRANT SELECT ON sec.dashboard TO sec_reader;
SET ROLE sec_reader;
SELECT sum(events) AS reader_dashboard_events FROM sec.dashboard;
SELECT pg_temp.error_of($$SELECT * FROM sec.hourly$$) AS reader_hourly;
SET ROLE sec_mallory;
SELECT pg_temp.error_of($$SELECT rollup.view_boundary('sec.hourly', 'bucket', '1 day', NULL, 'UTC', '2000-01-03')$$) AS attacker_boundary;
-- (a view of its own over the table does not make it a reader: its owner may not read the table)
CREATE VIEW sec.m_boundary AS SELECT rollup.view_boundary('sec.hourly', 'bucket', '1 day', NULL, 'UTC', '2000-01-03') AS b FROM sec.hourly LIMIT 1;
SELECT pg_temp.error_of($$SELECT rollup.view_boundary('sec.hourly', 'bucket', '1 day', NULL, 'UTC', '2000-01-03')$$) AS attacker_view_boundary;
DROP VIEW sec.m_boundary;
RESET ROLE;
REVOKE ALL ON sec.dashboard FROM sec_reader;
REVOKE USAGE ON SCHEMA sec FROM sec_reader;
DROP ROLE sec_reader;
-- The attacker cannot add a level to it either.
SET ROLE sec_mallory;
SELECT pg_temp.error_of($$SELECT rollup.create_rollup('m_level', 'sec.daily', 'sec.m_level', bucket_width => '7 days',
    measures => ARRAY['sum(sec.f()) AS x'])$$) AS attacker_level;
RESET ROLE;

-- Only the sql_drop trigger is SECURITY DEFINER; only the catalog's owner may call the catalog writer.
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer,
       has_function_privilege('sec_mallory', p.oid, 'EXECUTE') AS public_may_execute
FROM pg_proc p WHERE p.oid IN ('rollup_internal.on_sql_drop()'::regprocedure, 'rollup_internal.catalog_write(text, oid, jsonb)'::regprocedure,
                               'rollup_internal.write_catalog(text, jsonb)'::regprocedure, 'rollup_internal.as_owner(text, text, jsonb)'::regprocedure)
ORDER BY p.proname;
-- Every catalog table: SELECT only for PUBLIC; still dumped by pg_dump.
SELECT c.oid::regclass AS catalog, has_table_privilege('sec_mallory', c.oid, 'SELECT') AS may_select,
       has_table_privilege('sec_mallory', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS may_write,
       c.oid = ANY ((SELECT extconfig FROM pg_extension WHERE extname = 'pg_rollup')::oid[]) AS dumped
FROM pg_class c WHERE c.relnamespace = 'rollup'::regnamespace AND c.relkind = 'r' ORDER BY c.relname;

-- Two members of a table's owning role each roll it up: the source retention of one waits for
-- the other's rollup, which it sees but may not run.
CREATE ROLE sec_team;
CREATE ROLE sec_a IN ROLE sec_team;
CREATE ROLE sec_b IN ROLE sec_team;
GRANT USAGE, CREATE ON SCHEMA sec TO sec_team;
SET ROLE sec_team;
CREATE TABLE sec.shared (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz NOT NULL);
INSERT INTO sec.shared (at) SELECT '2026-06-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 100) i;
SET ROLE sec_b;
SELECT name, owner FROM rollup.create_rollup('sec_b_daily', 'sec.shared', 'sec.b_daily', 'at', '1 day');
SET ROLE sec_a;
SELECT name, owner FROM rollup.create_rollup('sec_a_daily', 'sec.shared', 'sec.a_daily', 'at', '1 day');
SELECT rollup.run('sec_a_daily') AS a_rolled_up;
SELECT rollup.set_retention('sec_a_daily', source_grace => '0');
CALL rollup.apply_retention('sec_a_daily');
SELECT name FROM rollup.rollups WHERE name LIKE 'sec\__\_daily' ORDER BY 1;
SELECT pg_temp.error_of($$SELECT rollup.run('sec_b_daily')$$) AS a_runs_b;
SET ROLE sec_b;
SELECT rollup.run('sec_b_daily') AS b_rolled_up, (SELECT count(*) FROM sec.shared) AS raw_rows_kept;
SET ROLE sec_a;
CALL rollup.apply_retention('sec_a_daily');
RESET ROLE;
SELECT (SELECT sum(events) FROM sec.a_daily) AS a_events, (SELECT sum(events) FROM sec.b_daily) AS b_events,
       (SELECT count(*) FROM sec.shared) AS raw_rows_left;
SELECT rollup.drop_rollup('sec_a_daily', drop_target => true);
SELECT rollup.drop_rollup('sec_b_daily', drop_target => true);
DROP TABLE sec.shared;
DROP ROLE sec_a, sec_b;
REVOKE USAGE, CREATE ON SCHEMA sec FROM sec_team;
DROP ROLE sec_team;

SELECT rollup.drop_rollup('sec_weekly', drop_target => true);
DROP VIEW sec.dashboard CASCADE;
SELECT rollup.drop_rollup('sec_daily', drop_target => true);
SELECT rollup.drop_rollup('sec_hourly', drop_target => true);
DROP SCHEMA sec CASCADE;
DROP ROLE sec_member;
DROP ROLE sec_victim;
DROP ROLE sec_mallory;
