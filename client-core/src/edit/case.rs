//! Micro-power case edits: open a case for a catalog item, complete a step, record the public
//! notice, close with an outcome, void.

use automerge::transaction::Transaction;
use zhibu_schema::mapping::{WriteError, put_at, put_record_id, replace_at, string_at};
use zhibu_schema::{AccountId, Case, Code, Collection, Date, Notice, Prose, RecordId, Rule, Step, Violation, Voided};

use super::{NewCase, key_for, map_at};
use crate::error::{ClientError, EditRefusal};
use crate::{DocKey, Phone};

impl Phone {
    /// Opens a case of a catalog item, in the document of the year it was opened. Refused when
    /// the item is not in the catalog. Returns the case's id.
    pub fn open_case(&self, case: &NewCase) -> Result<RecordId, ClientError> {
        let key = key_for(self, case.opened_on, Collection::Cases, "opened_on")?;
        let id = RecordId::new_v7();
        let item =
            self.catalog().item(case.item.as_str()).map_or_else(|| case.item.to_string(), |i| i.name.to_string());
        let record = Case {
            applicant: case.applicant.clone(),
            ..Case::new(case.item.clone(), case.title.clone(), case.opened_on)
        };
        self.commit(&key, format!("立项：{item}：{}", case.title), |tx, _| {
            put_record_id(tx, Collection::Cases, &id, &record)
        })?;
        Ok(id)
    }

    /// Records that a step of the case's procedure was done. Refused when the step does not
    /// belong to the case's item.
    pub fn complete_step(
        &self,
        case: &RecordId,
        step: &Code,
        done_on: Date,
        note: Option<&Prose>,
    ) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Cases, case)?;
        // A step recorded by its day is no longer the one taken at a meeting.
        self.put_step(&key, case, step, (done_on, None), note)
    }

    /// Writes a step done on a day (at a meeting, or at none), merged into the step recorded
    /// before when its day is corrected: the note written then stays unless a new one is given.
    fn put_step(
        &self,
        key: &DocKey,
        case: &RecordId,
        step: &Code,
        (done_on, meeting): (Date, Option<&RecordId>),
        note: Option<&Prose>,
    ) -> Result<(), ClientError> {
        let message = format!("完成步骤：{}：{}", self.case_title(key, case), self.step_name(key, case, step));
        let earlier = self.recorded_step(key, case, step)?;
        self.commit(key, message, |tx, by| {
            let mut fields = serde_json::json!({"done_on": done_on, "by": by, "meeting": meeting});
            if let Some(note) = note {
                fields["note"] = serde_json::json!(note);
            }
            write_step(tx, case, step, by, earlier.as_ref(), fields)
        })
    }

    /// The step as recorded now, if it is.
    fn recorded_step(&self, key: &DocKey, case: &RecordId, step: &Code) -> Result<Option<Step>, ClientError> {
        self.with(|inner| Ok(inner.records(key)?.cases.get(case).and_then(|c| c.steps.get(step)).cloned()))
    }

    /// Records that a step was taken at a meeting (党员大会审议 at the branch assembly that
    /// reviewed the matter), on the meeting's day: the township then sees whether that meeting
    /// is valid (recorded, not voided, with its quorum). Without it, a meeting of the step's
    /// kind held on the step's day is taken.
    pub fn complete_step_at_meeting(
        &self,
        case: &RecordId,
        step: &Code,
        meeting: &RecordId,
        note: Option<&Prose>,
    ) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Cases, case)?;
        let held =
            self.with(|inner| Ok(inner.records(&key)?.meetings.get(meeting).map(|m| (m.held_on, m.voided.is_some()))))?;
        let held_on = match held {
            Some((_, true)) => {
                let message = format!("会议 {meeting} 已作废，不能作为这一步所在的会议");
                return Err(refused(case, format!("steps.{step}.meeting"), Rule::BadValue, message));
            }
            Some((day, false)) => day,
            None => {
                return Err(ClientError::NoSuchRecord {
                    collection: Collection::Meetings,
                    id: format!("{meeting}（须与事项同一年）"),
                });
            }
        };
        self.put_step(&key, case, step, (held_on, Some(meeting)), note)
    }

    /// Records the public notice (公示) of a case: where and for which days it was posted. See
    /// [`Phone::record_notice_at`]; this takes the step for itself.
    pub fn record_notice(&self, case: &RecordId, notice: &Notice) -> Result<Option<Code>, ClientError> {
        self.record_notice_at(case, None, notice)
    }

    /// Records a public notice (公示) of a case: where and for which days it was posted. Where
    /// the item's procedure has notice steps (公示、决议公开、实施结果公开、财务公开), the notice is
    /// that step, done on its first day, in the same change: `step`, or else the first notice
    /// step whose notice is not recorded yet, so the cadre enters it once. For an item without
    /// notice steps it is the case's own notice. Returns the step recorded.
    pub fn record_notice_at(
        &self,
        case: &RecordId,
        step: Option<&Code>,
        notice: &Notice,
    ) -> Result<Option<Code>, ClientError> {
        let key = self.locate_live(Collection::Cases, case)?;
        if notice.to < notice.from {
            let message = format!("公示结束日期 {} 早于开始日期 {}", notice.to, notice.from);
            return Err(refused(case, "notice".to_owned(), Rule::DateOrder, message));
        }
        let record = self.with(|inner| Ok(inner.records(&key)?.cases.get(case).cloned()))?;
        let catalog = self.catalog();
        let item = record.as_ref().and_then(|c| catalog.item(c.item.as_str()));
        let notice_steps: Vec<&Code> = item.map(|i| i.notice_steps().map(|s| &s.code).collect()).unwrap_or_default();
        let step = match step {
            Some(step) if notice_steps.contains(&step) => Some(step.clone()),
            Some(step) => {
                let names: Vec<String> =
                    item.map(|i| i.notice_steps().map(|s| s.name.to_string()).collect()).unwrap_or_default();
                let which = if names.is_empty() {
                    "这个事项没有公示步骤".to_owned()
                } else {
                    format!("公示步骤是：{}", names.join("、"))
                };
                let message = format!("「{}」不是公示步骤（{which}）", self.step_name(&key, case, step));
                return Err(refused(case, format!("steps.{step}"), Rule::UnknownStep, message));
            }
            None => {
                // The notice steps whose days are not recorded yet: not done, or done (`zhibu
                // case step`, or before notices had their days on the step) without them.
                let step_of = |code: &Code| record.as_ref().and_then(|c| c.steps.get(code));
                let without_days: Vec<&Code> = notice_steps
                    .iter()
                    .copied()
                    .filter(|code| step_of(code).is_none_or(|s| s.until.is_none()))
                    .collect();
                // One done on the notice's first day, else the first not done yet; one done on
                // another day is named with `step`, never moved to another day unasked.
                let done_that_day =
                    without_days.iter().find(|code| step_of(code).is_some_and(|s| s.done_on == notice.from));
                let not_done = without_days.iter().find(|code| step_of(code).is_none());
                match done_that_day.or(not_done) {
                    Some(code) => Some((*code).clone()),
                    None if !without_days.is_empty() => {
                        let names: Vec<String> = without_days
                            .iter()
                            .filter_map(|code| {
                                let done = step_of(code)?;
                                Some(format!(
                                    "「{}」（{code}，{} 办理）",
                                    self.step_name(&key, case, code),
                                    done.done_on
                                ))
                            })
                            .collect();
                        let message = format!(
                            "{}还没有公示期，办理日期与公示开始日期 {} 不同；要把公示期记在哪一步（其日期随之改为公示开始日期），请写明步骤",
                            names.join("、"),
                            notice.from
                        );
                        return Err(refused(case, "steps".to_owned(), Rule::DateOrder, message));
                    }
                    None if notice_steps.is_empty() => None,
                    None => {
                        let names: Vec<String> = item
                            .map(|i| i.notice_steps().map(|s| format!("{}（{}）", s.name, s.code)).collect())
                            .unwrap_or_default();
                        let message =
                            format!("各公示步骤都已办理，要记下或更正哪一步的公示期请写明：{}", names.join("、"));
                        return Err(refused(case, "steps".to_owned(), Rule::MissingField, message));
                    }
                }
            }
        };
        let title = self.case_title(&key, case);
        match &step {
            Some(code) => {
                let message =
                    format!("记录公示：{title}：{} {} 至 {}", self.step_name(&key, case, code), notice.from, notice.to);
                let legacy = record.as_ref().is_some_and(|c| c.notice.is_some());
                let earlier = record.as_ref().and_then(|c| c.steps.get(code)).cloned();
                self.commit(&key, message, |tx, by| {
                    // Merged into the step: a note written with it before stays.
                    let mut fields = serde_json::json!({"done_on": notice.from, "by": by, "until": notice.to});
                    if let Some(place) = &notice.place {
                        fields["place"] = serde_json::json!(place);
                    }
                    write_step(tx, case, code, by, earlier.as_ref(), fields)?;
                    // A notice recorded on the case before steps had their days is this one,
                    // corrected: it would otherwise keep being measured.
                    if legacy {
                        put_at(tx, &["cases", case.as_str(), "notice"], &None::<Notice>)?;
                    }
                    Ok(())
                })?;
            }
            None => {
                let message = format!("记录公示：{title} {} 至 {}", notice.from, notice.to);
                self.commit(&key, message, |tx, _| put_at(tx, &["cases", case.as_str(), "notice"], notice))?;
            }
        }
        Ok(step)
    }

    /// Closes a case with its outcome.
    pub fn close_case(&self, case: &RecordId, outcome: &Prose, closed_on: Date) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Cases, case)?;
        self.commit(&key, format!("办结：{}", self.case_title(&key, case)), |tx, _| {
            put_at(tx, &["cases", case.as_str(), "outcome"], outcome)?;
            put_at(tx, &["cases", case.as_str(), "closed_on"], &closed_on)
        })
    }

    /// Voids a case: it stays in the record with the reason and no longer counts.
    pub fn void_case(&self, case: &RecordId, reason: &Prose) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Cases, case)?;
        self.commit(&key, format!("作废事项：{}（{reason}）", self.case_title(&key, case)), |tx, by| {
            put_at(tx, &["cases", case.as_str(), "voided"], &Voided { reason: reason.clone(), by: by.clone() })
        })
    }

    fn case_title(&self, key: &DocKey, case: &RecordId) -> String {
        self.text(key, &["cases", case.as_str(), "title"]).unwrap_or_else(|| case.to_string())
    }

    fn step_name(&self, key: &DocKey, case: &RecordId, step: &Code) -> String {
        let item = self.text(key, &["cases", case.as_str(), "item"]).unwrap_or_default();
        self.catalog()
            .item(&item)
            .and_then(|i| i.step(step).map(|(_, s)| s.name.to_string()))
            .unwrap_or_else(|| step.to_string())
    }
}

/// A case edit refused before anything is written.
/// Writes a step's `fields`: merged into the step recorded before when this cadre recorded it
/// (a note written then stays), or else as the step made anew under this cadre's name, with what
/// the earlier one said and `fields` does not (its note, its notice's days): an entry is its
/// maker's, and the server refuses another account's writes into it.
fn write_step(
    tx: &mut Transaction<'_>,
    case: &RecordId,
    step: &Code,
    by: &AccountId,
    earlier: Option<&Step>,
    fields: serde_json::Value,
) -> Result<(), WriteError> {
    let path = ["cases", case.as_str(), "steps", step.as_str()];
    // Whose the step is in the document as it is now (a sync may have come in since `earlier`
    // was read).
    let maker = map_at(&*tx, &path).and_then(|o| string_at(&*tx, &o, "by"));
    if maker.as_ref().is_some_and(|m| m != by.as_str()) {
        // Another's: made anew, with what it said (when this phone had read it).
        let mut all = match earlier {
            Some(earlier) => serde_json::to_value(earlier)?,
            None => serde_json::json!({}),
        };
        if let (Some(all), serde_json::Value::Object(fields)) = (all.as_object_mut(), fields) {
            all.extend(fields);
        }
        replace_at(tx, &path, &all)
    } else {
        put_at(tx, &path, &fields)
    }
}

fn refused(case: &RecordId, field: String, rule: Rule, message: String) -> ClientError {
    ClientError::Refused(EditRefusal {
        violations: vec![Violation::new(Collection::Cases, case.as_str(), field, rule, message)],
    })
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{CaseGap, Name};

    use super::*;
    use crate::testutil::*;

    fn homestead() -> NewCase {
        NewCase {
            item: code("homestead"),
            title: text("李家宅基地申请"),
            opened_on: d("2026-02-01"),
            applicant: Some(Name::parse("李志强").unwrap()),
        }
    }

    #[test]
    fn a_case_goes_through_its_steps_notice_and_closing() {
        let t = cadre_phone();
        let id = t.phone.open_case(&homestead()).unwrap();
        assert_eq!(history(&t.phone).1.as_deref(), Some("立项：宅基地申请：李家宅基地申请"));
        t.phone.complete_step(&id, &code("application"), d("2026-02-01"), None).unwrap();
        t.phone
            .complete_step(&id, &code("qualification_review"), d("2026-02-05"), Some(&text("符合一户一宅")))
            .unwrap();
        assert_eq!(history(&t.phone).1.as_deref(), Some("完成步骤：李家宅基地申请：资格审查"));
        let notice =
            Notice { from: d("2026-02-06"), to: d("2026-02-12"), place: Some(Name::parse("村务公开栏").unwrap()) };
        // The notice is the procedure's 公示 step, entered once.
        assert_eq!(t.phone.record_notice(&id, &notice).unwrap(), Some(code("notice")));
        assert_eq!(history(&t.phone).1.as_deref(), Some("记录公示：李家宅基地申请：公示 2026-02-06 至 2026-02-12"));
        t.phone.complete_step(&id, &code("report_to_township"), d("2026-02-14"), None).unwrap();
        t.phone.close_case(&id, &text("已报乡镇审批"), d("2026-02-20")).unwrap();
        let case = t.phone.records(year()).unwrap().cases[&id].clone();
        assert_eq!(case.steps.len(), 4);
        assert_eq!(case.steps[&code("notice")].notice(), Some(notice));
        assert_eq!(case.notice, None);
        assert_eq!(case.closed_on, Some(d("2026-02-20")));
        let gaps = t.phone.case_gaps(year(), d("2026-12-31")).unwrap();
        assert_eq!(gaps[0].gaps, vec![], "{:?}", gaps[0].described);
    }

    #[test]
    fn the_two_notices_of_a_major_decision_are_its_two_notice_steps() {
        let t = cadre_phone();
        let major = NewCase { item: code("major_decision"), title: text("修建村道"), ..homestead() };
        let id = t.phone.open_case(&major).unwrap();
        for (step, day) in [("proposal", 2), ("consultation", 3), ("villager_resolution", 6)] {
            t.phone.complete_step(&id, &code(step), d(&format!("2026-02-{day:02}")), None).unwrap();
        }
        // The review at an assembly every member attended.
        let mut assembly =
            zhibu_schema::Meeting::new(zhibu_schema::MeetingKind::BranchAssembly, d("2026-02-05"), text("审议"));
        for m in t.phone.records(year()).unwrap().members.keys() {
            assembly.attendance.insert(m.clone(), zhibu_schema::Attendance::present());
        }
        let meeting = t.phone.record_meeting(&assembly).unwrap();
        t.phone.complete_step_at_meeting(&id, &code("assembly_review"), &meeting, None).unwrap();
        // 决议公开 recorded as a step first, with a note; its days later, on the step's day.
        t.phone.complete_step(&id, &code("resolution_notice"), d("2026-02-07"), Some(&text("贴在公开栏"))).unwrap();
        let resolution = Notice { from: d("2026-02-07"), to: d("2026-02-13"), place: None };
        assert_eq!(t.phone.record_notice(&id, &resolution).unwrap(), Some(code("resolution_notice")));
        // Its day corrected: the note stays.
        t.phone.complete_step(&id, &code("resolution_notice"), d("2026-02-07"), None).unwrap();
        let step = t.phone.records(year()).unwrap().cases[&id].steps[&code("resolution_notice")].clone();
        assert_eq!(step.note.as_ref().map(|n| n.as_str()), Some("贴在公开栏"));
        // The result notice, four days only: the township sees it is short.
        let result = Notice { from: d("2026-03-01"), to: d("2026-03-04"), place: None };
        assert_eq!(t.phone.record_notice(&id, &result).unwrap(), Some(code("result_notice")));
        let gaps = t.phone.case_gaps(year(), d("2026-03-05")).unwrap();
        let gap = CaseGap::NoticeTooShort { days: 4, required: 7, step: Some(code("result_notice")) };
        assert_eq!(gaps[0].gaps, [gap]);
        assert_eq!(gaps[0].described, ["「实施结果公开」只公示了 4 天，应不少于 7 天"]);
        // Both recorded: a correction names its step.
        assert_refused(&t, "要记下或更正哪一步的公示期请写明", |p| p.record_notice(&id, &result));
        let longer = Notice { to: d("2026-03-07"), ..result };
        t.phone.record_notice_at(&id, Some(&code("result_notice")), &longer).unwrap();
        assert!(t.phone.case_gaps(year(), d("2026-03-08")).unwrap()[0].gaps.is_empty());
        assert_refused(
            &t,
            "「两委商议」不是公示步骤（公示步骤是：决议公开、实施结果公开）",
            |p| p.record_notice_at(&id, Some(&code("consultation")), &longer),
        );
    }

    #[test]
    fn a_notice_recorded_on_the_case_before_is_replaced_by_its_step() {
        let t = cadre_phone();
        let id = t.phone.open_case(&homestead()).unwrap();
        t.phone.complete_step(&id, &code("application"), d("2026-02-01"), None).unwrap();
        // As an earlier version recorded it: the step done, and three days on the case itself.
        t.phone.complete_step(&id, &code("notice"), d("2026-02-06"), None).unwrap();
        let key = t.phone.locate(Collection::Cases, &id).unwrap();
        let short = Notice { from: d("2026-02-06"), to: d("2026-02-08"), place: None };
        t.phone.commit(&key, "记录公示".into(), |tx, _| put_at(tx, &["cases", id.as_str(), "notice"], &short)).unwrap();
        // Corrected now: the step done on the notice's first day takes it; the case's own is gone.
        let week = Notice { to: d("2026-02-12"), ..short };
        assert_eq!(t.phone.record_notice(&id, &week).unwrap(), Some(code("notice")));
        let case = t.phone.records(year()).unwrap().cases[&id].clone();
        assert_eq!((case.notice.as_ref(), case.steps[&code("notice")].notice()), (None, Some(week)));
        let gaps = t.phone.case_gaps(year(), d("2026-02-13")).unwrap();
        assert!(!gaps[0].gaps.iter().any(|g| matches!(g, CaseGap::NoticeTooShort { .. })), "{:?}", gaps[0].described);
    }

    /// `zhibu case step ID notice` first, as its own hint allows, and the notice's days after:
    /// the step done without them is the one they go to, moved to another day only when named.
    #[test]
    fn a_notice_step_done_without_its_days_takes_them_later() {
        let t = cadre_phone();
        let week = Notice { from: d("2026-02-06"), to: d("2026-02-12"), place: None };
        let reversed = Notice { from: week.to, to: week.from, place: None };
        let id = t.phone.open_case(&homestead()).unwrap();
        assert_refused(&t, "公示结束日期 2026-02-06 早于开始日期 2026-02-12", |p| {
            p.record_notice(&id, &reversed)
        });
        t.phone.complete_step(&id, &code("notice"), d("2026-02-06"), None).unwrap();
        assert_eq!(t.phone.record_notice(&id, &week).unwrap(), Some(code("notice")));
        assert_eq!(t.phone.records(year()).unwrap().cases[&id].steps[&code("notice")].notice(), Some(week.clone()));

        let other = t.phone.open_case(&homestead()).unwrap();
        t.phone.complete_step(&other, &code("notice"), d("2026-02-05"), None).unwrap();
        assert_refused(
            &t,
            "「公示」（notice，2026-02-05 办理）还没有公示期，办理日期与公示开始日期 2026-02-06 不同",
            |p| p.record_notice(&other, &week),
        );
        t.phone.record_notice_at(&other, Some(&code("notice")), &week).unwrap();
        let step = t.phone.records(year()).unwrap().cases[&other].steps[&code("notice")].clone();
        assert_eq!((step.done_on, step.notice()), (d("2026-02-06"), Some(week)));
    }

    #[test]
    fn the_assembly_review_is_taken_at_a_recorded_assembly() {
        let t = cadre_phone();
        let major = NewCase { item: code("major_decision"), title: text("修建村道"), ..homestead() };
        let id = t.phone.open_case(&major).unwrap();
        t.phone.complete_step(&id, &code("proposal"), d("2026-02-02"), None).unwrap();
        t.phone.complete_step(&id, &code("consultation"), d("2026-02-03"), None).unwrap();
        t.phone.complete_step(&id, &code("assembly_review"), d("2026-02-05"), None).unwrap();
        let described = |t: &TestPhone| t.phone.case_gaps(year(), d("2026-02-06")).unwrap()[0].described.clone();
        assert_eq!(described(&t), ["「党员大会审议」当天没有支部党员大会的会议记录"]);
        // The assembly, recorded with everyone present, held on the 4th: named, the step takes
        // its day.
        let mut assembly = zhibu_schema::Meeting::new(
            zhibu_schema::MeetingKind::BranchAssembly,
            d("2026-02-04"),
            text("审议修建村道"),
        );
        for m in t.phone.records(year()).unwrap().members.keys() {
            assembly.attendance.insert(m.clone(), zhibu_schema::Attendance::present());
        }
        let meeting = t.phone.record_meeting(&assembly).unwrap();
        t.phone.complete_step_at_meeting(&id, &code("assembly_review"), &meeting, None).unwrap();
        let step = t.phone.records(year()).unwrap().cases[&id].steps[&code("assembly_review")].clone();
        assert_eq!((step.done_on, step.meeting.as_ref()), (d("2026-02-04"), Some(&meeting)));
        assert!(described(&t).is_empty(), "{:?}", described(&t));
        t.phone.void_meeting(&meeting, &text("录错")).unwrap();
        assert_eq!(described(&t), ["「党员大会审议」关联的支部党员大会会议记录已作废"]);
        assert_refused(&t, "已作废，不能作为这一步所在的会议", |p| {
            p.complete_step_at_meeting(&id, &code("assembly_review"), &meeting, None)
        });
    }

    #[test]
    fn items_and_steps_come_from_the_catalog() {
        let t = cadre_phone();
        let bad = NewCase { item: code("fishing_rights"), ..homestead() };
        assert_refused(&t, "事项「fishing_rights」不在本乡镇的小微权力清单中", |p| p.open_case(&bad));
        let id = t.phone.open_case(&homestead()).unwrap();
        assert_refused(&t, "步骤「bidding」不属于事项「宅基地申请」", |p| {
            p.complete_step(&id, &code("bidding"), d("2026-02-02"), None)
        });
        assert_refused(&t, "早于立项日期", |p| p.complete_step(&id, &code("application"), d("2026-01-02"), None));
        let backwards = Notice { from: d("2026-02-10"), to: d("2026-02-08"), place: None };
        assert_refused(&t, "公示结束日期 2026-02-08 早于开始日期 2026-02-10", |p| {
            p.record_notice(&id, &backwards)
        });
        assert_refused(&t, "办结日期 2026-01-15 早于立项日期", |p| {
            p.close_case(&id, &text("x"), d("2026-01-15"))
        });
    }

    #[test]
    fn gaps_show_a_skipped_step_and_a_voided_case_is_left_alone() {
        let t = cadre_phone();
        let id = t.phone.open_case(&homestead()).unwrap();
        t.phone.complete_step(&id, &code("notice"), d("2026-02-10"), None).unwrap();
        let gaps = t.phone.case_gaps(year(), d("2026-02-11")).unwrap();
        assert_eq!(gaps[0].gaps[0], CaseGap::MissingStep { step: code("application") });
        assert_eq!(gaps[0].described[0], "缺少步骤「申请」");
        t.phone.void_case(&id, &text("申请人撤回")).unwrap();
        assert!(t.phone.case_gaps(year(), d("2026-02-11")).unwrap().is_empty());
        assert_refused(&t, "已作废", |p| p.complete_step(&id, &code("application"), d("2026-02-02"), None));
    }
}
