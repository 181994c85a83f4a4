-- Every chat step updates its conversation. With `updated_at` indexed, each update
-- wrote new index entries and left a dead row for VACUUM, and under load the table grew
-- to hundreds of times its live rows, which every step then read through. Without that
-- index an update stays on its page (a HOT update) and the page cleans itself; the idle
-- sweep reads the table instead, which holds only the conversations in progress.
-- Keep in step with ../sqlite/0031_conversations_hot.sql.
DROP INDEX conversations_idle;
-- Room on each page for the next version of its rows.
ALTER TABLE conversations SET (fillfactor = 50);
