-- Which offer of its ticket a group card shows: the tier and escalation level the job was
-- offered at (`first_line/0`). A new offer of the job (escalated, reassigned after it was
-- taken) gets a new card; rows from before this column say '' and count as an older offer.
-- `closed`: the job was cancelled before anyone took it, and the card says so.
-- Keep in step with ../postgres/0009_card_offers.sql.
ALTER TABLE group_cards ADD COLUMN offer TEXT NOT NULL DEFAULT '';
