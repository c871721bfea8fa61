//! The demo township: `demo` with villages `demo-1`..`demo-3`, realistic rosters in the
//! current year's documents, and accounts for every role, all with the password `zhibu-demo`.
//! Seeding is idempotent: what exists is left as it is.

use zhibu_schema::{Collection, VillageId, sample};

use crate::db::accounts::{NewAccount, Role};
use crate::db::documents::DocKey;
use crate::edit::server_edit;
use crate::error::AppResult;
use crate::state::AppState;

pub const DEMO_PASSWORD: &str = "zhibu-demo";
pub const DEMO_TOWNSHIP: &str = "demo";

/// (village id, name, members, party groups)
const VILLAGES: [(&str, &str, usize, usize); 3] =
    [("demo-1", "红旗村", 32, 3), ("demo-2", "向阳村", 24, 2), ("demo-3", "光明村", 28, 4)];

/// Seeds the demo township if absent; returns the lines to print.
pub async fn seed(state: &AppState) -> AppResult<Vec<String>> {
    let db = &state.db;
    db.create_township(DEMO_TOWNSHIP, "示范镇").await?;
    let year = crate::api::this_year();
    let account =
        |id: &str, role: Role, village: Option<&str>, member: Option<String>, name: Option<String>| NewAccount {
            id: id.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            role,
            township_id: Some(DEMO_TOWNSHIP.to_owned()),
            village_id: village.map(str::to_owned),
            member_id: member,
            display_name: name,
        };
    let mut lines = vec![format!("演示乡镇「示范镇」（{DEMO_TOWNSHIP}），{year} 年，所有账号密码：{DEMO_PASSWORD}")];
    db.create_account(NewAccount {
        township_id: None,
        ..account("admin", Role::Admin, None, None, Some("管理员".into()))
    })
    .await?;
    db.create_account(account("township", Role::Township, None, None, Some("示范镇组织委员".into()))).await?;
    db.create_account(account("cadre1", Role::Cadre, Some("demo-1"), None, Some("红旗村支部书记".into()))).await?;
    db.create_account(account("cadre2", Role::Cadre, Some("demo-1"), None, Some("红旗村组织委员".into()))).await?;
    db.create_account(account("cadre3", Role::Cadre, Some("demo-2"), None, Some("向阳村支部书记".into()))).await?;
    lines.push("  admin     管理员".into());
    lines.push("  township  乡镇工作人员（示范镇）".into());
    lines.push("  cadre1    村干部（demo-1 红旗村）".into());
    lines.push("  cadre2    村干部（demo-1 红旗村）".into());
    lines.push("  cadre3    村干部（demo-2 向阳村）".into());

    for (id, name, size, groups) in VILLAGES {
        let village = VillageId::parse(id).expect("demo ids are valid");
        db.create_village(DEMO_TOWNSHIP, id, name).await?;
        let key = DocKey { township: DEMO_TOWNSHIP.to_owned(), village: village.clone(), year };
        let roster = sample::roster(&village, year, size, groups);
        if db.load_doc(&key).await?.version == 0 {
            server_edit(state, &key, "admin", "导入党员名册", |tx, _| {
                for (mid, m) in &roster.members {
                    zhibu_schema::mapping::put_record(tx, Collection::Members, mid.as_str(), m)?;
                }
                Ok(())
            })
            .await?;
        }
        for (mid, m) in &roster.members {
            db.create_account(account(
                mid.as_str(),
                Role::Member,
                Some(id),
                Some(mid.to_string()),
                Some(m.name.to_string()),
            ))
            .await?;
        }
        let first = roster.members.keys().next().map(ToString::to_string).unwrap_or_default();
        let last = roster.members.keys().last().map(ToString::to_string).unwrap_or_default();
        lines.push(format!("  {first} … {last}  {name}（{id}）的 {size} 名党员，用户名即党员编号"));
    }
    Ok(lines)
}
