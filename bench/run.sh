#!/usr/bin/env bash
# The benchmarks of SPEC §6, pg_rollup against postgresql-hll in the same database and run.
# Called by ./pg_test.sh bench (which sets PSQL); prints markdown tables for BENCHMARKS.md.
#
#   ./pg_test.sh bench            all sections
#   ./pg_test.sh bench hll        speed and memory only
#   ./pg_test.sh bench accuracy   estimator error only
#
# Times are the best of 3 runs, single process (parallel workers off), release build.
set -euo pipefail
PSQL=${PSQL:?run through ./pg_test.sh bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}

sql() { # each argument is run as its own statement
    local args=()
    for s in "$@"; do args+=(-c "$s"); done
    $PSQL -qAtX -v ON_ERROR_STOP=1 -c "SET max_parallel_workers_per_gather = 0" "${args[@]}"
}

best_ms() { # best of 3 wall-clock runs, in milliseconds
    local best="" t0 t1 ms
    for _ in 1 2 3; do
        t0=$(date +%s%N)
        sql "$1" >/dev/null
        t1=$(date +%s%N)
        ms=$(( (t1 - t0) / 1000000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}

rate() { awk -v t="$1" -v s="$2" 'BEGIN { if (t <= s) print "n/a"; else printf "%d", 100000 * 1000 / (t - s) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else printf "%.2f", a / b }'; }

setup() {
    sql "CREATE EXTENSION IF NOT EXISTS pg_rollup"
    sql "CREATE SCHEMA IF NOT EXISTS pghll"
    sql "CREATE EXTENSION IF NOT EXISTS hll SCHEMA pghll"
}

bench_hll() {
    echo "Loading data (10M rows, 100k groups of 5, 100k full sketches)..." >&2
    sql "DROP TABLE IF EXISTS b10m" "CREATE UNLOGGED TABLE b10m AS SELECT (hashint8(i) # (i << 20)) AS x FROM generate_series(1, 10000000) i" "VACUUM ANALYZE b10m"
    sql "DROP TABLE IF EXISTS bgroups" "CREATE UNLOGGED TABLE bgroups AS SELECT i / 5 AS g, (hashint8(i) # (i << 20)) AS x FROM generate_series(0, 499999) i" "VACUUM ANALYZE bgroups"
    # One sketch column per table: two 1.3 kB sketches in one row would be moved to TOAST.
    sql "DROP TABLE IF EXISTS bfull_ours" "CREATE UNLOGGED TABLE bfull_ours AS
         WITH base AS (SELECT hll_add_agg(hll_hash_bigint(x)) AS h FROM b10m WHERE x % 1000 = 7)
         SELECT i, hll_add(h, hll_hash_integer(i)) AS h FROM base, generate_series(1, 100000) i" "VACUUM ANALYZE bfull_ours"
    sql "DROP TABLE IF EXISTS bfull_theirs" "CREATE UNLOGGED TABLE bfull_theirs AS SELECT i, h::text::pghll.hll AS h FROM bfull_ours" "VACUUM ANALYZE bfull_theirs"
    [ "$(sql "SELECT count(*) FROM bfull_ours o JOIN bfull_theirs t USING (i) WHERE hll_type(o.h) = 4 AND o.h::text = t.h::text")" = 100000 ] \
        || { echo "bfull: sketches are not all FULL and identical" >&2; exit 1; }

    local scan ours theirs
    echo
    echo "| benchmark | pg_rollup | postgresql-hll | ratio (pg_rollup / postgresql-hll) | target |"
    echo "|---|---|---|---|---|"

    scan=$(best_ms "SELECT count(*) FROM b10m")
    ours=$(best_ms "SELECT hll_cardinality(hll_add_agg(hll_hash_bigint(x))) FROM b10m")
    theirs=$(best_ms "SELECT pghll.hll_cardinality(pghll.hll_add_agg(pghll.hll_hash_bigint(x))) FROM b10m")
    echo "| hll_add_agg(hll_hash_bigint(x)), 10M rows, 1 group: ms above a count(*) scan of ${scan} ms | $((ours - scan)) | $((theirs - scan)) | $(ratio $((ours - scan)) $((theirs - scan))) | <= 0.5 |"

    local q_ours="SELECT count(h) FROM (SELECT g, hll_add_agg(hll_hash_bigint(x)) AS h FROM bgroups GROUP BY g) s"
    local q_theirs="SELECT count(h) FROM (SELECT g, pghll.hll_add_agg(pghll.hll_hash_bigint(x)) AS h FROM bgroups GROUP BY g) s"
    ours=$(best_ms "SET work_mem = '64MB'; $q_ours")
    theirs=$(best_ms "SET work_mem = '64MB'; $q_theirs")
    echo "| GROUP BY 100k groups of 5 values, work_mem 64MB, planner's choice: ms | $ours | $theirs | $(ratio "$ours" "$theirs") | <= 0.5 |"
    ours=$(best_ms "SET work_mem = '64MB'; SET enable_sort = off; $q_ours")
    theirs=$(best_ms "SET work_mem = '64MB'; SET enable_sort = off; $q_theirs")
    echo "| same, hash aggregation forced: ms | $ours | $theirs | $(ratio "$ours" "$theirs") | <= 0.5 |"
    local m_ours m_theirs
    m_ours=$(sql "SET work_mem = '64MB'; SET enable_sort = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $q_ours" | grep -oE 'Batches: [0-9]+ +Memory Usage: [0-9]+kB( +Disk Usage: [0-9]+kB)?' | head -1)
    m_theirs=$(sql "SET work_mem = '64MB'; SET enable_sort = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $q_theirs" | grep -oE 'Batches: [0-9]+ +Memory Usage: [0-9]+kB( +Disk Usage: [0-9]+kB)?' | head -1)
    echo "| same, hash aggregation: EXPLAIN ANALYZE memory | ${m_ours} | ${m_theirs} | see note | no spill; <= 1/5 |"

    # Rates are of the work above a plain scan of the same table (the scan time is shown).
    scan=$(best_ms "SELECT count(h) FROM bfull_ours")
    ours=$(best_ms "SELECT hll_cardinality(hll_union_agg(h)) FROM bfull_ours")
    theirs=$(best_ms "SELECT pghll.hll_cardinality(pghll.hll_union_agg(h)) FROM bfull_theirs")
    echo "| hll_union_agg over 100k FULL sketches: sketches/s above a ${scan} ms scan | $(rate "$ours" "$scan") | $(rate "$theirs" "$scan") | $(ratio $((theirs - scan)) $((ours - scan))) (speed-up) | >= 3 |"

    ours=$(best_ms "SELECT sum(hll_cardinality(h)) FROM bfull_ours")
    theirs=$(best_ms "SELECT sum(pghll.hll_cardinality(h)) FROM bfull_theirs")
    echo "| hll_cardinality on 100k FULL sketches: calls/s above the scan | $(rate "$ours" "$scan") | $(rate "$theirs" "$scan") | $(ratio $((theirs - scan)) $((ours - scan))) (speed-up) | >= 2 |"

    scan=$(best_ms "SELECT count(b.h) FROM bfull_ours a JOIN bfull_ours b ON b.i = a.i % 1000 + 1")
    ours=$(best_ms "SELECT count(hll_union(a.h, b.h)) FROM bfull_ours a JOIN bfull_ours b ON b.i = a.i % 1000 + 1")
    theirs=$(best_ms "SELECT count(pghll.hll_union(a.h, b.h)) FROM bfull_theirs a JOIN bfull_theirs b ON b.i = a.i % 1000 + 1")
    echo "| hll_union of 100k pairs of FULL sketches: calls/s above a ${scan} ms join | $(rate "$ours" "$scan") | $(rate "$theirs" "$scan") | $(ratio $((theirs - scan)) $((ours - scan))) (speed-up) | >= 2 |"
}

bench_accuracy() {
    echo "Generating sketches of random streams (log2m 11: 1000 runs, log2m 14: 200 runs)..." >&2
    (cd "$ROOT" && cargo build --release -q -p rollup-core --example hll_accuracy)
    sql "DROP TABLE IF EXISTS accuracy" "CREATE UNLOGGED TABLE accuracy (log2m int, run int, n bigint, sketch text)"
    { "$ROOT/target/release/examples/hll_accuracy" 11 1000; "$ROOT/target/release/examples/hll_accuracy" 14 200; } \
        | $PSQL -qX -v ON_ERROR_STOP=1 -c "COPY accuracy FROM STDIN WITH (FORMAT csv)"
    echo
    echo "Relative error of the cardinality estimate from the same registers (expthresh 0, regwidth 5)."
    echo "RMSE bound 1.04/sqrt(m): 2.30 % at log2m 11, 0.81 % at log2m 14."
    echo
    echo "| log2m | n | runs | pg_rollup RMSE % | pg_rollup bias % | postgresql-hll RMSE % | postgresql-hll bias % | pg_rollup RMSE within 1.04/sqrt(m) |"
    echo "|---|---|---|---|---|---|---|---|"
    $PSQL -qAtX -v ON_ERROR_STOP=1 -F ' | ' -c "
        WITH e AS (
            SELECT log2m, n,
                   (hll_cardinality(sketch::hll) - n) / n AS ours,
                   (pghll.hll_cardinality(sketch::pghll.hll) - n) / n AS theirs
            FROM accuracy)
        SELECT log2m, n, count(*),
               round(100 * sqrt(avg(ours ^ 2))::numeric, 2), round(100 * avg(ours)::numeric, 2),
               round(100 * sqrt(avg(theirs ^ 2))::numeric, 2), round(100 * avg(theirs)::numeric, 2),
               CASE WHEN sqrt(avg(ours ^ 2)) <= 1.04 / sqrt(2 ^ log2m) THEN 'yes' ELSE 'NO' END
        FROM e GROUP BY log2m, n ORDER BY log2m, n" | sed 's/^/| /; s/$/ |/'
}

setup
case "$what" in
    hll) bench_hll ;;
    accuracy) bench_accuracy ;;
    all) bench_hll; bench_accuracy ;;
    *) echo "unknown section $what" >&2; exit 2 ;;
esac
