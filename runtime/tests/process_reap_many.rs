//! Fifty children at once are all reaped: none is left a zombie.

use std::time::Duration;

use spindle_runtime::process::Command;
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn};

/// Pids of our children that are zombies (state `Z` in /proc/<pid>/stat).
fn our_zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // The process may exit while we look: skip what we cannot read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if state == Some("Z") && ppid == Some(me.to_string().as_str()) {
            zombies.push(pid);
        }
    }
    zombies
}

#[test]
fn fifty_concurrent_children_are_all_reaped() {
    block_on(async {
        timeout(Duration::from_secs(20), async {
            let tasks: Vec<_> = (0..50)
                .map(|_| spawn(async { Command::new("true").status().await }))
                .collect();
            for task in tasks {
                assert!(task.await.unwrap().unwrap().success());
            }
        })
        .await
        .expect("timed out waiting for fifty children");
    });
    assert_eq!(our_zombies(), Vec::<u32>::new(), "zombies left behind");
}
