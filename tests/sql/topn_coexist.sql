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

-- The other order: a session that used pg_rollup first, then loads postgresql-topn. pg_rollup
-- leaves the setting to postgresql-topn when its library is installed (defining it first would
-- make postgresql-topn's definition fail); until that library is loaded, the value SET is read.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\i helpers.sql
SELECT dblink_connect('later', pg_temp.conninfo(current_database()));
SELECT * FROM dblink('later', $$SELECT topn_counters(topn_add_agg('a'))$$) AS r(before_any_set integer);
SELECT dblink_exec('later', 'SET topn.number_of_counters = 9');
SELECT * FROM dblink('later', $$SELECT topn_counters(topn_add_agg('a'))$$) AS r(set_before_topn_loads integer);
SELECT dblink_exec('later', 'LOAD ''topn''');
SELECT * FROM dblink('later', $$SELECT current_setting('topn.number_of_counters'), topn_counters(topn_add_agg('a'))$$) AS r(setting text, after_topn_loads integer);
SELECT dblink_exec('later', 'SET topn.number_of_counters = 4');
SELECT * FROM dblink('later', $$SELECT topn_counters(topn_add_agg(x::text)) FROM generate_series(1, 10) x$$) AS r(counters integer);
SELECT dblink_disconnect('later');
-- A value that is no number of counters, SET before any library defined the parameter: 22023
-- where it is used.
SELECT dblink_connect('later', pg_temp.conninfo(current_database()));
SELECT dblink_exec('later', 'SET topn.number_of_counters = ''many''');
SELECT pg_temp.error_of($$SELECT * FROM dblink('later', 'SELECT topn_counters(topn_add_agg(''a''))') AS r(c integer)$$) AS not_a_number;
SELECT dblink_disconnect('later');
