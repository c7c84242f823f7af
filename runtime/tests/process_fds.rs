//! Descriptors: none of ours leaks into a child (all are close-on-exec),
//! and none is left open once children are reaped.

use std::path::Path;
use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::io::AsyncReadExt;
use spindle_runtime::process::{Command, Stdio};
use spindle_runtime::time::{sleep, timeout};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The descriptors a child process has open (as listed by `ls`, which adds
/// the one it reads the directory through; the same in every call).
async fn child_fds() -> Vec<String> {
    let out = Command::new("ls")
        .arg("/proc/self/fd")
        .output()
        .await
        .unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    listed.split_whitespace().map(String::from).collect()
}

// One test, not several: the descriptor counts are process-wide.
#[test]
fn no_descriptor_leaks_into_children_or_outlives_them() {
    block_on(async {
        timeout(Duration::from_secs(10), async {
            let before = open_fds();

            // What a child inherits from the environment that started us
            // (our runtime exists already) ...
            let baseline = child_fds().await;
            // ... is all it inherits while another child, with three pipes
            // and a pidfd, is alive.
            let mut cat = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            assert_eq!(
                child_fds().await,
                baseline,
                "descriptors leaked into the child"
            );

            // Reaped children: every pipe and pidfd closed again.
            let mut stdout = cat.stdout.take().unwrap();
            let mut rest = Vec::new();
            cat.wait().await.unwrap(); // closes stdin first: cat sees EOF
            stdout.read_to_end(&mut rest).await.unwrap();
            drop((stdout, cat));
            for _ in 0..20 {
                Command::new("true").output().await.unwrap();
            }
            let mut killed = Command::new("sleep").arg("100").spawn().unwrap();
            killed.kill().unwrap();
            killed.wait().await.unwrap();
            // A dropped child: its reaper task closes the pidfd once done.
            let dropped = Command::new("true").spawn().unwrap();
            let dir = format!("/proc/{}", dropped.id().unwrap());
            drop(dropped);
            while Path::new(&dir).exists() {
                sleep(Duration::from_millis(10)).await;
            }
            // The reaper task closes the pidfd as it finishes, right after
            // reaping: poll (bounded by the timeout) rather than guess.
            while open_fds() != before {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("timed out: descriptors left open (or a child never reaped)");
    });
}
