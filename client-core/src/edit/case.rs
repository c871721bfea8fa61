//! Micro-power case edits: open a case for a catalog item, complete a step, record the public
//! notice, close with an outcome, void.

use zhibu_schema::mapping::{put_at, put_record_id};
use zhibu_schema::{Case, Code, Collection, Date, Notice, Prose, RecordId, Step, Voided};

use super::{NewCase, key_for};
use crate::error::ClientError;
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
        let message = format!("完成步骤：{}：{}", self.case_title(&key, case), self.step_name(&key, case, step));
        self.commit(&key, message, |tx, by| {
            let record = Step { done_on, by: by.clone(), note: note.cloned() };
            put_at(tx, &["cases", case.as_str(), "steps", step.as_str()], &record)
        })
    }

    /// Records the public notice (公示) of a case: where and for which days it was posted.
    pub fn record_notice(&self, case: &RecordId, notice: &Notice) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Cases, case)?;
        let message = format!("记录公示：{} {} 至 {}", self.case_title(&key, case), notice.from, notice.to);
        self.commit(&key, message, |tx, _| put_at(tx, &["cases", case.as_str(), "notice"], notice))
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
        t.phone.record_notice(&id, &notice).unwrap();
        t.phone.complete_step(&id, &code("notice"), d("2026-02-13"), None).unwrap();
        t.phone.complete_step(&id, &code("report_to_township"), d("2026-02-14"), None).unwrap();
        t.phone.close_case(&id, &text("已报乡镇审批"), d("2026-02-20")).unwrap();
        let case = t.phone.records(year()).unwrap().cases[&id].clone();
        assert_eq!(case.steps.len(), 4);
        assert_eq!(case.notice, Some(notice));
        assert_eq!(case.closed_on, Some(d("2026-02-20")));
        let gaps = t.phone.case_gaps(year(), d("2026-12-31")).unwrap();
        assert_eq!(gaps[0].gaps, vec![], "{:?}", gaps[0].described);
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
