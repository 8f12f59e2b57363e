-- The extension is created by pg_regress (--load-extension=pg_rollup).
SELECT extname, extrelocatable FROM pg_extension WHERE extname = 'pg_rollup';
SELECT rollup.version() = (SELECT extversion FROM pg_extension WHERE extname = 'pg_rollup') AS version_matches;
-- The library can be dropped and created again in the same session.
DROP EXTENSION pg_rollup;
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname = 'rollup';
CREATE EXTENSION pg_rollup;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'rollup';
