-- The console's queue order kept on the ticket (issue 21): `next_due_at` is the earliest
-- deadline among its running clocks (open, not paused), or NULL when none runs, written
-- by the desk with every change that moves a clock (as `response_due_at` is). The queue
-- reads open tickets in the order of one index instead of walking every running clock.
-- Keep in step with ../postgres/0029_queue_due.sql.
ALTER TABLE tickets ADD COLUMN next_due_at TEXT;

UPDATE tickets SET next_due_at = (
    SELECT MIN(c.due_at) FROM sla_clocks c
     WHERE c.ticket_id = tickets.id AND c.open AND c.since IS NOT NULL);

CREATE INDEX tickets_queue ON tickets (next_due_at, id)
    WHERE status NOT IN ('closed', 'cancelled') AND next_due_at IS NOT NULL;
