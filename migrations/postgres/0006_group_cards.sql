-- Job cards posted in engineer groups' chats (TELEGRAM_GROUP_CHATS, DISCORD_GROUP_CHANNELS):
-- one per door, ticket and chat, so an offer to several engineers of a group is posted
-- once, and the card can be edited to show who took the job. Chat and message ids are
-- kept as text (Telegram's are integers, Discord's snowflakes).
-- Keep in step with ../sqlite/0006_group_cards.sql.
CREATE TABLE group_cards (
    door TEXT NOT NULL,
    ticket TEXT NOT NULL,
    chat TEXT NOT NULL,
    -- NULL while being posted (a lease: `claimed_at` older than two minutes is stale).
    message_id TEXT,
    -- The card's text as posted (an edit adds a line to it).
    text TEXT NOT NULL DEFAULT '',
    -- The id of the engineer who took the job, once the card shows it.
    taken_by TEXT,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (door, ticket, chat)
);
-- A tap names the chat and the message.
CREATE INDEX group_cards_message ON group_cards (door, chat, message_id);
