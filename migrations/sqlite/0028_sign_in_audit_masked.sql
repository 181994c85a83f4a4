-- The sign-in audit keeps of a handle nobody has only its first character and length
-- (issue 21: people type passwords into the handle field). Events recorded before this
-- migration kept what was typed: masked here exactly as the desk now records them
-- (`desk::console::masked_handle`: "p…(12)"). A handle that is or was an engineer's
-- (one who left keeps theirs) stays as it is. Old events go after
-- [retention] sign_in_events (365 days), by the retention pass.
-- Keep in step with ../postgres/0028_sign_in_audit_masked.sql.
UPDATE sign_in_events
   SET handle = substr(handle, 1, 1) || '…(' || CAST(length(handle) AS TEXT) || ')'
 WHERE engineer_id IS NULL
   AND handle NOT IN (SELECT e.handle FROM engineers e);
