-- topn: the most frequent items, with a lower and an upper bound on every reported count.
-- postgresql-topn's query surface (topn_add_agg, topn_union_agg, topn, topn_add, topn_union,
-- +, topn.number_of_counters) on a native, versioned type; jsonb converts both ways.

CREATE TYPE topn;

CREATE FUNCTION topn_in(cstring) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_in' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_out(topn) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_recv(internal) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_recv' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
-- The binary form is the stored bytes, sent as bytea sends them.
CREATE FUNCTION topn_send(topn) RETURNS bytea
    AS 'byteasend' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;

CREATE TYPE topn (
    INTERNALLENGTH = variable,
    INPUT = topn_in,
    OUTPUT = topn_out,
    RECEIVE = topn_recv,
    SEND = topn_send,
    STORAGE = extended
);

-- Casts: bytea (validated), and the jsonb {item: count} form postgresql-topn stores.
CREATE FUNCTION topn_from_bytea(bytea) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_from_bytea' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE CAST (bytea AS topn) WITH FUNCTION topn_from_bytea(bytea);
CREATE CAST (topn AS bytea) WITHOUT FUNCTION;

CREATE FUNCTION topn_to_json_text(topn) RETURNS text
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_to_json_text' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
-- A postgresql-topn map {"item": count, ...}: its counts become lower bounds; if it is full
-- (as many items as topn.number_of_counters) its smallest count bounds the items it dropped.
-- (A C function, so that the setting is defined even in a session that has not yet loaded the
-- library.)
CREATE FUNCTION topn(jsonb) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_from_jsonb' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE CAST (jsonb AS topn) WITH FUNCTION topn(jsonb);
CREATE FUNCTION topn_to_jsonb(topn) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT @extschema@.topn_to_json_text($1)::pg_catalog.jsonb $$;
-- By assignment, as postgresql-topn's aggregates returned jsonb: a sketch stored into a jsonb
-- column (or returned by a function declared RETURNS jsonb) is stored as the map.
CREATE CAST (topn AS jsonb) WITH FUNCTION topn_to_jsonb(topn) AS ASSIGNMENT;

-- Equality of stored bytes (the stored form is canonical), for GROUP BY, DISTINCT, indexes.
CREATE FUNCTION topn_eq(topn, topn) RETURNS boolean
    AS 'byteaeq' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_ne(topn, topn) RETURNS boolean
    AS 'byteane' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_lt(topn, topn) RETURNS boolean
    AS 'bytealt' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_le(topn, topn) RETURNS boolean
    AS 'byteale' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_gt(topn, topn) RETURNS boolean
    AS 'byteagt' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_ge(topn, topn) RETURNS boolean
    AS 'byteage' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_cmp(topn, topn) RETURNS integer
    AS 'byteacmp' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_hash(topn) RETURNS integer
    AS 'hashvarlena' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION topn_hash_extended(topn, bigint) RETURNS bigint
    AS 'hashvarlenaextended' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (
    LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_eq,
    COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
    LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_ne,
    COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_lt, COMMUTATOR = '>', NEGATOR = '>=');
CREATE OPERATOR <= (LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_le, COMMUTATOR = '>=', NEGATOR = '>');
CREATE OPERATOR > (LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_gt, COMMUTATOR = '<', NEGATOR = '<=');
CREATE OPERATOR >= (LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_ge, COMMUTATOR = '<=', NEGATOR = '<');
CREATE OPERATOR CLASS topn_ops DEFAULT FOR TYPE topn USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 topn_cmp(topn, topn);
CREATE OPERATOR CLASS topn_hash_ops DEFAULT FOR TYPE topn USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 topn_hash(topn),
    FUNCTION 2 topn_hash_extended(topn, bigint);

-- Scalar functions.
CREATE FUNCTION topn_add(topn, text) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_add' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_add(topn, text, bigint) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_add' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_union(topn, topn) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_union' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR + (LEFTARG = topn, RIGHTARG = topn, PROCEDURE = topn_union, COMMUTATOR = '+');
-- postgresql-topn's scalar functions on its jsonb maps, for columns that keep them: through the
-- sketch (a full map's smallest count bounds what it dropped) and back to a map. A NULL map
-- takes the item, as postgresql-topn's topn_add does.
CREATE FUNCTION topn_add(jsonb, text) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN $2 IS NULL THEN $1
                      ELSE @extschema@.topn_to_jsonb(@extschema@.topn_add(@extschema@.topn(coalesce($1, '{}'::pg_catalog.jsonb)), $2)) END $$;
CREATE FUNCTION topn_union(jsonb, jsonb) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE STRICT
    AS $$ SELECT @extschema@.topn_to_jsonb(@extschema@.topn_union(@extschema@.topn($1), @extschema@.topn($2))) $$;
CREATE FUNCTION topn_total(topn) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_total' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_error_bound(topn) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_error_bound' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_counters(topn) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_counters' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- (SQL bodies name their functions with their schema: they work whatever the caller's search_path.)
-- Reading the top n: the set-returning forms postgresql-topn has, and array/jsonb forms that
-- are not set-returning (they work where an SRF over an aggregate does not, as on Citus).
-- Items are ranked by the weight seen for them, their lower bound, which is the frequency
-- reported (exact for an item monitored since it first appeared; postgresql-topn reports the
-- same count); the true count lies between lower_bound and upper_bound; guaranteed means the
-- item is certainly among the n most frequent.
CREATE FUNCTION topn_columns(topn, integer, OUT items text[], OUT lower_bounds bigint[],
                             OUT upper_bounds bigint[], OUT guaranteed boolean[])
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_columns' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn(topn, integer) RETURNS TABLE (item text, frequency bigint)
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_rows' LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT ROWS 100;
CREATE FUNCTION topn(jsonb, integer) RETURNS TABLE (item text, frequency bigint)
    LANGUAGE sql STABLE PARALLEL SAFE STRICT ROWS 100
    AS $$ SELECT t.item, t.frequency FROM @extschema@.topn(@extschema@.topn($1), $2) t $$;
CREATE FUNCTION topn_bounds(topn, integer)
    RETURNS TABLE (item text, frequency bigint, lower_bound bigint, upper_bound bigint, guaranteed boolean)
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_rows' LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT ROWS 100;
CREATE FUNCTION topn_items(topn, integer) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT items FROM @extschema@.topn_columns($1, $2) $$;
CREATE FUNCTION topn_jsonb(topn, integer) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('item', u.item, 'frequency', u.lower_bound,
                                                        'upper_bound', u.upper_bound, 'guaranteed', u.guaranteed) ORDER BY u.rank), '[]')
          FROM @extschema@.topn_columns($1, $2) c,
               ROWS FROM (pg_catalog.unnest(c.items), pg_catalog.unnest(c.lower_bounds), pg_catalog.unnest(c.upper_bounds),
                          pg_catalog.unnest(c.guaranteed)) WITH ORDINALITY AS u(item, lower_bound, upper_bound, guaranteed, rank) $$;

-- Aggregates. The state is `internal`: a Space-Saving summary with a working set of three
-- times the counters, in the aggregate memory context; stored trimmed to the counters.
-- topn_add_agg(item) takes its counters from topn.number_of_counters (read on the first row);
-- topn_add_agg(item, counters integer) names them, which is what distributed plans need (a
-- SET does not reach Citus workers). Weights are bigint: topn_add_agg(item, weight::bigint).
-- SSPACE is what a state is taken to grow to (the size PostgreSQL assumes for an internal state
-- that declares none): states start small, but hash aggregation checks their memory only when a
-- group is created, and the groups it holds when it starts to spill keep growing after that.
-- At 8 kB it holds at most work_mem × hash_mem_multiplier / 8 kB groups; a group of a few
-- hundred items is that size (BENCHMARKS.md, "Memory of GROUP BY").
CREATE FUNCTION topn_add_trans(internal, text) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_add_trans(internal, text, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_add_trans_counters' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_add_trans(internal, text, bigint) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_add_trans_weighted' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_add_trans(internal, text, bigint, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_add_trans_weighted_counters' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_union_trans(internal, topn) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_union_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_union_trans(internal, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_union_trans_jsonb' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION topn_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_serialize' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_deserialize' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION topn_pack(internal) RETURNS topn
    AS 'MODULE_PATHNAME', 'pg_rollup_topn_pack' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE topn_add_agg(text) (
    SFUNC = topn_add_trans, STYPE = internal, SSPACE = 8192, FINALFUNC = topn_pack,
    COMBINEFUNC = topn_combine, SERIALFUNC = topn_serialize, DESERIALFUNC = topn_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE topn_add_agg(text, integer) (
    SFUNC = topn_add_trans, STYPE = internal, SSPACE = 8192, FINALFUNC = topn_pack,
    COMBINEFUNC = topn_combine, SERIALFUNC = topn_serialize, DESERIALFUNC = topn_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE topn_add_agg(text, bigint) (
    SFUNC = topn_add_trans, STYPE = internal, SSPACE = 8192, FINALFUNC = topn_pack,
    COMBINEFUNC = topn_combine, SERIALFUNC = topn_serialize, DESERIALFUNC = topn_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE topn_add_agg(text, bigint, integer) (
    SFUNC = topn_add_trans, STYPE = internal, SSPACE = 8192, FINALFUNC = topn_pack,
    COMBINEFUNC = topn_combine, SERIALFUNC = topn_serialize, DESERIALFUNC = topn_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE topn_union_agg(topn) (
    SFUNC = topn_union_trans, STYPE = internal, SSPACE = 8192, FINALFUNC = topn_pack,
    COMBINEFUNC = topn_combine, SERIALFUNC = topn_serialize, DESERIALFUNC = topn_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE topn_union_agg(jsonb) (
    SFUNC = topn_union_trans, STYPE = internal, SSPACE = 8192, FINALFUNC = topn_pack,
    COMBINEFUNC = topn_combine, SERIALFUNC = topn_serialize, DESERIALFUNC = topn_deserialize,
    PARALLEL = RESTRICTED
);
