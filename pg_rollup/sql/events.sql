-- Events: per-platform uniqueness rules, each backed by a partial unique expression index
-- that pg_rollup creates and drops, and bulk ingestion that skips duplicates.
--
-- Every function that runs dynamic SQL sets search_path to pg_catalog, pg_temp; every
-- identifier is quoted with %I or passed as regclass (whose text form is quoted); every
-- value is a literal (%L) or a parameter; key expressions are checked by PostgreSQL's parser
-- (rollup_internal.parse_fragment) to be exactly one expression before they are used.

CREATE TABLE rollup.uniqueness_rules (
    events_table    regclass    NOT NULL,
    platform_column name        NOT NULL,
    platform        text        NOT NULL,
    keys            text[]      NOT NULL,
    index_name      name        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (events_table, platform)
);
COMMENT ON TABLE rollup.uniqueness_rules IS
    'pg_rollup uniqueness rules: per events table and platform, the key expressions of the partial unique index index_name';
SELECT pg_catalog.pg_extension_config_dump('rollup.uniqueness_rules', '');

-- Table owners see the rules of their own tables, nobody else's; changes go through the API
-- (sql/security.sql).
ALTER TABLE rollup.uniqueness_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON rollup.uniqueness_rules
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = events_table), 'USAGE'));
GRANT SELECT ON rollup.uniqueness_rules TO PUBLIC;

-- The shipped presets. {payload} stands for the quoted payload column.
CREATE FUNCTION rollup.uniqueness_presets(
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

CREATE FUNCTION rollup.add_uniqueness_rule(
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

CREATE FUNCTION rollup.drop_uniqueness_rule(events_table regclass, platform text)
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
CREATE FUNCTION rollup_internal.on_sql_drop()
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
CREATE EVENT TRIGGER pg_rollup_sql_drop ON sql_drop EXECUTE FUNCTION rollup_internal.on_sql_drop();

-- Raised from inside the ingest statement when the caller asked for errors on bad events.
CREATE FUNCTION rollup_internal.refuse_event(reason text, event jsonb, state text DEFAULT '23502')
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

-- true the first time this call site of the running query sees these values (see events.rs);
-- NULL for a missing key, or one that takes more than 2000 bytes.
CREATE FUNCTION rollup_internal.first_of_key(VARIADIC "any") RETURNS boolean
    AS 'MODULE_PATHNAME', 'pg_rollup_first_of_key' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- NULL for a missing key, else whether it fits 2000 bytes (as _first_of_key counts them).
CREATE FUNCTION rollup_internal.key_fits(VARIADIC "any") RETURNS boolean
    AS 'MODULE_PATHNAME', 'pg_rollup_key_fits' LANGUAGE C IMMUTABLE PARALLEL SAFE;

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
CREATE FUNCTION rollup_internal.ingest(
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

-- `event` read as a row of the type of `rowtype` (a NULL of it) as rollup.ingest_json reads it, or
-- NULL when a value does not read: its error is then kept, under `pos`, for rollup_internal.unread()
-- (see events.rs).
CREATE FUNCTION rollup_internal.read_row(event jsonb, rowtype anyelement, pos bigint) RETURNS anyelement
    AS 'MODULE_PATHNAME', 'pg_rollup_read_row' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- The objects _read_row could not read since the last call: [[position, error], ...].
CREATE FUNCTION rollup_internal.unread() RETURNS text
    AS 'MODULE_PATHNAME', 'pg_rollup_unread' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- The rows of a batch whose source is a query (its columns; a DELETE .. RETURNING too), as a
-- jsonb array of objects.
CREATE FUNCTION rollup_internal.batch_rows(source_sql text, batch jsonb)
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
CREATE FUNCTION rollup_internal.ingest_rows(events_table regclass, cols name[], rows jsonb, rejects_table regclass,
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
CREATE FUNCTION rollup.ingest(
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
CREATE FUNCTION rollup.ingest_json(
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

-- Ingest views: COPY (or INSERT) into the view stores the rows in the events table, skipping
-- duplicates as rollup.ingest does. The view has the events table's columns but its identity
-- and generated ones, which the table fills, and the same defaults. The INSTEAD OF trigger handles any events table, a row at
-- a time; a COPY into the view is read straight into the events table by pg_rollup's loader
-- (src/events/loader.rs) when rollup_internal.ingest_view_target calls it direct.
CREATE TABLE rollup.ingest_views (
    view          regclass    PRIMARY KEY,
    events_table  regclass    NOT NULL,
    rejects_table regclass,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rollup.ingest_views IS
    'pg_rollup ingest views: COPY into view stores into events_table, skipping duplicates; bad events go to rejects_table, or are an error';
SELECT pg_catalog.pg_extension_config_dump('rollup.ingest_views', '');
ALTER TABLE rollup.ingest_views ENABLE ROW LEVEL SECURITY;
-- Anyone who may COPY into a view may learn where it stores; changes go through the API.
CREATE POLICY readable ON rollup.ingest_views FOR SELECT
    USING (pg_catalog.has_table_privilege(view, 'INSERT'));
GRANT SELECT ON rollup.ingest_views TO PUBLIC;

CREATE FUNCTION rollup.create_ingest_view(
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
CREATE FUNCTION rollup_internal.ingest_view_row()
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
CREATE FUNCTION rollup_internal.ingest_view_target(view regclass,
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
