-- Search sessions on Citus: requests distributed by app, written through every node (each
-- request through a node picked by its hash, as a load balancer would), a second of traffic at
-- a time with a run on the coordinator after each; the stage's target and pending table are
-- colocated with the requests. The searches equal an offline walk of the same rule over all
-- the requests, and no search is written twice.
SET citus.next_shard_id TO 870000;
SET timezone = 'UTC';
CREATE FUNCTION search_node_conn(name text, port_offset int) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s port=%s host=127.0.0.1', current_database(), current_setting('port')::int + port_offset))
$$;
-- The rule in SQL (see tests/sql/search_sessions.sql) and the offline walk.
CREATE FUNCTION continues_sql(a text, b text) RETURNS boolean LANGUAGE sql AS $$
    SELECT a <> '' AND b <> '' AND (
        SELECT common = least(length(a), length(b)) OR (common >= 1 AND common + 2 >= least(length(a), length(b)))
        FROM (SELECT coalesce(max(i), 0) AS common FROM generate_series(1, least(length(a), length(b))) i
              WHERE left(a, i) = left(b, i)) p)
$$;
CREATE FUNCTION offline(gap interval)
RETURNS TABLE (app text, usr text, q text, first_at timestamptz, last_at timestamptz, keystrokes int)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    open boolean := false;
BEGIN
    FOR r IN SELECT k.app, k.usr, coalesce(k.q, '') AS q, k.at FROM kreq k WHERE k.usr IS NOT NULL ORDER BY k.app, k.usr, k.at, k.id LOOP
        IF open AND r.app = app AND r.usr = usr AND r.at - last_at <= gap AND continues_sql(q, r.q) THEN
            q := r.q; last_at := r.at; keystrokes := keystrokes + 1;
        ELSE
            IF open AND q <> '' THEN
                RETURN NEXT;
            END IF;
            open := true;
            app := r.app; usr := r.usr; q := r.q; first_at := r.at; last_at := r.at; keystrokes := 1;
        END IF;
    END LOOP;
    IF open AND q <> '' THEN
        RETURN NEXT;
    END IF;
END
$$;

CREATE TABLE kreq (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), app text NOT NULL, usr text, q text, at timestamptz);
SELECT create_distributed_table('kreq', 'app');
CREATE INDEX ON kreq (id);
SELECT name FROM rollup.create_search_sessions('ksearch', 'kreq', 'ksearches', ARRAY['app', 'usr'], 'q', 'at');
SELECT logicalrelid::text, colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'kreq'::regclass) AS colocated
FROM pg_dist_partition WHERE logicalrelid::text LIKE 'ksearches%' ORDER BY 1;
-- Not distributed by a user column: refused.
CREATE TABLE kreq2 (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), app text NOT NULL, usr text, q text, at timestamptz);
SELECT create_distributed_table('kreq2', 'app');
SELECT rollup.create_search_sessions('ksearch2', 'kreq2', 'ksearches2', ARRAY['usr'], 'q', 'at');

-- Traffic: 3 apps, 36 users, each typing a search of a word every 12 s for a minute, a
-- keystroke every 200-500 ms, some with a pause of 4 s inside the word; every request goes
-- through node (hash % 3).
CREATE TABLE planned AS
SELECT 'app' || (u % 3) AS app, 'user' || u AS usr, left(w, i) AS q,
       '2026-11-02 08:00:00+00'::timestamptz + j * interval '12 seconds' + u * interval '150 milliseconds'
           + i * (200 + abs(hashint4(u * 100 + j)) % 300) * interval '1 millisecond'
           + CASE WHEN abs(hashint4(u + j)) % 6 = 0 AND i > length(w) / 2 THEN interval '4 seconds' ELSE interval '0' END AS at,
       abs(hashint4(u * 1000 + j * 10 + i)) % 3 AS node
FROM generate_series(1, 36) u, generate_series(0, 4) j,
     LATERAL (SELECT (ARRAY['algolia', 'apple', 'banana split', 'postgres', 'rollup', 'search'])[1 + abs(hashint4(u * 7 + j)) % 6] AS w) x,
     generate_series(1, length(w)) i;
SELECT search_node_conn('n0', 0), search_node_conn('n1', 1), search_node_conn('n2', 2);
DO $$
DECLARE
    second timestamptz;
    n int;
BEGIN
    FOR second IN SELECT DISTINCT date_trunc('second', at) FROM planned ORDER BY 1 LOOP
        FOR n IN SELECT DISTINCT node FROM planned WHERE date_trunc('second', at) = second LOOP
            PERFORM dblink_exec('n' || n, format(
                'INSERT INTO kreq (app, usr, q, at) SELECT app, usr, q, at FROM (VALUES %s) v(app, usr, q, at) ORDER BY at',
                (SELECT string_agg(format('(%L, %L, %L, %L::timestamptz)', app, usr, q, at), ', ')
                 FROM planned WHERE node = n AND date_trunc('second', at) = second)));
        END LOOP;
        PERFORM rollup.run('ksearch');
    END LOOP;
END $$;
SELECT dblink_disconnect(c) FROM unnest(ARRAY['n0', 'n1', 'n2']) c;
-- A request without a user, 10 s after all the others, is part of no search and ends none: the
-- searches still open stay open.
SELECT count(*) AS open_before FROM ksearches_pending;
INSERT INTO kreq (app, usr, q, at) SELECT 'app0', NULL, 'anyone', max(at) + interval '10 seconds' FROM planned;
SELECT rollup.run('ksearch') AS requests, (SELECT count(*) FROM ksearches_pending) AS open_after;
-- Requests through every node; then a run that finds nothing ends the searches still open.
SELECT id >> 48 AS node_group, count(*) > 0 AS requests FROM kreq GROUP BY 1 ORDER BY 1;
SELECT rollup.run('ksearch') AS last_run;
SELECT count(*) AS still_open FROM ksearches_pending;
SELECT (SELECT count(*) FROM kreq WHERE usr IS NOT NULL) = (SELECT count(*) FROM planned) AS all_requests,
       (SELECT count(*) FROM ksearches) = (SELECT count(*) FROM offline('3 seconds')) AS same_count,
       (SELECT count(*) FROM (SELECT app, usr, q, first_at, last_at, keystrokes FROM ksearches
                              EXCEPT ALL SELECT * FROM offline('3 seconds')) x) AS extra,
       (SELECT count(*) FROM (SELECT * FROM offline('3 seconds')
                              EXCEPT ALL SELECT app, usr, q, first_at, last_at, keystrokes FROM ksearches) x) AS missing;
SELECT rollup.drop_rollup('ksearch', drop_target => true);
