-- pg_rollup 0.5.0 -> 0.6.0
-- Runs do not JIT-compile their statements (compiling them took ~0.2 s a run).

ALTER FUNCTION rollup._run_chain(rollup.rollups, bigint, bigint, boolean) SET jit = off;
ALTER FUNCTION rollup._explain(rollup.rollups) SET jit = off;
