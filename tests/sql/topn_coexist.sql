-- postgresql-topn's library loaded in the same session before pg_rollup's (a session that used
-- postgresql-topn first): pg_rollup does not define topn.number_of_counters a second time (an
-- internal error, XX000, before) but reads postgresql-topn's setting.
-- requires: topn
LOAD 'topn';
SHOW topn.number_of_counters;
SET topn.number_of_counters = 7;
SELECT topn_counters(topn_add_agg(x::text)) AS counters FROM generate_series(1, 20) x;
SELECT topn_counters(topn('{"a": 3, "b": 1}'::jsonb)) AS from_jsonb;
SELECT item, frequency FROM topn((SELECT topn_add_agg(x) FROM unnest(ARRAY['a', 'b', 'a', 'c', 'a', 'b']) x), 2);
RESET topn.number_of_counters;
SELECT topn_counters(topn_add_agg('a')) AS default_counters;
