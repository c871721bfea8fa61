use zhibu_schema::{Attendance, Meeting, MeetingKind};

use super::*;
use crate::session::Role;
use crate::store::StoreError;
use crate::testutil::*;

#[test]
fn every_acknowledged_edit_is_there_after_reopening() {
    let t = cadre_phone();
    let mut m = Meeting::new(MeetingKind::ThemeDay, d("2026-05-08"), text("主题党日"));
    m.attendance.insert(mid("v1-m01"), Attendance::present());
    let id = t.phone.record_meeting(&m).unwrap();
    let heads = t.phone.lock().docs[&key()].replica.doc.get_heads();
    let device = t.phone.device();
    drop(t.phone);

    let again = Phone::open(t.dir.path()).unwrap();
    assert_eq!(again.records(year()).unwrap().meetings.get(&id).map(|m| &**m), Some(&m));
    assert_eq!(again.lock().docs[&key()].replica.doc.get_heads(), heads);
    assert_eq!(again.device(), device, "the actor is made once and kept");
    assert_eq!(again.session().unwrap().account.id.as_str(), "cadre1");
    assert_eq!(again.pending_edits(), 2, "roster import and meeting wait to sync");
}

#[test]
fn a_second_opener_in_the_same_process_gets_a_lock_error() {
    let t = cadre_phone();
    let err = Phone::open(t.dir.path()).unwrap_err();
    assert!(matches!(err, ClientError::Store(StoreError::Locked { .. })), "{err:?}");
    assert!(err.to_string().contains("正被另一个 zhibu 程序使用"), "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::Store);
    let clone = t.phone.clone();
    drop(t.phone);
    assert!(Phone::open(t.dir.path()).is_err(), "a clone still holds the lock");
    drop(clone);
    Phone::open(t.dir.path()).expect("released with the last handle");
}

#[test]
fn edits_need_a_cadres_login() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    let m = Meeting::new(MeetingKind::ThemeDay, d("2026-05-08"), text("主题党日"));
    let err = phone.record_meeting(&m).unwrap_err();
    assert!(matches!(err, ClientError::NotLoggedIn), "{err:?}");
    phone.set_session(session("v1-m01", Role::Member)).unwrap();
    let err = phone.record_meeting(&m).unwrap_err();
    assert!(err.to_string().contains("不能修改或同步村里的记录"), "{err}");
    assert!(files(dir.path()).keys().all(|f| !f.ends_with(".log")), "no document was written");
}

#[test]
fn logging_out_keeps_the_documents() {
    let t = cadre_phone();
    t.phone.clear_session().unwrap();
    assert!(t.phone.session().is_none());
    drop(t.phone);
    let again = Phone::open(t.dir.path()).unwrap();
    assert!(again.session().is_none());
    assert_eq!(again.documents(), vec![key()]);
}

#[test]
fn a_login_of_another_township_does_not_check_against_the_first_ones_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    phone.set_session(session("cadre1", Role::Cadre)).unwrap();
    let mut t1 = Catalog::default();
    t1.base_score += 1;
    phone.set_catalog(t1.clone()).unwrap();
    assert_eq!(phone.catalog(), t1);
    // The phone changes hands: a cadre of another township logs in.
    phone.clear_session().unwrap();
    let mut other = session("cadre9", Role::Cadre);
    other.account.township_id = Some("t9".into());
    other.account.village_id = Some(VillageId::parse("v9").unwrap());
    phone.set_session(other.clone()).unwrap();
    assert_eq!(phone.catalog(), Catalog::default(), "the built-in one until the next sync");
    assert_eq!(phone.catalog_fetched_at(), None, "fetched at the next sync");
    drop(phone);
    let again = Phone::open(dir.path()).unwrap();
    assert_eq!(again.catalog(), Catalog::default(), "opening the phone makes the same choice");
    // What the next sync fetches is the new township's, and stays so.
    let mut t9 = Catalog::default();
    t9.base_score += 2;
    again.set_catalog(t9.clone()).unwrap();
    drop(again);
    let again = Phone::open(dir.path()).unwrap();
    assert_eq!(again.catalog(), t9);
    assert!(again.catalog_fetched_at().is_some());
}

#[test]
fn the_log_is_folded_into_a_snapshot_once_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open_with(dir.path(), PhoneOptions { compact_log_bytes: 2_000 }).unwrap();
    phone.set_session(session("cadre1", Role::Cadre)).unwrap();
    for i in 0..30 {
        let m = zhibu_schema::Member::new(text(&format!("党员{i}")), zhibu_schema::MemberStatus::Full);
        phone.add_member(year(), &mid(&format!("v1-x{i:02}")), &m).unwrap();
    }
    assert!(dir.path().join("v1.2026.snap").exists(), "compacted");
    let heads = phone.lock().docs[&key()].replica.doc.get_heads();
    drop(phone);
    let again = Phone::open(dir.path()).unwrap();
    assert_eq!(again.lock().docs[&key()].replica.doc.get_heads(), heads);
    assert_eq!(again.records(year()).unwrap().members.len(), 30);
}

#[test]
fn a_damaged_login_file_is_reported_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ACCOUNT_FILE), b"{not json").unwrap();
    let err = Phone::open(dir.path()).unwrap_err();
    assert!(matches!(err, ClientError::Damaged { .. }), "{err:?}");
    assert!(err.to_string().contains("请不要删除该目录"), "{err}");
}

#[test]
fn a_damaged_sync_metadata_file_does_not_keep_the_phone_from_opening() {
    let t = cadre_phone();
    let mut m = Meeting::new(MeetingKind::ThemeDay, d("2026-05-08"), text("主题党日"));
    m.attendance.insert(mid("v1-m01"), Attendance::present());
    let id = t.phone.record_meeting(&m).unwrap();
    let meta = crate::replica::meta::path_for(t.dir.path(), &key());
    t.phone.lock().docs[&key()].replica.meta.save(&meta).unwrap();
    drop(t.phone);
    std::fs::write(&meta, b"{").unwrap();

    let again = Phone::open(t.dir.path()).expect("opens: the metadata only saves work");
    assert!(again.records(year()).unwrap().meetings.contains_key(&id), "the edit is there");
    assert_eq!(again.pending_edits(), 2, "and still waits to sync");
}

/// A crash between storing the new account's identity and its login leaves the two files
/// disagreeing: the login is forgotten, so no edit goes out under an identity the server would
/// bind to the wrong account, and logging in again sets both.
#[test]
fn a_login_cut_short_between_its_two_files_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    phone.set_session(session("cadre1", Role::Cadre)).unwrap();
    drop(phone);
    let path = dir.path().join("device.json");
    let mut device: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    device["account"] = "cadre2".into();
    std::fs::write(&path, serde_json::to_vec(&device).unwrap()).unwrap();
    let again = Phone::open(dir.path()).unwrap();
    assert!(again.session().is_none(), "asked to log in again");
    again.set_session(session("cadre1", Role::Cadre)).unwrap();
    assert_eq!(again.device().account.as_deref(), Some("cadre1"));
    drop(again);
    assert!(Phone::open(dir.path()).unwrap().session().is_some(), "both files agree now");
}
