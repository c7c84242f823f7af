//! A signal delivered to another thread (raised there, so the kernel runs
//! the handler on that thread) still wakes the runtime's listener; and a
//! listener made on a thread that only entered the runtime works.

use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::signal::Signal;
use spindle_runtime::time::timeout;

#[test]
fn signal_raised_on_another_thread_is_received() {
    block_on(async {
        let mut usr2 = Signal::new(libc::SIGUSR2).unwrap();
        std::thread::spawn(|| {
            // SAFETY: raise sends SIGUSR2 to this thread; spindle's handler
            // is installed, so it runs here and returns.
            assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
        })
        .join()
        .unwrap();
        timeout(Duration::from_secs(10), usr2.recv())
            .await
            .expect("SIGUSR2 from another thread was not received");
    });
}

#[test]
fn a_listener_made_under_handle_enter_receives() {
    let rt = spindle_runtime::Runtime::new().unwrap();
    let handle = rt.handle();
    let mut usr1 = std::thread::spawn(move || {
        let _entered = handle.enter();
        Signal::new(libc::SIGUSR1)
    })
    .join()
    .unwrap()
    .expect("Signal::new under Handle::enter");
    rt.block_on(async {
        // SAFETY: raise sends SIGUSR1 to this thread; spindle's handler is
        // installed (by Signal::new above), so it runs here and returns.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
        timeout(Duration::from_secs(10), usr1.recv())
            .await
            .expect("SIGUSR1 was not received");
    });
}

#[test]
fn tokios_spelling_signal_of_a_signal_kind_receives() {
    use spindle_runtime::signal::unix::{signal, SignalKind};
    assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
    block_on(async {
        let kill = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
        assert_eq!(kill.kind(), std::io::ErrorKind::InvalidInput);
        let mut winch = signal(SignalKind::window_change()).unwrap();
        // SAFETY: raise sends SIGWINCH to this thread; spindle's handler is
        // installed (by `signal` above), so it runs here and returns.
        assert_eq!(unsafe { libc::raise(libc::SIGWINCH) }, 0);
        timeout(Duration::from_secs(10), winch.recv())
            .await
            .expect("SIGWINCH was not received");
    });
}
