# Sourced by the Citus benches: a coordinator and two workers of their own (tests/citus/run.sh,
# CITUS_SETUP_ONLY) on PORT (and the next ports), stopped when the bench ends unless CITUS_KEEP
# is set; exits 0 with "<bench>: skipped" when Citus is not installed. Needs BENCH (its name).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PGBIN/pg_config}
WORKDIR=${WORKDIR:-/tmp/pg_rollup_citus_bench}
PORT=${PORT:-54380}
if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    echo "$BENCH: skipped (citus is not installed)"; exit 0
fi
user=""; [ "$(id -u)" -eq 0 ] && user=postgres
PGBIN=$PGBIN PG_CONFIG=$PG_CONFIG WORKDIR=$WORKDIR PORT=$PORT PG_USER=$user CITUS_KEEP=1 CITUS_SETUP_ONLY=1 \
    "$ROOT/tests/citus/run.sh" >/dev/null
stop() { for n in coordinator worker1 worker2 worker3; do ${user:+runuser -u $user --} "$PGBIN/pg_ctl" -D "$WORKDIR/$n" -m fast -w stop >/dev/null 2>&1 || true; done; }
[ -n "${CITUS_KEEP:-}" ] || trap stop EXIT
