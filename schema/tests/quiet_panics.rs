//! `guard::quiet_caught_panics`: a panic that the guard turns into a refusal reaches no panic
//! hook (no stderr line, no backtrace to capture); any other panic still does. Its own test
//! program, since the panic hook belongs to the whole process.

use std::sync::atomic::{AtomicUsize, Ordering};

use zhibu_schema::guard;

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn caught_panics_are_silent_and_others_are_not() {
    std::panic::set_hook(Box::new(|_| {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }));
    guard::quiet_caught_panics();
    guard::quiet_caught_panics();

    let refused = guard::catch(|| -> u32 { panic!("malformed column") });
    assert_eq!(refused.expect_err("refused"), "Automerge 无法处理这些数据（malformed column）");
    let nested = guard::catch(|| guard::catch(|| -> u32 { panic!("inner") }).is_err());
    assert_eq!(nested, Ok(true));
    assert_eq!(HOOK_CALLS.load(Ordering::SeqCst), 0, "caught panics reach no hook");

    let outside = std::panic::catch_unwind(|| -> u32 { panic!("a bug of our own") });
    assert!(outside.is_err());
    assert_eq!(HOOK_CALLS.load(Ordering::SeqCst), 1, "a panic outside the guard reaches the hook once");
}
