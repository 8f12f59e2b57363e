-- Uniqueness rules on a distributed events table: every rule's unique index includes the
-- distribution column (Citus refuses unique indexes without it); bulk ingest goes through the
-- coordinator, from a jsonb batch or a staging table, and drops duplicates within a batch,
-- across batches and between concurrent batches.
SET citus.next_shard_id TO 820000;
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1),
    account int NOT NULL,
    platform text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT '2026-05-01 00:00+00');
SELECT create_distributed_table('events', 'account');
SELECT rollup.add_uniqueness_rule('events', 'slack', preset => 'slack');
SELECT rollup.add_uniqueness_rule('events', 'messenger', preset => 'messenger');
SELECT rollup.add_uniqueness_rule('events', 'web', keys => ARRAY['payload->>''session''', 'payload->>''seq''']);
-- The indexes on the coordinator's table and on every shard.
SELECT indexname, regexp_replace(indexdef, 'events_[0-9]+', 'events_<shard>', 'g') AS indexdef
FROM pg_indexes WHERE tablename = 'events' ORDER BY 1;
SELECT DISTINCT regexp_replace(result, '_[0-9]{6}', '_<shard>', 'g') AS on_every_shard
FROM run_command_on_shards('events', $$SELECT string_agg(indexdef, E'\n' ORDER BY indexname) FROM pg_indexes WHERE tablename = '%s'$$);

-- One batch: an in-batch retry is dropped; the same event id in another account is another event.
SELECT * FROM rollup.ingest_json('events', $$[
  {"account": 1, "platform": "slack", "payload": {"event_id": "Ev1"}},
  {"account": 1, "platform": "slack", "payload": {"event_id": "Ev1"}},
  {"account": 2, "platform": "slack", "payload": {"event_id": "Ev1"}},
  {"account": 1, "platform": "messenger", "payload": {"message": {"mid": "m1"}}},
  {"account": 1, "platform": "messenger", "payload": {"message": {"mid": "m1", "num_edit": 1}}},
  {"account": 1, "platform": "web", "payload": {"session": "s", "seq": 1}}
]$$);
-- The next batch retries some of them.
SELECT * FROM rollup.ingest_json('events', $$[
  {"account": 1, "platform": "slack", "payload": {"event_id": "Ev1"}},
  {"account": 1, "platform": "messenger", "payload": {"message": {"mid": "m1", "num_edit": 1}}},
  {"account": 1, "platform": "web", "payload": {"session": "s", "seq": 2}}
]$$);
-- From a staging table (a plain table on the coordinator), with a rejects table.
CREATE TABLE staging (account int, platform text, payload jsonb);
CREATE TABLE rejects (reason text, event jsonb);
INSERT INTO staging VALUES
    (3, 'slack', '{"event_id": "Ev9"}'), (3, 'slack', '{"event_id": "Ev9"}'), (1, 'slack', '{"event_id": "Ev1"}'),
    (3, 'slack', '{"no_id": true}'), (4, 'telegram', '{"anything": 1}');
SELECT * FROM rollup.ingest('events', 'staging', rejects_table => 'rejects');
SELECT count(*) AS staging_left FROM staging;
SELECT reason, event FROM rejects;
SELECT account, platform, payload FROM events ORDER BY id;

-- Two sessions ingest overlapping batches at the same time: each event is stored once.
CREATE OR REPLACE FUNCTION connect_to(name text) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s port=%s host=127.0.0.1', current_database(), current_setting('port')))
$$;
SELECT connect_to('a'), connect_to('b');
CREATE TABLE batch AS
SELECT i % 7 AS account, 'slack' AS platform, jsonb_build_object('event_id', 'C' || i) AS payload
FROM generate_series(1, 3000) i;
SELECT dblink_send_query('a', $$SELECT inserted FROM rollup.ingest_json('events', (SELECT jsonb_agg(b) FROM batch b WHERE right(b.payload->>'event_id', 1) <> '7'))$$),
       dblink_send_query('b', $$SELECT inserted FROM rollup.ingest_json('events', (SELECT jsonb_agg(b) FROM batch b WHERE right(b.payload->>'event_id', 1) <> '3'))$$);
SELECT (SELECT a FROM dblink_get_result('a') AS r(a bigint)) + (SELECT b FROM dblink_get_result('b') AS r(b bigint)) AS inserted_by_both;
SELECT * FROM dblink_get_result('a') AS r(a bigint);
SELECT * FROM dblink_get_result('b') AS r(b bigint);
SELECT count(*) AS stored, count(DISTINCT (account, payload)) AS distinct_events
FROM events WHERE payload->>'event_id' LIKE 'C%';
SELECT dblink_disconnect('a'), dblink_disconnect('b');

-- Removing a rule drops its index everywhere.
SELECT rollup.drop_uniqueness_rule('events', 'web');
SELECT count(*) AS web_indexes FROM pg_indexes WHERE tablename = 'events' AND indexname LIKE '%web%';
SELECT DISTINCT result AS web_indexes_per_shard
FROM run_command_on_shards('events', $$SELECT count(*) FROM pg_indexes WHERE tablename = '%s' AND indexname LIKE '%%web%%'$$);

-- A distributed staging table (colocated with the events) works too.
CREATE TABLE staging_dist (account int NOT NULL, platform text, payload jsonb);
SELECT create_distributed_table('staging_dist', 'account', colocate_with => 'events');
INSERT INTO staging_dist VALUES (5, 'slack', '{"event_id": "D1"}'), (5, 'slack', '{"event_id": "D1"}'),
    (6, 'slack', '{"event_id": "D1"}'), (1, 'slack', '{"event_id": "Ev1"}');
SELECT * FROM rollup.ingest('events', 'staging_dist');
SELECT count(*) AS staging_left FROM staging_dist;
SELECT account, payload FROM events WHERE payload->>'event_id' = 'D1' ORDER BY account;

-- An ingest view over the distributed table: pg_rollup's loader does not write a Citus table, so
-- a COPY into the view goes through its trigger (rollup.ingest_json on the coordinator), with the
-- same outcome: each event once, the distribution column in every key.
SELECT rollup.create_ingest_view('events');
SELECT direct FROM rollup_internal.ingest_view_target('events_ingest');
COPY events_ingest (account, platform, payload) FROM stdin;
7	slack	{"event_id": "V1"}
7	slack	{"event_id": "V1"}
8	slack	{"event_id": "V1"}
1	slack	{"event_id": "Ev1"}
\.
SELECT account, payload FROM events WHERE payload->>'event_id' = 'V1' ORDER BY account;
DROP VIEW events_ingest;
