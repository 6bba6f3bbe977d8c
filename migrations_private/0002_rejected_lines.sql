-- The bytes of the lines the loader rejected: a line that could not be parsed still holds the
-- learner's username, IP address and whatever else the event carried, so it is kept here, beside
-- the other private rows, and `moocdb_loader_rejects` in the course database says only where the
-- line was and why it was rejected.

CREATE TABLE IF NOT EXISTS moocdb_loader_rejected_lines (
    file_id BIGINT NOT NULL,
    byte_offset BIGINT NOT NULL,
    raw MEDIUMBLOB NOT NULL,
    PRIMARY KEY (file_id, byte_offset)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;
