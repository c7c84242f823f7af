//! `ctrl_c()` completes at SIGINT. The handler is installed by the call
//! itself, so a SIGINT sent between the call and the first poll is caught.

use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::signal::ctrl_c;
use spindle_runtime::time::timeout;

#[test]
fn ctrl_c_completes_on_sigint() {
    block_on(async {
        let ctrl_c = ctrl_c();
        // SAFETY: kill to our own pid; ctrl_c() has installed the handler.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGINT) }, 0);
        timeout(Duration::from_secs(10), ctrl_c)
            .await
            .expect("ctrl_c did not complete")
            .unwrap();
    });
}
