-- Job cards posted in engineer groups' Telegram group chats (TELEGRAM_GROUP_CHATS): one
-- per ticket and chat, so an offer to several engineers of a group is posted once, and
-- the card can be edited to show who took the job.
-- Keep in step with ../postgres/0006_telegram_cards.sql.
CREATE TABLE telegram_cards (
    ticket TEXT NOT NULL,
    chat_id BIGINT NOT NULL,
    -- NULL while being posted (a lease: `claimed_at` older than two minutes is stale).
    message_id BIGINT,
    -- The card's text as posted (an edit adds a line to it).
    text TEXT NOT NULL DEFAULT '',
    -- The id of the engineer who took the job, once the card shows it.
    taken_by TEXT,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (ticket, chat_id)
);
-- A tap names the chat and the message.
CREATE INDEX telegram_cards_message ON telegram_cards (chat_id, message_id);
