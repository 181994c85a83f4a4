-- The sign-in lockout keeps of a handle nobody has only its shape, as the sign-in audit
-- does (issue 21; `desk::console::masked_handle`): failed sign-ins for such handles are
-- now counted under "p…(12)". Rows counted before under what was typed (a password,
-- perhaps) are dropped; they were at most a day old and locked no one's account.
-- Keep in step with ../sqlite/0030_sign_in_attempts_masked.sql.
DELETE FROM console_sign_in_attempts WHERE handle NOT IN (SELECT e.handle FROM engineers e);
