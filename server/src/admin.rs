//! `zhibu-server admin ...`: townships, villages, accounts, roster imports and token
//! revocation, run against the same database as the server.

use std::path::PathBuf;

use anyhow::{Context, bail};
use zhibu_schema::{Catalog, Collection, MemberId, TownshipId, VillageId, mapping};

use crate::api;
use crate::db::accounts::{NewAccount, Role};
use crate::db::documents::DocKey;
use crate::edit::server_edit;
use crate::roster;
use crate::state::AppState;

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// 新建乡镇
    CreateTownship { id: String, name: String },
    /// 新建村
    CreateVillage { township: String, id: String, name: String },
    /// 新建账号（密码取自 --password 或环境变量 ZHIBU_PASSWORD）
    CreateAccount {
        username: String,
        /// cadre | township | member | admin
        #[arg(long)]
        role: String,
        #[arg(long)]
        township: Option<String>,
        #[arg(long)]
        village: Option<String>,
        #[arg(long)]
        member: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, env = "ZHIBU_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// 从 CSV 导入村党员名册（列：姓名, 党小组, 正式/预备, 支委, 入党日期）
    ImportRoster {
        village: String,
        file: PathBuf,
        /// 年度，默认今年
        #[arg(long)]
        year: Option<i64>,
        /// 同时为每名党员建账号（用户名即党员编号），使用此初始密码
        #[arg(long)]
        member_password: Option<String>,
    },
    /// 设置乡镇自己的目录文件（TOML 或 JSON）；不给文件则恢复默认
    SetCatalog { township: String, file: Option<PathBuf> },
    /// 吊销账号的全部登录令牌
    Revoke { username: String },
}

pub async fn run(state: &AppState, cmd: AdminCommand) -> anyhow::Result<()> {
    let db = &state.db;
    match cmd {
        AdminCommand::CreateTownship { id, name } => {
            TownshipId::parse(&id)?;
            if !db.create_township(&id, &name).await? {
                bail!("乡镇「{id}」已存在");
            }
            println!("已新建乡镇「{name}」（{id}）");
        }
        AdminCommand::CreateVillage { township, id, name } => {
            VillageId::parse(&id)?;
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
            if password.chars().count() < 8 {
                bail!("密码至少 8 位");
            }
            let township = match (&township, &village) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(v)) => Some(db.village_township(v).await?.with_context(|| format!("村「{v}」不存在"))?),
                (None, None) => None,
            };
            match role {
                Role::Cadre | Role::Member if village.is_none() => bail!("村干部和党员账号须用 --village 指明所在村"),
                Role::Member if member.is_none() => bail!("党员账号须用 --member 指明党员编号"),
                Role::Township if township.is_none() => bail!("乡镇账号须用 --township 指明乡镇"),
                _ => {}
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
        AdminCommand::ImportRoster { village, file, year, member_password } => {
            let village = VillageId::parse(&village)?;
            let township =
                db.village_township(village.as_str()).await?.with_context(|| format!("村「{village}」不存在"))?;
            let year = match year {
                Some(y) => zhibu_schema::Year::new(y)?,
                None => api::this_year(),
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("无法读取 {}（须为 UTF-8 编码的 CSV）", file.display()))?;
            let rows = roster::parse(&text)?;
            let key = DocKey { township: township.clone(), village: village.clone(), year };
            let current = mapping::read(&db.load_doc(&key).await?.doc)
                .map(|h| h.doc.members.keys().cloned().collect::<Vec<MemberId>>())
                .unwrap_or_default();
            let members = roster::assign_ids(&village, rows, &current)?;
            server_edit(state, &key, "admin", "导入党员名册", |tx| {
                for (id, m) in &members {
                    mapping::put_record(tx, Collection::Members, id.as_str(), m)?;
                }
                Ok(())
            })
            .await?;
            if let Some(password) = member_password {
                for (id, m) in &members {
                    let new = NewAccount {
                        id: id.to_string(),
                        password: password.clone(),
                        role: Role::Member,
                        township_id: Some(township.clone()),
                        village_id: Some(village.to_string()),
                        member_id: Some(id.to_string()),
                        display_name: Some(m.name.to_string()),
                    };
                    db.create_account(new).await?;
                }
            }
            println!("已导入 {} 名党员到村 {village} 的 {year} 年名册", members.len());
        }
        AdminCommand::SetCatalog { township, file } => {
            if !db.township_exists(&township).await? {
                bail!("乡镇「{township}」不存在");
            }
            let json = match file {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).with_context(|| format!("无法读取 {}", path.display()))?;
                    let catalog = Catalog::from_file_text(&path.to_string_lossy(), &text)?;
                    Some(serde_json::to_string(&catalog)?)
                }
                None => None,
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
            let n = db.revoke_tokens(&username).await?;
            println!("已吊销账号 {username} 的 {n} 个登录令牌");
        }
    }
    Ok(())
}
