-- The replacement device lent while a fault is repaired (plan 003: a repair over 48 hours
-- owes the user one): what was lent, when it was issued and when it came back. Keep in
-- step with ../postgres/0014_loaners.sql.
ALTER TABLE tickets ADD COLUMN loaner TEXT;
ALTER TABLE tickets ADD COLUMN loaner_issued_at TEXT;
ALTER TABLE tickets ADD COLUMN loaner_returned_at TEXT;
