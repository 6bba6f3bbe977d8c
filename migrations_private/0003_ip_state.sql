-- Each IP address's latest event time, carried from one load to the next for `downtime_for`
-- (`moocdb_loader_ip_state` in the course database until this migration, which a load empties
-- into this one): a raw IP address is private.

CREATE TABLE IF NOT EXISTS moocdb_loader_ip_state (
    ip VARCHAR(64) NOT NULL PRIMARY KEY,
    last_seen DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin STATS_AUTO_RECALC=0;
