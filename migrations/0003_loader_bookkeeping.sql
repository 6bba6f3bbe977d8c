-- The loader's own bookkeeping: one ledger row per loaded source file, and every rejected line.

CREATE TABLE IF NOT EXISTS moocdb_loader_files (
    file_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    path TEXT NOT NULL,
    content_hash CHAR(32) NOT NULL,
    size_bytes BIGINT NOT NULL,
    bytes_loaded BIGINT NOT NULL,
    lines_read BIGINT NOT NULL,
    events BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    row_counts TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    started_at DATETIME(6) NOT NULL,
    finished_at DATETIME(6) NULL,
    tool_version VARCHAR(32) NOT NULL,
    load_info_id VARCHAR(40) NOT NULL,
    -- A grown live file is loaded in segments: the part of the file a row covers, where its
    -- numbering continues, and the dictionary ids in use when its load started (a crashed load's
    -- new dictionary rows are removed before it is redone).
    raw_start BIGINT NOT NULL DEFAULT 0,
    raw_end BIGINT NOT NULL DEFAULT 0,
    prefix_hash CHAR(32) NOT NULL DEFAULT '',
    first_line BIGINT NOT NULL DEFAULT 1,
    decoded_start BIGINT NOT NULL DEFAULT 0,
    next_ids TEXT NULL,
    KEY content_hash_idx (content_hash),
    KEY path_idx (path(255))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS moocdb_loader_rejects (
    file_id BIGINT NOT NULL,
    byte_offset BIGINT NOT NULL,
    line_number BIGINT NOT NULL,
    file TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw_length BIGINT NOT NULL,
    raw MEDIUMBLOB NOT NULL,
    PRIMARY KEY (file_id, byte_offset)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
