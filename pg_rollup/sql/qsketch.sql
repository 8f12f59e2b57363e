-- qsketch: quantiles (percentiles) with a guaranteed relative error, merged exactly in any order.
-- A value's bin is within the sketch's relative accuracy (1 % by default) of every value it
-- holds, so every quantile read from a sketch, or from any union of sketches, is within that
-- accuracy of the exact one (percentile_disc); each sign keeps at most 2048 bins, and values
-- spread wider than that (over 17 orders of magnitude at 1 %) coarsen the bins uniformly, with
-- the accuracy the sketch reports (qsketch_relative_accuracy). Count, minimum and maximum are
-- exact. (SQL bodies name their functions with their schema: any search_path works.)

CREATE TYPE qsketch;
CREATE FUNCTION qsketch_in(cstring) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_in' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_out(qsketch) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_recv(internal) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_recv' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
-- The binary form is the stored bytes (version 2), sent as bytea sends them.
CREATE FUNCTION qsketch_send(qsketch) RETURNS bytea
    AS 'byteasend' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE TYPE qsketch (
    INTERNALLENGTH = variable,
    INPUT = qsketch_in,
    OUTPUT = qsketch_out,
    RECEIVE = qsketch_recv,
    SEND = qsketch_send,
    STORAGE = external
);

CREATE FUNCTION qsketch_from_bytea(bytea) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_from_bytea' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE CAST (bytea AS qsketch) WITH FUNCTION qsketch_from_bytea(bytea);
CREATE CAST (qsketch AS bytea) WITHOUT FUNCTION;

-- Equality of stored bytes (the stored form is canonical), for GROUP BY, DISTINCT, indexes.
CREATE FUNCTION qsketch_eq(qsketch, qsketch) RETURNS boolean
    AS 'byteaeq' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION qsketch_ne(qsketch, qsketch) RETURNS boolean
    AS 'byteane' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION qsketch_hash(qsketch) RETURNS integer
    AS 'hashvarlena' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (
    LEFTARG = qsketch, RIGHTARG = qsketch, PROCEDURE = qsketch_eq,
    COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR <> (
    LEFTARG = qsketch, RIGHTARG = qsketch, PROCEDURE = qsketch_ne,
    COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR CLASS qsketch_hash_ops DEFAULT FOR TYPE qsketch USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 qsketch_hash(qsketch);

-- Scalar functions.
CREATE FUNCTION qsketch_union(qsketch, qsketch) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_union' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR + (LEFTARG = qsketch, RIGHTARG = qsketch, PROCEDURE = qsketch_union, COMMUTATOR = '+');
CREATE FUNCTION qsketch_percentile(qsketch, double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_percentile' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_percentiles(qsketch, double precision[]) RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT pg_catalog.array_agg(@extschema@.qsketch_percentile($1, u.q) ORDER BY u.o)
          FROM pg_catalog.unnest($2) WITH ORDINALITY AS u(q, o) $$;
CREATE FUNCTION qsketch_rank(qsketch, double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_rank' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_count(qsketch) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_count' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_min(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_min' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_max(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_max' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_sum(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_sum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_mean(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_mean' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_relative_accuracy(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_relative_accuracy' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Aggregates. The state is a qsketch, held while aggregating as an expanded object (in a
-- memory context under the aggregate's, which hash aggregation counts); not `internal`, so
-- that Citus can aggregate on the workers and combine on the coordinator. A state holds the
-- bins between its smallest and largest value's, at most 2 × 2048 counts (32 kB): a few
-- hundred for values over a few orders of magnitude. SSPACE (what PostgreSQL takes a state to
-- grow to, as it checks memory only when a group is created) says 4 kB, what a group of tens
-- of values over three orders of magnitude reaches. qsketch_add_agg(value, relative_accuracy)
-- names the accuracy (a constant; 0.0001 to 0.5); sketches made with different accuracies do
-- not merge (42804).
CREATE FUNCTION qsketch_add_trans(qsketch, double precision) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION qsketch_add_trans(qsketch, double precision, double precision) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_add_trans_accuracy' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION qsketch_union_trans(qsketch, qsketch) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_union_trans' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE qsketch_add_agg(double precision) (
    SFUNC = qsketch_add_trans, STYPE = qsketch, SSPACE = 4096,
    COMBINEFUNC = qsketch_union_trans, PARALLEL = SAFE
);
CREATE AGGREGATE qsketch_add_agg(double precision, double precision) (
    SFUNC = qsketch_add_trans, STYPE = qsketch, SSPACE = 4096,
    COMBINEFUNC = qsketch_union_trans, PARALLEL = SAFE
);
CREATE AGGREGATE qsketch_union_agg(qsketch) (
    SFUNC = qsketch_union_trans, STYPE = qsketch, SSPACE = 4096,
    COMBINEFUNC = qsketch_union_trans, PARALLEL = SAFE
);
