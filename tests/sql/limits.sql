-- Absurd parameters and inputs are refused with a clear error (and SQLSTATE) before anything
-- is allocated; hostile values where users pass names or expressions run nothing.
\i helpers.sql
SELECT q, pg_temp.error_of(q) AS error FROM unnest(ARRAY[
    'SELECT hll_empty(40)',
    'SELECT hll_empty(11, 9)',
    'SELECT hll_empty(11, 5, 4611686018427387904)',
    'SELECT hll_add_agg(hll_hash_integer(1), 40)',
    $$SELECT '\x148b7f'::hll(40)$$,
    $$SELECT topn_add_agg('x'::text, 1000000000)$$,
    $$SELECT topn_add_agg('x'::text, 0)$$,
    $$SELECT topn_add_agg('a') FROM (SELECT set_config('topn.number_of_counters', '1000000000', true)) s$$,
    $$SELECT topn_add_agg(repeat('x', 11000000))$$,
    $$SELECT topn_add(topn_add_agg('a'), repeat('x', 11000000))$$,
    $$SELECT length(topn_add_agg(repeat('x', 10485760))::bytea) > 10485760$$,
    $$SELECT rollup.run('nothing', max_wait => '-1 second')$$,
    $$SELECT rollup.create_rollup('big', 'pg_class', 'big_target', 'x', batch_size => 0)$$
]) q;

-- A hostile cron expression or rollup name is only ever a quoted value.
CREATE TABLE cron_victim (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), at timestamptz);
SELECT name FROM rollup.create_rollup('cron_target', 'cron_victim', 'cron_target_t', 'at');
DO $$
BEGIN
    PERFORM rollup.schedule('cron_target', $x$* * * * *'); DROP TABLE cron_victim; --$x$);
EXCEPTION WHEN OTHERS THEN
    DECLARE h text;
    BEGIN
        GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
        RAISE NOTICE '%: %', SQLSTATE, h;
    END;
END $$;
SELECT rollup.job_command('cron_target');
SELECT pg_temp.error_of($$SELECT rollup.job_command('x''); DROP TABLE cron_victim; --')$$);
SELECT count(*) AS cron_victim_still_there FROM cron_victim;
SELECT rollup.drop_rollup('cron_target', drop_target => true);
DROP TABLE cron_victim;
