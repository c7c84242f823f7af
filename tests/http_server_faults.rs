//! The HTTP server example under bad input: a client that resets in the
//! middle of a request, one that sends a malformed request line, and one
//! that stalls in the middle of a body each cost their own connection,
//! never the server: other clients are served meanwhile and afterwards.
//! An ordinary client that comes, is served and goes logs nothing.
//!
//! Runs the `http_server` example binary (built by `cargo test --features
//! hyper`; run `cargo build --features hyper --examples` first when running
//! only this test), on loopback, every step bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("spindle-http-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello.txt"), b"hello\n").unwrap();
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .and_then(|deps| deps.parent())
            .unwrap()
            .join("examples")
            .join("http_server");
        assert!(
            bin.exists(),
            "{} not found: build the examples with --features hyper",
            bin.display()
        );
        let mut child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut byte = [0u8];
            while stdout.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let first = rx
            .recv_timeout(TIMEOUT)
            .expect("no first line from http_server");
        let addr = first
            .strip_prefix("http://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Server { child, addr, dir }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, TIMEOUT).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    /// One complete GET on a fresh connection; the status line.
    fn get_hello(&self) -> String {
        let mut s = self.connect();
        s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.ends_with("hello\n"), "{reply:?}");
        reply.lines().next().unwrap_or_default().to_string()
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited"
        );
    }

    /// Stops the server and returns what it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        err
    }
}

/// Closes `s` with a reset (SO_LINGER 0) instead of a FIN.
fn reset(s: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on our own open socket with a valid linger struct.
    let res = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(res, 0);
    drop(s);
}

#[test]
fn bad_clients_cost_one_connection_and_ordinary_ones_log_nothing() {
    let mut server = Server::start();
    assert_eq!(server.get_hello(), "HTTP/1.1 200 OK");

    // A client that resets in the middle of its request headers.
    let mut s = server.connect();
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    reset(s);
    assert_eq!(server.get_hello(), "HTTP/1.1 200 OK");

    // A client that resets in the middle of a body.
    let mut s = server.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789")
        .unwrap();
    reset(s);
    assert_eq!(server.get_hello(), "HTTP/1.1 200 OK");

    // A client that stalls in the middle of a body: others are served
    // while it hangs there.
    let mut stalled = server.connect();
    stalled
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789")
        .unwrap();
    for _ in 0..3 {
        assert_eq!(server.get_hello(), "HTTP/1.1 200 OK");
    }
    drop(stalled);

    // Ordinary clients: served, then gone. Nothing may be logged so far.
    server.assert_alive();
    // A client that stays on a kept-alive connection and then goes.
    let mut kept = server.connect();
    kept.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).unwrap();
    assert!(std::str::from_utf8(&buf[..n])
        .unwrap()
        .starts_with("HTTP/1.1 200 OK"));
    drop(kept);
    assert_eq!(server.get_hello(), "HTTP/1.1 200 OK");
    server.assert_alive();

    // A malformed request line comes last: the server may log that one
    // (it is not an ordinary disconnect).

    let mut s = server.connect();
    s.write_all(b"THIS IS NOT HTTP\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply); // a 400, or just a close
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply:?}"
    );
    assert_eq!(server.get_hello(), "HTTP/1.1 200 OK");
    server.assert_alive();

    let stderr = server.stop();
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("invalid HTTP"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the server logged errors for ordinary or reset clients: {stderr:?}"
    );
}
