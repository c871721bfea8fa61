//! The exports open in office tools: the township report as XLSX (a sheet per section, Chinese
//! headers) and as CSV (UTF-8 with a byte-order mark), and a village's meeting record book as
//! XLSX (a sheet per meeting kind), read back with a spreadsheet reader and a CSV parser.

use std::io::Cursor;

use calamine::{Data, Range, Reader, Xlsx, open_workbook_from_rs};
use zhibu_schema::{Attendance, Collection, Date, Line, Meeting, MeetingKind, MemberId, RecordId, mapping};
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, backends};

fn workbook(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    open_workbook_from_rs(Cursor::new(bytes)).expect("the file opens as XLSX")
}

fn rows(range: &Range<Data>) -> Vec<Vec<String>> {
    range.rows().map(|r| r.iter().map(ToString::to_string).collect()).collect()
}

fn sheet(book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<String>> {
    rows(&book.worksheet_range(name).unwrap_or_else(|e| panic!("sheet {name}: {e}")))
}

/// A day in the fixture's year, a few days before today when possible.
fn recent(app: &TestApp) -> Date {
    let d = zhibu_server::api::today().add_days(-3).expect("date");
    d.clamp(app.year.first_day(), app.year.last_day())
}

async fn exports(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let y = app.year;
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let roster = mapping::read(&phone.doc).expect("reads").doc.members;
    let held = recent(&app);
    let mut theme = Meeting::new(MeetingKind::ThemeDay, held, Line::parse("主题党日：义务植树").expect("line"));
    for (i, id) in roster.keys().enumerate() {
        theme.attendance.insert(id.clone(), if i == 0 { Attendance::absent() } else { Attendance::present() });
    }
    // Two members left the branch that day, one marked absent and one present: entries of
    // members not on the roster that day (as earlier phones could record) do not
    // count; the present one sat in (列席).
    phone.edit("记录会议", |tx| {
        for gone in ["v1-m02", "v1-m03"] {
            mapping::put_at(tx, &["members", gone, "left_on"], &held)?;
        }
        theme.attendance.insert(MemberId::parse("v1-m02").expect("id"), Attendance::absent());
        mapping::put_record_id(tx, Collection::Meetings, &RecordId::new_v7(), &theme)
    });
    phone.sync(&app).await.expect("push");
    let staff = app.token("staff1").await;

    // The report as XLSX: one sheet per section, Chinese headers, a row per village.
    let (status, bytes) = app.get(&staff, &format!("/v1/townships/t1/report.xlsx?year={y}")).await;
    assert_eq!(status, 200);
    let mut book = workbook(bytes);
    assert_eq!(
        book.sheet_names(),
        ["汇总", "三会一课", "小微权力", "补录", "提前录入", "未记考勤", "同步后改动", "记录矛盾", "同步"]
    );
    let summary = sheet(&mut book, "汇总");
    assert_eq!(summary[0][..4], ["村", "村名", "支部党员大会（达标次数/应开）", "支部委员会（达标次数/应开）"]);
    let added = [
        "最近同步（北京时间）",
        "提前录入条数",
        "未记考勤的会议",
        "同步后改动的会议",
        "记录矛盾",
        "疑似重复录入",
        "年内离开（不评定）",
        "已离开人数",
    ];
    assert_eq!(summary[0][summary[0].len() - added.len()..], added, "added at the end");
    assert_eq!(summary.len(), 3, "a header and two villages");
    let v1 = summary.iter().find(|r| r[0] == "v1").expect("a row for v1");
    assert_eq!(v1[1], "一村");
    let theme_col = summary[0].iter().position(|h| h.starts_with("主题党日")).expect("theme day column");
    assert!(v1[theme_col].starts_with('1'), "one theme day held: {v1:?}");
    let members_col = summary[0].iter().position(|h| h == "党员人数").expect("members column");
    assert_eq!(v1[members_col], "10", "counts are numbers Excel can sum; the two who left are not counted");
    let left_col = summary[0].iter().position(|h| h == "年内离开（不评定）").expect("left column");
    assert_eq!(v1[left_col], "2");
    let gone_col = summary[0].iter().position(|h| h == "已离开人数").expect("gone column");
    assert_eq!(v1[gone_col], "2");
    let sync_col = summary[0].iter().position(|h| h == "最近同步（北京时间）").expect("sync column");
    assert_ne!(v1[sync_col], "从未同步");
    let v2 = summary.iter().find(|r| r[0] == "v2").expect("a row for v2");
    assert_eq!(v2[sync_col], "从未同步");
    // A requirement of the year still under way reads so, not like one missed; periods read
    // as people write them.
    let org_life = summary[0].iter().position(|h| h.starts_with("组织生活会")).expect("org-life column");
    assert!(v1[org_life].ends_with("，进行中）"), "{v1:?}");
    let meetings = sheet(&mut book, "三会一课");
    assert!(meetings[1..].iter().all(|r| r[3].starts_with(&format!("{y} 年"))), "{meetings:?}");
    let sync = sheet(&mut book, "同步");
    assert_eq!(sync[0], ["村名", "账号", "设备", "最近同步（北京时间）"]);
    assert_eq!(sync[1][..3], ["一村", "cadre1", "peer-phone-a"]);
    // People read the file: the time is China's, as the pages show it, not UTC.
    let shown = time::PrimitiveDateTime::parse(
        &sync[1][3],
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", sync[1][3]))
    .assume_offset(time::macros::offset!(+8));
    assert!((time::OffsetDateTime::now_utc() - shown).abs() < time::Duration::minutes(5), "{shown}");
    assert_eq!(v1[sync_col], sync[1][3]);

    // The report as CSV: the byte-order mark, then a file any CSV reader parses.
    let (status, bytes) = app.get(&staff, &format!("/v1/townships/t1/report.csv?year={y}")).await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM so Excel and WPS show Chinese");
    let mut csv = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = csv.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(header, summary[0], "the CSV and the XLSX summary have the same columns");
    let records: Vec<csv::StringRecord> = csv.records().collect::<Result<_, _>>().expect("rows parse");
    assert_eq!(records.len(), 2);
    assert_eq!(&records[0][0], "v1");
    assert_eq!(&records[0][1], "一村");
    assert_eq!(&records[1][sync_col], "从未同步");
    // No cell Excel or WPS would take for a date (1/3 reads as 1 月 3 日).
    for cell in records.iter().flat_map(|r| r.iter()) {
        let date_like = cell
            .split_once('/')
            .is_some_and(|(a, b)| [a, b].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
        assert!(!date_like, "{cell}");
    }
    // A year with no records at all says so, rather than 0/0 (nothing required).
    let (status, bytes) = app.get(&staff, &format!("/v1/townships/t1/report.csv?year={}", y.get() - 1)).await;
    assert_eq!(status, 200);
    let mut csv = csv::Reader::from_reader(&bytes[3..]);
    let first = csv.records().next().expect("a row").expect("parses");
    assert_eq!(&first[2], "无记录", "{first:?}");

    // The village's meeting record book: a sheet per meeting kind, the meeting in full.
    let (status, bytes) = app.get(&staff, &format!("/villages/v1/book.xlsx?year={y}")).await;
    assert_eq!(status, 200);
    let mut book = workbook(bytes);
    let kinds: Vec<&str> = MeetingKind::ALL.iter().map(|k| k.label()).collect();
    assert_eq!(book.sheet_names(), kinds);
    let themes = sheet(&mut book, "主题党日");
    assert_eq!(themes[0][..3], ["会议日期", "议题", "党小组"]);
    assert!(themes[0].contains(&"缺席人员".to_owned()) && themes[0].contains(&"补录/提前录入".to_owned()));
    assert_eq!(themes.len(), 2, "a header and the one theme day");
    let row = &themes[1];
    assert_eq!(row[0], held.to_string());
    assert_eq!(row[1], "主题党日：义务植树");
    let col = |name: &str| themes[0].iter().position(|h| h == name).expect(name);
    let name = |id: &str| roster.get(&MemberId::parse(id).expect("id")).expect("member").name.to_string();
    assert_eq!(row[col("应到人数")], "10");
    assert_eq!(row[col("出席")], "9");
    assert_eq!(row[col("缺席")], "1");
    assert_eq!(row[col("缺席人员")], format!("{}、{}（当日不在名册，不计）", name("v1-m01"), name("v1-m02")));
    assert_eq!(row[col("列席人员（不在应到之列）")], name("v1-m03"));
    assert!(!row[col("出席人员")].contains(&name("v1-m03")));
    assert_eq!(row[col("状态")], "有效");
    assert_eq!(sheet(&mut book, "支部委员会").len(), 1, "an empty kind still has its headers");

    // Another township's staff get no book.
    let other = app.token("staff2").await;
    let (status, _) = app.get(&other, &format!("/villages/v1/book.xlsx?year={y}")).await;
    assert_eq!(status, 403);
}
backends!(the_exports_open_in_office_tools, exports);
