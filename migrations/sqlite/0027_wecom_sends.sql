-- WeCom's per-member limits (30 messages a minute, 1,000 an hour; excess is dropped
-- silently), counted here so that every instance on this database shares one count.
-- One row per member, keeping each window's count (the current minute and hour, and the
-- one before) with the time of its newest send: the door's one statement per send
-- rolls the windows, decides and counts on this row alone (its row lock orders
-- concurrent senders). Times are Unix milliseconds; window numbers are Unix time
-- divided by the window's length. Keep in step with ../postgres/0027_wecom_sends.sql.
CREATE TABLE wecom_sends (
    member TEXT PRIMARY KEY,
    minute_no INTEGER NOT NULL,
    minute_sends INTEGER NOT NULL,
    minute_last INTEGER NOT NULL,
    prev_minute_sends INTEGER NOT NULL,
    prev_minute_last INTEGER NOT NULL,
    hour_no INTEGER NOT NULL,
    hour_sends INTEGER NOT NULL,
    hour_last INTEGER NOT NULL,
    prev_hour_sends INTEGER NOT NULL,
    prev_hour_last INTEGER NOT NULL
);
-- Pruning members not written to for long.
CREATE INDEX wecom_sends_hour_last ON wecom_sends (hour_last);
