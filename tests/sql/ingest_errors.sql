-- Ingest never stops on one bad event: with a rejects table every input row ends stored, a
-- duplicate or rejected (the counts add up to the rows given), a rejected row is in the rejects
-- table with a reason that names the problem, and the stored rows are exactly the good ones;
-- without a rejects table the batch fails with an error that names the row.
\i helpers.sql
SET TimeZone = 'UTC';
CREATE TABLE ie (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), platform text, channel varchar(8),
                 at timestamptz NOT NULL, amount int CHECK (amount >= 0), payload jsonb NOT NULL);
CREATE TABLE ie_rejects (reason text, event jsonb);
SELECT rollup.add_uniqueness_rule('ie', 'slack') IS NOT NULL AS rule;
-- A good event: n decides its event_id.
CREATE FUNCTION pg_temp.ev(n int, platform text DEFAULT 'slack') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('platform', platform, 'channel', 'c' || n % 5, 'at', '2026-10-01'::timestamptz + n * interval '1 minute',
                              'amount', n % 7, 'payload', jsonb_build_object('event_id', 'E' || n, 'team_id', 'T1', 'user', 'U' || n % 3))
$$;
-- What was stored, and what was rejected, after each batch.
CREATE FUNCTION pg_temp.outcome() RETURNS TABLE (stored bigint, rejects bigint, reasons text) LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM ie), (SELECT count(*) FROM ie_rejects),
           (SELECT string_agg(DISTINCT regexp_replace(reason, ' \(row [0-9]+ of the batch\)', ''), ' | ') FROM ie_rejects)
$$;

-- Each kind of bad row alone, between good rows: the good rows are stored, the bad one rejected.
CREATE TEMP TABLE kinds (kind text, bad jsonb);
INSERT INTO kinds VALUES
    ('missing key',       pg_temp.ev(1000) #- '{payload,event_id}'),
    ('key of 10 kB',      jsonb_set(pg_temp.ev(1001), '{payload,event_id}', to_jsonb(repeat('x', 10000)))),
    ('bad timestamp',     jsonb_set(pg_temp.ev(1002), '{at}', '"not a time"')),
    ('NOT NULL column',   pg_temp.ev(1003) - 'at'),
    ('CHECK constraint',  jsonb_set(pg_temp.ev(1004), '{amount}', '-5')),
    ('varchar too long',  jsonb_set(pg_temp.ev(1005), '{channel}', '"much too long"')),
    ('NULL platform',     jsonb_set(pg_temp.ev(1006), '{platform}', 'null')),
    ('int out of range',  jsonb_set(pg_temp.ev(1007), '{amount}', '99999999999'));
-- A batch into emptied tables, and its outcome.
CREATE FUNCTION pg_temp.try(batch jsonb, rej regclass DEFAULT 'ie_rejects')
RETURNS TABLE (inserted bigint, duplicates bigint, rejected bigint, stored bigint, rejects bigint, reasons text)
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ie, ie_rejects;
    SELECT i.inserted, i.duplicates, i.rejected INTO inserted, duplicates, rejected FROM rollup.ingest_json('ie', batch, rej) i;
    SELECT o.stored, o.rejects, o.reasons INTO stored, rejects, reasons FROM pg_temp.outcome() o;
    RETURN NEXT;
END $$;
SELECT k.kind, t.* FROM kinds k, pg_temp.try(jsonb_build_array(pg_temp.ev(1), pg_temp.ev(2), k.bad, pg_temp.ev(3))) t ORDER BY k.kind;
-- The rejected event is kept whole.
SELECT event->'payload'->>'event_id' AS event_id, event->>'amount' AS amount FROM ie_rejects;

-- All kinds in one batch, with duplicates at its edges (the first row is stored already, the last
-- repeats it; a good row comes twice) and a rejected row that repeats a good key: the counts add
-- up, and the stored rows are exactly the good ones, each once.
TRUNCATE ie, ie_rejects;
SELECT inserted FROM rollup.ingest_json('ie', jsonb_build_array(pg_temp.ev(10)));
CREATE TEMP TABLE mixed AS
SELECT jsonb_agg(e ORDER BY o) AS batch FROM (
    SELECT 1 AS o, pg_temp.ev(10) AS e
    UNION ALL SELECT 2, pg_temp.ev(11)
    UNION ALL SELECT 3 + row_number() OVER (ORDER BY kind), bad FROM kinds
    UNION ALL SELECT 20, jsonb_set(pg_temp.ev(12), '{amount}', '-1')   -- rejected, its key is E12
    UNION ALL SELECT 21, pg_temp.ev(12)                                -- stored: the rejected row did not take its key
    UNION ALL SELECT 22, pg_temp.ev(11)                                -- a duplicate in the batch
    UNION ALL SELECT 23, pg_temp.ev(13, 'web')                         -- no rule: stored
    UNION ALL SELECT 24, pg_temp.ev(10)) x;                            -- a duplicate of a stored row
SELECT jsonb_array_length(batch) AS rows_given, i.*, i.inserted + i.duplicates + i.rejected = jsonb_array_length(batch) AS adds_up
FROM mixed, rollup.ingest_json('ie', batch, 'ie_rejects') i;
SELECT string_agg(payload->>'event_id', ' ' ORDER BY payload->>'event_id') AS stored_event_ids, count(*) AS stored FROM ie;
SELECT count(*) AS rejects, count(DISTINCT reason) AS distinct_reasons FROM ie_rejects;
SELECT reason FROM ie_rejects ORDER BY reason;

-- rollup.ingest from a staging table (a plain one, emptied by the same statement; a temporary
-- one): the same outcome; the staging table is emptied either way.
CREATE TABLE ie_staging (platform text, channel text, at timestamptz, amount int, payload jsonb);
CREATE FUNCTION pg_temp.fill_staging(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$INSERT INTO %s SELECT platform, channel, at, amount, payload
                      FROM jsonb_populate_recordset(NULL::ie_staging, $1)$q$, t)
    USING jsonb_build_array(pg_temp.ev(10), pg_temp.ev(31), pg_temp.ev(32), pg_temp.ev(31),
                            jsonb_set(pg_temp.ev(33), '{payload,event_id}', to_jsonb(repeat('y', 5000))),
                            pg_temp.ev(34) - 'at', jsonb_set(pg_temp.ev(35), '{amount}', '-2'),
                            jsonb_set(pg_temp.ev(36), '{platform}', 'null'), jsonb_set(pg_temp.ev(37), '{channel}', '"far too long"'),
                            pg_temp.ev(38) #- '{payload,event_id}', pg_temp.ev(39));
END $$;
CREATE TEMP TABLE ie_staging_temp (LIKE ie_staging);
TRUNCATE ie, ie_rejects;
SELECT inserted FROM rollup.ingest_json('ie', jsonb_build_array(pg_temp.ev(10)));
SELECT pg_temp.fill_staging('ie_staging'), pg_temp.fill_staging('ie_staging_temp');
SELECT 'plain' AS staging, i.* FROM rollup.ingest('ie', 'ie_staging', 'ie_rejects') i;
SELECT 'temporary' AS staging, i.* FROM rollup.ingest('ie', 'ie_staging_temp', 'ie_rejects') i;
SELECT (SELECT count(*) FROM ie_staging) AS left_in_plain, (SELECT count(*) FROM ie_staging_temp) AS left_in_temporary;
SELECT string_agg(payload->>'event_id', ' ' ORDER BY payload->>'event_id') AS stored_event_ids FROM ie;
SELECT regexp_replace(reason, ' \(row [0-9]+ of the batch\)', '') AS reason, count(*) FROM ie_rejects GROUP BY 1 ORDER BY 1;

-- Through an ingest view's trigger (the events table has a trigger: the loader does not take it).
CREATE FUNCTION ie_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE INSERT ON ie FOR EACH ROW EXECUTE FUNCTION ie_touch();
SELECT rollup.create_ingest_view('ie', 'ie_in', 'ie_rejects');
-- (Values of the view's own column types: a bad timestamp cannot reach it through INSERT.)
TRUNCATE ie, ie_rejects;
INSERT INTO ie_in (platform, channel, at, amount, payload)
SELECT platform, channel, at, amount, payload
FROM jsonb_populate_recordset(NULL::ie_staging, (
    SELECT jsonb_agg(e ORDER BY o) FROM jsonb_array_elements((SELECT batch FROM mixed) || jsonb_build_array(pg_temp.ev(14))) WITH ORDINALITY x(e, o)
    WHERE coalesce(e->>'at', '') <> 'not a time' AND coalesce((e->>'amount')::numeric, 0) < 1000 AND coalesce(length(e->>'channel'), 0) <= 8));
SELECT (SELECT count(*) FROM ie) AS stored, (SELECT count(*) FROM ie_rejects) AS rejected,
       (SELECT string_agg(payload->>'event_id', ' ' ORDER BY payload->>'event_id') FROM ie) AS stored_event_ids;
DROP TRIGGER touch ON ie;

-- COPY into the ingest view, read by pg_rollup's loader (no trigger on the table now): each kind
-- of bad line, a duplicate, good lines; a reason names its input line, and a line that does not
-- parse keeps just its line number.
TRUNCATE ie, ie_rejects;
LOAD 'pg_rollup';
SELECT direct FROM rollup_internal.ingest_view_target('ie_in');
COPY ie_in (platform, channel, at, amount, payload) FROM stdin;
slack	c1	2026-10-01 00:01+00	1	{"event_id": "E1"}
slack	c2	not a time	2	{"event_id": "E2"}
slack	c3	2026-10-01 00:03+00	-3	{"event_id": "E3"}
slack	c4	\N	4	{"event_id": "E4"}
\N	c5	2026-10-01 00:05+00	5	{"event_id": "E5"}
slack	much too long	2026-10-01 00:06+00	6	{"event_id": "E6"}
slack	c7	2026-10-01 00:07+00	7	{"event_id": 
slack	c8	2026-10-01 00:08+00	8	{"no_id": 1}
slack	c9	2026-10-01 00:09+00	9
slack	c1	2026-10-01 00:01+00	1	{"event_id": "E1"}
slack	c1	2026-10-01 00:10+00	99999999999	{"event_id": "E10"}
slack	c1	2026-10-01 00:12+00	12	{"event_id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
slack	c1	2026-10-01 00:11+00	11	{"event_id": "E11"}
web	c1	2026-10-01 00:13+00	13	{"x": 1}
\.
SELECT string_agg(payload->>'event_id', ' ' ORDER BY payload->>'event_id') AS stored_event_ids, count(*) AS stored FROM ie;
SELECT left(reason, 90) AS reason, left(CASE WHEN event ? 'line' THEN event::text ELSE event->'payload'->>'event_id' END, 12) AS event FROM ie_rejects
ORDER BY split_part(split_part(reason, ':', 1), ' ', 2)::int;
-- Without a rejects table, the COPY stops at the first bad line and names it.
SELECT rollup.create_ingest_view('ie', 'ie_strict');
TRUNCATE ie RESTART IDENTITY;
COPY ie_strict (platform, channel, at, amount, payload) FROM stdin;
slack	c1	2026-10-01 00:01+00	1	{"event_id": "E1"}
slack	c2	not a time	2	{"event_id": "E2"}
\.
COPY ie_strict (platform, channel, at, amount, payload) FROM stdin;
slack	c1	2026-10-01 00:01+00	1	{"event_id": "E1"}
slack	c3	2026-10-01 00:03+00	1	{"no_id": "E2"}
\.
SELECT count(*) AS stored_after_errors FROM ie;

-- Bad lines and duplicates at the edges of the loader's batches (500 lines) and spans (50,000):
-- lines 499-502 and 49,999-50,002 are bad (a time that does not parse, a missing key, in turn),
-- lines 500-510 and 50,000-50,010 repeat keys of the batch and span before them, and line
-- 100,001 repeats line 1. Every good key stored once; every bad line rejected with its number.
TRUNCATE ie, ie_rejects;
COPY (SELECT 'slack',
             CASE WHEN i IN (499, 501, 49999, 50001) THEN 'nope' ELSE ('2026-10-01'::timestamptz + i * interval '1 second')::text END,
             'c1', 1,
             CASE WHEN i IN (500, 502, 50000, 50002) THEN '{"other": 1}'
                  WHEN i BETWEEN 503 AND 510 OR i BETWEEN 50003 AND 50010 THEN jsonb_build_object('event_id', 'K' || (i - 10))::text
                  WHEN i = 100001 THEN '{"event_id": "K1"}'
                  ELSE jsonb_build_object('event_id', 'K' || i)::text END
      FROM generate_series(1, 100001) i) TO '/tmp/pg_rollup_ingest_edges.tsv';
COPY ie_in (platform, at, channel, amount, payload) FROM '/tmp/pg_rollup_ingest_edges.tsv';
SELECT count(*) AS stored, count(DISTINCT payload->>'event_id') AS distinct_keys,
       (SELECT count(DISTINCT CASE WHEN i BETWEEN 503 AND 510 OR i BETWEEN 50003 AND 50010 THEN i - 10 WHEN i = 100001 THEN 1 ELSE i END)
        FROM generate_series(1, 100001) i WHERE i NOT IN (499, 500, 501, 502, 49999, 50000, 50001, 50002)) AS good_keys
FROM ie;
SELECT string_agg(split_part(reason, ':', 1), ', ' ORDER BY split_part(split_part(reason, ':', 1), ' ', 2)::int) AS rejected_lines FROM ie_rejects;

-- Two COPYs of the same 6000 lines at once, each line's key written twice in it, 1 % of lines
-- that do not parse and 1 % without a key: every good key stored once, every bad line rejected
-- by each COPY.
CREATE EXTENSION IF NOT EXISTS dblink;
TRUNCATE ie, ie_rejects;
COPY (SELECT 'slack', CASE WHEN i % 100 = 7 THEN 'nope' ELSE ('2026-10-01'::timestamptz + i * interval '1 second')::text END,
             'c1', i % 50,
             CASE WHEN i % 100 = 9 THEN '{"other": 1}' ELSE jsonb_build_object('event_id', 'K' || i % 3000)::text END
      FROM generate_series(1, 6000) i) TO '/tmp/pg_rollup_ingest_errors.tsv';
SELECT dblink_connect(c, format('dbname=%s port=%s host=%s', current_database(), current_setting('port'),
                                split_part(current_setting('unix_socket_directories'), ',', 1)))
FROM unnest(ARRAY['copy1', 'copy2']) c;
SELECT dblink_exec(c, 'LOAD ''pg_rollup''') FROM unnest(ARRAY['copy1', 'copy2']) c;
SELECT dblink_send_query(c, 'COPY ie_in (platform, at, channel, amount, payload) FROM ''/tmp/pg_rollup_ingest_errors.tsv''')
FROM unnest(ARRAY['copy1', 'copy2']) c;
SELECT sum(split_part(r.status, ' ', 2)::int) AS rows_stored_by_both FROM unnest(ARRAY['copy1', 'copy2']) c, dblink_get_result(c) AS r(status text);
SELECT dblink_disconnect(c) FROM unnest(ARRAY['copy1', 'copy2']) c;
SELECT count(*) AS stored, count(DISTINCT payload->>'event_id') AS distinct_keys,
       (SELECT count(DISTINCT 'K' || i % 3000) FROM generate_series(1, 6000) i WHERE i % 100 NOT IN (7, 9)) AS good_keys
FROM ie;
SELECT regexp_replace(reason, '^line [0-9]+: ', '') AS reason, count(*) FROM ie_rejects GROUP BY 1 ORDER BY 1;

-- Without a rejects table the batch fails, and the error names the row.
TRUNCATE ie, ie_rejects;
SELECT k.kind, pg_temp.error_and_detail_of(format('SELECT rollup.ingest_json(''ie'', %L)', jsonb_build_array(pg_temp.ev(1), k.bad))) AS error
FROM kinds k ORDER BY k.kind;
SELECT count(*) AS stored_after_errors FROM ie;

DROP VIEW ie_in, ie_strict;
DROP FUNCTION pg_temp.try(jsonb, regclass);
DROP TABLE ie, ie_rejects, ie_staging;
