-- `urls` shares the numbering of `resources`: a URL that is a resource's address (its URI) has
-- that resource's id, every resource an event happens on has such a row, and other URLs take
-- ids from the same counter. So `observed_events.url_id`, a resource id, is also the id of the
-- resource's address in `urls`, which the MOOCdb feature SQL of MIT and EDUlib joins on. The
-- resource types lecture, book and wiki have the ids that SQL names (4, 3 and 7).
--
-- A database that already holds URLs numbered them on their own: it keeps that numbering (this
-- setting stays absent), and a load says so; its logs loaded into a new database have it.

INSERT IGNORE INTO moocdb_loader_settings (name, value)
SELECT 'urls_numbering', 'resources' FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM urls);
