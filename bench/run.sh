#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md: pg_rollup against its anchors (postgresql-hll, postgresql-topn, hand-written SQL) in the same database and run.
# Called by ./pg_test.sh bench (which sets PSQL); prints markdown tables for BENCHMARKS.md.
#
#   ./pg_test.sh bench            all sections
#   ./pg_test.sh bench hll        hll speed and memory
#   ./pg_test.sh bench topn       topn speed, memory and accuracy by rank (against postgresql-topn when installed)
#   ./pg_test.sh bench topn-union topn_union_agg over 10 to 1M stored sketches against postgresql-topn's
#   ./pg_test.sh bench memory     GROUP BY memory and spill of the sketch aggregates at work_mem 64MB
#   ./pg_test.sh bench rollup     rollup.run against a hand-written rollup and a count-only one, work_mem 4MB and 64MB (ROLLUP_ROWS)
#   ./pg_test.sh bench dashboard  count + distinct users + top 1000 through a query view, ranges 1 hour to 90 days (DASHBOARD_ROWS)
#   ./pg_test.sh bench ingest     ingest views and rollup.ingest, 5 rules, against plain COPY (INGEST_ROWS),
#                                 and batches with 1 % bad rows against the same without (also: bench ingest-errors)
#   ./pg_test.sh bench qsketch    qsketch against tdigest (when installed): speed, percentile errors after merging, bytes
#   ./pg_test.sh bench searches   search-session stage against a window-function collapse of the same table (SEARCH_ROWS)
#   ./pg_test.sh bench accuracy   hll estimator error (ACCURACY_RUNS_11, ACCURACY_RUNS_14, ERROR_MODEL_RUNS: runs)
#
# Times are the best of ROUNDS (default 5) interleaved runs, single process (parallel workers
# off), release build.
set -euo pipefail
PSQL=${PSQL:?run through ./pg_test.sh bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}

sql() { # each argument is run as its own statement
    local args=()
    for s in "$@"; do args+=(-c "$s"); done
    $PSQL -qAtX -v ON_ERROR_STOP=1 -c "SET max_parallel_workers_per_gather = 0" "${args[@]}"
}

ROUNDS=${ROUNDS:-5}
# In a query given to measure, statements before this marker are setup and not timed.
TIMED='-- timed --'
declare -A BEST
# Runs the queries in ROUNDS interleaved rounds (so that machine noise hits all of them alike)
# and keeps each one's best wall-clock time in BEST[query], in milliseconds (to 0.1 ms for
# the timed part of a query with PRECISE=1).
measure() {
    local q t0 t1 ms
    for q in "$@"; do BEST[$q]=""; done
    for _ in $(seq "$ROUNDS"); do
        for q in "$@"; do
            if [[ $q == *"$TIMED"* ]]; then
                # Only the statements after the marker count, timed by psql.
                ms=$(printf '%s\n\\timing on\n%s\n' "${q%%"$TIMED"*}" "${q#*"$TIMED"}" \
                     | $PSQL -qAtX -v ON_ERROR_STOP=1 -c "SET max_parallel_workers_per_gather = 0" -f - \
                     | awk -v f="${PRECISE:+%.1f}" '/^Time: / { t += $2 } END { printf (f == "" ? "%d" : f), t }')
            else
                t0=$(date +%s%N)
                sql "$q" >/dev/null
                t1=$(date +%s%N)
                ms=$(( (t1 - t0) / 1000000 ))
            fi
            if [ -z "${BEST[$q]}" ] || awk -v a="$ms" -v b="${BEST[$q]}" 'BEGIN { exit !(a < b) }'; then BEST[$q]=$ms; fi
        done
    done
}

rate_of() { awk -v n="$1" -v t="$2" -v s="$3" 'BEGIN { if (t <= s) print "n/a"; else printf "%d", n * 1000 / (t - s) }'; }
rate() { awk -v t="$1" -v s="$2" 'BEGIN { if (t <= s) print "n/a"; else printf "%d", 100000 * 1000 / (t - s) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else printf "%.2f", a / b }'; }

# Whether anchor extension $1 (built from source outside the repository) is installed; when it
# is, it is made available in schema $2. Otherwise prints that $4 is skipped because $3 is not.
anchor_or_skip() {
    if [ "$(sql "SELECT count(*) FROM pg_available_extensions WHERE name = '$1'")" != 1 ]; then
        echo
        echo "$4: skipped ($3 is not installed)"
        return 1
    fi
    sql "CREATE SCHEMA IF NOT EXISTS $2" "CREATE EXTENSION IF NOT EXISTS $1 SCHEMA $2"
}
pgtopn_or_skip() { anchor_or_skip topn pgtopn postgresql-topn "$1"; }

setup() {
    sql "CREATE EXTENSION IF NOT EXISTS pg_rollup"
    sql "CREATE SCHEMA IF NOT EXISTS pghll"
    sql "CREATE EXTENSION IF NOT EXISTS hll SCHEMA pghll"
}

bench_hll() {
    echo "Loading data (10M rows, 100k groups of 5, 100k full sketches)..." >&2
    sql "DROP TABLE IF EXISTS b10m" "CREATE UNLOGGED TABLE b10m AS SELECT hashint8extended(i, 0) AS x FROM generate_series(1, 10000000) i" "VACUUM ANALYZE b10m"
    sql "DROP TABLE IF EXISTS bgroups" "CREATE UNLOGGED TABLE bgroups AS SELECT i / 5 AS g, hashint8extended(i, 0) AS x FROM generate_series(0, 499999) i" "VACUUM ANALYZE bgroups"
    # One sketch column per table: two 1.3 kB sketches in one row would be moved to TOAST.
    sql "DROP TABLE IF EXISTS bfull_ours" "CREATE UNLOGGED TABLE bfull_ours AS
         WITH base AS (SELECT hll_add_agg(hll_hash_bigint(x)) AS h FROM b10m WHERE x % 1000 = 7)
         SELECT i, hll_add(h, hll_hash_integer(i)) AS h FROM base, generate_series(1, 100000) i" "VACUUM ANALYZE bfull_ours"
    sql "DROP TABLE IF EXISTS bfull_theirs" "CREATE UNLOGGED TABLE bfull_theirs AS SELECT i, h::text::pghll.hll AS h FROM bfull_ours" "VACUUM ANALYZE bfull_theirs"
    [ "$(sql "SELECT count(*) FROM bfull_ours o JOIN bfull_theirs t USING (i) WHERE hll_type(o.h) = 4 AND o.h::text = t.h::text")" = 100000 ] \
        || { echo "bfull: sketches are not all FULL and identical" >&2; exit 1; }

    local scan ours theirs q_scan q_ours q_theirs
    echo
    echo "| benchmark | pg_rollup | postgresql-hll | ratio (pg_rollup / postgresql-hll) | target |"
    echo "|---|---|---|---|---|"

    # JIT (on by default) compiles the per-row expressions of such a query; both settings.
    local jit
    for jit in on off; do
        q_scan="SET jit = $jit; SELECT count(*) FROM b10m"
        q_ours="SET jit = $jit; SELECT hll_cardinality(hll_add_agg(hll_hash_bigint(x))) FROM b10m"
        q_theirs="SET jit = $jit; SELECT pghll.hll_cardinality(pghll.hll_add_agg(pghll.hll_hash_bigint(x))) FROM b10m"
        measure "$q_scan" "$q_ours" "$q_theirs"
        scan=${BEST[$q_scan]}; ours=$((BEST[$q_ours] - scan)); theirs=$((BEST[$q_theirs] - scan))
        echo "| hll_add_agg(hll_hash_bigint(x)), 10M rows, 1 group, jit $jit: ms above a count(*) scan of ${scan} ms | $ours | $theirs | $(ratio "$ours" "$theirs") | <= 0.5 |"
    done

    local groups_ours="SELECT count(h) FROM (SELECT g, hll_add_agg(hll_hash_bigint(x)) AS h FROM bgroups GROUP BY g) s"
    local groups_theirs="SELECT count(h) FROM (SELECT g, pghll.hll_add_agg(pghll.hll_hash_bigint(x)) AS h FROM bgroups GROUP BY g) s"
    q_ours="SET work_mem = '64MB'; $groups_ours"
    q_theirs="SET work_mem = '64MB'; $groups_theirs"
    measure "$q_ours" "$q_theirs"
    echo "| GROUP BY 100k groups of 5 values, work_mem 64MB, planner's choice: ms | ${BEST[$q_ours]} | ${BEST[$q_theirs]} | $(ratio "${BEST[$q_ours]}" "${BEST[$q_theirs]}") | <= 0.5 |"
    q_ours="SET work_mem = '64MB'; SET enable_sort = off; $groups_ours"
    q_theirs="SET work_mem = '64MB'; SET enable_sort = off; $groups_theirs"
    measure "$q_ours" "$q_theirs"
    echo "| same, hash aggregation forced: ms | ${BEST[$q_ours]} | ${BEST[$q_theirs]} | $(ratio "${BEST[$q_ours]}" "${BEST[$q_theirs]}") | <= 0.5 |"
    local m_ours m_theirs
    m_ours=$(sql "SET work_mem = '64MB'; SET enable_sort = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $groups_ours" | grep -oE 'Batches: [0-9]+ +Memory Usage: [0-9]+kB( +Disk Usage: [0-9]+kB)?' | head -1)
    m_theirs=$(sql "SET work_mem = '64MB'; SET enable_sort = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $groups_theirs" | grep -oE 'Batches: [0-9]+ +Memory Usage: [0-9]+kB( +Disk Usage: [0-9]+kB)?' | head -1)
    echo "| same, hash aggregation: EXPLAIN ANALYZE memory | ${m_ours} | ${m_theirs} | see note | no spill; <= 1/5 |"

    # Rates are of the work above a plain scan of the same table (the scan time is shown).
    q_scan="SELECT count(h) FROM bfull_ours"
    local u_ours="SELECT hll_cardinality(hll_union_agg(h)) FROM bfull_ours"
    local u_theirs="SELECT pghll.hll_cardinality(pghll.hll_union_agg(h)) FROM bfull_theirs"
    local c_ours="SELECT sum(hll_cardinality(h)) FROM bfull_ours"
    local c_theirs="SELECT sum(pghll.hll_cardinality(h)) FROM bfull_theirs"
    measure "$q_scan" "$u_ours" "$u_theirs" "$c_ours" "$c_theirs"
    scan=${BEST[$q_scan]}
    echo "| hll_union_agg over 100k FULL sketches: sketches/s above a ${scan} ms scan | $(rate "${BEST[$u_ours]}" "$scan") | $(rate "${BEST[$u_theirs]}" "$scan") | $(ratio $((BEST[$u_theirs] - scan)) $((BEST[$u_ours] - scan))) (speed-up) | >= 3 |"
    echo "| hll_cardinality on 100k FULL sketches: calls/s above the scan | $(rate "${BEST[$c_ours]}" "$scan") | $(rate "${BEST[$c_theirs]}" "$scan") | $(ratio $((BEST[$c_theirs] - scan)) $((BEST[$c_ours] - scan))) (speed-up) | >= 2 |"

    q_scan="SELECT count(b.h) FROM bfull_ours a JOIN bfull_ours b ON b.i = a.i % 1000 + 1"
    q_ours="SELECT count(hll_union(a.h, b.h)) FROM bfull_ours a JOIN bfull_ours b ON b.i = a.i % 1000 + 1"
    q_theirs="SELECT count(pghll.hll_union(a.h, b.h)) FROM bfull_theirs a JOIN bfull_theirs b ON b.i = a.i % 1000 + 1"
    measure "$q_scan" "$q_ours" "$q_theirs"
    scan=${BEST[$q_scan]}
    echo "| hll_union of 100k pairs of FULL sketches: calls/s above a ${scan} ms join | $(rate "${BEST[$q_ours]}" "$scan") | $(rate "${BEST[$q_theirs]}" "$scan") | $(ratio $((BEST[$q_theirs] - scan)) $((BEST[$q_ours] - scan))) (speed-up) | >= 2 |"
}

bench_topn() {
    echo "Loading data (10M Zipf s=1.1 items)..." >&2
    # g: 1000 groups of 10k rows, a column so that ANALYZE tells the planner there are 1000 (the
    # hash table of groups is sized from that estimate and counts in EXPLAIN's Memory Usage).
    sql "DROP TABLE IF EXISTS bzipf" "CREATE UNLOGGED TABLE bzipf AS
         SELECT i, i % 1000 AS g, 'w' || floor(least(power(u, -10.0), 1e15))::bigint AS item
         FROM (SELECT i, (hashint8(i)::float8 + 2147483649.0) / 4294967298.0 AS u FROM generate_series(1, 10000000) i) s" \
        "VACUUM ANALYZE bzipf"
    local q_scan="SELECT count(*) FROM bzipf"
    local q_hll="SELECT hll_cardinality(hll_add_agg(hll_hash_text(item))) FROM bzipf"
    local q_topn="SELECT topn_total(topn_add_agg(item)) FROM bzipf"
    # postgresql-topn (not packaged for Debian: built from source, installed beside pg_rollup) in
    # schema pgtopn. Both define the setting topn.number_of_counters, so a session loads one
    # of the two libraries: its queries run in sessions of their own (each sql call is one).
    local q_theirs="" theirs=""
    if pgtopn_or_skip "postgresql-topn's columns"; then
        q_theirs="SELECT length(pgtopn.topn_add_agg(item)::text) FROM bzipf"
    fi
    measure "$q_scan" "$q_hll" "$q_topn" ${q_theirs:+"$q_theirs"}
    local scan=${BEST[$q_scan]} hll=${BEST[$q_hll]} topn=${BEST[$q_topn]}
    [ -n "$q_theirs" ] && theirs=${BEST[$q_theirs]}
    echo
    echo "| benchmark | pg_rollup topn_add_agg | hll_add_agg(hll_hash_text) | ratio (topn / hll) | postgresql-topn topn_add_agg | target |"
    echo "|---|---|---|---|---|---|"
    echo "| 10M Zipf rows, 1 group, 1000 counters: ms (count(*) scan: ${scan} ms) | $topn | $hll | $(ratio "$topn" "$hll") | ${theirs:-not installed}${theirs:+ ($(ratio "$theirs" "$hll")x hll)} | <= 2 |"
    echo "| same, ms above the scan | $((topn - scan)) | $((hll - scan)) | $(ratio $((topn - scan)) $((hll - scan))) | ${theirs:+$((theirs - scan))} | |"
    local group_by="SET work_mem = '2GB'; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT g, AGG(item) FROM bzipf GROUP BY g"
    local mem mem_theirs=""
    mem=$(sql "${group_by/AGG/topn_add_agg}" | grep -oE 'Memory Usage: [0-9]+kB' | head -1 | grep -oE '[0-9]+')
    [ -n "$q_theirs" ] && mem_theirs=$(sql "${group_by/AGG/pgtopn.topn_add_agg}" | grep -oE 'Memory Usage: [0-9]+kB' | head -1 | grep -oE '[0-9]+')
    echo
    echo "| GROUP BY 1000 groups (10k rows each), EXPLAIN ANALYZE memory per group | pg_rollup | postgresql-topn | ratio | target |"
    echo "|---|---|---|---|---|"
    echo "| HashAggregate Memory Usage / 1000 | $((mem / 1000)) kB | ${mem_theirs:+$((mem_theirs / 1000)) kB} | ${mem_theirs:+$(ratio "$mem" "$mem_theirs")} | <= 0.10 |"
    [ -n "$q_theirs" ] && topn_ranks
}

# Accuracy by rank against postgresql-topn, on the same 10M Zipf rows: one sketch of all rows, and
# the union of 200 sketches of shuffled partitions; the error of the frequency reported at each
# rank range, against the true count of the item reported there.
topn_ranks() {
    sql "DROP TABLE IF EXISTS bzipf_true" "CREATE UNLOGGED TABLE bzipf_true AS SELECT item, count(*) AS n FROM bzipf GROUP BY item" \
        "CREATE INDEX ON bzipf_true (item)"
    sql "DROP TABLE IF EXISTS ranks" "CREATE UNLOGGED TABLE ranks (ext text, how text, rank int, item text, frequency bigint)"
    sql "INSERT INTO ranks SELECT 'pg_rollup', 'one sketch', rank, item, frequency FROM topn((SELECT topn_add_agg(item) FROM bzipf), 1000) WITH ORDINALITY AS t(item, frequency, rank)" \
        "INSERT INTO ranks SELECT 'pg_rollup', '200 partial sketches', rank, item, frequency
         FROM topn((SELECT topn_union_agg(s) FROM (SELECT topn_add_agg(item) AS s FROM bzipf GROUP BY hashint8(i) % 200) p), 1000)
              WITH ORDINALITY AS t(item, frequency, rank)"
    sql "INSERT INTO ranks SELECT 'postgresql-topn', 'one sketch', rank, item, frequency FROM pgtopn.topn((SELECT pgtopn.topn_add_agg(item) FROM bzipf), 1000) WITH ORDINALITY AS t(item, frequency, rank)" \
        "INSERT INTO ranks SELECT 'postgresql-topn', '200 partial sketches', rank, item, frequency
         FROM pgtopn.topn((SELECT pgtopn.topn_union_agg(s) FROM (SELECT pgtopn.topn_add_agg(item) AS s FROM bzipf GROUP BY hashint8(i) % 200) p), 1000)
              WITH ORDINALITY AS t(item, frequency, rank)"
    echo
    echo "Mean relative error of the reported frequency |reported - true| / true, by rank (same rows, 1000 counters);"
    echo "\"true top\": how many of the true top k items are reported in the top k."
    echo
    echo "| sketch | ranks | pg_rollup error % | postgresql-topn error % | pg_rollup true top | postgresql-topn true top |"
    echo "|---|---|---|---|---|---|"
    $PSQL -qAtX -v ON_ERROR_STOP=1 -F ' | ' -c "
        WITH r AS (SELECT ranks.*, abs(frequency - t.n)::float8 / t.n AS err,
                          CASE WHEN rank <= 10 THEN 10 WHEN rank <= 100 THEN 100 WHEN rank <= 200 THEN 200 WHEN rank <= 500 THEN 500 ELSE 1000 END AS upto
                   FROM ranks JOIN bzipf_true t USING (item)),
             truth AS (SELECT item, row_number() OVER (ORDER BY n DESC, item) AS true_rank FROM bzipf_true ORDER BY n DESC LIMIT 1000),
             hits AS (SELECT ext, how, k, count(*) AS hit FROM ranks JOIN truth USING (item),
                             unnest(ARRAY[10, 100, 200, 500, 1000]) k WHERE rank <= k AND true_rank <= k GROUP BY 1, 2, 3)
        SELECT how, '<= ' || upto,
               round(100 * avg(err) FILTER (WHERE ext = 'pg_rollup')::numeric, 2),
               round(100 * avg(err) FILTER (WHERE ext = 'postgresql-topn')::numeric, 2),
               (SELECT hit FROM hits h WHERE h.ext = 'pg_rollup' AND h.how = r.how AND h.k = r.upto) || '/' || upto,
               (SELECT hit FROM hits h WHERE h.ext = 'postgresql-topn' AND h.how = r.how AND h.k = r.upto) || '/' || upto
        FROM r GROUP BY how, upto ORDER BY how DESC, upto" | sed 's/^/| /; s/$/ |/'
}

# topn_union_agg + the top 1000, over stored sketches: pg_rollup's and postgresql-topn's of the
# same rows. Small: 1M sketches of 5 rows (5-minute rows of one customer); large: 2000 sketches of
# 2000 rows (daily rows, ~1000 items each). Unions of n sketches are timed as GROUP BY g / n
# (1M / n groups, each union ending in topn(x, 1000)), less the same GROUP BY without the sketches.
bench_topn_union() {
    pgtopn_or_skip "topn_union_agg against postgresql-topn" || return 0
    echo "Loading sketches (1M of 5 Zipf rows, 2000 of 2000 rows, both extensions)..." >&2
    local zipf="'w' || floor(least(power((hashint8(i)::float8 + 2147483649.0) / 4294967298.0, -10.0), 1e15))::bigint"
    local shape rows per
    for shape in small large; do
        if [ $shape = small ]; then rows=5000000 per=5; else rows=4000000 per=2000; fi
        sql "DROP TABLE IF EXISTS bu_rows_$shape, bu_ours_$shape, bu_theirs_$shape"             "CREATE UNLOGGED TABLE bu_rows_$shape AS SELECT i / $per AS g, $zipf AS item FROM generate_series(0, $rows - 1) i"
        sql "CREATE UNLOGGED TABLE bu_ours_$shape AS SELECT g, topn_add_agg(item) AS s FROM bu_rows_$shape GROUP BY g ORDER BY g"             "VACUUM ANALYZE bu_ours_$shape"
        sql "CREATE UNLOGGED TABLE bu_theirs_$shape AS SELECT g, pgtopn.topn_add_agg(item) AS s FROM bu_rows_$shape GROUP BY g ORDER BY g"             "VACUUM ANALYZE bu_theirs_$shape" "DROP TABLE bu_rows_$shape"
    done
    echo
    echo "| topn_union_agg + topn(x, 1000): sketches/s above the same GROUP BY without sketches | pg_rollup | postgresql-topn | speed-up | target |"
    echo "|---|---|---|---|---|"
    local n total q_scan q_ours q_theirs scan
    for shape in small large; do
        total=$(sql "SELECT count(*) FROM bu_ours_$shape")
        for n in 10 1000 100000 1000000; do
            [ "$n" -gt "$total" ] && n=$total
            q_scan="SELECT count(*) FROM (SELECT count(s) FROM bu_ours_$shape GROUP BY g / $n) t"
            q_ours="SELECT sum((SELECT count(*) FROM topn(x, 1000))) FROM (SELECT topn_union_agg(s) AS x FROM bu_ours_$shape GROUP BY g / $n) t"
            q_theirs="SELECT sum((SELECT count(*) FROM pgtopn.topn(x, 1000))) FROM (SELECT pgtopn.topn_union_agg(s) AS x FROM bu_theirs_$shape GROUP BY g / $n) t"
            measure "$q_scan" "$q_ours" "$q_theirs"
            scan=${BEST[$q_scan]}
            echo "| $shape sketches ($(sql "SELECT round(avg((SELECT count(*) FROM topn(s, 1000)))) FROM bu_ours_$shape") items each), unions of $n ($((total / n)) unions; scan ${scan} ms) | $(rate_of "$total" "${BEST[$q_ours]}" "$scan") | $(rate_of "$total" "${BEST[$q_theirs]}" "$scan") | $(ratio $((BEST[$q_theirs] - scan)) $((BEST[$q_ours] - scan))) | >= 3 |"
            [ "$n" = "$total" ] && break
        done
    done
}

# GROUP BY with a sketch aggregate at work_mem 64MB (hash_mem_multiplier as configured): the
# memory hash aggregation holds, and what it spills, for groups of 25 to 2500 rows.
bench_memory() {
    echo "Loading data (5M rows, Zipf items, 300k users)..." >&2
    sql "DROP TABLE IF EXISTS bmem" "CREATE UNLOGGED TABLE bmem AS
         SELECT hashint8(i) % 100000 AS g, 'w' || floor(least(power((hashint8(i)::float8 + 2147483649.0) / 4294967298.0, -10.0), 1e15))::bigint AS item,
                hashint8(i * 3) % 300000 AS u
         FROM generate_series(1, 5000000) i" "VACUUM ANALYZE bmem"
    local have_topn=1
    pgtopn_or_skip "postgresql-topn's rows of the memory table" || have_topn=0
    local limit
    limit=$(sql "SET work_mem = '64MB'; SELECT 64 * current_setting('hash_mem_multiplier')::float8")
    echo
    echo "GROUP BY g % k over 5M rows, work_mem 64MB, hash_mem_multiplier $(sql "SHOW hash_mem_multiplier") (hash aggregation's limit: ${limit} MB); EXPLAIN ANALYZE of the HashAggregate:"
    echo
    echo "| aggregate | groups x rows | extension | memory | disk | memory / limit | ms |"
    echo "|---|---|---|---|---|---|---|"
    local k agg ext plan mem disk ms
    for k in 100000 50000 5000 1000; do
        for agg in "topn_add_agg(item)|pg_rollup" "pgtopn.topn_add_agg(item)|postgresql-topn" \
                   "hll_add_agg(hll_hash_bigint(u))|pg_rollup" "pghll.hll_add_agg(pghll.hll_hash_bigint(u))|postgresql-hll"; do
            ext=${agg#*|}; agg=${agg%|*}
            [ "$ext" = postgresql-topn ] && [ "$have_topn" != 1 ] && continue
            plan=$(sql "SET work_mem = '64MB'; SET enable_sort = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT g % $k, $agg FROM bmem GROUP BY 1")
            mem=$(grep -oE 'Memory Usage: [0-9]+' <<<"$plan" | head -1 | grep -oE '[0-9]+')
            disk=$(grep -oE 'Disk Usage: [0-9]+' <<<"$plan" | head -1 | grep -oE '[0-9]+' || echo 0)
            ms=$(grep -oE 'Execution Time: [0-9]+' <<<"$plan" | grep -oE '[0-9]+')
            echo "| ${agg%%(*} | $((2 * k - 1)) x $((5000000 / (2 * k - 1))) | $ext | $((mem / 1024)) MB | $((disk / 1024)) MB | $(awk -v m="$mem" -v l="$limit" 'BEGIN { printf "%.2f", m / 1024 / l }') | $ms |"
        done
    done
}

bench_accuracy() {
    local runs11=${ACCURACY_RUNS_11:-1000} runs14=${ACCURACY_RUNS_14:-200}
    echo "Generating sketches of random streams (log2m 11: $runs11 runs, log2m 14: $runs14 runs)..." >&2
    (cd "$ROOT" && cargo build --release -q -p rollup-core --example hll_accuracy)
    sql "DROP TABLE IF EXISTS accuracy" "CREATE UNLOGGED TABLE accuracy (log2m int, run int, n bigint, sketch text)"
    { "$ROOT/target/release/examples/hll_accuracy" 11 "$runs11"; "$ROOT/target/release/examples/hll_accuracy" 14 "$runs14"; } \
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
    # The same estimator over many more runs, with registers drawn directly (no SQL, no stored
    # sketches): precise enough to compare the RMSE with its bound.
    local model_runs=${ERROR_MODEL_RUNS:-200000}
    (cd "$ROOT" && cargo build --release -q -p rollup-core --example hll_error_model)
    echo
    echo "pg_rollup's estimator alone, $model_runs runs per n, registers drawn directly (hll_error_model):"
    echo
    echo "| log2m | n | runs | RMSE % | bias % | raw estimate: RMSE % | raw estimate: bias % | sampling error of the RMSE | bound 1.04/sqrt(m) % | RMSE within the bound |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    "$ROOT/target/release/examples/hll_error_model" 11 "$model_runs"
}

# rollup.run against the same rollup written by hand (INSERT .. ON CONFLICT with postgresql-hll, and
# postgresql-topn when installed, else pg_rollup's topn), and against a count-only rollup.run (the
# floor: the same statement without sketches), at work_mem 4MB (the default) and 64MB.
# rollup.run against the hand-written INSERT .. SELECT .. ON CONFLICT of postgresql-hll and
# postgresql-topn users and against a count-only rollup.run (the floor), on two workloads:
#   algolia  events over one day, 5 platforms x 20 bots (174 source rows per rollup row), rows
#            cycling through the day (each row lands in one of all 28,800 groups);
#   search   search events over 7 days in time order, 1000 customers with skew (44 rows per
#            rollup row), what the dashboard section queries.
bench_rollup() {
    local n=${ROLLUP_ROWS:-5000000}
    local topn_type=topn topn_agg=topn_add_agg topn_union=topn_union hand_what="postgresql-hll, pg_rollup's topn (postgresql-topn not installed)"
    if pgtopn_or_skip "postgresql-topn in the hand-written rollup (pg_rollup's topn instead)"; then
        topn_type=jsonb topn_agg=pgtopn.topn_add_agg topn_union=pgtopn.topn_union hand_what="postgresql-hll and postgresql-topn"
    fi
    sql "SELECT rollup.drop_rollup(name) FROM rollup.rollups WHERE name LIKE 'bench\_%'" \
        "DROP TABLE IF EXISTS rev, sev7 CASCADE" "DROP TABLE IF EXISTS rev_5min, rev_floor, hand_rev, sev7_5min, sev7_floor, hand_sev7"
    echo "Loading data ($n events over one day: 5 platforms x 20 bots, 200k users, Zipf-like queries)..." >&2
    sql "CREATE UNLOGGED TABLE rev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
             platform text NOT NULL, bot int NOT NULL, user_id bigint NOT NULL, query text NOT NULL)" \
        "INSERT INTO rev (at, platform, bot, user_id, query)
         SELECT '2026-06-01'::timestamptz + (i % 86400) * interval '1 second', (ARRAY['slack','facebook','twilio','kik','web'])[1 + i % 5],
                (i / 5) % 20, hashint8(i) % 200000, 'q' || floor(power((hashint8(i * 7)::float8 + 2147483649.0) / 4294967298.0, -1.5))::bigint
         FROM generate_series(1, $n) i" "VACUUM ANALYZE rev"
    echo "Loading data ($n search events over 7 days in time order: 1000 customers with skew, 300k users, queries over 200k strings)..." >&2
    sql "CREATE UNLOGGED TABLE sev7 (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
             customer int NOT NULL, user_id bigint NOT NULL, query text NOT NULL)" \
        "INSERT INTO sev7 (at, customer, user_id, query)
         SELECT '2026-06-01'::timestamptz + (i::float8 / $n) * interval '7 days',
                least(floor(power((hashint8(i * 5)::float8 + 2147483649.0) / 4294967298.0, -0.8)), 1000)::int,
                hashint8(i * 3) % 300000,
                'q' || (floor(power((hashint8(i * 7)::float8 + 2147483649.0) / 4294967298.0, -1.0))::bigint % 200000)
         FROM generate_series(1, $n) i" "VACUUM ANALYZE sev7"
    local measures="ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_bigint(user_id)) AS users', 'topn_add_agg(query) AS top_queries']"
    sql "SELECT rollup.create_rollup('bench_rev', 'rev', 'rev_5min', 'at', '5 minutes', ARRAY['platform', 'bot'], $measures)" \
        "SELECT rollup.create_rollup('bench_rev_floor', 'rev', 'rev_floor', 'at', '5 minutes', ARRAY['platform', 'bot'], ARRAY['count(*) AS events'])" \
        "SELECT rollup.create_rollup('bench_sev7', 'sev7', 'sev7_5min', 'at', '5 minutes', ARRAY['customer'], $measures)" \
        "SELECT rollup.create_rollup('bench_sev7_floor', 'sev7', 'sev7_floor', 'at', '5 minutes', ARRAY['customer'], ARRAY['count(*) AS events'])" >/dev/null
    sql "CREATE UNLOGGED TABLE hand_rev (platform text, bot int, bucket timestamptz, events bigint, users pghll.hll, top_queries $topn_type,
             UNIQUE (platform, bot, bucket))" \
        "CREATE UNLOGGED TABLE hand_sev7 (customer int, bucket timestamptz, events bigint, users pghll.hll, top_queries $topn_type,
             UNIQUE (customer, bucket))"
    echo
    echo "$n rows each; hand-written: $hand_what. algolia: $(sql "SELECT count(*) FROM (SELECT DISTINCT platform, bot, date_bin('5 minutes', at, '2000-01-03') FROM rev) g") rollup rows (platform, bot; 5-minute buckets), rows cycling through one day. search: $(sql "SELECT count(*) FROM (SELECT DISTINCT customer, date_bin('5 minutes', at, '2000-01-03') FROM sev7) g") rollup rows (customer; 5-minute buckets), rows in time order over 7 days."
    echo
    echo "| workload | work_mem | rollup.run, count + hll + topn: ms | hand-written: ms | speed-up (hand / rollup.run) | rollup.run, count only (floor): ms | rollup.run / floor | rollup.run source rows/s |"
    echo "|---|---|---|---|---|---|---|---|"
    local w dims table wm q_ours q_floor q_hand
    for w in algolia search; do
        if [ $w = algolia ]; then dims="platform, bot" table=rev; else dims="customer" table=sev7; fi
        for wm in 4MB 64MB; do
            q_ours="SET work_mem = '$wm'; UPDATE rollup.progress SET watermark = 0 WHERE name = 'bench_$table'; TRUNCATE ${table}_5min; $TIMED SELECT rollup.run('bench_$table')"
            q_floor="SET work_mem = '$wm'; UPDATE rollup.progress SET watermark = 0 WHERE name = 'bench_${table}_floor'; TRUNCATE ${table}_floor; $TIMED SELECT rollup.run('bench_${table}_floor')"
            q_hand="SET work_mem = '$wm'; TRUNCATE hand_$table; $TIMED INSERT INTO hand_$table AS t
                SELECT $dims, date_bin('5 minutes', at, '2000-01-03'), count(*), pghll.hll_add_agg(pghll.hll_hash_bigint(user_id)), $topn_agg(query)
                FROM $table WHERE id > 0 AND id <= $n GROUP BY $dims, date_bin('5 minutes', at, '2000-01-03')
                ON CONFLICT ($dims, bucket) DO UPDATE SET events = t.events + excluded.events,
                    users = pghll.hll_union(t.users, excluded.users), top_queries = $topn_union(t.top_queries, excluded.top_queries)"
            measure "$q_ours" "$q_floor" "$q_hand"
            [ "$(sql "SELECT sum(events) FROM ${table}_5min")" = "$n" ] || { echo "rollup.run did not aggregate every row" >&2; exit 1; }
            echo "| $w | $wm | ${BEST[$q_ours]} | ${BEST[$q_hand]} | $(ratio "${BEST[$q_hand]}" "${BEST[$q_ours]}") | ${BEST[$q_floor]} | $(ratio "${BEST[$q_ours]}" "${BEST[$q_floor]}") | $(awk -v n="$n" -v t="${BEST[$q_ours]}" 'BEGIN { printf "%d", n * 1000 / t }') |"
        done
    done
    # What scheduled runs do: the newest rows, merged into the rows already rolled up, each in a
    # new session (as pg_cron's runs are). The hand-written statement merges the same rows.
    sql "TRUNCATE hand_sev7" "INSERT INTO hand_sev7 SELECT customer, date_bin('5 minutes', at, '2000-01-03'), count(*), pghll.hll_add_agg(pghll.hll_hash_bigint(user_id)), $topn_agg(query) FROM sev7 GROUP BY 1, 2"
    echo
    echo "Incremental runs (search workload, default work_mem 4MB): the newest rows (ids above $n - batch), merged into the 5-minute rows already there, each run in a new session; ms per run, best of $ROUNDS:"
    echo
    echo "| batch rows | rollup.run: ms | hand-written: ms | speed-up | rollup.run, count only (floor): ms | rollup.run / floor |"
    echo "|---|---|---|---|---|---|"
    local b
    for b in 1000 10000 100000; do
        q_ours="UPDATE rollup.progress SET watermark = $n - $b WHERE name = 'bench_sev7'; $TIMED SELECT rollup.run('bench_sev7')"
        q_floor="UPDATE rollup.progress SET watermark = $n - $b WHERE name = 'bench_sev7_floor'; $TIMED SELECT rollup.run('bench_sev7_floor')"
        q_hand="$TIMED INSERT INTO hand_sev7 AS t
            SELECT customer, date_bin('5 minutes', at, '2000-01-03'), count(*), pghll.hll_add_agg(pghll.hll_hash_bigint(user_id)), $topn_agg(query)
            FROM sev7 WHERE id > $n - $b AND id <= $n GROUP BY customer, date_bin('5 minutes', at, '2000-01-03')
            ON CONFLICT (customer, bucket) DO UPDATE SET events = t.events + excluded.events,
                users = pghll.hll_union(t.users, excluded.users), top_queries = $topn_union(t.top_queries, excluded.top_queries)"
        PRECISE=1 measure "$q_ours" "$q_floor" "$q_hand"
        echo "| $b | ${BEST[$q_ours]} | ${BEST[$q_hand]} | $(ratio "${BEST[$q_hand]}" "${BEST[$q_ours]}") | ${BEST[$q_floor]} | $(ratio "${BEST[$q_ours]}" "${BEST[$q_floor]}") |"
    done
}

# Milliseconds per query, best of ROUNDS sessions that each run it `reps` times (after one run
# that is not timed), into MS[query].
declare -A MS
measure_each() {
    local reps=$1 q best t
    shift
    for q in "$@"; do MS[$q]=""; done
    for _ in $(seq "$ROUNDS"); do
        for q in "$@"; do
            t=$({ echo "SET max_parallel_workers_per_gather = 0;"; echo "$q;"; echo '\timing on'; for _ in $(seq "$reps"); do echo "$q;"; done; } \
                | $PSQL -qAtX -v ON_ERROR_STOP=1 | awk -v n="$reps" '/^Time: / { t += $2 } END { printf "%.2f", t / n }')
            best=${MS[$q]}
            if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then MS[$q]=$t; fi
        done
    done
}

# The hand-written dashboard query of customer $1 from $2: daily rows before day $3, 5-minute rows
# from it.
hand_dashboard() {
    echo "SELECT sum(events), pghll.hll_cardinality(pghll.hll_union_agg(users))::bigint, (SELECT count(*) FROM pgtopn.topn(pgtopn.topn_union_agg(top_queries), 1000))
          FROM (SELECT events, users, top_queries FROM hday WHERE customer = $1 AND bucket >= $2 AND bucket < $3
                UNION ALL SELECT events, users, top_queries FROM h5 WHERE customer = $1 AND bucket >= greatest($2, $3)) x"
}

# Dashboards (count + distinct users + top 1000 queries of one customer over a range) through a
# query view (daily level + today's 5-minute rows), against the same tables written by hand with
# postgresql-hll and postgresql-topn and queried the way their users do (daily rows UNION ALL
# today's 5-minute rows). Search events over the 30 days up to now, 1000 customers with skew.
bench_dashboard() {
    pgtopn_or_skip "dashboards against postgresql-topn" || return 0
    local n=${DASHBOARD_ROWS:-5000000}
    echo "Loading data ($n search events over 30 days, rollups, hand-written tables)..." >&2
    sql "SELECT rollup.drop_rollup(name) FROM rollup.rollups WHERE name IN ('sday', 's5')" \
        "DROP TABLE IF EXISTS sev, s5, sday, h5, hday CASCADE" \
        "CREATE UNLOGGED TABLE sev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, at timestamptz NOT NULL,
             customer int NOT NULL, user_id bigint NOT NULL, query text NOT NULL)" \
        "INSERT INTO sev (at, customer, user_id, query)
         SELECT now() - interval '30 days' + (i::float8 / $n) * interval '30 days',
                least(floor(power((hashint8(i * 5)::float8 + 2147483649.0) / 4294967298.0, -0.8)), 1000)::int,
                hashint8(i * 3) % 300000,
                'q' || (floor(power((hashint8(i * 7)::float8 + 2147483649.0) / 4294967298.0, -1.0))::bigint % 200000)
         FROM generate_series(1, $n) i" "VACUUM ANALYZE sev"
    sql "SELECT rollup.create_rollup('s5', 'sev', 's5', 'at', '5 minutes', ARRAY['customer'],
             ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_bigint(user_id)) AS users', 'topn_add_agg(query) AS top_queries'])" \
        "SELECT rollup.create_rollup('sday', 's5', 'sday', bucket_width => '1 day', dimensions => ARRAY['customer'],
             measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users', 'topn_union_agg(top_queries) AS top_queries'])" \
        "SELECT rollup.run('s5')" "SELECT rollup.create_view('sday', 'sview', fine_window => '1 day')" >/dev/null
    sql "CREATE UNLOGGED TABLE h5 (customer int, bucket timestamptz, events bigint, users pghll.hll, top_queries jsonb, PRIMARY KEY (customer, bucket))" \
        "CREATE UNLOGGED TABLE hday (LIKE h5 INCLUDING ALL)"
    sql "INSERT INTO h5 SELECT customer, date_bin('5 minutes', at, '2000-01-03'), count(*), pghll.hll_add_agg(pghll.hll_hash_bigint(user_id)), pgtopn.topn_add_agg(query) FROM sev GROUP BY 1, 2"
    sql "INSERT INTO hday SELECT customer, date_bin('1 day', bucket, '2000-01-03'), sum(events), pghll.hll_union_agg(users), pgtopn.topn_union_agg(top_queries) FROM h5 GROUP BY 1, 2" \
        "VACUUM ANALYZE s5" "VACUUM ANALYZE sday" "VACUUM ANALYZE h5" "VACUUM ANALYZE hday"
    local today big mid small
    today=$(sql "SELECT date_bin('1 day', now(), '2000-01-03')")
    # What a hand-written pipeline that is right after midnight keeps: the day its daily job has
    # rolled up to (the literal day in the query above is right only once that job has run).
    sql "DROP TABLE IF EXISTS hand_done" "CREATE TABLE hand_done (until timestamptz NOT NULL)" "INSERT INTO hand_done VALUES ('$today')"
    read -r big mid small < <(sql "SELECT string_agg(customer::text, ' ' ORDER BY r) FROM (SELECT customer, row_number() OVER (ORDER BY count(*) DESC) r FROM sev GROUP BY 1) c WHERE r IN (1, 10, 300)")
    echo
    echo "$n events over 30 days up to now; query view sview (daily level before today, 5-minute rows from today's midnight); hand-written: the same two tables with postgresql-hll and postgresql-topn, daily rows UNION ALL today's 5-minute rows. Customers by events: rank 1 ($(sql "SELECT count(*) FROM sev WHERE customer = $big") events), rank 10, rank 300. ms per dashboard (count + distinct users + top 1000), best of $ROUNDS sessions of 20 runs each:"
    echo
    echo "| range | customer | pg_rollup query view: ms | hand-written: ms | speed-up | hand-written, day from its bookkeeping: ms | speed-up | rows read (view) | same count |"
    echo "|---|---|---|---|---|---|---|---|---|"
    local range start c q_ours q_hand q_handx
    for range in "1 hour" "today" "7 days" "30 days" "90 days"; do
        if [ "$range" = today ]; then start="'$today'::timestamptz"
        elif [ "$range" = "1 hour" ]; then start="greatest(date_bin('5 minutes', now() - interval '1 hour', '2000-01-03'), '$today')"
        else start="'$today'::timestamptz - interval '$range' + interval '1 day'"; fi
        for c in "$big" "$mid" "$small"; do
            q_ours="SELECT sum(events), hll_cardinality(hll_union_agg(users))::bigint, (SELECT count(*) FROM topn(topn_union_agg(top_queries), 1000)) FROM sview WHERE customer = $c AND bucket >= $start"
            q_hand=$(hand_dashboard "$c" "$start" "'$today'")
            q_handx=$(hand_dashboard "$c" "$start" "(SELECT until FROM hand_done)")
            measure_each 20 "$q_ours" "$q_hand" "$q_handx"
            echo "| $range | rank $( [ "$c" = "$big" ] && echo 1 || { [ "$c" = "$mid" ] && echo 10 || echo 300; }) | ${MS[$q_ours]} | ${MS[$q_hand]} | $(awk -v a="${MS[$q_hand]}" -v b="${MS[$q_ours]}" 'BEGIN { printf "%.2f", a / b }') | ${MS[$q_handx]} | $(awk -v a="${MS[$q_handx]}" -v b="${MS[$q_ours]}" 'BEGIN { printf "%.2f", a / b }') | $(sql "SELECT count(*) FROM sview WHERE customer = $c AND bucket >= $start") | $( [ "$(sql "$q_ours" | cut -d'|' -f1)" = "$(sql "$q_hand" | cut -d'|' -f1)" ] && [ "$(sql "$q_ours" | cut -d'|' -f1)" = "$(sql "$q_handx" | cut -d'|' -f1)" ] && echo yes || echo NO) |"
        done
    done
}

# COPY text of bot events `k` (an SQL expression over i) for i in first..last, 5 platforms.
events_file() {
    local first=$1 last=$2 k=$3 file=$4
    sql "COPY (SELECT platform, '2026-06-01'::timestamptz + k * interval '10 ms',
                      CASE platform WHEN 'facebook' THEN jsonb_build_object('message', jsonb_build_object('mid', 'm.' || k, 'text', 'hello there'))
                                    WHEN 'slack' THEN jsonb_build_object('event_id', 'Ev' || k, 'event', jsonb_build_object('text', 'hello there'))
                                    WHEN 'twilio' THEN jsonb_build_object('MessageSid', 'SM' || k, 'Body', 'hello there')
                                    WHEN 'kik' THEN jsonb_build_object('id', 'k' || k, 'body', 'hello there')
                                    ELSE jsonb_build_object('update_id', k, 'message', jsonb_build_object('text', 'hello there')) END
               FROM (SELECT $k AS k FROM generate_series($first, $last) i) s,
                    LATERAL (SELECT (ARRAY['facebook','slack','twilio','kik','telegram'])[1 + s.k % 5] AS platform) p)
         TO '$file'"
}

bench_ingest() {
    local n=${INGEST_ROWS:-500000} file=/tmp/pg_rollup_bench_events.tsv
    echo "Generating 2 x $n bot events (5 platforms)..." >&2
    sql "DROP TABLE IF EXISTS iev_plain, iev_rules, iev_staging"
    sql "CREATE TABLE iev_plain (id bigint GENERATED ALWAYS AS IDENTITY, platform text NOT NULL, received_at timestamptz NOT NULL, payload jsonb NOT NULL)" \
        "CREATE TABLE iev_rules (LIKE iev_plain INCLUDING ALL)" \
        "CREATE UNLOGGED TABLE iev_staging (platform text, received_at timestamptz, payload jsonb)"
    for p in messenger slack twilio kik telegram; do
        sql "SELECT rollup.add_uniqueness_rule('iev_rules', (SELECT platform FROM rollup.uniqueness_presets() WHERE preset = '$p'), preset => '$p')" >/dev/null
    done
    sql "SELECT rollup.create_ingest_view('iev_rules')" >/dev/null
    # Batch 1: every 10th event takes the key (and payload) of the event at half its position: 5 %
    # of the batch repeat a key of the batch (the other half of them take a key no event keeps).
    events_file 1 "$n" "CASE WHEN i % 10 = 0 THEN i / 2 ELSE i END" "$file"
    # Batch 2, after batch 1 is stored: new events, every 20th a retry of a stored one.
    events_file $((n + 1)) $((2 * n)) "CASE WHEN i % 20 = 0 THEN i - $n - 1 ELSE i END" "$file.2"
    # Batch 1 without its retries, in the batch's order: what COPY into the table with the
    # rules' indexes costs when there is nothing to deduplicate (the floor of any path that
    # keeps the indexes; sorted by key it would cost much less, the index pages being filled in
    # order). Stored by the ingest view, which is checked against rollup.ingest below.
    sql "TRUNCATE iev_rules" "LOAD 'pg_rollup'" "COPY iev_rules_ingest (platform, received_at, payload) FROM '$file'" \
        "COPY (SELECT platform, received_at, payload FROM iev_rules ORDER BY id) TO '$file.unique'"
    local temp="CREATE TEMP TABLE st (LIKE iev_staging);"
    local q_copy="TRUNCATE iev_plain; $TIMED COPY iev_plain (platform, received_at, payload) FROM '$file'"
    local q_floor="TRUNCATE iev_rules; $TIMED COPY iev_rules (platform, received_at, payload) FROM '$file.unique'"
    local q_shared="TRUNCATE iev_rules, iev_staging; $TIMED COPY iev_staging FROM '$file'; SELECT * FROM rollup.ingest('iev_rules', 'iev_staging')"
    local q_shared_fn="TRUNCATE iev_rules, iev_staging; COPY iev_staging FROM '$file'; $TIMED SELECT * FROM rollup.ingest('iev_rules', 'iev_staging')"
    local q_temp="TRUNCATE iev_rules; $temp $TIMED COPY st FROM '$file'; SELECT * FROM rollup.ingest('iev_rules', 'st')"
    local q_temp_fn="TRUNCATE iev_rules; $temp COPY st FROM '$file'; $TIMED SELECT * FROM rollup.ingest('iev_rules', 'st')"
    local q_temp2="TRUNCATE iev_rules; COPY iev_rules (platform, received_at, payload) FROM '$file.unique'; $temp $TIMED COPY st FROM '$file.2'; SELECT * FROM rollup.ingest('iev_rules', 'st')"
    local q_temp2_fn="TRUNCATE iev_rules; COPY iev_rules (platform, received_at, payload) FROM '$file.unique'; $temp COPY st FROM '$file.2'; $TIMED SELECT * FROM rollup.ingest('iev_rules', 'st')"
    # COPY into the ingest view, read straight into iev_rules by pg_rollup's loader (loaded first:
    # its hook takes over COPY only in sessions that have loaded the library).
    local q_view="TRUNCATE iev_rules; LOAD 'pg_rollup'; $TIMED COPY iev_rules_ingest (platform, received_at, payload) FROM '$file'"
    local q_view2="TRUNCATE iev_rules; COPY iev_rules (platform, received_at, payload) FROM '$file.unique'; LOAD 'pg_rollup'; $TIMED COPY iev_rules_ingest (platform, received_at, payload) FROM '$file.2'"
    measure "$q_copy" "$q_view" "$q_view2" "$q_floor" "$q_shared" "$q_shared_fn" "$q_temp" "$q_temp_fn" "$q_temp2" "$q_temp2_fn"
    local c=${BEST[$q_copy]} stored stored2 by_view by_view2
    stored=$(sql "TRUNCATE iev_rules" "COPY iev_staging FROM '$file'" "SELECT inserted FROM rollup.ingest('iev_rules', 'iev_staging')")
    stored2=$(sql "COPY iev_staging FROM '$file.2'" "SELECT inserted FROM rollup.ingest('iev_rules', 'iev_staging')")
    # The ingest view must store exactly what rollup.ingest stores.
    by_view=$(sql "TRUNCATE iev_rules" "LOAD 'pg_rollup'" "COPY iev_rules_ingest (platform, received_at, payload) FROM '$file'" \
        "SELECT count(*) FROM iev_rules")
    by_view2=$(sql "LOAD 'pg_rollup'" "COPY iev_rules_ingest (platform, received_at, payload) FROM '$file.2'" "SELECT count(*) FROM iev_rules")
    if [ "$by_view" != "$stored" ] || [ "$by_view2" != "$((stored + stored2))" ]; then
        echo "the ingest view stored $by_view and $by_view2 rows, rollup.ingest $stored and $((stored + stored2))" >&2
        exit 1
    fi
    row() { echo "| $1 | $2 | $c | $(ratio "$c" "$2") | $(awk -v n="$n" -v t="$2" 'BEGIN { printf "%d", n * 1000 / t }') |"; }
    echo
    echo "| $n events: what is timed | ms | plain COPY, no indexes: ms | ratio (COPY time / this) | rows/s |"
    echo "|---|---|---|---|---|"
    row "batch 1 ($stored unique): COPY into the ingest view (pg_rollup's loader)" "${BEST[$q_view]}"
    row "batch 2 ($stored2 new, the rest stored already): COPY into the ingest view" "${BEST[$q_view2]}"
    row "batch 1: COPY to an unlogged staging table + rollup.ingest" "${BEST[$q_shared]}"
    row "batch 1: rollup.ingest from the unlogged staging table" "${BEST[$q_shared_fn]}"
    row "batch 1: COPY to a temporary staging table + rollup.ingest" "${BEST[$q_temp]}"
    row "batch 1: rollup.ingest from the temporary staging table" "${BEST[$q_temp_fn]}"
    row "batch 2 ($stored2 new, the rest stored already): COPY to a temporary staging table + rollup.ingest" "${BEST[$q_temp2]}"
    row "batch 2: rollup.ingest from the temporary staging table" "${BEST[$q_temp2_fn]}"
    row "floor: COPY of batch 1's $stored unique events, in order, into the table with the 5 rule indexes, nothing else" "${BEST[$q_floor]}"
    rm -f "$file" "$file.2" "$file.unique"
}

# Bad rows (issue 22): the same batch with 1 % of its rows bad, into a rejects table, against the
# batch without them. Pre-checked kinds through rollup.ingest (a NULL platform, a NULL time, a
# missing key, a key over 2000 bytes: rejected in the batch statement); a value its column does
# not take (a bad timestamp) through rollup.ingest_json, which stores the batch again in parts.
bench_ingest_errors() {
    local n=${INGEST_ROWS:-500000} file=/tmp/pg_rollup_bench_events.tsv
    local long
    long=$(printf 'x%.0s' $(seq 1 2500))
    sql "DROP TABLE IF EXISTS iev_rules, iev_staging, iev_rejects CASCADE"
    sql "CREATE TABLE iev_rules (id bigint GENERATED ALWAYS AS IDENTITY, platform text NOT NULL, received_at timestamptz NOT NULL, payload jsonb NOT NULL)" \
        "CREATE UNLOGGED TABLE iev_staging (platform text, received_at timestamptz, payload jsonb)" \
        "CREATE TABLE iev_rejects (reason text, event jsonb)"
    for p in messenger slack twilio kik telegram; do
        sql "SELECT rollup.add_uniqueness_rule('iev_rules', (SELECT platform FROM rollup.uniqueness_presets() WHERE preset = '$p'), preset => '$p')" >/dev/null
    done
    events_file 1 "$n" "i" "$file"
    # Every 100th row bad, the four kinds in turn.
    awk -F'\t' -v OFS='\t' -v long="$long" 'NR % 100 == 50 { k = (NR / 100) % 4;
        if (k < 1) $1 = "\\N"; else if (k < 2) $2 = "\\N"; else if (k < 3) $3 = "{}";
        else { $1 = "slack"; $3 = "{\"event_id\": \"" long "\"}" } } { print }' "$file" >"$file.bad"
    # ... and every 100th line with a time that does not parse (for COPY into an ingest view).
    awk -F'\t' -v OFS='\t' 'NR % 100 == 50 { $2 = "nope" } { print }' "$file" >"$file.parse"
    sql "SELECT rollup.create_ingest_view('iev_rules')" "SELECT rollup.create_ingest_view('iev_rules', 'iev_rules_checked', 'iev_rejects')" >/dev/null
    local q_view="TRUNCATE iev_rules, iev_rejects; LOAD 'pg_rollup'; $TIMED COPY iev_rules_ingest (platform, received_at, payload) FROM '$file'"
    local q_vgood="TRUNCATE iev_rules, iev_rejects; LOAD 'pg_rollup'; $TIMED COPY iev_rules_checked (platform, received_at, payload) FROM '$file'"
    local q_vbad="TRUNCATE iev_rules, iev_rejects; LOAD 'pg_rollup'; $TIMED COPY iev_rules_checked (platform, received_at, payload) FROM '$file.bad'"
    local q_vparse="TRUNCATE iev_rules, iev_rejects; LOAD 'pg_rollup'; $TIMED COPY iev_rules_checked (platform, received_at, payload) FROM '$file.parse'"
    local temp="CREATE TEMP TABLE st (LIKE iev_staging);"
    local q_nogood="TRUNCATE iev_rules, iev_rejects; $temp COPY st FROM '$file'; $TIMED SELECT * FROM rollup.ingest('iev_rules', 'st')"
    local q_good="TRUNCATE iev_rules, iev_rejects; $temp COPY st FROM '$file'; $TIMED SELECT * FROM rollup.ingest('iev_rules', 'st', 'iev_rejects')"
    local q_bad="TRUNCATE iev_rules, iev_rejects; $temp COPY st FROM '$file.bad'; $TIMED SELECT * FROM rollup.ingest('iev_rules', 'st', 'iev_rejects')"
    # ingest_json: 50k events, 1 % with a timestamp that does not parse.
    local j=50000
    local q_jgood="TRUNCATE iev_rules, iev_rejects; CREATE TEMP TABLE b AS SELECT jsonb_agg(to_jsonb(s)) AS j FROM (SELECT * FROM iev_staging LIMIT $j) s; $TIMED SELECT * FROM rollup.ingest_json('iev_rules', (SELECT j FROM b), 'iev_rejects')"
    local q_jbad="TRUNCATE iev_rules, iev_rejects; CREATE TEMP TABLE b AS SELECT jsonb_agg(CASE WHEN n % 100 = 50 THEN jsonb_set(to_jsonb(s) - 'n', '{received_at}', '\"not a time\"') ELSE to_jsonb(s) - 'n' END) AS j FROM (SELECT s.*, row_number() OVER () AS n FROM (SELECT * FROM iev_staging LIMIT $j) s) s; $TIMED SELECT * FROM rollup.ingest_json('iev_rules', (SELECT j FROM b), 'iev_rejects')"
    sql "TRUNCATE iev_staging" "COPY iev_staging FROM '$file'"
    measure "$q_view" "$q_vgood" "$q_vbad" "$q_vparse" "$q_nogood" "$q_good" "$q_bad" "$q_jgood" "$q_jbad"
    local counts
    counts=$(sql "TRUNCATE iev_rules, iev_rejects" "CREATE TEMP TABLE st (LIKE iev_staging)" "COPY st FROM '$file.bad'" \
        "SELECT format('%s stored, %s duplicates, %s rejected', inserted, duplicates, rejected) FROM rollup.ingest('iev_rules', 'st', 'iev_rejects')")
    echo
    echo "| what is timed | ms, no bad rows | ms, 1 % bad | rows/s, no bad rows | rows/s, 1 % bad | ratio (rows/s bad / good) | target |"
    echo "|---|---|---|---|---|---|---|"
    echo "| rollup.ingest of $n events from a temporary staging table, rejects table given ($counts) | ${BEST[$q_good]} | ${BEST[$q_bad]} | $((n * 1000 / BEST[$q_good])) | $((n * 1000 / BEST[$q_bad])) | $(ratio "${BEST[$q_good]}" "${BEST[$q_bad]}") | >= 0.8 |"
    echo "| COPY of $n events into an ingest view with a rejects table (pg_rollup's loader), the same bad rows | ${BEST[$q_vgood]} | ${BEST[$q_vbad]} | $((n * 1000 / BEST[$q_vgood])) | $((n * 1000 / BEST[$q_vbad])) | $(ratio "${BEST[$q_vgood]}" "${BEST[$q_vbad]}") | >= 0.8 |"
    echo "| the same COPY, 1 % of lines with a time that does not parse | ${BEST[$q_vgood]} | ${BEST[$q_vparse]} | $((n * 1000 / BEST[$q_vgood])) | $((n * 1000 / BEST[$q_vparse])) | $(ratio "${BEST[$q_vgood]}" "${BEST[$q_vparse]}") | >= 0.8 |"
    echo "| rollup.ingest_json of $j events, 1 % with a bad timestamp | ${BEST[$q_jgood]} | ${BEST[$q_jbad]} | $((j * 1000 / BEST[$q_jgood])) | $((j * 1000 / BEST[$q_jbad])) | $(ratio "${BEST[$q_jgood]}" "${BEST[$q_jbad]}") | |"
    echo
    echo "All good rows: what a rejects table costs. COPY into an ingest view without one: ${BEST[$q_view]} ms, with one: ${BEST[$q_vgood]} ms (ratio $(ratio "${BEST[$q_view]}" "${BEST[$q_vgood]}")); rollup.ingest without: ${BEST[$q_nogood]} ms, with: ${BEST[$q_good]} ms (ratio $(ratio "${BEST[$q_nogood]}" "${BEST[$q_good]}"))."
    rm -f "$file" "$file.bad" "$file.parse"
}

# qsketch against tdigest (compression 100) on the same rows: 5M latencies (log-normal, a heavy
# tail, 2 % zeros) in 500 partial sketches of 10k rows, as the rows of a rollup hold them:
# aggregation speed, percentiles read from the union of the 500 against percentile_disc over the
# raw rows, bytes per sketch; GROUP BY memory at two work_mem settings.
bench_qsketch() {
    echo "Loading data (5M latencies, 500 groups)..." >&2
    sql "DROP TABLE IF EXISTS blat" "CREATE UNLOGGED TABLE blat AS
         SELECT i, i % 500 AS g,
                CASE WHEN i % 50 = 0 THEN 0 ELSE round((exp(3 + 1.3 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2)))::numeric, 3)::float8 END AS ms
         FROM (SELECT i, (hashint4(i)::float8 + 2147483649.0) / 4294967298.0 AS u1,
                      (hashint4(-i)::float8 + 2147483649.0) / 4294967298.0 AS u2 FROM generate_series(1, 5000000) i) s" \
        "VACUUM ANALYZE blat"
    local q_scan="SELECT count(ms) FROM blat"
    local q_qs="SELECT qsketch_count(qsketch_add_agg(ms)) FROM blat"
    local q_qs_g="SELECT count(s) FROM (SELECT g, qsketch_add_agg(ms) AS s FROM blat GROUP BY g) x"
    local q_td="" q_td_g="" td_cols="NULL, NULL" td_bytes="" td_union=""
    if anchor_or_skip tdigest tdig "tdigest (tvondra/tdigest)" "tdigest columns"; then
        q_td="SELECT tdig.tdigest(ms, 100) IS NOT NULL FROM blat"
        q_td_g="SELECT count(s) FROM (SELECT g, tdig.tdigest(ms, 100) AS s FROM blat GROUP BY g) x"
        # (tdigest_percentile over digests is an aggregate: it merges them, then reads the percentile)
        td_cols="(SELECT round(tdig.tdigest_percentile(t, e.q)::numeric, 3) FROM blat_tparts),
                 (SELECT round((100 * abs(tdig.tdigest_percentile(t, e.q) - e.exact) / e.exact)::numeric, 3) FROM blat_tparts)"
        sql "DROP TABLE IF EXISTS blat_tparts" "CREATE UNLOGGED TABLE blat_tparts AS SELECT g, tdig.tdigest(ms, 100) AS t FROM blat GROUP BY g"
        td_bytes=$(sql "SELECT round(avg(pg_column_size(t))) FROM blat_tparts")
        td_union=$(sql "SELECT pg_column_size(tdig.tdigest(t)) FROM blat_tparts")
    fi
    measure "$q_scan" "$q_qs" "$q_qs_g" ${q_td:+"$q_td"} ${q_td_g:+"$q_td_g"}
    local scan=${BEST[$q_scan]} label a b qs td
    echo
    echo "| 5M rows: ms above a count(ms) scan (${scan} ms) | qsketch | tdigest (100) | qsketch rows/s | tdigest rows/s | qsketch speed / tdigest speed |"
    echo "|---|---|---|---|---|---|"
    for label in "one sketch" "500 groups"; do
        if [ "$label" = "one sketch" ]; then a=$q_qs; b=$q_td; else a=$q_qs_g; b=$q_td_g; fi
        qs=$((BEST[$a] - scan)); td=""
        [ -n "$b" ] && td=$((BEST[$b] - scan))
        echo "| $label | $qs | ${td:-not installed} | $(rate_of 5000000 "${BEST[$a]}" "$scan") | ${td:+$(rate_of 5000000 "${BEST[$b]}" "$scan")} | ${td:+$(ratio "$td" "$qs")} |"
    done
    sql "DROP TABLE IF EXISTS blat_parts" "CREATE UNLOGGED TABLE blat_parts AS SELECT g, qsketch_add_agg(ms) AS q FROM blat GROUP BY g"
    echo
    echo "Percentiles of the union of the 500 partial sketches against percentile_disc over the 5M rows"
    echo "(error: |estimate - exact| / exact; qsketch guarantees 1 %, tdigest gives no bound):"
    echo
    echo "| quantile | exact | qsketch | qsketch error % | tdigest | tdigest error % |"
    echo "|---|---|---|---|---|---|"
    $PSQL -qAtX -v ON_ERROR_STOP=1 -F ' | ' -c "
        WITH qs AS (SELECT unnest(ARRAY[0.5, 0.9, 0.99, 0.999, 0.9999]) AS q),
             e AS (SELECT q, percentile_disc(q) WITHIN GROUP (ORDER BY ms) AS exact FROM qs, blat GROUP BY q),
             s AS (SELECT qsketch_union_agg(q) AS q FROM blat_parts)
        SELECT e.q, e.exact, round(qsketch_percentile(s.q, e.q)::numeric, 3),
               round((100 * abs(qsketch_percentile(s.q, e.q) - e.exact) / e.exact)::numeric, 3), $td_cols
        FROM e, s ORDER BY e.q" | sed 's/^/| /; s/$/ |/'
    echo
    echo "| bytes per stored sketch | qsketch | tdigest (100) |"
    echo "|---|---|---|"
    echo "| 500 sketches of 10k rows, mean pg_column_size | $(sql "SELECT round(avg(pg_column_size(q))) FROM blat_parts") | ${td_bytes:-not installed} |"
    echo "| their union | $(sql "SELECT pg_column_size(qsketch_union_agg(q)) FROM blat_parts") | ${td_union:-not installed} |"

    # GROUP BY memory: hash aggregation over groups made first (i % groups), values over three
    # orders of magnitude; EXPLAIN ANALYZE's Memory Usage and batches, and the time of the query.
    echo
    echo "| GROUP BY, work_mem | qsketch Memory Usage | batches | ms | tdigest (100) Memory Usage | batches | ms |"
    echo "|---|---|---|---|---|---|---|"
    local groups rows wm plan q
    for groups in 100000 10000; do
        rows=2000000
        sql "DROP TABLE IF EXISTS bqmem" "CREATE UNLOGGED TABLE bqmem AS
             SELECT i % $groups AS g, 10 ^ (3 * (hashint4(i)::float8 + 2147483649.0) / 4294967298.0) AS ms
             FROM generate_series(1, $rows) i" "VACUUM ANALYZE bqmem"
        for wm in 2GB 64MB; do
            local cells=""
            for q in "qsketch_add_agg(ms)" ${q_td:+"tdig.tdigest(ms, 100)"}; do
                q="SET work_mem = '$wm'; SET enable_sort = off; SET max_parallel_workers_per_gather = 0;
                   SELECT count(s) FROM (SELECT g, $q AS s FROM bqmem GROUP BY g) x"
                plan=$(sql "${q/SELECT count/EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count}")
                measure "$q"
                cells="$cells | $(grep -oE 'Memory Usage: [0-9]+kB' <<<"$plan" | head -1 | grep -oE '[0-9]+' | awk '{ printf "%d MB", $1 / 1024 }') | $(grep -oE 'Batches: [0-9]+' <<<"$plan" | head -1 | grep -oE '[0-9]+') | ${BEST[$q]}"
            done
            [ -n "$q_td" ] || cells="$cells | not installed | |"
            echo "| $groups groups of $((rows / groups)) values, $wm$cells |"
        done
    done
}

# Search sessions: SEARCH_ROWS (default 1M) instant-search requests (a search types a word a
# keystroke at a time, 100-400 ms apart; 20k users of 50 apps, a search every 30 s each) in
# time order; rollup.run of a stage over all of them (one batch) against a plain window-function
# query that does the same collapse into a table (lag to find where a search starts, a running
# count to number the searches, then a GROUP BY), both with the same rule function. Each run
# starts from an empty target.
bench_searches() {
    local n=${SEARCH_ROWS:-1000000}
    echo "Loading $n requests..." >&2
    sql "DROP TABLE IF EXISTS bks_out, bks_window" \
        "SELECT rollup.drop_rollup(name, drop_target => true) FROM rollup.rollups WHERE name = 'bks'" \
        "DROP TABLE IF EXISTS bks" \
        "CREATE UNLOGGED TABLE bks (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, app text, usr text, q text, at timestamptz, hits int)" \
        "INSERT INTO bks (app, usr, q, at, hits)
         SELECT 'app' || (s % 50), 'user' || (s % 20000), left(w, i),
                '2026-11-01 00:00+00'::timestamptz + (s / 20000) * interval '30 seconds' + (s % 20000) * interval '1 millisecond'
                    + i * (100 + abs(hashint4(s)) % 300) * interval '1 millisecond', 100 - i
         FROM (SELECT s, (ARRAY['algolia', 'apple pie', 'banana split', 'search engine', 'postgres', 'rollup', 'cafe', 'analytics', 'shoes', 'red dress'])[1 + abs(hashint4(s)) % 10] AS w
               FROM generate_series(0, ($n / 7)::int) s) x, generate_series(1, length(w)) i
         ORDER BY 4 LIMIT $n" \
        "VACUUM ANALYZE bks"
    local window="CREATE UNLOGGED TABLE bks_window AS
        SELECT app, usr, (array_agg(q) FILTER (WHERE last))[1] AS q, min(at) AS first_at, max(at) AS last_at, count(*)::int AS keystrokes,
               (array_agg(hits) FILTER (WHERE last))[1] AS hits
        FROM (SELECT k.*, count(*) FILTER (WHERE brk) OVER w AS search, coalesce(lead(brk) OVER w, true) AS last
              FROM (SELECT b.*, NOT coalesce(at - lag(at) OVER w <= interval '3 seconds'
                                             AND rollup_internal.search_continues(lag(q) OVER w, q), false) AS brk
                    FROM bks b WINDOW w AS (PARTITION BY app, usr ORDER BY at, id)) k
              WINDOW w AS (PARTITION BY app, usr ORDER BY at, id ROWS UNBOUNDED PRECEDING)) k
        GROUP BY app, usr, search"
    local stage="SELECT rollup.run('bks')"
    local wm
    for wm in 64MB 256MB; do
        local q_window="SET work_mem = '$wm'; DROP TABLE IF EXISTS bks_window; $TIMED $window"
        local q_stage="SET work_mem = '$wm'; SELECT rollup.drop_rollup(name, drop_target => true) FROM rollup.rollups WHERE name = 'bks';
            SELECT name FROM rollup.create_search_sessions('bks', 'bks', 'bks_out', ARRAY['app', 'usr'], 'q', 'at', keep => ARRAY['hits']); $TIMED $stage"
        measure "$q_window" "$q_stage"
        echo "| $(sql "SELECT count(*) FROM bks") requests, work_mem $wm | $(sql "SELECT count(*) FROM bks_out") searches | stage ${BEST[$q_stage]} ms ($(rate_of "$n" "${BEST[$q_stage]}" 0) rows/s) | window query ${BEST[$q_window]} ms ($(rate_of "$n" "${BEST[$q_window]}" 0) rows/s) | $(ratio "${BEST[$q_window]}" "${BEST[$q_stage]}") |"
    done
    echo "(the stage's searches: $(sql "SELECT count(*) FROM bks_out"), still open: $(sql "SELECT count(*) FROM bks_out_pending"); the window query's: $(sql "SELECT count(*) FROM bks_window"); differing: $(sql "SELECT count(*) FROM (SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM bks_out UNION ALL SELECT app, usr, q, first_at, last_at, keystrokes, hits FROM bks_out_pending EXCEPT ALL SELECT * FROM bks_window WHERE q <> '') x"))"
}

setup
case "$what" in
    hll) bench_hll ;;
    topn) bench_topn ;;
    topn-union) bench_topn_union ;;
    memory) bench_memory ;;
    dashboard) bench_dashboard ;;
    accuracy) bench_accuracy ;;
    qsketch) bench_qsketch ;;
    searches) bench_searches ;;
    rollup) bench_rollup ;;
    ingest) bench_ingest; bench_ingest_errors ;;
    ingest-errors) bench_ingest_errors ;;
    all) bench_hll; bench_topn; bench_topn_union; bench_memory; bench_rollup; bench_dashboard; bench_ingest; bench_ingest_errors; bench_accuracy; bench_qsketch; bench_searches ;;
    *) echo "unknown section $what" >&2; exit 2 ;;
esac
