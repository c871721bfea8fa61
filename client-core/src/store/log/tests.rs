use std::fs::{self, OpenOptions};
use std::io::Write;

use tempfile::TempDir;

use super::*;

const NAME: &str = "demo-1.2026";

fn store() -> (TempDir, DocFile) {
    let tmp = tempfile::tempdir().unwrap();
    let doc = DocFile::open(tmp.path(), NAME).unwrap();
    (tmp, doc)
}

fn reopen(tmp: &TempDir) -> DocFile {
    DocFile::open(tmp.path(), NAME).unwrap()
}

fn log_path(tmp: &TempDir) -> PathBuf {
    tmp.path().join(format!("{NAME}.log"))
}

/// The log file holds exactly the header and the whole records, no leftover bytes.
fn assert_no_leftover(tmp: &TempDir, doc: &DocFile) {
    let on_disk = fs::metadata(log_path(tmp)).unwrap().len();
    assert_eq!(on_disk, HEADER_LEN as u64 + doc.log_len());
}

fn chunks(doc: &DocFile) -> Vec<Vec<u8>> {
    doc.load().unwrap().chunks
}

fn owned(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    chunks.iter().map(|c| c.to_vec()).collect()
}

#[test]
fn a_new_document_loads_empty_and_opening_it_writes_nothing() {
    let (tmp, doc) = store();

    assert_eq!(doc.load().unwrap(), Loaded::default());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn appended_chunks_come_back_in_order_after_reopening() {
    let (tmp, mut doc) = store();
    doc.append(b"one").unwrap();
    doc.append(&[7u8; 5000]).unwrap();
    doc.append(b"three").unwrap();
    drop(doc);

    let loaded = reopen(&tmp).load().unwrap();

    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.chunks, vec![b"one".to_vec(), vec![7u8; 5000], b"three".to_vec()]);
}

#[test]
fn a_torn_tail_is_ignored_and_then_cut_by_the_next_append() {
    let (tmp, mut doc) = store();
    doc.append(b"kept").unwrap();
    doc.append(&[b'x'; 300]).unwrap();
    drop(doc);
    let len = fs::metadata(log_path(&tmp)).unwrap().len();
    let file = OpenOptions::new().write(true).open(log_path(&tmp)).unwrap();
    file.set_len(len - 100).unwrap();

    let mut doc = reopen(&tmp);
    assert_eq!(chunks(&doc), owned(&[b"kept"]));
    doc.append(b"after the crash").unwrap();
    assert_no_leftover(&tmp, &doc);

    assert_eq!(chunks(&reopen(&tmp)), owned(&[b"kept", b"after the crash"]));
}

#[test]
fn garbage_after_the_last_record_is_ignored_and_then_cut_by_the_next_append() {
    let (tmp, mut doc) = store();
    doc.append(b"kept").unwrap();
    drop(doc);
    let mut file = OpenOptions::new().append(true).open(log_path(&tmp)).unwrap();
    file.write_all(&[0xAB; 37]).unwrap();

    let mut doc = reopen(&tmp);
    assert_eq!(chunks(&doc), owned(&[b"kept"]));
    doc.append(b"next").unwrap();
    assert_no_leftover(&tmp, &doc);

    assert_eq!(chunks(&reopen(&tmp)), owned(&[b"kept", b"next"]));
}

#[test]
fn a_last_record_with_a_bad_checksum_is_dropped() {
    let (tmp, mut doc) = store();
    doc.append(b"good").unwrap();
    doc.append(b"bad").unwrap();
    drop(doc);
    let mut bytes = fs::read(log_path(&tmp)).unwrap();
    *bytes.last_mut().unwrap() ^= 0x10;
    fs::write(log_path(&tmp), &bytes).unwrap();

    assert_eq!(chunks(&reopen(&tmp)), owned(&[b"good"]));
}

#[test]
fn compact_replaces_the_snapshot_and_empties_the_log() {
    let (tmp, mut doc) = store();
    doc.append(b"a").unwrap();
    doc.append(b"b").unwrap();
    doc.compact(b"snapshot of a+b").unwrap();
    doc.append(b"c").unwrap();
    drop(doc);

    let loaded = reopen(&tmp).load().unwrap();

    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot of a+b"[..]));
    assert_eq!(loaded.chunks, owned(&[b"c"]));
}

#[test]
fn a_crash_between_snapshot_and_log_reset_neither_loses_nor_replays_chunks() {
    let (tmp, mut doc) = store();
    doc.append(b"a").unwrap();
    let log_before_compact = fs::read(log_path(&tmp)).unwrap();
    doc.compact(b"snapshot of a").unwrap();
    drop(doc);
    // As if the process died after the snapshot's rename, before the log was replaced.
    fs::write(log_path(&tmp), &log_before_compact).unwrap();

    let mut doc = reopen(&tmp);
    let loaded = doc.load().unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot of a"[..]));
    assert_eq!(loaded.chunks, Vec::<Vec<u8>>::new());
    assert_eq!(doc.log_len(), 0);
    doc.append(b"b").unwrap();

    assert_eq!(chunks(&reopen(&tmp)), owned(&[b"b"]));
}

#[test]
fn a_log_whose_snapshot_is_gone_is_reported_not_guessed_at() {
    let (tmp, mut doc) = store();
    doc.compact(b"snapshot").unwrap();
    doc.append(b"needs the snapshot").unwrap();
    drop(doc);
    fs::remove_file(tmp.path().join(format!("{NAME}.snap"))).unwrap();

    let err = DocFile::open(tmp.path(), NAME).unwrap_err();

    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("联系乡镇管理员"), "{err}");
}

#[test]
fn log_len_counts_records_and_restarts_at_compact() {
    let (_tmp, mut doc) = store();
    assert_eq!(doc.log_len(), 0);

    doc.append(b"12345").unwrap();
    assert_eq!(doc.log_len(), (record::FRAME_LEN + 5) as u64);

    doc.compact(b"s").unwrap();
    assert_eq!(doc.log_len(), 0);
}

#[test]
fn unsafe_names_are_refused_before_touching_the_disk() {
    let tmp = tempfile::tempdir().unwrap();

    let err = DocFile::open(tmp.path(), "../escape").unwrap_err();

    assert!(matches!(err, StoreError::InvalidName { .. }), "{err:?}");
}

#[test]
fn a_damaged_record_mid_log_is_stepped_over_and_the_edits_after_it_are_kept() {
    let (tmp, mut doc) = store();
    for chunk in [&b"r1"[..], b"r2", b"r3"] {
        doc.append(chunk).unwrap();
    }
    drop(doc);
    let mut bytes = fs::read(log_path(&tmp)).unwrap();
    let r2_payload = HEADER_LEN + (8 + 2) + 8;
    bytes[r2_payload] ^= 0x01;
    fs::write(log_path(&tmp), &bytes).unwrap();

    let mut doc = reopen(&tmp);
    assert_eq!(chunks(&doc), owned(&[b"r1", b"r3"]));
    doc.append(b"r4").unwrap();
    assert_eq!(chunks(&reopen(&tmp)), owned(&[b"r1", b"r3", b"r4"]));
    let on_disk = fs::read(log_path(&tmp)).unwrap();
    assert_eq!(&on_disk[..bytes.len()], &bytes[..], "nothing written before was cut or rewritten");
}

#[test]
fn what_an_append_cuts_is_kept_beside_the_log() {
    let (tmp, mut doc) = store();
    doc.append(b"r1").unwrap();
    doc.append(b"r2").unwrap();
    doc.append(b"r3").unwrap();
    drop(doc);
    // Damage to the last record's length (r3): it can no longer be framed, and nothing whole
    // follows it, as after a torn append.
    let mut bytes = fs::read(log_path(&tmp)).unwrap();
    let r3 = HEADER_LEN + 2 * (8 + 2);
    bytes[r3] ^= 0x40;
    fs::write(log_path(&tmp), &bytes).unwrap();

    let mut doc = reopen(&tmp);
    assert_eq!(chunks(&doc), owned(&[b"r1", b"r2"]));
    doc.append(b"r4").unwrap();
    assert_no_leftover(&tmp, &doc);
    let kept = fs::read(tmp.path().join(format!("{NAME}.log.cut-{}", r3))).expect("the cut bytes are kept");
    assert_eq!(kept, bytes[r3..]);

    // The same damage again at the same offset: the second cut is kept beside the first, not
    // over it.
    drop(doc);
    let mut again = fs::read(log_path(&tmp)).unwrap();
    again[r3] ^= 0x40;
    fs::write(log_path(&tmp), &again).unwrap();
    let mut doc = reopen(&tmp);
    doc.append(b"r5").unwrap();
    assert_eq!(fs::read(tmp.path().join(format!("{NAME}.log.cut-{}", r3))).unwrap(), kept, "the first cut is whole");
    let second = fs::read(tmp.path().join(format!("{NAME}.log.cut-{}-2", r3))).expect("the second cut is kept");
    assert_eq!(second, again[r3..]);
}

#[test]
fn whole_records_past_a_damaged_length_make_the_log_damaged_and_are_salvaged() {
    let (tmp, mut doc) = store();
    for chunk in [&b"r1"[..], b"r2", b"r3"] {
        doc.append(chunk).unwrap();
    }
    drop(doc);
    // Damage to r2's length: r3, whole, can no longer be read in order. Shown without it, the
    // document would hide an edit, and the next append would cut it off.
    let mut bytes = fs::read(log_path(&tmp)).unwrap();
    bytes[HEADER_LEN + 8 + 2] ^= 0x40;
    fs::write(log_path(&tmp), &bytes).unwrap();

    let err = reopen(&tmp).load().unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { detail, .. } if detail.contains("1 条记录")), "{err}");
    assert_eq!(salvage(tmp.path(), NAME).chunks, owned(&[b"r1", b"r3"]));
    assert_eq!(fs::read(log_path(&tmp)).unwrap(), bytes, "nothing was written");
}

#[test]
fn salvage_reads_the_tails_cut_from_the_log() {
    let (tmp, mut doc) = store();
    doc.append(b"r1").unwrap();
    drop(doc);
    // A tail cut by an earlier append, holding a record whole after some garbage.
    let mut cut = vec![0xff; 5];
    cut.extend(record::encode(b"kept aside").unwrap());
    fs::write(tmp.path().join(format!("{NAME}.log.cut-99")), &cut).unwrap();

    assert_eq!(salvage(tmp.path(), NAME).chunks, owned(&[b"r1", b"kept aside"]));
}
