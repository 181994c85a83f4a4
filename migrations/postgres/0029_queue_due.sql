-- The console's queue order kept on the ticket (issue 21): `queue_due_at` is the earliest
-- deadline among its running clocks (open, not paused), or NULL when none runs. The
-- queue reads open tickets in the order of one index instead of walking every running
-- clock (its last page and its searches read all of them). A trigger keeps it, so every
-- clock write (a ticket's change, the SLA scheduler's) moves it; a write that does not
-- change it leaves the ticket row alone.
-- Keep in step with ../sqlite/0029_queue_due.sql.
ALTER TABLE tickets ADD COLUMN queue_due_at TIMESTAMPTZ;

UPDATE tickets SET queue_due_at = (
    SELECT MIN(c.due_at) FROM sla_clocks c
     WHERE c.ticket_id = tickets.id AND c.open AND c.since IS NOT NULL);

CREATE INDEX tickets_queue ON tickets (queue_due_at, id)
    WHERE status NOT IN ('closed', 'cancelled') AND queue_due_at IS NOT NULL;

CREATE FUNCTION sla_clocks_queue_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tickets t SET queue_due_at = d.due
      FROM (SELECT MIN(c.due_at) AS due FROM sla_clocks c
             WHERE c.ticket_id = NEW.ticket_id AND c.open AND c.since IS NOT NULL) d
     WHERE t.id = NEW.ticket_id AND t.queue_due_at IS DISTINCT FROM d.due;
    RETURN NULL;
END;
$$;

CREATE TRIGGER sla_clocks_queue_insert AFTER INSERT ON sla_clocks
    FOR EACH ROW EXECUTE FUNCTION sla_clocks_queue_due();
CREATE TRIGGER sla_clocks_queue_update AFTER UPDATE OF open, since, due_at ON sla_clocks
    FOR EACH ROW
    WHEN (OLD.open IS DISTINCT FROM NEW.open OR OLD.since IS DISTINCT FROM NEW.since
          OR OLD.due_at IS DISTINCT FROM NEW.due_at)
    EXECUTE FUNCTION sla_clocks_queue_due();
