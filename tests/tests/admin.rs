//! `zhibu-server admin ...` as a township clerk uses it, and `--catalog` replacing the default.

use std::process::Command;

use sqlx::Row;
use zhibu_schema::mapping;
use zhibu_server::Db;
use zhibu_server::db::documents::DocKey;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, TestDb};

const PROGRAM: &str = env!("CARGO_BIN_EXE_zhibu-server-under-test");

fn admin(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(PROGRAM)
        .args(["--database-url", db, "admin"])
        .args(args)
        .env("ZHIBU_PASSWORD", "secret-pass")
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_clerk_sets_up_a_township_and_imports_a_roster() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let url = db.url.as_str();
    // Before the township is made, the database is not there: a command other than
    // create-township says so rather than make an empty one (a mistyped path, another folder).
    let (ok, _, err) = admin(url, &["create-village", "t9", "c9", "九村"]);
    assert!(!ok && err.contains("不存在") && err.contains("create-township"), "{err}");
    assert!(!db.dir.path().join("zhibu.db").exists(), "no empty database made");
    // A name heads the pages and the exports' rows: never blank. The demo's id is the demo's.
    let (ok, _, err) = admin(url, &["create-township", "t9", "  "]);
    assert!(!ok && err.contains("乡镇名称不能为空"), "{err}");
    let (ok, _, err) = admin(url, &["create-township", "demo", "演示镇"]);
    assert!(!ok && err.contains("留给演示乡镇"), "{err}");
    assert!(admin(url, &["create-township", "t9", "九镇"]).0);
    let (ok, _, err) = admin(url, &["create-village", "t9", "c7", ""]);
    assert!(!ok && err.contains("村名称不能为空"), "{err}");
    assert!(admin(url, &["create-village", "t9", "c9", "九村"]).0);
    let (ok, _, err) = admin(url, &["create-village", "t9", "c9", "九村"]);
    assert!(!ok && err.contains("村「c9」已存在"), "{err}");
    // The database may also be named after `admin` and its command, where a clerk adds it.
    let after = Command::new(PROGRAM)
        .args(["admin", "create-village", "t9", "c8", "八村", "--database-url", url])
        .output()
        .expect("runs");
    assert!(after.status.success(), "{}", String::from_utf8_lossy(&after.stderr));
    let (ok, out, err) = admin(url, &["create-account", "c9-cadre", "--role", "cadre", "--village", "c9"]);
    assert!(ok, "{err}");
    assert!(out.contains("已新建村干部账号 c9-cadre"), "{out}");
    // Without a password, said in Chinese with where to give it.
    let out = Command::new(PROGRAM)
        .args(["--database-url", url, "admin", "create-account", "c9-other", "--role", "cadre", "--village", "c9"])
        .env_remove("ZHIBU_PASSWORD")
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("请给出密码：环境变量 ZHIBU_PASSWORD"), "{said}");
    // The audit log has it, without the password.
    assert!(err.contains("admin_command") && err.contains("create-account c9-cadre --role cadre"), "{err}");
    assert!(!err.contains("secret-pass"), "{err}");

    let bad = db.dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "姓名,党小组,正式/预备,支委,入党日期\n王建国,第一党小组,正式,是,1985-07-01\n李四,第一党小组,候补,否,\n",
    )
    .expect("write");
    let (ok, _, err) = admin(url, &["import-roster", "c9", bad.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("第 3 行：「正式/预备」应填“正式”或“预备”，不是「候补」"), "{err}");

    let good = db.dir.path().join("good.csv");
    std::fs::write(&good, "\u{feff}姓名,党小组,正式/预备,支委,入党日期\n王建国,第一党小组,正式,是,1985-07-01\n李秀英,第二党小组,预备,否,2025/6/1\n").expect("write");
    // One password for every member let any member log in as another: no longer taken.
    let (ok, _, err) =
        admin(url, &["import-roster", "c9", good.to_str().expect("path"), "--member-password", "member-pass"]);
    assert!(!ok && err.contains("--member-password 已停用") && err.contains("--member-passwords"), "{err}");
    // Passwords to a folder that is not there: said before the roster is written, not after.
    let nowhere = db.dir.path().join("no-such-folder").join("passwords.csv");
    let (ok, _, err) = admin(
        url,
        &["import-roster", "c9", good.to_str().expect("path"), "--member-passwords", nowhere.to_str().expect("path")],
    );
    assert!(!ok && err.contains("不存在") && err.contains("no-such-folder"), "{err}");
    let passwords = db.dir.path().join("passwords.csv");
    let (ok, out, err) = admin(
        url,
        &["import-roster", "c9", good.to_str().expect("path"), "--member-passwords", passwords.to_str().expect("path")],
    );
    assert!(ok, "{err}");
    let handed_out = std::fs::read_to_string(&passwords).expect("passwords");
    let first = handed_out.lines().find(|l| l.starts_with("c9-m01,")).expect("c9-m01's line");
    let first_password = first.rsplit(',').next().expect("password").to_owned();
    assert!(out.contains("已导入 2 名党员"), "{out}");

    let check = Db::connect(url).await.expect("connect");
    let key = DocKey {
        township: "t9".into(),
        village: zhibu_schema::VillageId::parse("c9").expect("id"),
        year: zhibu_server::api::this_year(),
    };
    let records = mapping::read(&check.load_doc(&key).await.expect("loads").doc).expect("reads").doc;
    let names: Vec<_> = records.members.values().map(|m| m.name.to_string()).collect();
    assert_eq!(names, ["王建国", "李秀英"]);
    assert!(check.verify_login("c9-m01", &first_password).await.expect("login").is_some(), "member accounts made");
    assert!(check.verify_login("c9-cadre", "secret-pass").await.expect("login").is_some());

    let catalog = db.dir.path().join("catalog.toml");
    std::fs::write(&catalog, zhibu_schema::catalog::DEFAULT_CATALOG_TOML.replace("max = 89", "max = 95"))
        .expect("write");
    let (ok, _, err) = admin(url, &["set-catalog", "t9", catalog.to_str().expect("path")]);
    assert!(!ok && err.contains("行：") && err.contains("分数区间重叠"), "{err}");
}

/// cadre1's phone awards v1-m01 `delta` points for volunteering.
fn volunteer(phone: &mut RawPhone, delta: i64) {
    let p = zhibu_schema::PointEntry {
        member_id: zhibu_schema::MemberId::parse("v1-m01").expect("id"),
        rule: zhibu_schema::Code::parse("volunteer").expect("code"),
        delta: zhibu_schema::PointDelta::new(delta).expect("delta"),
        on: phone.year().first_day(),
        note: None,
        by: zhibu_schema::AccountId::parse("cadre1").expect("id"),
        voided: None,
    };
    let id = zhibu_schema::RecordId::new_v7();
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, zhibu_schema::Collection::Points, &id, &p));
}

#[tokio::test]
async fn a_township_catalog_file_replaces_the_default() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let file = db.dir.path().join("township.toml");
    let text = zhibu_schema::catalog::DEFAULT_CATALOG_TOML.replace(
        "code = \"volunteer\"\nname = \"志愿服务、义务劳动\"\nsource = \"manual\"\nmin = 1\nmax = 5",
        "code = \"volunteer\"\nname = \"志愿服务、义务劳动\"\nsource = \"manual\"\nmin = 1\nmax = 3",
    );
    assert_ne!(text, zhibu_schema::catalog::DEFAULT_CATALOG_TOML);
    std::fs::write(&file, text).expect("write");
    let app = TestApp::start_on(db, Some(file)).await;
    let token = app.token("cadre1").await;
    let (status, body) = app.get(&token, "/v1/catalog").await;
    assert_eq!(status, 200);
    let c: zhibu_schema::Catalog = serde_json::from_slice(&body).expect("catalog");
    assert_eq!(c.rule("volunteer").map(|r| r.max), Some(3));
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    volunteer(&mut phone, 4);
    let refused = phone.sync(&app).await.expect_err("4 is over the township's 3");
    assert_eq!(refused.status, 422);
    assert!(refused.body["error"]["message"].as_str().expect("m").contains("应在 1 到 3 之间"));
}

/// The members' scores of a village as the report's tables hold them.
async fn scores(app: &TestApp, village: &str) -> Vec<(String, i64)> {
    let key = app.doc_key(village);
    let rows = sqlx::query(
        "SELECT member_id, score FROM p_members WHERE township_id = $1 AND village_id = $2 AND year = $3 \
         ORDER BY member_id",
    )
    .bind(&key.township)
    .bind(key.village.as_str())
    .bind(i64::from(key.year))
    .fetch_all(&app.state.db.pool)
    .await
    .expect("p_members");
    rows.iter().map(|r| (r.get::<String, _>("member_id"), r.get::<i64, _>("score"))).collect()
}

fn all_at(scores: &[(String, i64)], want: i64) -> bool {
    !scores.is_empty() && scores.iter().all(|(_, s)| *s == want)
}

/// A township's new catalog shows in its figures at once: `set-catalog` makes the rows of every
/// document of the township again, without waiting for each village's next push (last year's
/// documents never get one). Other townships keep theirs; later pushes build on the new rows.
async fn catalog_change_remakes_figures(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    for v in ["v1", "v2", "w1"] {
        assert!(all_at(&scores(&app, v).await, 100), "{v}: base score 100 before");
    }
    let file = app.db.dir.path().join("t1.toml");
    let text = zhibu_schema::catalog::DEFAULT_CATALOG_TOML
        .replace("base_score = 100", "base_score = 90")
        .replace("late_entry_days = 7 ", "late_entry_days = 15 ");
    assert_ne!(text, zhibu_schema::catalog::DEFAULT_CATALOG_TOML);
    std::fs::write(&file, text).expect("write");
    let (ok, out, err) = admin(&app.db.url, &["set-catalog", "t1", file.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains("已按新目录重算 2 份村年度记录的统计"), "{out}");
    assert!(all_at(&scores(&app, "v1").await, 90), "{:?}", scores(&app, "v1").await);
    assert!(all_at(&scores(&app, "v2").await, 90));
    assert!(all_at(&scores(&app, "w1").await, 100), "another township's catalog is not touched");
    // The dashboard explains 补录 by the township's own days.
    let staff = app.token("staff1").await;
    let page = zhibu_tests::http()
        .build()
        .expect("client")
        .get(format!("{}/township", app.url))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("dashboard");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(page.contains("晚于其日期 15 天以上") && !page.contains("晚于其日期 7 天"), "{page}");

    // The running server had v1 in memory with rows by the old catalog: its next push must
    // build on the new ones.
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    volunteer(&mut phone, 3);
    phone.sync(&app).await.expect("the entry is stored");
    let v1 = scores(&app, "v1").await;
    assert!(v1.iter().all(|(m, s)| *s == if m == "v1-m01" { 93 } else { 90 }), "{v1:?}");

    // A catalog that drops the rule the entry names is refused, and changes nothing: the entry
    // would show a bare code to its member.
    let mut without = zhibu_schema::Catalog::default();
    without.point_rules.retain(|r| r.code.as_str() != "volunteer");
    let dropped = app.db.dir.path().join("t1.json");
    std::fs::write(&dropped, serde_json::to_string(&without).expect("json")).expect("write");
    let (ok, _, err) = admin(&app.db.url, &["set-catalog", "t1", dropped.to_str().expect("path")]);
    assert!(!ok && err.contains("积分规则「volunteer」（已有 1 条积分记录）") && err.contains("目录未更改"), "{err}");
    assert_eq!(scores(&app, "v1").await, v1);

    // No file: back to the default catalog.
    let (ok, out, err) = admin(&app.db.url, &["set-catalog", "t1"]);
    assert!(ok && out.contains("已按新目录重算 2 份"), "{out}{err}");
    let v1 = scores(&app, "v1").await;
    assert!(v1.iter().all(|(m, s)| *s == if m == "v1-m01" { 103 } else { 100 }), "{v1:?}");

    // A catalog set while a push waits for its document (another process's set-catalog makes
    // the figures again meanwhile): the push is checked and its figures made with the new one,
    // not with the catalog in force when it came.
    // The standard protocol's first round of a session trades heads; the entry goes in the
    // second, which is held at the document.
    use automerge::sync::SyncDoc;
    volunteer(&mut phone, 2);
    let octets = "application/octet-stream";
    phone.state = automerge::sync::State::decode(&phone.state.encode()).expect("state");
    let heads = phone.doc.generate_sync_message(&mut phone.state).expect("first message");
    let (status, reply) = phone.post_raw(&app, heads.encode(), octets).await;
    assert_eq!(status, 200);
    let reply = automerge::sync::Message::decode(&reply).expect("reply");
    phone.doc.receive_sync_message(&mut phone.state, reply).expect("applies");
    let entry = phone.doc.generate_sync_message(&mut phone.state).expect("the entry's message").encode();
    let key = DocKey { township: "t1".into(), village: "v1".parse().expect("id"), year: phone.year() };
    let held = app.state.gates.document(&key).await;
    let push = phone.post_raw(&app, entry, octets);
    tokio::pin!(push);
    while app.state.gates.users(&key) < 2 {
        tokio::select! {
            done = &mut push => panic!("the push went past the held document: {done:?}"),
            () = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
        }
    }
    let (ok, _, err) = admin(&app.db.url, &["set-catalog", "t1", file.to_str().expect("path")]);
    assert!(ok, "{err}");
    drop(held);
    let (status, _) = push.await;
    assert_eq!(status, 200, "the entry is stored");
    let v1 = scores(&app, "v1").await;
    assert!(v1.iter().all(|(m, s)| *s == if m == "v1-m01" { 95 } else { 90 }), "{v1:?}");
}

zhibu_tests::backends!(a_new_catalog_remakes_the_townships_figures, catalog_change_remakes_figures);

/// `set-catalog` without a file gives the township back the server's default: the catalog the
/// server was started with (`--catalog`), not the admin command's own built-in one, though the
/// clerk gives the command no `--catalog`.
async fn back_to_the_servers_catalog(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let server_file = dir.path().join("server.toml");
    let text = zhibu_schema::catalog::DEFAULT_CATALOG_TOML.replace("base_score = 100", "base_score = 80");
    std::fs::write(&server_file, text).expect("write");
    let app = TestApp::start_on(db, Some(server_file)).await;
    assert!(all_at(&scores(&app, "v1").await, 80), "{:?}", scores(&app, "v1").await);
    let own = dir.path().join("t1.toml");
    let text = zhibu_schema::catalog::DEFAULT_CATALOG_TOML.replace("base_score = 100", "base_score = 90");
    std::fs::write(&own, text).expect("write");
    let (ok, _, err) = admin(&app.db.url, &["set-catalog", "t1", own.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(all_at(&scores(&app, "v1").await, 90));

    let (ok, out, err) = admin(&app.db.url, &["set-catalog", "t1"]);
    assert!(ok && out.contains("已按新目录重算 2 份"), "{out}{err}");
    assert!(all_at(&scores(&app, "v1").await, 80), "the server's catalog: {:?}", scores(&app, "v1").await);
    // A catalog given to the command is its own, as before.
    let (ok, _, err) = admin(&app.db.url, &["--catalog", own.to_str().expect("path"), "set-catalog", "t1"]);
    assert!(ok, "{err}");
    assert!(all_at(&scores(&app, "v1").await, 90), "{:?}", scores(&app, "v1").await);
}

zhibu_tests::backends!(set_catalog_without_a_file_goes_back_to_the_servers_catalog, back_to_the_servers_catalog);

/// A roster imported again (the clerk's corrected file, or next year's) is matched to the
/// members the village has by name: no one is added twice, no id moves to someone else, what
/// the file leaves blank and the day a member left stay as the village recorded them. New
/// members get accounts with their own random first passwords, written to a file for the
/// township to hand out. An id another account holds as its name is refused before anything is
/// written. And an account can be stopped, given a new password and started again.
async fn roster_again(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let url = app.db.url.clone();
    let before = app.records("v1").await;
    // The village records that v1-m02 left.
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let left = zhibu_server::api::today();
    phone.edit("党员离开", |tx| mapping::put_at(tx, &["members", "v1-m02", "left_on"], &left));
    phone.sync(&app).await.expect("stored");

    let mut csv = String::from("姓名,正式/预备,党小组,入党日期\n");
    for m in before.members.values() {
        csv += &format!("{},正式,,\n", m.name);
    }
    csv += "新党员甲,预备,第一党小组,\n";
    let file = app.db.dir.path().join("again.csv");
    std::fs::write(&file, &csv).expect("write");
    let passwords = app.db.dir.path().join("passwords.csv");
    let args = ["import-roster", "v1", file.to_str().expect("path")];
    let (ok, out, err) = admin(&url, &[&args[..], &["--member-passwords", passwords.to_str().expect("path")]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("新增 1，"), "{out}");
    let after = app.records("v1").await;
    assert_eq!(after.members.len(), before.members.len() + 1, "no one added twice");
    for (id, m) in &before.members {
        let now = &after.members[id];
        assert_eq!((&now.name, &now.group, now.joined_on), (&m.name, &m.group, m.joined_on), "{id} kept");
    }
    assert_eq!(after.members[&zhibu_schema::MemberId::parse("v1-m02").expect("id")].left_on, Some(left));
    let new_id = format!("v1-m{:02}", before.members.len() + 1);
    let list = std::fs::read_to_string(&passwords).expect("the passwords file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&passwords).expect("file").permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads the passwords: {mode:o}");
    }
    let line = list.lines().find(|l| l.starts_with(&format!("{new_id},新党员甲,"))).expect(&list);
    let password = line.rsplit(',').next().expect("password");
    assert_eq!(password.len(), 10);
    let check = Db::connect(&url).await.expect("connect");
    assert!(check.verify_login(&new_id, password).await.expect("login").is_some(), "{list}");
    assert!(!list.contains("v1-m01,"), "v1-m01 had an account already: {list}");
    let all: Vec<&str> = list.lines().skip(1).map(|l| l.rsplit(',').next().expect("password")).collect();
    let distinct: std::collections::HashSet<&&str> = all.iter().collect();
    assert!(all.len() > 1 && distinct.len() == all.len(), "each its own password: {list}");

    // The same file again: nothing new, and the file of passwords is never written over.
    let (ok, out, err) = admin(&url, &args);
    assert!(ok && out.contains(&format!("新增 0，更新 0，未变 {}", after.members.len())), "{out}{err}");
    // A file Excel saved as plain CSV (GBK), and a path that is not there: said so, in words
    // the clerk can act on.
    let gbk = app.db.dir.path().join("gbk.csv");
    std::fs::write(&gbk, b"\xd0\xd5\xc3\xfb,\xd5\xfd\xca\xbd/\xd4\xa4\xb1\xb8\n").expect("write");
    let (ok, _, err) = admin(&url, &["import-roster", "v1", gbk.to_str().expect("path")]);
    assert!(!ok && err.contains("不是 UTF-8 编码") && err.contains("CSV UTF-8"), "{err}");
    let (ok, _, err) = admin(&url, &["import-roster", "v1", "/no/such/roster.csv"]);
    assert!(!ok && err.contains("文件不存在") && !err.contains("os error"), "{err}");
    assert_eq!(app.records("v1").await.members.len(), after.members.len());
    let (ok, _, err) = admin(&url, &[&args[..], &["--member-passwords", passwords.to_str().expect("path")]].concat());
    assert!(!ok && err.contains("文件须不存在"), "{err}");

    // The id a new member would get is held by another account: the next free one is made.
    let next_id = format!("v1-m{:02}", after.members.len() + 1);
    let (ok, _, err) = admin(&url, &["create-account", &next_id, "--role", "cadre", "--village", "v1"]);
    assert!(ok, "{err}");
    std::fs::write(&file, format!("{csv}新党员乙,预备,,\n")).expect("write");
    let more = app.db.dir.path().join("more-passwords.csv");
    let (ok, out, err) = admin(&url, &[&args[..], &["--member-passwords", more.to_str().expect("path")]].concat());
    assert!(ok && out.contains("新增 1，"), "{out}{err}");
    let skipped = zhibu_schema::MemberId::parse(&format!("v1-m{:02}", after.members.len() + 2)).expect("id");
    let now = app.records("v1").await;
    assert_eq!(now.members[&skipped].name.as_str(), "新党员乙");
    assert!(!now.members.contains_key(&zhibu_schema::MemberId::parse(&next_id).expect("id")));
    // Written in the file, that id is refused, nothing written.
    let named = app.db.dir.path().join("named.csv");
    std::fs::write(&named, format!("姓名,正式/预备,编号\n新党员丙,正式,{next_id}\n")).expect("write");
    let most = app.db.dir.path().join("most-passwords.csv");
    let import =
        ["import-roster", "v1", named.to_str().expect("path"), "--member-passwords", most.to_str().expect("path")];
    let (ok, _, err) = admin(&url, &import);
    assert!(!ok && err.contains(&format!("用户名「{next_id}」已是另一个账号")), "{err}");
    assert_eq!(app.records("v1").await.members.len(), now.members.len());

    // Stopping an account ends its logins and its tokens; a new password ends the tokens too.
    let member = app.token("v1-m01").await;
    assert_eq!(app.get(&member, &format!("/v1/me/points?year={}", app.year)).await.0, 200);
    let (ok, out, err) = admin(&url, &["disable", "v1-m01"]);
    assert!(ok && out.contains("已停用"), "{out}{err}");
    assert_eq!(app.get(&member, &format!("/v1/me/points?year={}", app.year)).await.0, 401);
    assert!(check.verify_login("v1-m01", zhibu_tests::PASSWORD).await.expect("login").is_none());
    assert!(admin(&url, &["set-password", "v1-m01"]).0, "ZHIBU_PASSWORD is secret-pass");
    assert!(check.verify_login("v1-m01", "secret-pass").await.expect("login").is_none(), "still stopped");
    assert!(admin(&url, &["enable", "v1-m01"]).0);
    assert!(check.verify_login("v1-m01", "secret-pass").await.expect("login").is_some());
    assert!(check.verify_login("v1-m01", zhibu_tests::PASSWORD).await.expect("login").is_none(), "old password");
    for command in ["revoke", "disable", "enable", "set-password"] {
        let (ok, _, err) = admin(&url, &[command, "nobody"]);
        assert!(!ok && err.contains("账号「nobody」不存在"), "{command}: {err}");
    }
    // Account arguments that contradict each other.
    let (ok, _, err) = admin(&url, &["create-account", "x1", "--role", "cadre", "--village", "v1", "--township", "t2"]);
    assert!(!ok && err.contains("村「v1」属于乡镇「t1」"), "{err}");
    for (args, says) in [
        (&["--role", "member", "--village", "v1", "--member", "v1-m99"][..], "名册上都没有党员「v1-m99」"),
        (&["--role", "member", "--village", "v1", "--member", "v1-m01"], "党员「v1-m01」已有账号「v1-m01」"),
        (&["--role", "township", "--village", "v1"], "请去掉 --village"),
        (&["--role", "cadre", "--village", "v1", "--member", "v1-m02"], "只有党员账号"),
        (&["--role", "admin", "--township", "t1"], "管理员账号不属于乡镇或村"),
    ] {
        let (ok, _, err) = admin(&url, &[&["create-account", "x2"][..], args].concat());
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    assert!(check.verify_login("x2", zhibu_tests::PASSWORD).await.expect("login").is_none(), "none was made");
    let long = "密".repeat(90);
    let (ok, _, err) = admin(&url, &["set-password", "v1-m01", "--password", &long]);
    assert!(!ok && err.contains("密码太长"), "{err}");
}
zhibu_tests::backends!(a_roster_imported_again_keeps_its_members_and_accounts, roster_again);

/// A member who came from another branch during the year is imported with the day they came
/// (the roster file's 转入日期) and is not due at the meetings before it; one imported without it
/// after the village recorded meetings would count as due at them (未记考勤), and the clerk is
/// told so. A day outside the year is refused, nothing written.
async fn arrived_by_file(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let url = app.db.url.clone();
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let first = app.year.first_day();
    let mut meeting = zhibu_schema::Meeting::new(
        zhibu_schema::MeetingKind::ThemeDay,
        first,
        zhibu_schema::Line::parse("新年第一次主题党日").expect("topic"),
    );
    let m01 = zhibu_schema::MemberId::parse("v1-m01").expect("id");
    let m02 = zhibu_schema::MemberId::parse("v1-m02").expect("id");
    meeting.attendance.insert(m01.clone(), zhibu_schema::Attendance::absent());
    meeting.attendance.insert(m02.clone(), zhibu_schema::Attendance::absent());
    let id = zhibu_schema::RecordId::new_v7();
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, zhibu_schema::Collection::Meetings, &id, &meeting));
    phone.edit("党员离开", |tx| mapping::put_at(tx, &["members", "v1-m03", "left_on"], &first));
    phone.sync(&app).await.expect("stored");
    let before = app.records("v1").await.members.len();
    let gone = app.records("v1").await.members[&zhibu_schema::MemberId::parse("v1-m03").expect("id")].name.clone();
    let after_leaving = first.add_days(1).expect("date");

    let file = app.db.dir.path().join("new.csv");
    let import = ["import-roster", "v1", file.to_str().expect("path")];
    let last_year = first.add_days(-1).expect("date");
    let rows = format!("转来的甲,正式,{last_year}\n张三,正式,上个月\n{gone},正式,{after_leaving}\n");
    std::fs::write(&file, format!("姓名,正式/预备,转入日期\n{rows}")).expect("write");
    let (ok, _, err) = admin(&url, &import);
    assert!(!ok && err.contains(&format!("第 2 行：转入日期 {last_year} 不在 {} 年内", app.year)), "{err}");
    assert!(err.contains("第 3 行：转入日期「上个月」看不懂"), "every bad row at once: {err}");
    assert!(err.contains(&format!("第 4 行：转入日期 {after_leaving} 晚于村里记下的离开日期 {first}")), "{err}");
    assert_eq!(app.records("v1").await.members.len(), before, "nothing written");

    std::fs::write(&file, "姓名,正式/预备\n没写日期的乙,正式\n").expect("write");
    let (ok, out, err) = admin(&url, &import);
    assert!(ok, "{err}");
    assert!(out.contains("这 1 名党员是本年已记会议的应到人员") && out.contains("未记考勤"), "{out}");
    assert!(out.contains("没写日期的乙（") && out.contains(&format!("{first} 起 1 次")), "{out}");

    let today = zhibu_server::api::today();
    if today == first {
        eprintln!("today is the year's first day: no day after its first meeting to arrive on yet");
        return;
    }
    std::fs::write(&file, format!("姓名,正式/预备,转入日期\n转来的丙,正式,{today}\n")).expect("write");
    let (ok, out, err) = admin(&url, &import);
    assert!(ok && !out.contains("注意"), "{out}{err}");
    let records = app.records("v1").await;
    let (_, came) = records.members.iter().find(|(_, m)| m.name.as_str() == "转来的丙").expect("imported");
    assert_eq!(came.arrived_on, Some(today));

    // A member the village marked at that meeting, given a later 转入日期: the clerk is told the
    // attendance no longer counts.
    let name = records.members[&m01].name.clone();
    std::fs::write(&file, format!("姓名,正式/预备,转入日期\n{name},正式,{today}\n")).expect("write");
    let (ok, out, err) = admin(&url, &import);
    assert!(ok, "{err}");
    assert!(out.contains("此前已记考勤的会议不再计入积分和应到人数"), "{out}");
    assert!(out.contains(&format!("{name}（v1-m01，{first} 起 1 次）")), "{out}");
    // A later 入党日期 likewise.
    let other = records.members[&m02].name.clone();
    std::fs::write(&file, format!("姓名,正式/预备,入党日期\n{other},正式,{today}\n")).expect("write");
    let (ok, out, err) = admin(&url, &import);
    assert!(ok && out.contains(&format!("{other}（v1-m02，{first} 起 1 次）")), "{out}{err}");
}
zhibu_tests::backends!(a_member_who_came_during_the_year_is_imported_with_the_day, arrived_by_file);

/// `--demo` seeds accounts whose password is published: it refuses a database that holds a real
/// township, and starts again on its own demo database; a real township is refused in the
/// demo's database.
#[tokio::test]
async fn the_demo_never_goes_into_a_real_townships_database() {
    let run = |url: &str| {
        let mut child = Command::new(PROGRAM)
            .args(["--database-url", url, "--listen", "127.0.0.1:0", "--demo"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        // It either fails at once or says it started; then it is stopped.
        let mut first = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut first)
            .expect("read");
        let _ = child.kill();
        let out = child.wait_with_output().expect("ends");
        (first, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let real = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    assert!(admin(&real.url, &["create-township", "t9", "九镇"]).0);
    let (out, err) = run(&real.url);
    assert!(err.contains("--demo 只用于演示") && err.contains("九镇（t9）"), "{out}{err}");
    let check = Db::connect(&real.url).await.expect("connect");
    assert!(check.account("admin").await.expect("query").is_none(), "no demo account made");

    let demo = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    for time in ["first", "second"] {
        let (out, err) = run(&demo.url);
        assert!(out.contains("演示乡镇") || out.contains("已启动"), "{time} start: {out}{err}");
    }
    // Nor does a real township go into the demo's database, beside its published password.
    let (ok, _, err) = admin(&demo.url, &["create-township", "t9", "九镇"]);
    assert!(!ok && err.contains("演示乡镇") && err.contains("新的数据库"), "{err}");
    let check = Db::connect(&demo.url).await.expect("connect");
    assert!(!check.township_exists("t9").await.expect("query"), "no real township made");
}

/// A setting that would start a server refusing every login or request is refused at start.
#[test]
fn settings_that_would_refuse_everything_are_refused_at_start() {
    for (flag, value) in [("--token-days", "0"), ("--max-body-bytes", "0"), ("--request-timeout-secs", "0")] {
        let out = Command::new(PROGRAM)
            .args(["--database-url", "sqlite://unused.db", "--listen", "127.0.0.1:0", flag, value])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("之间的整数"), "{flag}: {err}");
    }
}

/// A PostgreSQL database that is not there is said so in Chinese, once, with what to do.
#[test]
fn a_postgresql_database_that_is_not_there_is_said_so() {
    let Ok(base) = std::env::var("ZHIBU_TEST_POSTGRES") else {
        zhibu_tests::skipped("PostgreSQL test (set ZHIBU_TEST_POSTGRES=postgres://user@host:port/db to run it)", true);
        return;
    };
    let (prefix, _) = base.rsplit_once('/').expect("postgres URL with a database");
    let url = format!("{prefix}/zhibu_no_such_database");
    let (ok, _, err) = admin(&url, &["revoke", "nobody"]);
    assert!(!ok && err.contains("数据库不存在") && err.matches("zhibu_no_such_database").count() == 1, "{err}");
}
