//! The command line: every subcommand and option, with Chinese help.

use std::path::PathBuf;

use crate::zhibu_schema::date::half_width;
use crate::zhibu_schema::{AttendanceStatus, Date, MeetingKind, MemberStatus, Period, Year};
use clap::{Args, Parser, Subcommand};

pub const EXIT_CODES: &str = "\
退出码：
  0  成功
  2  用法不对（命令或参数写错了）
  3  修改未保存：不符合规则，或记录不存在、已作废
  4  服务器拒绝（无权限，或记录不合规；修改仍在手机上，可用 zhibu rebuild）
  5  连不上服务器（修改已保存在手机上，有信号后再同步，或用 zhibu sync --watch）
  6  未登录或登录已过期，请用 zhibu login 登录
  7  本地数据目录被另一个 zhibu 占用、已损坏或无法读写

例子：
  zhibu login --server http://10.0.0.2:8080 --user cadre1
  zhibu meeting record --kind 支部党员大会 --date 2026-03-10 --topic 学习全会精神 --all-present --absent 王芳
  zhibu points award v1-m03 volunteer 3 --note 参加防汛值守
  zhibu sync --watch";

/// zhibu（支部）：村党支部的记录本。离线记录“三会一课”、考勤、党员积分和小微权力事项，有信号时与乡镇服务器同步。
#[derive(Debug, Parser)]
#[command(name = "zhibu", version, after_help = EXIT_CODES, override_usage = "zhibu [选项] <命令>")]
pub struct Cli {
    /// 手机数据目录（默认 ./zhibu-phone，也可用环境变量 ZHIBU_DIR 指定）
    #[arg(
        long,
        global = true,
        env = "ZHIBU_DIR",
        hide_env = true,
        default_value = "./zhibu-phone",
        hide_default_value = true,
        value_name = "目录"
    )]
    pub dir: PathBuf,
    /// 以 JSON 输出，供程序读取
    #[arg(long, global = true)]
    pub json: bool,
    /// 年度（默认今年）
    #[arg(long, global = true, value_name = "年份", value_parser = parse_year)]
    pub year: Option<Year>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// 登录乡镇服务器（需要联网一次，之后可离线使用）
    Login(Login),
    /// 退出登录（手机上的记录和待同步的修改都保留）
    Logout,
    /// 修改本账号的密码（需要联网；用旧密码登录的其他手机都会退出）。
    /// 原密码和新密码从标准输入读取，也可用环境变量 ZHIBU_PASSWORD、ZHIBU_NEW_PASSWORD 给出
    Password,
    /// 查看手机状态：账号、待同步的修改、上次同步时间、服务器拒绝的记录
    Status,
    /// 与服务器同步
    Sync {
        /// 一直运行：有修改就同步，断网时自动重试，按 Ctrl-C 结束
        #[arg(long)]
        watch: bool,
        /// 连不上服务器时重试几次（默认 3 次，约 15 秒）
        #[arg(long, value_name = "次数", default_value_t = 3, hide_default_value = true)]
        retries: u32,
    },
    /// 服务器拒绝后：取服务器上的文档，只保留仍然合规的本地修改
    Rebuild,
    /// 党员名册
    #[command(subcommand)]
    Roster(Roster),
    /// 会议（三会一课、主题党日、组织生活会）
    #[command(subcommand)]
    Meeting(MeetingCmd),
    /// 修改一名党员在某次会议的考勤，或记录补课
    Attend(Attend),
    /// 党员积分：奖励、扣分、作废
    #[command(subcommand)]
    Points(PointsCmd),
    /// 小微权力事项：立项、办理步骤、公示、办结
    #[command(subcommand)]
    Case(CaseCmd),
    /// 党员积分：不写党员时列出全体
    Score {
        /// 党员编号或姓名
        #[arg(value_name = "党员", help = "党员的编号或姓名")]
        member: Option<String>,
    },
    /// 会议完成情况：按类型统计应开、已开、有效的次数
    Compliance {
        /// 期间：2026（全年）、2026-q2（季度）或 2026-03（月份），默认今年全年
        #[arg(long, value_name = "期间", value_parser = parse_period)]
        period: Option<(Year, Period)>,
        /// 截至哪天（默认今天）
        #[arg(long, value_name = "日期", value_parser = parse_date)]
        as_of: Option<Date>,
    },
    /// 两部手机离线时把同一项改成了不同的值：列出各个值及是谁改的
    Conflicts,
    /// 党员本人：查看自己的积分（需要党员账号）
    Me,
    /// 查看积分规则和小微权力事项的代码
    Catalog,
}

#[derive(Debug, Args)]
pub struct Login {
    /// 服务器地址，例如 http://10.0.0.2:8080
    #[arg(long, value_name = "地址", value_parser = parse_server)]
    pub server: String,
    /// 用户名
    #[arg(long, value_name = "用户名")]
    pub user: String,
    /// 密码（不写则从环境变量 ZHIBU_PASSWORD 或标准输入读取）
    #[arg(long, env = "ZHIBU_PASSWORD", hide_env = true, value_name = "密码")]
    pub password: Option<String>,
    /// 先把已损坏年份的文件原样移到一旁（其中未同步的修改不会上传），再登录：
    /// 手机上有损坏的年份、原账号又无法登录时，换账号用
    #[arg(long)]
    pub set_aside_damaged: bool,
}

#[derive(Debug, Subcommand)]
pub enum Roster {
    /// 列出党员名册
    List,
    /// 添加党员
    Add {
        /// 党员编号（小写字母、数字和 -），例如 v1-m13
        #[arg(value_name = "编号")]
        id: String,
        /// 姓名
        #[arg(value_name = "姓名")]
        name: String,
        /// 所在党小组
        #[arg(long, value_name = "党小组")]
        group: Option<String>,
        /// 预备党员（默认正式党员）
        #[arg(long)]
        probationary: bool,
        /// 支部委员
        #[arg(long)]
        committee: bool,
        /// 入党日期
        #[arg(long, value_name = "日期", value_parser = parse_date)]
        joined: Option<Date>,
        /// 转入本支部的日期（年内从其他支部转来时写上：此前的会议不算应到）
        #[arg(long, value_name = "日期", value_parser = parse_date)]
        arrived: Option<Date>,
    },
    /// 调整党小组（加 --none 表示不属于任何党小组）
    Group {
        #[arg(value_name = "党员", help = "党员的编号或姓名")]
        member: String,
        #[arg(value_name = "党小组", required_unless_present = "none")]
        group: Option<String>,
        /// 不属于任何党小组
        #[arg(long, conflicts_with = "group")]
        none: bool,
    },
    /// 进入或退出支部委员会
    Committee {
        #[arg(value_name = "党员", help = "党员的编号或姓名")]
        member: String,
        /// 是（进入）或 否（退出）
        #[arg(value_name = "是|否", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
        seat: bool,
    },
    /// 调整党员身份：正式 或 预备；预备党员转正时用 --on 写上转正日期
    Status {
        #[arg(value_name = "党员", help = "党员的编号或姓名")]
        member: String,
        #[arg(value_name = "正式|预备", value_parser = parse_member_status)]
        status: MemberStatus,
        /// 转正日期（只用于“正式”）：此前的会议按预备党员计算法定人数
        #[arg(long = "on", value_name = "日期", value_parser = parse_date)]
        on: Option<Date>,
    },
    /// 记录党员年内转入本支部的日期：此前的会议不算应到，也不记未记考勤
    Arrive {
        #[arg(value_name = "党员", help = "党员的编号或姓名")]
        member: String,
        #[arg(value_name = "日期", value_parser = parse_date, help = "转入本支部的日期：这一天起算本支部的党员")]
        on: Date,
    },
    /// 记录党员离开（转出、去世等）
    Leave {
        #[arg(value_name = "党员", help = "党员的编号或姓名")]
        member: String,
        #[arg(value_name = "日期", value_parser = parse_date, help = "离开本支部的日期：这一天起不再算本支部的党员")]
        on: Date,
    },
    /// 从上一年带入名册：本年度名册还空着时（如一月），把上一年年底仍在册的党员连同编号、党小组、支委、身份一次带入
    CarryOver,
}

#[derive(Debug, Subcommand)]
pub enum MeetingCmd {
    /// 记录一次会议及其考勤
    Record(RecordMeeting),
    /// 列出会议
    List {
        /// 期间：2026、2026-q2 或 2026-03，默认今年全年
        #[arg(long, value_name = "期间", value_parser = parse_period)]
        period: Option<(Year, Period)>,
    },
    /// 更正一次会议：只改写出的几项（日期限同一年内；考勤用 zhibu attend 逐人修改）
    Edit(EditMeeting),
    /// 作废一次会议（保留记录，不再计数）
    Void {
        #[arg(value_name = "会议编号", help = "会议的编号（zhibu meeting list 中列出的）")]
        meeting: String,
        #[arg(long, value_name = "原因", help = "作废的原因（必填）")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct EditMeeting {
    #[arg(value_name = "会议编号", help = "会议的编号（zhibu meeting list 中列出的）")]
    pub meeting: String,
    /// 开会日期（同一年内）
    #[arg(long, value_name = "日期", value_parser = parse_date)]
    pub date: Option<Date>,
    /// 议题
    #[arg(long, value_name = "议题")]
    pub topic: Option<String>,
    #[command(flatten)]
    pub details: MeetingDetails,
}

/// What a meeting's record says besides its kind, day, topic and attendance.
#[derive(Debug, Args)]
pub struct MeetingDetails {
    #[arg(long, value_name = "地点", help = "地点")]
    pub place: Option<String>,
    #[arg(long, value_name = "姓名", help = "主持人")]
    pub host: Option<String>,
    #[arg(long, value_name = "姓名", help = "记录人")]
    pub recorder: Option<String>,
    /// 党小组（党小组会必填）
    #[arg(long, value_name = "党小组")]
    pub group: Option<String>,
    /// 决议事项
    #[arg(long, value_name = "决议")]
    pub resolutions: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecordMeeting {
    /// 会议类型：支部党员大会、支部委员会、党小组会、党课、主题党日、组织生活会（或其英文代码）
    #[arg(long, value_name = "类型", value_parser = parse_kind)]
    pub kind: MeetingKind,
    /// 开会日期（默认今天）
    #[arg(long, value_name = "日期", value_parser = parse_date)]
    pub date: Option<Date>,
    /// 议题
    #[arg(long, value_name = "议题")]
    pub topic: String,
    #[command(flatten)]
    pub details: MeetingDetails,
    /// 应到的党员都出席（支委会为支委，党小组会为该小组成员），再用下面几项标出例外
    #[arg(long)]
    pub all_present: bool,
    /// 出席的党员（编号或姓名，用逗号或顿号分隔）
    #[arg(long, value_name = "党员,...")]
    pub present: Vec<String>,
    /// 缺席的党员
    #[arg(long, value_name = "党员,...")]
    pub absent: Vec<String>,
    #[arg(long, value_name = "党员:事由[:批准人]", help = "请假的党员：党员:事由[:批准人]，可写多次")]
    pub leave: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Attend {
    #[arg(value_name = "会议编号", help = "会议的编号（zhibu meeting list 中列出的）")]
    pub meeting: String,
    #[arg(value_name = "党员", help = "党员的编号或姓名")]
    pub member: String,
    /// 出席、请假 或 缺席（只记补课时可不写）
    #[arg(value_name = "出席|请假|缺席", value_parser = parse_attendance)]
    pub status: Option<AttendanceStatus>,
    /// 请假事由
    #[arg(long, value_name = "事由")]
    pub reason: Option<String>,
    /// 请假批准人
    #[arg(long, value_name = "姓名")]
    pub approver: Option<String>,
    /// 补课日期
    #[arg(long, value_name = "日期", value_parser = parse_date)]
    pub makeup: Option<Date>,
}

#[derive(Debug, Subcommand)]
pub enum PointsCmd {
    /// 按积分规则奖励
    Award(Award),
    /// 按积分规则扣分（分值写正数）
    Deduct(Award),
    /// 作废一条积分记录
    Void {
        #[arg(value_name = "记录编号", help = "积分记录的编号")]
        entry: String,
        #[arg(long, value_name = "原因", help = "作废的原因（必填）")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct Award {
    #[arg(value_name = "党员", help = "党员的编号或姓名")]
    pub member: String,
    /// 积分规则代码，例如 volunteer（见 zhibu catalog）
    #[arg(value_name = "规则")]
    pub rule: String,
    #[arg(value_name = "分值", value_parser = parse_points, allow_negative_numbers = true)]
    pub points: u16,
    /// 日期（默认今天）
    #[arg(long, value_name = "日期", value_parser = parse_date)]
    pub date: Option<Date>,
    #[arg(long, value_name = "说明", help = "说明")]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CaseCmd {
    /// 为清单中的事项立项
    Open {
        /// 事项代码，例如 homestead（见 zhibu catalog）
        #[arg(value_name = "事项")]
        item: String,
        #[arg(value_name = "标题")]
        title: String,
        #[arg(long, value_name = "日期", value_parser = parse_date, help = "立项日期（默认今天）")]
        date: Option<Date>,
        #[arg(long, value_name = "姓名", help = "申请人")]
        applicant: Option<String>,
    },
    /// 完成一个办理步骤
    Step {
        #[arg(value_name = "事项编号", help = "事项的编号（zhibu case list 中列出的）")]
        case: String,
        #[arg(value_name = "步骤", help = "步骤的代码（zhibu catalog 中列出的）")]
        step: String,
        #[arg(long, value_name = "日期", value_parser = parse_date, help = "完成日期（默认今天）")]
        date: Option<Date>,
        #[arg(long, value_name = "说明", help = "说明")]
        note: Option<String>,
        /// 在哪次会议上办理（如党员大会审议：那次支部党员大会的会议编号），日期即会议日期
        #[arg(long, value_name = "会议编号", conflicts_with = "date")]
        meeting: Option<String>,
    },
    /// 记录公示：即办理流程中的公示步骤（公示、决议公开、实施结果公开、财务公开），一次记下起止日期和地点
    Notice {
        #[arg(value_name = "事项编号", help = "事项的编号（zhibu case list 中列出的）")]
        case: String,
        /// 哪一个公示步骤（默认：第一个还没记公示期的）
        #[arg(long, value_name = "步骤")]
        step: Option<String>,
        #[arg(long, value_name = "日期", value_parser = parse_date, help = "公示开始日期")]
        from: Date,
        #[arg(long, value_name = "日期", value_parser = parse_date, help = "公示结束日期")]
        to: Date,
        #[arg(long, value_name = "地点", help = "公示地点")]
        place: Option<String>,
    },
    /// 办结
    Close {
        #[arg(value_name = "事项编号", help = "事项的编号（zhibu case list 中列出的）")]
        case: String,
        #[arg(long, value_name = "结果", help = "办理结果")]
        outcome: String,
        #[arg(long, value_name = "日期", value_parser = parse_date, help = "办结日期（默认今天）")]
        date: Option<Date>,
        /// 更正已办结事项的结果或日期
        #[arg(long)]
        correct: bool,
    },
    /// 作废
    Void {
        #[arg(value_name = "事项编号", help = "事项的编号（zhibu case list 中列出的）")]
        case: String,
        #[arg(long, value_name = "原因", help = "作废的原因（必填）")]
        reason: String,
    },
    /// 列出事项及其缺漏（缺步骤、缺公示、超期）
    List,
}

/// A server's address: written with http:// or https://, or with no scheme at all (the phone
/// adds one); any other scheme is a mistake the cadre can fix here.
fn parse_server(s: &str) -> Result<String, String> {
    match s.trim().split_once("://") {
        Some((scheme, rest)) if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) => {
            Err(format!("服务器地址要以 http:// 或 https:// 开头（或不写），不是「{scheme}://{rest}」"))
        }
        Some((_, "")) => Err("服务器地址不完整：http:// 后面要写上地址".to_owned()),
        _ if s.trim().is_empty() => Err("服务器地址不能为空".to_owned()),
        _ => Ok(s.to_owned()),
    }
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse_written(s).map_err(|e| e.to_string())
}

/// A number of points, as typed: full-width digits and spaces around it are fine.
fn parse_points(s: &str) -> Result<u16, String> {
    let plain = half_width(s);
    let plain = plain.trim();
    match plain.parse::<u16>() {
        Ok(n) => Ok(n),
        Err(_) if plain.starts_with('-') => Err(format!("分值「{s}」写正数即可；扣分请用 zhibu points deduct")),
        Err(_) => Err(format!("分值「{s}」应为整数，例如 3")),
    }
}

fn parse_year(s: &str) -> Result<Year, String> {
    half_width(s)
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|y| Year::new(y).ok())
        .ok_or_else(|| format!("年份「{s}」应为 2000 到 2100 之间的整数"))
}

fn parse_period(s: &str) -> Result<(Year, Period), String> {
    Period::parse(half_width(s).trim()).ok_or_else(|| format!("期间「{s}」应写成 2026、2026-q2 或 2026-03"))
}

fn parse_kind(s: &str) -> Result<MeetingKind, String> {
    MeetingKind::ALL.into_iter().find(|k| k.code() == s || k.label() == s).ok_or_else(|| {
        format!("会议类型「{s}」不认识，应为 支部党员大会、支部委员会、党小组会、党课、主题党日 或 组织生活会")
    })
}

fn parse_attendance(s: &str) -> Result<AttendanceStatus, String> {
    AttendanceStatus::ALL
        .into_iter()
        .find(|a| a.code() == s || a.label() == s)
        .ok_or_else(|| format!("考勤「{s}」应为 出席、请假 或 缺席"))
}

fn parse_member_status(s: &str) -> Result<MemberStatus, String> {
    match s {
        "正式" | "正式党员" | "full" => Ok(MemberStatus::Full),
        "预备" | "预备党员" | "probationary" => Ok(MemberStatus::Probationary),
        _ => Err(format!("身份「{s}」应为 正式 或 预备")),
    }
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s {
        "是" | "yes" | "on" | "true" => Ok(true),
        "否" | "no" | "off" | "false" => Ok(false),
        _ => Err(format!("「{s}」应为 是 或 否")),
    }
}
