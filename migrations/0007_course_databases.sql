-- The course databases of a split load, recorded in its database of the events that name no
-- course (docs/incremental.md, "One database per course"): `moocdb status` finds them there when
-- the URL's host spreads them over several servers.
CREATE TABLE IF NOT EXISTS moocdb_loader_course_databases (
    database_name VARCHAR(64) NOT NULL PRIMARY KEY,
    course TEXT NOT NULL,
    host VARCHAR(255) NOT NULL,
    port INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
