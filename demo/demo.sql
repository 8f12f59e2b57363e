-- pg_rollup demo: run by ./pg_test.sh demo in a fresh database of the throwaway cluster.
\set QUIET on
\pset footer off
\timing off
\echo
\echo '== pg_rollup demo'
CREATE EXTENSION pg_rollup;
\echo 'CREATE EXTENSION pg_rollup: done'
SELECT rollup.version() AS pg_rollup_version, current_setting('server_version') AS postgres;
