-- The staff directory (issue 20): the client's staff list, imported whole from CSV, so a
-- report from a known person asks nothing the directory holds. An import replaces the
-- directory (the client's list is the source of truth). Keep in step with
-- ../postgres/0019_people.sql.
CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    department TEXT,
    phone TEXT,
    site TEXT,
    building TEXT,
    room TEXT,
    email TEXT UNIQUE,
    created_at TEXT NOT NULL
);

-- A person's chat identities, matched against the door's (channel, external id).
CREATE TABLE people_identities (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX people_identities_person ON people_identities (person_id);

-- Who changed the registers (the directory, the asset register), when, and what: the
-- registers' audit trail. `subject` is an asset tag, or empty for a whole import.
CREATE TABLE register_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    register TEXT NOT NULL CHECK (register IN ('people', 'assets')),
    subject TEXT NOT NULL,
    at TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    note TEXT
);
CREATE INDEX register_events_subject ON register_events (register, subject, id);
