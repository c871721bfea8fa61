//! The consistency rules of a catalog. Each issue names where it is (a path that the file
//! loader turns into a line number) and says in Chinese what to fix.

use std::collections::HashSet;
use std::fmt;

use super::{ATTEND_ABSENT, ATTEND_MAKEUP, ATTEND_PRESENT, Catalog, Grade, NoticeRule, RuleSource};

/// Where in a catalog an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogPath {
    Field(&'static str),
    Grade(usize),
    Rule(usize),
    Meeting(usize),
    Item(usize),
    Step { item: usize, step: usize },
}

impl fmt::Display for CatalogPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogPath::Field(name) => f.write_str(name),
            CatalogPath::Grade(i) => write!(f, "grades[{i}]"),
            CatalogPath::Rule(i) => write!(f, "point_rules[{i}]"),
            CatalogPath::Meeting(i) => write!(f, "meetings[{i}]"),
            CatalogPath::Item(i) => write!(f, "items[{i}]"),
            CatalogPath::Step { item, step } => write!(f, "items[{item}].steps[{step}]"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogIssue {
    pub path: CatalogPath,
    pub message: String,
}

impl fmt::Display for CatalogIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}：{}", self.path, self.message)
    }
}

impl Catalog {
    /// Every inconsistency, in file order; empty when the catalog can be used.
    pub fn check(&self) -> Vec<CatalogIssue> {
        let mut issues = Vec::new();
        let mut issue = |path, message: String| issues.push(CatalogIssue { path, message });

        if !(0..=1000).contains(&self.base_score) {
            issue(CatalogPath::Field("base_score"), format!("基础分 {} 应在 0 到 1000 之间", self.base_score));
        }
        if self.case_deadline_days == 0 {
            issue(CatalogPath::Field("case_deadline_days"), "办结期限天数不能为 0".to_owned());
        }
        check_grades(self, &mut issue);
        check_rules(self, &mut issue);
        check_meetings(self, &mut issue);
        check_items(self, &mut issue);
        issues
    }
}

fn check_grades(c: &Catalog, issue: &mut impl FnMut(CatalogPath, String)) {
    let mut seen = HashSet::new();
    for (i, band) in c.grades.iter().enumerate() {
        if !seen.insert(band.grade) {
            issue(CatalogPath::Grade(i), format!("等次「{}」重复定义", band.grade.label()));
        }
        if let (Some(min), Some(max)) = (band.min, band.max)
            && min > max
        {
            issue(CatalogPath::Grade(i), format!("等次「{}」的下限 {min} 大于上限 {max}", band.grade.label()));
        }
    }
    for g in Grade::ALL {
        if !seen.contains(&g) {
            issue(CatalogPath::Field("grades"), format!("缺少等次「{}」({})", g.label(), g.code()));
        }
    }
    // Bands must tile all scores: one open at the bottom, one open at the top, each next band
    // starting right after the previous one ends.
    let mut order: Vec<usize> = (0..c.grades.len()).collect();
    order.sort_by_key(|&i| c.grades[i].min.map_or(i64::MIN, i64::from));
    for pair in order.windows(2) {
        let (a, b) = (&c.grades[pair[0]], &c.grades[pair[1]]);
        let (Some(a_max), Some(b_min)) = (a.max, b.min) else {
            issue(
                CatalogPath::Grade(pair[1]),
                format!("等次「{}」与「{}」的分数区间重叠", a.grade.label(), b.grade.label()),
            );
            continue;
        };
        if b_min <= a_max {
            issue(
                CatalogPath::Grade(pair[1]),
                format!("等次「{}」与「{}」的分数区间重叠", a.grade.label(), b.grade.label()),
            );
        } else if b_min > a_max + 1 {
            issue(
                CatalogPath::Grade(pair[1]),
                format!(
                    "等次「{}」与「{}」之间有空档（{} 到 {} 分不属于任何等次）",
                    a.grade.label(),
                    b.grade.label(),
                    a_max + 1,
                    b_min - 1
                ),
            );
        }
    }
    if let Some(&first) = order.first()
        && c.grades[first].min.is_some()
    {
        issue(CatalogPath::Grade(first), "最低的等次不应设下限，否则更低的分数没有等次".to_owned());
    }
    if let Some(&last) = order.last()
        && c.grades[last].max.is_some()
    {
        issue(CatalogPath::Grade(last), "最高的等次不应设上限，否则更高的分数没有等次".to_owned());
    }
}

fn check_rules(c: &Catalog, issue: &mut impl FnMut(CatalogPath, String)) {
    let attendance = [ATTEND_PRESENT, ATTEND_ABSENT, ATTEND_MAKEUP];
    let mut seen = HashSet::new();
    for (i, r) in c.point_rules.iter().enumerate() {
        let at = CatalogPath::Rule(i);
        if !seen.insert(r.code.as_str()) {
            issue(at, format!("积分规则代码「{}」重复", r.code));
        }
        if r.min > r.max {
            issue(at, format!("积分规则「{}」的下限 {} 大于上限 {}", r.code, r.min, r.max));
        }
        if r.min < -1000 || r.max > 1000 {
            issue(at, format!("积分规则「{}」的分值应在 -1000 到 1000 之间", r.code));
        }
        match r.source {
            RuleSource::Attendance if !attendance.contains(&r.code.as_str()) => {
                issue(at, format!("未知的出勤规则代码「{}」，出勤规则只能是 {}", r.code, attendance.join("、")))
            }
            RuleSource::Attendance if r.min != r.max => {
                issue(at, format!("出勤规则「{}」的分值应固定（下限等于上限）", r.code))
            }
            RuleSource::Manual if attendance.contains(&r.code.as_str()) => {
                issue(at, format!("「{}」是出勤规则，来源应为 attendance", r.code))
            }
            _ => {}
        }
    }
    for code in attendance {
        if !seen.contains(code) {
            issue(CatalogPath::Field("point_rules"), format!("缺少出勤规则「{code}」"));
        }
    }
}

fn check_meetings(c: &Catalog, issue: &mut impl FnMut(CatalogPath, String)) {
    let mut seen = HashSet::new();
    for (i, m) in c.meetings.iter().enumerate() {
        if !seen.insert(m.kind) {
            issue(CatalogPath::Meeting(i), format!("「{}」的要求重复定义", m.kind.label()));
        }
        if m.min_count == 0 {
            issue(
                CatalogPath::Meeting(i),
                format!("「{}」每期至少召开次数不能为 0（不作要求时删去该条）", m.kind.label()),
            );
        }
    }
}

fn check_items(c: &Catalog, issue: &mut impl FnMut(CatalogPath, String)) {
    let mut seen = HashSet::new();
    for (i, item) in c.items.iter().enumerate() {
        if !seen.insert(item.code.as_str()) {
            issue(CatalogPath::Item(i), format!("事项代码「{}」重复", item.code));
        }
        if item.steps.is_empty() {
            issue(CatalogPath::Item(i), format!("事项「{}」没有办理步骤", item.code));
        }
        if item.notice == (NoticeRule::Days { days: 0 }) {
            issue(CatalogPath::Item(i), format!("事项「{}」的公示天数不能为 0", item.code));
        }
        let mut steps = HashSet::new();
        for (j, step) in item.steps.iter().enumerate() {
            if !steps.insert(step.code.as_str()) {
                issue(
                    CatalogPath::Step { item: i, step: j },
                    format!("事项「{}」的步骤「{}」重复", item.code, step.code),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Code, Line, MeetingKind};

    fn messages(c: &Catalog) -> Vec<String> {
        c.check().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn overlapping_grades_are_refused() {
        let mut c = Catalog::default();
        c.grades[1].max = Some(92); // good 80..=92 overlaps excellent 90..
        assert_eq!(messages(&c), ["grades[0]：等次「良好」与「优秀」的分数区间重叠"]);
    }

    #[test]
    fn a_gap_between_grades_is_refused() {
        let mut c = Catalog::default();
        c.grades[1].min = Some(82);
        assert_eq!(messages(&c), ["grades[1]：等次「合格」与「良好」之间有空档（80 到 81 分不属于任何等次）"]);
    }

    #[test]
    fn a_missing_grade_is_refused() {
        let mut c = Catalog::default();
        c.grades.remove(0);
        c.grades[0].min = Some(80);
        c.grades[0].max = None;
        assert_eq!(messages(&c), ["grades：缺少等次「优秀」(excellent)"]);
    }

    #[test]
    fn unknown_attendance_rules_are_refused() {
        let mut c = Catalog::default();
        c.point_rules[0].code = Code::parse("attend_late").expect("code");
        let m = messages(&c);
        assert!(m[0].starts_with("point_rules[0]：未知的出勤规则代码「attend_late」"), "{m:?}");
        assert_eq!(m[1], "point_rules：缺少出勤规则「attend_present」");
    }

    #[test]
    fn rule_ranges_must_be_ordered_and_codes_unique() {
        let mut c = Catalog::default();
        c.point_rules[5].min = 3;
        c.point_rules[6].code = c.point_rules[4].code.clone();
        assert_eq!(
            messages(&c),
            [
                "point_rules[5]：积分规则「discipline」的下限 3 大于上限 -5",
                "point_rules[6]：积分规则代码「task_refused」重复"
            ]
        );
    }

    #[test]
    fn an_item_without_steps_is_refused() {
        let mut c = Catalog::default();
        c.items[8].steps.clear();
        assert_eq!(messages(&c), ["items[8]：事项「certificate」没有办理步骤"]);
    }

    #[test]
    fn duplicate_steps_and_items_are_refused() {
        let mut c = Catalog::default();
        let step = c.items[9].steps[0].clone();
        c.items[9].steps.push(step);
        c.items[9].name = Line::parse("印章").expect("line");
        c.items[8].code = c.items[9].code.clone();
        assert_eq!(
            messages(&c),
            ["items[9]：事项代码「seal_use」重复", "items[9].steps[3]：事项「seal_use」的步骤「application」重复"]
        );
    }

    #[test]
    fn duplicate_meeting_requirements_are_refused() {
        let mut c = Catalog::default();
        c.meetings[1].kind = MeetingKind::BranchAssembly;
        assert_eq!(messages(&c), ["meetings[1]：「支部党员大会」的要求重复定义"]);
    }
}
