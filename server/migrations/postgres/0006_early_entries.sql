-- Early entries (提前录入): a meeting or case step dated after the day (China Standard Time) the
-- server first saw it, by how many days; NULL when it is not. Rows stored before are given it
-- here, as the projections would make them; a case step of a voided case is never early, as
-- it is never late.
ALTER TABLE p_meetings ADD COLUMN early_days BIGINT;
ALTER TABLE p_case_steps ADD COLUMN early_days BIGINT;

UPDATE p_meetings
SET early_days = held_on::date - (to_timestamp((first_seen_at + 28800000) / 1000.0) AT TIME ZONE 'UTC')::date
WHERE held_on::date > (to_timestamp((first_seen_at + 28800000) / 1000.0) AT TIME ZONE 'UTC')::date;

UPDATE p_case_steps s
SET early_days = s.done_on::date - (to_timestamp((s.first_seen_at + 28800000) / 1000.0) AT TIME ZONE 'UTC')::date
WHERE s.done_on::date > (to_timestamp((s.first_seen_at + 28800000) / 1000.0) AT TIME ZONE 'UTC')::date
  AND NOT EXISTS (
    SELECT 1 FROM p_cases c
    WHERE c.township_id = s.township_id AND c.village_id = s.village_id
      AND c.year = s.year AND c.case_id = s.case_id AND c.voided = 1
  );
