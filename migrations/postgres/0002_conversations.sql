-- Chat conversations in progress, one per chat identity, so a restart resumes at the same
-- question. Keep in step with ../sqlite/0002_conversations.sql.
CREATE TABLE conversations (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX conversations_idle ON conversations (updated_at);

-- Conversations discarded after going idle, kept for a day in case the reporter returns.
CREATE TABLE conversation_drafts (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    state TEXT NOT NULL,
    discarded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX conversation_drafts_age ON conversation_drafts (discarded_at);
