#!/usr/bin/env bash
# pg_test.sh — the one entry point for people and CI.
#
#   ./pg_test.sh setup    install what is missing, build and install the extension (idempotent)
#   ./pg_test.sh start    start the throwaway PostgreSQL 15 cluster (private port and socket)
#   ./pg_test.sh stop     stop it
#   ./pg_test.sh psql     psql into it (extra arguments are passed on)
#   ./pg_test.sh test     setup, then every test suite; non-zero exit on any failure
#   ./pg_test.sh sql-test only the SQL golden tests, against the installed build (SQL_TESTS="a b":
#                         only tests/sql/a.sql and b.sql)
#   ./pg_test.sh cluster-test  only the crash-recovery and dump/restore tests (clusters of their own)
#   ./pg_test.sh doc-test only the SQL examples of docs/*.md, against the installed build
#   ./pg_test.sh citus-test  tests/citus on a local Citus coordinator + 2 workers, against the installed
#                         build; skipped (exit 0) when Citus is not installed
#   ./pg_test.sh fuzz     the decoders (1M inputs per target, overflow checks on) and every SQL input
#                         path of hll and topn (FUZZ_INPUTS per target, default 1M) against the build
#   ./pg_test.sh demo     setup, start, and run the demo script
#   ./pg_test.sh bench    setup, start, and run the benchmarks against postgresql-hll
#
# Environment: PG_ROLLUP_RUNDIR (default /tmp/pg_rollup) holds the cluster, its socket and
# test output; PG_ROLLUP_PORT (default 54329) is its port.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_MAJOR=15
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PGBIN/pg_config
PGRX_VERSION=0.18.1
RUNDIR=${PG_ROLLUP_RUNDIR:-/tmp/pg_rollup}
PGDATA_DIR=$RUNDIR/data
SOCKDIR=$RUNDIR/sock
PGLOG=$RUNDIR/log/postgres.log
PORT=${PG_ROLLUP_PORT:-54329}
EXT_DIR=$ROOT/pg_rollup
APT_PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang sudo
              postgresql-$PG_MAJOR-hll postgresql-$PG_MAJOR-cron python3)

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'pg_test.sh: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
as_root() { if is_root; then "$@"; else sudo "$@"; fi; }
# The cluster runs as the postgres OS user when we are root (initdb refuses root).
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_owner() { if is_root; then echo postgres; else id -un; fi; }

export PATH="$HOME/.cargo/bin:$PATH"

# ---------------------------------------------------------------- setup

install_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "apt packages: all present"
        return
    fi
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

install_cargo_pgrx() {
    if cargo pgrx --version 2>/dev/null | grep -qx "cargo-pgrx $PGRX_VERSION"; then
        echo "cargo-pgrx $PGRX_VERSION: already installed, skipping"
        return
    fi
    log "installing cargo-pgrx $PGRX_VERSION"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
}

init_pgrx() {
    local cfg="$HOME/.pgrx/config.toml"
    if [ -f "$cfg" ] && grep -q "^pg$PG_MAJOR = \"$PG_CONFIG\"" "$cfg"; then
        echo "pgrx: pg$PG_MAJOR already configured"
        return
    fi
    log "cargo pgrx init --pg$PG_MAJOR $PG_CONFIG"
    cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
}

install_extension() {
    log "building and installing pg_rollup (release)"
    local sudo_flag=()
    is_root || sudo_flag=(--sudo)
    (cd "$EXT_DIR" && cargo pgrx install --release --pg-config "$PG_CONFIG" "${sudo_flag[@]}")
    # The install scripts of earlier releases and the update scripts between versions, for
    # CREATE EXTENSION pg_rollup VERSION '...' and ALTER EXTENSION pg_rollup UPDATE.
    as_root cp "$EXT_DIR"/sql/releases/*.sql "$EXT_DIR"/sql/upgrade/*.sql "$("$PG_CONFIG" --sharedir)/extension/"
}

cmd_setup() {
    install_packages
    install_cargo_pgrx
    init_pgrx
    install_extension
}

# ---------------------------------------------------------------- cluster

pg_ctl_() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" "$@"; }
is_running() { [ -f "$PGDATA_DIR/postmaster.pid" ] && pg_ctl_ status >/dev/null 2>&1; }

cmd_start() {
    mkdir -p "$RUNDIR"
    chmod 755 "$RUNDIR"
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        log "initdb $PGDATA_DIR"
        mkdir -p "$PGDATA_DIR" "$SOCKDIR" "$(dirname "$PGLOG")"
        as_root chown "$(pg_owner)" "$PGDATA_DIR" "$SOCKDIR" "$(dirname "$PGLOG")"
        as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        echo "include_if_exists = 'pg_test.conf'" | as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
    fi
    # Rewritten at every start, so a cluster made by an older pg_test.sh gets current settings.
    cat <<EOF | as_pg tee "$PGDATA_DIR/pg_test.conf" >/dev/null
# pg_test.sh: a private, throwaway cluster
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCKDIR'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
# jobs run in background workers: no TCP listener needed
cron.use_background_workers = on
max_worker_processes = 24
max_parallel_workers_per_gather = 2
fsync = off
EOF
    if is_running; then
        echo "cluster already running (socket $SOCKDIR, port $PORT)"
        return
    fi
    # The server never inherits RUST_BACKTRACE: error details must not depend on the caller's shell.
    as_pg env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -w start >/dev/null || { tail -20 "$PGLOG"; die "postgres did not start"; }
    echo "cluster running (socket $SOCKDIR, port $PORT)"
}

cmd_stop() {
    if is_running; then pg_ctl_ -m fast -w stop >/dev/null; echo "cluster stopped"; else echo "cluster not running"; fi
}

psql_() { "$PGBIN/psql" -X -h "$SOCKDIR" -p "$PORT" -U postgres "$@"; }

cmd_psql() { psql_ "$@"; }

recreate_db() {
    psql_ -d postgres -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\""
}

# ---------------------------------------------------------------- tests

SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0

record() { # suite passed failed
    SUMMARY+=("$(printf '%-14s %4d passed, %d failed' "$1" "$2" "$3")")
    TOTAL_PASSED=$((TOTAL_PASSED + $2))
    TOTAL_FAILED=$((TOTAL_FAILED + $3))
}

# Sum the counts of every "test result:" line cargo printed; a suite that did not run at all is a failure.
record_cargo() { # suite logfile exit_code
    local passed failed
    passed=$(grep -oE 'test result: [A-Za-z]+\. [0-9]+ passed' "$2" | awk '{s+=$4} END {print s+0}')
    failed=$(grep -oE '[0-9]+ failed;' "$2" | awk '{s+=$1} END {print s+0}')
    if [ "$3" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    record "$1" "$passed" "$failed"
}

# Count the lines of a log matching a passed and a failed pattern; a suite that failed without
# a failed line (it did not run to the end) counts one failure.
record_log() { # suite logfile exit_code passed_pattern failed_pattern
    local passed failed
    passed=$(grep -cE "$4" "$2" || true)
    failed=$(grep -cE "$5" "$2" || true)
    if [ "$3" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    record "$1" "$passed" "$failed"
}

run_core_tests() {
    log "suite: core (cargo test -p rollup-core)"
    local out=$RUNDIR/core-tests.log rc=0
    (cd "$ROOT" && cargo test -p rollup-core --release 2>&1) | tee "$out" || rc=$?
    record_cargo core "$out" "$rc"
}

run_pgrx_tests() {
    log "suite: pgrx (cargo pgrx test pg$PG_MAJOR)"
    local out=$RUNDIR/pgrx-tests.log rc=0 runas=()
    if is_root; then
        mkdir -p "$RUNDIR/pgrx-data"
        chown postgres "$RUNDIR/pgrx-data"
        runas=(--runas postgres --pgdata "$RUNDIR/pgrx-data")
    fi
    (cd "$EXT_DIR" && cargo pgrx test "pg$PG_MAJOR" "${runas[@]}" 2>&1) | tee "$out" || rc=$?
    record_cargo pgrx "$out" "$rc"
}

run_sql_tests() {
    log "suite: sql (pg_regress, tests/sql against tests/expected)"
    local out=$RUNDIR/regress rc=0 tests=()
    local pg_regress
    pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
    rm -rf "$out"; mkdir -p "$out"
    if [ -n "${SQL_TESTS:-}" ]; then
        read -ra tests <<< "$SQL_TESTS"
    else
        for f in "$ROOT"/tests/sql/*.sql; do tests+=("$(basename "$f" .sql)"); done
    fi
    # From tests/: psql reads each file on stdin, so a file includes others relative to there.
    (cd "$ROOT/tests" && "$pg_regress" --host="$SOCKDIR" --port="$PORT" --user=postgres --bindir="$PGBIN" \
        --inputdir="$ROOT/tests" --outputdir="$out" --dbname=pg_rollup_regress --load-extension=pg_rollup \
        "${tests[@]}") 2>&1 | tee "$out/pg_regress.log" || rc=$?
    [ -f "$out/regression.diffs" ] && head -200 "$out/regression.diffs"
    record_log sql "$out/pg_regress.log" "$rc" '\.\.\. ok' '\.\.\. FAILED'
}

run_cluster_tests() {
    log "suite: cluster (tests/cluster: crash recovery, pg_dump/pg_restore, on clusters of their own)"
    local out=$RUNDIR/cluster-tests.log rc=0 user=""
    mkdir -p "$RUNDIR"
    if is_root; then user=postgres; fi
    PGBIN=$PGBIN WORKDIR=$RUNDIR/cluster-tests PORT=$PORT PG_USER=$user \
        "$ROOT/tests/cluster/crash_and_restore.sh" 2>&1 | tee "$out" || rc=$?
    record_log cluster "$out" "$rc" '^ok - ' '^not ok - '
}

# tests/citus on a coordinator and workers of its own, when Citus is installed (skipped otherwise).
run_citus_tests() {
    log "suite: citus (tests/citus on a local coordinator + 2 workers, and a third node added and removed)"
    local out=$RUNDIR/citus-tests.log rc=0 user=""
    mkdir -p "$RUNDIR"
    if is_root; then user=postgres; fi
    PGBIN=$PGBIN PG_CONFIG=$PG_CONFIG WORKDIR=$RUNDIR/citus-tests PORT=$((PORT + 10)) PG_USER=$user \
        "$ROOT/tests/citus/run.sh" 2>&1 | tee "$out" || rc=$?
    if grep -q '^citus-tests: skipped' "$out"; then
        SUMMARY+=("$(printf '%-14s skipped (citus not installed)' citus)")
        return
    fi
    record_log citus "$out" "$rc" '\.\.\. ok' '\.\.\. FAILED'
}

# Every SQL example of docs/*.md, each page in a fresh database; the output a page shows must be
# what psql prints (tests/docs/run_docs.py).
run_doc_tests() {
    log "suite: docs (every SQL example in docs/*.md)"
    local out=$RUNDIR/doc-tests.log page passed=0 failed=0
    : >"$out"
    for page in "$ROOT"/docs/*.md; do
        recreate_db pg_rollup_docs
        if (cd "$ROOT" && python3 tests/docs/run_docs.py "$PGBIN/psql" -h "$SOCKDIR" -p "$PORT" -U postgres \
                -d pg_rollup_docs -- "docs/$(basename "$page")") 2>&1 | tee -a "$out"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
    record docs "$passed" "$failed"
}

cmd_fuzz() {
    local n=${FUZZ_INPUTS:-1000000}
    log "fuzz: core decoders, $n inputs per target"
    (cd "$ROOT" && FUZZ_INPUTS=$n cargo test -p rollup-core --profile fuzz --test fuzz -- --nocapture 2>&1) | grep -E 'inputs|test result|panicked'
    cmd_start
    recreate_db pg_rollup_fuzz
    log "fuzz: SQL input paths, $n inputs per target"
    psql_ -d pg_rollup_fuzz -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_rollup" \
        -c "\\i $ROOT/tests/fuzz/sql_fuzz.sql" -c "SELECT * FROM pg_temp.fuzz($n, 0.5)"
}

cmd_test() {
    cmd_setup
    mkdir -p "$RUNDIR"
    run_core_tests
    run_pgrx_tests
    # cargo pgrx test installs a debug build; the SQL suite runs against the release build.
    install_extension
    cmd_start
    run_sql_tests
    run_doc_tests
    run_cluster_tests
    run_citus_tests
    echo
    echo "== test summary"
    printf '%s\n' "${SUMMARY[@]}"
    echo "pg_test: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
    [ "$TOTAL_FAILED" -eq 0 ]
}

# ---------------------------------------------------------------- demo and bench

cmd_demo() {
    cmd_setup
    cmd_start
    recreate_db pg_rollup_demo
    log "running demo/demo.sql"
    psql_ -d pg_rollup_demo -v ON_ERROR_STOP=1 -f "$ROOT/demo/demo.sql"
}

cmd_bench() {
    cmd_setup
    cmd_start
    recreate_db pg_rollup_bench
    log "running bench/run.sh"
    PSQL="$PGBIN/psql -X -h $SOCKDIR -p $PORT -U postgres -d pg_rollup_bench" "$ROOT/bench/run.sh" "$@"
}

case "${1:-}" in
    setup) cmd_setup ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    psql) shift; cmd_psql "$@" ;;
    test) cmd_test ;;
    sql-test) cmd_start; run_sql_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    fuzz) cmd_setup; cmd_fuzz ;;
    doc-test) cmd_start; run_doc_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    cluster-test) run_cluster_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    citus-test) run_citus_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    demo) cmd_demo ;;
    bench) shift; cmd_bench "$@" ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
