-- Search sessions: instant-search requests collapsed into searches, incrementally and exactly
-- once. Generated traffic (prefix chains, backspaces, mended typos, cleared boxes, pauses longer
-- than the gap inside a word, users of two apps typing at the same time) is written in batches
-- and concurrently while the stage runs, also in small batches that cut searches; the searches
-- it writes are compared with an offline computation of the same rule over all the rows (a
-- walk in PL/pgSQL with the rule in SQL, independent of the stage's code).
\i helpers.sql
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SET TimeZone = 'America/Los_Angeles';

-- The rule, in SQL: one query is a prefix of the other, or they share all but the last two
-- characters of the shorter one (and at least one); an empty query continues nothing.
CREATE FUNCTION pg_temp.continues(a text, b text) RETURNS boolean LANGUAGE sql AS $$
    SELECT a <> '' AND b <> '' AND (
        SELECT common = least(length(a), length(b)) OR (common >= 1 AND common + 2 >= least(length(a), length(b)))
        FROM (SELECT coalesce(max(i), 0) AS common FROM generate_series(1, least(length(a), length(b))) i
              WHERE left(a, i) = left(b, i)) p)
$$;

-- The searches of all of table `t`'s requests, walked in order.
CREATE FUNCTION pg_temp.offline(t regclass, gap interval)
RETURNS TABLE (app text, usr text, q text, first_at timestamptz, last_at timestamptz, keystrokes int, hits int)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    open boolean := false;
BEGIN
    FOR r IN EXECUTE format('SELECT app, usr, coalesce(q, '''') AS q, at, hits FROM %s
                             WHERE at IS NOT NULL AND app IS NOT NULL AND usr IS NOT NULL ORDER BY app, usr, at, id', t) LOOP
        IF open AND r.app IS NOT DISTINCT FROM app AND r.usr IS NOT DISTINCT FROM usr
           AND r.at - last_at <= gap AND pg_temp.continues(q, r.q) THEN
            q := r.q; last_at := r.at; keystrokes := keystrokes + 1; hits := r.hits;
        ELSE
            IF open AND q <> '' THEN
                RETURN NEXT;
            END IF;
            open := true;
            app := r.app; usr := r.usr; q := r.q; first_at := r.at; last_at := r.at; keystrokes := 1; hits := r.hits;
        END IF;
    END LOOP;
    IF open AND q <> '' THEN
        RETURN NEXT;
    END IF;
END
$$;

-- Instant-search traffic of `users` in round `round` (2 minutes each, searches of a user 20 s
-- apart, so none spans rounds): each search types a word a keystroke at a time, 100-600 ms
-- apart; some erase a character and type it again, mistype the last one and mend it, pause 4 s
-- (longer than the gap) in the middle, or clear the box afterwards.
CREATE SCHEMA gen;
CREATE FUNCTION gen.traffic(round int, users int[], base timestamptz DEFAULT '2026-11-02 08:00:00+00')
RETURNS TABLE (app text, usr text, q text, at timestamptz, hits int)
LANGUAGE plpgsql AS $$
DECLARE
    words text[] := ARRAY['algolia', 'apple', 'banana split', 'search engine', 'postgres', 'rollup', 'café', 'analytics', 'a'];
    u int;
    w text;
    h int;
    t timestamptz;
BEGIN
    FOREACH u IN ARRAY users LOOP
        FOR j IN 0 .. 1 + abs(hashint4(u * 7 + round)) % 2 LOOP
            h := abs(hashint4(u * 1000 + round * 10 + j));
            w := words[1 + h % cardinality(words)];
            app := (ARRAY['shop', 'docs'])[1 + u % 2];
            usr := 'user' || u;
            t := base + round * interval '2 minutes' + j * interval '20 seconds' + (h % 700) * interval '1 millisecond';
            FOR i IN 1 .. length(w) LOOP
                t := t + (100 + (h >> (i % 16)) % 500) * interval '1 millisecond';
                IF i = length(w) / 2 + 1 AND h % 7 = 0 THEN
                    t := t + interval '4 seconds';                       -- a pause inside the word
                END IF;
                q := left(w, i); at := t; hits := length(w) * 10 - i;
                RETURN NEXT;
                IF i = length(w) - 1 AND h % 5 = 1 THEN                  -- backspace, then type again
                    t := t + interval '150 milliseconds';
                    q := left(w, i - 1); at := t; hits := 999;
                    RETURN NEXT;
                ELSIF i = length(w) AND h % 5 = 2 AND i > 2 THEN         -- a typo in the last letter, mended
                    t := t + interval '200 milliseconds';
                    q := left(w, i - 1) || 'x'; at := t; hits := 0;
                    RETURN NEXT;
                    t := t + interval '300 milliseconds';
                    q := w; at := t; hits := 1;
                    RETURN NEXT;
                END IF;
            END LOOP;
            IF h % 4 = 3 THEN                                            -- the box cleared
                q := ''; at := t + interval '500 milliseconds'; hits := NULL;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

CREATE TABLE kreq (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, app text, usr text, q text,
                   at timestamptz, hits int);
SELECT name, mode, search - 'pending' AS search FROM rollup.create_search_sessions('kreq_searches', 'kreq', 'searches',
    ARRAY['app', 'usr'], 'q', 'at', gap => '3 seconds', keep => ARRAY['hits']);
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'searches'::regclass AND attnum > 0 ORDER BY attnum;

-- The rules' cases, one user each: typed, erased and retyped, a mended typo, a pause inside a
-- word, a cleared box, a user of the other app with the same name, a request without a time,
-- requests without a user (anyone's: part of no search).
INSERT INTO kreq (app, usr, q, at, hits) VALUES
    ('shop', 'ann', 'a', '2026-11-01 10:00:00+00', 900), ('shop', 'ann', 'al', '2026-11-01 10:00:00.2+00', 90),
    ('shop', 'bob', 'p', '2026-11-01 10:00:00.3+00', 50), ('shop', 'ann', 'alg', '2026-11-01 10:00:00.4+00', 9),
    ('shop', 'ann', 'al', '2026-11-01 10:00:00.6+00', 90), ('shop', 'ann', 'alx', '2026-11-01 10:00:00.8+00', 0),
    ('shop', 'ann', 'alga', '2026-11-01 10:00:01+00', 3),
    ('shop', 'bob', 'po', '2026-11-01 10:00:00.5+00', 40), ('shop', 'bob', 'pos', '2026-11-01 10:00:05+00', 30),
    ('shop', 'bob', 'post', '2026-11-01 10:00:05.5+00', 20), ('shop', 'bob', '', '2026-11-01 10:00:06+00', NULL),
    ('shop', 'bob', 'tea', '2026-11-01 10:00:06.5+00', 7),
    ('docs', 'ann', 'x', '2026-11-01 10:00:00.1+00', 1), ('docs', 'ann', 'y', '2026-11-01 10:00:00.2+00', 2),
    ('docs', 'ann', 'lost', NULL, 0),
    ('shop', NULL, 'z', '2026-11-01 10:00:02+00', 5), ('shop', NULL, 'zo', '2026-11-01 10:00:02.2+00', 5),
    (NULL, 'ann', 'alg', '2026-11-01 10:00:00.5+00', 5);
SELECT rollup.run('kreq_searches') AS requests;
SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM searches ORDER BY app, usr, first_at;
-- Still open (within 3 s of the newest request): bob's "tea". Written by a run that finds
-- nothing new, when it has been quiet for 3 s.
SELECT app, usr, q, keystrokes FROM searches_pending;
SELECT rollup.run('kreq_searches') AS requests, (SELECT count(*) FROM searches_pending) AS still_open;
SELECT app, usr, q, keystrokes FROM searches ORDER BY id DESC LIMIT 1;
-- A request dated in the future (a wrong clock) ends no one else's search: the horizon is never
-- later than now(). Both searches stay open.
INSERT INTO kreq (app, usr, q, at, hits) VALUES ('shop', 'cy', 'now', now() - interval '1 second', 1),
                                               ('shop', 'zed', 'later', now() + interval '1 day', 1);
SELECT rollup.run('kreq_searches') AS requests;
SELECT app, usr, q, keystrokes FROM searches_pending ORDER BY usr;

-- Generated traffic in 6 rounds of 60 users, each round written in time order in 4 parts with a
-- run after each, batches of at most 150 requests (which cut searches: they stay open across
-- runs). Then a run that finds nothing closes what is left.
TRUNCATE kreq;
SELECT rollup.reset('kreq_searches');
SELECT (rollup.alter_rollup('kreq_searches', batch_size => 150)).batch_size;
CREATE TABLE planned AS SELECT round, t.*, row_number() OVER (ORDER BY t.at, t.usr) AS k
FROM generate_series(1, 6) round, gen.traffic(round, ARRAY(SELECT generate_series(1, 60))) t;
DO $$
DECLARE
    parts int := 4;
    total bigint := (SELECT count(*) FROM planned);
BEGIN
    FOR p IN 0 .. 6 * parts - 1 LOOP
        INSERT INTO kreq (app, usr, q, at, hits)
        SELECT app, usr, q, at, hits FROM planned WHERE k > p * total / (6 * parts) AND k <= (p + 1) * total / (6 * parts) ORDER BY k;
        -- (Runs until every request is read: a run that found none would end every search
        -- quiet for 3 s by the clock, which these, from November, all are.)
        WHILE (SELECT watermark FROM rollup.status WHERE name = 'kreq_searches') < (SELECT max(id) FROM kreq) LOOP
            PERFORM rollup.run('kreq_searches');
        END LOOP;
    END LOOP;
    PERFORM rollup.run('kreq_searches');
END $$;
SELECT count(*) > 3000 AS many_requests, (SELECT count(*) FROM searches_pending) AS still_open FROM kreq;
-- The same searches as the offline walk, none missing, none extra, none twice.
SELECT (SELECT count(*) FROM searches) AS searches, (SELECT count(*) FROM pg_temp.offline('kreq', '3 seconds')) AS offline,
       (SELECT count(*) FROM (SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM searches
                              EXCEPT ALL SELECT * FROM pg_temp.offline('kreq', '3 seconds')) x) AS extra,
       (SELECT count(*) FROM (SELECT * FROM pg_temp.offline('kreq', '3 seconds')
                              EXCEPT ALL SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM searches) x) AS missing;
-- What the traffic holds: searches that a pause split, mended typos, final queries after a backspace.
SELECT count(*) FILTER (WHERE keystrokes = 1) > 0 AS single_keystroke_searches,
       count(*) FILTER (WHERE q = 'algolia') > 0 AS full_words,
       count(DISTINCT usr) AS users FROM searches;

-- Concurrent writers: two sessions write the requests of their own users as they come (a
-- second of traffic at a time, together), each in a transaction that is still open when a third
-- session runs the stage (without waiting for them) and commits while it runs; no batch size.
-- Every search equals the offline walk's. The traffic is dated tomorrow: a run that finds no
-- new request and no writer (between two seconds of traffic) would otherwise end the searches
-- open by the clock, as it should for requests written as they come. (Written in bulk out of
-- time order instead, a writer's requests could come more than the gap after requests of the
-- other that a run already read: then they start searches of their own, the documented rule
-- for late requests.)
CREATE TABLE creq (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, app text, usr text, q text,
                   at timestamptz, hits int);
SELECT name FROM rollup.create_search_sessions('creq_searches', 'creq', 'csearches', ARRAY['app', 'usr'], 'q', 'at', keep => ARRAY['hits']);
CREATE TABLE cplanned AS SELECT u <= 40 AS first_writer, t.* FROM generate_series(1, 2) round, generate_series(1, 80) u,
    gen.traffic(round, ARRAY[u], date_trunc('day', now()) + interval '1 day') t;
SELECT dblink_connect('w1', pg_temp.conninfo(current_database())), dblink_connect('w2', pg_temp.conninfo(current_database())),
       dblink_connect('runner', pg_temp.conninfo(current_database()));
CREATE FUNCTION pg_temp.write(first_writer boolean, second timestamptz) RETURNS text LANGUAGE sql AS $$
    SELECT format($w$INSERT INTO creq (app, usr, q, at, hits) SELECT app, usr, q, at, hits FROM cplanned
                     WHERE first_writer = %L AND at >= %L AND at < %2$L::timestamptz + interval '1 second' ORDER BY at$w$, first_writer, second)
$$;
DO $$
DECLARE
    second timestamptz;
BEGIN
    FOR second IN SELECT generate_series(date_trunc('second', min(at)), max(at), interval '1 second') FROM cplanned LOOP
        PERFORM dblink_exec('w1', 'BEGIN'), dblink_exec('w1', pg_temp.write(true, second));
        PERFORM dblink_exec('w2', 'BEGIN'), dblink_exec('w2', pg_temp.write(false, second));
        PERFORM dblink_send_query('runner', 'SELECT rollup.run(''creq_searches'', max_wait => ''0'')');
        PERFORM dblink_exec('w1', 'COMMIT'), dblink_exec('w2', 'COMMIT');
        PERFORM * FROM dblink_get_result('runner') AS x(n bigint);
        PERFORM * FROM dblink_get_result('runner') AS x(n bigint);
    END LOOP;
END $$;
SELECT rollup.run('creq_searches') >= 0 AS caught_up, rollup.run('creq_searches') = 0 AS nothing_left;
-- (Tomorrow's last searches are still open: compared with what is pending.)
CREATE TEMP VIEW cwritten AS SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM csearches
    UNION ALL SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM csearches_pending WHERE q <> '';
SELECT (SELECT count(*) FROM creq) = (SELECT count(*) FROM cplanned) AS all_requests,
       (SELECT count(*) FROM csearches_pending WHERE q <> '') BETWEEN 1 AND 80 AS some_still_open,
       (SELECT count(*) FROM (SELECT * FROM cwritten EXCEPT ALL SELECT * FROM pg_temp.offline('creq', '3 seconds')) x) AS extra,
       (SELECT count(*) FROM (SELECT * FROM pg_temp.offline('creq', '3 seconds') EXCEPT ALL SELECT * FROM cwritten) x) AS missing;
SELECT dblink_disconnect(c) FROM unnest(ARRAY['w1', 'w2', 'runner']) c;
DROP VIEW cwritten;

-- Rollups over the searches: per app and 5 minutes, searches, searches without results (the
-- last request's hits), distinct users and the top queries; equal to the same over the table.
SELECT name FROM rollup.create_rollup('searches_5min', 'searches', 'searches_5min', 'last_at', '5 minutes', ARRAY['app'],
    ARRAY['count(*) AS searches', 'count(*) FILTER (WHERE hits = 0) AS no_results', 'hll_add_agg(hll_hash_text(usr)) AS users',
          'topn_add_agg(q) AS top', 'sum(keystrokes) AS keystrokes']);
SELECT rollup.run('searches_5min') = (SELECT count(*) FROM searches) AS all_searches;
SELECT sum(searches) = (SELECT count(*) FROM searches) AS same_searches,
       sum(no_results) = (SELECT count(*) FROM searches WHERE hits = 0) AS same_no_results,
       sum(keystrokes) = (SELECT sum(keystrokes) FROM searches) AS same_keystrokes
FROM searches_5min;
-- A daily level over that rollup: the same totals, and the same sketches as made from the
-- searches directly (hll registers byte for byte, topn's counts of the top queries).
SELECT name, mode FROM rollup.create_rollup('searches_daily', 'searches_5min', 'searches_daily', bucket_width => '1 day',
    dimensions => ARRAY['app'],
    measures => ARRAY['sum(searches) AS searches', 'sum(no_results) AS no_results', 'hll_union_agg(users) AS users',
                      'topn_union_agg(top) AS top']);
SELECT count(*) FILTER (WHERE d.searches IS DISTINCT FROM x.searches) AS differing_searches,
       count(*) FILTER (WHERE d.no_results IS DISTINCT FROM x.no_results) AS differing_no_results,
       count(*) FILTER (WHERE d.users::bytea IS DISTINCT FROM x.users::bytea) AS differing_users,
       count(*) FILTER (WHERE (SELECT array_agg(t ORDER BY t) FROM topn(d.top, 5) t)
                              IS DISTINCT FROM (SELECT array_agg(t ORDER BY t) FROM topn(x.top, 5) t)) AS differing_top,
       count(*) AS days
FROM searches_daily d
FULL JOIN (SELECT app, date_bin('1 day', last_at, '2000-01-03 00:00+00') AS bucket, count(*) AS searches,
                  count(*) FILTER (WHERE hits = 0) AS no_results, hll_add_agg(hll_hash_text(usr)) AS users, topn_add_agg(q) AS top
           FROM searches GROUP BY 1, 2) x USING (app, bucket);

-- Status, explain, retention of the requests once searched, drop.
SELECT name, watermark = (SELECT max(id) FROM kreq) AS at_the_end, pending_rows, last_error FROM rollup.status WHERE name = 'kreq_searches';
SELECT count(*) > 4 AS explained FROM rollup.explain_run('kreq_searches');
SELECT rollup.set_retention('kreq_searches', source_grace => '0');
CALL rollup.apply_retention('kreq_searches');
SELECT count(*) AS requests_left FROM kreq;

-- Columns named like those of the stage's own statements, and needing quotes: kept apart.
CREATE TABLE oddreq (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), "position" text, q text, "Query" text, at timestamptz,
                     finished int, last_id bigint);
SELECT name FROM rollup.create_search_sessions('odd_searches', 'oddreq', '"odd searches"', ARRAY['position', 'q'], 'Query', 'at',
                                               keep => ARRAY['finished', 'last_id']);
INSERT INTO oddreq ("position", q, "Query", at, finished, last_id) VALUES
    ('p1', 'x', 'a', '2026-11-01 10:00:00+00', 1, 10), ('p1', 'x', 'ab', '2026-11-01 10:00:00.2+00', 2, 20),
    ('p2', 'y', 'c', '2026-11-01 10:00:00.1+00', 3, 30);
SELECT rollup.run('odd_searches') AS requests, rollup.run('odd_searches') AS then_none;
SELECT "position", q, "Query", first_at, last_at, keystrokes, finished, last_id FROM "odd searches" ORDER BY "position";
SELECT rollup.drop_rollup('odd_searches', drop_target => true);

-- Errors.
CREATE TABLE bad (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), usr text, q text, at timestamp, qj jsonb, n int);
SELECT q, pg_temp.error_of(q) FROM (VALUES
    ($$SELECT rollup.create_search_sessions('b1', 'bad', 'b1', ARRAY['usr'], 'q', 'at')$$),
    ($$SELECT rollup.create_search_sessions('b2', 'kreq', 'b2', ARRAY['usr'], 'hits', 'at')$$),
    ($$SELECT rollup.create_search_sessions('b3', 'kreq', 'b3', ARRAY['usr'], 'q', 'at', gap => '0')$$),
    ($$SELECT rollup.create_search_sessions('b4', 'kreq', 'b4', '{}', 'q', 'at')$$),
    ($$SELECT rollup.create_search_sessions('b5', 'kreq', 'b5', ARRAY['usr'], 'nope', 'at')$$),
    ($$SELECT rollup.create_search_sessions('b6', 'kreq', 'b6', ARRAY['usr', 'q'], 'q', 'at')$$),
    ($$SELECT rollup.create_search_sessions('b7', 'kreq', 'searches', ARRAY['usr'], 'q', 'at')$$),
    ($$SELECT rollup.create_search_sessions('kreq_searches', 'kreq', 'b8', ARRAY['usr'], 'q', 'at')$$),
    ($$SELECT rollup.create_search_sessions('b9', 'searches', 'b9', ARRAY['usr'], 'q', 'last_at')$$),
    ($$SELECT rollup.create_search_sessions('b10', 'kreq', 'b10', ARRAY['usr'], 'q', 'at', keep => ARRAY['id'])$$),
    ($$SELECT rollup.create_search_sessions(NULL, 'kreq', 'b11', ARRAY['usr'], 'q', 'at')$$),
    ($$SELECT rollup.verify('kreq_searches')$$),
    ($$SELECT rollup.load_history('kreq_searches', 'SELECT 1')$$),
    ($$SELECT rollup.alter_rollup('kreq_searches', add_measures => ARRAY['count(*) AS n'])$$),
    ($$SELECT rollup.set_retention('kreq_searches', target_keep => '1 day')$$),
    ($$SELECT rollup.create_view('kreq_searches', 'v')$$)
) v(q);

-- A second role: does not see another role's stage (nor run or drop it); its own works.
CREATE ROLE search_other;
CREATE SCHEMA other AUTHORIZATION search_other;
SET ROLE search_other;
SELECT pg_temp.error_of($$SELECT rollup.run('kreq_searches')$$) AS run_other, pg_temp.error_of($$SELECT rollup.drop_rollup('kreq_searches')$$) AS drop_other;
CREATE TABLE other.req (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), usr text, q text, at timestamptz);
SELECT name, owner FROM rollup.create_search_sessions('other_searches', 'other.req', 'searches', ARRAY['usr'], 'q', 'at');
INSERT INTO other.req (usr, q, at) VALUES ('u', 'p', '2026-11-01 10:00+00'), ('u', 'pg', '2026-11-01 10:00:01+00');
SELECT rollup.run('other_searches') AS read, rollup.run('other_searches') AS quiet;
SELECT usr, q, keystrokes FROM other.searches;
SELECT rollup.drop_rollup('other_searches', drop_target => true);
RESET ROLE;
DROP SCHEMA other CASCADE;
SELECT rollup.drop_rollup('searches_daily', drop_target => true);
SELECT rollup.drop_rollup('searches_5min', drop_target => true);
SELECT rollup.drop_rollup('kreq_searches', drop_target => true);
SELECT to_regclass('searches') IS NULL AS target_dropped, to_regclass('searches_pending') IS NULL AS pending_dropped;
SELECT rollup.drop_rollup('creq_searches');
SELECT to_regclass('csearches') IS NOT NULL AS target_kept, to_regclass('csearches_pending') IS NULL AS pending_dropped;
DROP ROLE search_other;
DROP SCHEMA gen CASCADE;
