-- Job cards posted in engineer groups' Discord channels (DISCORD_GROUP_CHANNELS): one per
-- ticket and channel, so an offer to several engineers of a group is posted once, and the
-- card can be edited to show who took the job. Snowflakes are kept as text.
-- Keep in step with ../sqlite/0008_discord_cards.sql.
CREATE TABLE discord_cards (
    ticket TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    -- NULL while being posted (a lease: `claimed_at` older than two minutes is stale).
    message_id TEXT,
    -- The card's text as posted (an edit adds a line to it).
    text TEXT NOT NULL DEFAULT '',
    -- The id of the engineer who took the job, once the card shows it.
    taken_by TEXT,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticket, channel_id)
);
-- A click names the channel and the message.
CREATE INDEX discord_cards_message ON discord_cards (channel_id, message_id);
