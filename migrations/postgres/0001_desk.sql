-- The desk's schema (PostgreSQL). Keep in step with ../sqlite/0001_desk.sql: same tables,
-- columns and constraints; only the types differ (TIMESTAMPTZ here, TEXT timestamps there).

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE engineers (
    id BIGSERIAL PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    tier TEXT NOT NULL CHECK (tier IN ('first_line', 'expert', 'manager')),
    on_duty BOOLEAN NOT NULL DEFAULT TRUE,
    telegram_id TEXT UNIQUE,
    discord_id TEXT UNIQUE,
    web_id TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE reporters (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    department TEXT,
    phone TEXT,
    vip BOOLEAN NOT NULL DEFAULT FALSE,
    language TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- One reporter may write from several chat platforms.
CREATE TABLE reporter_identities (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    reporter_id BIGINT NOT NULL REFERENCES reporters (id),
    PRIMARY KEY (channel, external_id)
);

-- Ticket number sequences, one row per prefix and year.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('fault', 'consultation')),
    status TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('P1', 'P2', 'P3', 'P4')),
    impact TEXT NOT NULL,
    urgency TEXT NOT NULL,
    reporter_id BIGINT NOT NULL REFERENCES reporters (id),
    reporter_name TEXT NOT NULL,
    department TEXT NOT NULL,
    phone TEXT NOT NULL,
    site TEXT NOT NULL,
    building TEXT,
    room TEXT,
    asset_tag TEXT,
    device_model TEXT,
    ip TEXT,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    started_at TIMESTAMPTZ,
    people_affected INTEGER NOT NULL CHECK (people_affected >= 1),
    vip BOOLEAN NOT NULL,
    photos TEXT NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    tier TEXT NOT NULL,
    assignee_id BIGINT REFERENCES engineers (id),
    offered_to BIGINT REFERENCES engineers (id),
    work_mode TEXT,
    arrived_at TIMESTAMPTZ,
    pending_reason TEXT,
    cause TEXT,
    solution TEXT,
    closure TEXT,
    reopen_count INTEGER NOT NULL DEFAULT 0,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    response_due_at TIMESTAMPTZ,
    resolution_due_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    version BIGINT NOT NULL
);
CREATE INDEX tickets_reporter ON tickets (reporter_id, created_at);
CREATE INDEX tickets_group_status ON tickets (group_id, status);
CREATE INDEX tickets_assignee_status ON tickets (assignee_id, status);
CREATE INDEX tickets_status_created ON tickets (status, created_at);
CREATE INDEX tickets_asset ON tickets (asset_tag);

-- Who did what, when: one row per change, written in the change's transaction.
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    at TIMESTAMPTZ NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT
);
CREATE INDEX audit_events_ticket ON audit_events (ticket_id, id);

-- Messages that must go out, written in the same transaction as their cause.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT REFERENCES tickets (id),
    recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('reporter', 'engineer')),
    recipient_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
