//! The `process_basics` example (the course notes' `multiprocessing.Process`
//! sections) run as a real process: every section prints what the notes
//! show, a daemon dies with its parent and a normal child does not.
//!
//! Like tests/toolbox_examples.rs, this runs the example binary that
//! `cargo test` builds into `target/<profile>/examples/` (run `cargo build
//! --examples` first when running only this test).

mod support;
use support::example;

use std::process::Command;

#[test]
fn process_basics_shows_every_attribute() {
    let output = support::bounded(120, || {
        Command::new(example("process_basics"))
            .output()
            .expect("run the example")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for line in [
        "child event (test): a = 1 here",
        "the child's a ended as 10000; the parent's is still 100",
        "process name: Worker",
        "join: the process exited with status 3 before returning a result",
        "exitcode: Some(3)",
        "join: the process was killed by signal 15 (SIGTERM)",
        "exitcode: Some(-15)",
        "main process ends",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{stdout}"
        );
    }
    for (what, count) in [
        ("sleep: parent", 1),
        ("eat: parent", 1),
        ("play: parent", 1),
        ("I'm Levi", 3),
    ] {
        let seen = stdout.lines().filter(|l| l.starts_with(what)).count();
        assert_eq!(seen, count, "{what:?} in:\n{stdout}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("daemon ") && l.ends_with("ended with its parent: true")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("normal child ") && l.ends_with("still running: true")),
        "{stdout}"
    );
}
