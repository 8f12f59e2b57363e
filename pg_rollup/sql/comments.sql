-- What psql's \df+, \dT+ and \dv+ show for every object of the public API (the catalog tables are
-- commented where they are made). Loaded after everything else.

-- hll: types
COMMENT ON TYPE hll IS 'HyperLogLog sketch for estimating distinct counts; postgresql-hll''s type, with the same stored bytes and typmod hll(log2m, regwidth, expthresh, sparseon)';
COMMENT ON TYPE hll_hashval IS '64-bit hash of a value, to add to an hll; made by the hll_hash_* functions, or cast from bigint or integer';

-- hll: conversions
COMMENT ON FUNCTION hll(hll,integer,boolean) IS 'coerce an hll to a type modifier; raises unless the value has the log2m, regwidth, expthresh and sparseon of the typmod';
COMMENT ON FUNCTION hll_from_bytea(bytea) IS 'convert bytea to hll, validating the bytes (postgresql-hll''s cast accepts any bytes)';
COMMENT ON FUNCTION hll_hashval(bigint) IS 'convert a bigint to hll_hashval unchanged, to add hashes computed elsewhere';
COMMENT ON FUNCTION hll_hashval_int4(integer) IS 'convert an integer to hll_hashval (the integer to hll_hashval cast)';

-- hll: hashing (MurmurHash3 of the bytes postgresql-hll hashes: the same hashes)
COMMENT ON FUNCTION hll_hash_boolean(boolean,integer) IS 'hash a boolean for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_smallint(smallint,integer) IS 'hash a smallint for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_integer(integer,integer) IS 'hash an integer for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_bigint(bigint,integer) IS 'hash a bigint for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_bytea(bytea,integer) IS 'hash a bytea for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_text(text,integer) IS 'hash a text for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_any(anyelement,integer) IS 'hash a value of any type for hll, over the bytes postgresql-hll hashes; the second argument is the hash seed (default 0)';

-- hll: sketches
COMMENT ON FUNCTION hll_cardinality(hll) IS 'estimated number of distinct values in an hll (the # operator); a maximum-likelihood estimate, which can differ slightly from postgresql-hll''s for dense sketches';
COMMENT ON FUNCTION hll_union(hll,hll) IS 'union of two hll sketches (the hll || hll operator); they must have the same parameters';
COMMENT ON FUNCTION hll_add(hll,hll_hashval) IS 'add a hashed value to an hll (the hll || hll_hashval operator)';
COMMENT ON FUNCTION hll_add_rev(hll_hashval,hll) IS 'add a hashed value to an hll, arguments reversed (the hll_hashval || hll operator)';
COMMENT ON FUNCTION hll_print(hll) IS 'debugging text of an hll: its representation, parameters and contents, laid out as postgresql-hll prints them';
COMMENT ON FUNCTION hll_empty() IS 'empty hll with the session''s default parameters (hll_set_defaults)';
COMMENT ON FUNCTION hll_empty(integer) IS 'empty hll with the given log2m, and the session''s defaults for the other parameters';
COMMENT ON FUNCTION hll_empty(integer,integer) IS 'empty hll with the given log2m and regwidth, and the session''s defaults for expthresh and sparseon';
COMMENT ON FUNCTION hll_empty(integer,integer,bigint) IS 'empty hll with the given log2m, regwidth and expthresh, and the session''s default sparseon';
COMMENT ON FUNCTION hll_empty(integer,integer,bigint,integer) IS 'empty hll with the given log2m, regwidth, expthresh and sparseon';

-- hll: metadata
COMMENT ON FUNCTION hll_schema_version(hll) IS 'storage specification version of an hll (1)';
COMMENT ON FUNCTION hll_type(hll) IS 'representation of an hll, numbered as in postgresql-hll: 0 undefined, 1 empty, 2 explicit, 3 sparse, 4 full';
COMMENT ON FUNCTION hll_log2m(hll) IS 'log2m parameter of an hll: the base-2 logarithm of its number of registers';
COMMENT ON FUNCTION hll_regwidth(hll) IS 'regwidth parameter of an hll: the width of each register in bits';
COMMENT ON FUNCTION hll_expthresh(hll) IS 'explicit threshold of an hll: as specified (-1: automatic), and the number of hashes it keeps explicitly in effect';
COMMENT ON FUNCTION hll_sparseon(hll) IS 'sparseon parameter of an hll: 1 if it may be stored sparse, 0 if not';

-- hll: session settings (postgresql-hll's; they change this session only)
COMMENT ON FUNCTION hll_set_defaults(integer,integer,bigint,integer) IS 'set the session''s default log2m, regwidth, expthresh and sparseon, used by hll_empty and hll_add_agg; returns the previous defaults';
COMMENT ON FUNCTION hll_set_max_sparse(integer) IS 'set the session''s largest number of filled registers stored sparse (-1: sparse while smaller than full); returns the previous value';
COMMENT ON FUNCTION hll_set_output_version(integer) IS 'postgresql-hll''s output version setting; version 1 is the only one, so it accepts and returns 1';

-- hll: aggregates
COMMENT ON AGGREGATE hll_add_agg(hll_hashval) IS 'hll of the hashed values, with the session''s default parameters (hll_set_defaults)';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer) IS 'hll of the hashed values, with the given log2m and the session''s defaults for the other parameters';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer) IS 'hll of the hashed values, with the given log2m and regwidth and the session''s defaults for expthresh and sparseon';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer,bigint) IS 'hll of the hashed values, with the given log2m, regwidth and expthresh and the session''s default sparseon';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer,bigint,integer) IS 'hll of the hashed values, with the given log2m, regwidth, expthresh and sparseon';
COMMENT ON AGGREGATE hll_union_agg(hll) IS 'union of hll sketches: an hll of every value any of them counts';

-- topn: type and conversions
COMMENT ON TYPE topn IS 'most frequent items (Space-Saving), with a lower and an upper bound on each item''s count; takes postgresql-topn''s queries, and converts from its jsonb';
COMMENT ON FUNCTION topn(jsonb) IS 'convert a postgresql-topn jsonb map {item: count} to topn: counts become lower bounds; in a full map the smallest count bounds the dropped items';
COMMENT ON FUNCTION topn_from_bytea(bytea) IS 'convert bytea to topn, validating the bytes';
COMMENT ON FUNCTION topn_to_jsonb(topn) IS 'postgresql-topn''s jsonb map {item: frequency} of a topn, frequencies being lower bounds (the topn to jsonb cast)';
COMMENT ON FUNCTION topn_to_json_text(topn) IS 'postgresql-topn''s map {"item": frequency} of a topn as text, frequencies being lower bounds';

-- topn: sketches
COMMENT ON FUNCTION topn_add(topn,text) IS 'add one occurrence of an item to a topn';
COMMENT ON FUNCTION topn_add(topn,text,bigint) IS 'add an item to a topn with a weight: the number of occurrences, a non-negative bigint';
COMMENT ON FUNCTION topn_union(topn,topn) IS 'union of two topn sketches, keeping the bounds (the + operator)';
COMMENT ON FUNCTION topn_add(jsonb,text) IS 'postgresql-topn''s topn_add on a jsonb map: the map with one occurrence of the item added (a NULL map takes it)';
COMMENT ON FUNCTION topn_union(jsonb,jsonb) IS 'postgresql-topn''s topn_union on jsonb maps: the union as a map';
COMMENT ON FUNCTION topn_total(topn) IS 'total weight of the items added to a topn (of a converted jsonb map: the sum of its counts)';
COMMENT ON FUNCTION topn_error_bound(topn) IS 'bound on the count of every item a topn does not list, and on each listed item''s upper minus lower bound';
COMMENT ON FUNCTION topn_counters(topn) IS 'number of counters of a topn: how many items it stores';

-- topn: reading the top n
COMMENT ON FUNCTION topn(topn,integer) IS 'the n most frequent items of a topn as rows (item, frequency), frequency being the lower bound; postgresql-topn''s reader';
COMMENT ON FUNCTION topn(jsonb,integer) IS 'the n most frequent items of a postgresql-topn jsonb map as rows (item, frequency), read as by topn(topn(map), n)';
COMMENT ON FUNCTION topn_bounds(topn,integer) IS 'the n most frequent items of a topn as rows (item, frequency, lower_bound, upper_bound, guaranteed); guaranteed means surely in the true top n';
COMMENT ON FUNCTION topn_columns(topn,integer) IS 'the n most frequent items of a topn as arrays: items, lower bounds, upper bounds, and whether each is surely in the true top n';
COMMENT ON FUNCTION topn_items(topn,integer) IS 'the n most frequent items of a topn as a text array; not set-returning, so it works where an SRF over an aggregate does not (Citus)';
COMMENT ON FUNCTION topn_jsonb(topn,integer) IS 'the n most frequent items of a topn as a jsonb array of {item, frequency, upper_bound, guaranteed}; not set-returning';

-- topn: aggregates
COMMENT ON AGGREGATE topn_add_agg(text) IS 'topn of the items, with topn.number_of_counters counters (default 1000)';
COMMENT ON AGGREGATE topn_add_agg(text,integer) IS 'topn of the items, with the given number of counters (a constant), which distributed plans need';
COMMENT ON AGGREGATE topn_add_agg(text,bigint) IS 'topn of the items, each added with the given bigint weight, with topn.number_of_counters counters';
COMMENT ON AGGREGATE topn_add_agg(text,bigint,integer) IS 'topn of the items, each added with the given bigint weight, with the given number of counters (a constant)';
COMMENT ON AGGREGATE topn_union_agg(topn) IS 'union of topn sketches, keeping the bounds';
COMMENT ON AGGREGATE topn_union_agg(jsonb) IS 'union of postgresql-topn jsonb maps as a topn, each map converted as by topn(jsonb)';

-- events: uniqueness rules and ingest
COMMENT ON FUNCTION rollup.uniqueness_presets() IS 'the shipped uniqueness rule presets: name, platform, key expressions over {payload} (the payload column) and description';
COMMENT ON FUNCTION rollup.add_uniqueness_rule(regclass,text,text[],text,name,name) IS 'make events of a platform unique by key expressions (or a preset''s), with a partial unique index it creates; returns the index''s name';
COMMENT ON FUNCTION rollup.drop_uniqueness_rule(regclass,text) IS 'drop the uniqueness rule of a platform of an events table, and its index';
COMMENT ON FUNCTION rollup.ingest(regclass,regclass,regclass,boolean) IS 'move a staging table''s rows into an events table, skipping duplicates; bad events go to rejects_table or are an error; returns (inserted, duplicates, rejected)';
COMMENT ON FUNCTION rollup.ingest_json(regclass,jsonb,regclass) IS 'insert a jsonb array of row objects {column: value} into an events table, skipping duplicates; returns (inserted, duplicates, rejected)';
COMMENT ON FUNCTION rollup.create_ingest_view(regclass,text,regclass) IS 'create a view that COPY or INSERT loads: it stores each event once in the events table and rejects bad events as rollup.ingest does';

-- rollups
COMMENT ON FUNCTION rollup.version() IS 'version of the installed pg_rollup library';
COMMENT ON FUNCTION rollup.create_rollup(text,regclass,text,name,interval,text[],text[],text,name,bigint,name,bigint,boolean,text,timestamp without time zone,text) IS 'define a rollup that aggregates a source table by dimensions and time bucket into a target table, created if missing; returns the definition';
COMMENT ON FUNCTION rollup.alter_rollup(text,bigint,text,interval,interval,text[],boolean) IS 'change a rollup in place: batch size, schedule, retention, new measures (filled from the source rows still present); a NULL argument keeps its setting';
COMMENT ON FUNCTION rollup.drop_rollup(text,boolean) IS 'drop a rollup and its pg_cron job; the second argument (drop_target) drops its target table too';
COMMENT ON FUNCTION rollup.run(text,interval) IS 'aggregate the source rows not yet rolled up (at most batch_size) into a rollup, as its owner; returns their number; max_wait bounds the wait for writers';
COMMENT ON FUNCTION rollup.reset(text,boolean) IS 'empty a rollup''s target and its levels and recompute them from the source rows still present; force: even after retention deleted aggregated rows';
COMMENT ON FUNCTION rollup.explain_run(text) IS 'plans of the statements the next rollup.run of a rollup executes, a line per row';
COMMENT ON FUNCTION rollup.create_search_sessions(text,regclass,text,name[],name,name,interval,name[],name,bigint,bigint,boolean) IS 'define a search-session stage: instant-search requests (a row per keystroke) collapsed into a row per search, with its final query, in a target table it creates; run, schedule and read it like a rollup';
COMMENT ON FUNCTION rollup.load_history(text,text) IS 'merge rows shaped like a rollup''s target, from a query, into the target and its levels; returns the number of rows read';

-- operations: catch-up, scheduling, retention, status, query views, verification
COMMENT ON PROCEDURE rollup.catch_up(text,bigint) IS 'run a rollup until it has caught up, a transaction per batch, then apply its retention; the second argument returns the source rows aggregated';
COMMENT ON FUNCTION rollup.job_command(text) IS 'the statement a scheduler runs for a rollup: CALL rollup.catch_up(name)';
COMMENT ON FUNCTION rollup.schedule(text,text) IS 'create or replace the pg_cron job that runs rollup.catch_up for a rollup on a cron schedule, as its owner; returns the job id';
COMMENT ON FUNCTION rollup.unschedule(text) IS 'remove the pg_cron job of a rollup; returns whether there was one';
COMMENT ON FUNCTION rollup.set_retention(text,interval,interval) IS 'set a rollup''s retention: source_grace for source rows every rollup has passed, target_keep for its rows by bucket age; NULL keeps them';
COMMENT ON PROCEDURE rollup.apply_retention(text,bigint,bigint) IS 'delete what the retention of a rollup and its levels allows, in transactions of at most batch_size rows; the last argument returns the rows deleted';
COMMENT ON VIEW rollup.status IS 'one row per rollup: watermark, pending rows and lag, last run, totals, last error and the last pg_cron job error';
COMMENT ON FUNCTION rollup.create_view(text,text,interval) IS 'create a query view over a level and the rollup it reads, each time range from one of them, and its range form view_name(range_start, range_end)';
COMMENT ON FUNCTION rollup.view_boundary(regclass,name,interval,interval,text,timestamp without time zone) IS 'boundary of a query view: the first level bucket the finer rollup holds completely (and, with fine_window, that starts within it of now)';
COMMENT ON FUNCTION rollup.view_boundary(regclass,name,interval,interval) IS 'boundary of the query views made by pg_rollup 0.3.0 and before (UTC buckets from 2000-01-03)';
COMMENT ON FUNCTION rollup.verify(text,timestamp with time zone,timestamp with time zone) IS 'differences between a rollup''s stored rows and a recomputation from its source, for buckets starting in [range_start, range_end); no row: verified';

-- qsketch
COMMENT ON TYPE qsketch IS 'quantile sketch: every percentile within its relative accuracy (1 % by default) of the exact value, merged exactly in any order; count, min and max exact';
COMMENT ON FUNCTION qsketch_from_bytea(bytea) IS 'convert bytea to qsketch, validating the bytes';
COMMENT ON FUNCTION qsketch_union(qsketch,qsketch) IS 'union of two qsketches made with the same accuracy (the + operator)';
COMMENT ON FUNCTION qsketch_percentile(qsketch,double precision) IS 'the value at quantile q (0 to 1), within the sketch''s relative accuracy of percentile_disc(q); NULL when empty';
COMMENT ON FUNCTION qsketch_percentiles(qsketch,double precision[]) IS 'the values at several quantiles, in the order given';
COMMENT ON FUNCTION qsketch_rank(qsketch,double precision) IS 'the share of the values at or below a value (0 to 1), as the sketch''s bins tell it; NULL when empty';
COMMENT ON FUNCTION qsketch_count(qsketch) IS 'the number of values counted, exact';
COMMENT ON FUNCTION qsketch_min(qsketch) IS 'the smallest value, exact; NULL when empty';
COMMENT ON FUNCTION qsketch_max(qsketch) IS 'the largest value, exact; NULL when empty';
COMMENT ON FUNCTION qsketch_sum(qsketch) IS 'the sum of the values (a float sum); NULL when empty';
COMMENT ON FUNCTION qsketch_mean(qsketch) IS 'the mean of the values (sum / count); NULL when empty';
COMMENT ON FUNCTION qsketch_relative_accuracy(qsketch) IS 'the relative accuracy every percentile of the sketch has (coarser than asked only for values spread over more than 17 orders of magnitude at 1 %)';
COMMENT ON AGGREGATE qsketch_add_agg(double precision) IS 'quantile sketch of values, 1 % relative accuracy';
COMMENT ON AGGREGATE qsketch_add_agg(double precision,double precision) IS 'quantile sketch of values with the relative accuracy given (a constant, 0.0001 to 0.5)';
COMMENT ON AGGREGATE qsketch_union_agg(qsketch) IS 'union of qsketches made with the same accuracy';
COMMENT ON FUNCTION qsketch_eq(qsketch,qsketch) IS 'same stored bytes (the = operator)';
COMMENT ON FUNCTION qsketch_ne(qsketch,qsketch) IS 'different stored bytes (the <> operator)';
COMMENT ON OPERATOR = (qsketch, qsketch) IS 'same stored bytes';
COMMENT ON OPERATOR <> (qsketch, qsketch) IS 'different stored bytes';
COMMENT ON OPERATOR + (qsketch, qsketch) IS 'union of two qsketches (qsketch_union)';
COMMENT ON OPERATOR CLASS qsketch_hash_ops USING hash IS 'hash of the stored bytes, for hash joins and hash aggregation';
COMMENT ON CAST (bytea AS qsketch) IS 'stored bytes to qsketch, validated (qsketch_from_bytea)';
COMMENT ON CAST (qsketch AS bytea) IS 'the stored bytes, unchanged';

-- schemas
COMMENT ON SCHEMA rollup IS 'pg_rollup''s API: uniqueness rules and ingest, rollups, their operation, the catalog tables and rollup.status';
COMMENT ON SCHEMA rollup_internal IS 'pg_rollup''s internal helpers, called by its functions and the statements they generate; not an API, may change in any release';

-- operators, their functions and operator classes
COMMENT ON OPERATOR = (hll_hashval, hll_hashval) IS 'equal hashes';
COMMENT ON OPERATOR <> (hll_hashval, hll_hashval) IS 'different hashes';
COMMENT ON FUNCTION hll_hashval_eq(hll_hashval,hll_hashval) IS 'equal hashes (the = operator)';
COMMENT ON FUNCTION hll_hashval_ne(hll_hashval,hll_hashval) IS 'different hashes (the <> operator)';
COMMENT ON OPERATOR = (hll, hll) IS 'same stored bytes (two sketches of the same set can differ in representation)';
COMMENT ON OPERATOR <> (hll, hll) IS 'different stored bytes';
COMMENT ON OPERATOR < (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON OPERATOR <= (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON OPERATOR > (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON OPERATOR >= (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON FUNCTION hll_eq(hll,hll) IS 'same stored bytes (the = operator)';
COMMENT ON FUNCTION hll_ne(hll,hll) IS 'different stored bytes (the <> operator)';
COMMENT ON OPERATOR || (hll, hll) IS 'union of two sketches (hll_union)';
COMMENT ON OPERATOR || (hll, hll_hashval) IS 'the sketch with a hash added (hll_add)';
COMMENT ON OPERATOR || (hll_hashval, hll) IS 'the sketch with a hash added (hll_add_rev)';
COMMENT ON OPERATOR # (NONE, hll) IS 'estimated distinct count (hll_cardinality)';
COMMENT ON OPERATOR CLASS hll_ops USING btree IS 'byte order of hll values, for indexes and sort-based grouping';
COMMENT ON OPERATOR CLASS hll_hash_ops USING hash IS 'hash of the stored bytes, for hash joins and hash aggregation';
COMMENT ON OPERATOR = (topn, topn) IS 'same stored bytes';
COMMENT ON OPERATOR <> (topn, topn) IS 'different stored bytes';
COMMENT ON OPERATOR < (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON OPERATOR <= (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON OPERATOR > (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON OPERATOR >= (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON FUNCTION topn_eq(topn,topn) IS 'same stored bytes (the = operator)';
COMMENT ON FUNCTION topn_ne(topn,topn) IS 'different stored bytes (the <> operator)';
COMMENT ON OPERATOR + (topn, topn) IS 'union of two sketches (topn_union)';
COMMENT ON OPERATOR CLASS topn_ops USING btree IS 'byte order of topn values, for indexes and sort-based grouping';
COMMENT ON OPERATOR CLASS topn_hash_ops USING hash IS 'hash of the stored bytes, for hash joins and hash aggregation';

-- casts
COMMENT ON CAST (hll AS hll) IS 'applies a column''s type modifier (hll(hll, integer, boolean))';
COMMENT ON CAST (bytea AS hll) IS 'stored bytes to hll, validated (hll_from_bytea)';
COMMENT ON CAST (hll AS bytea) IS 'the stored bytes, unchanged';
COMMENT ON CAST (bigint AS hll_hashval) IS 'a hash computed elsewhere, unchanged';
COMMENT ON CAST (integer AS hll_hashval) IS 'an integer as a hash, sign-extended (hll_hashval_int4)';
COMMENT ON CAST (bytea AS topn) IS 'stored bytes to topn, validated (topn_from_bytea)';
COMMENT ON CAST (topn AS bytea) IS 'the stored bytes, unchanged';
COMMENT ON CAST (jsonb AS topn) IS 'a postgresql-topn jsonb map of counts to a sketch (topn(jsonb))';
COMMENT ON CAST (topn AS jsonb) IS 'a sketch to a postgresql-topn style jsonb map of item to count (topn_to_jsonb); by assignment, as into a jsonb column';
