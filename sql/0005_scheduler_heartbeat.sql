-- The long-running `shelfmark scheduler` (or the web process, when it runs the
-- scheduler itself) writes here every minute. Its health check,
-- `shelfmark healthcheck --scheduler`, reads how long ago that was: a process
-- that is up but whose event loop is stuck, or that cannot write the database,
-- stops beating, which a container's "running" state would never show.
-- One row: only the latest beat matters.
CREATE TABLE SchedulerHeartbeat (
    Singleton INTEGER PRIMARY KEY CHECK (Singleton = 1),
    Holder    TEXT NOT NULL,  -- host:pid of the process that wrote it
    BeatAt    TEXT NOT NULL   -- UTC, like 2026-11-29T02:00:00Z
);
