//! `Signal::new` refuses what it cannot or must not catch. (Nothing here
//! installs a handler: validation comes first.)

use std::io::ErrorKind;

use spindle_runtime::block_on;
use spindle_runtime::signal::Signal;

#[test]
fn uncatchable_fault_and_invalid_numbers_are_invalid_input() {
    block_on(async {
        for signum in [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            0,
            -1,
            65,
            1000,
            32, // kept by glibc for its threads (sigaction says EINVAL)
        ] {
            let err = Signal::new(signum).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "signal {signum}");
        }
    });
}

#[test]
fn outside_a_runtime_is_an_error() {
    let err = Signal::new(libc::SIGUSR1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
}

#[test]
fn signal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Signal>();
}
