-- Early entries (提前录入): a meeting or case step dated after the day (China Standard Time) the
-- server first saw it, by how many days; NULL when it is not. Rows stored before are given it
-- here, as the projections would make them; a case step of a voided case is never early, as
-- it is never late.
ALTER TABLE p_meetings ADD COLUMN early_days BIGINT;
ALTER TABLE p_case_steps ADD COLUMN early_days BIGINT;

UPDATE p_meetings
SET early_days = CAST(julianday(held_on) - julianday(date(first_seen_at / 1000, 'unixepoch', '+8 hours')) AS INTEGER)
WHERE held_on > date(first_seen_at / 1000, 'unixepoch', '+8 hours');

UPDATE p_case_steps
SET early_days = CAST(julianday(done_on) - julianday(date(first_seen_at / 1000, 'unixepoch', '+8 hours')) AS INTEGER)
WHERE done_on > date(first_seen_at / 1000, 'unixepoch', '+8 hours')
  AND NOT EXISTS (
    SELECT 1 FROM p_cases c
    WHERE c.township_id = p_case_steps.township_id AND c.village_id = p_case_steps.village_id
      AND c.year = p_case_steps.year AND c.case_id = p_case_steps.case_id AND c.voided = 1
  );
