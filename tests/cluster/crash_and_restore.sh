#!/usr/bin/env bash
# Tests that need clusters of their own: the postmaster is killed (SIGKILL, then every process
# of the cluster) in the middle of rollup.run and of rollup.ingest; after restart and a new run
# the rollups equal the aggregation of the committed raw rows. Then the database (hll and topn
# columns, rollup definitions, uniqueness rules, progress) goes through pg_dump / pg_restore
# into a fresh cluster, where the next rollup.run continues exactly where it stopped.
#
# Called by ./pg_test.sh test with PGBIN, WORKDIR (scratch, removed first), PORT (the next two
# ports are used) and, when run as root, PG_USER (the OS user the clusters run as). Prints
# "ok - ..." / "not ok - ..." lines and "cluster-tests: N passed, M failed".
set -uo pipefail
: "${PGBIN:?}" "${WORKDIR:?}" "${PORT:?}"
PG_USER=${PG_USER:-}
AS_PG=${PG_USER:+runuser -u $PG_USER --}
PASSED=0
FAILED=0

check() { # description, then a command whose stdout must be "t"
    local what=$1; shift
    local got
    got=$("$@" 2>&1)
    if [ "$got" = t ]; then PASSED=$((PASSED + 1)); echo "ok - $what"
    else FAILED=$((FAILED + 1)); echo "not ok - $what (got: $got)"; fi
}

rm -rf "$WORKDIR"; mkdir -p "$WORKDIR"
[ -n "$PG_USER" ] && chown "$PG_USER" "$WORKDIR"

new_cluster() { # name port
    local dir=$WORKDIR/$1
    $AS_PG "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/postgresql.conf" <<EOF
port = $2
listen_addresses = ''
unix_socket_directories = '$WORKDIR'
fsync = off
EOF
}
start() { $AS_PG env -u RUST_BACKTRACE "$PGBIN/pg_ctl" -D "$WORKDIR/$1" -l "$WORKDIR/$1.log" -w start >/dev/null; }
stop() { $AS_PG "$PGBIN/pg_ctl" -D "$WORKDIR/$1" -m immediate -w stop >/dev/null 2>&1 || true; }
q() { # port db sql...: one value, unaligned
    local port=$1 db=$2; shift 2
    "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$WORKDIR" -p "$port" -U postgres -d "$db" "$@"
}
# SIGKILL the postmaster, then every process left of the cluster (as a machine crash would).
crash() { # name
    local pid
    pid=$(head -1 "$WORKDIR/$1/postmaster.pid")
    local children
    children=$(pgrep -P "$pid" || true)
    kill -9 "$pid"
    [ -n "$children" ] && kill -9 $children 2>/dev/null
    # Wait until the postmaster is gone. A container's init may be slow to reap it; a zombie
    # still answers kill(pid, 0), which a new postmaster takes for a running one, so its lock
    # files go (as after a reboot).
    local state
    for _ in $(seq 1 100); do
        state=$(ps -o stat= -p "$pid" || true)
        [ -z "$state" ] && break
        case $state in Z*)
            rm -f "$WORKDIR/$1/postmaster.pid"
            for lock in "$WORKDIR"/.s.PGSQL.*.lock; do
                [ "$(head -1 "$lock" 2>/dev/null)" = "$pid" ] && rm -f "$lock"
            done
            break ;;
        esac
        sleep 0.1
    done
}
# Runs a statement in the background and crashes the cluster once it has been running for
# 100 ms; the statement must take longer than that (it does by a wide margin here).
crash_during() { # port name sql
    local port=$1 name=$2 sql=$3 running=f
    q "$port" app -c "$sql" >/dev/null 2>&1 &
    for _ in $(seq 1 400); do
        running=$(q "$port" postgres -c "SELECT count(*) > 0 FROM pg_stat_activity
            WHERE query = \$\$$sql\$\$ AND state = 'active' AND now() - query_start > interval '100 ms'")
        [ "$running" = t ] && break
        sleep 0.02
    done
    if [ "$running" = t ]; then crash "$name"; wait; start "$name"; return 0; fi
    wait
    echo "# the statement ended before the crash: $sql"
    return 1
}

P1=$((PORT + 1)); P2=$((PORT + 2))
new_cluster one "$P1"; start one
q "$P1" postgres -c "CREATE DATABASE app" >/dev/null
q "$P1" app <<'SQL' >/dev/null
CREATE EXTENSION pg_rollup;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, platform text NOT NULL,
                     at timestamptz NOT NULL, payload jsonb NOT NULL);
SELECT rollup.add_uniqueness_rule('events', 'slack');
SELECT rollup.add_uniqueness_rule('events', 'twilio');
CREATE TABLE staging (platform text, at timestamptz, payload jsonb);
CREATE FUNCTION stage(n int, seed int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO staging
    SELECT CASE WHEN i % 2 = 0 THEN 'slack' ELSE 'twilio' END, '2026-09-01'::timestamptz + (i % 86400) * interval '1 second',
           CASE WHEN i % 2 = 0 THEN jsonb_build_object('event_id', 'E' || (seed + i), 'user', i % 1000, 'text', 'q' || i % 37)
                ELSE jsonb_build_object('MessageSid', 'S' || (seed + i), 'user', i % 1000, 'text', 'q' || i % 37) END
    FROM generate_series(1, n) i
$$;
SELECT rollup.create_rollup('hourly', 'events', 'hourly', 'at', '1 hour', ARRAY['platform'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_text(payload->>''user'')) AS users',
          'topn_add_agg(payload->>''text'') AS texts']);
SELECT rollup.create_rollup('daily', 'hourly', 'daily', bucket_width => '1 day', dimensions => ARRAY['platform'],
    measures => ARRAY['sum(events) AS events', 'hll_union_agg(users) AS users', 'topn_union_agg(texts) AS texts']);
-- The rollups must equal this aggregation of the committed raw rows.
CREATE VIEW expected AS
SELECT platform, date_bin('1 hour', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events,
       hll_add_agg(hll_hash_text(payload->>'user'))::text AS users, topn_add_agg(payload->>'text')::text AS texts
FROM events GROUP BY 1, 2;
CREATE VIEW rolled AS SELECT platform, bucket, events, users::text, texts::text FROM hourly;
CREATE VIEW daily_ok AS
SELECT (SELECT sum(events) FROM daily) IS NOT DISTINCT FROM (SELECT sum(events) FROM hourly)
   AND NOT EXISTS (SELECT platform, date_bin('1 day', bucket, '2000-01-03 00:00+00'), sum(events) FROM hourly GROUP BY 1, 2
                   EXCEPT SELECT platform, bucket, events FROM daily) AS ok;
CREATE VIEW equal AS
SELECT NOT EXISTS (SELECT * FROM expected EXCEPT SELECT * FROM rolled)
   AND NOT EXISTS (SELECT * FROM rolled EXCEPT SELECT * FROM expected)
   AND (SELECT ok FROM daily_ok) AS ok;
SQL

# 1. A crash in the middle of rollup.run (1.2M rows to aggregate).
q "$P1" app -c "SELECT stage(200000, 0)" -c "SELECT * FROM rollup.ingest('events', 'staging')" >/dev/null
q "$P1" app -c "INSERT INTO events (platform, at, payload)
                SELECT 'web', '2026-09-01'::timestamptz + (i % 86400) * interval '1 second',
                       jsonb_build_object('user', i % 5000, 'text', 'w' || i % 101)
                FROM generate_series(1, 1000000) i" >/dev/null
total=$(q "$P1" app -c "SELECT count(*) FROM events")
crashed=f; crash_during "$P1" one "SELECT rollup.run('hourly')" && crashed=t
check "the cluster crashed in the middle of rollup.run" echo "$crashed"
check "after a crash in rollup.run: nothing of the interrupted run was kept" \
    q "$P1" app -c "SELECT (SELECT watermark FROM rollup.progress WHERE name = 'hourly') = 0 AND (SELECT count(*) FROM hourly) = 0
                           AND (SELECT count(*) FROM daily) = 0"
check "after a crash in rollup.run: the next run aggregates every row once" q "$P1" app -c "SELECT rollup.run('hourly') = $total"
check "after a crash in rollup.run: the rollups equal the aggregation of the raw rows" q "$P1" app -c "SELECT ok FROM equal"

# 2. A crash in the middle of rollup.ingest: the batch is stored whole or not at all.
q "$P1" app -c "SELECT stage(400000, 1000000)" >/dev/null
crashed=f; crash_during "$P1" one "SELECT * FROM rollup.ingest('events', 'staging')" && crashed=t
check "the cluster crashed in the middle of rollup.ingest" echo "$crashed"
check "after a crash in rollup.ingest: the whole batch is still in staging, none of it in events" \
    q "$P1" app -c "SELECT (SELECT count(*) FROM events) = $total AND (SELECT count(*) FROM staging) = 400000"
check "after a crash in rollup.ingest: ingesting again stores every event once" \
    q "$P1" app -c "SELECT inserted = 400000 AND duplicates = 0 FROM rollup.ingest('events', 'staging')"
check "after both crashes: a run aggregates exactly the new rows" q "$P1" app -c "SELECT rollup.run('hourly') = 400000"
check "after both crashes: the rollups equal the aggregation of the raw rows" q "$P1" app -c "SELECT ok FROM equal"

# 3. pg_dump / pg_restore into a fresh cluster; the next run continues where it stopped.
q "$P1" app -c "SELECT stage(1000, 5000000)" -c "SELECT * FROM rollup.ingest('events', 'staging')" >/dev/null
watermark=$(q "$P1" app -c "SELECT watermark FROM rollup.progress WHERE name = 'hourly'")
$AS_PG "$PGBIN/pg_dump" -h "$WORKDIR" -p "$P1" -U postgres -Fc -f "$WORKDIR/app.dump" app
stop one
new_cluster two "$P2"; start two
q "$P2" postgres -c "CREATE DATABASE app" >/dev/null
restore_rc=0
$AS_PG "$PGBIN/pg_restore" -h "$WORKDIR" -p "$P2" -U postgres -d app --exit-on-error "$WORKDIR/app.dump" \
    > "$WORKDIR/restore.log" 2>&1 || restore_rc=$?
check "pg_restore succeeds" bash -c "[ $restore_rc -eq 0 ] && echo t || cat '$WORKDIR/restore.log'"
check "restored: rollup definitions, progress and uniqueness rules" \
    q "$P2" app -c "SELECT (SELECT count(*) FROM rollup.rollups) = 2 AND (SELECT watermark FROM rollup.progress WHERE name = 'hourly') = $watermark
                           AND (SELECT count(*) FROM rollup.uniqueness_rules) = 2
                           AND (SELECT count(*) FROM pg_indexes WHERE indexname IN ('events_slack_uniq', 'events_twilio_uniq')) = 2"
check "restored: the next run aggregates exactly the rows that came after the dump's watermark" \
    q "$P2" app -c "SELECT rollup.run('hourly') = 1000"
check "restored: the rollups equal the aggregation of the raw rows" q "$P2" app -c "SELECT ok FROM equal"
q "$P2" app -c "SELECT stage(1000, 5000000)" >/dev/null
check "restored: the uniqueness rules still drop duplicates" \
    q "$P2" app -c "SELECT inserted = 0 AND duplicates = 1000 FROM rollup.ingest('events', 'staging')"
stop two

echo "cluster-tests: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
