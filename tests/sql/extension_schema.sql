-- pg_rollup installed in a schema of its own (CREATE EXTENSION pg_rollup SCHEMA pgr), used by a
-- session whose search_path has neither that schema nor pg_catalog first, but a schema of decoys
-- with the names of the functions pg_rollup's SQL calls: every function works as in public.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\i helpers.sql
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE IF EXISTS pg_rollup_schema');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE pg_rollup_schema');
SELECT dblink_connect('s', pg_temp.conninfo('pg_rollup_schema'));
SELECT dblink_exec('s', $s$
    CREATE SCHEMA pgr;
    CREATE EXTENSION pg_rollup SCHEMA pgr;
    -- Decoys: each raises if called.
    CREATE SCHEMA evil;
    CREATE FUNCTION evil.topn_columns(pgr.topn, integer, OUT items text[], OUT lower_bounds bigint[],
                                      OUT upper_bounds bigint[], OUT guaranteed boolean[])
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy topn_columns called'; END $$;
    CREATE FUNCTION evil.topn(jsonb) RETURNS pgr.topn LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy topn called'; END $$;
    CREATE FUNCTION evil.topn_to_json_text(pgr.topn) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy topn_to_json_text called'; END $$;
    CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy unnest called'; END $$;
    CREATE TABLE public.ev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
                            usr int NOT NULL, q text NOT NULL);
    INSERT INTO public.ev (at, usr, q)
    SELECT '2026-10-01 00:00+00'::timestamptz + i * interval '1 minute', i % 37, 'q' || i % 5 FROM generate_series(1, 2000) i;
$s$);
-- The caller's path: the decoys first, then pg_catalog; pgr is not in it.
SELECT dblink_exec('s', 'SET search_path = evil, pg_catalog, public');
SELECT * FROM dblink('s', $$
    SELECT pgr.topn_items(t, 2), pgr.topn_jsonb(t, 1)::text, (SELECT string_agg(item || ':' || frequency, ',') FROM pgr.topn(t::jsonb, 2)),
           (t::jsonb)::text
    FROM (SELECT pgr.topn_add_agg(q) t FROM public.ev) s
$$) AS r(items text[], top1 text, from_jsonb text, as_jsonb text);
SELECT * FROM dblink('s', $$
    SELECT round(pgr.hll_cardinality(pgr.hll_add_agg(pgr.hll_hash_integer(usr))))::int FROM public.ev
$$) AS r(distinct_users int);
-- A rollup, a level and a query view, written with unqualified sketch functions (the rollup
-- functions find them in the extension's schema).
SELECT * FROM dblink('s', $$
    SELECT name FROM rollup.create_rollup('ev_hourly', 'public.ev', 'ev_hourly', 'at', '1 hour', ARRAY['q'],
        ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_integer(usr)) AS users', 'topn_add_agg(q) AS top'])
$$) AS r(rollup text);
SELECT * FROM dblink('s', $$
    SELECT name FROM rollup.create_rollup('ev_daily', 'public.ev_hourly', 'ev_daily', bucket_width => '1 day', dimensions => ARRAY['q'],
        measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users', 'topn_union_agg(top) AS top'])
$$) AS r(rollup text);
SELECT * FROM dblink('s', $$SELECT rollup.run('ev_hourly')$$) AS r(rolled_up bigint);
SELECT * FROM dblink('s', $$SELECT rollup.create_view('ev_daily', 'ev_view')::text$$) AS r(view text);
SELECT * FROM dblink('s', $$
    SELECT (SELECT sum(events) FROM public.ev_daily) = 2000,
           (SELECT round(pgr.hll_cardinality(pgr.hll_union_agg(users)))::int FROM public.ev_daily)
             = (SELECT round(pgr.hll_cardinality(pgr.hll_add_agg(pgr.hll_hash_integer(usr))))::int FROM public.ev),
           (SELECT sum(events) FROM public.ev_view('2026-10-01 06:00+00', '2026-10-01 20:00+00'))
             = (SELECT count(*) FROM public.ev WHERE at >= '2026-10-01 06:00+00' AND at < '2026-10-01 20:00+00'),
           (SELECT pgr.topn_items(pgr.topn_union_agg(top), 5) FROM public.ev_view)
$$) AS r(daily_events_equal boolean, daily_users_equal boolean, view_range_equal boolean, top text[]);
-- Ingest with a uniqueness rule: duplicates dropped, as in public.
SELECT dblink_exec('s', $s$
    CREATE TABLE public.msgs (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), platform text NOT NULL, payload jsonb NOT NULL);
    SELECT rollup.add_uniqueness_rule('public.msgs', 'slack');
$s$);
SELECT * FROM dblink('s', $$
    SELECT i.inserted, i.duplicates FROM rollup.ingest_json('public.msgs',
        (SELECT jsonb_agg(jsonb_build_object('platform', 'slack', 'payload', jsonb_build_object('event_id', 'E' || i % 30))) FROM generate_series(1, 50) i)) i
$$) AS r(inserted bigint, duplicates bigint);
SELECT * FROM dblink('s', $$SELECT count(*), count(DISTINCT payload) FROM public.msgs$$) AS r(stored bigint, distinct_events bigint);
SELECT * FROM dblink('s', $$SELECT name, last_error FROM rollup.status ORDER BY name$$) AS r(name text, last_error text);
SELECT dblink_disconnect('s');
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE pg_rollup_schema');
