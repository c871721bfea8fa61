//! `zhibu-server admin ...`: townships, villages, accounts, roster imports and token
//! revocation, run against the same database as the server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use zhibu_schema::{Catalog, Collection, Member, MemberId, Name, TownshipId, VillageId, mapping};

use crate::api;
use crate::db::accounts::{NewAccount, Role};
use crate::db::documents::DocKey;
use crate::edit::server_edit;
use crate::roster;
use crate::state::AppState;

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// 新建乡镇
    CreateTownship {
        /// 乡镇编号（小写字母、数字和 -，如 t1）
        #[arg(value_name = "乡镇编号")]
        id: String,
        /// 乡镇名称
        #[arg(value_name = "名称")]
        name: String,
    },
    /// 新建村
    CreateVillage {
        /// 所属乡镇的编号
        #[arg(value_name = "乡镇编号")]
        township: String,
        /// 村编号（小写字母、数字和 -，如 v1）
        #[arg(value_name = "村编号")]
        id: String,
        /// 村名
        #[arg(value_name = "名称")]
        name: String,
    },
    /// 新建账号（密码取自 --password 或环境变量 ZHIBU_PASSWORD）
    CreateAccount {
        /// 用户名（登录时填写）
        #[arg(value_name = "用户名")]
        username: String,
        /// 角色：cadre（村干部）、township（乡镇）、member（党员）或 admin（管理员）
        #[arg(long, value_name = "角色")]
        role: String,
        /// 乡镇账号所属的乡镇编号
        #[arg(long, value_name = "乡镇编号")]
        township: Option<String>,
        /// 村干部、党员账号所属的村编号
        #[arg(long, value_name = "村编号")]
        village: Option<String>,
        /// 党员账号对应的党员编号（名册上的编号）
        #[arg(long, value_name = "党员编号")]
        member: Option<String>,
        /// 显示的姓名或职务（如 组织委员）
        #[arg(long, value_name = "名字")]
        name: Option<String>,
        /// 密码（最好用环境变量 ZHIBU_PASSWORD 给出，不留在命令历史里）
        #[arg(long, env = "ZHIBU_PASSWORD", hide_env = true, hide_env_values = true, value_name = "密码")]
        password: Option<String>,
    },
    #[command(
        about = "从 CSV 导入村党员名册（列：姓名, 党小组, 正式/预备, 支委, 入党日期[, 转正日期][, 转入日期][, 编号]）。\
                 没有编号的行按姓名对应村里已有的党员（今年、去年的名册和党员账号），再次导入不会重复添加；\
                 文件中空着的格子和党员的离开日期保持原样"
    )]
    ImportRoster {
        /// 村编号
        #[arg(value_name = "村编号")]
        village: String,
        /// 名册文件（CSV UTF-8）
        #[arg(value_name = "名册文件")]
        file: PathBuf,
        /// 年度，默认今年
        #[arg(long, value_name = "年份")]
        year: Option<i64>,
        #[arg(
            long,
            value_name = "文件",
            help = "为还没有账号的党员建账号（用户名即党员编号），每人一个随机初始密码，写入此 CSV 文件\
                    （文件须不存在，仅本人可读），再由乡镇分发"
        )]
        member_passwords: Option<PathBuf>,
        /// No longer taken: one password for every member let any member log in as another,
        /// whose id is the next number. Kept, hidden, to say so and name the way that is.
        #[arg(long, hide = true, env = "ZHIBU_MEMBER_PASSWORD", hide_env_values = true)]
        member_password: Option<String>,
    },
    /// 设置乡镇自己的目录文件（TOML 或 JSON）；不给文件则恢复默认
    SetCatalog {
        /// 乡镇编号
        #[arg(value_name = "乡镇编号")]
        township: String,
        /// 目录文件；不给则恢复默认目录
        #[arg(value_name = "目录文件")]
        file: Option<PathBuf>,
    },
    /// 吊销账号的全部登录令牌
    Revoke {
        /// 用户名
        #[arg(value_name = "用户名")]
        username: String,
    },
    /// 停用账号：不能再登录，已有的登录令牌全部作废（换人、密码泄露时用）
    Disable {
        /// 用户名
        #[arg(value_name = "用户名")]
        username: String,
    },
    /// 恢复停用的账号
    Enable {
        /// 用户名
        #[arg(value_name = "用户名")]
        username: String,
    },
    /// 重设账号的密码（取自 --password 或环境变量 ZHIBU_PASSWORD），已有的登录令牌全部作废
    SetPassword {
        /// 用户名
        #[arg(value_name = "用户名")]
        username: String,
        /// 新密码（最好用环境变量 ZHIBU_PASSWORD 给出，不留在命令历史里）
        #[arg(long, env = "ZHIBU_PASSWORD", hide_env = true, hide_env_values = true, value_name = "密码")]
        password: Option<String>,
    },
}

impl AdminCommand {
    /// The command as the audit log records it: its name and the ids it acts on, never a
    /// password or a file's content.
    pub fn audited(&self) -> String {
        match self {
            AdminCommand::CreateTownship { id, .. } => format!("create-township {id}"),
            AdminCommand::CreateVillage { township, id, .. } => format!("create-village {township} {id}"),
            AdminCommand::CreateAccount { username, role, .. } => format!("create-account {username} --role {role}"),
            AdminCommand::ImportRoster { village, year, .. } => match year {
                Some(y) => format!("import-roster {village} --year {y}"),
                None => format!("import-roster {village}"),
            },
            AdminCommand::SetCatalog { township, file } => {
                format!("set-catalog {township}{}", if file.is_some() { " FILE" } else { "" })
            }
            AdminCommand::Revoke { username } => format!("revoke {username}"),
            AdminCommand::Disable { username } => format!("disable {username}"),
            AdminCommand::Enable { username } => format!("enable {username}"),
            AdminCommand::SetPassword { username, .. } => format!("set-password {username}"),
        }
    }
}

/// The password given (`--password` or `ZHIBU_PASSWORD`), if it would do.
fn check_password(password: Option<String>) -> anyhow::Result<String> {
    let password = password.context("请给出密码：环境变量 ZHIBU_PASSWORD（不会留在命令历史里），或 --password")?;
    match crate::auth::password_problem(&password) {
        Some(problem) => bail!(problem),
        None => Ok(password),
    }
}

/// A random first password for a member: ten letters and digits, none easily mistaken for
/// another (no 0/o, 1/l/i), to be read off a printed list.
fn random_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    // Bytes at or past the last whole multiple of the alphabet's length are drawn again, so
    // that every character is as likely as any other.
    let fair = 256 - 256 % ALPHABET.len();
    let mut out = String::with_capacity(10);
    while out.len() < 10 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        if usize::from(byte[0]) < fair {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// A roster file's text, or why it cannot be read, in words a township clerk can act on (the
/// system's own error is in English, and a file saved by Excel as plain CSV is GBK, not UTF-8).
fn read_csv(file: &std::path::Path) -> anyhow::Result<String> {
    read_text(
        file,
        "（Excel 直接存的 CSV 多为 GBK）：请在 Excel 中「另存为」选「CSV UTF-8（逗号分隔）」，或在 WPS 中选 UTF-8 编码保存，再导入",
    )
}

/// A text file's text, or why it cannot be read in words a clerk can act on; `not_utf8` says
/// how to save it right.
fn read_text(file: &std::path::Path, not_utf8: &str) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "文件不存在，请核对路径".to_owned(),
            std::io::ErrorKind::PermissionDenied => "没有读取这个文件的权限".to_owned(),
            std::io::ErrorKind::IsADirectory => "这是文件夹，不是文件".to_owned(),
            _ => format!("读取出错（{e}）"),
        };
        anyhow::anyhow!("无法读取 {}：{why}", file.display())
    })?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} 不是 UTF-8 编码{not_utf8}", file.display()))
}

/// Refuses a catalog that drops a point rule or micro-power item the township's records name:
/// their entries and cases would show a bare code to members and staff, and a rule's points
/// would no longer be told from attendance's. Renaming one, or changing its range, is fine.
async fn refuse_dropping_codes_in_use(db: &crate::db::Db, township: &str, catalog: &Catalog) -> anyhow::Result<()> {
    let (rules, items) = db.codes_in_use(township).await?;
    let mut dropped: Vec<String> = rules
        .into_iter()
        .filter(|(code, _)| catalog.rule(code).is_none())
        .map(|(code, n)| format!("积分规则「{code}」（已有 {n} 条积分记录）"))
        .collect();
    dropped.extend(
        items
            .into_iter()
            .filter(|(code, _)| catalog.item(code).is_none())
            .map(|(code, n)| format!("小微权力事项「{code}」（已有 {n} 件）")),
    );
    if !dropped.is_empty() {
        bail!(
            "新目录去掉了记录中还在用的{}：这些记录会无法显示名称。请在目录中保留它们（可以改名称或分值范围），目录未更改",
            dropped.join("、")
        );
    }
    Ok(())
}

/// The members of a village's year as stored; none when the year was never stored.
async fn members_of(state: &AppState, key: &DocKey) -> anyhow::Result<BTreeMap<MemberId, Member>> {
    Ok(records_of(state, key).await?.map(|r| r.members.into_iter().collect()).unwrap_or_default())
}

/// A village's records of a year, when it has any.
async fn records_of(state: &AppState, key: &DocKey) -> anyhow::Result<Option<zhibu_schema::VillageYear>> {
    let loaded = state.db.load_doc(key).await?;
    if loaded.version == 0 {
        return Ok(None);
    }
    let read = mapping::read(&loaded.doc)
        .with_context(|| format!("村「{}」{} 年的记录无法读取，名册未导入", key.village, key.year))?;
    Ok(Some(read.doc))
}

/// What an import changes in figures already shown, said to the clerk: members the roster now
/// makes due at meetings the village recorded before without them (a new member with no
/// 转入日期, a day moved earlier), whom those records leave out (未记考勤); and members whose
/// recorded attendance a later day of joining or arriving stops counting.
fn import_notes(
    records: Option<&zhibu_schema::VillageYear>,
    catalog: &zhibu_schema::Catalog,
    members: &[(MemberId, roster::RosterRow)],
) -> Vec<String> {
    use zhibu_schema::derive::compliance::{due_at, due_of};
    let Some(records) = records else { return Vec::new() };
    let today = crate::api::today();
    let held: Vec<&zhibu_schema::Meeting> =
        records.live_meetings().map(|(_, m)| m).filter(|m| m.held_on <= today).collect();
    let (mut unmarked, mut dropped) = (Vec::new(), Vec::new());
    let said = |days: &[zhibu_schema::Date]| days.iter().min().map(|first| format!("{first} 起 {} 次", days.len()));
    for (id, row) in members {
        let before = records.members.get(id);
        let after = before.map_or_else(|| row.member.clone(), |m| row.update(m));
        let newly_due: Vec<zhibu_schema::Date> = held
            .iter()
            .filter(|m| {
                let due = due_of(m.kind, catalog);
                due_at(&after, m, due) && !before.is_some_and(|b| due_at(b, m, due)) && !m.attendance.contains_key(id)
            })
            .map(|m| m.held_on)
            .collect();
        if let Some(days) = said(&newly_due) {
            unmarked.push(format!("{}（{id}，{days}）", after.name));
        }
        let stopped: Vec<zhibu_schema::Date> = held
            .iter()
            .filter(|m| {
                m.attendance.contains_key(id)
                    && before.is_some_and(|b| b.active_on(m.held_on))
                    && !after.active_on(m.held_on)
            })
            .map(|m| m.held_on)
            .collect();
        if let Some(days) = said(&stopped) {
            dropped.push(format!("{}（{id}，{days}）", after.name));
        }
    }
    let mut notes = Vec::new();
    if !unmarked.is_empty() {
        notes.push(format!(
            "注意：按导入后的名册，这 {} 名党员是本年已记会议的应到人员，而这些会议没有记他们的考勤（未记考勤）：{}。\
             年内从别的支部转来的，请核对「转入日期」列（文件没有这一列就加上）后再导入一次，或由村干部用 zhibu roster arrive 记下；\
             也请核对入党日期",
            unmarked.len(),
            unmarked.join("、")
        ));
    }
    if !dropped.is_empty() {
        notes.push(format!(
            "注意：按导入后的入党日期或转入日期，这 {} 名党员此前已记考勤的会议不再计入积分和应到人数：{}",
            dropped.len(),
            dropped.join("、")
        ));
    }
    notes
}

/// Writes the first passwords of new member accounts where the township can print them:
/// a new file, readable by its owner only.
fn write_passwords(path: &std::path::Path, rows: &[(String, String, String)]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("无法新建 {}（文件须不存在，以免覆盖已分发的密码）", path.display()))?;
    let mut text = String::from("\u{feff}用户名,姓名,初始密码\n");
    for (id, name, password) in rows {
        text += &format!("{id},{name},{password}\n");
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("无法写入 {}", path.display()))
}

/// A township's or village's name as given, trimmed: never blank, for it heads the pages and
/// the exports' rows.
fn named(what: &str, name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() {
        bail!("{what}名称不能为空");
    }
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        bail!("{what}名称应为 64 个字以内、不含控制字符");
    }
    Ok(name.to_owned())
}

pub async fn run(state: &AppState, cmd: AdminCommand) -> anyhow::Result<()> {
    let db = &state.db;
    match cmd {
        AdminCommand::CreateTownship { id, name } => {
            TownshipId::parse(&id)?;
            let name = named("乡镇", &name)?;
            // Only `--demo` makes the demo township, whose accounts' password is published.
            if id == crate::demo::DEMO_TOWNSHIP {
                bail!("乡镇编号「{id}」留给演示乡镇（--demo），真实乡镇请换一个编号");
            }
            // The demo's accounts share one published password (the README's): a real
            // township's records never go beside them, as `--demo` never seeds beside a real one.
            if id != crate::demo::DEMO_TOWNSHIP && db.township_exists(crate::demo::DEMO_TOWNSHIP).await? {
                bail!(
                    "这个数据库里有演示乡镇（{}），它的账号密码是公开的；真实乡镇请用新的数据库（--database-url 或 ZHIBU_DATABASE_URL）",
                    crate::demo::DEMO_TOWNSHIP
                );
            }
            if !db.create_township(&id, &name).await? {
                bail!("乡镇「{id}」已存在");
            }
            println!("已新建乡镇「{name}」（{id}）");
        }
        AdminCommand::CreateVillage { township, id, name } => {
            VillageId::parse(&id)?;
            let name = named("村", &name)?;
            if !db.township_exists(&township).await? {
                bail!("乡镇「{township}」不存在");
            }
            if !db.create_village(&township, &id, &name).await? {
                bail!("村「{id}」已存在");
            }
            println!("已新建村「{name}」（{id}），属于乡镇 {township}");
        }
        AdminCommand::CreateAccount { username, role, township, village, member, name, password } => {
            zhibu_schema::AccountId::parse(&username)?;
            let role = Role::from_code(&role)
                .with_context(|| format!("角色「{role}」不对，应为 cadre、township、member 或 admin"))?;
            let password = check_password(password)?;
            // A village's account belongs to the village's township, whatever else is said.
            let township = match (&township, &village) {
                (given, Some(v)) => {
                    let of = db.village_township(v).await?.with_context(|| format!("村「{v}」不存在"))?;
                    if let Some(t) = given.as_ref().filter(|t| **t != of) {
                        bail!("村「{v}」属于乡镇「{of}」，不是「{t}」");
                    }
                    Some(of)
                }
                (Some(t), None) => {
                    if !db.township_exists(t).await? {
                        bail!("乡镇「{t}」不存在");
                    }
                    Some(t.clone())
                }
                (None, None) => None,
            };
            match role {
                Role::Cadre | Role::Member if village.is_none() => bail!("村干部和党员账号须用 --village 指明所在村"),
                Role::Member if member.is_none() => bail!("党员账号须用 --member 指明党员编号"),
                Role::Township if township.is_none() => bail!("乡镇账号须用 --township 指明乡镇"),
                Role::Township if village.is_some() => {
                    bail!("乡镇账号看全乡镇的记录，不属于某个村：请去掉 --village")
                }
                Role::Admin if township.is_some() || village.is_some() => {
                    bail!("管理员账号不属于乡镇或村：请去掉 --township、--village")
                }
                Role::Cadre | Role::Township | Role::Admin if member.is_some() => {
                    bail!("只有党员账号（--role member）才用 --member 指明党员编号")
                }
                _ => {}
            }
            if let (Some(m), Some(v), Some(t)) = (&member, &village, &township) {
                MemberId::parse(m)?;
                // The member's page shows this year's points, or last year's early in January.
                let this = api::this_year();
                let years = [Some(this), zhibu_schema::Year::new(i64::from(this) - 1).ok()];
                let mut on_roster = false;
                for y in years.into_iter().flatten() {
                    on_roster = on_roster || db.member_on_roster(t, v, y, m).await?;
                }
                if !on_roster {
                    bail!("村「{v}」今年和去年的名册上都没有党员「{m}」：请先导入名册（import-roster），或核对编号");
                }
                if let Some(other) =
                    db.member_accounts(v).await?.into_iter().find(|a| a.member_id.as_deref() == Some(m))
                {
                    bail!("党员「{m}」已有账号「{}」：忘了密码请用 set-password 重设", other.id);
                }
            }
            let new = NewAccount {
                id: username.clone(),
                password,
                role,
                township_id: township,
                village_id: village,
                member_id: member,
                display_name: name,
            };
            if !db.create_account(new).await? {
                bail!("账号「{username}」已存在");
            }
            println!("已新建{}账号 {username}", role.label());
        }
        AdminCommand::ImportRoster { village, file, year, member_passwords, member_password } => {
            let village = VillageId::parse(&village)?;
            let township =
                db.village_township(village.as_str()).await?.with_context(|| format!("村「{village}」不存在"))?;
            let year = match year {
                Some(y) => zhibu_schema::Year::new(y)?,
                None => api::this_year(),
            };
            if member_password.is_some() {
                bail!(
                    "--member-password 已停用：所有党员同一个初始密码，谁都能用别人的编号登录。请用 --member-passwords 文件，为每人生成各自的随机初始密码"
                );
            }
            // Checked before anything is written; `write_passwords` refuses it again.
            if let Some(p) = member_passwords.as_ref().filter(|p| p.exists()) {
                bail!("无法新建 {}（文件须不存在，以免覆盖已分发的密码）", p.display());
            }
            let folder = member_passwords.as_ref().and_then(|p| p.parent()).filter(|f| !f.as_os_str().is_empty());
            if let Some(folder) = folder.filter(|f| !f.is_dir()) {
                bail!("文件夹 {} 不存在，无法在其中写入初始密码；请先建好文件夹", folder.display());
            }
            let text = read_csv(&file)?;
            let (rows, mut errors) = roster::parse_rows(&text, Some(year));
            let key = DocKey { township: township.clone(), village: village.clone(), year };
            let records = records_of(state, &key).await?;
            let no_members = BTreeMap::new();
            let current: &BTreeMap<MemberId, Member> = records.as_ref().map_or(&no_members, |r| &r.members);
            // Whom the village has had: this year's roster, last year's, its member accounts.
            let mut known: Vec<(MemberId, Name)> = current.iter().map(|(id, m)| (id.clone(), m.name.clone())).collect();
            if let Ok(last) = zhibu_schema::Year::new(i64::from(year) - 1) {
                let last = members_of(state, &DocKey { year: last, ..key.clone() }).await?;
                known.extend(last.into_iter().map(|(id, m)| (id, m.name)));
            }
            let accounts = db.member_accounts(village.as_str()).await?;
            known.extend(accounts.iter().filter_map(|a| {
                let id = MemberId::parse(a.member_id.as_deref()?).ok()?;
                Some((id, Name::parse(a.display_name.as_deref()?).ok()?))
            }));
            let taken: Vec<MemberId> = db
                .other_accounts_named(&format!("{village}-"))
                .await?
                .iter()
                .filter_map(|id| MemberId::parse(id).ok())
                .collect();
            let members = roster::assign_ids_avoiding(&village, rows, &known, &taken).unwrap_or_else(|e| {
                errors.extend(e.0);
                Vec::new()
            });
            // A day of arrival after the day the village recorded the member leaving: said by its
            // line, with the file's other problems, before anything is written.
            errors.extend(members.iter().filter_map(|(id, row)| {
                let m = current.get(id).map_or_else(|| row.member.clone(), |m| row.update(m));
                let (arrived, left) = (m.arrived_on?, m.left_on?);
                (left < arrived).then(|| {
                    format!("第 {} 行：转入日期 {arrived} 晚于村里记下的离开日期 {left}（{}，{id}）", row.line, m.name)
                })
            }));
            if !errors.is_empty() {
                return Err(roster::RosterError(errors).into());
            }
            // Accounts to make: a member id another account holds as its name is refused before
            // anything is written (its member would log in to someone else's account).
            let mut new_accounts = Vec::new();
            if member_passwords.is_some() {
                let mut taken = Vec::new();
                for (id, row) in &members {
                    match db.account(id.as_str()).await? {
                        None => new_accounts.push((id.clone(), row.member.name.clone())),
                        Some(a)
                            if a.role == Role::Member
                                && a.village_id.as_deref() == Some(village.as_str())
                                && a.member_id.as_deref() == Some(id.as_str()) => {}
                        Some(_) => taken.push(format!(
                            "第 {} 行：用户名「{id}」已是另一个账号，无法为这名党员建账号；请在「编号」列换一个编号",
                            row.line
                        )),
                    }
                }
                if !taken.is_empty() {
                    return Err(roster::RosterError(taken).into());
                }
            }
            let updated =
                members.iter().filter(|(id, row)| current.get(id).is_some_and(|m| row.update(m) != *m)).count();
            let unchanged =
                members.iter().filter(|(id, row)| current.get(id).is_some_and(|m| row.update(m) == *m)).count();
            // Each member is made from the roster as it stands when the change is made, not as
            // read above: a phone's edit stored meanwhile (a member who left, a new group) is
            // kept where the file leaves it blank.
            server_edit(state, &key, "admin", "导入党员名册", |tx, now| {
                for (id, row) in &members {
                    let member = now.members.get(id).map_or_else(|| row.member.clone(), |m| row.update(m));
                    mapping::put_record(tx, Collection::Members, id.as_str(), &member)?;
                }
                Ok(())
            })
            .await?;
            println!(
                "已导入 {} 名党员到村 {village} 的 {year} 年名册（新增 {}，更新 {updated}，未变 {unchanged}）",
                members.len(),
                members.len() - updated - unchanged,
            );
            let absent: Vec<String> = current
                .iter()
                .filter(|(id, m)| m.left_on.is_none() && !members.iter().any(|(i, _)| i == *id))
                .map(|(id, m)| format!("{}（{id}）", m.name))
                .collect();
            if !absent.is_empty() {
                println!(
                    "名册文件中没有这 {} 名党员，已原样保留：{}。已离开的，请村干部在手机上记下离开日期",
                    absent.len(),
                    absent.join("、")
                );
            }
            let catalog = state.catalog_for(Some(&township)).await?;
            for note in import_notes(records.as_ref(), &catalog, &members) {
                println!("{note}");
            }
            if !new_accounts.is_empty() {
                let passwords: Vec<(String, String, String)> = new_accounts
                    .iter()
                    .map(|(id, n)| Ok((id.to_string(), n.to_string(), random_password()?)))
                    .collect::<anyhow::Result<_>>()?;
                // Written before the accounts are made: a password is never lost.
                if let Some(path) = &member_passwords {
                    write_passwords(path, &passwords)?;
                }
                for (id, name, password) in passwords {
                    let new = NewAccount {
                        id: id.clone(),
                        password,
                        role: Role::Member,
                        township_id: Some(township.clone()),
                        village_id: Some(village.to_string()),
                        member_id: Some(id),
                        display_name: Some(name),
                    };
                    db.create_account(new).await?;
                }
                let to = member_passwords.map(|p| format!("，初始密码已写入 {}", p.display())).unwrap_or_default();
                println!("已为 {} 名党员新建账号{to}", new_accounts.len());
            }
        }
        AdminCommand::SetCatalog { township, file } => {
            if !db.township_exists(&township).await? {
                bail!("乡镇「{township}」不存在");
            }
            let json = match file {
                Some(path) => {
                    let text = read_text(
                        &path,
                        "的文本：目录文件应是 TOML 或 JSON 文本文件（不是 Excel 表格），请用记事本等以 UTF-8 保存",
                    )?;
                    let catalog = Catalog::from_file_text(&path.to_string_lossy(), &text)?;
                    refuse_dropping_codes_in_use(db, &township, &catalog).await?;
                    Some(serde_json::to_string(&catalog)?)
                }
                None => {
                    // Back to the server's own catalog: the same check against it.
                    let server_catalog = state.catalog_for(None).await?;
                    refuse_dropping_codes_in_use(db, &township, &server_catalog).await?;
                    None
                }
            };
            db.set_township_catalog(&township, json.as_deref()).await?;
            println!("已更新乡镇「{township}」的目录");
            let done = crate::push::reproject_township(state, &township).await?;
            println!("已按新目录重算 {} 份村年度记录的统计", done.documents);
            for (key, why) in &done.skipped {
                eprintln!("村 {} {} 年的记录未重算：{why}", key.village, key.year);
            }
        }
        AdminCommand::Revoke { username } => {
            if db.account(&username).await?.is_none() {
                bail!("账号「{username}」不存在");
            }
            let n = db.revoke_tokens(&username).await?;
            println!("已吊销账号 {username} 的 {n} 个登录令牌");
        }
        AdminCommand::Disable { username } => {
            if !db.set_disabled(&username, true).await? {
                bail!("账号「{username}」不存在");
            }
            println!("已停用账号 {username}：不能再登录，已有的登录令牌全部作废");
        }
        AdminCommand::Enable { username } => {
            if !db.set_disabled(&username, false).await? {
                bail!("账号「{username}」不存在");
            }
            crate::throttle::unlock(db, &username, crate::db::now_ms()).await?;
            println!("已恢复账号 {username}（登录失败次数过多的锁定也已解除）");
        }
        AdminCommand::SetPassword { username, password } => {
            let password = check_password(password)?;
            if !db.set_password(&username, password).await? {
                bail!("账号「{username}」不存在");
            }
            // Locked out by wrong guesses, the owner may now log in with the new password.
            crate::throttle::unlock(db, &username, crate::db::now_ms()).await?;
            println!("已重设账号 {username} 的密码，已有的登录令牌全部作废");
        }
    }
    Ok(())
}
