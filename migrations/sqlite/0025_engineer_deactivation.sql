-- Engineers who left: kept (their name stays on the tickets they worked), never offered a
-- job, signed in or linked again (issue 21).
ALTER TABLE engineers ADD COLUMN deactivated_at TEXT;

-- The registers' trail records changes to the engineers too (a deactivation).
CREATE TABLE register_events_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    register TEXT NOT NULL CHECK (register IN ('people', 'assets', 'engineers')),
    subject TEXT NOT NULL,
    at TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    note TEXT
);
INSERT INTO register_events_new SELECT id, register, subject, at, actor_kind, actor_id,
    actor_name, action, note FROM register_events;
DROP TABLE register_events;
ALTER TABLE register_events_new RENAME TO register_events;
CREATE INDEX register_events_subject ON register_events (register, subject, id);
