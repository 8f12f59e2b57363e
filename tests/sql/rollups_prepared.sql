-- A prepared transaction that inserted rows holds the watermark back as an open one does: a run
-- before COMMIT PREPARED passes none of its ids, and its rows count once after it commits.
-- (The list of a relation's writers used to end at a prepared transaction's lock.)
CREATE TABLE pev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL, k text NOT NULL);
SELECT name FROM rollup.create_rollup('prep', 'pev', 'pev_5min', 'at', '5 minutes', ARRAY['k'], ARRAY['count(*) AS n']);
BEGIN;
INSERT INTO pev (at, k) SELECT '2026-05-01', 'prepared' FROM generate_series(1, 10);
PREPARE TRANSACTION 'pg_rollup_prepared_writer';
INSERT INTO pev (at, k) SELECT '2026-05-01', 'committed after it' FROM generate_series(1, 5);
SELECT rollup.run('prep', max_wait => '0') AS run_while_prepared;
SELECT watermark FROM rollup.progress WHERE name = 'prep';
COMMIT PREPARED 'pg_rollup_prepared_writer';
SELECT rollup.run('prep', max_wait => '0') AS run_after_commit_prepared;
SELECT k, n FROM pev_5min ORDER BY k;
SELECT rollup.drop_rollup('prep', drop_target => true);
DROP TABLE pev;
