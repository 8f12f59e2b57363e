-- Byte-for-byte compatibility with postgresql-hll, installed beside pg_rollup in schema pghll.
-- requires: hll
-- Every check counts mismatches; the expected output is 0 mismatches over N cases.
\set QUIET on
CREATE SCHEMA pghll;
CREATE EXTENSION hll SCHEMA pghll;
\set QUIET off

-- Parameter sets: every log2m 4..17 and regwidth 1..5, each with an explicit threshold and
-- sparseon picked by a fixed arithmetic pattern (auto, off, 1, 16, 256, 8192), plus a size
-- from 0 to 1M rows (1M only for a few, to keep the suite fast).
CREATE TEMP TABLE cases AS
SELECT row_number() OVER () AS id, log2m, regwidth,
       (ARRAY[-1, 0, 1, 16, 256, 8192])[1 + (log2m * 7 + regwidth * 3) % 6]::bigint AS expthresh,
       (log2m + regwidth) % 2 AS sparseon,
       (ARRAY[0, 1, 2, 7, 40, 160, 161, 500, 3000, 20000, 100000])[1 + (log2m * 5 + regwidth) % 11] AS n
FROM generate_series(4, 17) log2m, generate_series(1, 5) regwidth;
INSERT INTO cases (id, log2m, regwidth, expthresh, sparseon, n)
VALUES (1001, 11, 5, -1, 1, 1000000), (1002, 14, 4, 8192, 0, 1000000), (1003, 17, 5, -1, 1, 300000);

CREATE TEMP TABLE data AS
SELECT i, (hashint8(i) # (i << 17)) AS v FROM generate_series(1, 1000000) i;

CREATE TEMP TABLE sketches AS
SELECT c.id,
       hll_add_agg(hll_hash_bigint(d.v), c.log2m, c.regwidth, c.expthresh, c.sparseon) AS ours,
       pghll.hll_add_agg(pghll.hll_hash_bigint(d.v), c.log2m, c.regwidth, c.expthresh, c.sparseon) AS theirs
FROM cases c LEFT JOIN data d ON d.i <= c.n
GROUP BY c.id;

SELECT count(*) AS add_agg_cases,
       count(*) FILTER (WHERE ours::text IS DISTINCT FROM theirs::text) AS add_agg_mismatches,
       count(DISTINCT hll_type(ours)) AS representations_covered
FROM sketches;

-- hll_union_agg over 7 partial sketches of each case, in both extensions.
WITH parts AS (
    SELECT c.id, d.i % 7 AS part,
           hll_add_agg(hll_hash_bigint(d.v), c.log2m, c.regwidth, c.expthresh, c.sparseon) AS ours,
           pghll.hll_add_agg(pghll.hll_hash_bigint(d.v), c.log2m, c.regwidth, c.expthresh, c.sparseon) AS theirs
    FROM cases c JOIN data d ON d.i <= c.n
    WHERE c.n <= 100000
    GROUP BY c.id, d.i % 7
), unions AS (
    SELECT id, hll_union_agg(ours) AS ours, pghll.hll_union_agg(theirs) AS theirs FROM parts GROUP BY id
)
SELECT count(*) AS union_agg_cases,
       count(*) FILTER (WHERE u.ours::text IS DISTINCT FROM u.theirs::text) AS union_agg_mismatches,
       count(*) FILTER (WHERE u.ours::text IS DISTINCT FROM s.ours::text) AS union_differs_from_whole
FROM unions u JOIN sketches s USING (id);

-- Scalar hll_union of every pair of sketches with equal parameters, and hll_add / || of one
-- more hash to each.
SELECT count(*) AS scalar_union_cases,
       count(*) FILTER (WHERE hll_union(a.ours, b.ours)::text IS DISTINCT FROM pghll.hll_union(a.theirs, b.theirs)::text) AS union_mismatches
FROM sketches a JOIN cases ca ON ca.id = a.id
JOIN cases cb ON (cb.log2m, cb.regwidth, cb.expthresh, cb.sparseon) = (ca.log2m, ca.regwidth, ca.expthresh, ca.sparseon)
JOIN sketches b ON b.id = cb.id
WHERE a.ours IS NOT NULL AND b.ours IS NOT NULL;

SELECT count(*) AS add_cases,
       count(*) FILTER (WHERE hll_add(ours, hll_hash_integer(k))::text IS DISTINCT FROM pghll.hll_add(theirs, pghll.hll_hash_integer(k))::text) AS add_mismatches,
       count(*) FILTER (WHERE (hll_hash_integer(k) || ours)::text IS DISTINCT FROM (pghll.hll_hash_integer(k) OPERATOR(pghll.||) theirs)::text) AS add_rev_mismatches
FROM sketches, generate_series(1, 3) k
WHERE ours IS NOT NULL;

-- Every value postgresql-hll wrote loads, through text and through binary COPY, with the same
-- metadata.
SELECT count(*) AS loaded_from_text,
       count(*) FILTER (WHERE theirs::text::hll::text IS DISTINCT FROM theirs::text) AS text_mismatches,
       count(*) FILTER (WHERE (hll_log2m(theirs::text::hll), hll_regwidth(theirs::text::hll), hll_sparseon(theirs::text::hll), hll_type(theirs::text::hll), hll_schema_version(theirs::text::hll))
                   IS DISTINCT FROM (pghll.hll_log2m(theirs), pghll.hll_regwidth(theirs), pghll.hll_sparseon(theirs), pghll.hll_type(theirs), pghll.hll_schema_version(theirs))) AS metadata_mismatches,
       count(*) FILTER (WHERE hll_expthresh(theirs::text::hll) IS DISTINCT FROM pghll.hll_expthresh(theirs)) AS expthresh_mismatches,
       count(*) FILTER (WHERE hll_print(theirs::text::hll)::text IS DISTINCT FROM pghll.hll_print(theirs)::text) AS print_mismatches
FROM sketches WHERE theirs IS NOT NULL;

CREATE TEMP TABLE pghll_binary (id bigint, h pghll.hll);
INSERT INTO pghll_binary SELECT id, theirs FROM sketches WHERE theirs IS NOT NULL;
COPY pghll_binary TO '/tmp/pg_rollup_hll_compat.bin' WITH (FORMAT binary);
CREATE TEMP TABLE ours_binary (id bigint, h hll);
COPY ours_binary FROM '/tmp/pg_rollup_hll_compat.bin' WITH (FORMAT binary);
SELECT count(*) AS loaded_from_binary,
       count(*) FILTER (WHERE o.h::text IS DISTINCT FROM s.theirs::text) AS binary_mismatches
FROM ours_binary o JOIN sketches s USING (id);
-- And back: what pg_rollup sends, postgresql-hll reads.
COPY ours_binary TO '/tmp/pg_rollup_hll_compat.bin' WITH (FORMAT binary);
TRUNCATE pghll_binary;
COPY pghll_binary FROM '/tmp/pg_rollup_hll_compat.bin' WITH (FORMAT binary);
SELECT count(*) FILTER (WHERE p.h::text IS DISTINCT FROM s.ours::text) AS reverse_binary_mismatches
FROM pghll_binary p JOIN sketches s USING (id);

-- Hash functions: identical values for every input type, with seeds 0, 1 and 12345.
SELECT count(*) AS hash_cases,
       count(*) FILTER (WHERE hll_hash_boolean(i % 2 = 0, seed)::text::bigint <> pghll.hll_hash_boolean(i % 2 = 0, seed)::text::bigint) AS boolean_mismatches,
       count(*) FILTER (WHERE hll_hash_smallint((i % 30000)::smallint, seed)::text::bigint <> pghll.hll_hash_smallint((i % 30000)::smallint, seed)::text::bigint) AS smallint_mismatches,
       count(*) FILTER (WHERE hll_hash_integer(v::integer, seed)::text::bigint <> pghll.hll_hash_integer(v::integer, seed)::text::bigint) AS integer_mismatches,
       count(*) FILTER (WHERE hll_hash_bigint(v, seed)::text::bigint <> pghll.hll_hash_bigint(v, seed)::text::bigint) AS bigint_mismatches,
       count(*) FILTER (WHERE hll_hash_bytea(int8send(v), seed)::text::bigint <> pghll.hll_hash_bytea(int8send(v), seed)::text::bigint) AS bytea_mismatches,
       count(*) FILTER (WHERE hll_hash_text(repeat(v::text, i % 5), seed)::text::bigint <> pghll.hll_hash_text(repeat(v::text, i % 5), seed)::text::bigint) AS text_mismatches
FROM (SELECT i, (hashint8(i) # (i << 17)) % 2147483647 AS v FROM generate_series(1, 20000) i) d,
     (VALUES (0), (1), (12345)) s(seed);

SELECT count(*) AS hash_any_cases,
       count(*) FILTER (WHERE hll_hash_any(i)::text::bigint <> pghll.hll_hash_any(i)::text::bigint) AS int_mismatches,
       count(*) FILTER (WHERE hll_hash_any(i::bigint * 7919)::text::bigint <> pghll.hll_hash_any(i::bigint * 7919)::text::bigint) AS bigint_mismatches,
       count(*) FILTER (WHERE hll_hash_any(i::float8 / 3)::text::bigint <> pghll.hll_hash_any(i::float8 / 3)::text::bigint) AS float8_mismatches,
       count(*) FILTER (WHERE hll_hash_any(md5(i::text))::text::bigint <> pghll.hll_hash_any(md5(i::text))::text::bigint) AS text_mismatches,
       count(*) FILTER (WHERE hll_hash_any(md5(i::text)::uuid)::text::bigint <> pghll.hll_hash_any(md5(i::text)::uuid)::text::bigint) AS uuid_mismatches,
       count(*) FILTER (WHERE hll_hash_any(timestamptz '2026-01-01' + i * interval '1 second')::text::bigint
                           <> pghll.hll_hash_any(timestamptz '2026-01-01' + i * interval '1 second')::text::bigint) AS timestamptz_mismatches,
       count(*) FILTER (WHERE hll_hash_any(i::numeric / 7)::text::bigint <> pghll.hll_hash_any(i::numeric / 7)::text::bigint) AS numeric_mismatches,
       count(*) FILTER (WHERE hll_hash_any(jsonb_build_object('k', i))::text::bigint <> pghll.hll_hash_any(jsonb_build_object('k', i))::text::bigint) AS jsonb_mismatches
FROM generate_series(1, 5000) i;

-- Sketches built from every hash function's values, with varied parameters.
WITH d AS (SELECT i, (hashint8(i) # (i << 17)) AS v FROM generate_series(1, 3000) i),
p AS (SELECT * FROM (VALUES (4, 1, -1::bigint, 0), (11, 5, -1, 1), (14, 3, 256, 1), (17, 5, 0, 0)) p(l, r, e, s))
SELECT count(*) AS typed_sketch_cases, count(*) FILTER (WHERE ours IS DISTINCT FROM theirs) AS typed_sketch_mismatches
FROM p CROSS JOIN LATERAL (VALUES
    ((SELECT hll_add_agg(hll_hash_boolean(v % 2 = 0), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_boolean(v % 2 = 0), l, r, e, s)::text FROM d)),
    ((SELECT hll_add_agg(hll_hash_smallint((v % 32000)::smallint), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_smallint((v % 32000)::smallint), l, r, e, s)::text FROM d)),
    ((SELECT hll_add_agg(hll_hash_integer((v % 2000000000)::integer), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_integer((v % 2000000000)::integer), l, r, e, s)::text FROM d)),
    ((SELECT hll_add_agg(hll_hash_bigint(v), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_bigint(v), l, r, e, s)::text FROM d)),
    ((SELECT hll_add_agg(hll_hash_bytea(int8send(v)), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_bytea(int8send(v)), l, r, e, s)::text FROM d)),
    ((SELECT hll_add_agg(hll_hash_text(v::text), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_text(v::text), l, r, e, s)::text FROM d)),
    ((SELECT hll_add_agg(hll_hash_any(v::numeric), l, r, e, s)::text FROM d), (SELECT pghll.hll_add_agg(pghll.hll_hash_any(v::numeric), l, r, e, s)::text FROM d))
) t(ours, theirs);

-- The cast from hll_hashval and the integer/bigint casts agree too.
SELECT count(*) FILTER (WHERE hll_add(hll_empty(), i::hll_hashval)::text
                           IS DISTINCT FROM pghll.hll_add(pghll.hll_empty(), i::pghll.hll_hashval)::text) AS int_cast_mismatches,
       count(*) FILTER (WHERE hll_add(hll_empty(), (i * 1000003)::bigint::hll_hashval)::text
                           IS DISTINCT FROM pghll.hll_add(pghll.hll_empty(), (i * 1000003)::bigint::pghll.hll_hashval)::text) AS bigint_cast_mismatches
FROM generate_series(-500, 500) i;

-- Empty inputs: no rows gives NULL, rows of NULL hashes give an empty sketch, in both.
SELECT hll_add_agg(NULL::hll_hashval) AS ours, pghll.hll_add_agg(NULL::pghll.hll_hashval) AS theirs FROM generate_series(1, 3);
SELECT hll_add_agg(hll_hash_integer(i)) IS NULL AS ours_null, pghll.hll_add_agg(pghll.hll_hash_integer(i)) IS NULL AS theirs_null FROM generate_series(1, 0) i;
SELECT hll_union_agg(NULL::hll) AS ours, pghll.hll_union_agg(NULL::pghll.hll) AS theirs FROM generate_series(1, 3);
