-- Time-ordered line keys (docs/schema.md, "moocdb_loader_lines"): a database whose
-- moocdb_loader_lines is still empty keys lines by event time, then hash; one that already holds
-- lines keeps hashing them, since the stored keys cannot be recomputed from a hash.
INSERT IGNORE INTO moocdb_loader_settings (name, value)
SELECT 'line_keys', IF(EXISTS(SELECT 1 FROM moocdb_loader_lines), 'hash', 'time_hash');
