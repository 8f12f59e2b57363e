-- pg_rollup 0.7.0 -> 0.8.0
-- The internal helpers leave the API's schema: every rollup._<name> function (and the type
-- rollup.fragment) moves to schema rollup_internal as rollup_internal.<name>; objects that use
-- them (ingest views' triggers, the event trigger, rollup.status) follow, as they refer to them
-- by oid. The functions that call them are replaced with their new text. EXECUTE on the
-- catalog writer and what only it calls is revoked from PUBLIC. rollup.create_rollup's first
-- argument is rollup_name, like every other function's (name => still works, deprecated).
-- A new sketch type, qsketch (percentiles with a guaranteed relative error), with its merge
-- rule in rollups.

CREATE SCHEMA rollup_internal;
ALTER TYPE rollup.fragment SET SCHEMA rollup_internal;

ALTER FUNCTION rollup._add_measures(r rollup.rollups, measures text[]) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._add_measures(r rollup.rollups, measures text[]) RENAME TO add_measures;

ALTER FUNCTION rollup._aggregate_sql(r rollup.rollups, from_sql text, with_rows boolean) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._aggregate_sql(r rollup.rollups, from_sql text, with_rows boolean) RENAME TO aggregate_sql;

ALTER FUNCTION rollup._as_owner(rollup_name text, action text, arg jsonb) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._as_owner(rollup_name text, action text, arg jsonb) RENAME TO as_owner;

ALTER FUNCTION rollup._batch_end(r rollup.rollups, lo bigint, safe bigint) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._batch_end(r rollup.rollups, lo bigint, safe bigint) RENAME TO batch_end;

ALTER FUNCTION rollup._batch_rows(source_sql text, batch jsonb) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._batch_rows(source_sql text, batch jsonb) RENAME TO batch_rows;

ALTER FUNCTION rollup._bucket_ceil_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp without time zone) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._bucket_ceil_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp without time zone) RENAME TO bucket_ceil_sql;

ALTER FUNCTION rollup._bucket_comment(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._bucket_comment(r rollup.rollups) RENAME TO bucket_comment;

ALTER FUNCTION rollup._bucket_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp without time zone) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._bucket_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp without time zone) RENAME TO bucket_sql;

ALTER FUNCTION rollup._calendar_zone(width interval, time_zone text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._calendar_zone(width interval, time_zone text) RENAME TO calendar_zone;

ALTER FUNCTION rollup._catalog_write(op text, caller oid, args jsonb) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._catalog_write(op text, caller oid, args jsonb) RENAME TO catalog_write;

ALTER FUNCTION rollup._chain_sql(top text, from_sql text, first_cte text, top_as rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._chain_sql(top text, from_sql text, first_cte text, top_as rollup.rollups) RENAME TO chain_sql;

ALTER FUNCTION rollup._chain(rollup_name text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._chain(rollup_name text) RENAME TO chain;

ALTER FUNCTION rollup._check_acts_for(member oid, role regrole, what text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_acts_for(member oid, role regrole, what text) RENAME TO check_acts_for;

ALTER FUNCTION rollup._check_column(rel regclass, col name) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_column(rel regclass, col name) RENAME TO check_column;

ALTER FUNCTION rollup._check_distribution(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_distribution(r rollup.rollups) RENAME TO check_distribution;

ALTER FUNCTION rollup._check_explicit_ids(rel regclass, id_column name, allowed boolean) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_explicit_ids(rel regclass, id_column name, allowed boolean) RENAME TO check_explicit_ids;

ALTER FUNCTION rollup._check_nesting(r rollup.rollups, p rollup.rollups, time_type regtype) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_nesting(r rollup.rollups, p rollup.rollups, time_type regtype) RENAME TO check_nesting;

ALTER FUNCTION rollup._check_owner(rel regclass, member oid) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_owner(rel regclass, member oid) RENAME TO check_owner;

ALTER FUNCTION rollup._check_sequence(seq regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_sequence(seq regclass) RENAME TO check_sequence;

ALTER FUNCTION rollup._check_target(r rollup.rollups, target regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._check_target(r rollup.rollups, target regclass) RENAME TO check_target;

ALTER FUNCTION rollup._conflict_target(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._conflict_target(r rollup.rollups) RENAME TO conflict_target;

ALTER FUNCTION rollup._covered_sql(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._covered_sql(r rollup.rollups) RENAME TO covered_sql;

ALTER FUNCTION rollup._create_range_function(r rollup.rollups, view_name text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._create_range_function(r rollup.rollups, view_name text) RENAME TO create_range_function;

ALTER FUNCTION rollup._create_target(r rollup.rollups, target_table text, dist name) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._create_target(r rollup.rollups, target_table text, dist name) RENAME TO create_target;

ALTER FUNCTION rollup._definition(name text, source_table regclass, time_column name, bucket_width interval, dimensions text[], measures text[], mode text, id_column name, batch_size bigint, bucket_column name, start_after bigint, time_zone text, origin timestamp without time zone) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._definition(name text, source_table regclass, time_column name, bucket_width interval, dimensions text[], measures text[], mode text, id_column name, batch_size bigint, bucket_column name, start_after bigint, time_zone text, origin timestamp without time zone) RENAME TO definition;

ALTER FUNCTION rollup._derive(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._derive(r rollup.rollups) RENAME TO derive;

ALTER FUNCTION rollup._distribution_column(rel regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._distribution_column(rel regclass) RENAME TO distribution_column;

ALTER FUNCTION rollup._explain(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._explain(r rollup.rollups) RENAME TO explain;

ALTER FUNCTION rollup._first_of_key(VARIADIC "any") SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._first_of_key(VARIADIC "any") RENAME TO first_of_key;

ALTER FUNCTION rollup._get(rollup_name text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._get(rollup_name text) RENAME TO get;

ALTER FUNCTION rollup._has_rows(rel regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._has_rows(rel regclass) RENAME TO has_rows;

ALTER FUNCTION rollup._id_column(source_table regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._id_column(source_table regclass) RENAME TO id_column;

ALTER FUNCTION rollup._ident_list(names name[]) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._ident_list(names name[]) RENAME TO ident_list;

ALTER FUNCTION rollup._ingest_rows(events_table regclass, cols name[], rows jsonb, rejects_table regclass, OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._ingest_rows(events_table regclass, cols name[], rows jsonb, rejects_table regclass, OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint) RENAME TO ingest_rows;

ALTER FUNCTION rollup._ingest_view_row() SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._ingest_view_row() RENAME TO ingest_view_row;

ALTER FUNCTION rollup._ingest_view_target(view regclass, OUT events_table regclass, OUT rejects_table text, OUT direct boolean) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._ingest_view_target(view regclass, OUT events_table regclass, OUT rejects_table text, OUT direct boolean) RENAME TO ingest_view_target;

ALTER FUNCTION rollup._ingest(events_table regclass, source_sql text, source_once boolean, cols name[], keys_comparable boolean, batch jsonb, rejects_table regclass, parts boolean, OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._ingest(events_table regclass, source_sql text, source_once boolean, cols name[], keys_comparable boolean, batch jsonb, rejects_table regclass, parts boolean, OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint) RENAME TO ingest;

ALTER FUNCTION rollup._job_error(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._job_error(r rollup.rollups) RENAME TO job_error;

ALTER FUNCTION rollup._job_name(rollup_name text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._job_name(rollup_name text) RENAME TO job_name;

ALTER FUNCTION rollup._key_fits(VARIADIC "any") SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._key_fits(VARIADIC "any") RENAME TO key_fits;

ALTER FUNCTION rollup._key_type(target regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._key_type(target regclass) RENAME TO key_type;

ALTER FUNCTION rollup._load(r rollup.rollups, query text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._load(r rollup.rollups, query text) RENAME TO load;

ALTER FUNCTION rollup._lock_chain(rollup_name text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._lock_chain(rollup_name text) RENAME TO lock_chain;

ALTER FUNCTION rollup._merge_into_sql(r rollup.rollups, delta text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._merge_into_sql(r rollup.rollups, delta text) RENAME TO merge_into_sql;

ALTER FUNCTION rollup._merge_rule(measure text, parsed rollup_internal.fragment, level boolean) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._merge_rule(measure text, parsed rollup_internal.fragment, level boolean) RENAME TO merge_rule;

ALTER FUNCTION rollup._merge_sql(rule text, stored text, incoming text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._merge_sql(rule text, stored text, incoming text) RENAME TO merge_sql;

ALTER FUNCTION rollup._next_bucket_sql(bucket_sql text, time_type regtype, width interval, time_zone text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._next_bucket_sql(bucket_sql text, time_type regtype, width interval, time_zone text) RENAME TO next_bucket_sql;

ALTER FUNCTION rollup._node_bounds(r rollup.rollups, nodes jsonb, wait_ms integer) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._node_bounds(r rollup.rollups, nodes jsonb, wait_ms integer) RENAME TO node_bounds;

ALTER FUNCTION rollup._on_sql_drop() SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._on_sql_drop() RENAME TO on_sql_drop;

ALTER FUNCTION rollup._owner_action(rollup_name text, action text, arg jsonb) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._owner_action(rollup_name text, action text, arg jsonb) RENAME TO owner_action;

ALTER FUNCTION rollup._parse_fragment(fragment text, what text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._parse_fragment(fragment text, what text) RENAME TO parse_fragment;

ALTER FUNCTION rollup._pending(r rollup.rollups, OUT pending_rows bigint, OUT oldest_pending timestamp with time zone) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._pending(r rollup.rollups, OUT pending_rows bigint, OUT oldest_pending timestamp with time zone) RENAME TO pending;

ALTER FUNCTION rollup._qualify(relation_name text, beside regclass) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._qualify(relation_name text, beside regclass) RENAME TO qualify;

ALTER FUNCTION rollup._read_row(event jsonb, rowtype anyelement, pos bigint) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._read_row(event jsonb, rowtype anyelement, pos bigint) RENAME TO read_row;

ALTER FUNCTION rollup._record_error(rollup_name text, state text, message text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._record_error(rollup_name text, state text, message text) RENAME TO record_error;

ALTER FUNCTION rollup._record_run_error(rollup_name text, error text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._record_run_error(rollup_name text, error text) RENAME TO record_run_error;

ALTER FUNCTION rollup._refuse_event(reason text, event jsonb, state text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._refuse_event(reason text, event jsonb, state text) RENAME TO refuse_event;

ALTER FUNCTION rollup._require_cron(todo text, by_superuser boolean) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._require_cron(todo text, by_superuser boolean) RENAME TO require_cron;

ALTER FUNCTION rollup._reset(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._reset(r rollup.rollups) RENAME TO reset;

ALTER FUNCTION rollup._retention_batch(r rollup.rollups, target boolean, batch_size bigint) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._retention_batch(r rollup.rollups, target boolean, batch_size bigint) RENAME TO retention_batch;

ALTER FUNCTION rollup._root(rollup_name text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._root(rollup_name text) RENAME TO root;

ALTER FUNCTION rollup._run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean) RENAME TO run_chain;

ALTER FUNCTION rollup._run_once(r rollup.rollups, wait_ms integer) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._run_once(r rollup.rollups, wait_ms integer) RENAME TO run_once;

ALTER FUNCTION rollup._run_statements(r rollup.rollups) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._run_statements(r rollup.rollups) RENAME TO run_statements;

ALTER FUNCTION rollup._safe_watermark(sequence oid, relation oid, wait_ms integer, checkpoints jsonb) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._safe_watermark(sequence oid, relation oid, wait_ms integer, checkpoints jsonb) RENAME TO safe_watermark;

ALTER FUNCTION rollup._unread() SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._unread() RENAME TO unread;

ALTER FUNCTION rollup._verify(r rollup.rollups, range_start timestamp with time zone, range_end timestamp with time zone, OUT bucket timestamp with time zone, OUT dimensions jsonb, OUT measure text, OUT stored text, OUT recomputed text) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._verify(r rollup.rollups, range_start timestamp with time zone, range_end timestamp with time zone, OUT bucket timestamp with time zone, OUT dimensions jsonb, OUT measure text, OUT stored text, OUT recomputed text) RENAME TO verify;

ALTER FUNCTION rollup._write_catalog(op text, args jsonb) SET SCHEMA rollup_internal;
ALTER FUNCTION rollup_internal._write_catalog(op text, args jsonb) RENAME TO write_catalog;


DROP FUNCTION rollup.create_rollup(text, regclass, text, name, interval, text[], text[], text, name, bigint, name, bigint, boolean, text, timestamp);
GRANT USAGE ON SCHEMA rollup_internal TO PUBLIC;

-- Raises unless role `member` (by default the current user) may act as the owner of the table.
CREATE OR REPLACE FUNCTION rollup_internal.check_owner(rel regclass, member oid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_class c
                   WHERE c.oid = rel AND pg_has_role(coalesce(member, current_user::regrole::oid), c.relowner, 'USAGE')) THEN
        RAISE EXCEPTION 'must be owner of table %', rel USING ERRCODE = '42501';
    END IF;
END
$$;

-- Quoted, comma-separated identifiers, in order.
CREATE OR REPLACE FUNCTION rollup_internal.ident_list(names name[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(quote_ident(c), ', ' ORDER BY o) FROM unnest(names) WITH ORDINALITY u(c, o)
$$;

-- A table or view name as the user wrote it (parsed like an identifier), qualified: an
-- unqualified name is in the schema of `beside`.
CREATE OR REPLACE FUNCTION rollup_internal.qualify(relation_name text, beside regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[] := parse_ident(relation_name);
BEGIN
    IF cardinality(parts) = 1 THEN
        parts := ARRAY[(SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.oid = beside)] || parts;
    ELSIF cardinality(parts) <> 2 THEN
        RAISE EXCEPTION 'invalid relation name "%"', relation_name USING ERRCODE = '42602';
    END IF;
    RETURN format('%I.%I', parts[1], parts[2]);
END
$$;

-- The distribution column of a Citus-distributed table, NULL elsewhere.
CREATE OR REPLACE FUNCTION rollup_internal.distribution_column(rel regclass)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col name;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT column_to_column_name(logicalrelid, partkey) FROM pg_catalog.pg_dist_partition
             WHERE logicalrelid = $1 AND partkey IS NOT NULL'
        INTO col USING rel;
    RETURN col;
END
$$;

-- Raises unless the column exists in the table.
CREATE OR REPLACE FUNCTION rollup_internal.check_column(rel regclass, col name)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % of table % does not exist', quote_ident(col), rel USING ERRCODE = '42703';
    END IF;
END
$$;

-- The shipped presets. {payload} stands for the quoted payload column.
CREATE OR REPLACE FUNCTION rollup.uniqueness_presets(
    OUT preset text, OUT platform text, OUT keys text[], OUT description text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES
    ('messenger', 'facebook',
     ARRAY[$k${payload}->'message'->>'mid'$k$, $k$coalesce({payload}->'message'->>'num_edit', '0')$k$],
     'Facebook Messenger: message.mid; an edit (message.num_edit) is a distinct event'),
    ('slack', 'slack', ARRAY[$k${payload}->>'event_id'$k$], 'Slack Events API: event_id'),
    ('twilio', 'twilio', ARRAY[$k${payload}->>'MessageSid'$k$], 'Twilio webhooks: MessageSid'),
    ('kik', 'kik', ARRAY[$k${payload}->>'id'$k$], 'Kik: message id'),
    ('telegram', 'telegram', ARRAY[$k${payload}->>'update_id'$k$], 'Telegram Bot API: update_id'),
    ('web', 'web', ARRAY[$k${payload}->>'event_id'$k$], 'Generic web or custom source: event_id')
$$;

CREATE OR REPLACE FUNCTION rollup.add_uniqueness_rule(
    events_table regclass,
    platform text,
    keys text[] DEFAULT NULL,
    preset text DEFAULT NULL,
    platform_column name DEFAULT 'platform',
    payload_column name DEFAULT 'payload')
RETURNS name
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel_name name;
    dist name;
    key text;
    key_sql text[] := '{}';
    key_coll text;
    idx name;
BEGIN
    IF events_table IS NULL OR platform IS NULL OR platform_column IS NULL THEN
        RAISE EXCEPTION 'events_table, platform and platform_column must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM rollup_internal.check_owner(events_table);
    PERFORM rollup_internal.check_column(events_table, platform_column);
    IF keys IS NULL THEN
        SELECT p.keys INTO keys FROM rollup.uniqueness_presets() p
        WHERE p.preset = coalesce(add_uniqueness_rule.preset, add_uniqueness_rule.platform);
        IF keys IS NULL THEN
            RAISE EXCEPTION 'no keys given and no preset named "%"', coalesce(preset, platform)
                USING ERRCODE = '22023',
                      HINT = 'Pass keys => ARRAY[...] or one of the presets: '
                             || (SELECT string_agg(p.preset, ', ') FROM rollup.uniqueness_presets() p) || '.';
        END IF;
        PERFORM rollup_internal.check_column(events_table, payload_column);
        keys := (SELECT array_agg(replace(k, '{payload}', quote_ident(payload_column)) ORDER BY o)
                 FROM unnest(keys) WITH ORDINALITY AS u(k, o));
    ELSIF preset IS NOT NULL THEN
        RAISE EXCEPTION 'give either keys or a preset, not both' USING ERRCODE = '22023';
    END IF;
    IF cardinality(keys) IS NULL OR cardinality(keys) = 0 THEN
        RAISE EXCEPTION 'a uniqueness rule needs at least one key' USING ERRCODE = '22023';
    END IF;
    SELECT c.relname INTO rel_name FROM pg_class c WHERE c.oid = events_table;
    FOREACH key IN ARRAY keys LOOP
        IF key IS NULL THEN
            RAISE EXCEPTION 'a key expression must not be NULL' USING ERRCODE = '22004';
        END IF;
        PERFORM rollup_internal.parse_fragment(key, 'key');
        -- Text keys (what ->> gives) are indexed with text_pattern_ops: bytewise comparisons
        -- instead of the collation's, which makes every insert into the index cheaper; equality
        -- is the same under a deterministic collation, and `key = value` lookups and
        -- ON CONFLICT still use the index. The key's type and collation are those of the
        -- column of an empty subquery over the table's row type: the key is parsed, not
        -- evaluated, and the table not read (it may be a Citus table). A key that does not
        -- parse so keeps the default operator class (CREATE INDEX judges it).
        BEGIN
            EXECUTE format(E'SELECT CASE WHEN pg_typeof(k) IN (\'text\', \'varchar\') THEN pg_collation_for(k) END\n'
                           'FROM (SELECT) AS one LEFT JOIN (SELECT (\n%s\n) AS k\n'
                           'FROM (SELECT (NULL::%s).*) AS %I WHERE false) AS x ON true',
                           key, events_table, rel_name)
                INTO key_coll;
        EXCEPTION WHEN OTHERS THEN
            key_coll := NULL;
        END;
        key_sql := key_sql || (E'(\n' || key || E'\n)'
            || CASE WHEN (SELECT c.collisdeterministic FROM pg_collation c WHERE c.oid = key_coll::regcollation)
                    THEN ' text_pattern_ops' ELSE '' END);
    END LOOP;
    -- Citus: a unique index on a distributed table must contain the distribution column.
    dist := rollup_internal.distribution_column(events_table);
    IF dist IS NOT NULL AND NOT (dist = ANY (keys) OR quote_ident(dist) = ANY (keys)) THEN
        key_sql := quote_ident(dist) || key_sql;
    END IF;

    -- <table>_<platform>_uniq; when that is over the 63 bytes of a name, cut (by whole
    -- characters) and made unique with a hash of the full name.
    idx := rel_name || '_' || platform || '_uniq';
    IF octet_length(idx) > 63 THEN
        idx := rel_name || '_' || platform;
        WHILE octet_length(idx) > 63 - 14 LOOP
            idx := left(idx, -1);
        END LOOP;
        idx := idx || '_' || left(md5(rel_name || '_' || platform), 8) || '_uniq';
    END IF;

    PERFORM rollup_internal.write_catalog('add_rule', jsonb_build_object('events_table', events_table::oid,
        'platform_column', platform_column, 'platform', platform, 'keys', keys, 'index_name', idx));
    BEGIN
        EXECUTE format(E'CREATE UNIQUE INDEX %I ON %s (%s)\nWHERE %I = %L',
                       idx, events_table, array_to_string(key_sql, ', '), platform_column, platform);
    EXCEPTION WHEN undefined_function OR undefined_object THEN
        -- Names in keys are looked up with this function's fixed search_path.
        RAISE EXCEPTION '%', SQLERRM USING ERRCODE = SQLSTATE,
            HINT = 'Keys are read with search_path = pg_catalog, pg_temp: qualify your own functions, types and '
                   'operators with their schema, as in public.f(payload).';
    END;
    RETURN idx;
END
$$;

CREATE OR REPLACE FUNCTION rollup.drop_uniqueness_rule(events_table regclass, platform text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    idx name;
    idx_schema name;
BEGIN
    PERFORM rollup_internal.check_owner(events_table);
    idx := rollup_internal.write_catalog('drop_rule', jsonb_build_object('events_table', events_table::oid, 'platform', platform))->>'index_name';
    SELECT n.nspname INTO idx_schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = events_table;
    EXECUTE format('DROP INDEX IF EXISTS %I.%I', idx_schema, idx);
END
$$;

-- A dropped events table takes its rules along (its indexes go with it); an index of a rule
-- cannot be dropped on its own, which would leave a rule that no index enforces; nor can the
-- source or target table of a rollup (rollup.drop_rollup first, which can drop the target).
-- It runs as the catalog's owner: the rows of a dropped table are visible to nobody else.
CREATE OR REPLACE FUNCTION rollup_internal.on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lost record;
BEGIN
    DELETE FROM rollup.uniqueness_rules r USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.object_type = 'table' AND r.events_table = d.objid;
    DELETE FROM rollup.ingest_views v USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND v.view = d.objid;
    SELECT v.view, d.object_identity INTO lost
    FROM rollup.ingest_views v
    JOIN pg_event_trigger_dropped_objects() d
      ON d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objid = v.rejects_table
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'table % is the rejects table of ingest view %', lost.object_identity, lost.view
            USING ERRCODE = '2BP01', HINT = 'Drop the ingest view first.';
    END IF;
    SELECT r.events_table, r.platform, r.index_name INTO lost
    FROM rollup.uniqueness_rules r
    JOIN pg_class c ON c.oid = r.events_table
    JOIN pg_event_trigger_dropped_objects() d
      ON d.object_type = 'index' AND d.object_name = r.index_name AND d.schema_name = c.relnamespace::regnamespace::name
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'index % enforces the uniqueness rule of platform % on table %',
            quote_ident(lost.index_name), quote_literal(lost.platform), lost.events_table
            USING ERRCODE = '2BP01',
                  HINT = 'Drop the rule with rollup.drop_uniqueness_rule(), which drops its index.';
    END IF;
    SELECT r.name, d.object_identity, d.objid = r.target_table AS is_target INTO lost
    FROM rollup.rollups r
    JOIN pg_event_trigger_dropped_objects() d
      ON d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objid IN (r.source_table, r.target_table)
    ORDER BY r.name
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'table % is the % of rollup "%"', lost.object_identity,
            CASE WHEN lost.is_target THEN 'target' ELSE 'source' END, lost.name
            USING ERRCODE = '2BP01',
                  HINT = 'Drop the rollup first with rollup.drop_rollup() (drop_target => true drops its target too).';
    END IF;
END
$$;

-- Raised from inside the ingest statement when the caller asked for errors on bad events.
CREATE OR REPLACE FUNCTION rollup_internal.refuse_event(reason text, event jsonb, state text DEFAULT '23502')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'event rejected: %', reason
        USING ERRCODE = state, DETAIL = 'Event: ' || left(event::text, 1000),
              HINT = 'Pass rejects_table => ''<table with columns reason text, event jsonb>'' to record bad events instead.';
END
$$;

-- The batch statements shared by both ingest functions. source_sql yields the columns `cols`
-- of the batch; with source_once (a DELETE .. RETURNING, a jsonb batch) it is read once, into
-- a CTE that one statement shares, otherwise (a SELECT) by each statement that needs it.
--
-- Every row ends stored, a duplicate or rejected. A row is rejected, before its key is looked
-- at, when a column it gives is NULL where the events table says NOT NULL, when it fails a CHECK
-- constraint of the table (batch columns of the table's types), or when a uniqueness rule exists
-- and its platform is NULL; then when its platform has a rule and the key is missing, or takes
-- more than 2000 bytes (rollup_internal.key_fits). A rejected row is an error naming it, or a row in
-- rejects_table (reason, event). Of the others the first of each rule's key in the batch is
-- inserted (rollup_internal.first_of_key), the rest are duplicates. The insert first runs without ON
-- CONFLICT, which costs about half as much, and only when it meets a stored row with the same
-- key (a unique violation) again with ON CONFLICT DO NOTHING. keys_comparable: the batch's
-- columns have the events table's types, so that a key computed on a batch row is the key its
-- index computes (else, or with BEFORE INSERT row triggers that may change a row, or on Citus,
-- only ON CONFLICT DO NOTHING decides what is a duplicate).
--
-- Any other error that one row can cause (a value its column's type does not take, a foreign
-- key, an index entry too large, a trigger's error: SQLSTATE classes 22, 23 and 54) rolls the
-- batch back; with `parts` the batch is then stored again in parts (rollup_internal.ingest_rows): a row
-- that fails alone is rejected with its error, or without rejects_table its error is raised,
-- naming the row. Errors of the batch as a whole (no such table, permissions, a serialization
-- failure, disk full) are raised.
CREATE OR REPLACE FUNCTION rollup_internal.ingest(
    events_table regclass, source_sql text, source_once boolean, cols name[], keys_comparable boolean,
    batch jsonb, rejects_table regclass, parts boolean,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off  -- compiling the long key expressions costs more than it saves
AS $$
DECLARE
    col_list text := rollup_internal.ident_list(cols);
    checks text := '';
    key_checks text := '';
    firsts text := '';
    reasons text;
    key_reasons text;
    keep text;
    rule record;
    c record;
    outcome text;
    reject text;
    key_values text;
    unreadable jsonb;
    total bigint;
    src text := CASE WHEN source_once THEN 'batch' ELSE '(' || source_sql || ')' END;
    rejects_sql text;
    prefix text;
    suffix text := '';
    filtered boolean := keys_comparable AND NOT EXISTS (
        SELECT FROM pg_trigger t  -- ROW (1), BEFORE (2), INSERT (4); a partitioned table's partitions too
        WHERE (t.tgrelid = events_table OR t.tgrelid IN (SELECT relid FROM pg_partition_tree(events_table)))
          AND NOT t.tgisinternal AND t.tgtype & 7 = 7);
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AND filtered THEN
        EXECUTE 'SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO filtered USING events_table;
    END IF;
    -- A reason, or (without rejects_table) the error that names the row: a WHEN .. THEN for each.
    outcome := CASE WHEN rejects_table IS NULL THEN 'rollup_internal.refuse_event(%L, to_jsonb(b), %L)' ELSE '%L' END;
    reject := E'\n    WHEN %s THEN ' || outcome;
    -- Checks of the row's columns.
    FOR c IN SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = events_table AND a.attnotnull AND a.attname = ANY (cols) ORDER BY a.attnum LOOP
        checks := checks || format(reject, format('b.%I IS NULL', c.attname), format('column %s is NULL: it is NOT NULL', c.attname), '23502');
    END LOOP;
    IF keys_comparable THEN
        FOR c IN SELECT k.conname, pg_get_expr(k.conbin, k.conrelid) AS expr FROM pg_constraint k
                 WHERE k.conrelid = events_table AND k.contype = 'c'
                   AND (SELECT bool_and(a.attname = ANY (cols)) FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey))
                 ORDER BY k.conname LOOP
            checks := checks || format(reject, format('NOT coalesce((%s), true)', c.expr), format('check constraint %s fails', c.conname), '23514');
        END LOOP;
    END IF;
    FOR rule IN SELECT * FROM rollup.uniqueness_rules r WHERE r.events_table = ingest.events_table ORDER BY r.platform LOOP
        IF NOT rule.platform_column = ANY (cols) THEN
            RAISE EXCEPTION 'the batch has no column % for the uniqueness rule of platform %',
                quote_ident(rule.platform_column), quote_literal(rule.platform) USING ERRCODE = '42703';
        END IF;
        IF strpos(checks, format('WHEN b.%I IS NULL THEN', rule.platform_column)) = 0 THEN
            checks := checks || format(reject, format('b.%I IS NULL', rule.platform_column),
                                       format('the platform (column %s) is NULL', rule.platform_column), '23502');
        END IF;
        key_values := (SELECT string_agg(format(E'(\n%s\n)', k), ', ') FROM unnest(rule.keys) k);
        -- (The key computed once: _key_fits is NULL for a missing key, false for one too large.)
        key_checks := key_checks || format(E'\n    WHEN b.%I = %L THEN CASE coalesce(rollup_internal.key_fits(%s)::int, -1) WHEN -1 THEN %s WHEN 0 THEN %s END',
            rule.platform_column, rule.platform, key_values,
            format(outcome, format('platform %s: a key is missing (%s)', rule.platform, array_to_string(rule.keys, ', ')), '23502'),
            format(outcome, format('platform %s: the key (%s) takes more than 2000 bytes', rule.platform, array_to_string(rule.keys, ', ')), '54000'));
        firsts := firsts || format(E'\n    WHEN b.%I = %L THEN rollup_internal.first_of_key(%s)', rule.platform_column, rule.platform, key_values);
    END LOOP;
    reasons := CASE WHEN checks = '' THEN 'NULL::text' ELSE 'CASE' || checks || E'\n    END' END;
    key_reasons := CASE WHEN key_checks = '' THEN 'NULL::text' ELSE 'CASE' || key_checks || E'\n    END' END;
    IF firsts = '' THEN
        filtered := false;
    END IF;
    -- The row's checks come first (a rejected row's key is not remembered); _first_of_key is
    -- NULL for a key that is missing or too large: only then are the key's reasons evaluated.
    keep := CASE WHEN filtered THEN format(E'CASE WHEN %s IS NOT NULL THEN false ELSE coalesce(CASE%s\n    ELSE true END, %s IS NULL) END',
                                           reasons, firsts, key_reasons)
                 ELSE format('coalesce(%s, %s) IS NULL', reasons, key_reasons) END;
    IF rejects_table IS NOT NULL THEN
        PERFORM rollup_internal.check_column(rejects_table, 'reason');
        PERFORM rollup_internal.check_column(rejects_table, 'event');
        rejects_sql := format(E'INSERT INTO %s (reason, event)\n    SELECT r.reason, to_jsonb(b) FROM %s b, LATERAL (SELECT coalesce(%s, %s) AS reason) r\n    WHERE r.reason IS NOT NULL',
                              rejects_table, src, reasons, key_reasons);
    END IF;
    prefix := format(E'INSERT INTO %s (%s) SELECT %s FROM %s b\n    WHERE %s', events_table, col_list, col_list, src, keep);
    IF source_once THEN
        prefix := format(E'WITH batch AS (%s),\n    rejected AS (%s),\n    inserted AS (%s',
                         source_sql, coalesce(rejects_sql || ' RETURNING 1', 'SELECT 1 WHERE false'), prefix);
        suffix := E' RETURNING 1)\nSELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM inserted), (SELECT count(*) FROM rejected)';
    END IF;

    BEGIN
        FOR attempt IN 1..2 LOOP
            CONTINUE WHEN attempt = 1 AND NOT filtered;
            BEGIN
                IF source_once THEN
                    EXECUTE prefix || CASE WHEN attempt = 2 THEN E'\n    ON CONFLICT DO NOTHING' ELSE '' END || suffix
                        INTO total, inserted, rejected USING batch;
                ELSE
                    rejected := 0;
                    IF rejects_sql IS NOT NULL THEN
                        EXECUTE rejects_sql USING batch;
                        GET DIAGNOSTICS rejected = ROW_COUNT;
                    END IF;
                    EXECUTE prefix || CASE WHEN attempt = 2 THEN E'\n    ON CONFLICT DO NOTHING' ELSE '' END USING batch;
                    GET DIAGNOSTICS inserted = ROW_COUNT;
                END IF;
                EXIT;
            EXCEPTION WHEN unique_violation OR exclusion_violation THEN
                IF attempt = 2 THEN
                    RAISE;
                END IF;  -- rolled back: again, with ON CONFLICT
            END;
        END LOOP;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
        IF NOT parts THEN
            RAISE;
        END IF;
        -- A jsonb batch with rejects_table: again, each object read on its own (rollup_internal.read_row);
        -- those that do not read are left out, then rejected with their error.
        IF batch IS NOT NULL AND source_once AND rejects_table IS NOT NULL AND source_sql !~ 'rollup\._read_row' THEN
            PERFORM rollup_internal.unread();
            SELECT x.inserted, x.duplicates, x.rejected INTO inserted, duplicates, rejected
            FROM rollup_internal.ingest(events_table,
                format('SELECT %s FROM (SELECT (y.r).* FROM (SELECT rollup_internal.read_row(x.e, NULL::%s, x.o) AS r FROM jsonb_array_elements($1) WITH ORDINALITY x(e, o)) y
                        WHERE y.r IS DISTINCT FROM NULL) z', col_list, events_table),
                true, cols, keys_comparable, batch, rejects_table, true) x;
            unreadable := rollup_internal.unread()::jsonb;
            EXECUTE format('INSERT INTO %s (reason, event) SELECT format(''%%s (row %%s of the batch)'', u->>1, u->>0), $1 -> ((u->>0)::int - 1)
                            FROM jsonb_array_elements($2) u', rejects_table)
                USING batch, unreadable;
            rejected := rejected + jsonb_array_length(unreadable);
            RETURN;
        END IF;
        -- A row's own error: the batch again, in parts (without rejects_table, to name the row).
        SELECT x.inserted, x.duplicates, x.rejected INTO inserted, duplicates, rejected
        FROM rollup_internal.ingest_rows(events_table, cols,
            CASE WHEN batch IS NOT NULL AND source_once THEN batch
                 ELSE rollup_internal.batch_rows(source_sql, batch) END, rejects_table) x;
        RETURN;
    END;
    IF NOT source_once THEN
        EXECUTE format('SELECT count(*) FROM %s b', src) INTO total USING batch;
    END IF;
    duplicates := total - inserted - rejected;
END
$$;

-- The rows of a batch whose source is a query (its columns; a DELETE .. RETURNING too), as a
-- jsonb array of objects.
CREATE OR REPLACE FUNCTION rollup_internal.batch_rows(source_sql text, batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('WITH s AS (%s) SELECT coalesce(jsonb_agg(to_jsonb(s)), ''[]'') FROM s', source_sql) INTO result USING batch;
    RETURN result;
END
$$;

-- A batch that one of its rows made fail (rollup_internal.ingest), stored again: in parts of 100 rows,
-- and a part that fails again row by row; a row that fails alone is rejected with its error
-- and its position in the batch (without rejects_table: its error is raised, naming it).
-- `rows`: the batch as a jsonb array of objects.
CREATE OR REPLACE FUNCTION rollup_internal.ingest_rows(events_table regclass, cols name[], rows jsonb, rejects_table regclass,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := jsonb_array_length(rows);
    source_sql text := format('SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1)', rollup_internal.ident_list(cols), events_table);
    part jsonb;
    x record;
    one jsonb;
BEGIN
    inserted := 0; duplicates := 0; rejected := 0;
    FOR start_at IN 0 .. n - 1 BY 100 LOOP
        part := jsonb_path_query_array(rows, format('$[%s to %s]', start_at, least(start_at + 99, n - 1))::jsonpath);
        BEGIN
            SELECT * INTO x FROM rollup_internal.ingest(events_table, source_sql, true, cols, true, part, rejects_table, false);
            inserted := inserted + x.inserted; duplicates := duplicates + x.duplicates; rejected := rejected + x.rejected;
            CONTINUE;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
            NULL;  -- rolled back: row by row
        END;
        FOR i IN 0 .. jsonb_array_length(part) - 1 LOOP
            one := part -> i;
            BEGIN
                SELECT * INTO x FROM rollup_internal.ingest(events_table, source_sql, true, cols, true, jsonb_build_array(one), rejects_table, false);
                inserted := inserted + x.inserted; duplicates := duplicates + x.duplicates; rejected := rejected + x.rejected;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
                IF rejects_table IS NULL THEN
                    RAISE EXCEPTION '%', SQLERRM USING ERRCODE = SQLSTATE,
                        DETAIL = format('Row %s of the batch: %s', start_at + i + 1, left(one::text, 1000)),
                        HINT = 'Pass rejects_table => ''<table with columns reason text, event jsonb>'' to record bad events instead.';
                END IF;
                EXECUTE format('INSERT INTO %s (reason, event) VALUES ($1, $2)', rejects_table)
                    USING format('%s: %s (row %s of the batch)', SQLSTATE, SQLERRM, start_at + i + 1), one;
                rejected := rejected + 1;
            END;
        END LOOP;
    END LOOP;
END
$$;

-- Moves every row of staging_table into events_table, skipping duplicates. The staging rows
-- are deleted in the same statement (a temporary table, which no other session can write, is
-- read by several statements and emptied with TRUNCATE after them), unless keep_staging.
CREATE OR REPLACE FUNCTION rollup.ingest(
    events_table regclass, staging_table regclass, rejects_table regclass DEFAULT NULL,
    keep_staging boolean DEFAULT false,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols name[];
    extra text;
    col_list text;
    same_types boolean;
    temporary boolean;
BEGIN
    IF events_table IS NULL OR staging_table IS NULL THEN
        RAISE EXCEPTION 'events_table and staging_table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(s.attname ORDER BY s.attnum) FILTER (WHERE e.attname IS NOT NULL),
           string_agg(quote_ident(s.attname), ', ') FILTER (WHERE e.attname IS NULL),
           bool_and(s.atttypid = e.atttypid AND s.atttypmod = e.atttypmod)
    INTO cols, extra, same_types
    FROM pg_attribute s
    LEFT JOIN pg_attribute e ON e.attrelid = events_table AND e.attname = s.attname AND e.attnum > 0
                               AND NOT e.attisdropped AND e.attgenerated = ''
    WHERE s.attrelid = staging_table AND s.attnum > 0 AND NOT s.attisdropped;
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'staging table % has columns that % does not have (or are generated): %', staging_table, events_table, extra
            USING ERRCODE = '42703';
    END IF;
    IF cols IS NULL THEN
        RAISE EXCEPTION 'staging table % has no columns', staging_table USING ERRCODE = '42703';
    END IF;
    col_list := rollup_internal.ident_list(cols);
    temporary := (SELECT c.relpersistence = 't' FROM pg_class c WHERE c.oid = staging_table);
    -- A table that other sessions may write is read by one statement (one snapshot).
    SELECT i.inserted, i.duplicates, i.rejected INTO inserted, duplicates, rejected
    FROM rollup_internal.ingest(events_table,
        CASE WHEN keep_staging OR temporary THEN format('SELECT %s FROM %s', col_list, staging_table)
             ELSE format('DELETE FROM %s RETURNING %s', staging_table, col_list) END,
        NOT temporary, cols, same_types, NULL, rejects_table, true) i;
    IF temporary AND NOT keep_staging THEN
        EXECUTE format('TRUNCATE %s', staging_table);
    END IF;
END
$$;

-- Inserts a jsonb array of row objects ({column: value}) into events_table, skipping
-- duplicates. Keys that are not columns of the table are an error; a column missing from
-- an object is NULL in that row.
CREATE OR REPLACE FUNCTION rollup.ingest_json(
    events_table regclass, events jsonb, rejects_table regclass DEFAULT NULL,
    OUT inserted bigint, OUT duplicates bigint, OUT rejected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols name[];
    extra text;
BEGIN
    IF events_table IS NULL OR events IS NULL THEN
        RAISE EXCEPTION 'events_table and events must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF jsonb_typeof(events) <> 'array' THEN
        RAISE EXCEPTION 'events must be a jsonb array of objects, not %', jsonb_typeof(events) USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM jsonb_array_elements(events) e WHERE jsonb_typeof(e) <> 'object') THEN
        RAISE EXCEPTION 'every element of events must be a jsonb object' USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(k.key::name ORDER BY k.key) FILTER (WHERE a.attname IS NOT NULL),
           string_agg(quote_ident(k.key), ', ') FILTER (WHERE a.attname IS NULL)
    INTO cols, extra
    FROM (SELECT DISTINCT jsonb_object_keys(e) AS key FROM jsonb_array_elements(events) e) k
    LEFT JOIN pg_attribute a ON a.attrelid = events_table AND a.attname = k.key AND a.attnum > 0
                               AND NOT a.attisdropped AND a.attgenerated = '';
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'events have keys that are not columns of %: %', events_table, extra USING ERRCODE = '42703';
    END IF;
    IF cols IS NULL THEN
        inserted := 0; duplicates := 0; rejected := 0;
        RETURN;
    END IF;
    SELECT i.inserted, i.duplicates, i.rejected INTO inserted, duplicates, rejected
    FROM rollup_internal.ingest(events_table,
        format('SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1)',
               rollup_internal.ident_list(cols),
               events_table),
        true, cols, true, events, rejects_table, true) i;
END
$$;

CREATE OR REPLACE FUNCTION rollup.create_ingest_view(
    events_table regclass, view_name text DEFAULT NULL, rejects_table regclass DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    qualified text;
    view regclass;
    col record;
    citus_ddl text;
BEGIN
    IF events_table IS NULL THEN
        RAISE EXCEPTION 'events_table must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM rollup_internal.check_owner(events_table);
    IF rejects_table IS NOT NULL THEN
        PERFORM rollup_internal.check_column(rejects_table, 'reason');
        PERFORM rollup_internal.check_column(rejects_table, 'event');
    END IF;
    qualified := rollup_internal.qualify(coalesce(view_name,
        quote_ident((SELECT c.relname || '_ingest' FROM pg_class c WHERE c.oid = events_table))), events_table);
    -- On Citus the view stays on the coordinator, where COPY and ingest run (Citus would refuse
    -- its column defaults on the workers).
    citus_ddl := current_setting('citus.enable_ddl_propagation', true);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    EXECUTE format('CREATE VIEW %s AS SELECT %s FROM %s WHERE false', qualified,
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = events_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
           AND a.attidentity = ''),
        events_table);
    view := qualified::regclass;
    -- Columns an INSERT or COPY leaves out get the events table's defaults.
    FOR col IN SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS expr
               FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = events_table AND a.attgenerated = '' LOOP
        EXECUTE format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', view, col.attname, col.expr);
    END LOOP;
    EXECUTE format('CREATE TRIGGER ingest INSTEAD OF INSERT ON %s FOR EACH ROW EXECUTE FUNCTION rollup_internal.ingest_view_row()', view);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', citus_ddl, true);
    END IF;
    PERFORM rollup_internal.write_catalog('add_ingest_view', jsonb_build_object('view', view::oid,
        'events_table', events_table::oid, 'rejects_table', rejects_table::oid));
    RETURN view;
END
$$;

-- The INSTEAD OF INSERT trigger of ingest views: the row is stored unless it is a duplicate
-- (or rejected); only stored rows count in an INSERT's row count. A COPY that pg_rollup's
-- loader would have taken had the session loaded pg_rollup gets a warning, once.
CREATE OR REPLACE FUNCTION rollup_internal.ingest_view_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target record;
    stored bigint;
BEGIN
    SELECT * INTO target FROM rollup.ingest_views v WHERE v.view = TG_RELID;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'view % is not a pg_rollup ingest view', TG_RELID::regclass USING ERRCODE = '55000',
            HINT = 'Create ingest views with rollup.create_ingest_view().';
    END IF;
    IF current_setting('rollup.ingest_view_warned', true) IS DISTINCT FROM statement_timestamp()::text
       AND current_query() ~* '^\s*copy\M' THEN
        PERFORM set_config('rollup.ingest_view_warned', statement_timestamp()::text, true);
        IF (SELECT t.direct FROM rollup_internal.ingest_view_target(TG_RELID) t) THEN
            RAISE WARNING 'COPY into % goes through its trigger, a row at a time: this session has not loaded pg_rollup', TG_RELID::regclass
                USING HINT = 'Preload pg_rollup (shared_preload_libraries, or ALTER DATABASE .. SET session_preload_libraries = ''pg_rollup''), or run LOAD ''pg_rollup'' before the COPY.';
        END IF;
    END IF;
    SELECT i.inserted INTO stored
    FROM rollup.ingest_json(target.events_table, jsonb_build_array(to_jsonb(NEW)), target.rejects_table) i;
    RETURN CASE WHEN stored > 0 THEN NEW END;
END
$$;

-- Where a COPY into an ingest view stores, and whether pg_rollup's loader may write the events
-- table directly: a plain table (no partitions) without triggers (foreign keys are triggers),
-- row-level security, stored generated columns, exclusion or deferred constraints, not a Citus
-- table. No row: not an ingest view.
CREATE OR REPLACE FUNCTION rollup_internal.ingest_view_target(view regclass,
    OUT events_table regclass, OUT rejects_table text, OUT direct boolean)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    citus boolean := false;
BEGIN
    SELECT v.events_table, CASE WHEN r.oid IS NOT NULL THEN format('%I.%I', n.nspname, r.relname) END INTO events_table, rejects_table
    FROM rollup.ingest_views v
    LEFT JOIN pg_class r ON r.oid = v.rejects_table
    LEFT JOIN pg_namespace n ON n.oid = r.relnamespace
    WHERE v.view = ingest_view_target.view;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO citus USING events_table;
    END IF;
    direct := NOT citus AND EXISTS (
        SELECT FROM pg_class c
        WHERE c.oid = events_table AND c.relkind = 'r' AND NOT c.relispartition
          AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid) AND NOT c.relrowsecurity
          AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attgenerated <> '')
          AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisexclusion OR NOT i.indimmediate)));
    RETURN NEXT;
END
$$;

-- How a measure merges into an existing rollup row: %1$s is the stored value, %2$s the new one.
CREATE OR REPLACE FUNCTION rollup_internal.merge_sql(rule text, stored text, incoming text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(CASE rule
        WHEN 'add'        THEN 'coalesce(%1$s + %2$s, %1$s, %2$s)'
        WHEN 'least'      THEN 'least(%1$s, %2$s)'
        WHEN 'greatest'   THEN 'greatest(%1$s, %2$s)'
        WHEN 'and'        THEN 'coalesce(%1$s AND %2$s, %1$s, %2$s)'
        WHEN 'or'         THEN 'coalesce(%1$s OR %2$s, %1$s, %2$s)'
        WHEN 'hll_union'  THEN 'coalesce(@extschema@.hll_union(%1$s, %2$s), %1$s, %2$s)'
        WHEN 'topn_union' THEN 'coalesce(@extschema@.topn_union(%1$s, %2$s), %1$s, %2$s)'
        WHEN 'qsketch_union' THEN 'coalesce(@extschema@.qsketch_union(%1$s, %2$s), %1$s, %2$s)'
    END, stored, incoming)
$$;

-- The merge rule of a measure, or an error that names a mergeable alternative.
-- level: the measure reads a finer rollup, whose rows are already aggregates.
CREATE OR REPLACE FUNCTION rollup_internal.merge_rule(measure text, parsed rollup_internal.fragment, level boolean)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    func text := parsed.func;
    rule text;
    hint text;
BEGIN
    IF parsed.kind <> 'call' THEN
        RAISE EXCEPTION 'measure "%" is not an aggregate call', measure USING ERRCODE = '42803',
            HINT = 'Write measures as aggregate calls with a name, e.g. count(*) AS events, sum(amount) AS amount.';
    END IF;
    IF parsed.is_window THEN
        RAISE EXCEPTION 'measure "%" is a window function', measure USING ERRCODE = '42803';
    END IF;
    IF parsed.is_distinct THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: %(DISTINCT ...) cannot be combined across batches', measure, func
            USING ERRCODE = '0A000',
                  HINT = 'Count distinct values with hll_add_agg(hll_hash_<type>(x)) and read them with hll_cardinality().';
    END IF;
    IF parsed.within_group OR func IN ('percentile_cont', 'percentile_disc', 'mode', 'median') THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: ordered-set aggregates cannot be combined across batches', measure
            USING ERRCODE = '0A000',
                  HINT = 'Keep percentiles with qsketch_add_agg(x) AS x_sketch and read them with qsketch_percentile(x_sketch, 0.99) (within 1 % of the exact value); the most frequent values with topn_add_agg(x).';
    END IF;
    IF parsed.name IS NULL THEN
        RAISE EXCEPTION 'measure "%" needs a name', measure USING ERRCODE = '42601',
            HINT = 'Add AS <column name>, e.g. count(*) AS events.';
    END IF;
    rule := CASE
        WHEN func IN ('sum') THEN 'add'
        WHEN func IN ('min') THEN 'least'
        WHEN func IN ('max') THEN 'greatest'
        WHEN func IN ('bool_and', 'every') THEN 'and'
        WHEN func IN ('bool_or') THEN 'or'
        WHEN func IN ('hll_union_agg') THEN 'hll_union'
        WHEN func IN ('topn_union_agg') THEN 'topn_union'
        WHEN func IN ('qsketch_union_agg') THEN 'qsketch_union'
        WHEN NOT level AND func = 'count' THEN 'add'
        WHEN NOT level AND func = 'hll_add_agg' THEN 'hll_union'
        WHEN NOT level AND func = 'topn_add_agg' THEN 'topn_union'
        WHEN NOT level AND func = 'qsketch_add_agg' THEN 'qsketch_union'
    END;
    IF rule IS NOT NULL THEN
        RETURN rule;
    END IF;
    hint := CASE
        WHEN func = 'count' THEN 'A level reads rows that are already counts: use sum(<count column>).'
        WHEN func = 'hll_add_agg' THEN 'A level reads sketches: use hll_union_agg(<hll column>).'
        WHEN func = 'topn_add_agg' THEN 'A level reads sketches: use topn_union_agg(<topn column>).'
        WHEN func = 'qsketch_add_agg' THEN 'A level reads sketches: use qsketch_union_agg(<qsketch column>).'
        WHEN func = 'avg' THEN 'Store sum(x) and count(x) as two measures and divide them at query time.'
        WHEN func IN ('stddev', 'stddev_samp', 'stddev_pop', 'variance', 'var_samp', 'var_pop')
            THEN 'Store sum(x), sum(x * x) and count(x) as measures and compute the spread at query time.'
        WHEN func IN ('array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'xmlagg')
            THEN 'Collections grow without bound; keep the most frequent values with topn_add_agg(x).'
        ELSE 'Mergeable measures: count, sum, min, max, bool_and, bool_or, hll_add_agg, hll_union_agg, topn_add_agg, topn_union_agg, qsketch_add_agg, qsketch_union_agg.'
    END;
    IF level AND func IN ('count', 'hll_add_agg', 'topn_add_agg', 'qsketch_add_agg') THEN
        RAISE EXCEPTION 'measure "%" does not merge the rows of a finer rollup', measure USING ERRCODE = '0A000', HINT = hint;
    ELSIF EXISTS (SELECT FROM pg_proc WHERE proname = func AND prokind = 'a') THEN
        RAISE EXCEPTION 'measure "%" is not mergeable: % cannot be combined across batches', measure, func
            USING ERRCODE = '0A000', HINT = hint;
    END IF;
    RAISE EXCEPTION 'measure "%" is not an aggregate call', measure USING ERRCODE = '42803', HINT = hint;
END
$$;

-- The bucket of a time column, in time zone `time_zone` with buckets aligned on `origin` (a
-- local time). Widths counted in days (1 day, 7 days) follow local midnight: their buckets are
-- 23, 24 or 25 hours long across a DST change (date_bin on the local time). 1 month and 1 year
-- start at local midnight of the first day (date_trunc in the zone). Widths with hours, minutes
-- or seconds are fixed lengths of time from the origin (date_bin on the instant). A timestamp
-- column (without time zone) holds local times already: its zone is UTC, which means none.
-- In UTC with the default origin (Monday 2000-01-03) every width gives what 0.3.0 gave.
CREATE OR REPLACE FUNCTION rollup_internal.bucket_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    months int := extract(year FROM width)::int * 12 + extract(month FROM width)::int;
    rest interval := width - make_interval(months => months);
BEGIN
    IF time_type NOT IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN
        RAISE EXCEPTION 'the time column must be timestamptz or timestamp, not %', time_type USING ERRCODE = '42804';
    END IF;
    IF width IS NULL OR width <= interval '0' OR rest < interval '0' THEN
        RAISE EXCEPTION 'bucket width must be a positive interval, not %', width USING ERRCODE = '22023';
    END IF;
    IF months > 0 THEN
        IF rest <> interval '0' OR months NOT IN (1, 12) THEN
            RAISE EXCEPTION 'bucket width % is not supported', width USING ERRCODE = '22023',
                HINT = 'Use 1 month, 1 year, or a width without months (1 minute, 5 minutes, 1 hour, 1 day, 7 days).';
        END IF;
        IF origin <> '2000-01-03 00:00'::timestamp THEN
            RAISE EXCEPTION 'month and year buckets start on the first day of a month; origin applies to widths without months'
                USING ERRCODE = '22023';
        END IF;
        RETURN format(CASE WHEN time_type = 'timestamptz'::regtype THEN 'date_trunc(%L, %s, %L)' ELSE 'date_trunc(%L, %s)' END,
                      CASE months WHEN 1 THEN 'month' ELSE 'year' END, time_sql, time_zone);
    END IF;
    IF width < interval '1 second' THEN
        RAISE EXCEPTION 'bucket width % is below 1 second', width USING ERRCODE = '22023';
    END IF;
    IF rollup_internal.calendar_zone(width, time_zone) <> 'UTC' THEN
        RETURN format('(date_bin(%L::interval, (%s) AT TIME ZONE %L, %L::timestamp) AT TIME ZONE %3$L)',
                      width, time_sql, time_zone, to_char(origin, 'YYYY-MM-DD HH24:MI:SS.US'));
    END IF;
    RETURN format('date_bin(%L::interval, %s, %L)', width, time_sql,
                  to_char(origin AT TIME ZONE time_zone AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
END
$$;

-- What a bucket column holds, for its comment: the width, the time zone and the origin.
CREATE OR REPLACE FUNCTION rollup_internal.bucket_comment(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('start of the %s bucket, in time zone %s%s (pg_rollup rollup %s)', r.bucket_width, r.time_zone,
                  CASE WHEN r.bucket_origin <> '2000-01-03 00:00'::timestamp
                       THEN format(', from origin %s', to_char(r.bucket_origin, 'YYYY-MM-DD HH24:MI:SS')) ELSE '' END, r.name)
$$;

-- The zone in which buckets of width `width` are counted: the rollup's time zone for widths in
-- days, months or years (calendar units), UTC for widths with hours, minutes or seconds.
CREATE OR REPLACE FUNCTION rollup_internal.calendar_zone(width interval, time_zone text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN date_trunc('day', width) = width THEN time_zone ELSE 'UTC' END
$$;

-- The SELECT that aggregates rows of `from_sql` (aliased s) for rollup r, output columns
-- named like the target's. with_rows adds "pg_rollup rows", the number of source rows. Grouped
-- by the bucket first: rows read in time order (a query view's finer rows by their bucket's
-- index) are then grouped with small sorts of the rows of each bucket (incremental sort) rather
-- than one sort of them all by their text dimensions.
CREATE OR REPLACE FUNCTION rollup_internal.aggregate_sql(r rollup.rollups, from_sql text, with_rows boolean)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'SELECT %s %s AS %I,%s%s\nFROM %s\nGROUP BY %s',
        (SELECT string_agg(E'\n' || d || E'\n,', '' ORDER BY o) FROM unnest(r.dimensions) WITH ORDINALITY u(d, o)),
        r.bucket_sql, r.bucket_column,
        (SELECT string_agg(E'\n' || m || E'\n', ',' ORDER BY o) FROM unnest(r.measures) WITH ORDINALITY u(m, o)),
        CASE WHEN with_rows THEN ', count(*) AS "pg_rollup rows"' ELSE '' END,
        from_sql,
        (SELECT string_agg(i::text, ', ' ORDER BY i % (cardinality(r.dimensions) + 1)) FROM generate_series(1, cardinality(r.dimensions) + 1) i))
$$;

-- The composite type of the unique key that create_rollup makes on PostgreSQL 14 (no UNIQUE NULLS
-- NOT DISTINCT there): target's unique index on the row of its key columns as this type, whose
-- comparison takes NULL fields as equal. NULL for any other key.
CREATE OR REPLACE FUNCTION rollup_internal.key_type(target regclass)
RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.refobjid::regtype
    FROM pg_index i
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refclassid = 'pg_type'::regclass
    JOIN pg_type t ON t.oid = d.refobjid AND t.typtype = 'c'
    WHERE i.indrelid = target AND i.indisunique AND i.indnatts = 1 AND i.indexprs IS NOT NULL
    LIMIT 1
$$;

-- What ON CONFLICT names for a merge into rollup r's target: its key columns, or the row of
-- them as rollup_internal.key_type, the key that create_rollup makes on PostgreSQL 14.
CREATE OR REPLACE FUNCTION rollup_internal.conflict_target(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN k IS NULL THEN rollup_internal.ident_list(r.dimension_names || r.bucket_column)
                ELSE format('(ROW(%s)::%s)', rollup_internal.ident_list(r.dimension_names || r.bucket_column), k) END
    FROM (SELECT rollup_internal.key_type(r.target_table) AS k) x
$$;

-- The merge of the aggregated rows of CTE `delta` into r's target, in the order of the target's
-- key: the conflict checks and index inserts walk the index in order instead of at random.
CREATE OR REPLACE FUNCTION rollup_internal.merge_into_sql(r rollup.rollups, delta text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'INSERT INTO %s AS t (%s)\nSELECT %2$s FROM %s ORDER BY %4$s\nON CONFLICT (%6$s) DO UPDATE SET %5$s',
        r.target_table,
        rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        delta,
        rollup_internal.ident_list(r.dimension_names || r.bucket_column),
        (SELECT string_agg(format('%I = %s', m, rollup_internal.merge_sql(rule, 't.' || quote_ident(m), 'EXCLUDED.' || quote_ident(m))), ', ')
         FROM unnest(r.measure_names, r.merge_rules) u(m, rule)),
        rollup_internal.conflict_target(r))
$$;

-- The statement that aggregates `from_sql` (aliased s) into rollup `top` and feeds every
-- level below it from its parent's delta: CTE d<i> aggregates for the i-th rollup of the
-- chain, m<i> merges it into that rollup's target; `first_cte` (when given) comes before them
-- and may be what `from_sql` reads; `top_as` (when given) aggregates for `top` instead of its own
-- definition. It returns the number of source rows.
CREATE OR REPLACE FUNCTION rollup_internal.chain_sql(top text, from_sql text, first_cte text DEFAULT NULL, top_as rollup.rollups DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    ctes text[] := CASE WHEN first_cte IS NULL THEN '{}' ELSE ARRAY[first_cte] END;
    names text[] := '{}';
BEGIN
    FOR r IN SELECT * FROM rollup_internal.chain(top) LOOP
        names := names || r.name;
        ctes := ctes
            || format('d%s AS (%s)', cardinality(names),
                      CASE WHEN r.name = top THEN rollup_internal.aggregate_sql(coalesce(top_as, r), from_sql, true)
                           ELSE rollup_internal.aggregate_sql(r, format('d%s s', array_position(names, r.parent)), false) END)
            || format('m%s AS (%s)', cardinality(names), rollup_internal.merge_into_sql(r, 'd' || cardinality(names)));
    END LOOP;
    RETURN format(E'WITH %s\nSELECT coalesce(sum("pg_rollup rows"), 0)::bigint FROM d1', array_to_string(ctes, E',\n'));
END
$$;

-- The statements of a run of rollup r and of the levels below it, with $1 and $2 bound to
-- (lo, hi]: ids of an incremental rollup; for a flush rollup $2 is the batch size (NULL:
-- everything); a level reads its whole source. The first statement returns the number of
-- source rows. One statement (rollup_internal.chain_sql) on a plain table; on Citus, which does not
-- push a CTE feeding an INSERT down to the shards, a count of the source rows, then for each
-- rollup of the chain an INSERT .. SELECT over its aggregation, the aggregations of its
-- parents nested as subqueries, then for a flush rollup a DELETE of the queue: statements
-- that run on the colocated shards.
CREATE OR REPLACE FUNCTION rollup_internal.run_statements(r rollup.rollups)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    from_sql text := format('%s s', r.source_table);
    x rollup.rollups;
    names text[] := '{}';
    aggregations text[] := '{}';
    statements text[];
BEGIN
    IF r.mode = 'incremental' THEN
        from_sql := from_sql || format(' WHERE s.%I > $1 AND s.%1$I <= $2', r.id_column);
    END IF;
    IF rollup_internal.distribution_column(r.source_table) IS NULL THEN
        IF r.mode = 'flush' THEN
            RETURN ARRAY[rollup_internal.chain_sql(r.name, 'flushed s',
                format(E'flushed AS (DELETE FROM %s WHERE $2 IS NULL OR (tableoid, ctid) IN (\n'
                       || E'    SELECT tableoid, ctid FROM %1$s LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *)', r.source_table))];
        END IF;
        RETURN ARRAY[rollup_internal.chain_sql(r.name, from_sql)];
    END IF;
    statements := ARRAY[format('SELECT count(*) FROM %s', from_sql)];
    FOR x IN SELECT * FROM rollup_internal.chain(r.name) LOOP
        aggregations := aggregations || rollup_internal.aggregate_sql(x,
            CASE WHEN x.name = r.name THEN from_sql
                 ELSE format('(%s) s', aggregations[array_position(names, x.parent)]) END, false);
        names := names || x.name;
        statements := statements || rollup_internal.merge_into_sql(x, format('(%s) d', aggregations[cardinality(aggregations)]));
    END LOOP;
    IF r.mode = 'flush' THEN
        statements := statements || format('DELETE FROM %s', r.source_table);
    END IF;
    RETURN statements;
END
$$;

-- Runs rollup r and the levels below it over (lo, hi] (see rollup_internal.run_statements) and
-- returns the number of source rows. validate: only plans the statements (types, merge
-- functions, the unique key), aggregating nothing. Aggregation by hashing, spilling what does
-- not fit in work_mem, rather than sorting the batch by its groups: the planner, which expects
-- far more groups than a time-ordered batch has and sketch states of SSPACE bytes, would
-- otherwise sort whenever they do not fit, and sorting millions of rows by text dimensions
-- (collation comparisons) takes several times as long (BENCHMARKS.md, "rollup.run"). No JIT:
-- the explicit sort of the merge, costed as disabled, would put every run's statement (and the
-- catalog queries that build it) above jit_above_cost, and compiling them took ~0.2 s a run,
-- more than a run of 100k rows; the sketches' work is in their C functions anyway.
CREATE OR REPLACE FUNCTION rollup_internal.run_chain(r rollup.rollups, lo bigint, hi bigint, validate boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
SET jit = off
AS $$
DECLARE
    statements text[] := rollup_internal.run_statements(r);
    -- One statement on a plain table, several on Citus.
    distributed boolean := cardinality(statements) > 1;
    n bigint;
BEGIN
    IF r.mode = 'flush' THEN
        hi := r.batch_size;
        IF distributed AND hi IS NOT NULL THEN
            RAISE EXCEPTION 'a flush rollup of a distributed table has no batch size' USING ERRCODE = '0A000';
        ELSIF distributed AND NOT validate THEN
            -- On Citus the queue is read and emptied by separate statements: writers through the
            -- coordinator wait for the run (readers do not).
            EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', r.source_table);
        END IF;
    END IF;
    FOR i IN 1 .. cardinality(statements) LOOP
        IF validate THEN
            EXECUTE 'EXPLAIN ' || statements[i] USING 0::bigint, 0::bigint;
        ELSIF i = 1 THEN
            EXECUTE statements[i] INTO n USING lo, hi;
        ELSE
            EXECUTE statements[i] USING lo, hi;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- The plans of what the next run of base rollup r executes, planned for the range of ids it
-- would read (from the watermark to the sequence's last value, what writers still in flight
-- may hold back aside, within the batch size) with the settings of rollup_internal.run_chain.
CREATE OR REPLACE FUNCTION rollup_internal.explain(r rollup.rollups)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET enable_sort = off
SET jit = off
AS $$
DECLARE
    statement text;
    w bigint := (SELECT p.watermark FROM rollup.progress p WHERE p.name = r.name);
    hi bigint;
BEGIN
    IF r.mode = 'flush' THEN
        hi := r.batch_size;
    ELSE
        hi := rollup_internal.batch_end(r, w, pg_sequence_last_value(r.id_sequence));
    END IF;
    FOREACH statement IN ARRAY rollup_internal.run_statements(r) LOOP
        RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || statement USING w, hi;
    END LOOP;
END
$$;

-- The plans of what the next rollup.run of a rollup (of its base rollup, for a level) executes,
-- planned as the rollup's owner.
CREATE OR REPLACE FUNCTION rollup.explain_run(rollup_name text)
RETURNS SETOF text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_split_to_table(rollup_internal.as_owner((rollup_internal.get(coalesce(rollup_internal.root(rollup_name), rollup_name))).name, 'explain'), E'\n')
$$;

-- The sequence behind an incremental rollup's id column, checked for what exactly-once
-- relies on: ascending, and CACHE 1 (with a cache, ids are not drawn in commit-able order).
CREATE OR REPLACE FUNCTION rollup_internal.check_sequence(seq regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s pg_sequence;
BEGIN
    SELECT * INTO s FROM pg_sequence WHERE seqrelid = seq;
    IF s.seqcache > 1 THEN
        RAISE EXCEPTION 'sequence % has CACHE %; incremental rollups need CACHE 1', seq, s.seqcache
            USING ERRCODE = '55000',
                  DETAIL = 'With a cache, each session draws ids from its own block, so a committed row can have an id below the watermark.',
                  HINT = format('ALTER SEQUENCE %s CACHE 1;', seq);
    END IF;
    IF s.seqincrement < 0 THEN
        RAISE EXCEPTION 'sequence % is descending; incremental rollups need ascending ids', seq USING ERRCODE = '55000';
    END IF;
END
$$;

-- A level's buckets must each be a whole number of its source's buckets: every start of a
-- level bucket is the start of a source bucket. Fixed lengths of time (UTC) nest when the
-- widths and origins line up; calendar buckets (days in a time zone, months, years) are checked
-- start by start from 1970 to 2100 with the source's own bucket expression (DST changes, zones
-- whose midnight is not on the source's hours, weeks that do not start on the source's weeks).
CREATE OR REPLACE FUNCTION rollup_internal.check_nesting(r rollup.rollups, p rollup.rollups, time_type regtype)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    zone text := rollup_internal.calendar_zone(r.bucket_width, r.time_zone);
    months boolean := extract(month FROM r.bucket_width) + extract(year FROM r.bucket_width) > 0;
    parent_calendar boolean := rollup_internal.calendar_zone(p.bucket_width, p.time_zone) <> 'UTC'
                               OR extract(month FROM p.bucket_width) + extract(year FROM p.bucket_width) > 0;
    parent_width numeric := extract(epoch FROM p.bucket_width);
    misses bigint;
BEGIN
    IF zone = 'UTC' AND NOT months THEN
        IF NOT parent_calendar
           AND extract(epoch FROM r.bucket_width) % parent_width = 0
           AND extract(epoch FROM (r.bucket_origin AT TIME ZONE r.time_zone) - (p.bucket_origin AT TIME ZONE p.time_zone)) % parent_width = 0 THEN
            RETURN;
        END IF;
    ELSE
        EXECUTE format(
            'SELECT count(*) FROM (SELECT %s AS b FROM generate_series(%s, ''2100-01-01''::timestamp, %L::interval) x) s WHERE %s IS DISTINCT FROM s.b',
            CASE WHEN time_type = 'timestamptz'::regtype THEN format('x AT TIME ZONE %L', zone) ELSE 'x' END,
            CASE WHEN months THEN '''1970-01-01''::timestamp'
                 ELSE format('date_bin(%L::interval, ''1970-01-01''::timestamp, %L::timestamp)', r.bucket_width, r.bucket_origin) END,
            r.bucket_width,
            rollup_internal.bucket_sql('s.b', time_type, p.bucket_width, p.time_zone, p.bucket_origin))
            INTO misses;
        IF misses = 0 THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION 'bucket width % is not a whole number of the source''s % buckets', r.bucket_width, p.bucket_width
        USING ERRCODE = '22023',
              DETAIL = format('The level''s buckets: %s in %s from %s; the source''s: %s in %s from %s.', r.bucket_width, r.time_zone,
                              r.bucket_origin, p.bucket_width, p.time_zone, p.bucket_origin),
              HINT = 'Keep the source''s time zone and origin; a level in another time zone needs a source whose buckets divide its every day.';
END
$$;

-- What a rollup's definition derives from what the user wrote, checked on the way: the
-- bucket expression (from the time column and the width), the names of the dimensions and
-- measures, the measures' merge rules, the sequence behind the id column. create_rollup works
-- with it, and the catalog stores what it returns (rollup_internal.catalog_write), never SQL a caller sent.
CREATE OR REPLACE FUNCTION rollup_internal.derive(r rollup.rollups)
RETURNS rollup.rollups
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    time_type regtype;
    zone text;
    parsed rollup_internal.fragment;
    frag text;
BEGIN
    SELECT atttypid::regtype INTO time_type FROM pg_attribute
    WHERE attrelid = r.source_table AND attname = r.time_column AND attnum > 0 AND NOT attisdropped;
    IF time_type IS NULL THEN
        PERFORM rollup_internal.check_column(r.source_table, r.time_column);
    END IF;
    -- The time zone: a name of the zone database, spelled as it spells it.
    SELECT z.name INTO zone FROM pg_timezone_names z
    WHERE lower(z.name) = lower(coalesce(r.time_zone, 'UTC')) ORDER BY z.name = r.time_zone DESC LIMIT 1;
    IF zone IS NULL THEN
        RAISE EXCEPTION 'time zone "%" is not a time zone name', r.time_zone USING ERRCODE = '22023',
            HINT = 'Use a name from pg_timezone_names, e.g. America/New_York: a name follows its zone''s DST rules, an offset does not.';
    ELSIF zone <> 'UTC' AND time_type = 'timestamp'::regtype THEN
        RAISE EXCEPTION 'column % of % is timestamp without time zone: its values are local times already', quote_ident(r.time_column), r.source_table
            USING ERRCODE = '22023', HINT = 'Leave time_zone unset, or store the time as timestamptz.';
    END IF;
    r.time_zone := zone;
    r.bucket_origin := coalesce(r.bucket_origin, '2000-01-03 00:00');
    IF NOT isfinite(r.bucket_origin) OR date_trunc('second', r.bucket_origin) <> r.bucket_origin THEN
        RAISE EXCEPTION 'origin % is not a whole second', r.bucket_origin USING ERRCODE = '22023';
    END IF;
    r.bucket_sql := rollup_internal.bucket_sql('s.' || quote_ident(r.time_column), time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    IF r.mode = 'level' THEN
        PERFORM rollup_internal.check_nesting(r, p, time_type) FROM rollup.rollups p WHERE p.name = r.parent;
    END IF;

    -- Dimensions: a column, or an expression with AS name.
    r.dimension_names := '{}';
    FOREACH frag IN ARRAY r.dimensions LOOP
        parsed := rollup_internal.parse_fragment(frag, 'dimension');
        IF parsed.name IS NULL THEN
            RAISE EXCEPTION 'dimension "%" needs a name', frag USING ERRCODE = '42601',
                HINT = 'Add AS <column name>, e.g. payload->>''query'' AS query.';
        END IF;
        r.dimension_names := r.dimension_names || parsed.name::name;
    END LOOP;
    -- Measures: an aggregate call with AS name and a merge rule.
    IF cardinality(r.measures) = 0 THEN
        RAISE EXCEPTION 'a rollup needs at least one measure' USING ERRCODE = '22023';
    END IF;
    r.measure_names := '{}';
    r.merge_rules := '{}';
    FOREACH frag IN ARRAY r.measures LOOP
        parsed := rollup_internal.parse_fragment(frag, 'measure');
        r.merge_rules := r.merge_rules || rollup_internal.merge_rule(frag, parsed, r.mode = 'level');
        r.measure_names := r.measure_names || parsed.name::name;
    END LOOP;
    IF EXISTS (SELECT FROM unnest(r.dimension_names || r.bucket_column || r.measure_names) c GROUP BY c HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'dimension, bucket and measure names must be distinct: %',
            array_to_string(r.dimension_names || r.bucket_column || r.measure_names, ', ') USING ERRCODE = '42701';
    END IF;

    r.id_sequence := NULL;
    IF r.mode = 'incremental' THEN
        PERFORM rollup_internal.check_column(r.source_table, r.id_column);
        r.id_sequence := pg_get_serial_sequence(r.source_table::text, r.id_column)::regclass;
        IF r.id_sequence IS NULL THEN
            RAISE EXCEPTION 'column % of % is not an identity or serial column', quote_ident(r.id_column), r.source_table
                USING ERRCODE = '22023';
        END IF;
        PERFORM rollup_internal.check_sequence(r.id_sequence);
    END IF;
    RETURN r;
END
$$;

-- The definition create_rollup starts from (before rollup_internal.derive): what the caller gave,
-- checked, and for a level (a rollup whose source is another rollup's target) what it takes
-- from its parent. A level belongs to the owner of its chain (the role whose privileges its runs
-- use); a base rollup to the role that creates it.
CREATE OR REPLACE FUNCTION rollup_internal.definition(name text, source_table regclass, time_column name, bucket_width interval,
                                   dimensions text[], measures text[], mode text, id_column name, batch_size bigint,
                                   bucket_column name, start_after bigint, time_zone text, origin timestamp)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    parent_r rollup.rollups;
BEGIN
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.name = definition.name) THEN
        RAISE EXCEPTION 'rollup "%" already exists', name USING ERRCODE = '42710';
    END IF;
    IF batch_size IS NOT NULL AND batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = '22023';
    END IF;
    r.name := name;
    r.source_table := source_table;
    r.bucket_width := bucket_width;
    r.bucket_column := bucket_column;
    r.batch_size := batch_size;
    r.dimensions := dimensions;
    r.measures := measures;
    r.owner := current_user::regrole;

    SELECT * INTO parent_r FROM rollup.rollups x WHERE x.target_table = definition.source_table;
    IF parent_r.name IS NOT NULL THEN
        IF coalesce(mode, 'level') <> 'level' THEN
            RAISE EXCEPTION 'the source of rollup "%" is the target of rollup "%"; it can only be a level', name, parent_r.name
                USING ERRCODE = '22023';
        END IF;
        r.mode := 'level';
        r.parent := parent_r.name;
        r.owner := parent_r.owner;
        r.time_column := coalesce(time_column, parent_r.bucket_column);
        IF batch_size IS NOT NULL THEN
            RAISE EXCEPTION 'a level has no batch size: it runs with its parent' USING ERRCODE = '22023';
        END IF;
        -- Buckets in the zone and from the origin of its source unless told otherwise.
        r.time_zone := coalesce(time_zone, parent_r.time_zone);
        r.bucket_origin := coalesce(origin, CASE WHEN extract(month FROM bucket_width) + extract(year FROM bucket_width) = 0
                                                 THEN parent_r.bucket_origin END);
    ELSE
        r.mode := coalesce(mode, 'incremental');
        IF r.mode NOT IN ('incremental', 'flush') THEN
            RAISE EXCEPTION 'mode must be incremental or flush, not "%"', r.mode USING ERRCODE = '22023';
        END IF;
        IF time_column IS NULL THEN
            RAISE EXCEPTION 'time_column is required' USING ERRCODE = '22004';
        END IF;
        r.time_column := time_column;
        r.time_zone := time_zone;
        r.bucket_origin := origin;
    END IF;

    IF r.mode = 'incremental' THEN
        r.id_column := coalesce(id_column, rollup_internal.id_column(source_table));
    ELSIF id_column IS NOT NULL OR start_after IS NOT NULL THEN
        RAISE EXCEPTION '% applies to incremental rollups only', CASE WHEN id_column IS NULL THEN 'start_after' ELSE 'id_column' END
            USING ERRCODE = '22023';
    END IF;
    RETURN r;
END
$$;

-- The column an incremental rollup of `source_table` tracks its progress with when none is
-- named: the first whose values come from a sequence (identity or serial).
CREATE OR REPLACE FUNCTION rollup_internal.id_column(source_table regclass)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    id_column name;
BEGIN
    SELECT a.attname INTO id_column FROM pg_attribute a
    WHERE a.attrelid = source_table AND a.attnum > 0 AND NOT a.attisdropped
      AND pg_get_serial_sequence(source_table::text, a.attname) IS NOT NULL
    ORDER BY a.attnum LIMIT 1;
    IF id_column IS NULL THEN
        RAISE EXCEPTION 'table % has no identity or serial column to track progress with', source_table
            USING ERRCODE = '22023',
                  HINT = 'Add one (ALTER TABLE .. ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1)), pass id_column, or use mode => ''flush''.';
    END IF;
    RETURN id_column;
END
$$;

-- On Citus a rollup runs shard by shard: the distribution column of its source (returned;
-- NULL on a table Citus does not distribute) must be one of its dimensions.
CREATE OR REPLACE FUNCTION rollup_internal.check_distribution(r rollup.rollups)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    dist name := rollup_internal.distribution_column(r.source_table);
BEGIN
    IF dist IS NOT NULL AND NOT dist = ANY (r.dimension_names) THEN
        RAISE EXCEPTION 'table % is distributed by %, which must be one of the dimensions', r.source_table, quote_ident(dist)
            USING ERRCODE = '0A000', HINT = format('Add %L to dimensions, so that every shard is rolled up on its own.', quote_ident(dist));
    END IF;
    RETURN dist;
END
$$;

-- A new target for rollup r, named target_table (qualified): created from the aggregation
-- itself (so its column types are exactly the measures'), with the unique key ON CONFLICT needs,
-- an index on the bucket, owned by the chain's owner and, on Citus, distributed by `dist` beside
-- the source.
CREATE OR REPLACE FUNCTION rollup_internal.create_target(r rollup.rollups, target_table text, dist name)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    target regclass;
    key_type text;
BEGIN
    EXECUTE format(E'CREATE TABLE %s AS\n%s\nWITH NO DATA', target_table,
                   rollup_internal.aggregate_sql(r, format('%s s', r.source_table), false));
    target := to_regclass(target_table);
    IF target IS NULL THEN
        RAISE EXCEPTION 'could not find the created target table "%"', target_table USING ERRCODE = '42P01';
    END IF;
    -- NULL dimension values are one group. PostgreSQL 14 has no NULLS NOT DISTINCT: there the
    -- key is a unique index on the row of the key columns as a composite type of its own,
    -- whose comparison takes NULL fields as equal (rollup_internal.conflict_target, rollup_internal.key_type).
    IF current_setting('server_version_num')::int >= 150000 THEN
        EXECUTE format('ALTER TABLE %s ADD UNIQUE NULLS NOT DISTINCT (%s)', target,
            rollup_internal.ident_list(r.dimension_names || r.bucket_column));
    ELSE
        SELECT format('%I.%I', n.nspname, left(c.relname, 48) || ' pg_rollup key') INTO key_type
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
        EXECUTE format('CREATE TYPE %s AS (%s)', key_type,
            (SELECT string_agg(format('%I %s', k, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o)
             FROM unnest(r.dimension_names || r.bucket_column) WITH ORDINALITY u(k, o)
             JOIN pg_attribute a ON a.attrelid = target AND a.attname = u.k));
        EXECUTE format('CREATE UNIQUE INDEX ON %s ((ROW(%s)::%s))', target,
            rollup_internal.ident_list(r.dimension_names || r.bucket_column), key_type);
    END IF;
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', target, r.bucket_column, rollup_internal.bucket_comment(r));
    -- Dashboards, retention and query views select by time range.
    IF cardinality(r.dimension_names) > 0 THEN
        EXECUTE format('CREATE INDEX ON %s (%I)', target, r.bucket_column);
    END IF;
    -- The chain's owner writes it (a level made for another role by a member or a superuser).
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER TABLE %s OWNER TO %s', target, r.owner);
    END IF;
    -- On Citus: sharded like the source, on the same nodes (colocated), so that runs are
    -- pushed down to the shards.
    IF dist IS NOT NULL THEN
        EXECUTE 'SELECT create_distributed_table($1, $2, colocate_with => $3)'
            USING target, dist::text, r.source_table::text;
    END IF;
    RETURN target;
END
$$;

-- Raises unless an existing table can be rollup r's target: the caller owns it, and it has a
-- unique index on exactly the key columns (or, on PostgreSQL 14, the key create_rollup makes
-- there: see rollup_internal.key_type).
CREATE OR REPLACE FUNCTION rollup_internal.check_target(r rollup.rollups, target regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    key_sorted name[] := ARRAY(SELECT c FROM unnest(r.dimension_names || r.bucket_column) c ORDER BY c);
BEGIN
    PERFORM rollup_internal.check_owner(target);
    IF NOT EXISTS (
        SELECT FROM pg_index i
        WHERE i.indrelid = target AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
          AND ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = target AND a.attnum = ANY (i.indkey) ORDER BY a.attname)
            = key_sorted)
       AND ARRAY(SELECT a.attname FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0
                 WHERE t.oid = rollup_internal.key_type(target) ORDER BY a.attname)
           IS DISTINCT FROM key_sorted THEN
        RAISE EXCEPTION 'target table % has no unique index on exactly (%)', target,
            array_to_string(r.dimension_names || r.bucket_column, ', ') USING ERRCODE = '42P10';
    END IF;
END
$$;

-- An incremental rollup starts after id start_after, by default from the sequence's start; an
-- existing target that holds rows needs start_after (the rows it holds would otherwise be
-- counted again), and a level needs an empty one. Its id column must be GENERATED ALWAYS,
-- unless allow_explicit_ids accepts that a row inserted with an explicit id at or below the
-- watermark is never rolled up. The parts: rollup_internal.definition, rollup_internal.derive, the target
-- (rollup_internal.create_target or rollup_internal.check_target), the catalog, then a validation of the
-- generated statement and, for a level, its first fill.
CREATE OR REPLACE FUNCTION rollup.create_rollup(
    rollup_name text DEFAULT NULL,
    source_table regclass DEFAULT NULL,
    target_table text DEFAULT NULL,
    time_column name DEFAULT NULL,
    bucket_width interval DEFAULT '5 minutes',
    dimensions text[] DEFAULT '{}',
    measures text[] DEFAULT ARRAY['count(*) AS events'],
    mode text DEFAULT NULL,
    id_column name DEFAULT NULL,
    batch_size bigint DEFAULT NULL,
    bucket_column name DEFAULT 'bucket',
    start_after bigint DEFAULT NULL,
    allow_explicit_ids boolean DEFAULT false,
    time_zone text DEFAULT NULL,
    origin timestamp DEFAULT NULL,
    name text DEFAULT NULL)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    target regclass;
    created boolean;
    dist name;
BEGIN
    -- `name` is the argument's name before 0.8.0, kept for calls in named notation.
    IF name IS NOT NULL THEN
        IF rollup_name IS NOT NULL THEN
            RAISE EXCEPTION 'rollup_name and name both given' USING ERRCODE = '22023',
                HINT = 'name is the former name of rollup_name: pass only rollup_name.';
        END IF;
        RAISE WARNING 'the argument "name" of rollup.create_rollup is deprecated' USING ERRCODE = '01P01',
            HINT = 'Call it with rollup_name => instead.';
        rollup_name := name;
    END IF;
    IF rollup_name IS NULL OR source_table IS NULL OR target_table IS NULL OR dimensions IS NULL OR measures IS NULL THEN
        RAISE EXCEPTION 'rollup_name, source_table, target_table, dimensions and measures must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF rollup_name !~ '^[[:alnum:]_.-]{1,63}$' THEN
        RAISE EXCEPTION 'invalid rollup name "%"', rollup_name USING ERRCODE = '42602',
            HINT = 'Use up to 63 letters, digits, _, . or -.';
    END IF;
    PERFORM rollup_internal.check_owner(source_table);
    r := rollup_internal.derive(rollup_internal.definition(rollup_name, source_table, time_column, bucket_width, dimensions, measures, mode,
                                           id_column, batch_size, bucket_column, start_after, time_zone, origin));
    IF r.mode = 'incremental' THEN
        PERFORM rollup_internal.check_explicit_ids(source_table, r.id_column, allow_explicit_ids);
    END IF;
    dist := rollup_internal.check_distribution(r);

    -- An unqualified target name is in the source table's schema.
    target_table := rollup_internal.qualify(target_table, source_table);
    target := to_regclass(target_table);
    created := target IS NULL;
    IF created THEN
        target := rollup_internal.create_target(r, target_table, dist);
    ELSE
        PERFORM rollup_internal.check_target(r, target);
    END IF;
    IF EXISTS (SELECT FROM rollup.rollups x WHERE x.target_table = target) OR target = source_table THEN
        RAISE EXCEPTION 'table % is already the target of a rollup', target USING ERRCODE = '42710';
    END IF;
    IF r.mode <> 'flush' AND start_after IS NULL AND NOT created AND rollup_internal.has_rows(target) THEN
        RAISE EXCEPTION 'target table % already holds rows', target USING ERRCODE = '55000',
            DETAIL = 'A new rollup aggregates every source row it has not seen; merged into rows that already count them, they would be counted twice.',
            HINT = CASE WHEN r.mode = 'level' THEN 'Empty the table first (TRUNCATE), or give the level a new target.'
                        ELSE 'Say where the rows it holds end: start_after => <the last source id they count>, or empty the table first.' END;
    END IF;
    r.target_table := target;

    PERFORM rollup_internal.write_catalog('add_rollup', to_jsonb(r) || jsonb_build_object('source_table', r.source_table::oid,
        'target_table', r.target_table::oid, 'id_sequence', r.id_sequence::oid, 'owner', r.owner::oid, 'start_after', start_after));
    r := rollup_internal.get(r.name);
    -- Validate the whole generated statement (types, merge functions, unique key) now, and start
    -- a new level from what its source already holds; as the owner, like every run.
    PERFORM rollup_internal.as_owner(rollup_internal.root(r.name), 'validate');
    IF r.mode = 'level' THEN
        PERFORM rollup_internal.as_owner(r.name, 'fill');
    END IF;
    IF r.mode = 'incremental' AND NOT EXISTS (
        SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = source_table AND a.attname = r.id_column) THEN
        RAISE NOTICE 'no index of % starts with %: each run of rollup "%" reads the whole table to find its new rows',
            source_table, quote_ident(r.id_column), r.name
            USING HINT = format('CREATE INDEX ON %s (%I)', source_table, r.id_column);
    END IF;
    RETURN r;
END
$$;

-- An id column that takes explicit values (GENERATED BY DEFAULT, serial) can receive an id at or
-- below a rollup's watermark, which no run will read: refused unless allowed, then a warning.
CREATE OR REPLACE FUNCTION rollup_internal.check_explicit_ids(rel regclass, id_column name, allowed boolean)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    identity "char" := (SELECT a.attidentity FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = id_column);
    kind text := CASE identity WHEN 'a' THEN NULL WHEN 'd' THEN 'GENERATED BY DEFAULT' ELSE 'serial' END;
BEGIN
    IF kind IS NULL THEN
        RETURN;
    ELSIF NOT coalesce(allowed, false) THEN
        RAISE EXCEPTION 'column % of % is % and takes explicit ids', quote_ident(id_column), rel, kind
            USING ERRCODE = '55000',
                  DETAIL = 'A row inserted with an explicit id at or below the rollup''s watermark would never be rolled up.',
                  HINT = CASE WHEN identity = 'd' THEN format('ALTER TABLE %s ALTER COLUMN %I SET GENERATED ALWAYS; ', rel, id_column)
                              ELSE 'Make it an identity column (GENERATED ALWAYS AS IDENTITY (CACHE 1)), ' END
                         || 'or pass allow_explicit_ids => true to accept that rule.';
    END IF;
    RAISE WARNING 'column % of % is %: rows inserted with an explicit id at or below the watermark are never rolled up',
        quote_ident(id_column), rel, kind;
END
$$;

-- Loads rows shaped like rollup `rollup_name`'s target (dimensions, bucket and measures, by
-- name), from `query`, into the target and every level below it, in one statement, merging them
-- as a run merges its delta; returns how many rows it read. For history the rollup does not
-- aggregate itself (rows of an earlier rollup, before the watermark create_rollup started after).
CREATE OR REPLACE FUNCTION rollup.load_history(rollup_name text, query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
BEGIN
    IF query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF rollup_internal.distribution_column(r.target_table) IS NOT NULL THEN
        RAISE EXCEPTION 'rollup.load_history does not load distributed rollups' USING ERRCODE = '0A000',
            HINT = 'INSERT the rows into the target of each level with INSERT .. ON CONFLICT.';
    END IF;
    RETURN rollup_internal.as_owner(r.name, 'load', to_jsonb(query))::bigint;
END
$$;

-- The work of rollup.load_history: the rows of `query` are grouped by the target's key, each
-- measure merged by its rule (sum, min, max, bool_and, bool_or, hll_union_agg, topn_union_agg,
-- qsketch_union_agg).
CREATE OR REPLACE FUNCTION rollup_internal.load(r rollup.rollups, query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    given rollup.rollups := r;
    n bigint;
BEGIN
    PERFORM rollup_internal.lock_chain(r.name);
    given.dimensions := ARRAY(SELECT 's.' || quote_ident(d) || ' AS ' || quote_ident(d) FROM unnest(r.dimension_names) d);
    given.bucket_sql := 's.' || quote_ident(r.bucket_column);
    given.measures := ARRAY(
        SELECT format('%s(s.%I) AS %2$I', CASE u.rule WHEN 'add' THEN 'sum' WHEN 'least' THEN 'min' WHEN 'greatest' THEN 'max'
                                                       WHEN 'and' THEN 'bool_and' WHEN 'or' THEN 'bool_or'
                                                       WHEN 'hll_union' THEN 'hll_union_agg' WHEN 'topn_union' THEN 'topn_union_agg'
                                                       WHEN 'qsketch_union' THEN 'qsketch_union_agg' END, u.m)
        FROM unnest(r.measure_names, r.merge_rules) WITH ORDINALITY u(m, rule, o) ORDER BY u.o);
    -- (A parameter makes EXECUTE take exactly one statement.)
    EXECUTE rollup_internal.chain_sql(r.name, format(E'(\n%s\n) s WHERE $1 IS NULL', query), top_as => given) INTO n USING NULL::bigint;
    RETURN n;
END
$$;

-- Changes a rollup in place; an argument left NULL leaves its setting as it is.
--   batch_size    source rows per run of a base rollup (0: no limit)
--   schedule      a cron expression: rollup.schedule
--   source_grace, target_keep  retention (rollup.set_retention clears them)
--   add_measures  measures added to the definition and, as columns, to the target, filled from
--                 the source rows still present: a base rollup's rows up to its watermark, a
--                 level's source rows. Refused when a row cannot be filled (its source rows were
--                 deleted by retention or consumed by a flush run; a level's source rows hold
--                 NULL in what the measure reads) unless allow_partial: such rows keep NULL.
--                 Query views keep their columns: create them again to show the new ones.
CREATE OR REPLACE FUNCTION rollup.alter_rollup(rollup_name text, batch_size bigint DEFAULT NULL, schedule text DEFAULT NULL,
    source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL, add_measures text[] DEFAULT NULL,
    allow_partial boolean DEFAULT false)
RETURNS rollup.rollups
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    filled jsonb;
BEGIN
    IF batch_size IS NOT NULL THEN
        IF r.mode = 'level' THEN
            RAISE EXCEPTION 'a level has no batch size: it runs with its parent' USING ERRCODE = '22023';
        ELSIF batch_size < 0 THEN
            RAISE EXCEPTION 'batch_size must not be negative' USING ERRCODE = '22023', HINT = 'Pass 0 for no limit.';
        END IF;
        PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name, 'batch_size', nullif(batch_size, 0)));
    END IF;
    IF source_grace IS NOT NULL OR target_keep IS NOT NULL THEN
        PERFORM rollup.set_retention(r.name, coalesce(source_grace, r.source_grace), coalesce(target_keep, r.target_keep));
    END IF;
    IF cardinality(add_measures) > 0 THEN
        filled := rollup_internal.as_owner(r.name, 'add_measures', to_jsonb(add_measures))::jsonb;
        IF (filled->>'filled')::bigint < (filled->>'rows')::bigint AND NOT coalesce(allow_partial, false) THEN
            RAISE EXCEPTION 'only % of the % rows of rollup "%" can be filled with the new measures', filled->'filled', filled->'rows', r.name
                USING ERRCODE = '55000',
                      DETAIL = CASE WHEN r.mode = 'flush' THEN 'A flush rollup''s source rows are consumed.'
                                    ELSE concat_ws(' ', 'The others'' source rows are gone (retention)'
                                                        || CASE WHEN filled->>'from' IS NOT NULL THEN format(' before %s', filled->>'from') END,
                                                   CASE WHEN r.mode = 'level' THEN 'or hold NULL in the columns the new measures read.' END) END,
                      HINT = 'Pass allow_partial => true to add them anyway: the other rows keep NULL (not known), and rows that arrive late for their buckets would make them partial.';
        END IF;
        RAISE NOTICE 'rollup "%": % of its % rows filled with the new measures', r.name, filled->'filled', filled->'rows';
    END IF;
    IF schedule IS NOT NULL THEN
        PERFORM rollup.schedule(r.name, schedule);
    END IF;
    RETURN rollup_internal.get(r.name);
END
$$;

-- The work of alter_rollup's add_measures, as the rollup's owner: the columns (typed as the
-- aggregation types them), the definition, then the rows; returns {rows, filled, from}.
CREATE OR REPLACE FUNCTION rollup_internal.add_measures(r rollup.rollups, measures text[])
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    added rollup.rollups := r;
    time_type regtype := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column);
    columns text;
    from_sql text := format('%s s', r.source_table);
    first_complete text;
    known text;
    total bigint;
    filled bigint := 0;
BEGIN
    PERFORM rollup_internal.lock_chain(r.name);
    -- The definition first: it checks the measures, their merge rules and their names.
    PERFORM rollup_internal.write_catalog('add_measures', jsonb_build_object('name', r.name, 'measures', measures));
    added.measures := measures;
    added := rollup_internal.derive(added);
    -- (pg_typeof of a NULL still names its type: the outer join gives one row.)
    EXECUTE format(E'SELECT string_agg(format(''ADD COLUMN %%I %%s'', m, t), '', '' ORDER BY o) FROM (SELECT ARRAY[%s] AS types\n'
                   'FROM (SELECT) one LEFT JOIN (%s) x ON true LIMIT 1) y, unnest(%L::name[], types) WITH ORDINALITY u(m, t, o)',
                   (SELECT string_agg(format('pg_typeof(x.%I)::regtype::text', m), ', ') FROM unnest(added.measure_names) m),
                   rollup_internal.aggregate_sql(added, from_sql || ' WHERE false', false), added.measure_names)
        INTO columns;
    EXECUTE format('ALTER TABLE %s %s', r.target_table, columns);
    EXECUTE format('SELECT count(*) FROM %s', r.target_table) INTO total;
    IF r.mode = 'flush' THEN
        RETURN jsonb_build_object('rows', total, 'filled', 0);
    END IF;
    IF r.mode = 'incremental' THEN
        from_sql := from_sql || ' WHERE ' || rollup_internal.covered_sql(r);
    END IF;
    -- Where retention deleted source rows, only buckets that start at or after the oldest row
    -- left are whole.
    IF (SELECT p.source_rows_deleted FROM rollup.progress p WHERE p.name = r.name) > 0 THEN
        EXECUTE format('SELECT %s FROM (SELECT min(%I) AS t FROM %s) m',
                       rollup_internal.bucket_ceil_sql('m.t', time_type, r.bucket_width, r.time_zone, r.bucket_origin), r.time_column, r.source_table)
            INTO first_complete;
    END IF;
    -- A level reads rows of a rollup that may have just got the measures it reads: NULL there
    -- means not known, and so is any bucket of the level with such a row.
    IF r.mode = 'level' THEN
        SELECT string_agg(format('s.%I IS NOT NULL', p.m), ' AND ') INTO known
        FROM rollup.rollups x, unnest(x.measure_names) p(m)
        WHERE x.name = r.parent AND EXISTS (SELECT FROM unnest(add_measures.measures) f WHERE strpos(lower(f), lower(p.m)) > 0);
    END IF;
    added.measures := added.measures || format('bool_and(%s) AS "pg_rollup known"', coalesce(known, 'true'));
    -- Only into the rows the target holds: no row for buckets whose rows target retention deleted.
    EXECUTE format(E'INSERT INTO %1$s AS t (%2$s)\nSELECT %2$s FROM (%3$s) d\n'
                   'WHERE d."pg_rollup known" AND d.%4$I >= coalesce(%5$L::%8$s, ''-infinity'') AND d.%4$I >= (SELECT min(%4$I) FROM %1$s)\n'
                   'ON CONFLICT (%6$s) DO UPDATE SET %7$s',
                   r.target_table, rollup_internal.ident_list(r.dimension_names || r.bucket_column || added.measure_names),
                   rollup_internal.aggregate_sql(added, from_sql, false), r.bucket_column, first_complete,
                   rollup_internal.conflict_target(r),
                   (SELECT string_agg(format('%I = EXCLUDED.%1$I', m), ', ') FROM unnest(added.measure_names) m),
                   format_type(time_type, NULL));
    GET DIAGNOSTICS filled = ROW_COUNT;
    RETURN jsonb_build_object('rows', total, 'filled', filled, 'from', first_complete);
END
$$;

-- Whether a table holds a row.
CREATE OR REPLACE FUNCTION rollup_internal.has_rows(rel regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', rel) INTO found;
    RETURN found;
END
$$;

-- The base rollup at the top of a chain of levels.
CREATE OR REPLACE FUNCTION rollup_internal.root(rollup_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE up AS (
        SELECT r.name, r.parent FROM rollup.rollups r WHERE r.name = rollup_name
        UNION ALL
        SELECT r.name, r.parent FROM rollup.rollups r JOIN up ON r.name = up.parent
    )
    SELECT name FROM up WHERE parent IS NULL
$$;

-- A rollup and every level below it, parents first. A chain has one owner (its runs execute
-- every level as that role): a level of another owner, which only a catalog written outside the
-- API could hold, is not part of it.
CREATE OR REPLACE FUNCTION rollup_internal.chain(rollup_name text)
RETURNS SETOF rollup.rollups
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE down (r, depth) AS (
        SELECT x, 0 FROM rollup.rollups x WHERE x.name = rollup_name
        UNION ALL
        SELECT x, down.depth + 1 FROM rollup.rollups x
        JOIN down ON x.parent = (down.r).name AND x.owner::oid = (down.r).owner::oid)
    SELECT (r).* FROM down ORDER BY depth, (r).name
$$;

-- The definition of a rollup the current user may see, or an error.
CREATE OR REPLACE FUNCTION rollup_internal.get(rollup_name text)
RETURNS rollup.rollups
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    worker boolean;
BEGIN
    SELECT * INTO r FROM rollup.rollups WHERE name = rollup_name;
    IF r.name IS NULL THEN
        IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
            EXECUTE 'SELECT groupid > 0 FROM pg_catalog.pg_dist_local_group' INTO worker;
        END IF;
        IF worker THEN
            RAISE EXCEPTION 'rollup "%" does not exist', rollup_name USING ERRCODE = '42704',
                HINT = 'This is a Citus worker: rollups are defined, run and shown on the coordinator.';
        END IF;
        RAISE EXCEPTION 'rollup "%" does not exist', rollup_name USING ERRCODE = '42704';
    END IF;
    RETURN r;
END
$$;

-- The end of the next batch of rollup r after id lo, up to safe (NULL: nothing new): at most
-- batch_size rows when r has one.
CREATE OR REPLACE FUNCTION rollup_internal.batch_end(r rollup.rollups, lo bigint, safe bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    upper_id bigint;
BEGIN
    IF safe IS NULL OR safe <= lo THEN
        RETURN lo;
    ELSIF r.batch_size IS NULL THEN
        RETURN safe;
    END IF;
    EXECUTE format('SELECT %I FROM %s WHERE %1$I > $1 AND %1$I <= $2 ORDER BY %1$I OFFSET $3 LIMIT 1', r.id_column, r.source_table)
        INTO upper_id USING lo, safe, r.batch_size - 1;
    RETURN coalesce(upper_id, safe);
END
$$;

-- On Citus every node takes writes, and each draws ids from its own range of the sequence
-- (node group g: from g << 48 + 1). The bounds (rollup_internal.safe_watermark, as jsonb {safe,
-- checkpoints}) of the rows written through
-- the other nodes than this one, by node group: each active worker computes its own, in
-- parallel, with the checkpoints kept for it in `nodes`; a group no longer in the cluster (a
-- removed node) has no writers left, so its whole range. '{}' for a table Citus does not manage.
-- A worker that does not answer fails the run: its writers cannot be known.
CREATE OR REPLACE FUNCTION rollup_internal.node_bounds(r rollup.rollups, nodes jsonb, wait_ms int)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb := '{}';
    managed boolean;
    names text[];
    ports int[];
    groups int[];
    answer record;
    group_id int;
    command text;
BEGIN
    -- (Citus' catalog is named in dynamic SQL only: without Citus it does not exist.)
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN result;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)' INTO managed USING r.source_table;
    IF NOT managed THEN
        RETURN result;
    END IF;
    command := format('SELECT pg_catalog.to_jsonb(b) FROM rollup_internal.safe_watermark(%L::pg_catalog.regclass, %L::pg_catalog.regclass, %s,
                           %L::jsonb -> (SELECT groupid::text FROM pg_catalog.pg_dist_local_group) -> ''checkpoints'') b',
                      r.id_sequence::text, r.source_table::text, wait_ms, nodes);
    EXECUTE 'SELECT array_agg(nodename ORDER BY nodeid), array_agg(nodeport ORDER BY nodeid), array_agg(groupid ORDER BY nodeid)
             FROM pg_catalog.pg_dist_node WHERE groupid > 0 AND noderole = ''primary'' AND isactive AND hasmetadata'
        INTO names, ports, groups;
    -- (None on a cluster of the coordinator alone.)
    IF names IS NOT NULL THEN
        FOR answer IN EXECUTE
            'SELECT n.groupid, w.success, w.result
             FROM unnest($1, $2, $3) n(nodename, nodeport, groupid)
             JOIN pg_catalog.master_run_on_worker($1, $2, array_fill($4, ARRAY[cardinality($1)]), true) w
               ON w.node_name = n.nodename AND w.node_port = n.nodeport'
            USING names, ports, groups, command
        LOOP
            IF NOT answer.success THEN
                RAISE EXCEPTION 'rollup "%" cannot run: node group % did not say which of its writers are done: %', r.name, answer.groupid, answer.result
                    USING ERRCODE = '08006', HINT = 'pg_rollup must be installed on every node, and every node reachable from the coordinator.';
            END IF;
            result := result || jsonb_build_object(answer.groupid::text, answer.result::jsonb);
        END LOOP;
    END IF;
    -- Removed nodes: every id of their range is in (their writers have ended).
    FOR group_id IN EXECUTE 'SELECT key::int FROM jsonb_object_keys($1) key
                             WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE groupid = key::int)' USING nodes LOOP
        result := result || jsonb_build_object(group_id::text, jsonb_build_object('safe', ((group_id + 1)::bigint << 48), 'checkpoints', '[]'::jsonb));
    END LOOP;
    RETURN result;
END
$$;

-- The rows of rollup r's source that its runs have aggregated, as a condition on alias s:
-- ids up to the watermark and, on Citus, in each node group's range up to that group's.
CREATE OR REPLACE FUNCTION rollup_internal.covered_sql(r rollup.rollups)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(s.%I <= %s', r.id_column, coalesce(p.watermark::text, 'NULL'))
           || coalesce((SELECT string_agg(format(' OR s.%1$I > %2$s AND s.%1$I <= %3$s', r.id_column, key::bigint << 48, value->>'watermark'), '')
                        FROM jsonb_each(p.nodes)), '')
           || ')'
    FROM rollup.progress p WHERE p.name = r.name
$$;

-- One bounded step of a base rollup; rows processed, or NULL when another run of the same
-- rollup holds it (the caller returns at once instead of queueing behind it).
CREATE OR REPLACE FUNCTION rollup_internal.run_once(r rollup.rollups, wait_ms int)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    p rollup.progress;
    started timestamptz := clock_timestamp();
    here record;
    bound jsonb;
    upper_id bigint;
    kept jsonb;
    node text;
    nodes jsonb := '{}';
    lo bigint;
    hi bigint;
    n bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'rollup.run needs READ COMMITTED isolation, not %', current_setting('transaction_isolation')
            USING ERRCODE = '25000', DETAIL = 'Each step reads with a fresh snapshot taken after in-flight writers ended.';
    END IF;
    -- One run per rollup at a time; a concurrent run returns at once.
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_rollup'), hashtext(r.name)) THEN
        RETURN NULL;
    END IF;
    -- (The lock above keeps other runs out until this transaction ends.)
    SELECT * INTO p FROM rollup.progress WHERE name = r.name;

    IF r.mode = 'flush' THEN
        n := rollup_internal.run_chain(r, NULL, NULL);
    ELSE
        SELECT * INTO here FROM rollup_internal.safe_watermark(r.id_sequence, r.source_table, wait_ms, p.checkpoints);
        kept := here.checkpoints;
        upper_id := rollup_internal.batch_end(r, p.watermark, here.safe);
        n := 0;
        IF upper_id > p.watermark THEN
            n := rollup_internal.run_chain(r, p.watermark, upper_id);
        END IF;
        -- On Citus, rows written through the other nodes, each in its node's own range of ids,
        -- in the same transaction.
        FOR node, bound IN SELECT * FROM jsonb_each(rollup_internal.node_bounds(r, p.nodes, wait_ms)) LOOP
            lo := coalesce((p.nodes->node->>'watermark')::bigint, node::bigint << 48);
            hi := rollup_internal.batch_end(r, lo, (bound->>'safe')::bigint);
            IF hi > lo THEN
                n := n + rollup_internal.run_chain(r, lo, hi);
            END IF;
            nodes := nodes || jsonb_build_object(node, jsonb_build_object('watermark', hi, 'checkpoints', bound->'checkpoints'));
        END LOOP;
    END IF;
    PERFORM rollup_internal.write_catalog('run_done', jsonb_strip_nulls(jsonb_build_object('name', r.name, 'run_start', started,
        'rows', n, 'watermark', upper_id, 'checkpoints', CASE WHEN r.mode = 'incremental' THEN kept END,
        'nodes', CASE WHEN r.mode = 'incremental' THEN nodes END)));
    RETURN n;
END
$$;

-- Aggregates every source row not yet rolled up (at most batch_size of them when the rollup
-- has one) and returns how many; 0 when another run of the rollup is in progress. A level
-- runs the base rollup of its chain, which feeds it. max_wait bounds how long to wait for
-- writers still inserting rows below the current sequence value; rows they may commit are
-- left for a later run. The run executes as the rollup's owner, whoever calls it. An error is
-- kept in rollup.status (last_error) although the caller's transaction is rolled back, and raised.
CREATE OR REPLACE FUNCTION rollup.run(rollup_name text, max_wait interval DEFAULT '1 second')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    err text;
    err_state text;
BEGIN
    -- Parameters first: a bad max_wait is reported as such, whichever rollup is named.
    IF max_wait IS NULL OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_wait must be a non-negative interval' USING ERRCODE = '22023';
    END IF;
    r := rollup_internal.get(coalesce(rollup_internal.root(rollup_name), rollup_name));
    RETURN coalesce(rollup_internal.as_owner(r.name, 'run', to_jsonb(least(extract(epoch FROM max_wait) * 1000, 3600000)::int))::bigint, 0);
EXCEPTION WHEN OTHERS THEN
    -- The caller's transaction is rolled back: the error is kept by a transaction of its own
    -- (src/rollups/run_errors.rs), for a role that may act for the rollup.
    IF r.name IS NOT NULL AND pg_has_role(r.owner, 'USAGE') THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        PERFORM rollup_internal.record_run_error(r.name, format('%s: %s', err_state, err));
    END IF;
    RAISE;
END
$$;

-- Empties a rollup's target (and the levels it feeds) and recomputes it from the rows its
-- source still holds, as the rollup's owner. Returns the number of source rows aggregated.
-- Refused when retention has deleted source rows the rollup had aggregated (they would be lost),
-- unless force.
CREATE OR REPLACE FUNCTION rollup.reset(rollup_name text, force boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    lost bigint := (SELECT p.source_rows_deleted FROM rollup.progress p WHERE p.name = r.name);
BEGIN
    IF r.mode = 'flush' THEN
        RAISE EXCEPTION 'a flush rollup cannot be reset: its source rows were consumed' USING ERRCODE = '55000';
    END IF;
    IF lost > 0 AND NOT force THEN
        RAISE EXCEPTION 'resetting rollup "%" would lose % rows: retention deleted them from its source %', r.name, lost, r.source_table
            USING ERRCODE = '55000',
                  DETAIL = 'A reset recomputes the rollup and the levels below it from the rows its source still holds.',
                  HINT = format('To recompute it from what is left, run rollup.reset(%L, force => true).', r.name);
    END IF;
    RETURN rollup_internal.as_owner(r.name, 'reset')::bigint;
END
$$;

-- Holds the chain of rollup_name (its base rollup's run lock) until the transaction ends, or
-- raises when a run holds it.
CREATE OR REPLACE FUNCTION rollup_internal.lock_chain(rollup_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup_internal.root(rollup_name))) THEN
        RAISE EXCEPTION 'rollup "%" is running', rollup_internal.root(rollup_name) USING ERRCODE = '55006';
    END IF;
END
$$;

-- The work of rollup.reset.
CREATE OR REPLACE FUNCTION rollup_internal.reset(r rollup.rollups)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    t regclass;
BEGIN
    PERFORM rollup_internal.lock_chain(r.name);
    FOR t IN SELECT c.target_table FROM rollup_internal.chain(r.name) c LOOP
        EXECUTE format('DELETE FROM %s', t);
    END LOOP;
    PERFORM rollup_internal.write_catalog('reset_progress', jsonb_build_object('name', r.name));
    IF r.mode = 'level' THEN
        RETURN rollup_internal.run_chain(r, NULL, NULL);
    END IF;
    r.batch_size := NULL;
    RETURN rollup_internal.run_once(r, 3600000);
END
$$;

CREATE OR REPLACE FUNCTION rollup.drop_rollup(rollup_name text, drop_target boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    child text;
    key_type regtype;
    cron_error text;
    cron_hint text;
BEGIN
    SELECT x.name INTO child FROM rollup.rollups x WHERE x.parent = r.name LIMIT 1;
    IF child IS NOT NULL THEN
        RAISE EXCEPTION 'rollup "%" feeds level "%"', r.name, child USING ERRCODE = '2BP01',
            HINT = 'Drop the level first.';
    END IF;
    -- Its pg_cron job would fail at every run: removed, or when pg_cron is in another database,
    -- named with how to remove it there.
    IF r.schedule IS NOT NULL THEN
        BEGIN
            PERFORM rollup.unschedule(r.name);
        EXCEPTION WHEN object_not_in_prerequisite_state OR insufficient_privilege THEN
            GET STACKED DIAGNOSTICS cron_error = MESSAGE_TEXT, cron_hint = PG_EXCEPTION_HINT;
            RAISE WARNING 'the pg_cron job "%" of rollup "%" is not removed: %', rollup_internal.job_name(r.name), r.name, cron_error
                USING HINT = cron_hint;
        END;
    END IF;
    PERFORM rollup_internal.write_catalog('drop_rollup', jsonb_build_object('name', r.name));
    IF drop_target THEN
        key_type := rollup_internal.key_type(r.target_table);
        EXECUTE format('DROP TABLE %s', r.target_table);
        IF key_type IS NOT NULL THEN
            EXECUTE format('DROP TYPE %s', key_type);
        END IF;
    END IF;
END
$$;

-- Runs a rollup until it has caught up, one transaction per batch of at most batch_size
-- source rows, then applies its retention. Returns (in rows) the source rows aggregated; 0
-- at once when another run of the same rollup is in progress. An error is recorded in
-- rollup.status (last_error) and raised again. Call it outside a transaction block. The runs
-- and the retention execute as the rollup's owner, whoever calls it (a pg_cron job, a superuser).
CREATE OR REPLACE PROCEDURE rollup.catch_up(rollup_name text, INOUT rows bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(coalesce(rollup_internal.root(rollup_name), rollup_name));
    n bigint;
    deleted bigint;
    err text;
    err_state text;
BEGIN
    rows := 0;
    -- Held across the batches, so a concurrent run or catch-up returns at once.
    IF NOT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('pg_rollup'), pg_catalog.hashtext(r.name)) THEN
        RETURN;
    END IF;
    LOOP
        BEGIN
            n := rollup_internal.as_owner(r.name, 'run', pg_catalog.to_jsonb(1000))::bigint;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        END;
        IF err IS NOT NULL THEN
            PERFORM rollup_internal.record_error(r.name, err_state, err);
            COMMIT;
            PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('pg_rollup'), pg_catalog.hashtext(r.name));
            RAISE EXCEPTION 'rollup "%" failed: %', r.name, err USING ERRCODE = err_state;
        END IF;
        rows := rows + coalesce(n, 0);
        COMMIT;
        EXIT WHEN n IS NULL OR r.batch_size IS NULL OR n < r.batch_size;
    END LOOP;
    -- Retention needs no exclusivity; released first, the lock cannot outlive an error there.
    PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('pg_rollup'), pg_catalog.hashtext(r.name));
    CALL rollup.apply_retention(r.name, 10000, deleted);
END
$$;

CREATE OR REPLACE FUNCTION rollup_internal.record_error(rollup_name text, state text, message text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollup_internal.write_catalog('run_failed', jsonb_build_object('name', rollup_name, 'error', format('%s: %s', state, message)))
$$;

-- The statement a scheduler runs for a rollup.
CREATE OR REPLACE FUNCTION rollup.job_command(rollup_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('CALL rollup.catch_up(%L)', (rollup_internal.get(rollup_name)).name)
$$;

CREATE OR REPLACE FUNCTION rollup_internal.job_name(rollup_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('pg_rollup %s.%s', current_database(), rollup_name)
$$;

-- Raises unless pg_cron's functions are installed in this database, with a hint that says
-- what to run where; by_superuser: what only a superuser may run there (a job in another
-- database: pg_cron's schedule_in_database).
CREATE OR REPLACE FUNCTION rollup_internal.require_cron(todo text, by_superuser boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_db text;
    is_superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    by_superuser := by_superuser AND NOT is_superuser;
    IF to_regnamespace('cron') IS NOT NULL AND NOT has_schema_privilege('cron', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema cron' USING ERRCODE = '42501',
            HINT = format('An administrator can allow it with: GRANT USAGE ON SCHEMA cron TO %I;', current_user);
    END IF;
    IF to_regprocedure('cron.schedule(text,text,text)') IS NOT NULL THEN
        RETURN;
    END IF;
    BEGIN
        cron_db := current_setting('cron.database_name', true);
    EXCEPTION WHEN insufficient_privilege THEN
        -- only superusers may read it: say what we can
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database() USING ERRCODE = '55000',
            HINT = 'In the database named by the cron.database_name setting, '
                   || CASE WHEN by_superuser THEN 'a superuser runs: ' ELSE 'run: ' END || todo;
    END;
    IF cron_db IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not available in this cluster' USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries and CREATE EXTENSION pg_cron, or run the rollup from your own scheduler with: '
                   || todo;
    ELSIF cron_db <> current_database() THEN
        RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_db, current_database() USING ERRCODE = '55000',
            HINT = CASE WHEN by_superuser
                        THEN format('A superuser runs, connected to database %I: %s', cron_db, todo)
                        ELSE format('Connect to database %I and run: %s', cron_db, todo) END;
    ELSE
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', cron_db USING ERRCODE = '55000',
            HINT = 'CREATE EXTENSION pg_cron; then try again.';
    END IF;
END
$$;

-- Creates (or replaces) the pg_cron job that keeps a rollup and its levels fresh; returns its
-- job id. The job runs rollup.catch_up as the rollup's owner in the current database, which must
-- be pg_cron's. The owner schedules with cron.schedule; a superuser may schedule another role's
-- rollup (pg_cron's schedule_in_database, which names the job's user).
CREATE OR REPLACE FUNCTION rollup.schedule(rollup_name text, cron_expression text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    owner_name name := (SELECT rolname FROM pg_roles WHERE oid = r.owner);
    job bigint;
BEGIN
    IF cron_expression IS NULL THEN
        RAISE EXCEPTION 'cron_expression must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF r.mode = 'level' THEN
        RAISE EXCEPTION 'rollup "%" is a level: it runs with "%"', r.name, rollup_internal.root(r.name) USING ERRCODE = '22023',
            HINT = format('Schedule %L instead.', rollup_internal.root(r.name));
    END IF;
    -- (A job in another database is pg_cron's schedule_in_database, for superusers: the job runs
    -- as the rollup's owner.)
    PERFORM rollup_internal.require_cron(format('SELECT cron.schedule_in_database(%L, %L, %L, %L, username => %L);',
        rollup_internal.job_name(r.name), cron_expression, rollup.job_command(r.name), current_database(), owner_name), true);
    -- Here pg_cron's database is this one: cron.schedule (which unlike schedule_in_database is
    -- open to every role with USAGE on schema cron) runs the job here as the current user.
    IF owner_name = current_user THEN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING rollup_internal.job_name(r.name), cron_expression, rollup.job_command(r.name);
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
            INTO job USING rollup_internal.job_name(r.name), cron_expression, rollup.job_command(r.name), owner_name;
    ELSE
        RAISE EXCEPTION 'only the owner of rollup "%", role %, or a superuser may schedule it', r.name, r.owner
            USING ERRCODE = '42501', HINT = format('SET ROLE %s; then schedule it.', r.owner);
    END IF;
    PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name, 'schedule', cron_expression));
    RETURN job;
END
$$;

CREATE OR REPLACE FUNCTION rollup.unschedule(rollup_name text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    done boolean;
BEGIN
    PERFORM rollup_internal.require_cron(format('SELECT cron.unschedule(%L);', rollup_internal.job_name(r.name)));
    EXECUTE 'SELECT bool_or(cron.unschedule(jobid)) FROM cron.job WHERE jobname = $1 AND username = $2'
        INTO done USING rollup_internal.job_name(r.name), (SELECT rolname FROM pg_roles WHERE oid = r.owner);
    PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name, 'schedule', NULL));
    RETURN coalesce(done, false);
END
$$;

-- Retention settings. source_grace: delete source rows once every rollup reading the table
-- has passed them and they are older than the grace period (NULL: keep them). target_keep:
-- delete this rollup's rows whose bucket is older than that (NULL: keep them); on a rollup
-- that feeds a level this is safe at any time, the level got every change in the same
-- transaction.
CREATE OR REPLACE FUNCTION rollup.set_retention(rollup_name text, source_grace interval DEFAULT NULL, target_keep interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
BEGIN
    IF source_grace < interval '0' OR target_keep < interval '0' THEN
        RAISE EXCEPTION 'retention periods must not be negative' USING ERRCODE = '22023';
    END IF;
    IF source_grace IS NOT NULL AND r.mode <> 'incremental' THEN
        RAISE EXCEPTION 'source retention applies to incremental rollups (a flush rollup consumes its source; a level''s source is its parent''s target)'
            USING ERRCODE = '22023';
    END IF;
    PERFORM rollup_internal.write_catalog('set', jsonb_build_object('name', r.name,
        'source_grace', set_retention.source_grace, 'target_keep', set_retention.target_keep));
END
$$;

-- One bounded delete of retention: the source rows of base rollup r that every reader of
-- the table has passed and that are older than its source_grace (nothing when a reader is
-- not incremental), or, for target, r's rows older than its target_keep.
CREATE OR REPLACE FUNCTION rollup_internal.retention_batch(r rollup.rollups, target boolean, batch_size bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cond text;
    n bigint;
    -- On Citus a batch is what each shard deletes in one statement (no LIMIT across shards).
    distributed boolean := rollup_internal.distribution_column(CASE WHEN target THEN r.target_table ELSE r.source_table END) IS NOT NULL;
BEGIN
    IF target THEN
        EXECUTE format(CASE WHEN distributed THEN 'DELETE FROM %s WHERE %I < $1'
                            ELSE 'DELETE FROM %s WHERE ctid IN (SELECT ctid FROM %1$s WHERE %I < $1 LIMIT $2)' END,
                       r.target_table, r.bucket_column)
            USING now() - r.target_keep, batch_size;
    ELSE
        IF EXISTS (SELECT FROM rollup.rollups o WHERE o.source_table = r.source_table AND o.mode <> 'incremental') THEN
            RETURN 0;
        END IF;
        SELECT string_agg(format('s.%I <= %s', o.id_column, p.watermark), ' AND ') INTO cond
        FROM rollup.rollups o JOIN rollup.progress p USING (name)
        WHERE o.source_table = r.source_table;
        EXECUTE format(CASE WHEN distributed THEN 'DELETE FROM %s s WHERE %s AND s.%I < $1'
                            ELSE 'DELETE FROM %s WHERE (tableoid, ctid) IN (SELECT tableoid, ctid FROM %1$s s WHERE %s AND s.%I < $1 LIMIT $2)' END,
                       r.source_table, cond, r.time_column)
            USING now() - r.source_grace, batch_size;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Deletes what the retention settings of a rollup and of the levels below it allow, in
-- transactions of at most batch_size rows, as the rollup's owner; returns (in deleted) how many
-- rows. Call it outside a transaction block.
CREATE OR REPLACE PROCEDURE rollup.apply_retention(rollup_name text, batch_size bigint DEFAULT 10000, INOUT deleted bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    x rollup.rollups;
    n bigint;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = '22023';
    END IF;
    deleted := 0;
    IF r.source_grace IS NOT NULL THEN
        LOOP
            n := rollup_internal.as_owner(r.name, 'retain_source', pg_catalog.to_jsonb(batch_size))::bigint;
            deleted := deleted + n;
            COMMIT;
            EXIT WHEN n < batch_size;
        END LOOP;
    END IF;
    FOR x IN SELECT * FROM rollup_internal.chain(r.name) c WHERE c.target_keep IS NOT NULL LOOP
        LOOP
            n := rollup_internal.as_owner(x.name, 'retain_target', pg_catalog.to_jsonb(batch_size))::bigint;
            deleted := deleted + n;
            COMMIT;
            EXIT WHEN n < batch_size;
        END LOOP;
    END LOOP;
END
$$;

-- Source rows not yet rolled up and the time of the oldest of them (NULL for a level).
CREATE OR REPLACE FUNCTION rollup_internal.pending(r rollup.rollups, OUT pending_rows bigint, OUT oldest_pending timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    covered text;
BEGIN
    -- (On Citus: the rows of every node's range of ids that its runs have not aggregated; NULL
    -- while a node cannot be reached, so that status still shows the rest, the run's error too.)
    BEGIN
        IF r.mode = 'incremental' THEN
            covered := rollup_internal.covered_sql(r);
            EXECUTE format('SELECT count(*) FROM %s s WHERE NOT %s', r.source_table, covered) INTO pending_rows;
            EXECUTE format('SELECT s.%I FROM %s s WHERE NOT %s ORDER BY s.%I LIMIT 1', r.time_column, r.source_table, covered, r.id_column)
                INTO oldest_pending;
        ELSIF r.mode = 'flush' THEN
            EXECUTE format('SELECT count(*), min(%I) FROM %s', r.time_column, r.source_table) INTO pending_rows, oldest_pending;
        END IF;
    EXCEPTION WHEN connection_exception THEN
        pending_rows := NULL;
        oldest_pending := NULL;
    END;
END
$$;

-- The error of the last run of rollup r's pg_cron job when that run failed (a job that could not
-- connect, or whose command failed), read from pg_cron's cron.job_run_details where this
-- database has it and the caller may read it (pg_cron shows each role its own jobs); else NULL.
CREATE OR REPLACE FUNCTION rollup_internal.job_error(r rollup.rollups)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failure text;
BEGIN
    IF r.schedule IS NULL OR to_regclass('cron.job_run_details') IS NULL
       OR NOT has_table_privilege('cron.job_run_details', 'SELECT') OR NOT has_table_privilege('cron.job', 'SELECT') THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT CASE WHEN d.status = ''failed'' THEN coalesce(d.return_message, ''failed'') END
             FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
             WHERE j.jobname = $1 AND d.status IN (''succeeded'', ''failed'')
             ORDER BY d.start_time DESC LIMIT 1'
        INTO failure USING rollup_internal.job_name(r.name);
    RETURN failure;
END
$$;

-- The boundary of the query views made by 0.3.0 and before (UTC buckets from 2000-01-03).
CREATE OR REPLACE FUNCTION rollup.view_boundary(fine regclass, fine_bucket name, width interval, fine_window interval)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL RESTRICTED COST 10000
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rollup.view_boundary(fine, fine_bucket, width, fine_window, 'UTC', '2000-01-03 00:00')
$$;

-- A view over a level and the rollup it reads that returns each time range from exactly one
-- of them: the level's rows before a boundary, the finer rows (grouped by the level's
-- dimensions) from there on. The boundary is the first of the level's buckets that the finer
-- rollup holds completely, or, with fine_window, the first that starts within fine_window
-- of now if that is later (fewer, coarser rows to read). Sums and sketch unions over any
-- range are counted once; ranges that start before the boundary are answered at the level's
-- granularity.
CREATE OR REPLACE FUNCTION rollup.create_view(rollup_name text, view_name text, fine_window interval DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    as_fine rollup.rollups;
    qualified text := rollup_internal.qualify(view_name, r.target_table);
    boundary text;
    cte text := '';
BEGIN
    IF r.mode <> 'level' THEN
        RAISE EXCEPTION 'rollup "%" is not a level; a query view combines a level with the rollup it reads', r.name
            USING ERRCODE = '22023';
    END IF;
    IF fine_window < interval '0' THEN
        RAISE EXCEPTION 'fine_window must not be negative' USING ERRCODE = '22023';
    END IF;
    boundary := format('rollup.view_boundary(%L, %L, %L, %L, %L, %L::timestamp)', r.source_table, r.time_column, r.bucket_width,
                       fine_window, r.time_zone, to_char(r.bucket_origin, 'YYYY-MM-DD HH24:MI:SS'));
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column) = 'timestamp'::regtype THEN
        boundary := format('(%s AT TIME ZONE ''UTC'')', boundary);
    END IF;
    IF rollup_internal.distribution_column(r.target_table) IS NOT NULL THEN
        -- On Citus: computed once, on the coordinator (Citus would run the function, which
        -- reads a distributed table, on the workers).
        cte := format(E'WITH boundary AS MATERIALIZED (SELECT %s AS b)\n', boundary);
        boundary := '(SELECT b FROM boundary)';
    END IF;
    -- The finer rows keep their own bucket.
    as_fine := r;
    as_fine.bucket_sql := 's.' || quote_ident(r.time_column);
    EXECUTE format(E'CREATE VIEW %s AS\n%sSELECT %s FROM %s WHERE %I < %s\nUNION ALL\n%s',
        qualified, cte,
        rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names),
        r.target_table, r.bucket_column, boundary,
        rollup_internal.aggregate_sql(as_fine, format('%s s WHERE s.%I >= %s', r.source_table, r.time_column, boundary), false));
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', qualified, r.bucket_column, rollup_internal.bucket_comment(r));
    -- The view runs the rollup's SQL: it belongs to the rollup's owner, whoever made it.
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER VIEW %s OWNER TO %s', qualified, r.owner);
    END IF;
    PERFORM rollup_internal.create_range_function(r, qualified);
    RETURN qualified::regclass;
END
$$;

-- The start of the bucket of width `width` after the one that starts at `bucket_sql`: calendar
-- arithmetic in the rollup's time zone for widths in days, months or years, in UTC otherwise.
CREATE OR REPLACE FUNCTION rollup_internal.next_bucket_sql(bucket_sql text, time_type regtype, width interval, time_zone text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN time_type = 'timestamptz'::regtype
                THEN format('((%s) AT TIME ZONE %L + %L::interval) AT TIME ZONE %2$L', bucket_sql, rollup_internal.calendar_zone(width, time_zone), width)
                ELSE format('((%s) + %L::interval)', bucket_sql, width) END
$$;

-- The first bucket of width `width` (in time_zone, from origin) that starts at or after `time_sql`.
CREATE OR REPLACE FUNCTION rollup_internal.bucket_ceil_sql(time_sql text, time_type regtype, width interval, time_zone text, origin timestamp)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(CASE WHEN %1$s = %2$s THEN %2$s ELSE %3$s END)', floor_sql, time_sql,
                  rollup_internal.next_bucket_sql(floor_sql, time_type, width, time_zone))
    FROM (SELECT rollup_internal.bucket_sql(time_sql, time_type, width, time_zone, origin) AS floor_sql) f
$$;

-- The range form of query view `view_name` over level r: a function of the same name,
-- view_name(range_start, range_end), whose rows add up to exactly [range_start, range_end)
-- wherever the rollups still hold it: the level's rows for its whole buckets inside the range,
-- the finer rollup's rows for the partial coarse buckets at either end. Column `exact` is false
-- on a row that covers time outside the range: a finer bucket cut by an edge that is not on the
-- finer buckets, or a coarse bucket cut by an edge where retention already deleted the finer rows.
CREATE OR REPLACE FUNCTION rollup_internal.create_range_function(r rollup.rollups, view_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    time_type regtype := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.source_table AND attname = r.time_column);
    fine rollup.rollups := (SELECT p FROM rollup.rollups p WHERE p.name = r.parent);
    as_fine rollup.rollups := r;
    start_floor text := rollup_internal.bucket_sql('$1', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    -- the first coarse bucket that starts in the range, and the start of the one it ends in
    a_up text := rollup_internal.bucket_ceil_sql('$1', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    b_down text := rollup_internal.bucket_sql('$2', time_type, r.bucket_width, r.time_zone, r.bucket_origin);
    -- where the partial coarse bucket at the end starts, when there is one (a coarse bucket start)
    tail text := format('greatest(%s, %s)', b_down, a_up);
    first_fine text := format('(SELECT min(m.%I) FROM %s m)', r.time_column, r.source_table);
    -- whether the finer rollup still holds the finer buckets from the range's start, from the tail
    fine_start text := rollup_internal.bucket_sql('$1', time_type, fine.bucket_width, fine.time_zone, fine.bucket_origin);
    fine_at_start text := format('coalesce(%s >= %s, false)', fine_start, first_fine);
    fine_at_tail text := format('coalesce(%s >= %s, false)', tail, first_fine);
    columns text := rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names);
    body text;
    signature text;
BEGIN
    as_fine.bucket_sql := 's.' || quote_ident(r.time_column);
    body := format(
        -- whole coarse buckets
        E'SELECT %1$s, true FROM %2$s l WHERE l.%3$I >= %4$s AND l.%3$I < %5$s\n'
        -- partial coarse buckets whose finer rows are gone
        'UNION ALL\nSELECT %1$s, false FROM %2$s l\n'
        'WHERE (l.%3$I = %6$s AND $1 < least(%4$s, $2) AND NOT %7$s)\n'
        '   OR (l.%3$I = %8$s AND %8$s < $2 AND NOT %9$s)\n'
        -- partial coarse buckets from the finer rows
        'UNION ALL\nSELECT f.*, f.%3$I >= $1 AND %10$s <= $2 FROM (\n%11$s) f',
        columns, r.target_table, r.bucket_column, a_up, b_down, start_floor, fine_at_start, tail, fine_at_tail,
        rollup_internal.next_bucket_sql('f.' || quote_ident(r.bucket_column), time_type, fine.bucket_width, fine.time_zone),
        rollup_internal.aggregate_sql(as_fine, format(E'%1$s s\nWHERE (s.%2$I >= %3$s AND s.%2$I < least(%4$s, $2) AND %5$s)\n'
                                              '   OR (s.%2$I >= %6$s AND s.%2$I < $2 AND %7$s)',
                                              r.source_table, r.time_column, fine_start,
                                              a_up, fine_at_start, tail, fine_at_tail), false));
    signature := format(E'%s(range_start %s, range_end %2$s)\nRETURNS TABLE (%s, exact boolean)', view_name, format_type(time_type, NULL),
        (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
         FROM pg_attribute a WHERE a.attrelid = view_name::regclass AND a.attnum > 0 AND NOT a.attisdropped));
    IF rollup_internal.distribution_column(r.target_table) IS NULL THEN
        -- Parsed now, like the view; the reference to the view makes DROP VIEW .. CASCADE drop it too.
        EXECUTE format(E'CREATE FUNCTION %s LANGUAGE sql STABLE\nBEGIN ATOMIC\n%s\n'
                       'UNION ALL SELECT %s, NULL FROM %s WHERE false;\nEND', signature, body, columns, view_name);
    ELSE
        -- Citus plans a distributed query with parameters from PL/pgSQL, not from a SQL function.
        EXECUTE format(E'CREATE FUNCTION %s LANGUAGE plpgsql STABLE SET search_path = pg_catalog, %I, pg_temp\n'
                       'AS %L', signature, (SELECT extnamespace::regnamespace::name FROM pg_extension WHERE extname = 'pg_rollup'),
                       format(E'BEGIN\nRETURN QUERY EXECUTE %L USING $1, $2;\nEND', body));
    END IF;
    IF r.owner::oid <> current_user::regrole::oid THEN
        EXECUTE format('ALTER FUNCTION %s(%s, %2$s) OWNER TO %s', view_name, format_type(time_type, NULL), r.owner);
    END IF;
END
$$;

-- Verification: the stored rows of a rollup against a recomputation from the rows its source
-- still holds (a base rollup: the source rows up to its watermark; a level: the rollup it reads),
-- for the buckets that start in [range_start, range_end) (NULL: unbounded). One row per
-- difference, by bucket, dimensions and measure: counts, sums, min/max exactly, hll sketches by
-- their bytes (shown as estimates), topn sketches by their total weight. No row: verified. Rows
-- that retention deleted from the source show as differences.
CREATE OR REPLACE FUNCTION rollup.verify(rollup_name text, range_start timestamptz DEFAULT NULL, range_end timestamptz DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, dimensions jsonb, measure text, stored text, recomputed text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT v.* FROM jsonb_to_recordset(rollup_internal.as_owner((rollup_internal.get(rollup_name)).name, 'verify',
                                                        jsonb_build_object('from', range_start, 'to', range_end))::jsonb)
        AS v(bucket timestamptz, dimensions jsonb, measure text, stored text, recomputed text)
$$;

-- The work of rollup.verify, as the rollup's owner.
CREATE OR REPLACE FUNCTION rollup_internal.verify(r rollup.rollups, range_start timestamptz, range_end timestamptz,
    OUT bucket timestamptz, OUT dimensions jsonb, OUT measure text, OUT stored text, OUT recomputed text)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    utc boolean := (SELECT atttypid FROM pg_attribute WHERE attrelid = r.target_table AND attname = r.bucket_column) = 'timestamp'::regtype;
    in_range text := CASE WHEN utc THEN '%1$s >= coalesce($1 AT TIME ZONE ''UTC'', ''-infinity'') AND %1$s < coalesce($2 AT TIME ZONE ''UTC'', ''infinity'')'
                          ELSE '%1$s >= coalesce($1, ''-infinity'') AND %1$s < coalesce($2, ''infinity'')' END;
    cols text := rollup_internal.ident_list(r.dimension_names || r.bucket_column || r.measure_names);
    keys text := rollup_internal.ident_list(r.dimension_names || r.bucket_column);
    source_sql text;
    picks text := '';
    comparisons text := '';
    m int;
BEGIN
    IF r.mode = 'flush' THEN
        RAISE EXCEPTION 'a flush rollup cannot be verified: its source rows were consumed' USING ERRCODE = '55000';
    END IF;
    source_sql := format('%s s WHERE %s', r.source_table, format(in_range, r.bucket_sql));
    IF r.mode = 'incremental' THEN
        source_sql := source_sql || ' AND ' || rollup_internal.covered_sql(r);
    END IF;
    FOR m IN 1 .. cardinality(r.measure_names) LOOP
        picks := picks || format(', (array_agg(%1$I) FILTER (WHERE side))[1] AS "pg_rollup stored %2$s"'
                                 ', (array_agg(%1$I) FILTER (WHERE NOT side))[1] AS "pg_rollup recomputed %2$s"', r.measure_names[m], m);
        comparisons := comparisons || CASE WHEN m > 1 THEN ', ' ELSE '' END || format(
            CASE r.merge_rules[m]
                WHEN 'hll_union' THEN '(%1$L, round(hll_cardinality(%2$s))::text, round(hll_cardinality(%3$s))::text, %2$s::text IS NOT DISTINCT FROM %3$s::text)'
                WHEN 'topn_union' THEN '(%1$L, topn_total(%2$s)::text, topn_total(%3$s)::text, topn_total(%2$s) IS NOT DISTINCT FROM topn_total(%3$s))'
                -- (the same bins give the same percentiles; the sum is a float sum, whose order may differ)
                WHEN 'qsketch_union' THEN '(%1$L, qsketch_count(%2$s)::text, qsketch_count(%3$s)::text,
                    qsketch_count(%2$s) IS NOT DISTINCT FROM qsketch_count(%3$s)
                    AND qsketch_percentiles(%2$s, ''{0,0.01,0.1,0.5,0.9,0.99,0.999,1}'') IS NOT DISTINCT FROM qsketch_percentiles(%3$s, ''{0,0.01,0.1,0.5,0.9,0.99,0.999,1}''))'
                ELSE '(%1$L, %2$s::text, %3$s::text, %2$s IS NOT DISTINCT FROM %3$s)' END,
            r.measure_names[m], format('g."pg_rollup stored %s"', m), format('g."pg_rollup recomputed %s"', m));
    END LOOP;
    RETURN QUERY EXECUTE format(
        E'SELECT g.%1$I%2$s, %3$s, m.measure, m.stored, m.recomputed\n'
        'FROM (SELECT %4$s%5$s\n'
        '      FROM (SELECT true AS side, %6$s FROM %7$s WHERE %8$s\n'
        '            UNION ALL\n'
        '            SELECT false, %6$s FROM (%9$s) x) u\n'
        '      GROUP BY %4$s) g\n'
        'CROSS JOIN LATERAL (VALUES %10$s) m(measure, stored, recomputed, same)\n'
        'WHERE NOT m.same ORDER BY 1, 2, 3',
        r.bucket_column, CASE WHEN utc THEN ' AT TIME ZONE ''UTC''' ELSE '' END,
        coalesce((SELECT format('jsonb_build_object(%s)', string_agg(format('%L, g.%I', d, d), ', ' ORDER BY o))
                  FROM unnest(r.dimension_names) WITH ORDINALITY u(d, o)), '''{}''::jsonb'),
        keys, picks, cols, r.target_table, format(in_range, quote_ident(r.bucket_column)),
        rollup_internal.aggregate_sql(r, source_sql, false), comparisons)
        USING range_start, range_end;
END
$$;

-- Raises unless `member` has the privileges of `role` (is it, a member of it, or a superuser).
CREATE OR REPLACE FUNCTION rollup_internal.check_acts_for(member oid, role regrole, what text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF member IS NULL OR role IS NULL OR NOT pg_has_role(member, role, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for %', what USING ERRCODE = '42501',
            DETAIL = format('Role %s does not have the privileges of role %s.', member::regrole, role);
    END IF;
END
$$;

-- The one writer of pg_rollup's catalog, run by rollup_internal.write_catalog as the catalog's owner
-- on behalf of role `caller`. `op` says what to change, `args` carries the values (relations
-- and roles as oids):
--   add_rollup       a definition made by rollup.create_rollup (fragments, tables, owner, start_after)
--   drop_rollup      {name}
--   set              {name, schedule | source_grace | target_keep | batch_size}
--   add_measures     {name, measures}: measures appended to the definition
--   run_done         {name, run_start, rows, watermark?, checkpoints?, nodes?}
--   run_failed       {name, error}
--   reset_progress   {name}: back to the sequence's start, nothing deleted by retention
--   retention_done   {name, target, rows}: retention deleted rows of the rollup's source (or target)
--   add_rule         {events_table, platform_column, platform, keys, index_name}
--   drop_rule        {events_table, platform}: returns {index_name}
--   add_ingest_view  {view, events_table, rejects_table}
CREATE OR REPLACE FUNCTION rollup_internal.catalog_write(op text, caller oid, args jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollup.rollups;
    rel regclass;
    key text;
    idx name;
    constraint_name text;
BEGIN
    IF op IN ('drop_rollup', 'set', 'add_measures', 'run_done', 'run_failed', 'reset_progress', 'retention_done') THEN
        SELECT * INTO r FROM rollup.rollups x WHERE x.name = args->>'name';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'rollup "%" does not exist', args->>'name' USING ERRCODE = '42704';
        END IF;
        PERFORM rollup_internal.check_acts_for(caller, r.owner, format('rollup "%s"', r.name));
    END IF;
    CASE op
    WHEN 'add_rollup' THEN
        r := jsonb_populate_record(NULL::rollup.rollups, args);
        IF r.name IS NULL OR r.name !~ '^[[:alnum:]_.-]{1,63}$' THEN
            RAISE EXCEPTION 'invalid rollup name "%"', r.name USING ERRCODE = '42602';
        END IF;
        PERFORM rollup_internal.check_acts_for(caller, r.owner, format('rollup "%s"', r.name));
        PERFORM rollup_internal.check_owner(r.source_table, r.owner);
        PERFORM rollup_internal.check_owner(r.target_table, r.owner);
        -- A chain has one owner: its runs execute every level's SQL as that role.
        IF r.mode = 'level' AND NOT EXISTS (
                SELECT FROM rollup.rollups p
                WHERE p.name = r.parent AND p.target_table = r.source_table AND p.owner = r.owner) THEN
            RAISE EXCEPTION 'a level of rollup "%" must read its target and belong to its owner', r.parent
                USING ERRCODE = '42501';
        ELSIF r.mode <> 'level' AND EXISTS (SELECT FROM rollup.rollups p WHERE p.target_table = r.source_table) THEN
            RAISE EXCEPTION 'the source of rollup "%" is the target of a rollup; it can only be a level', r.name
                USING ERRCODE = '22023';
        END IF;
        r := rollup_internal.derive(r);
        r.schedule := NULL;
        r.source_grace := NULL;
        r.target_keep := NULL;
        r.created_at := now();
        BEGIN
            INSERT INTO rollup.rollups SELECT r.*;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
            IF constraint_name = 'rollups_pkey' THEN
                RAISE EXCEPTION 'rollup "%" already exists', r.name USING ERRCODE = '42710';
            END IF;
            RAISE EXCEPTION 'table % is already the target of a rollup', r.target_table USING ERRCODE = '42710';
        END;
        INSERT INTO rollup.progress (name, watermark)
        SELECT r.name, CASE WHEN r.mode = 'incremental'
                            THEN coalesce((args->>'start_after')::bigint, (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence)) END;
    WHEN 'drop_rollup' THEN
        DELETE FROM rollup.rollups x WHERE x.name = r.name;
    WHEN 'set' THEN
        UPDATE rollup.rollups x
        SET schedule = CASE WHEN args ? 'schedule' THEN args->>'schedule' ELSE x.schedule END,
            source_grace = CASE WHEN args ? 'source_grace' THEN (args->>'source_grace')::interval ELSE x.source_grace END,
            target_keep = CASE WHEN args ? 'target_keep' THEN (args->>'target_keep')::interval ELSE x.target_keep END,
            batch_size = CASE WHEN args ? 'batch_size' THEN (args->>'batch_size')::bigint ELSE x.batch_size END
        WHERE x.name = r.name;
    WHEN 'add_measures' THEN
        r.measures := r.measures || ARRAY(SELECT jsonb_array_elements_text(args->'measures'));
        r := rollup_internal.derive(r);
        UPDATE rollup.rollups x SET measures = r.measures, measure_names = r.measure_names, merge_rules = r.merge_rules
        WHERE x.name = r.name;
    WHEN 'run_done' THEN
        UPDATE rollup.progress p
        SET watermark = CASE WHEN args ? 'watermark' THEN (args->>'watermark')::bigint ELSE p.watermark END,
            checkpoints = coalesce(args->'checkpoints', p.checkpoints),
            nodes = coalesce(args->'nodes', p.nodes),
            last_run_start = (args->>'run_start')::timestamptz, last_run_end = clock_timestamp(),
            last_rows = (args->>'rows')::bigint, total_runs = p.total_runs + 1,
            total_rows = p.total_rows + (args->>'rows')::bigint, last_error = NULL
        WHERE p.name = r.name;
        -- The levels below ran in the same statement.
        UPDATE rollup.progress p
        SET last_run_start = (args->>'run_start')::timestamptz, last_run_end = clock_timestamp(),
            total_runs = p.total_runs + 1, last_error = NULL
        WHERE p.name IN (SELECT c.name FROM rollup_internal.chain(r.name) c WHERE c.name <> r.name);
    WHEN 'run_failed' THEN
        UPDATE rollup.progress p
        SET last_error = format('%s (at %s)', args->>'error', clock_timestamp()), total_runs = p.total_runs + 1
        WHERE p.name IN (SELECT c.name FROM rollup_internal.chain(r.name) c);
    WHEN 'reset_progress' THEN
        UPDATE rollup.progress p
        SET watermark = (SELECT s.seqmin - 1 FROM pg_sequence s WHERE s.seqrelid = r.id_sequence), checkpoints = '[]', nodes = '{}'
        WHERE p.name = r.name;
        -- The chain is recomputed from what its source holds now.
        UPDATE rollup.progress p SET source_rows_deleted = 0 WHERE p.name IN (SELECT c.name FROM rollup_internal.chain(r.name) c);
    WHEN 'retention_done' THEN
        -- `rows` were deleted from r's source (target: from its target): every rollup reading that
        -- table had aggregated them.
        UPDATE rollup.progress p SET source_rows_deleted = p.source_rows_deleted + (args->>'rows')::bigint
        WHERE p.name IN (SELECT x.name FROM rollup.rollups x
                         WHERE x.source_table = CASE WHEN (args->>'target')::boolean THEN r.target_table ELSE r.source_table END);
    WHEN 'add_rule' THEN
        rel := (args->>'events_table')::oid;
        PERFORM rollup_internal.check_owner(rel, caller);
        PERFORM rollup_internal.check_column(rel, args->>'platform_column');
        IF jsonb_typeof(args->'keys') IS DISTINCT FROM 'array' OR jsonb_array_length(args->'keys') = 0 THEN
            RAISE EXCEPTION 'a uniqueness rule needs at least one key' USING ERRCODE = '22023';
        END IF;
        FOR key IN SELECT jsonb_array_elements_text(args->'keys') LOOP
            PERFORM rollup_internal.parse_fragment(key, 'key');
        END LOOP;
        BEGIN
            INSERT INTO rollup.uniqueness_rules (events_table, platform_column, platform, keys, index_name)
            VALUES (rel, args->>'platform_column', args->>'platform',
                    ARRAY(SELECT jsonb_array_elements_text(args->'keys')), args->>'index_name');
        EXCEPTION WHEN unique_violation THEN
            RAISE EXCEPTION 'table % already has a uniqueness rule for platform %', rel, quote_literal(args->>'platform')
                USING ERRCODE = '42710', HINT = 'Drop it first with rollup.drop_uniqueness_rule.';
        END;
    WHEN 'drop_rule' THEN
        rel := (args->>'events_table')::oid;
        PERFORM rollup_internal.check_owner(rel, caller);
        DELETE FROM rollup.uniqueness_rules u WHERE u.events_table = rel AND u.platform = args->>'platform'
        RETURNING u.index_name INTO idx;
        IF idx IS NULL THEN
            RAISE EXCEPTION 'table % has no uniqueness rule for platform %', rel, quote_literal(args->>'platform')
                USING ERRCODE = '42704';
        END IF;
        RETURN jsonb_build_object('index_name', idx);
    WHEN 'add_ingest_view' THEN
        FOREACH rel IN ARRAY ARRAY[(args->>'view')::oid, (args->>'events_table')::oid, (args->>'rejects_table')::oid] LOOP
            IF rel IS NOT NULL THEN
                PERFORM rollup_internal.check_owner(rel, caller);
            END IF;
        END LOOP;
        INSERT INTO rollup.ingest_views (view, events_table, rejects_table)
        VALUES ((args->>'view')::oid, (args->>'events_table')::oid, (args->>'rejects_table')::oid);
    ELSE
        RAISE EXCEPTION 'unknown catalog change "%"', op USING ERRCODE = '22023';
    END CASE;
    RETURN NULL;
END
$$;

-- What rollup_internal.as_owner runs as the rollup's owner: `action` of rollup `rollup_name`, read
-- from the catalog. Only the owner may run it, so that a superuser or a member cannot run the
-- owner's SQL with privileges of their own by calling it directly.
--   run            one bounded step (rollup_internal.run_once), arg: how long to wait for writers (ms)
--   verify         the differences between the stored rows and a recomputation, arg: {from, to}
--                  (rollup_internal.verify), as a jsonb array
--   reset          empty the chain's targets and recompute them (rollup_internal.reset)
--   validate       plan the statements of a run, aggregating nothing
--   fill           a new level: aggregate what its source already holds
--   retain_source  one batch (arg rows) of source retention; retain_target: of target retention
--   explain        the plans of the next run, a line each
--   load           rows shaped like the target, from the query in arg, into the chain (rollup_internal.load)
--   add_measures   the measures in arg (an array) added and filled (rollup_internal.add_measures)
CREATE OR REPLACE FUNCTION rollup_internal.owner_action(rollup_name text, action text, arg jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    r rollup.rollups := rollup_internal.get(rollup_name);
    n bigint;
BEGIN
    IF r.owner::oid <> current_user::regrole::oid THEN
        RAISE EXCEPTION 'rollup "%" runs as its owner, role %', r.name, r.owner USING ERRCODE = '42501',
            HINT = 'Use rollup.run, rollup.catch_up, rollup.reset or rollup.apply_retention.';
    END IF;
    CASE action
    WHEN 'run' THEN
        RETURN rollup_internal.run_once(r, arg::int);
    WHEN 'verify' THEN
        RETURN (SELECT coalesce(jsonb_agg(to_jsonb(v)), '[]') FROM rollup_internal.verify(r, (arg->>'from')::timestamptz, (arg->>'to')::timestamptz) v);
    WHEN 'reset' THEN
        RETURN rollup_internal.reset(r);
    WHEN 'validate' THEN
        PERFORM rollup_internal.run_chain(r, NULL, NULL, validate => true);
    WHEN 'fill' THEN
        -- Runs of the chain wait meanwhile.
        PERFORM pg_advisory_xact_lock(hashtext('pg_rollup'), hashtext(rollup_internal.root(r.name)));
        RETURN rollup_internal.run_chain(r, NULL, NULL);
    WHEN 'retain_source', 'retain_target' THEN
        n := rollup_internal.retention_batch(r, action = 'retain_target', arg::bigint);
        PERFORM rollup_internal.write_catalog('retention_done', jsonb_build_object('name', r.name, 'target', action = 'retain_target', 'rows', n));
        RETURN n;
    WHEN 'load' THEN
        RETURN rollup_internal.load(r, arg #>> '{}');
    WHEN 'add_measures' THEN
        RETURN rollup_internal.add_measures(r, ARRAY(SELECT jsonb_array_elements_text(arg)));
    WHEN 'explain' THEN
        RETURN (SELECT string_agg(line, E'\n') FROM rollup_internal.explain(r) line);
    ELSE
        RAISE EXCEPTION 'unknown rollup action "%"', action USING ERRCODE = '22023';
    END CASE;
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON FUNCTION rollup_internal.check_acts_for(oid, regrole, text) FROM PUBLIC;

-- postgresql-topn's scalar functions on its jsonb maps, for columns that keep them: through the
-- sketch (a full map's smallest count bounds what it dropped) and back to a map. A NULL map
-- takes the item, as postgresql-topn's topn_add does.
CREATE FUNCTION topn_add(jsonb, text) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN $2 IS NULL THEN $1
                      ELSE @extschema@.topn_to_jsonb(@extschema@.topn_add(@extschema@.topn(coalesce($1, '{}'::pg_catalog.jsonb)), $2)) END $$;
CREATE FUNCTION topn_union(jsonb, jsonb) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE STRICT
    AS $$ SELECT @extschema@.topn_to_jsonb(@extschema@.topn_union(@extschema@.topn($1), @extschema@.topn($2))) $$;

-- topn to jsonb by assignment (ALTER CAST does not exist; a view may use the cast).
UPDATE pg_catalog.pg_cast SET castcontext = 'a'
WHERE castsource = '@extschema@.topn'::pg_catalog.regtype AND casttarget = 'pg_catalog.jsonb'::pg_catalog.regtype;

-- qsketch: quantiles with a guaranteed relative error.
-- qsketch: quantiles (percentiles) with a guaranteed relative error, merged exactly in any order.
-- A value's bin is within the sketch's relative accuracy (1 % by default) of every value it
-- holds, so every quantile read from a sketch, or from any union of sketches, is within that
-- accuracy of the exact one (percentile_disc); each sign keeps at most 2048 bins, and values
-- spread wider than that (over 17 orders of magnitude at 1 %) coarsen the bins uniformly, with
-- the accuracy the sketch reports (qsketch_relative_accuracy). Count, minimum and maximum are
-- exact. (SQL bodies name their functions with their schema: any search_path works.)

CREATE TYPE qsketch;
CREATE FUNCTION qsketch_in(cstring) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_in' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_out(qsketch) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_recv(internal) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_recv' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
-- The binary form is the stored bytes (version 1), sent as bytea sends them.
CREATE FUNCTION qsketch_send(qsketch) RETURNS bytea
    AS 'byteasend' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE;
CREATE TYPE qsketch (
    INTERNALLENGTH = variable,
    INPUT = qsketch_in,
    OUTPUT = qsketch_out,
    RECEIVE = qsketch_recv,
    SEND = qsketch_send,
    STORAGE = external
);

CREATE FUNCTION qsketch_from_bytea(bytea) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_from_bytea' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE CAST (bytea AS qsketch) WITH FUNCTION qsketch_from_bytea(bytea);
CREATE CAST (qsketch AS bytea) WITHOUT FUNCTION;

-- Equality of stored bytes (the stored form is canonical), for GROUP BY, DISTINCT, indexes.
CREATE FUNCTION qsketch_eq(qsketch, qsketch) RETURNS boolean
    AS 'byteaeq' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION qsketch_ne(qsketch, qsketch) RETURNS boolean
    AS 'byteane' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION qsketch_hash(qsketch) RETURNS integer
    AS 'hashvarlena' LANGUAGE internal STRICT IMMUTABLE PARALLEL SAFE LEAKPROOF;
CREATE OPERATOR = (
    LEFTARG = qsketch, RIGHTARG = qsketch, PROCEDURE = qsketch_eq,
    COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR <> (
    LEFTARG = qsketch, RIGHTARG = qsketch, PROCEDURE = qsketch_ne,
    COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR CLASS qsketch_hash_ops DEFAULT FOR TYPE qsketch USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 qsketch_hash(qsketch);

-- Scalar functions.
CREATE FUNCTION qsketch_union(qsketch, qsketch) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_union' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR + (LEFTARG = qsketch, RIGHTARG = qsketch, PROCEDURE = qsketch_union, COMMUTATOR = '+');
CREATE FUNCTION qsketch_percentile(qsketch, double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_percentile' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_percentiles(qsketch, double precision[]) RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT pg_catalog.array_agg(@extschema@.qsketch_percentile($1, u.q) ORDER BY u.o)
          FROM pg_catalog.unnest($2) WITH ORDINALITY AS u(q, o) $$;
CREATE FUNCTION qsketch_rank(qsketch, double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_rank' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_count(qsketch) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_count' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_min(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_min' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_max(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_max' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_sum(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_sum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_mean(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_mean' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION qsketch_relative_accuracy(qsketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_relative_accuracy' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Aggregates. The state is a qsketch, held while aggregating as an expanded object (in a
-- memory context under the aggregate's, which hash aggregation counts); not `internal`, so
-- that Citus can aggregate on the workers and combine on the coordinator. A state holds the
-- bins between its smallest and largest value's, at most 2 × 2048 counts (32 kB): a few
-- hundred for values over a few orders of magnitude. SSPACE (what PostgreSQL takes a state to
-- grow to, as it checks memory only when a group is created) says 4 kB, what a group of tens
-- of values over three orders of magnitude reaches. qsketch_add_agg(value, relative_accuracy)
-- names the accuracy (a constant; 0.0001 to 0.5); sketches made with different accuracies do
-- not merge (42804).
CREATE FUNCTION qsketch_add_trans(qsketch, double precision) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_add_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION qsketch_add_trans(qsketch, double precision, double precision) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_add_trans_accuracy' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION qsketch_union_trans(qsketch, qsketch) RETURNS qsketch
    AS 'MODULE_PATHNAME', 'pg_rollup_qsketch_union_trans' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE qsketch_add_agg(double precision) (
    SFUNC = qsketch_add_trans, STYPE = qsketch, SSPACE = 4096,
    COMBINEFUNC = qsketch_union_trans, PARALLEL = SAFE
);
CREATE AGGREGATE qsketch_add_agg(double precision, double precision) (
    SFUNC = qsketch_add_trans, STYPE = qsketch, SSPACE = 4096,
    COMBINEFUNC = qsketch_union_trans, PARALLEL = SAFE
);
CREATE AGGREGATE qsketch_union_agg(qsketch) (
    SFUNC = qsketch_union_trans, STYPE = qsketch, SSPACE = 4096,
    COMBINEFUNC = qsketch_union_trans, PARALLEL = SAFE
);

-- What psql's \df+, \dT+ and \dv+ show for every object of the public API (the catalog tables are
-- commented where they are made). Loaded after everything else.

-- hll: types
COMMENT ON TYPE hll IS 'HyperLogLog sketch for estimating distinct counts; postgresql-hll''s type, with the same stored bytes and typmod hll(log2m, regwidth, expthresh, sparseon)';
COMMENT ON TYPE hll_hashval IS '64-bit hash of a value, to add to an hll; made by the hll_hash_* functions, or cast from bigint or integer';

-- hll: conversions
COMMENT ON FUNCTION hll(hll,integer,boolean) IS 'coerce an hll to a type modifier; raises unless the value has the log2m, regwidth, expthresh and sparseon of the typmod';
COMMENT ON FUNCTION hll_from_bytea(bytea) IS 'convert bytea to hll, validating the bytes (postgresql-hll''s cast accepts any bytes)';
COMMENT ON FUNCTION hll_hashval(bigint) IS 'convert a bigint to hll_hashval unchanged, to add hashes computed elsewhere';
COMMENT ON FUNCTION hll_hashval_int4(integer) IS 'convert an integer to hll_hashval (the integer to hll_hashval cast)';

-- hll: hashing (MurmurHash3 of the bytes postgresql-hll hashes: the same hashes)
COMMENT ON FUNCTION hll_hash_boolean(boolean,integer) IS 'hash a boolean for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_smallint(smallint,integer) IS 'hash a smallint for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_integer(integer,integer) IS 'hash an integer for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_bigint(bigint,integer) IS 'hash a bigint for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_bytea(bytea,integer) IS 'hash a bytea for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_text(text,integer) IS 'hash a text for hll, as postgresql-hll does; the second argument is the hash seed (default 0)';
COMMENT ON FUNCTION hll_hash_any(anyelement,integer) IS 'hash a value of any type for hll, over the bytes postgresql-hll hashes; the second argument is the hash seed (default 0)';

-- hll: sketches
COMMENT ON FUNCTION hll_cardinality(hll) IS 'estimated number of distinct values in an hll (the # operator); a maximum-likelihood estimate, which can differ slightly from postgresql-hll''s for dense sketches';
COMMENT ON FUNCTION hll_union(hll,hll) IS 'union of two hll sketches (the hll || hll operator); they must have the same parameters';
COMMENT ON FUNCTION hll_add(hll,hll_hashval) IS 'add a hashed value to an hll (the hll || hll_hashval operator)';
COMMENT ON FUNCTION hll_add_rev(hll_hashval,hll) IS 'add a hashed value to an hll, arguments reversed (the hll_hashval || hll operator)';
COMMENT ON FUNCTION hll_print(hll) IS 'debugging text of an hll: its representation, parameters and contents, laid out as postgresql-hll prints them';
COMMENT ON FUNCTION hll_empty() IS 'empty hll with the session''s default parameters (hll_set_defaults)';
COMMENT ON FUNCTION hll_empty(integer) IS 'empty hll with the given log2m, and the session''s defaults for the other parameters';
COMMENT ON FUNCTION hll_empty(integer,integer) IS 'empty hll with the given log2m and regwidth, and the session''s defaults for expthresh and sparseon';
COMMENT ON FUNCTION hll_empty(integer,integer,bigint) IS 'empty hll with the given log2m, regwidth and expthresh, and the session''s default sparseon';
COMMENT ON FUNCTION hll_empty(integer,integer,bigint,integer) IS 'empty hll with the given log2m, regwidth, expthresh and sparseon';

-- hll: metadata
COMMENT ON FUNCTION hll_schema_version(hll) IS 'storage specification version of an hll (1)';
COMMENT ON FUNCTION hll_type(hll) IS 'representation of an hll, numbered as in postgresql-hll: 0 undefined, 1 empty, 2 explicit, 3 sparse, 4 full';
COMMENT ON FUNCTION hll_log2m(hll) IS 'log2m parameter of an hll: the base-2 logarithm of its number of registers';
COMMENT ON FUNCTION hll_regwidth(hll) IS 'regwidth parameter of an hll: the width of each register in bits';
COMMENT ON FUNCTION hll_expthresh(hll) IS 'explicit threshold of an hll: as specified (-1: automatic), and the number of hashes it keeps explicitly in effect';
COMMENT ON FUNCTION hll_sparseon(hll) IS 'sparseon parameter of an hll: 1 if it may be stored sparse, 0 if not';

-- hll: session settings (postgresql-hll's; they change this session only)
COMMENT ON FUNCTION hll_set_defaults(integer,integer,bigint,integer) IS 'set the session''s default log2m, regwidth, expthresh and sparseon, used by hll_empty and hll_add_agg; returns the previous defaults';
COMMENT ON FUNCTION hll_set_max_sparse(integer) IS 'set the session''s largest number of filled registers stored sparse (-1: sparse while smaller than full); returns the previous value';
COMMENT ON FUNCTION hll_set_output_version(integer) IS 'postgresql-hll''s output version setting; version 1 is the only one, so it accepts and returns 1';

-- hll: aggregates
COMMENT ON AGGREGATE hll_add_agg(hll_hashval) IS 'hll of the hashed values, with the session''s default parameters (hll_set_defaults)';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer) IS 'hll of the hashed values, with the given log2m and the session''s defaults for the other parameters';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer) IS 'hll of the hashed values, with the given log2m and regwidth and the session''s defaults for expthresh and sparseon';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer,bigint) IS 'hll of the hashed values, with the given log2m, regwidth and expthresh and the session''s default sparseon';
COMMENT ON AGGREGATE hll_add_agg(hll_hashval,integer,integer,bigint,integer) IS 'hll of the hashed values, with the given log2m, regwidth, expthresh and sparseon';
COMMENT ON AGGREGATE hll_union_agg(hll) IS 'union of hll sketches: an hll of every value any of them counts';

-- topn: type and conversions
COMMENT ON TYPE topn IS 'most frequent items (Space-Saving), with a lower and an upper bound on each item''s count; takes postgresql-topn''s queries, and converts from its jsonb';
COMMENT ON FUNCTION topn(jsonb) IS 'convert a postgresql-topn jsonb map {item: count} to topn: counts become lower bounds; in a full map the smallest count bounds the dropped items';
COMMENT ON FUNCTION topn_from_bytea(bytea) IS 'convert bytea to topn, validating the bytes';
COMMENT ON FUNCTION topn_to_jsonb(topn) IS 'postgresql-topn''s jsonb map {item: frequency} of a topn, frequencies being lower bounds (the topn to jsonb cast)';
COMMENT ON FUNCTION topn_to_json_text(topn) IS 'postgresql-topn''s map {"item": frequency} of a topn as text, frequencies being lower bounds';

-- topn: sketches
COMMENT ON FUNCTION topn_add(topn,text) IS 'add one occurrence of an item to a topn';
COMMENT ON FUNCTION topn_add(topn,text,bigint) IS 'add an item to a topn with a weight: the number of occurrences, a non-negative bigint';
COMMENT ON FUNCTION topn_union(topn,topn) IS 'union of two topn sketches, keeping the bounds (the + operator)';
COMMENT ON FUNCTION topn_add(jsonb,text) IS 'postgresql-topn''s topn_add on a jsonb map: the map with one occurrence of the item added (a NULL map takes it)';
COMMENT ON FUNCTION topn_union(jsonb,jsonb) IS 'postgresql-topn''s topn_union on jsonb maps: the union as a map';
COMMENT ON FUNCTION topn_total(topn) IS 'total weight of the items added to a topn (of a converted jsonb map: the sum of its counts)';
COMMENT ON FUNCTION topn_error_bound(topn) IS 'bound on the count of every item a topn does not list, and on each listed item''s upper minus lower bound';
COMMENT ON FUNCTION topn_counters(topn) IS 'number of counters of a topn: how many items it stores';

-- topn: reading the top n
COMMENT ON FUNCTION topn(topn,integer) IS 'the n most frequent items of a topn as rows (item, frequency), frequency being the lower bound; postgresql-topn''s reader';
COMMENT ON FUNCTION topn(jsonb,integer) IS 'the n most frequent items of a postgresql-topn jsonb map as rows (item, frequency), read as by topn(topn(map), n)';
COMMENT ON FUNCTION topn_bounds(topn,integer) IS 'the n most frequent items of a topn as rows (item, frequency, lower_bound, upper_bound, guaranteed); guaranteed means surely in the true top n';
COMMENT ON FUNCTION topn_columns(topn,integer) IS 'the n most frequent items of a topn as arrays: items, lower bounds, upper bounds, and whether each is surely in the true top n';
COMMENT ON FUNCTION topn_items(topn,integer) IS 'the n most frequent items of a topn as a text array; not set-returning, so it works where an SRF over an aggregate does not (Citus)';
COMMENT ON FUNCTION topn_jsonb(topn,integer) IS 'the n most frequent items of a topn as a jsonb array of {item, frequency, upper_bound, guaranteed}; not set-returning';

-- topn: aggregates
COMMENT ON AGGREGATE topn_add_agg(text) IS 'topn of the items, with topn.number_of_counters counters (default 1000)';
COMMENT ON AGGREGATE topn_add_agg(text,integer) IS 'topn of the items, with the given number of counters (a constant), which distributed plans need';
COMMENT ON AGGREGATE topn_add_agg(text,bigint) IS 'topn of the items, each added with the given bigint weight, with topn.number_of_counters counters';
COMMENT ON AGGREGATE topn_add_agg(text,bigint,integer) IS 'topn of the items, each added with the given bigint weight, with the given number of counters (a constant)';
COMMENT ON AGGREGATE topn_union_agg(topn) IS 'union of topn sketches, keeping the bounds';
COMMENT ON AGGREGATE topn_union_agg(jsonb) IS 'union of postgresql-topn jsonb maps as a topn, each map converted as by topn(jsonb)';

-- events: uniqueness rules and ingest
COMMENT ON FUNCTION rollup.uniqueness_presets() IS 'the shipped uniqueness rule presets: name, platform, key expressions over {payload} (the payload column) and description';
COMMENT ON FUNCTION rollup.add_uniqueness_rule(regclass,text,text[],text,name,name) IS 'make events of a platform unique by key expressions (or a preset''s), with a partial unique index it creates; returns the index''s name';
COMMENT ON FUNCTION rollup.drop_uniqueness_rule(regclass,text) IS 'drop the uniqueness rule of a platform of an events table, and its index';
COMMENT ON FUNCTION rollup.ingest(regclass,regclass,regclass,boolean) IS 'move a staging table''s rows into an events table, skipping duplicates; bad events go to rejects_table or are an error; returns (inserted, duplicates, rejected)';
COMMENT ON FUNCTION rollup.ingest_json(regclass,jsonb,regclass) IS 'insert a jsonb array of row objects {column: value} into an events table, skipping duplicates; returns (inserted, duplicates, rejected)';
COMMENT ON FUNCTION rollup.create_ingest_view(regclass,text,regclass) IS 'create a view that COPY or INSERT loads: it stores each event once in the events table and rejects bad events as rollup.ingest does';

-- rollups
COMMENT ON FUNCTION rollup.version() IS 'version of the installed pg_rollup library';
COMMENT ON FUNCTION rollup.create_rollup(text,regclass,text,name,interval,text[],text[],text,name,bigint,name,bigint,boolean,text,timestamp without time zone,text) IS 'define a rollup that aggregates a source table by dimensions and time bucket into a target table, created if missing; returns the definition';
COMMENT ON FUNCTION rollup.alter_rollup(text,bigint,text,interval,interval,text[],boolean) IS 'change a rollup in place: batch size, schedule, retention, new measures (filled from the source rows still present); a NULL argument keeps its setting';
COMMENT ON FUNCTION rollup.drop_rollup(text,boolean) IS 'drop a rollup and its pg_cron job; the second argument (drop_target) drops its target table too';
COMMENT ON FUNCTION rollup.run(text,interval) IS 'aggregate the source rows not yet rolled up (at most batch_size) into a rollup, as its owner; returns their number; max_wait bounds the wait for writers';
COMMENT ON FUNCTION rollup.reset(text,boolean) IS 'empty a rollup''s target and its levels and recompute them from the source rows still present; force: even after retention deleted aggregated rows';
COMMENT ON FUNCTION rollup.explain_run(text) IS 'plans of the statements the next rollup.run of a rollup executes, a line per row';
COMMENT ON FUNCTION rollup.load_history(text,text) IS 'merge rows shaped like a rollup''s target, from a query, into the target and its levels; returns the number of rows read';

-- operations: catch-up, scheduling, retention, status, query views, verification
COMMENT ON PROCEDURE rollup.catch_up(text,bigint) IS 'run a rollup until it has caught up, a transaction per batch, then apply its retention; the second argument returns the source rows aggregated';
COMMENT ON FUNCTION rollup.job_command(text) IS 'the statement a scheduler runs for a rollup: CALL rollup.catch_up(name)';
COMMENT ON FUNCTION rollup.schedule(text,text) IS 'create or replace the pg_cron job that runs rollup.catch_up for a rollup on a cron schedule, as its owner; returns the job id';
COMMENT ON FUNCTION rollup.unschedule(text) IS 'remove the pg_cron job of a rollup; returns whether there was one';
COMMENT ON FUNCTION rollup.set_retention(text,interval,interval) IS 'set a rollup''s retention: source_grace for source rows every rollup has passed, target_keep for its rows by bucket age; NULL keeps them';
COMMENT ON PROCEDURE rollup.apply_retention(text,bigint,bigint) IS 'delete what the retention of a rollup and its levels allows, in transactions of at most batch_size rows; the last argument returns the rows deleted';
COMMENT ON VIEW rollup.status IS 'one row per rollup: watermark, pending rows and lag, last run, totals, last error and the last pg_cron job error';
COMMENT ON FUNCTION rollup.create_view(text,text,interval) IS 'create a query view over a level and the rollup it reads, each time range from one of them, and its range form view_name(range_start, range_end)';
COMMENT ON FUNCTION rollup.view_boundary(regclass,name,interval,interval,text,timestamp without time zone) IS 'boundary of a query view: the first level bucket the finer rollup holds completely (and, with fine_window, that starts within it of now)';
COMMENT ON FUNCTION rollup.view_boundary(regclass,name,interval,interval) IS 'boundary of the query views made by pg_rollup 0.3.0 and before (UTC buckets from 2000-01-03)';
COMMENT ON FUNCTION rollup.verify(text,timestamp with time zone,timestamp with time zone) IS 'differences between a rollup''s stored rows and a recomputation from its source, for buckets starting in [range_start, range_end); no row: verified';

-- qsketch
COMMENT ON TYPE qsketch IS 'quantile sketch: every percentile within its relative accuracy (1 % by default) of the exact value, merged exactly in any order; count, min and max exact';
COMMENT ON FUNCTION qsketch_from_bytea(bytea) IS 'convert bytea to qsketch, validating the bytes';
COMMENT ON FUNCTION qsketch_union(qsketch,qsketch) IS 'union of two qsketches made with the same accuracy (the + operator)';
COMMENT ON FUNCTION qsketch_percentile(qsketch,double precision) IS 'the value at quantile q (0 to 1), within the sketch''s relative accuracy of percentile_disc(q); NULL when empty';
COMMENT ON FUNCTION qsketch_percentiles(qsketch,double precision[]) IS 'the values at several quantiles, in the order given';
COMMENT ON FUNCTION qsketch_rank(qsketch,double precision) IS 'the share of the values at or below a value (0 to 1), as the sketch''s bins tell it; NULL when empty';
COMMENT ON FUNCTION qsketch_count(qsketch) IS 'the number of values counted, exact';
COMMENT ON FUNCTION qsketch_min(qsketch) IS 'the smallest value, exact; NULL when empty';
COMMENT ON FUNCTION qsketch_max(qsketch) IS 'the largest value, exact; NULL when empty';
COMMENT ON FUNCTION qsketch_sum(qsketch) IS 'the sum of the values (a float sum); NULL when empty';
COMMENT ON FUNCTION qsketch_mean(qsketch) IS 'the mean of the values (sum / count); NULL when empty';
COMMENT ON FUNCTION qsketch_relative_accuracy(qsketch) IS 'the relative accuracy every percentile of the sketch has (coarser than asked only for values spread over more than 17 orders of magnitude at 1 %)';
COMMENT ON AGGREGATE qsketch_add_agg(double precision) IS 'quantile sketch of values, 1 % relative accuracy';
COMMENT ON AGGREGATE qsketch_add_agg(double precision,double precision) IS 'quantile sketch of values with the relative accuracy given (a constant, 0.0001 to 0.5)';
COMMENT ON AGGREGATE qsketch_union_agg(qsketch) IS 'union of qsketches made with the same accuracy';
COMMENT ON FUNCTION qsketch_eq(qsketch,qsketch) IS 'same stored bytes (the = operator)';
COMMENT ON FUNCTION qsketch_ne(qsketch,qsketch) IS 'different stored bytes (the <> operator)';
COMMENT ON OPERATOR = (qsketch, qsketch) IS 'same stored bytes';
COMMENT ON OPERATOR <> (qsketch, qsketch) IS 'different stored bytes';
COMMENT ON OPERATOR + (qsketch, qsketch) IS 'union of two qsketches (qsketch_union)';
COMMENT ON OPERATOR CLASS qsketch_hash_ops USING hash IS 'hash of the stored bytes, for hash joins and hash aggregation';
COMMENT ON CAST (bytea AS qsketch) IS 'stored bytes to qsketch, validated (qsketch_from_bytea)';
COMMENT ON CAST (qsketch AS bytea) IS 'the stored bytes, unchanged';

-- schemas
COMMENT ON SCHEMA rollup IS 'pg_rollup''s API: uniqueness rules and ingest, rollups, their operation, the catalog tables and rollup.status';
COMMENT ON SCHEMA rollup_internal IS 'pg_rollup''s internal helpers, called by its functions and the statements they generate; not an API, may change in any release';

-- operators, their functions and operator classes
COMMENT ON OPERATOR = (hll_hashval, hll_hashval) IS 'equal hashes';
COMMENT ON OPERATOR <> (hll_hashval, hll_hashval) IS 'different hashes';
COMMENT ON FUNCTION hll_hashval_eq(hll_hashval,hll_hashval) IS 'equal hashes (the = operator)';
COMMENT ON FUNCTION hll_hashval_ne(hll_hashval,hll_hashval) IS 'different hashes (the <> operator)';
COMMENT ON OPERATOR = (hll, hll) IS 'same stored bytes (two sketches of the same set can differ in representation)';
COMMENT ON OPERATOR <> (hll, hll) IS 'different stored bytes';
COMMENT ON OPERATOR < (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON OPERATOR <= (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON OPERATOR > (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON OPERATOR >= (hll, hll) IS 'byte order, for btree indexes and sorting; nothing about cardinalities';
COMMENT ON FUNCTION hll_eq(hll,hll) IS 'same stored bytes (the = operator)';
COMMENT ON FUNCTION hll_ne(hll,hll) IS 'different stored bytes (the <> operator)';
COMMENT ON OPERATOR || (hll, hll) IS 'union of two sketches (hll_union)';
COMMENT ON OPERATOR || (hll, hll_hashval) IS 'the sketch with a hash added (hll_add)';
COMMENT ON OPERATOR || (hll_hashval, hll) IS 'the sketch with a hash added (hll_add_rev)';
COMMENT ON OPERATOR # (NONE, hll) IS 'estimated distinct count (hll_cardinality)';
COMMENT ON OPERATOR CLASS hll_ops USING btree IS 'byte order of hll values, for indexes and sort-based grouping';
COMMENT ON OPERATOR CLASS hll_hash_ops USING hash IS 'hash of the stored bytes, for hash joins and hash aggregation';
COMMENT ON OPERATOR = (topn, topn) IS 'same stored bytes';
COMMENT ON OPERATOR <> (topn, topn) IS 'different stored bytes';
COMMENT ON OPERATOR < (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON OPERATOR <= (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON OPERATOR > (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON OPERATOR >= (topn, topn) IS 'byte order, for btree indexes and sorting; nothing about the counts';
COMMENT ON FUNCTION topn_eq(topn,topn) IS 'same stored bytes (the = operator)';
COMMENT ON FUNCTION topn_ne(topn,topn) IS 'different stored bytes (the <> operator)';
COMMENT ON OPERATOR + (topn, topn) IS 'union of two sketches (topn_union)';
COMMENT ON OPERATOR CLASS topn_ops USING btree IS 'byte order of topn values, for indexes and sort-based grouping';
COMMENT ON OPERATOR CLASS topn_hash_ops USING hash IS 'hash of the stored bytes, for hash joins and hash aggregation';

-- casts
COMMENT ON CAST (hll AS hll) IS 'applies a column''s type modifier (hll(hll, integer, boolean))';
COMMENT ON CAST (bytea AS hll) IS 'stored bytes to hll, validated (hll_from_bytea)';
COMMENT ON CAST (hll AS bytea) IS 'the stored bytes, unchanged';
COMMENT ON CAST (bigint AS hll_hashval) IS 'a hash computed elsewhere, unchanged';
COMMENT ON CAST (integer AS hll_hashval) IS 'an integer as a hash, sign-extended (hll_hashval_int4)';
COMMENT ON CAST (bytea AS topn) IS 'stored bytes to topn, validated (topn_from_bytea)';
COMMENT ON CAST (topn AS bytea) IS 'the stored bytes, unchanged';
COMMENT ON CAST (jsonb AS topn) IS 'a postgresql-topn jsonb map of counts to a sketch (topn(jsonb))';
COMMENT ON CAST (topn AS jsonb) IS 'a sketch to a postgresql-topn style jsonb map of item to count (topn_to_jsonb); by assignment, as into a jsonb column';
