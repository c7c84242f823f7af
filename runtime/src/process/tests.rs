//! The `SIGCHLD` fallback, forced on (this kernel has pidfds, so the
//! integration tests only exercise the pidfd path).

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use super::reap::FORCE_SIGCHLD;
use super::Command;
use crate::time::{sleep, timeout};

#[test]
fn sigchld_fallback_waits_and_reaps() {
    FORCE_SIGCHLD.store(true, SeqCst);
    crate::block_on(async {
        timeout(Duration::from_secs(10), async {
            let status = Command::new("sh")
                .args(["-c", "exit 7"])
                .status()
                .await
                .unwrap();
            assert_eq!(status.code(), Some(7));

            // Several at once: one SIGCHLD may stand for several exits.
            let mut children: Vec<_> = (0..10)
                .map(|_| Command::new("true").spawn().unwrap())
                .collect();
            assert!(children.iter().all(|c| c.uses_sigchld()));
            for child in &mut children {
                assert!(child.wait().await.unwrap().success());
            }

            // A dropped child is reaped by the background task.
            let child = Command::new("sleep").arg("0.05").spawn().unwrap();
            let stat = format!("/proc/{}/stat", child.id().unwrap());
            drop(child);
            while std::path::Path::new(&stat).exists() {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the SIGCHLD fallback timed out");
    });
}
