//! The built-in default catalog: DOMAIN.md's tables, kept as the same TOML file a township
//! would write, so the default doubles as the template for a township's own.

use std::sync::OnceLock;

use super::Catalog;

/// The text of the default catalog file.
pub const DEFAULT_CATALOG_TOML: &str = include_str!("../../catalog/default.toml");

impl Default for Catalog {
    fn default() -> Self {
        static DEFAULT: OnceLock<Catalog> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Catalog::from_toml_str(DEFAULT_CATALOG_TOML).expect("the built-in catalog is checked by its tests")
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cadence, Due, MeetingKind, NoticeRule, Quorum};

    #[test]
    fn every_domain_row_is_in_the_default() {
        let c = Catalog::default();
        assert_eq!(c.base_score, 100);
        assert_eq!(c.late_entry_days, 7);
        let rules: Vec<_> = c.point_rules.iter().map(|r| (r.code.as_str(), r.min, r.max)).collect();
        assert_eq!(
            rules,
            [
                ("attend_present", 0, 0),
                ("attend_absent", -2, -2),
                ("attend_makeup", 1, 1),
                ("dues_late", -2, -2),
                ("task_refused", -10, -10),
                ("discipline", -20, -5),
                ("volunteer", 1, 5),
                ("lead_prosperity", 2, 10),
                ("honour", 5, 10),
            ]
        );
        let req = |k| c.requirement(k).map(|r| (r.cadence, r.min_count, r.due, r.quorum));
        assert_eq!(req(MeetingKind::BranchAssembly), Some((Cadence::Quarter, 1, Due::All, Quorum::MajorityOfFull)));
        assert_eq!(
            req(MeetingKind::BranchCommittee),
            Some((Cadence::Month, 1, Due::Committee, Quorum::MajorityOfCommittee))
        );
        assert_eq!(req(MeetingKind::GroupMeeting), Some((Cadence::Month, 1, Due::Group, Quorum::None)));
        assert_eq!(req(MeetingKind::PartyLesson), Some((Cadence::Quarter, 1, Due::All, Quorum::None)));
        assert_eq!(req(MeetingKind::ThemeDay), Some((Cadence::Month, 1, Due::All, Quorum::None)));
        assert_eq!(req(MeetingKind::OrgLifeMeeting), Some((Cadence::Year, 1, Due::All, Quorum::None)));

        let steps =
            |code: &str| c.item(code).map(|i| i.steps.iter().map(|s| s.code.to_string()).collect::<Vec<_>>().join(","));
        let four_deliberations = "proposal,consultation,assembly_review,villager_resolution,resolution_notice";
        assert_eq!(steps("major_decision"), Some(format!("{four_deliberations},result_notice")));
        assert_eq!(steps("land_compensation"), Some(format!("{four_deliberations},result_notice")));
        assert_eq!(
            steps("project_bidding"),
            Some(format!("{four_deliberations},bidding,contract,acceptance,result_notice"))
        );
        assert_eq!(steps("asset_disposal"), Some(format!("{four_deliberations},appraisal,transaction,result_notice")));
        assert_eq!(steps("expense_approval").as_deref(), Some("application,supervisor_review,approval,finance_notice"));
        for code in ["subsistence_allowance", "relief_aid"] {
            assert_eq!(
                steps(code).as_deref(),
                Some("application,household_survey,democratic_review,notice,report_to_township")
            );
        }
        assert_eq!(steps("homestead").as_deref(), Some("application,qualification_review,notice,report_to_township"));
        assert_eq!(steps("certificate").as_deref(), Some("application,verification,issue"));
        assert_eq!(steps("seal_use").as_deref(), Some("application,approval,registration"));
        assert_eq!(c.items.len(), 10);
        let notice = |code: &str| c.item(code).map(|i| i.notice);
        assert_eq!(notice("major_decision"), Some(NoticeRule::Days { days: 7 }));
        assert_eq!(notice("expense_approval"), Some(NoticeRule::Monthly));
        assert_eq!(notice("certificate"), Some(NoticeRule::None));
        assert_eq!(notice("seal_use"), Some(NoticeRule::None));
    }
}
