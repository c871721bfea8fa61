-- The day a member left the branch, when known: a member who left during the year is counted
-- apart in the township's report (年内离开) and not graded, nor counted in the branch's
-- 党员人数 once gone. Filled from the records, like every projection: the rows' format moves
-- on with this column (`projections::rows_digest`), so the documents stored before get it when
-- the server starts (`push::catch_up`).
ALTER TABLE p_members ADD COLUMN left_on TEXT;
