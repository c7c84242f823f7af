//! The two toolbox examples, run as real processes: `chat` with real TCP
//! clients (every line reaches every other member, lag and leaving are
//! reported), and `job_limiter` cancelled by a real SIGINT.
//!
//! Like tests/io_models.rs, this runs the example binaries that `cargo test`
//! builds into `target/<profile>/examples/` (run `cargo build --examples`
//! first when running only this test).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod support;
use support::example;

/// Bound on every blocking step.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A child process, killed when dropped, whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(name: &str, args: &[&str]) -> Running {
        let mut child = Command::new(example(name))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the example");
        let stdout: ChildStdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(TIMEOUT)
            .expect("the example printed no further line in time")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chat member: a plain TCP client reading line by line.
struct Member {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    addr: SocketAddr,
}

impl Member {
    fn join(room: SocketAddr) -> Member {
        let stream = TcpStream::connect_timeout(&room, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let addr = stream.local_addr().unwrap();
        let mut member = Member {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            addr,
        };
        let welcome = member.read_line();
        assert!(welcome.starts_with("welcome"), "{welcome:?}");
        member
    }

    fn say(&mut self, text: &str) {
        self.writer
            .write_all(format!("{text}\n").as_bytes())
            .unwrap();
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("a line from the room");
        assert!(n > 0, "the room closed the connection");
        line.trim_end().to_string()
    }
}

#[test]
fn chat_delivers_every_line_to_every_other_member() {
    let server = Running::start("chat", &["server", "--addr", "127.0.0.1:0"]);
    let first = server.next_line();
    let room: SocketAddr = first
        .strip_prefix("chat server listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let mut alice = Member::join(room);
    let mut bob = Member::join(room);
    assert_eq!(alice.read_line(), format!("{} joined", bob.addr));
    alice.say("hello bob");
    assert_eq!(bob.read_line(), format!("{}: hello bob", alice.addr));
    bob.say("hi alice");
    assert_eq!(alice.read_line(), format!("{}: hi alice", bob.addr));
    // A third member hears what is said after it joined, not before.
    let mut carol = Member::join(room);
    assert_eq!(alice.read_line(), format!("{} joined", carol.addr));
    assert_eq!(bob.read_line(), format!("{} joined", carol.addr));
    carol.say("hi all");
    assert_eq!(alice.read_line(), format!("{}: hi all", carol.addr));
    assert_eq!(bob.read_line(), format!("{}: hi all", carol.addr));
    // Leaving is announced.
    let bob_addr = bob.addr;
    drop(bob);
    assert_eq!(alice.read_line(), format!("{bob_addr} left"));
    assert_eq!(carol.read_line(), format!("{bob_addr} left"));
}

#[test]
fn job_limiter_is_cancelled_by_sigint() {
    let run = Running::start("job_limiter", &["--jobs", "1000", "--deadline-ms", "1000"]);
    let header = run.next_line();
    assert!(header.contains("Ctrl-C cancels"), "{header:?}");
    // The handler is installed before the header is printed.
    // SAFETY: kill(2) on our own child's pid.
    let res = unsafe { libc::kill(run.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(res, 0);
    assert_eq!(run.next_line(), "Ctrl-C: cancelling every job");
    let summary = run.next_line();
    let cancelled: u32 = summary
        .split("cancelled ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected summary {summary:?}"));
    assert!(cancelled >= 1, "{summary:?}");
    assert!(summary.contains("at most 10 ran at once"), "{summary:?}");
}
