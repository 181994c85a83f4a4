-- SLA clocks, one row per ticket and clock. Budgets and deadlines are stored when
-- computed, so a later policy change does not move a running clock.
CREATE TABLE sla_clocks (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind TEXT NOT NULL CHECK (kind IN ('response', 'on_site', 'resolution', 'progress', 'replacement', 'confirmation')),
    status TEXT NOT NULL CHECK (status IN ('running', 'paused', 'met', 'breached', 'cancelled')),
    open BOOLEAN NOT NULL,
    budget_secs BIGINT NOT NULL,
    used_secs BIGINT NOT NULL,
    since TIMESTAMPTZ,
    due_at TIMESTAMPTZ,
    warned BOOLEAN NOT NULL,
    breaches INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    next_at TIMESTAMPTZ,
    -- A scheduler instance working on this clock holds it until then.
    lease_until TIMESTAMPTZ,
    PRIMARY KEY (ticket_id, kind)
);
-- The scheduler's query: cost grows with the clocks due, not with the open tickets.
CREATE INDEX sla_clocks_next ON sla_clocks (next_at) WHERE next_at IS NOT NULL;

-- Delivery: which door carried a message, and a lease while a dispatcher sends it.
ALTER TABLE outbox ADD COLUMN channel TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TIMESTAMPTZ;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
-- Order per recipient: a message waits while an older one to the same person is pending.
CREATE INDEX outbox_recipient ON outbox (recipient_kind, recipient_id, id) WHERE status = 'pending';

-- Open jobs per engineer (the roster, read on every change) must not scan closed tickets.
CREATE INDEX tickets_open_assignee ON tickets (assignee_id)
    WHERE status IN ('accepted', 'in_progress', 'pending', 'reopened');
