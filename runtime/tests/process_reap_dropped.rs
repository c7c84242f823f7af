//! A `Child` dropped before its process exits is still reaped, wherever
//! it is dropped: inside a runtime (a reaper task), outside one (a reaper
//! thread), or when the runtime itself goes away first.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use spindle_runtime::process::{Child, Command};
use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{block_on, Runtime};

/// The tests of this file check for zombies process-wide, so they must not
/// see each other's children: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Our children that are zombies (state `Z`, parent us).
fn our_zombies() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        if fields.next() == Some("Z") && fields.next() == Some(me.as_str()) {
            zombies.push(pid);
        }
    }
    zombies
}

fn proc_dir(child: &Child) -> String {
    format!("/proc/{}", child.id().unwrap())
}

/// Blocks (outside any runtime) until `dir` is gone: the process exited
/// and was reaped. At most 5 s.
fn wait_gone_blocking(dir: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(dir).exists() {
        assert!(Instant::now() < deadline, "{dir} was never reaped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dropped_inside_a_runtime() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    block_on(async {
        let child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let dir = proc_dir(&child);
        drop(child);
        // The process still runs: the drop neither killed nor waited for it.
        assert!(Path::new(&dir).exists());
        // Until it would have exited, and been reaped: bounded polling.
        timeout(Duration::from_secs(5), async {
            while Path::new(&dir).exists() {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the dropped child was never reaped");
    });
    assert_eq!(our_zombies(), Vec::<u32>::new());
}

#[test]
fn dropped_outside_any_runtime() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::new().unwrap();
    let child = rt.block_on(async { Command::new("sleep").arg("0.1").spawn().unwrap() });
    let dir = proc_dir(&child);
    drop(child); // not in block_on: the reaper is a thread
    wait_gone_blocking(&dir);
    drop(rt);
    assert_eq!(our_zombies(), Vec::<u32>::new());
}

#[test]
fn runtime_dropped_before_the_orphan_exits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::new().unwrap();
    let dir = rt.block_on(async {
        let child = Command::new("sleep").arg("0.1").spawn().unwrap();
        let dir = proc_dir(&child);
        drop(child); // a reaper task is spawned on `rt` ...
        dir
    });
    drop(rt); // ... and cancelled here: a thread takes over
    wait_gone_blocking(&dir);
    assert_eq!(our_zombies(), Vec::<u32>::new());
}

#[test]
fn child_held_by_a_task_cancelled_at_shutdown() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::new().unwrap();
    let dir = rt.block_on(async {
        let child = Command::new("sleep").arg("0.1").spawn().unwrap();
        let dir = proc_dir(&child);
        // A task that would wait forever, holding the child.
        spindle_runtime::spawn(async move {
            let _child = child;
            std::future::pending::<()>().await
        });
        dir
    });
    drop(rt); // the task's future, and the Child in it, are dropped
    wait_gone_blocking(&dir);
    assert_eq!(our_zombies(), Vec::<u32>::new());
}
