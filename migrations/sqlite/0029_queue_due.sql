-- The console's queue order kept on the ticket (issue 21): `queue_due_at` is the earliest
-- deadline among its running clocks (open, not paused), or NULL when none runs. The
-- queue reads open tickets in the order of one index instead of walking every running
-- clock (its last page and its searches read all of them). Triggers keep it, so every
-- clock write (a ticket's change, the SLA scheduler's) moves it; a write that does not
-- change it leaves the ticket row alone.
-- Keep in step with ../postgres/0029_queue_due.sql.
ALTER TABLE tickets ADD COLUMN queue_due_at TEXT;

UPDATE tickets SET queue_due_at = (
    SELECT MIN(c.due_at) FROM sla_clocks c
     WHERE c.ticket_id = tickets.id AND c.open AND c.since IS NOT NULL);

CREATE INDEX tickets_queue ON tickets (queue_due_at, id)
    WHERE status NOT IN ('closed', 'cancelled') AND queue_due_at IS NOT NULL;

CREATE TRIGGER sla_clocks_queue_insert AFTER INSERT ON sla_clocks BEGIN
    UPDATE tickets SET queue_due_at = (
        SELECT MIN(c.due_at) FROM sla_clocks c
         WHERE c.ticket_id = new.ticket_id AND c.open AND c.since IS NOT NULL)
     WHERE id = new.ticket_id AND queue_due_at IS NOT (
        SELECT MIN(c.due_at) FROM sla_clocks c
         WHERE c.ticket_id = new.ticket_id AND c.open AND c.since IS NOT NULL);
END;
CREATE TRIGGER sla_clocks_queue_update AFTER UPDATE OF open, since, due_at ON sla_clocks
    WHEN old.open IS NOT new.open OR old.since IS NOT new.since OR old.due_at IS NOT new.due_at
BEGIN
    UPDATE tickets SET queue_due_at = (
        SELECT MIN(c.due_at) FROM sla_clocks c
         WHERE c.ticket_id = new.ticket_id AND c.open AND c.since IS NOT NULL)
     WHERE id = new.ticket_id AND queue_due_at IS NOT (
        SELECT MIN(c.due_at) FROM sla_clocks c
         WHERE c.ticket_id = new.ticket_id AND c.open AND c.since IS NOT NULL);
END;
