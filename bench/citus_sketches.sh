#!/usr/bin/env bash
# Sketch aggregates over a distributed table: how Citus plans each (EXPLAIN) and what it costs,
# on a coordinator and two workers (tests/citus/run.sh, CITUS_SETUP_ONLY). hll_add_agg and
# topn_add_agg are aggregated on the shards by name and merged on the coordinator with their
# union aggregates; qsketch_add_agg, a name Citus does not know, in two stages through its generic
# worker_partial_agg / coord_combine_agg (a non-internal state with a combine function); tdigest
# (when installed), which Citus knows by name, natively. ROWS rows (default 2M) in 4 shards, a
# GROUP BY on a column that is not the distribution column (so every group is merged from the
# shards) and a whole-table aggregate; best of ROUNDS (3) runs, milliseconds.
#
#   bench/citus_sketches.sh          (as root: the nodes run as postgres; needs Citus installed)
set -euo pipefail
ROWS=${ROWS:-2000000}
ROUNDS=${ROUNDS:-3}
BENCH=citus_sketches
# shellcheck source=bench/citus_cluster.sh
. "$(dirname "$0")/citus_cluster.sh"
q() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d pg_rollup_citus "$@"; }

td=""
if [ -f "$("$PG_CONFIG" --sharedir)/extension/tdigest.control" ]; then
    q -c "CREATE EXTENSION tdigest" && td=1
fi
q <<SQL
CREATE TABLE bq (tenant int NOT NULL, g int NOT NULL, usr int NOT NULL, query text NOT NULL, ms float8 NOT NULL);
SELECT create_distributed_table('bq', 'tenant') IS NOT NULL;
INSERT INTO bq
SELECT i % 1000, i % 500, hashint4(i) % 300000, 'q' || (hashint4(-i) % 2000),
       exp(3 + 1.3 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2))
FROM (SELECT i, (hashint4(i)::float8 + 2147483649.0) / 4294967298.0 AS u1,
             (hashint4(-i)::float8 + 2147483649.0) / 4294967298.0 AS u2 FROM generate_series(1, $ROWS) i) s;
VACUUM ANALYZE bq;
SQL

best() { # sql: the best of ROUNDS runs, in ms
    local b="" t
    for _ in $(seq "$ROUNDS"); do
        t=$(printf '\\timing on\n%s\n' "$1" | q -f - | awk '/^Time: / { t = $2 } END { printf "%d", t }')
        if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
    done
    echo "$b"
}
plan_of() { # sql: how Citus runs it
    local p; p=$(q -c "EXPLAIN (VERBOSE, COSTS OFF) $1")
    if grep -q worker_partial_agg <<<"$p"; then echo "two stages, generic (worker_partial_agg)"
    elif grep -qE 'Task Count: [0-9]+' <<<"$p" && grep -q "GROUP BY\|Partial\|_agg(" <<<"$p"; then echo "two stages, by name"
    else echo "rows to the coordinator"; fi
}

scan=$(best "SELECT count(*) FROM (SELECT g, count(*) FROM bq GROUP BY g) x")
echo "| $ROWS rows in 4 shards | plan | GROUP BY g (500 groups): ms | ms above count(*) ($scan ms) | whole table: ms |"
echo "|---|---|---|---|---|"
for agg in "hll_add_agg(hll_hash_integer(usr))" "topn_add_agg(query)" "qsketch_add_agg(ms)" ${td:+"tdigest(ms, 100)"}; do
    grouped="SELECT count(s) FROM (SELECT g, $agg AS s FROM bq GROUP BY g) x"
    whole="SELECT $agg IS NOT NULL FROM bq"
    t=$(best "$grouped")
    echo "| \`$agg\` | $(plan_of "SELECT g, $agg FROM bq GROUP BY g") | $t | $((t - scan)) | $(best "$whole") |"
done
[ -n "$td" ] || echo "(tdigest: skipped, not installed)"
