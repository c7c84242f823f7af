//! The `gil_timing` example (the course notes' GIL timing table) run as a
//! real process with tiny jobs: every way runs every job (the processes
//! are `spindle::process::Process` children) and the table comes out
//! whole. No timing is checked but the one a sleep guarantees: ten jobs
//! of 20 ms one after another take at least 0.2 s.
//!
//! Like tests/process_basics_example.rs, this runs the example binary that
//! `cargo test` builds into `target/<profile>/examples/` (run `cargo build
//! --examples` first when running only this test).

mod support;
use support::example;

use std::process::Command;

#[test]
fn gil_timing_prints_the_whole_table() {
    let output = support::bounded(120, || {
        Command::new(example("gil_timing"))
            .args(["--jobs", "10", "--count", "1000", "--sleep-ms", "20"])
            .args(["--file-lines", "100", "--runs", "1"])
            .output()
            .expect("run the example")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let row = |way: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(way))
            .unwrap_or_else(|| panic!("no row {way:?} in:\n{stdout}"));
        line.split_whitespace().skip(1).map(str::to_owned).collect()
    };
    for way in ["line", "threads", "processes", "tasks"] {
        let cells = row(way);
        assert_eq!(cells.len(), 3, "row {way}: {cells:?}");
        for (job, cell) in ["cpu", "io", "file"].iter().zip(&cells) {
            if way == "tasks" && *job == "file" {
                assert_eq!(cell, "-", "tasks do not run the file job");
            } else {
                let secs: f64 = cell
                    .parse()
                    .unwrap_or_else(|_| panic!("{way}/{job}: {cell:?} is not seconds"));
                assert!(secs >= 0.0);
            }
        }
    }
    let line_io: f64 = row("line")[1].parse().unwrap();
    assert!(line_io >= 0.2, "ten 20 ms sleeps in a row took {line_io} s");
}
