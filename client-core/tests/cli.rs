//! The `zhibu` program: Chinese help, edits and views with their output and exit codes, and
//! `--json`. (Exit code 7, a locked store, is tested in `processes.rs`; 4, a server refusal,
//! needs a server and is covered by the end-to-end tests.)

mod common;

use std::path::Path;
use std::process::Command;

use common::{cadre_session, year};
use zhibu_client::Phone;
use zhibu_client::zhibu_schema::{Member, MemberId, MemberStatus, Name};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn zhibu(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_zhibu"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("ZHIBU_DIR")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A store with a cadre's login and six members: 王一 … 王六 (v1-m01 … v1-m06).
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    phone.set_session(cadre_session("cadre1")).unwrap();
    for (i, name) in ["王一", "王二", "王三", "王四", "王五", "王六"].iter().enumerate() {
        let mut m = Member::new(Name::parse(name).unwrap(), MemberStatus::Full);
        m.committee = i < 3;
        phone.add_member(year(), &MemberId::parse(&format!("v1-m{:02}", i + 1)).unwrap(), &m).unwrap();
    }
    dir
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".lock")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

fn date(md: &str) -> String {
    format!("{}-{md}", year())
}

#[test]
fn help_reads_in_chinese_and_lists_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let run = zhibu(dir.path(), &["--help"]);
    assert_eq!(run.code, 0);
    for want in [
        "用法：zhibu [选项] <命令>",
        "命令",
        "登录乡镇服务器",
        "与服务器同步",
        "退出码：",
        "5  连不上服务器",
        "显示本帮助",
    ] {
        assert!(run.stdout.contains(want), "help lacks {want:?}:\n{}", run.stdout);
    }
    let sub = zhibu(dir.path(), &["points", "award", "--help"]);
    assert!(sub.stdout.contains("积分规则代码"), "{}", sub.stdout);
    assert_eq!(zhibu(dir.path(), &["meeting", "record", "--kind", "茶话会", "--topic", "x"]).code, 2);
    assert_eq!(zhibu(dir.path(), &["no-such-command"]).code, 2);
}

#[test]
fn edits_need_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let run = zhibu(dir.path(), &["meeting", "record", "--kind", "党课", "--topic", "党课"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(run.stderr.contains("尚未登录"), "{}", run.stderr);
    assert!(zhibu(dir.path(), &["status"]).stdout.contains("未登录"));
}

#[test]
fn a_meeting_is_recorded_listed_and_its_attendance_changed() {
    let dir = store();
    let d = date("03-10");
    let run = zhibu(
        dir.path(),
        &[
            "meeting",
            "record",
            "--kind",
            "支部党员大会",
            "--date",
            &d,
            "--topic",
            "学习全会精神",
            "--all-present",
            "--absent",
            "王二",
            "--leave",
            "v1-m03:外出务工:王一",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("出席 4 人，请假 1 人，缺席 1 人"), "{}", run.stdout);
    assert!(run.stdout.contains("待同步的修改：7 条"), "{}", run.stdout);

    let list = zhibu(dir.path(), &["--json", "meeting", "list"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let meeting = &v[0]["meeting"];
    assert_eq!(meeting["attendance"]["v1-m02"]["status"], "absent");
    assert_eq!(meeting["attendance"]["v1-m03"]["approved_by"], "王一");
    let id = v[0]["id"].as_str().unwrap().to_owned();
    let short = &id[id.len() - 8..];

    let run = zhibu(dir.path(), &["attend", short, "王二", "缺席", "--makeup", &date("03-15")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Said with the meeting's topic and the member's name, as the cadre knows them.
    assert!(run.stdout.contains(&format!("会议「学习全会精神」（{short}）党员 王二（v1-m02） 缺席")), "{}", run.stdout);
    let score = zhibu(dir.path(), &["score", "v1-m02"]);
    assert!(score.stdout.contains("99 分"), "{}", score.stdout);
    assert!(score.stdout.contains("无故缺席") && score.stdout.contains("缺席后按时补课"), "{}", score.stdout);
    // A leave moves nothing; the member's own lines say it was recorded, and why.
    let score = zhibu(dir.path(), &["score", "v1-m03"]);
    assert!(score.stdout.contains("请假 1 次（不加减分）"), "{}", score.stdout);
    assert!(score.stdout.contains("支部党员大会：学习全会精神（事由：外出务工，批准人：王一）"), "{}", score.stdout);
    // Written again without the make-up, or as leave: the make-up recorded stays; the leave's
    // reason and approver stay when only the make-up is added.
    let run = zhibu(dir.path(), &["attend", short, "王二", "缺席"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = zhibu(dir.path(), &["attend", short, "v1-m03", "请假", "--makeup", &date("03-16")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list = zhibu(dir.path(), &["--json", "meeting", "list"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let attendance = &v[0]["meeting"]["attendance"];
    assert_eq!(attendance["v1-m02"]["makeup_on"], date("03-15").as_str(), "{attendance}");
    assert_eq!(attendance["v1-m03"]["reason"], "外出务工", "{attendance}");
    assert_eq!(attendance["v1-m03"]["approved_by"], "王一", "{attendance}");
    assert_eq!(attendance["v1-m03"]["makeup_on"], date("03-16").as_str(), "{attendance}");
    // Present: what applied to a missed meeting goes.
    let run = zhibu(dir.path(), &["attend", short, "v1-m03", "出席"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list = zhibu(dir.path(), &["--json", "meeting", "list"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let present = &v[0]["meeting"]["attendance"]["v1-m03"];
    assert_eq!(present["status"], "present", "{present}");
    assert!(
        present["reason"].is_null() && present["approved_by"].is_null() && present["makeup_on"].is_null(),
        "{present}"
    );

    let run = zhibu(dir.path(), &["meeting", "void", short, "--reason", "重复录入"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(zhibu(dir.path(), &["meeting", "list"]).stdout.contains("已作废：重复录入"));
    let again = zhibu(dir.path(), &["attend", short, "王二", "出席"]);
    assert_eq!(again.code, 3);
    assert!(again.stderr.contains("已作废"), "{}", again.stderr);
}

/// January: a case opened last December and not yet closed goes on in last year's record; the
/// list of this year's cases shows it too, where the cadre looks for it.
#[test]
fn a_case_still_open_from_last_year_is_listed_with_this_years() {
    let dir = store();
    let last = (i64::from(year()) - 1).to_string();
    let opened = format!("{last}-12-10");
    let args = ["--year", &last, "--json", "case", "open", "homestead", "赵家宅基地申请", "--date", &opened];
    let run = zhibu(dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done = ["--year", &last, "--json", "case", "open", "relief_aid", "已办完的救助", "--date", &opened];
    let run = zhibu(dir.path(), &done);
    let id = serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["id"].as_str().unwrap().to_owned();
    let close = ["--year", &last, "case", "close", &id, "--outcome", "已发放", "--date", &format!("{last}-12-20")];
    let run = zhibu(dir.path(), &close);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list = zhibu(dir.path(), &["case", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains(&format!("{last} 年立项、尚未办结的事项（1 件")), "{}", list.stdout);
    assert!(list.stdout.contains("赵家宅基地申请") && !list.stdout.contains("已办完的救助"), "{}", list.stdout);
    let json = zhibu(dir.path(), &["--json", "case", "list"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json.stdout).unwrap(), serde_json::json!([]), "this year's");
}

#[test]
fn a_refused_edit_exits_3_with_the_rule_and_changes_nothing() {
    let dir = store();
    let before = files(dir.path());
    let run = zhibu(dir.path(), &["points", "award", "v1-m01", "volunteer", "9", "--date", &date("04-01")]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("「志愿服务、义务劳动」的分值应在 1 到 5 之间，这里是 9"), "{}", run.stderr);
    let json = zhibu(dir.path(), &["--json", "points", "award", "v1-m01", "honour", "50"]);
    assert_eq!(json.code, 3);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["error"]["exit_code"], 3);
    assert_eq!(v["error"]["violations"][0]["rule"], "delta_out_of_range");
    let unknown = zhibu(dir.path(), &["points", "award", "v1-m99", "volunteer", "1"]);
    assert_eq!(unknown.code, 3);
    assert!(unknown.stderr.contains("找不到党员「v1-m99」"), "{}", unknown.stderr);
    assert_eq!(files(dir.path()), before);

    let ok = zhibu(dir.path(), &["points", "deduct", "v1-m01", "dues_late", "2", "--date", &date("04-01")]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("现有 98 分"), "{}", ok.stdout);
}

#[test]
fn a_case_and_its_gaps() {
    let dir = store();
    let run = zhibu(
        dir.path(),
        &["--json", "case", "open", "homestead", "李家宅基地申请", "--date", &date("02-01"), "--applicant", "李志强"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["id"].as_str().unwrap().to_owned();
    let step = zhibu(dir.path(), &["case", "step", &id, "notice", "--date", &date("02-05")]);
    assert_eq!(step.code, 0);
    assert!(step.stderr.contains("这是公示步骤，请用 zhibu case notice"), "{}", step.stderr);
    let short = &id[id.len() - 8..];
    assert!(
        step.stdout.contains(&format!("已记录办理步骤「公示」：事项「李家宅基地申请」（{short}）")),
        "{}",
        step.stdout
    );
    let list = zhibu(dir.path(), &["case", "list"]);
    assert!(list.stdout.contains("缺少步骤「申请」"), "{}", list.stdout);
    // The notice is the 公示 step with its period: the step done without its days takes them.
    let args = ["case", "notice", &id, "--from", &date("02-05"), "--to", &date("02-08")];
    let notice = zhibu(dir.path(), &args);
    assert_eq!(notice.code, 0, "{}", notice.stderr);
    assert!(notice.stdout.contains("已记录公示（步骤「公示」）"), "{}", notice.stdout);
    assert!(notice.stdout.contains("「公示」只公示了 4 天，应不少于 7 天"), "{}", notice.stdout);
    // Recorded: a correction names its step.
    let unnamed = zhibu(dir.path(), &args);
    assert_eq!(unnamed.code, 3, "every notice step has its days: which one is named");
    assert!(unnamed.stderr.contains("请写明：公示（notice）"), "{}", unnamed.stderr);
    let corrected = zhibu(dir.path(), &[&args[..], &["--step", "公示"]].concat());
    assert_eq!(corrected.code, 0, "{}", corrected.stderr);
    // A step typed again without a day would move to today: the day is asked for.
    let again = zhibu(dir.path(), &["case", "step", &id, "notice"]);
    assert!(again.code == 2 && again.stderr.contains("步骤「公示」已于"), "{}", again.stderr);
    let wrong =
        zhibu(dir.path(), &["case", "notice", &id, "--step", "申请", "--from", &date("02-05"), "--to", &date("02-12")]);
    assert_eq!(wrong.code, 3);
    assert!(wrong.stderr.contains("「申请」不是公示步骤（公示步骤是：公示）"), "{}", wrong.stderr);
    let bad = zhibu(dir.path(), &["case", "step", &id, "bidding"]);
    assert_eq!(bad.code, 3);
    assert!(bad.stderr.contains("不属于事项「宅基地申请」"), "{}", bad.stderr);
}

#[test]
fn status_roster_compliance_conflicts_and_catalog() {
    let dir = store();
    let status: serde_json::Value = serde_json::from_str(&zhibu(dir.path(), &["--json", "status"]).stdout).unwrap();
    assert_eq!(status["pending"], 6);
    assert_eq!(status["last_sync"], serde_json::Value::Null);
    let text = zhibu(dir.path(), &["status"]).stdout;
    assert!(text.contains("待同步的修改：6 条") && text.contains("上次同步成功：从未"), "{text}");
    assert!(zhibu(dir.path(), &["roster", "committee", "王四", "是"]).code == 0);
    assert!(zhibu(dir.path(), &["roster", "list"]).stdout.contains("王四"));
    let full = zhibu(dir.path(), &["--json", "roster", "status", "王四", "正式", "--on", &date("09-01")]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    assert!(full.stdout.contains("became_full"), "{}", full.stdout);
    let wrong = zhibu(dir.path(), &["roster", "status", "王四", "预备", "--on", &date("09-01")]);
    assert_eq!(wrong.code, 2, "a day to become probationary is a usage error: {}", wrong.stderr);
    assert!(wrong.stderr.contains("只用于调整为“正式”"), "{}", wrong.stderr);
    let compliance =
        zhibu(dir.path(), &["compliance", "--period", &format!("{}-q1", year()), "--as-of", &date("12-31")]);
    assert!(
        compliance.stdout.contains("支部党员大会：应开 1 次，已开 0 次，有效 0 次  未完成"),
        "{}",
        compliance.stdout
    );
    // By month, the quarterly assembly is counted over its quarter, and says so.
    let by_month = zhibu(dir.path(), &["compliance", "--period", &format!("{}-02", year()), "--as-of", &date("12-31")]);
    assert!(by_month.stdout.contains("支部党员大会（按本季度计）：应开 1 次"), "{}", by_month.stdout);
    assert!(zhibu(dir.path(), &["conflicts"]).stdout.contains("没有冲突"));
    assert!(zhibu(dir.path(), &["catalog"]).stdout.contains("volunteer"));
}

#[test]
fn sync_out_of_reach_exits_5_and_keeps_the_edits() {
    let dir = store();
    let run = zhibu(dir.path(), &["sync", "--retries", "0"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("修改已保存在手机上"), "{}", run.stderr);
    assert!(zhibu(dir.path(), &["status"]).stdout.contains("待同步的修改：6 条"));
}

#[test]
fn a_mistyped_command_line_is_explained_in_chinese() {
    let dir = store();
    let missing = zhibu(dir.path(), &["meeting", "record", "--kind", "党课"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("缺少必填的参数") && missing.stderr.contains("--topic"), "{}", missing.stderr);
    assert!(missing.stderr.contains("用法：") && !missing.stderr.contains("error:"), "{}", missing.stderr);
    let unknown = zhibu(dir.path(), &["foo"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("没有「foo」这个命令"), "{}", unknown.stderr);
    let negative = zhibu(dir.path(), &["points", "award", "v1-m01", "volunteer", "-3"]);
    assert_eq!(negative.code, 2);
    assert!(negative.stderr.contains("扣分请用 zhibu points deduct"), "{}", negative.stderr);
    let word = zhibu(dir.path(), &["points", "award", "v1-m01", "volunteer", "三"]);
    assert!(word.code == 2 && word.stderr.contains("应为整数"), "{}", word.stderr);
    let json = zhibu(dir.path(), &["--json", "meeting", "record"]);
    assert_eq!(json.code, 2);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect(&json.stdout);
    assert_eq!(v["error"]["exit_code"], 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("缺少必填的参数"), "{v}");
    assert_eq!(zhibu(dir.path(), &["meeting", "--help"]).code, 0);
}

#[test]
fn numbers_dates_and_lists_as_cadres_type_them() {
    let dir = store();
    let (month, day) = ("01", "02");
    let slashed = format!("{}/1/2", year());
    let run = zhibu(dir.path(), &["points", "award", "v1-m01", " volunteer ", "３", "--date", &slashed]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list = zhibu(dir.path(), &["--json", "score", "v1-m01"]);
    assert!(list.stdout.contains(&format!("{}-{month}-{day}", year())), "{}", list.stdout);
    let run = zhibu(
        dir.path(),
        &[
            "meeting",
            "record",
            "--kind",
            "党课",
            "--date",
            &date("01-02"),
            "--topic",
            "党课",
            "--present",
            "王一，王二、王三",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("出席 3 人"), "{}", run.stdout);
    // One person, two answers: refused, nothing recorded.
    let before = files(dir.path());
    let twice = zhibu(
        dir.path(),
        &[
            "meeting",
            "record",
            "--kind",
            "党课",
            "--date",
            &date("01-02"),
            "--topic",
            "党课",
            "--present",
            "王一",
            "--absent",
            "v1-m01",
        ],
    );
    assert_eq!(twice.code, 2);
    assert!(twice.stderr.contains("写了不止一次"), "{}", twice.stderr);
    // A group nobody is in (this roster has no groups yet): --all-present records nobody,
    // which is refused; no group at all is asked for.
    let group_meeting = ["meeting", "record", "--kind", "党小组会", "--date", &date("01-02"), "--topic", "学习"];
    let nobody = zhibu(dir.path(), &[&group_meeting[..], &["--group", "第九党小组", "--all-present"]].concat());
    assert_eq!(nobody.code, 2);
    assert!(nobody.stderr.contains("没有应到的党小组「第九党小组」的党员"), "{}", nobody.stderr);
    let unnamed = zhibu(dir.path(), &[&group_meeting[..], &["--all-present"]].concat());
    assert_eq!(unnamed.code, 2);
    assert!(
        unnamed.stderr.contains("党小组会须用 --group 写明是哪个党小组（名册上还没有党小组）"),
        "{}",
        unnamed.stderr
    );
    // --year names another year than the day recorded.
    let last = (i64::from(year()) - 1).to_string();
    let other = zhibu(dir.path(), &["--year", &last, "points", "award", "v1-m01", "volunteer", "1"]);
    assert_eq!(other.code, 2);
    assert!(other.stderr.contains(&format!("已用 --year 指定 {last} 年")), "{}", other.stderr);
    assert_eq!(files(dir.path()), before, "nothing of the refused commands was written");
    // Once the roster has groups, a mistyped one is named as such.
    assert_eq!(zhibu(dir.path(), &["roster", "group", "王一", "第一党小组"]).code, 0);
    let mistyped = zhibu(dir.path(), &[&group_meeting[..], &["--group", "第一党组", "--all-present"]].concat());
    assert_eq!(mistyped.code, 2);
    assert!(
        mistyped.stderr.contains("名册上没有党小组「第一党组」（名册上的党小组：第一党小组）"),
        "{}",
        mistyped.stderr
    );
}

#[test]
fn catalog_entries_by_name_and_cases_told_what_they_lack() {
    let dir = store();
    let run = zhibu(dir.path(), &["--json", "case", "open", "宅基地申请", "王家宅基地", "--date", &date("01-02")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["id"].as_str().unwrap().to_owned();
    let step = zhibu(dir.path(), &["case", "step", &id, "申请", "--date", &date("01-02")]);
    assert_eq!(step.code, 0, "{}", step.stderr);
    assert!(step.stdout.contains("仍有缺项"), "{}", step.stdout);
    let unknown = zhibu(dir.path(), &["case", "step", &id, "开会"]);
    assert!(unknown.code == 2 && unknown.stderr.contains("办理步骤「开会」不在目录中"), "{}", unknown.stderr);
    let close = ["case", "close", &id, "--outcome", "已批准", "--date", &date("01-02")];
    let run = zhibu(dir.path(), &close);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("已办结") && run.stdout.contains("资格审查"),
        "a case closed without its steps: {}",
        run.stdout
    );
    let again = zhibu(dir.path(), &close);
    assert!(again.code == 2 && again.stderr.contains("--correct"), "{}", again.stderr);
    assert!(zhibu(dir.path(), &[&close[..], &["--correct"]].concat()).stdout.contains("已更正办结"));
    // The outcome corrected alone keeps the day it was closed.
    let outcome = zhibu(dir.path(), &["--json", "case", "close", &id, "--outcome", "批准", "--correct"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let list = zhibu(dir.path(), &["case", "list"]);
    assert!(list.stdout.contains(&format!("{} 办结", date("01-02"))), "{}", list.stdout);
    assert_eq!(zhibu(dir.path(), &["case", "void", &id, "--reason", "录错了"]).code, 0);
    let list = zhibu(dir.path(), &["case", "list"]);
    assert!(list.stdout.contains("【已作废：录错了】"), "{}", list.stdout);

    // A points rule by its name; a deduction typed as an award.
    let run = zhibu(dir.path(), &["points", "award", "V1-M01", "志愿服务、义务劳动", "2", "--date", &date("01-02")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let wrong = zhibu(dir.path(), &["points", "deduct", "v1-m01", "volunteer", "2"]);
    assert!(wrong.code == 2 && wrong.stderr.contains("是加分规则，请用 zhibu points award"), "{}", wrong.stderr);

    // Two members of one name: told when the second is added, and apart by their groups.
    let add = zhibu(dir.path(), &["roster", "add", "v1-m07", "王一", "--group", "第二党小组"]);
    assert!(add.stdout.contains("已有同名党员（v1-m01）"), "{}", add.stdout);
    let which = zhibu(dir.path(), &["score", "王一"]);
    assert!(which.stderr.contains("v1-m07（第二党小组）"), "{}", which.stderr);
    // Leaving a group is said, not implied by a missing argument; nothing to change is said too.
    assert_eq!(zhibu(dir.path(), &["roster", "group", "v1-m07"]).code, 2);
    assert!(zhibu(dir.path(), &["roster", "group", "v1-m07", "--none"]).stdout.contains("已修改党员"));
    let same = zhibu(dir.path(), &["roster", "group", "v1-m07", "--none"]);
    assert!(same.stdout.contains("没有变化"), "{}", same.stdout);
}

/// `zhibu roster list | head`: a reader that goes away before the output is written ends the
/// program quietly, as for any command-line tool, not with a panic and its backtrace.
#[test]
fn output_to_a_closed_pipe_is_dropped_quietly() {
    let dir = store();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhibu"))
        .arg("--dir")
        .arg(dir.path())
        .args(["--json", "roster", "list"])
        .env_remove("ZHIBU_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// What a cadre may have typed by mistake is said, not refused: the same meeting twice, a day
/// still to come; a day no calendar has is refused as such.
#[test]
fn likely_mistakes_are_pointed_out() {
    let dir = store();
    let meeting = ["meeting", "record", "--kind", "党课", "--topic", "党课", "--date", &date("01-02"), "--all-present"];
    assert_eq!(zhibu(dir.path(), &meeting).code, 0);
    let twice = zhibu(dir.path(), &meeting);
    assert_eq!(twice.code, 0, "{}", twice.stderr);
    assert!(twice.stderr.contains("已记录过一次党课"), "{}", twice.stderr);
    // 王四 is not on the committee: recorded as written, and said.
    let committee = [
        "meeting",
        "record",
        "--kind",
        "支部委员会",
        "--topic",
        "支委会",
        "--date",
        &date("01-03"),
        "--all-present",
        "--absent",
        "王四",
    ];
    let run = zhibu(dir.path(), &committee);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("按现在的名册不是这次支部委员会的应到党员"), "{}", run.stderr);
    let ahead = format!("{}-12-31", i64::from(year()) + 1);
    let points = zhibu(dir.path(), &["points", "award", "v1-m01", "volunteer", "2", "--date", &ahead]);
    assert!(points.stderr.contains("在今天"), "{}", points.stderr);
    let no_such = zhibu(dir.path(), &["points", "award", "v1-m01", "volunteer", "2", "--date", &date("02-30")]);
    assert_eq!(no_such.code, 2);
    assert!(no_such.stderr.contains("不存在") && no_such.stderr.contains("2 月只有"), "{}", no_such.stderr);
}

/// A member who transferred in during the year is not due at the meetings before they came.
#[test]
fn a_member_who_arrived_is_due_from_that_day() {
    let dir = store();
    let arrive = zhibu(dir.path(), &["roster", "arrive", "王五", &date("06-01")]);
    assert_eq!(arrive.code, 0, "{}", arrive.stderr);
    assert!(arrive.stdout.contains("已修改党员 王五（v1-m05）"), "{}", arrive.stdout);
    let march = ["meeting", "record", "--kind", "党课", "--topic", "党课", "--date", &date("03-02"), "--all-present"];
    let run = zhibu(dir.path(), &[&march[..], &["--absent", "王五"]].concat());
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("王五于 {} 才转入本支部", date("06-01"))), "{}", run.stderr);
    let run = zhibu(dir.path(), &[&["--json"][..], &march[..]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["id"].as_str().unwrap().to_owned();
    {
        let phone = Phone::open(dir.path()).unwrap();
        let records = phone.records(year()).unwrap();
        let meeting = records.meetings.values().find(|m| m.held_on.to_string() == date("03-02")).expect("recorded");
        assert_eq!(meeting.attendance.len(), 5, "王五 is not marked at a meeting before they came");
        assert!(!meeting.attendance.contains_key(&MemberId::parse("v1-m05").unwrap()));
    }
    let added = zhibu(dir.path(), &["roster", "add", "v1-m09", "赵九", "--arrived", &date("07-01")]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let attend = zhibu(dir.path(), &["attend", &id, "赵九", "缺席"]);
    assert_eq!(attend.code, 3, "{}", attend.stderr);
}
