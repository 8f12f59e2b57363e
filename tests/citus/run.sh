#!/usr/bin/env bash
# The Citus suite: a coordinator and two workers on 127.0.0.1 (private ports, throwaway data
# directories under WORKDIR), and a third node that the tests add to the cluster and remove;
# citus and pg_rollup created on every node, then pg_regress runs
# tests/citus/sql against tests/citus/expected on the coordinator, and the cluster is stopped.
# When the citus library is not installed, it says so and exits 0 ("skipped").
#
# Called by ./pg_test.sh with PGBIN, PG_CONFIG, WORKDIR (removed first), PORT (this port and the
# next three are used) and, when run as root, PG_USER (the OS user the nodes run as).
set -uo pipefail
: "${PGBIN:?}" "${PG_CONFIG:?}" "${WORKDIR:?}" "${PORT:?}"
PG_USER=${PG_USER:-}
AS_PG=${PG_USER:+runuser -u $PG_USER --}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DB=pg_rollup_citus
NODES=(coordinator worker1 worker2 worker3)

if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    echo "citus-tests: skipped (citus is not installed: no citus.so in $("$PG_CONFIG" --pkglibdir))"
    exit 0
fi

port_of() { case $1 in coordinator) echo "$PORT" ;; worker1) echo $((PORT + 1)) ;; worker2) echo $((PORT + 2)) ;; worker3) echo $((PORT + 3)) ;; esac; }
q() { # node sql...
    local node=$1; shift
    "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of "$node")" -U postgres "$@"
}
stop_all() {
    for n in "${NODES[@]}"; do
        $AS_PG "$PGBIN/pg_ctl" -D "$WORKDIR/$n" -m fast -w stop >/dev/null 2>&1 || true
    done
}

stop_all
rm -rf "$WORKDIR"; mkdir -p "$WORKDIR"
[ -n "$PG_USER" ] && chown "$PG_USER" "$WORKDIR"
# CITUS_KEEP=1 leaves the nodes running (to look around by hand).
[ -n "${CITUS_KEEP:-}" ] || trap stop_all EXIT

for n in "${NODES[@]}"; do
    $AS_PG "$PGBIN/initdb" -D "$WORKDIR/$n" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null || exit 1
    cat >>"$WORKDIR/$n/postgresql.conf" <<CONF
port = $(port_of "$n")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORKDIR'
# pg_rollup after citus: its planner hook must see Citus' combine query (docs/citus.md)
shared_preload_libraries = 'citus,pg_rollup'
max_connections = 200
max_prepared_transactions = 200
fsync = off
citus.shard_count = 4
CONF
    $AS_PG env -u RUST_BACKTRACE "$PGBIN/pg_ctl" -D "$WORKDIR/$n" -l "$WORKDIR/$n.log" -w start >/dev/null \
        || { tail -20 "$WORKDIR/$n.log"; exit 1; }
    q "$n" -d postgres -c "CREATE DATABASE $DB" || exit 1
    q "$n" -d "$DB" -c "CREATE EXTENSION citus" || exit 1
done
q coordinator -d "$DB" -c "SELECT citus_set_coordinator_host('127.0.0.1', $PORT)" \
    -c "SELECT citus_add_node('127.0.0.1', $((PORT + 1)))" \
    -c "SELECT citus_add_node('127.0.0.1', $((PORT + 2)))" >/dev/null || exit 1
# Propagated by Citus to the workers; the update scripts must be there too.
q coordinator -d "$DB" -c "CREATE EXTENSION pg_rollup" -c "CREATE EXTENSION dblink" || exit 1

# CITUS_SETUP_ONLY=1 (with CITUS_KEEP=1): the cluster, no tests (bench/citus_writers.sh).
[ -n "${CITUS_SETUP_ONLY:-}" ] && exit 0

tests=()
for f in "$HERE"/sql/*.sql; do tests+=("$(basename "$f" .sql)"); done
pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
rc=0
(cd "$HERE" && "$pg_regress" --host=127.0.0.1 --port="$PORT" --user=postgres --bindir="$PGBIN" \
    --inputdir="$HERE" --outputdir="$WORKDIR/regress" --use-existing --dbname="$DB" \
    "${tests[@]}") || rc=$?
[ -f "$WORKDIR/regress/regression.diffs" ] && head -300 "$WORKDIR/regress/regression.diffs"
exit $rc
