//! The store keeps what it acknowledged when the process is killed at a random instant.
//!
//! Each test re-runs this test binary as its own child (`--exact <its name>`, with
//! `ZHIBU_STORE_CRASH_CHILD_DIR` set), so the child runs the same code as the app would and
//! gets a real `SIGKILL`, not a simulated failure. A kill tests the store's own write order and
//! framing; data still in the page cache survives it, so it does not stand in for a power cut
//! (the `sync_data`/`sync_all`/directory fsync calls are what cover that).

use std::env;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use zhibu_client::store::{DocFile, Loaded, StoreError, StoreLock};

const CHILD_DIR_ENV: &str = "ZHIBU_STORE_CRASH_CHILD_DIR";
const NAME: &str = "crash-test.2026";
const ROUNDS: usize = 40;
const COMPACT_EVERY: u64 = 16;

#[test]
fn killing_the_writer_at_random_never_loses_an_acknowledged_record() {
    if let Some(dir) = child_dir() {
        append_until_killed(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::new();
    let mut count = 0; // records 0..count are in the store, checked
    let (mut acked_total, mut compactions) = (0, 0);

    for round in 0..ROUNDS {
        let mut child = spawn_self("killing_the_writer_at_random_never_loses_an_acknowledged_record", tmp.path());
        thread::sleep(Duration::from_millis(rng.u64(5..=120)));
        let output = child.kill_and_collect();

        let mut expected = count;
        for line in output.lines() {
            if let Some(n) = line.strip_prefix("ack ") {
                assert_eq!(n.parse::<u64>().unwrap(), expected, "round {round}: acks skip");
                expected += 1;
                acked_total += 1;
            } else if line.starts_with("compacted ") {
                compactions += 1;
            }
        }
        // The lock must be free again: the OS released the dead writer's lock.
        let _lock = StoreLock::acquire(tmp.path()).unwrap();
        let loaded = DocFile::open(tmp.path(), NAME).unwrap().load().unwrap();
        let found = verified_count(&loaded);
        // Everything acknowledged is there; beyond it at most the one append in flight.
        assert!(
            (expected..=expected + 1).contains(&found),
            "round {round}: store holds {found} records, {expected} were acknowledged"
        );
        count = found;
        // SIGKILL hardly ever tears a record (the kernel finishes a write of a few KB once it has
        // started), but a power cut can; so now and then leave a torn record for the next writer
        // to step over and cut.
        if round % 4 == 1 {
            tear_tail(&tmp.path().join(format!("{NAME}.log")), &mut rng);
        }
    }

    eprintln!("{ROUNDS} kills, {acked_total} acknowledged appends, {compactions} compactions");
    assert!(acked_total >= COMPACT_EVERY, "the writer barely ran: {acked_total} appends");
    assert!(compactions > 0, "no compaction was exercised");
}

#[test]
fn a_second_process_cannot_take_the_lock() {
    if let Some(dir) = child_dir() {
        hold_lock_until_stdin_closes(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn_self("a_second_process_cannot_take_the_lock", tmp.path());
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim_end() != "locked" {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap();
        assert!(read > 0, "child exited without taking the lock");
    }

    let err = StoreLock::acquire(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");

    child.kill_and_collect();
    StoreLock::acquire(tmp.path()).expect("lock released when its holder died");
}

// ---- the data the writer child produces ----

/// Record `n`: its number, then filler; mostly small, one in six several KB.
fn record(n: u64) -> Vec<u8> {
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let filler = if h.is_multiple_of(6) { 2_000 + h % 8_000 } else { h % 200 };
    let mut out = n.to_le_bytes().to_vec();
    out.extend((0..filler).map(|i| (n.wrapping_mul(31) + i) as u8));
    out
}

/// A snapshot standing for records `0..count`: the count, then several KB of filler.
fn snapshot(count: u64) -> Vec<u8> {
    let mut out = count.to_le_bytes().to_vec();
    out.extend((0..3_000 + count % 5_000).map(|i| (count ^ i) as u8));
    out
}

/// Checks that the store holds exactly records `0..count`, in order, undamaged; returns `count`.
fn verified_count(loaded: &Loaded) -> u64 {
    let base = match &loaded.snapshot {
        None => 0,
        Some(s) => {
            let head = s.first_chunk::<8>().expect("snapshot shorter than its count");
            let count = u64::from_le_bytes(*head);
            assert!(*s == snapshot(count), "snapshot of {count} records is damaged");
            count
        }
    };
    for (n, chunk) in (base..).zip(&loaded.chunks) {
        assert!(*chunk == record(n), "chunk {n} is damaged or out of order");
    }
    base + loaded.chunks.len() as u64
}

/// Appends what a record cut short or garbled by a crash looks like: a plausible length, a
/// random checksum and fewer or more bytes than the length says.
fn tear_tail(log: &Path, rng: &mut fastrand::Rng) {
    let len = rng.u32(0..4_000);
    let mut torn = len.to_le_bytes().to_vec();
    torn.extend((0..4 + rng.u32(0..=len + 8)).map(|_| rng.u8(..)));
    match OpenOptions::new().append(true).open(log) {
        Ok(mut file) => file.write_all(&torn).unwrap(),
        // The writer was killed before its first append; nothing to tear.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => panic!("opening {}: {e}", log.display()),
    }
}

// ---- the child side ----

fn child_dir() -> Option<PathBuf> {
    env::var_os(CHILD_DIR_ENV).map(PathBuf::from)
}

/// Appends records forever, acknowledging each on stdout once `append` has returned. Dies by
/// `SIGKILL`, or by a failed write to stdout if the parent is gone.
fn append_until_killed(dir: &Path) -> ! {
    let _lock = StoreLock::acquire(dir).expect("child: lock");
    let mut doc = DocFile::open(dir, NAME).expect("child: open");
    let mut next = verified_count(&doc.load().expect("child: load"));
    let mut out = io::stdout().lock();
    // libtest has printed "test NAME ... " without a newline; start our lines on a fresh one.
    writeln!(out).expect("parent gone");
    loop {
        doc.append(&record(next)).expect("child: append");
        writeln!(out, "ack {next}").and_then(|()| out.flush()).expect("parent gone");
        next += 1;
        if next.is_multiple_of(COMPACT_EVERY) {
            doc.compact(&snapshot(next)).expect("child: compact");
            writeln!(out, "compacted {next}").and_then(|()| out.flush()).expect("parent gone");
        }
    }
}

fn hold_lock_until_stdin_closes(dir: &Path) -> ! {
    let _lock = StoreLock::acquire(dir).expect("child: lock");
    let mut out = io::stdout().lock();
    // A fresh line: libtest has printed "test NAME ... " without a newline.
    writeln!(out, "\nlocked").and_then(|()| out.flush()).expect("parent gone");
    // Normally the parent kills us; if it dies instead, stdin closes and we go too.
    thread::spawn(|| {
        let _ = io::stdin().read_to_end(&mut Vec::new());
        process::exit(0);
    });
    // A parent that never comes back must not hang the test run.
    thread::sleep(Duration::from_secs(30));
    process::exit(1);
}

// ---- the parent side ----

/// A child that is killed when dropped, so a failing assertion does not leak a writer.
struct ChildGuard(Child);

impl ChildGuard {
    /// Kills the child and returns what it wrote to stdout. The child never stops on its own, so
    /// a panic on its stderr (a failed open, load check or append) fails the test.
    fn kill_and_collect(&mut self) -> String {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
        let stderr = read_all(self.0.stderr.take());
        assert!(!stderr.contains("panicked"), "child failed:\n{stderr}");
        read_all(self.0.stdout.take())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs only `test` of this binary in a child process, as the child side of that test.
fn spawn_self(test: &str, dir: &Path) -> ChildGuard {
    let child = Command::new(env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

fn read_all(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_string(&mut text).unwrap();
    }
    text
}
