//! Automerge's decoders trust their input more than a server can. Fuzzing (`scripts/fuzz.sh`)
//! found sync messages, changes and documents on which automerge 0.12 panics: unwraps on
//! malformed columns, a Bloom filter of zero bits (a division by zero), changes with missing
//! dependencies or unknown actor indexes. Every use of Automerge on outside input goes through
//! [`refuse_panics`] or [`load_document`], which turn such a panic into a refusal; the document
//! being worked on is a fork or a new one, dropped with the panic, so nothing half-done remains.
//! The inputs that crashed are kept in `tests/fixtures/fuzz/` and checked by a normal test.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use automerge::Automerge;

use crate::sync::Refusal;

/// The message of a caught panic.
fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

thread_local! {
    /// How many [`catch`] calls this thread is inside.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

/// Makes the process's panic hook silent for panics that [`catch`] turns into errors: the
/// default hook prints each one to stderr and, with `RUST_BACKTRACE` set, captures and
/// symbolizes a backtrace first, some 0.3 s of CPU that a hostile phone could ask for with
/// every request. Other panics go to the hook that was installed before. Programs call this
/// once at start (`zhibu-server`, `zhibu`); it is safe to call again.
pub fn quiet_caught_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `f` on outside input; a panic inside becomes an error in words a person can read.
/// Whatever `f` changes must be dropped when it panics (work on a fork or a copy).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            GUARDED.with(|g| g.set(g.get() - 1));
        }
    }
    GUARDED.with(|g| g.set(g.get() + 1));
    let _depth = Depth;
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("Automerge 无法处理这些数据（{}）", message(p)))
}

/// Runs `f` on outside input; a panic inside becomes `Refusal::Undecodable`.
pub fn refuse_panics<T>(f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    catch(f).unwrap_or_else(|e| Err(Refusal::Undecodable(e)))
}

/// `Automerge::load` of bytes from outside, with a panic as an error.
pub fn load_document(bytes: &[u8]) -> Result<Automerge, String> {
    crate::sync::bounds::Budget::check_all([bytes]).map_err(|e| e.to_string())?;
    catch(|| Automerge::load(bytes))?.map_err(|e| e.to_string())
}
