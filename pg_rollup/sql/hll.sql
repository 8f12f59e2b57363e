-- hll: HyperLogLog distinct counting, a drop-in for postgresql-hll.
-- Same names, signatures, operators and stored bytes; stricter input validation; an equality
-- operator class for GROUP BY / DISTINCT / indexes; parallel-safe aggregates whose state
-- grows with its content.

CREATE TYPE hll;

CREATE FUNCTION hll_in(cstring, oid, integer) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_in' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_out(hll) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_recv(internal) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_recv' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
-- The binary form is the stored bytes, sent as bytea sends them.
CREATE FUNCTION hll_send(hll) RETURNS bytea
    AS 'byteasend' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_typmod_in' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_typmod_out(integer) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_typmod_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE TYPE hll (
    INTERNALLENGTH = variable,
    INPUT = hll_in,
    OUTPUT = hll_out,
    TYPMOD_IN = hll_typmod_in,
    TYPMOD_OUT = hll_typmod_out,
    RECEIVE = hll_recv,
    SEND = hll_send,
    STORAGE = external
);

-- Length coercion: a value must carry the parameters of the column's typmod.
CREATE FUNCTION hll(hll, integer, boolean) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_typmod_cast' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE CAST (hll AS hll) WITH FUNCTION hll(hll, integer, boolean) AS IMPLICIT;

-- bytea -> hll validates the bytes (postgresql-hll's cast is binary and accepts anything).
CREATE FUNCTION hll_from_bytea(bytea) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_from_bytea' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE CAST (bytea AS hll) WITH FUNCTION hll_from_bytea(bytea);
CREATE CAST (hll AS bytea) WITHOUT FUNCTION;

-- hll_hashval: a 64-bit hash, stored like bigint.
CREATE TYPE hll_hashval;
CREATE FUNCTION hll_hashval_in(cstring, oid, integer) RETURNS hll_hashval
    AS 'int8in' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hashval_out(hll_hashval) RETURNS cstring
    AS 'int8out' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE TYPE hll_hashval (
    INTERNALLENGTH = 8,
    PASSEDBYVALUE,
    ALIGNMENT = double,
    INPUT = hll_hashval_in,
    OUTPUT = hll_hashval_out
);
CREATE FUNCTION hll_hashval_eq(hll_hashval, hll_hashval) RETURNS boolean
    AS 'int8eq' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hashval_ne(hll_hashval, hll_hashval) RETURNS boolean
    AS 'int8ne' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hashval(bigint) RETURNS hll_hashval
    AS 'int8up' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hashval_int4(integer) RETURNS hll_hashval
    AS 'int48' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR = (
    LEFTARG = hll_hashval, RIGHTARG = hll_hashval, PROCEDURE = hll_hashval_eq,
    COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel, MERGES
);
CREATE OPERATOR <> (
    LEFTARG = hll_hashval, RIGHTARG = hll_hashval, PROCEDURE = hll_hashval_ne,
    COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE CAST (bigint AS hll_hashval) WITHOUT FUNCTION;
CREATE CAST (integer AS hll_hashval) WITH FUNCTION hll_hashval_int4(integer);

-- Equality and ordering of stored bytes (the order is only there for btree indexes and
-- sort-based GROUP BY; it means nothing about cardinalities).
CREATE FUNCTION hll_eq(hll, hll) RETURNS boolean
    AS 'byteaeq' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_ne(hll, hll) RETURNS boolean
    AS 'byteane' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_lt(hll, hll) RETURNS boolean
    AS 'bytealt' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_le(hll, hll) RETURNS boolean
    AS 'byteale' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_gt(hll, hll) RETURNS boolean
    AS 'byteagt' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_ge(hll, hll) RETURNS boolean
    AS 'byteage' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_cmp(hll, hll) RETURNS integer
    AS 'byteacmp' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_hash(hll) RETURNS integer
    AS 'hashvarlena' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hll_hash_extended(hll, bigint) RETURNS bigint
    AS 'hashvarlenaextended' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR = (
    LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_eq,
    COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
    LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_ne,
    COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
    LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_lt,
    COMMUTATOR = '>', NEGATOR = '>=', RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
    LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_le,
    COMMUTATOR = '>=', NEGATOR = '>', RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
    LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_gt,
    COMMUTATOR = '<', NEGATOR = '<=', RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
    LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_ge,
    COMMUTATOR = '<=', NEGATOR = '<', RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR CLASS hll_ops DEFAULT FOR TYPE hll USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 hll_cmp(hll, hll);
CREATE OPERATOR CLASS hll_hash_ops DEFAULT FOR TYPE hll USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 hll_hash(hll),
    FUNCTION 2 hll_hash_extended(hll, bigint);

-- Scalar functions.
CREATE FUNCTION hll_cardinality(hll) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_cardinality' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_union(hll, hll) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_union' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_add(hll, hll_hashval) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_add_rev(hll_hashval, hll) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add_rev' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_print(hll) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_print' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- hll_empty and the defaulted aggregate forms read the session defaults (hll_set_defaults),
-- so they are STABLE, not IMMUTABLE.
CREATE FUNCTION hll_empty() RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_empty' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION hll_empty(integer) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_empty' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION hll_empty(integer, integer) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_empty' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION hll_empty(integer, integer, bigint) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_empty' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION hll_empty(integer, integer, bigint, integer) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_empty' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Metadata.
CREATE FUNCTION hll_schema_version(hll) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_schema_version' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_type(hll) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_type' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_log2m(hll) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_log2m' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_regwidth(hll) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_regwidth' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_expthresh(hll, OUT specified bigint, OUT effective bigint)
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_expthresh' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_sparseon(hll) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_sparseon' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Session settings (postgresql-hll's API; they change this backend only).
CREATE FUNCTION hll_set_output_version(integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_set_output_version' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION hll_set_max_sparse(integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_set_max_sparse' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION hll_set_defaults(IN i_log2m integer, IN i_regwidth integer, IN i_expthresh bigint,
                                 IN i_sparseon integer, OUT o_log2m integer, OUT o_regwidth integer,
                                 OUT o_expthresh bigint, OUT o_sparseon integer)
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_set_defaults' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- Hashing: MurmurHash3 x64-128 (low 64 bits) of the same bytes postgresql-hll hashes.
CREATE FUNCTION hll_hash_boolean(boolean, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_1byte' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hash_smallint(smallint, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_2byte' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hash_integer(integer, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_4byte' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hash_bigint(bigint, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_8byte' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hash_bytea(bytea, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_varlena' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hash_text(text, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_varlena' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_hash_any(anyelement, integer DEFAULT 0) RETURNS hll_hashval
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_hash_any' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE OPERATOR || (LEFTARG = hll, RIGHTARG = hll, PROCEDURE = hll_union);
CREATE OPERATOR || (LEFTARG = hll, RIGHTARG = hll_hashval, PROCEDURE = hll_add);
CREATE OPERATOR || (LEFTARG = hll_hashval, RIGHTARG = hll, PROCEDURE = hll_add_rev);
CREATE OPERATOR # (RIGHTARG = hll, PROCEDURE = hll_cardinality);

-- Aggregates. The state is `internal`: a sketch in the aggregate memory context that grows
-- with its content (explicit hashes, then sparse, then one byte per register). Serialized
-- partial states use the storage format itself: versioned, big-endian, validated on load.
CREATE FUNCTION hll_union_trans(internal, hll) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_union_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_add_trans0(internal, hll_hashval) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_add_trans1(internal, hll_hashval, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_add_trans2(internal, hll_hashval, integer, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_add_trans3(internal, hll_hashval, integer, integer, bigint) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_add_trans4(internal, hll_hashval, integer, integer, bigint, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_union_internal(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_union_internal' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION hll_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_serialize' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_deserialize' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION hll_pack(internal) RETURNS hll
    AS 'MODULE_PATHNAME', 'pg_rollup_hll_pack' LANGUAGE C PARALLEL SAFE;

-- SSPACE: what a state is taken to grow to. States start small (an explicit set) and live in
-- the aggregate memory context, but hash aggregation checks that memory only when a group is
-- created: the groups it holds when it starts to spill keep growing after that. It holds at
-- most work_mem × hash_mem_multiplier / SSPACE groups; at 1 kB, groups of every size stay
-- within about twice that memory (a dense sketch, log2m 11, is 2 kB) and groups of a few
-- values do not spill early (BENCHMARKS.md, "Memory of GROUP BY").
CREATE AGGREGATE hll_union_agg(hll) (
    SFUNC = hll_union_trans, STYPE = internal, SSPACE = 1024, FINALFUNC = hll_pack,
    COMBINEFUNC = hll_union_internal, SERIALFUNC = hll_serialize, DESERIALFUNC = hll_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE hll_add_agg(hll_hashval) (
    SFUNC = hll_add_trans0, STYPE = internal, SSPACE = 1024, FINALFUNC = hll_pack,
    COMBINEFUNC = hll_union_internal, SERIALFUNC = hll_serialize, DESERIALFUNC = hll_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE hll_add_agg(hll_hashval, integer) (
    SFUNC = hll_add_trans1, STYPE = internal, SSPACE = 1024, FINALFUNC = hll_pack,
    COMBINEFUNC = hll_union_internal, SERIALFUNC = hll_serialize, DESERIALFUNC = hll_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE hll_add_agg(hll_hashval, integer, integer) (
    SFUNC = hll_add_trans2, STYPE = internal, SSPACE = 1024, FINALFUNC = hll_pack,
    COMBINEFUNC = hll_union_internal, SERIALFUNC = hll_serialize, DESERIALFUNC = hll_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE hll_add_agg(hll_hashval, integer, integer, bigint) (
    SFUNC = hll_add_trans3, STYPE = internal, SSPACE = 1024, FINALFUNC = hll_pack,
    COMBINEFUNC = hll_union_internal, SERIALFUNC = hll_serialize, DESERIALFUNC = hll_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE hll_add_agg(hll_hashval, integer, integer, bigint, integer) (
    SFUNC = hll_add_trans4, STYPE = internal, SSPACE = 1024, FINALFUNC = hll_pack,
    COMBINEFUNC = hll_union_internal, SERIALFUNC = hll_serialize, DESERIALFUNC = hll_deserialize,
    PARALLEL = SAFE
);

