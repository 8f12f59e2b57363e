-- SQL-level fuzzing of every input path of hll and topn that takes bytes or text from users:
-- hll text input (\x..), bytea -> hll, topn text input, bytea -> topn, jsonb -> topn.
-- Inputs are mutations of valid values (bit flips, truncation, insertion, deletion, byte
-- runs, random bytes). Each input is cast, and what is accepted is used (estimate, items,
-- text output, union). Returns the count of inputs per target and outcome: 'accepted' or the
-- SQLSTATE of the error. XX000 (an internal error: a Rust panic) must never appear.
--
-- Included by tests/sql/fuzz_inputs.sql (a small run) and by ./pg_test.sh fuzz (FUZZ_INPUTS).

CREATE FUNCTION pg_temp.mutate(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    n int;
    i int;
BEGIN
    FOR step IN 1..1 + floor(random() * 3)::int LOOP
        n := length(b);
        i := floor(random() * greatest(n, 1))::int;
        CASE floor(random() * 7)::int
            WHEN 0 THEN IF n > 0 THEN b := set_byte(b, i, get_byte(b, i) # (1 << floor(random() * 8)::int)); END IF;
            WHEN 1 THEN b := substr(b, 1, i);
            WHEN 2 THEN b := overlay(b PLACING decode(lpad(to_hex(floor(random() * 256)::int), 2, '0'), 'hex') FROM i + 1 FOR 0);
            WHEN 3 THEN IF n > 0 THEN b := overlay(b PLACING '\x'::bytea FROM i + 1 FOR 1); END IF;
            WHEN 4 THEN b := overlay(b PLACING '\xffffffffffff'::bytea FROM i + 1 FOR 0);
            WHEN 5 THEN IF n > 0 THEN b := set_byte(b, floor(random() * least(n, 4))::int, (ARRAY[0, 255, 127, 128])[1 + floor(random() * 4)::int]); END IF;
            ELSE b := decode(md5(random()::text) || md5(random()::text), 'hex');
        END CASE;
    END LOOP;
    RETURN b;
END $$;

CREATE FUNCTION pg_temp.fuzz(per_target int, seed float8)
RETURNS TABLE (target text, outcome text, inputs bigint) LANGUAGE plpgsql AS $$
DECLARE
    hlls bytea[];
    topns bytea[];
    topn_texts text[];
    b bytea;
    t text;
    j jsonb;
    h hll;
    s topn;
    tgt text;
BEGIN
    PERFORM setseed(seed);
    CREATE TEMP TABLE fuzz_outcomes (target text, outcome text) ON COMMIT DROP;
    SELECT array_agg(x::bytea) INTO hlls FROM (
        SELECT hll_add_agg(hll_hash_integer(i), 11, 5, e, 1) AS x FROM generate_series(1, 3) k, LATERAL (SELECT (ARRAY[-1, 0, 16])[k] AS e) p,
               generate_series(1, (ARRAY[3, 40, 900])[k]) i GROUP BY k
        UNION ALL SELECT hll_empty() UNION ALL SELECT hll_add_agg(hll_hash_text(w), 4, 2, 0, 0) FROM unnest(ARRAY['a', 'b', 'c']) w) v;
    SELECT array_agg(x::bytea), array_agg(x::text) INTO topns, topn_texts FROM (
        SELECT topn_add_agg(w, 5) AS x FROM unnest(ARRAY['apple', 'pear', 'apple', 'fig', '', 'a much longer item, with "quotes"']) w
        UNION ALL SELECT topn_add_agg('w' || (i % 17), 3) FROM generate_series(1, 200) i
        UNION ALL SELECT topn_add_agg(repeat('x', i), 10) FROM generate_series(1, 30) i) v;
    FOREACH tgt IN ARRAY ARRAY['hll text', 'hll bytea', 'topn text', 'topn bytea', 'topn jsonb'] LOOP
        FOR k IN 1..per_target LOOP
            BEGIN
                CASE tgt
                    WHEN 'hll text' THEN
                        t := CASE WHEN random() < 0.8 THEN pg_temp.mutate(hlls[1 + floor(random() * cardinality(hlls))::int])::text
                                  ELSE overlay(hlls[1]::text PLACING chr(32 + floor(random() * 95)::int) FROM 1 + floor(random() * 20)::int FOR 1) END;
                        h := t::hll;
                        PERFORM hll_cardinality(h), h::text, hll_union(h, h), hll_type(h), hll_log2m(h);
                    WHEN 'hll bytea' THEN
                        h := pg_temp.mutate(hlls[1 + floor(random() * cardinality(hlls))::int])::hll;
                        PERFORM hll_cardinality(h), h::text, hll_add(h, hll_hash_integer(k));
                    WHEN 'topn text' THEN
                        t := topn_texts[1 + floor(random() * cardinality(topn_texts))::int];
                        BEGIN
                            t := convert_from(pg_temp.mutate(convert_to(t, 'UTF8')), 'UTF8');
                        EXCEPTION WHEN OTHERS THEN  -- not valid UTF-8: not text
                            t := overlay(t PLACING chr(32 + floor(random() * 95)::int) FROM 1 + floor(random() * length(t))::int FOR 1);
                        END;
                        s := t::topn;
                        PERFORM topn_total(s), s::text, (SELECT count(*) FROM topn(s, 3)), topn_union(s, s);
                    WHEN 'topn bytea' THEN
                        s := pg_temp.mutate(topns[1 + floor(random() * cardinality(topns))::int])::topn;
                        PERFORM topn_total(s), s::text, topn_items(s, 2), topn_add(s, 'x');
                    ELSE
                        t := topns[1 + floor(random() * cardinality(topns))::int]::topn::jsonb::text;
                        BEGIN
                            j := convert_from(pg_temp.mutate(convert_to(t, 'UTF8')), 'UTF8')::jsonb;
                        EXCEPTION WHEN OTHERS THEN
                            j := jsonb_build_object(md5(random()::text), floor(random() * 1e6 - 1e5));
                        END;
                        s := j::topn;
                        PERFORM topn_total(s), s::text, topn_jsonb(s, 2);
                END CASE;
                INSERT INTO fuzz_outcomes VALUES (tgt, 'accepted');
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO fuzz_outcomes VALUES (tgt, SQLSTATE);
            END;
        END LOOP;
    END LOOP;
    RETURN QUERY SELECT o.target, o.outcome, count(*) FROM fuzz_outcomes o GROUP BY 1, 2 ORDER BY 1, 2;
END $$;
