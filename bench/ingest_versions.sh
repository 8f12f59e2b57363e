#!/usr/bin/env bash
# rollup.ingest under the SQL of two released versions with the installed library: two databases
# (CREATE EXTENSION pg_rollup VERSION ..), the same events (5 preset rules) from a temporary
# staging table, without and with a rejects table, ROUNDS interleaved rounds; prints each time.
# Shows what a change of the ingest SQL costs, in one run.
#
#   bench/ingest_versions.sh [OLD [NEW]]     (defaults 0.3.0 and 0.4.0; the cluster of ./pg_test.sh start)
set -euo pipefail
OLD=${1:-0.3.0} NEW=${2:-0.4.0} ROWS=${ROWS:-300000} ROUNDS=${ROUNDS:-3}
P="${PGBIN:-/usr/lib/postgresql/15/bin}/psql -X -qAt -h ${PG_ROLLUP_RUNDIR:-/tmp/pg_rollup}/sock -p ${PG_ROLLUP_PORT:-54329} -U postgres"
file=/tmp/pg_rollup_ingest_versions.tsv
for v in "$OLD" "$NEW"; do
    db=ingest_${v//./_}
    $P -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    $P -d "$db" -c "CREATE EXTENSION pg_rollup VERSION '$v'" -c "CREATE TABLE rej (reason text, event jsonb)" \
        -c "CREATE TABLE iev_rules (id bigint GENERATED ALWAYS AS IDENTITY, platform text NOT NULL, received_at timestamptz NOT NULL, payload jsonb NOT NULL)" >/dev/null
    for p in messenger slack twilio kik telegram; do
        $P -d "$db" -c "SELECT rollup.add_uniqueness_rule('iev_rules', (SELECT platform FROM rollup.uniqueness_presets() WHERE preset = '$p'), preset => '$p')" >/dev/null
    done
done
$P -d "ingest_${NEW//./_}" -c "COPY (SELECT (ARRAY['facebook','slack','twilio','kik','telegram'])[1 + i % 5], '2026-06-01'::timestamptz + i * interval '10 ms',
    CASE i % 5 WHEN 0 THEN jsonb_build_object('message', jsonb_build_object('mid', 'm.' || i, 'text', 'hello'))
               WHEN 1 THEN jsonb_build_object('event_id', 'Ev' || i) WHEN 2 THEN jsonb_build_object('MessageSid', 'SM' || i)
               WHEN 3 THEN jsonb_build_object('id', 'k' || i) ELSE jsonb_build_object('update_id', i) END
    FROM generate_series(1, $ROWS) i) TO '$file'"
for round in $(seq "$ROUNDS"); do
    for v in "$OLD" "$NEW"; do
        for rejects in "" ", 'rej'"; do
            ms=$(printf "TRUNCATE iev_rules, rej;\nCREATE TEMP TABLE st (platform text, received_at timestamptz, payload jsonb);\nCOPY st FROM '%s';\n\\\\timing on\nSELECT * FROM rollup.ingest('iev_rules', 'st'%s);\n" "$file" "$rejects" \
                 | $P -d "ingest_${v//./_}" -f - | awk '/^Time: / { print $2 }')
            echo "round $round  $v  rejects table: $([ -n "$rejects" ] && echo yes || echo no)  $ms ms"
        done
    done
done
rm -f "$file"
