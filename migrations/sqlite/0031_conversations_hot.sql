-- Every chat step updates its conversation, and with `updated_at` indexed each update
-- also rewrote an index entry. The idle sweep reads the table instead, which holds only
-- the conversations in progress. Keep in step with ../postgres/0031_conversations_hot.sql.
DROP INDEX conversations_idle;
