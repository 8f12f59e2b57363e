-- Events: per-platform uniqueness rules (presets and custom keys) backed by partial unique
-- indexes, bulk ingest that stores every event once, rejects, hostile identifiers.
\i helpers.sql

-- Hostile names everywhere: schema, table, platform column, platform values.
CREATE SCHEMA "bot; data";
CREATE TABLE "bot; data"."events "" x" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "plat'form" text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT '2026-04-01',
    body jsonb NOT NULL);
SELECT * FROM rollup.uniqueness_presets() ORDER BY preset;
SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', p.platform, preset => p.preset,
                                  platform_column => 'plat''form', payload_column => 'body')
FROM rollup.uniqueness_presets() p WHERE p.preset <> 'web' ORDER BY p.preset;
-- A custom rule with a hostile platform value, and a user override of the web preset.
SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', $$x'); DROP TABLE pg_temp.t; --$$,
                                  keys => ARRAY['body->>''k'' -- trailing comment'], platform_column => 'plat''form');
SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'web', keys => ARRAY['body->>''session''', 'body->>''seq'''],
                                  platform_column => 'plat''form');
SELECT platform, keys, index_name FROM rollup.uniqueness_rules ORDER BY platform;
SELECT indexrelid::regclass AS index, pg_get_expr(indpred, indrelid) AS predicate
FROM pg_index WHERE indrelid = '"bot; data"."events "" x"'::regclass AND indpred IS NOT NULL ORDER BY indexrelid::regclass::text;

-- One batch with duplicates inside it and events of every platform.
CREATE TABLE staging (LIKE "bot; data"."events "" x" INCLUDING DEFAULTS);
ALTER TABLE staging DROP COLUMN id;
INSERT INTO staging ("plat'form", body) VALUES
    ('slack', '{"event_id": "Ev1"}'), ('slack', '{"event_id": "Ev1", "retry": 1}'), ('slack', '{"event_id": "Ev2"}'),
    ('facebook', '{"message": {"mid": "m.1"}}'), ('facebook', '{"message": {"mid": "m.1"}}'),
    ('facebook', '{"message": {"mid": "m.1", "num_edit": 1}}'), ('facebook', '{"message": {"mid": "m.1", "num_edit": 2}}'),
    ('twilio', '{"MessageSid": "SM1"}'), ('twilio', '{"MessageSid": "SM1"}'),
    ('kik', '{"id": "k1"}'), ('telegram', '{"update_id": 1001}'), ('telegram', '{"update_id": 1001}'),
    ('web', '{"session": "s", "seq": 1}'), ('web', '{"session": "s", "seq": 2}'), ('web', '{"session": "s", "seq": 1}'),
    -- the same key as slack's Ev1 on other platforms: different events, kept
    ('kik', '{"id": "Ev1"}'), ('custom', '{"event_id": "Ev1"}');
SELECT * FROM rollup.ingest('"bot; data"."events "" x"', 'staging');
SELECT count(*) AS staging_left FROM staging;
-- The same events again in a later batch (retries), plus one new: only the new one is stored.
INSERT INTO staging ("plat'form", body) VALUES
    ('slack', '{"event_id": "Ev1"}'), ('facebook', '{"message": {"mid": "m.1", "num_edit": 2}}'),
    ('telegram', '{"update_id": 1001}'), ('telegram', '{"update_id": 1002}');
SELECT * FROM rollup.ingest('"bot; data"."events "" x"', 'staging', keep_staging => true);
SELECT count(*) AS staging_kept FROM staging;
TRUNCATE staging;
-- Small batches as jsonb arrays.
SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"',
    '[{"plat''form": "slack", "body": {"event_id": "Ev3"}}, {"plat''form": "slack", "body": {"event_id": "Ev3"}},
      {"plat''form": "kik", "body": {"id": "k1"}}]');
SELECT "plat'form", count(*) AS events, count(DISTINCT body) AS distinct_bodies
FROM "bot; data"."events "" x" GROUP BY 1 ORDER BY 1;

-- Bad events: an error by default (nothing of the batch is stored), or rows in a rejects table.
SELECT pg_temp.error_of($$SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"',
    '[{"plat''form": "slack", "body": {"event_id": "Ev9"}}, {"plat''form": "slack", "body": {"no_id": 1}}]')$$);
SELECT count(*) AS ev9_stored FROM "bot; data"."events "" x" WHERE body->>'event_id' = 'Ev9';
CREATE TABLE rejects (reason text, event jsonb, at timestamptz DEFAULT now());
SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"',
    '[{"plat''form": "slack", "body": {"event_id": "Ev9"}}, {"plat''form": "slack", "body": {"no_id": 1}},
      {"plat''form": "facebook", "body": {"message": {}}}]', rejects_table => 'rejects');
SELECT reason, event - 'received_at' AS event FROM rejects ORDER BY reason;
SELECT pg_temp.error_of($$SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"', '{"a": 1}')$$);
SELECT pg_temp.error_of($$SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"', '[1]')$$);
SELECT pg_temp.error_of($$SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"', '[{"nope; drop": 1}]')$$);
SELECT pg_temp.error_of($$SELECT * FROM rollup.ingest('"bot; data"."events "" x"', 'rejects')$$);
SELECT * FROM rollup.ingest_json('"bot; data"."events "" x"', '[]');

-- Concurrent batches from two sessions with the same events: each stored once.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect(s, format('dbname=%s port=%s host=%s', current_database(), current_setting('port'),
                                split_part(current_setting('unix_socket_directories'), ',', 1)))
FROM unnest(ARRAY['s1', 's2']) s;
CREATE FUNCTION pg_temp.batch(first int, last int) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT inserted, duplicates FROM rollup.ingest_json(%L, %L)', '"bot; data"."events "" x"',
                  jsonb_agg(jsonb_build_object('plat''form', 'twilio', 'body', jsonb_build_object('MessageSid', 'C' || i))))
    FROM generate_series(first, last) i
$$;
SELECT dblink_exec('s1', 'BEGIN');
SELECT * FROM dblink('s1', pg_temp.batch(1, 300)) AS r(inserted bigint, duplicates bigint);
-- s2 overlaps s1 on C201..C300 and waits for s1's outcome on those keys only.
SELECT dblink_send_query('s2', pg_temp.batch(201, 500));
SELECT dblink_exec('s1', 'COMMIT');
SELECT * FROM dblink_get_result('s2') AS r(inserted bigint, duplicates bigint);
SELECT * FROM dblink_get_result('s2') AS r(inserted bigint, duplicates bigint);
SELECT count(*) AS c_events, count(DISTINCT body->>'MessageSid') AS distinct_sids
FROM "bot; data"."events "" x" WHERE body->>'MessageSid' LIKE 'C%';
SELECT dblink_disconnect(s) FROM unnest(ARRAY['s1', 's2']) s;

-- A batch is inserted without ON CONFLICT when no stored row conflicts, else again with it;
-- in-batch duplicates are skipped by comparing key bytes. The outcome must not depend on
-- which of these decides. A temporary staging table is read, then truncated.
CREATE TABLE ev2 (id bigint GENERATED ALWAYS AS IDENTITY, platform text NOT NULL, payload jsonb NOT NULL, note text);
SELECT rollup.add_uniqueness_rule('ev2', 'num', keys => ARRAY['(payload->>''n'')::numeric']);
SELECT rollup.add_uniqueness_rule('ev2', 'slack', preset => 'slack');
CREATE TEMP TABLE st2 (LIKE ev2);
ALTER TABLE st2 DROP COLUMN id;
-- 1.0 and 1.00: equal keys with different bytes, which only the unique index can tell.
INSERT INTO st2 VALUES ('num', '{"n": 1.0}'), ('num', '{"n": 1.00}'), ('num', '{"n": 2}'),
                       ('slack', '{"event_id": "E1"}'), ('slack', '{"event_id": "E1"}');
SELECT * FROM rollup.ingest('ev2', 'st2');
SELECT count(*) AS st2_left FROM st2;
-- Stored duplicates, in-batch duplicates and rows of a platform without a rule.
INSERT INTO st2 VALUES ('slack', '{"event_id": "E1"}'), ('slack', '{"event_id": "E2"}'), ('slack', '{"event_id": "E2"}'),
                       ('other', '{}'), ('other', '{}'), ('num', '{"n": 2.000}');
SELECT * FROM rollup.ingest('ev2', 'st2');
-- A unique constraint of the user's, outside the rules, is skipped on too.
ALTER TABLE ev2 ADD CONSTRAINT ev2_note_key UNIQUE (note);
INSERT INTO st2 VALUES ('other', '{}', 'n1'), ('other', '{}', 'n1'), ('other', '{}', 'n2');
SELECT * FROM rollup.ingest('ev2', 'st2');
-- A BEFORE INSERT trigger that rewrites keys: rows equal in the batch but not once inserted
-- are both stored, rows different in the batch but equal once inserted are stored once.
CREATE FUNCTION ev2_suffix() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.payload := jsonb_set(NEW.payload, '{event_id}', to_jsonb((NEW.payload->>'event_id') || coalesce(NEW.note, '')));
    RETURN NEW;
END $$;
CREATE TRIGGER ev2_suffix BEFORE INSERT ON ev2 FOR EACH ROW WHEN (NEW.platform = 'slack') EXECUTE FUNCTION ev2_suffix();
INSERT INTO st2 VALUES ('slack', '{"event_id": "E5"}', 'a'), ('slack', '{"event_id": "E5"}', 'b'),
                       ('slack', '{"event_id": "E6x"}', NULL), ('slack', '{"event_id": "E6"}', 'x');
SELECT * FROM rollup.ingest('ev2', 'st2');
DROP TRIGGER ev2_suffix ON ev2;
-- A staging table whose payload is json, not jsonb: its keys are not compared before insert.
CREATE TABLE st3 (platform text, payload json);
INSERT INTO st3 VALUES ('slack', '{"event_id": "E7"}'), ('slack', '{"event_id":"E7"}'), ('slack', '{"event_id": "E1"}');
SELECT * FROM rollup.ingest('ev2', 'st3');
SELECT platform, payload, note FROM ev2 ORDER BY id;
-- Text keys are indexed with text_pattern_ops (bytewise comparisons: cheaper inserts, the same
-- equality under a deterministic collation); a key of another type keeps its default operator
-- class (and so does a text key under a nondeterministic collation: events_icu).
SELECT i.indexrelid::regclass AS index,
       (SELECT array_agg(o.opcname ORDER BY u.k) FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS u(c, k)
        JOIN pg_opclass o ON o.oid = u.c) AS opclasses
FROM pg_index i WHERE i.indrelid = 'ev2'::regclass AND i.indpred IS NOT NULL ORDER BY i.indexrelid::regclass::text;
-- A lookup by a text key uses the rule's index.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ev2 WHERE platform = 'slack' AND payload->>'event_id' = 'E1';
RESET enable_seqscan;
-- Choosing the operator class parses a key, it does not run it.
CREATE FUNCTION ev2_loud(j jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'ev2_loud ran';
    RETURN j->>'x';
END $$;
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('ev2', 'loud', keys => ARRAY['public.ev2_loud(payload)'])$$);
-- Names in keys are read with the function's fixed search_path: an unqualified function of
-- the user's is not found, and the error says how to name it.
DO $$
DECLARE
    hint text;
BEGIN
    PERFORM rollup.add_uniqueness_rule('ev2', 'loud', keys => ARRAY['ev2_loud(payload)']);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '%: % (hint: %)', SQLSTATE, SQLERRM, hint;
END $$;
DROP FUNCTION ev2_loud(jsonb);
-- A rule's index cannot be dropped on its own; dropping the events table drops its rules.
SELECT pg_temp.error_of('DROP INDEX ev2_slack_uniq');
DROP TABLE ev2, st3;
SELECT count(*) AS rules_of_dropped_tables FROM rollup.uniqueness_rules r
WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = r.events_table);

-- Rule validation, and removal drops the index.
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'slack', platform_column => 'plat''form', payload_column => 'body')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'nosuch', platform_column => 'plat''form')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'y', keys => ARRAY['body->>''a'' FROM pg_class'], platform_column => 'plat''form')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'y', keys => ARRAY['1); DROP TABLE staging; --'], platform_column => 'plat''form')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'y', keys => ARRAY['body->>''a'''], platform_column => 'nope')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'y', keys => ARRAY[]::text[], platform_column => 'plat''form')$$);
SELECT pg_temp.error_of($$SELECT rollup.drop_uniqueness_rule('"bot; data"."events "" x"', 'nosuch')$$);
SELECT rollup.drop_uniqueness_rule('"bot; data"."events "" x"', $$x'); DROP TABLE pg_temp.t; --$$);
SELECT rollup.drop_uniqueness_rule('"bot; data"."events "" x"', 'kik');
-- A platform whose name makes the index name longer than 63 bytes (multi-byte characters).
SELECT octet_length(rollup.add_uniqueness_rule('"bot; data"."events "" x"', repeat('плат', 10), keys => ARRAY['body->>''z'''],
                                               platform_column => 'plat''form')) AS index_name_bytes;
SELECT count(*) AS index_exists FROM rollup.uniqueness_rules r JOIN pg_class c ON c.relname = r.index_name
WHERE r.platform = repeat('плат', 10);
SELECT rollup.drop_uniqueness_rule('"bot; data"."events "" x"', repeat('плат', 10));
SELECT platform FROM rollup.uniqueness_rules ORDER BY platform;
SELECT count(*) AS partial_indexes FROM pg_index WHERE indrelid = '"bot; data"."events "" x"'::regclass AND indpred IS NOT NULL;
SELECT count(*) AS staging_still_there FROM staging;

-- Another role can neither see nor change the rules of a table it does not own.
CREATE ROLE events_other_test;
GRANT USAGE ON SCHEMA "bot; data" TO events_other_test;
SET ROLE events_other_test;
SELECT count(*) AS rules_visible FROM rollup.uniqueness_rules;
SELECT pg_temp.error_of($$SELECT rollup.drop_uniqueness_rule('"bot; data"."events "" x"', 'slack')$$);
SELECT pg_temp.error_of($$SELECT rollup.add_uniqueness_rule('"bot; data"."events "" x"', 'zz', keys => ARRAY['body'], platform_column => 'plat''form')$$);
SELECT pg_temp.error_of($$DELETE FROM rollup.uniqueness_rules$$), (SELECT count(*) FROM rollup.uniqueness_rules) AS still_none_visible;
-- Its own table's rules it manages, and they go when it drops the table.
CREATE TEMP TABLE own_events (platform text, payload jsonb);
SELECT rollup.add_uniqueness_rule('own_events', 'kik', preset => 'kik') IS NOT NULL AS added;
SELECT count(*) AS own_rules_visible FROM rollup.uniqueness_rules;
DROP TABLE own_events;
RESET ROLE;
SELECT count(*) AS rules_kept, count(*) FILTER (WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = events_table)) AS rules_of_dropped_tables
FROM rollup.uniqueness_rules;
REVOKE USAGE ON SCHEMA "bot; data" FROM events_other_test;
DROP ROLE events_other_test;
