-- Engineers who left: kept (their name stays on the tickets they worked), never offered a
-- job, signed in or linked again (issue 21).
ALTER TABLE engineers ADD COLUMN deactivated_at TIMESTAMPTZ;

-- The registers' trail records changes to the engineers too (a deactivation).
ALTER TABLE register_events DROP CONSTRAINT register_events_register_check;
ALTER TABLE register_events ADD CONSTRAINT register_events_register_check
    CHECK (register IN ('people', 'assets', 'engineers'));
