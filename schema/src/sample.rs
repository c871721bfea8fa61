//! Realistic sample data: rosters with Chinese names, party groups, a committee and some
//! probationary members. Used by the server's demo township, benchmarks and tests, so they all
//! exercise the same shapes of data.

use crate::{Date, Member, MemberId, MemberStatus, Name, VillageId, VillageYear, Year};

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马",
    "罗",
];
const GIVEN: [&str; 24] = [
    "建国", "秀英", "志强", "桂兰", "春生", "玉梅", "德明", "海燕", "国庆", "淑珍", "永红", "卫东", "丽华", "俊杰",
    "晓燕", "文斌", "金凤", "长青", "明亮", "红梅", "大勇", "素芳", "富贵", "新民",
];

/// A roster of `size` members in `groups` party groups (1 to 9): the first members sit on the
/// committee (3, or 5 when there are 30 or more members), about one in eight is probationary.
/// The same arguments always give the same roster.
pub fn roster(village: &VillageId, year: Year, size: usize, groups: usize) -> VillageYear {
    let mut doc = VillageYear::new(village.clone(), year);
    let groups = groups.clamp(1, 9);
    let committee = if size >= 30 { 5 } else { 3 };
    let group_names = [
        "第一党小组",
        "第二党小组",
        "第三党小组",
        "第四党小组",
        "第五党小组",
        "第六党小组",
        "第七党小组",
        "第八党小组",
        "第九党小组",
    ];
    for i in 0..size {
        let id = MemberId::parse(&format!("{village}-m{:02}", i + 1)).expect("ids from a valid village id are valid");
        let name = format!("{}{}", SURNAMES[(i * 7 + 3) % SURNAMES.len()], GIVEN[(i * 5 + 1) % GIVEN.len()]);
        let status = if i % 8 == 7 { MemberStatus::Probationary } else { MemberStatus::Full };
        let mut m = Member::new(Name::parse(&name).expect("sample names are valid"), status);
        m.group = Some(Name::parse(group_names[i % groups]).expect("valid"));
        m.committee = i < committee;
        let joined = 1975 + (i * 13) % 48;
        m.joined_on = Some(Date::parse(&format!("{joined}-07-01")).expect("valid date"));
        doc.members.insert(id, m);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosters_are_realistic_and_repeatable() {
        let v = VillageId::parse("demo-1").expect("id");
        let y = Year::new(2026).expect("year");
        let a = roster(&v, y, 32, 3);
        assert_eq!(a, roster(&v, y, 32, 3));
        assert_eq!(a.members.len(), 32);
        assert_eq!(a.members.values().filter(|m| m.committee).count(), 5);
        let prob = a.members.values().filter(|m| m.status == MemberStatus::Probationary).count();
        assert_eq!(prob, 4);
        let groups: std::collections::BTreeSet<_> = a.members.values().filter_map(|m| m.group.clone()).collect();
        assert_eq!(groups.len(), 3);
    }
}
