-- Every input path of hll and topn, fed mutated values (tests/fuzz/sql_fuzz.sql): each input is
-- accepted and usable, or refused with a specific SQLSTATE; never XX000 (a panic) or a crash.
-- A small run here; ./pg_test.sh fuzz runs a million inputs per target.
\i fuzz/sql_fuzz.sql
CREATE TEMP TABLE outcomes AS SELECT * FROM pg_temp.fuzz(2000, 0.42);
SELECT target, outcome, inputs FROM outcomes ORDER BY 1, 2;
SELECT count(*) AS internal_errors FROM outcomes WHERE outcome = 'XX000';
SELECT sum(inputs) AS total_inputs FROM outcomes;
