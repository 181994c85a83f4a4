-- The WeCom (企业微信) door: every callback message or event, written before the
-- callback is answered, keyed by MsgId (messages) or sender + CreateTime + event + key
-- (events): a callback WeCom sends again (it retries one not answered within 5 s) finds
-- its key here and has no second effect. Keep in step with ../sqlite/0023_wecom.sql.
CREATE TABLE wecom_inbox (
    msg_key TEXT PRIMARY KEY,
    -- `text`, `image`, `event` …
    kind TEXT NOT NULL,
    -- The decrypted XML as received: nothing a person said is lost.
    body TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    -- The chat service took it (replies were sent or attempted).
    handled_at TIMESTAMPTZ
);
-- Pruning old rows.
CREATE INDEX wecom_inbox_received ON wecom_inbox (received_at);
-- An engineer's WeCom UserID, set in the engineer record or by `/link CODE`.
ALTER TABLE engineers ADD COLUMN wecom_id TEXT;
CREATE UNIQUE INDEX engineers_wecom_id ON engineers (wecom_id);
