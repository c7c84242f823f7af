//! The course notes' process apps, run as real processes: the ticket office
//! with buyer processes (`ticket_office_processes`: oversold without the
//! lock, exactly right with it) and the two-lock deadlock (`deadlock`:
//! detected between tasks and between processes, cured both ways, in
//! bounded time).
//!
//! Like tests/process_basics_example.rs, this runs the example binaries
//! that `cargo test` builds into `target/<profile>/examples/` (run `cargo
//! build --examples` first when running only this test). Both examples
//! order their processes with `ipc` events and locks, not with sleeps, so
//! their outcomes are exact.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::example;

/// What a finished run printed, and how it ended.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    fn has_line_starting(&self, prefix: &str) -> bool {
        self.stdout.lines().any(|l| l.starts_with(prefix))
    }
}

/// Runs example `name` with `args`, killing it (and failing) if it has not
/// ended within `limit`.
fn run(name: &str, args: &[&str], limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example");
    // Drained on threads, so a full pipe never stalls the example.
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = from.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} {args:?} still running after {limit:?}; it printed:\n{}",
                stdout.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        success: status.success(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took: started.elapsed(),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn ticket_office_with_the_lock_sells_exactly_the_tickets() {
    let out = run("ticket_office_processes", &[], LIMIT);
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.last_line(), "oversold: 0", "{}", out.stdout);
    assert!(
        out.stdout
            .contains("sold: 1 of 1 ticket(s); the count says 0 left"),
        "{}",
        out.stdout
    );
    // Ten buyer processes, each looked and each had its turn.
    for name in 1..=10 {
        let prefix = format!("buyer {name}: ");
        let lines = out
            .stdout
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .count();
        assert_eq!(lines, 2, "buyer {name} in:\n{}", out.stdout);
    }
    let bought = out.stdout.matches("bought a ticket").count();
    assert_eq!(bought, 1, "{}", out.stdout);
}

#[test]
fn ticket_office_without_the_lock_oversells() {
    let out = run("ticket_office_processes", &["--no-lock"], LIMIT);
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    // Every buyer read the count before any wrote it: all ten bought the
    // one ticket, nine of them a ticket that does not exist.
    assert_eq!(out.last_line(), "oversold: 9", "{}", out.stdout);
    assert!(
        out.stdout
            .contains("sold: 10 of 1 ticket(s); the count says 0 left"),
        "{}",
        out.stdout
    );
}

#[test]
fn ticket_office_options() {
    let args = ["--buyers", "6", "--tickets", "4"];
    let locked = run("ticket_office_processes", &args, LIMIT);
    assert!(locked.success, "{}\n{}", locked.stdout, locked.stderr);
    assert_eq!(locked.last_line(), "oversold: 0", "{}", locked.stdout);
    assert!(locked
        .stdout
        .contains("sold: 4 of 4 ticket(s); the count says 0 left"));

    let args = ["--buyers", "6", "--tickets", "4", "--no-lock"];
    let unlocked = run("ticket_office_processes", &args, LIMIT);
    assert!(unlocked.success, "{}\n{}", unlocked.stdout, unlocked.stderr);
    // All six read 4 and wrote 3: six sales, one taken off the count.
    assert_eq!(unlocked.last_line(), "oversold: 5", "{}", unlocked.stdout);

    let bad = run("ticket_office_processes", &["--buyers", "0"], LIMIT);
    assert!(!bad.success);
    assert!(bad.stderr.contains("--buyers"), "{}", bad.stderr);
}

#[test]
fn the_process_examples_answer_help_without_running() {
    // The README: every example answers `-- --help` with what it accepts.
    for name in ["deadlock", "process_basics", "ticket_office_processes"] {
        let out = run(name, &["--help"], LIMIT);
        assert!(out.success, "{name}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("Usage:"), "{name}: {}", out.stdout);
        assert!(!out.stdout.contains("=="), "{name} ran: {}", out.stdout);
    }
}

#[test]
fn deadlock_is_detected_and_cured_in_tasks_and_processes() {
    let out = run("deadlock", &[], LIMIT);
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert!(out.took < LIMIT, "took {:?}", out.took);
    for line in [
        "deadlock detected between tasks",
        "deadlock detected between processes",
        "cured between tasks by lock ordering (breaks circular wait)",
        "cured between processes by lock ordering (breaks circular wait)",
        "cured between tasks by timeout and back-off (breaks no preemption)",
        "cured between processes by timeout and back-off (breaks no preemption)",
        "every deadlock detected, every cure completed",
    ] {
        assert!(
            out.has_line_starting(line),
            "no {line:?} in:\n{}",
            out.stdout
        );
    }
    for condition in [
        "1. mutual exclusion",
        "2. hold and wait",
        "3. no preemption",
        "4. circular wait",
    ] {
        let seen = out
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(condition))
            .count();
        assert_eq!(
            seen, 2,
            "{condition:?} (tasks, processes) in:\n{}",
            out.stdout
        );
    }
    // Each side of the process deadlock reported from its own process.
    for side in [1, 2] {
        let prefix = format!("  process {side} (pid ");
        assert!(out.has_line_starting(&prefix), "{}", out.stdout);
    }
}
