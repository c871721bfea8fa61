//! Fixtures for this crate's unit tests: a phone in a temporary directory with a cadre's login
//! and the sample roster of village `v1` for 2026, and a byte-for-byte picture of a store.

use std::collections::BTreeMap;
use std::path::Path;

use tempfile::TempDir;
use zhibu_schema::mapping::put_record;
use zhibu_schema::*;

use crate::session::{Account, Role, Session};
use crate::{DocKey, Phone};

pub(crate) struct TestPhone {
    pub phone: Phone,
    pub dir: TempDir,
}

pub(crate) fn year() -> Year {
    Year::new(2026).unwrap()
}
pub(crate) fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
pub(crate) fn mid(s: &str) -> MemberId {
    MemberId::parse(s).unwrap()
}
pub(crate) fn code(s: &str) -> Code {
    Code::parse(s).unwrap()
}
pub(crate) fn text<const N: usize, const L: bool>(s: &str) -> Text<N, L> {
    Text::parse(s).unwrap()
}
pub(crate) fn key() -> DocKey {
    DocKey::new(VillageId::parse("v1").unwrap(), year())
}

pub(crate) fn session(account: &str, role: Role) -> Session {
    Session {
        server: "http://127.0.0.1:9".into(),
        token: "t".into(),
        account: Account {
            id: AccountId::parse(account).unwrap(),
            role,
            township_id: Some("t1".into()),
            village_id: Some(VillageId::parse("v1").unwrap()),
            member_id: None,
            display_name: None,
        },
    }
}

/// A cadre's phone with the 12-member sample roster of v1 (v1-m01..m12; m01..m03 on the
/// committee, m08 probationary; groups 第一党小组 and 第二党小组) for 2026.
pub(crate) fn cadre_phone() -> TestPhone {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    phone.set_session(session("cadre1", Role::Cadre)).unwrap();
    let roster = sample::roster(&VillageId::parse("v1").unwrap(), year(), 12, 2);
    phone
        .commit(&key(), "导入党员名册".into(), |tx, _| {
            for (id, m) in &roster.members {
                put_record(tx, Collection::Members, id.as_str(), m)?;
            }
            Ok(())
        })
        .unwrap();
    TestPhone { phone, dir }
}

/// Every file of a store and its bytes (the lock file aside).
pub(crate) fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".lock")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Asserts that `edit` is refused with a message containing `message` and leaves the store and
/// the phone's document exactly as they were.
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    t: &TestPhone,
    message: &str,
    edit: impl FnOnce(&Phone) -> Result<T, crate::ClientError>,
) -> crate::ClientError {
    let before = files(t.dir.path());
    let heads = t.phone.lock().docs.get(&key()).map(|d| d.replica.doc.get_heads());
    let err = edit(&t.phone).expect_err("the edit should be refused");
    assert!(err.to_string().contains(message), "message {:?} lacks {message:?}", err.to_string());
    assert_eq!(err.kind(), crate::ErrorKind::Refused, "{err:?}");
    assert!(files(t.dir.path()) == before, "a refused edit changed the store");
    assert_eq!(t.phone.lock().docs.get(&key()).map(|d| d.replica.doc.get_heads()), heads);
    err
}

/// The number of changes and the last change's message of the test document.
pub(crate) fn history(phone: &Phone) -> (usize, Option<String>) {
    let inner = phone.lock();
    let doc = &inner.docs[&key()].replica.doc;
    let changes = doc.get_changes(&[]);
    (changes.len(), changes.last().and_then(|c| c.message().map(str::to_owned)))
}
