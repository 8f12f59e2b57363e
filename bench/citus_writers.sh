#!/usr/bin/env bash
# Rows written through every node of a Citus cluster, rolled up while they arrive (docs/citus.md).
# A coordinator and two workers (tests/citus/run.sh, CITUS_SETUP_ONLY); pgbench writers on each
# worker (2 clients: single-row inserts, and 20-row multi-shard inserts of which every fourth
# transaction rolls back) and on the coordinator (1 client), for DURATION seconds (default 40), while
# rollup.run is called on the coordinator once a second. Then one last run, and the rollup is
# compared with the raw rows: rows per node, rolled-up rows, differing (tenant, bucket) rows,
# sketch bytes included; and the time of a run that finds nothing new, with and without the
# probe of the workers (rollup_internal.node_bounds).
#
#   bench/citus_writers.sh          (as root: the nodes run as postgres; needs Citus installed)
set -euo pipefail
DURATION=${DURATION:-40}
BENCH=citus_writers
# shellcheck source=bench/citus_cluster.sh
. "$(dirname "$0")/citus_cluster.sh"
q() { local port=$1; shift; "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d pg_rollup_citus "$@"; }

q "$PORT" <<'SQL'
CREATE TABLE bev (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1), tenant int NOT NULL, at timestamptz NOT NULL, usr int NOT NULL);
SELECT create_distributed_table('bev', 'tenant');
CREATE INDEX ON bev (id);
SELECT rollup.create_rollup('bev_1min', 'bev', 'bev_1min', 'at', '1 minute', ARRAY['tenant'],
    ARRAY['count(*) AS events', 'hll_add_agg(hll_hash_integer(usr)) AS users']) IS NOT NULL;
SQL
cat >"$WORKDIR/single.sql" <<'SQL'
\set t random(1, 30)
\set u random(1, 5000)
INSERT INTO bev (tenant, at, usr) VALUES (:t, now(), :u);
SQL
cat >"$WORKDIR/multi.sql" <<'SQL'
\set fail random(1, 4)
BEGIN;
INSERT INTO bev (tenant, at, usr) SELECT 1 + (random() * 29)::int, now(), (random() * 5000)::int FROM generate_series(1, 20);
\if :fail = 1
ROLLBACK;
\else
COMMIT;
\endif
SQL
pgb() { local port=$1; shift; ${user:+runuser -u $user --} "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$port" -U postgres -T "$DURATION" "$@" pg_rollup_citus >/dev/null 2>&1 & }
for port in $((PORT + 1)) $((PORT + 2)); do
    pgb "$port" -c 1 -f "$WORKDIR/single.sql"
    pgb "$port" -c 1 -f "$WORKDIR/multi.sql"
done
pgb "$PORT" -c 1 -f "$WORKDIR/multi.sql"
runs=0
end=$((SECONDS + DURATION))
while [ "$SECONDS" -lt "$end" ]; do
    q "$PORT" -c "SELECT rollup.run('bev_1min')" >/dev/null
    runs=$((runs + 1)); sleep 1
done
wait
q "$PORT" -c "SELECT rollup.run('bev_1min', '10 seconds')" >/dev/null
echo "runs during the load: $runs"
q "$PORT" <<'SQL'
\pset format aligned
\pset tuples_only off
SELECT CASE id >> 48 WHEN 0 THEN 'coordinator' ELSE 'worker ' || (id >> 48) END AS written_through, count(*) AS rows FROM bev GROUP BY 1 ORDER BY 1;
SELECT (SELECT count(*) FROM bev) AS raw_rows, (SELECT sum(events) FROM bev_1min) AS rolled_up,
       (SELECT count(*) FROM (
           (SELECT tenant, date_bin('1 minute', at, '2000-01-03 00:00+00') AS bucket, count(*) AS events, hll_add_agg(hll_hash_integer(usr))::bytea AS users
            FROM bev GROUP BY 1, 2 EXCEPT ALL SELECT tenant, bucket, events, users::bytea FROM bev_1min)
           UNION ALL
           (SELECT tenant, bucket, events, users::bytea FROM bev_1min EXCEPT ALL
            SELECT tenant, date_bin('1 minute', at, '2000-01-03 00:00+00'), count(*), hll_add_agg(hll_hash_integer(usr))::bytea FROM bev GROUP BY 1, 2)) d)
       AS differing_rows,
       (SELECT count(*) FROM bev_1min) AS rollup_rows, (SELECT pending_rows FROM rollup.status WHERE name = 'bev_1min') AS pending;
\timing on
DO $$ BEGIN FOR i IN 1..50 LOOP PERFORM rollup.run('bev_1min', '0'); END LOOP; END $$;
DO $$ DECLARE r rollup.rollups := rollup_internal.get('bev_1min'); BEGIN FOR i IN 1..50 LOOP PERFORM rollup_internal.node_bounds(r, '{}', 0); END LOOP; END $$;
SQL
