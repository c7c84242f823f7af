//! Listeners in two runtimes on two threads both receive one signal sent
//! to the process.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::signal::Signal;
use spindle_runtime::time::timeout;

#[test]
fn both_runtimes_receive_the_signal() {
    let ready = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                block_on(async {
                    let mut usr1 = Signal::new(libc::SIGUSR1).unwrap();
                    ready.wait(); // listening: the main thread may send
                    timeout(Duration::from_secs(10), usr1.recv()).await
                })
            })
        })
        .collect();
    ready.wait();
    // SAFETY: kill to our own pid; both runtimes have the handler installed.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
    for thread in threads {
        let got = thread.join().unwrap();
        assert_eq!(got.expect("a runtime never saw SIGUSR1"), Some(()));
    }
}
