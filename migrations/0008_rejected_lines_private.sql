-- The bytes of rejected lines are kept in the private database (`moocdb_loader_rejected_lines`),
-- and `moocdb_loader_rejects.raw` stays empty. This setting says that it holds none, so that a
-- load need not read every reject to find out; a database where an earlier version kept bytes
-- there gets it when a load has moved them.

INSERT IGNORE INTO moocdb_loader_settings (name, value)
SELECT 'rejected_lines', 'private' FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM moocdb_loader_rejects WHERE raw <> '');
