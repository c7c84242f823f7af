//! spindle::process: spawning, exit statuses, async pipes, kill.

use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use spindle_runtime::io::{copy, AsyncReadExt, AsyncWriteExt};
use spindle_runtime::process::{Command, Stdio};
use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{block_on, spawn};

/// Runs `f` on a fresh runtime, failing the test if it takes over 10 s.
fn run<F: Future>(f: F) -> F::Output {
    block_on(async {
        timeout(Duration::from_secs(10), f)
            .await
            .expect("test timed out")
    })
}

#[test]
fn output_of_echo() {
    run(async {
        let out = Command::new("echo").arg("hello").output().await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello\n");
        assert!(out.stderr.is_empty());
    });
}

#[test]
fn status_of_echo_and_exit_code() {
    run(async {
        let status = Command::new("echo")
            .arg("quiet")
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let status = Command::new("sh")
            .args(["-c", "exit 3"])
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(!status.success());
    });
}

#[test]
fn output_separates_stdout_stderr_and_status() {
    run(async {
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 2"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    });
}

#[test]
fn output_larger_than_a_pipe_does_not_deadlock() {
    run(async {
        let out = Command::new("head")
            .args(["-c", "1000000", "/dev/zero"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1_000_000);
    });
}

#[test]
fn env_and_current_dir() {
    run(async {
        let out = Command::new("/bin/sh")
            .args(["-c", "echo \"$GREETING\"; echo \"${HOME-unset}\"; pwd"])
            .env_clear()
            .env("GREETING", "hi")
            .current_dir("/")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "hi\nunset\n/\n");
    });
}

#[test]
fn cat_echoes_stdin_to_stdout() {
    run(async {
        let mut cat = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = cat.stdin.take().unwrap();
        let mut stdout = cat.stdout.take().unwrap();
        // 1 MiB: far more than a pipe holds, so writer and reader must
        // take turns through the reactor.
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = spawn(async move {
            stdin.write_all(&data).await.unwrap();
            stdin.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == expected, "cat returned different bytes");
        assert!(cat.wait().await.unwrap().success());
        assert_eq!(cat.id(), None, "a reaped child has no pid any more");
    });
}

#[test]
fn sort_into_wc_pipeline_through_async_stdio() {
    run(async {
        let mut sort = Command::new("sort")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut wc = Command::new("wc")
            .arg("-l")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut sort_in = sort.stdin.take().unwrap();
        let mut sort_out = sort.stdout.take().unwrap();
        let mut wc_in = wc.stdin.take().unwrap();
        let feed = spawn(async move {
            for i in (0..5000).rev() {
                sort_in
                    .write_all(format!("line {i}\n").as_bytes())
                    .await
                    .unwrap();
            }
            sort_in.shutdown().await.unwrap();
        });
        let pump = spawn(async move {
            let n = copy(&mut sort_out, &mut wc_in).await.unwrap();
            wc_in.shutdown().await.unwrap();
            n
        });
        let mut count = String::new();
        wc.stdout
            .take()
            .unwrap()
            .read_to_string(&mut count)
            .await
            .unwrap();
        feed.await.unwrap();
        let bytes = pump.await.unwrap();
        assert_eq!(count.trim(), "5000");
        assert_eq!(
            bytes,
            (0..5000).map(|i| format!("line {i}\n").len() as u64).sum()
        );
        assert!(sort.wait().await.unwrap().success());
        assert!(wc.wait().await.unwrap().success());
    });
}

#[test]
fn stdout_handed_to_the_next_child_as_its_stdin() {
    run(async {
        let mut printf = Command::new("printf")
            .arg("b\\na\\nc\\n")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = Stdio::try_from(printf.stdout.take().unwrap()).unwrap();
        let out = Command::new("sort").stdin(pipe).output().await.unwrap();
        assert_eq!(out.stdout, b"a\nb\nc\n");
        assert!(printf.wait().await.unwrap().success());
    });
}

#[test]
fn kill_then_wait_reports_signal_9() {
    run(async {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(child.id().is_some());
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(status.code(), None);
        // Killing or waiting again is fine and changes nothing.
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(9));
        assert_eq!(child.try_wait().unwrap().unwrap().signal(), Some(9));
    });
}

#[test]
fn kill_after_exit_is_ok() {
    run(async {
        let mut child = Command::new("true").spawn().unwrap();
        // Exited but maybe not reaped yet (a zombie) or reaped: both are Ok.
        child.kill().unwrap();
        child.wait().await.unwrap();
        child.kill().unwrap();
    });
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    run(async {
        let child = Command::new("sleep")
            .arg("100")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let proc_dir = format!("/proc/{}", child.id().unwrap());
        drop(child);
        // Gone from /proc only once killed *and* reaped (a zombie stays listed).
        while std::path::Path::new(&proc_dir).exists() {
            sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn missing_program_is_not_found() {
    run(async {
        let err = Command::new("/nonexistent/spindle-no-such-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("spindle-no-such-program-in-path")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn writing_to_an_exited_child_is_broken_pipe() {
    // Rust programs (this test harness included) ignore SIGPIPE, so the
    // write fails with EPIPE instead of killing the process.
    run(async {
        let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        assert!(child.wait().await.unwrap().success());
        let err = stdin.write_all(b"anyone there?\n").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn write_after_shutdown_fails() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.shutdown().await.unwrap();
        stdin.shutdown().await.unwrap();
        assert!(stdin.write_all(b"x").await.is_err());
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn spawn_outside_a_runtime_fails_without_starting_anything() {
    let err = Command::new("true").spawn().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
}

#[test]
fn spawn_works_in_spawn_blocking_and_under_handle_enter() {
    // A thread that entered a runtime without running it starts children
    // too, as tokio's do; the child is awaited in the runtime.
    let rt = spindle_runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let mut child =
            spindle_runtime::spawn_blocking(|| Command::new("sh").args(["-c", "exit 3"]).spawn())
                .await
                .unwrap()
                .unwrap();
        timeout(Duration::from_secs(10), child.wait()).await
    });
    assert_eq!(status.unwrap().unwrap().code(), Some(3));
    let handle = rt.handle();
    let mut child = std::thread::spawn(move || {
        let _entered = handle.enter();
        Command::new("sh").args(["-c", "exit 4"]).spawn()
    })
    .join()
    .unwrap()
    .unwrap();
    let status = rt.block_on(timeout(Duration::from_secs(10), child.wait()));
    assert_eq!(status.unwrap().unwrap().code(), Some(4));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Command>();
    check::<spindle_runtime::process::Child>();
    check::<spindle_runtime::process::ChildStdin>();
    check::<spindle_runtime::process::ChildStdout>();
    check::<spindle_runtime::process::ChildStderr>();
}
