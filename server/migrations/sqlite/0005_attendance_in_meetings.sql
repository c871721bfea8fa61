-- A meeting's attendance moves into one column of its p_meetings row: a JSON object by member
-- id, each member's {"status": ..., "makeup_on": ...} (makeup_on only when set). A push used to
-- write a row per member of each meeting it touched, 160 of its 280 projection rows for a
-- month, each a B-tree insert of its own; now it writes a row per meeting. The p_attendance
-- view gives the same rows, with the same columns, as the table it replaces.
ALTER TABLE p_meetings ADD COLUMN attendance TEXT NOT NULL DEFAULT '{}';

UPDATE p_meetings SET attendance = coalesce((
    SELECT json_group_object(member_id, json(cell))
    FROM (
        SELECT a.member_id,
               CASE WHEN a.makeup_on IS NULL THEN json_object('status', a.status)
                    ELSE json_object('status', a.status, 'makeup_on', a.makeup_on) END AS cell
        FROM p_attendance a
        WHERE a.township_id = p_meetings.township_id AND a.village_id = p_meetings.village_id
          AND a.year = p_meetings.year AND a.meeting_id = p_meetings.meeting_id
        ORDER BY a.member_id
    )
), '{}');

DROP TABLE p_attendance;

CREATE VIEW p_attendance AS
SELECT m.township_id, m.village_id, m.year, m.meeting_id, a.key AS member_id,
       json_extract(a.value, '$.status') AS status, json_extract(a.value, '$.makeup_on') AS makeup_on
FROM p_meetings m, json_each(m.attendance) a;
