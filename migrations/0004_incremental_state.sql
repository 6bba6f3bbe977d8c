-- Incremental loading and crash safety (DESIGN.md decisions 4, 6, 7).

-- Every accepted line, by the hash of its JSON text: a line already here is a duplicate.
CREATE TABLE IF NOT EXISTS moocdb_loader_lines (
    line_hash CHAR(32) NOT NULL PRIMARY KEY,
    file_id BIGINT NOT NULL,
    KEY file_idx (file_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin STATS_AUTO_RECALC=0;

-- Per-user state carried from one file to the next: the user's latest observed event (its
-- duration is known only when the next one arrives) and the user's current location.
CREATE TABLE IF NOT EXISTS moocdb_loader_user_state (
    user_id CHAR(40) NOT NULL PRIMARY KEY,
    staged_event_id CHAR(36) NULL,
    staged_resource_id INT NULL,
    staged_time DATETIME(6) NULL,
    staged_ip CHAR(3) NULL,
    staged_os INT NULL,
    staged_agent INT NULL,
    staged_event_type VARCHAR(255) NULL,
    location_url TEXT NULL,
    location_time DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Per-IP time of the latest event (json_to_relation's downtime detection).
CREATE TABLE IF NOT EXISTS moocdb_loader_ip_state (
    ip VARCHAR(64) NOT NULL PRIMARY KEY,
    last_seen DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

-- Settings that must stay the same across loads (the course domain).
CREATE TABLE IF NOT EXISTS moocdb_loader_settings (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
