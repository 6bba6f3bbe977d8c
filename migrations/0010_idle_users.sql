-- A user's activity (staged event and location) is kept only while the user may still be active:
-- once the database's latest event is more than `--max-duration` (at least an hour) and ten
-- minutes later than it was when the user was last seen, the staged event is written with the
-- default duration and the activity dropped (`docs/incremental.md`, "Idle users"). So the state
-- carries, per active user, that time of the latest event, and the settings the latest event's
-- time (`latest_event`).
--
-- Added only where missing: a run killed before its migrations were recorded applies them again
-- (MySQL has no `ADD COLUMN IF NOT EXISTS`).
SET @add_seen_at = (
    SELECT IF(COUNT(*) = 0,
        'ALTER TABLE moocdb_loader_user_state ADD COLUMN seen_at_latest_event DATETIME(6) NULL',
        'DO 0')
    FROM information_schema.columns
    WHERE table_schema = DATABASE()
      AND table_name = 'moocdb_loader_user_state'
      AND column_name = 'seen_at_latest_event'
);
PREPARE add_seen_at FROM @add_seen_at;
EXECUTE add_seen_at;
DEALLOCATE PREPARE add_seen_at;
