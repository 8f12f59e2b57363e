-- pg_rollup 0.1.0 -> 0.2.0
-- rollup.run checks max_wait before looking up the rollup.
CREATE OR REPLACE FUNCTION rollup.run(rollup_name text, max_wait interval DEFAULT '1 second')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
BEGIN
    -- Parameters first: a bad max_wait is reported as such, whichever rollup is named.
    IF max_wait IS NULL OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_wait must be a non-negative interval' USING ERRCODE = '22023';
    END IF;
    r := rollup._get(coalesce(rollup._root(rollup_name), rollup_name));
    RETURN coalesce(rollup._run_once(r, least(extract(epoch FROM max_wait) * 1000, 3600000)::int), 0);
END
$$;
