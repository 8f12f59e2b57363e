-- Helpers shared by the SQL tests (each includes this file with \i helpers.sql).
-- The error a statement raises, as 'SQLSTATE: message' ('no error' when it succeeds).
CREATE FUNCTION pg_temp.error_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- The same, followed by the start of the error's DETAIL.
CREATE FUNCTION pg_temp.error_and_detail_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ' / ' || left(coalesce(d, ''), 40);
END $$;
-- A connection string to database `db` of this cluster (for dblink: a session of its own).
CREATE FUNCTION pg_temp.conninfo(db text) RETURNS text LANGUAGE sql AS $$
    SELECT format('dbname=%s port=%s host=%s', db, current_setting('port'), split_part(current_setting('unix_socket_directories'), ',', 1))
$$;
