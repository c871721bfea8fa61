//! The township report as files Excel and WPS open: CSV in UTF-8 with a byte-order mark (so
//! the Chinese shows correctly when double-clicked) and XLSX with one sheet per section.

use rust_xlsxwriter::{Format, Workbook};
use zhibu_schema::{MeetingKind, Period, PeriodState};

use crate::db::report::{TownshipReport, dated_in};
// People read the files: times in China Standard Time, as the pages show them (the JSON report
// keeps RFC 3339 in UTC for programs).
use crate::pages::clock::format_rfc3339;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A period as people write it: 2026 年第三季度, 2026 年 3 月, 2026 年全年.
fn period_label(code: &str) -> String {
    match Period::parse(code) {
        Some((year, period)) => format!("{year} 年{}", period.label()),
        None => code.to_owned(),
    }
}

fn state_label(s: PeriodState) -> &'static str {
    match s {
        PeriodState::Met => "达标",
        PeriodState::Missing => "未达标",
        PeriodState::Pending => "进行中",
        PeriodState::Future => "未开始",
    }
}

/// The summary table: one row per village.
fn summary_rows(report: &TownshipReport) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["村".to_owned(), "村名".to_owned()];
    for k in MeetingKind::ALL {
        // Valid meetings counted toward the requirement (at most each period's), of those
        // required: six in one group's quarter do not make up for none in another's.
        // The heading as before, for whoever finds the column by it; the cells no longer "1/3",
        // which Excel and WPS read as a date in a CSV.
        header.push(format!("{}（达标次数/应开）", k.label()));
    }
    header.extend(
        [
            "未达标项数",
            "法定人数不足的会议",
            "补录条数",
            "有缺项的事项",
            "党员人数",
            "优秀",
            "良好",
            "合格",
            "不合格",
            "未评定（预备党员）",
            "最近同步（北京时间）",
            "提前录入条数",
            "未记考勤的会议",
            "同步后改动的会议",
            "记录矛盾",
            "疑似重复录入",
            "年内离开（不评定）",
            "已离开人数",
        ]
        .map(str::to_owned),
    );
    let rows = report
        .villages
        .iter()
        .map(|v| {
            let mut row = vec![v.village_id.clone(), v.name.clone()];
            for k in MeetingKind::ALL {
                let of_kind = || v.summary.iter().filter(|s| s.kind == k);
                let (counted, required) = of_kind().fold((0, 0), |(a, b), s| (a + s.counted, b + s.required));
                // A period still under way is not yet missed: said, so 0/1 of a quarter that has
                // weeks to go does not read like one that ended without its meeting.
                let under_way = counted < required && !of_kind().any(|s| s.behind) && of_kind().any(|s| s.pending);
                // Nothing stored for the year says nothing was required: it must not read 0/0.
                row.push(match (v.has_records, under_way) {
                    (false, _) => "无记录".to_owned(),
                    (true, true) => format!("{counted}（应开 {required}，进行中）"),
                    (true, false) => format!("{counted}（应开 {required}）"),
                });
            }
            let quorum: usize = v.summary.iter().map(|s| s.quorum_failures.len()).sum();
            let g = &v.grades;
            row.extend([
                v.behind.to_string(),
                quorum.to_string(),
                v.late_in_period.to_string(),
                v.cases_in_period.to_string(),
                v.members.to_string(),
                g.excellent.to_string(),
                g.good.to_string(),
                g.qualified.to_string(),
                g.unqualified.to_string(),
                g.ungraded.to_string(),
                v.last_sync_at.as_deref().map_or_else(|| "从未同步".to_owned(), format_rfc3339),
                // After the others, so that a sheet read by column position keeps its columns.
                v.early_in_period.to_string(),
                v.unmarked_in_period.to_string(),
                v.edited_in_period.to_string(),
                v.record_problems.len().to_string(),
                v.duplicates_in_period.to_string(),
                g.left.to_string(),
                // 党员人数 and these make the roster the grades count: a member leaving later in
                // the year is in 党员人数 and 年内离开 both until gone.
                v.members_left.to_string(),
            ]);
            row
        })
        .collect();
    (header, rows)
}

pub fn report_csv(report: &TownshipReport) -> anyhow::Result<Vec<u8>> {
    let mut out = BOM.to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let (header, rows) = summary_rows(report);
        w.write_record(&header)?;
        for r in rows {
            w.write_record(&r)?;
        }
        w.flush()?;
    }
    Ok(out)
}

pub(crate) fn sheet(
    book: &mut Workbook,
    name: &str,
    header: &[String],
    rows: &[Vec<String>],
    bold: &Format,
) -> anyhow::Result<()> {
    let ws = book.add_worksheet();
    ws.set_name(name)?;
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, bold)?;
        ws.set_column_width(c as u16, (h.chars().count() as f64 * 2.2).max(10.0))?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            match as_number(cell) {
                Some(n) => ws.write_number(r as u32 + 1, c as u16, n)?,
                None => ws.write_string(r as u32 + 1, c as u16, fitted(cell).as_ref())?,
            };
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The most UTF-16 units Excel holds in a cell.
const EXCEL_CELL_MAX: usize = 32_767;

/// `cell` as Excel can hold it: a longer text (a meeting's attendance with long leave reasons,
/// say) is cut, and says so, instead of failing the whole export.
fn fitted(cell: &str) -> std::borrow::Cow<'_, str> {
    const CUT: &str = "……（超出 Excel 单元格长度上限，以下从略）";
    if cell.encode_utf16().count() <= EXCEL_CELL_MAX {
        return cell.into();
    }
    let room = EXCEL_CELL_MAX - CUT.encode_utf16().count();
    let mut used = 0;
    let end = cell
        .char_indices()
        .find(|(_, c)| {
            used += c.len_utf16();
            used > room
        })
        .map_or(cell.len(), |(i, _)| i);
    format!("{}{CUT}", &cell[..end]).into()
}

/// Counts are written as numbers so Excel can sum them; ids with leading zeros stay text.
fn as_number(cell: &str) -> Option<f64> {
    let plain = cell == "0" || (!cell.is_empty() && !cell.starts_with('0') && cell.bytes().all(|b| b.is_ascii_digit()));
    if plain { cell.parse().ok() } else { None }
}

fn strings<const N: usize>(a: [&str; N]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

pub fn report_xlsx(report: &TownshipReport) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let (header, rows) = summary_rows(report);
    sheet(&mut book, "汇总", &header, &rows, &bold)?;

    let mut meetings = Vec::new();
    for v in &report.villages {
        for c in &v.compliance {
            meetings.push(vec![
                v.name.clone(),
                c.kind_name.to_owned(),
                c.group.clone().unwrap_or_default(),
                period_label(&c.period),
                c.required.to_string(),
                c.held.to_string(),
                c.valid.to_string(),
                state_label(c.state).to_owned(),
                c.quorum_failures.len().to_string(),
            ]);
        }
    }
    let header = strings(["村名", "会议类型", "党小组", "周期", "应开", "已开", "有效", "状态", "法定人数不足"]);
    sheet(&mut book, "三会一课", &header, &meetings, &bold)?;

    let mut cases = Vec::new();
    // The lists of the year are cut to the report's period, as the summary counts them.
    let chosen = Period::parse(&report.period);
    let in_period = |dated: &str| chosen.is_none_or(|(year, period)| dated_in(year, period, dated));
    for v in &report.villages {
        for c in v.cases.iter().filter(|c| chosen.is_none_or(|(y, p)| c.open_during(y, p))) {
            let gaps: Vec<String> =
                c.gaps.iter().filter_map(|g| g.get("message").and_then(|m| m.as_str()).map(str::to_owned)).collect();
            cases.push(vec![
                v.name.clone(),
                c.item_name.clone(),
                c.title.clone(),
                c.opened_on.clone(),
                c.closed_on.clone().unwrap_or_else(|| {
                    if c.year < report.year {
                        format!("未办结（{} 年立项，跨年）", c.year)
                    } else {
                        "未办结".to_owned()
                    }
                }),
                gaps.join("；"),
            ]);
        }
    }
    let header = strings(["村名", "事项", "标题", "立项日期", "办结日期", "问题"]);
    sheet(&mut book, "小微权力", &header, &cases, &bold)?;

    // Late entries (补录), then early ones (提前录入), each on a sheet of its own.
    let arrival_row = |village: &str, record: &str, what: &str, dated: &str, seen: &str, days: i64| {
        let kind = if record == "meeting" { "会议" } else { "事项步骤" };
        vec![
            village.to_owned(),
            kind.to_owned(),
            what.to_owned(),
            dated.to_owned(),
            format_rfc3339(seen),
            days.to_string(),
        ]
    };
    let late: Vec<Vec<String>> = report
        .villages
        .iter()
        .flat_map(|v| {
            v.late_entries
                .iter()
                .filter(|l| in_period(&l.dated))
                .map(|l| arrival_row(&v.name, l.record, &l.what, &l.dated, &l.first_seen_at, l.days_late))
        })
        .collect();
    let header = strings(["村名", "类别", "内容", "记录日期", "服务器首次收到（北京时间）", "晚了几天"]);
    sheet(&mut book, "补录", &header, &late, &bold)?;
    let early: Vec<Vec<String>> = report
        .villages
        .iter()
        .flat_map(|v| {
            v.early_entries
                .iter()
                .filter(|e| in_period(&e.dated))
                .map(|e| arrival_row(&v.name, e.record, &e.what, &e.dated, &e.first_seen_at, e.days_early))
        })
        .collect();
    let header = strings(["村名", "类别", "内容", "记录日期", "服务器首次收到（北京时间）", "早了几天"]);
    sheet(&mut book, "提前录入", &header, &early, &bold)?;

    // Meetings whose attendance leaves due members out, then those changed after the server
    // had them.
    let unmarked: Vec<Vec<String>> = report
        .villages
        .iter()
        .flat_map(|v| {
            v.unmarked_attendance
                .iter()
                .filter(|m| in_period(&m.dated))
                .map(|m| vec![v.name.clone(), m.what.clone(), m.dated.clone(), m.unmarked.to_string()])
        })
        .collect();
    let header = strings(["村名", "会议", "会议日期", "应到未记考勤人数"]);
    sheet(&mut book, "未记考勤", &header, &unmarked, &bold)?;
    let edited: Vec<Vec<String>> = report
        .villages
        .iter()
        .flat_map(|v| {
            v.edited_after_sync
                .iter()
                .filter(|m| in_period(&m.dated))
                .map(|m| vec![v.name.clone(), m.what.clone(), m.dated.clone(), format_rfc3339(&m.first_edited_at)])
        })
        .collect();
    let header = strings(["村名", "会议", "会议日期", "首次改动日期或考勤（北京时间）"]);
    sheet(&mut book, "同步后改动", &header, &edited, &bold)?;
    // The rules records break as stored: the village's cadres correct them.
    let problems: Vec<Vec<String>> = report
        .villages
        .iter()
        .flat_map(|v| v.record_problems.iter().map(|p| vec![v.name.clone(), p.described.clone()]))
        .collect();
    sheet(&mut book, "记录矛盾", &strings(["村名", "矛盾之处（请村干部更正）"]), &problems, &bold)?;

    let mut devices = Vec::new();
    for v in &report.villages {
        for d in &v.devices {
            let at = format_rfc3339(&d.last_sync_at);
            devices.push(vec![v.name.clone(), d.account_id.clone(), d.peer_id.clone(), at]);
        }
    }
    let header = strings(["村名", "账号", "设备", "最近同步（北京时间）"]);
    sheet(&mut book, "同步", &header, &devices, &bold)?;

    Ok(book.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_longer_than_excel_holds_is_cut_and_says_so() {
        let long = "请假".repeat(20_000) + "😀";
        let mut book = Workbook::new();
        let bold = Format::new().set_bold();
        let rows = vec![vec![long.clone(), "短".to_owned()]];
        sheet(&mut book, "会议", &strings(["出席", "备注"]), &rows, &bold).expect("written");
        book.save_to_buffer().expect("saved");

        let cut = fitted(&long);
        assert!(cut.encode_utf16().count() <= EXCEL_CELL_MAX);
        assert!(cut.starts_with("请假请假") && cut.ends_with("以下从略）"), "{}", &cut[cut.len() - 60..]);
        assert_eq!(fitted("短"), "短");
    }
}
