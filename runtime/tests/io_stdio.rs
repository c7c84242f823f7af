//! `io::stdin`, `io::stdout` and `io::stderr`, through a child process:
//! this test binary runs itself with its standard streams piped, reads
//! lines from stdin, and answers on stdout and stderr.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use spindle_runtime::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod support;
use support::bounded;

/// Set in the child's environment: be the child.
const CHILD: &str = "SPINDLE_STDIO_TEST_CHILD";

/// The child: every line of stdin, upper-cased, to stdout; a count to
/// stderr.
fn child() {
    spindle_runtime::block_on(async {
        let mut lines = BufReader::new(spindle_runtime::io::stdin()).lines();
        let mut out = spindle_runtime::io::stdout();
        let mut count = 0;
        while let Some(line) = lines.next_line().await.unwrap() {
            out.write_all(line.to_uppercase().as_bytes()).await.unwrap();
            out.write_all(b"\n").await.unwrap();
            count += 1;
        }
        out.flush().await.unwrap();
        let mut err = spindle_runtime::io::stderr();
        err.write_all(format!("{count} lines\n").as_bytes())
            .await
            .unwrap();
        err.shutdown().await.unwrap();
    });
}

#[test]
fn lines_from_stdin_answered_on_stdout_and_stderr() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let (out, err) = bounded(30, || {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lines_from_stdin_answered_on_stdout_and_stderr",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // More than one read job's worth, so the child reads in pieces.
        let input: String = (0..3000).map(|i| format!("line {i}\n")).collect();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let (mut out, mut err) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(child.wait().unwrap().success(), "the child failed: {err}");
        (out, err)
    });
    let expected: String = (0..3000).map(|i| format!("LINE {i}\n")).collect();
    // The test harness prints its own lines around the child's.
    assert!(out.contains(&expected), "stdout: {out}");
    assert!(err.contains("3000 lines"), "stderr: {err}");
}
