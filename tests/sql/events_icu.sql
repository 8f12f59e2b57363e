-- requires: icu
-- A text key under a nondeterministic collation keeps its default operator class, whose
-- equality is the collation's (text_pattern_ops compares bytes): events that differ only in the
-- case of such a key are duplicates.
CREATE COLLATION ev_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ev_icu (id bigint GENERATED ALWAYS AS IDENTITY, platform text NOT NULL, payload jsonb NOT NULL,
                     handle text COLLATE ev_ci);
SELECT rollup.add_uniqueness_rule('ev_icu', 'chat', keys => ARRAY['handle', 'payload->>''room''']);
SELECT rollup.add_uniqueness_rule('ev_icu', 'slack', preset => 'slack');
SELECT i.indexrelid::regclass AS index,
       (SELECT array_agg(o.opcname ORDER BY u.k) FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS u(c, k)
        JOIN pg_opclass o ON o.oid = u.c) AS opclasses
FROM pg_index i WHERE i.indrelid = 'ev_icu'::regclass AND i.indpred IS NOT NULL ORDER BY i.indexrelid::regclass::text;
SELECT * FROM rollup.ingest_json('ev_icu', '[{"platform": "chat", "payload": {"room": "r"}, "handle": "Ann"},
                                            {"platform": "chat", "payload": {"room": "r"}, "handle": "ANN"},
                                            {"platform": "chat", "payload": {"room": "R"}, "handle": "ann"}]');
SELECT handle, payload FROM ev_icu WHERE platform = 'chat' ORDER BY id;
DROP TABLE ev_icu;
DROP COLLATION ev_ci;
