//! Running the examples and tftp-hpa's client: temporary directories,
//! the server process and its log, one-shot client runs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::TIMEOUT;

/// Bound on one run of a client, in seconds (for `timeout(1)`).
const CLIENT_SECS: &str = "120";

pub use crate::support::example;

/// A fresh directory under the system's temporary one, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("spindle-tftp-{}-{what}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `len` pseudo-random bytes to `name` and returns them.
    pub fn random_file(&self, name: &str, len: usize) -> Vec<u8> {
        let data = random_bytes(len, name.len() as u64 + len as u64);
        std::fs::write(self.path(name), &data).unwrap();
        data
    }

    /// The names in the directory, sorted (hidden ones included).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes from a xorshift generator: incompressible enough, reproducible.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A running `tftp_server`, killed when dropped; its stdout lines arrive
/// on a channel.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `tftp_server --addr 127.0.0.1:0 --dir DIR EXTRA...` and reads
    /// its address from the first line.
    pub fn start(dir: &TempDir, extra: &[&str]) -> Server {
        let mut child = Command::new(example("tftp_server"))
            .args(["--addr", "127.0.0.1:0", "--dir"])
            .arg(&dir.0)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tftp_server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(TIMEOUT)
            .expect("no first line from tftp_server");
        let addr = first
            .strip_prefix("tftp_server listening on ")
            .and_then(|rest| rest.split(',').next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Server { child, addr, lines }
    }

    /// Waits for a log line that contains every one of `words`.
    pub fn wait_for_line(&self, words: &[&str]) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if words.iter().all(|w| line.contains(w)) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {words:?}: {e}"),
            }
        }
    }

    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("tftp_server exited: {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs tftp-hpa's client, octet mode, on one command; stdout and stderr
/// together (it reports errors as text and exits 0 either way).
pub fn tftp_hpa(server: SocketAddr, command: &str) -> String {
    tftp_hpa_in_mode(server, "binary", command)
}

pub fn tftp_hpa_in_mode(server: SocketAddr, mode: &str, command: &str) -> String {
    let output = Command::new("timeout")
        .args([CLIENT_SECS, "tftp", "-m", mode])
        .arg(server.ip().to_string())
        .arg(server.port().to_string())
        .arg("-c")
        .args(command.split(' '))
        .output()
        .expect("run timeout(1)");
    let text = text_of(&output);
    assert!(
        output.status.code() != Some(127),
        "tftp-hpa's `tftp` is not installed (apt-get install tftp-hpa): {text}"
    );
    assert!(output.status.success(), "tftp {command}: {text}");
    text
}

/// Runs the `tftp_client` example against `server`.
pub fn our_client(server: SocketAddr, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(CLIENT_SECS)
        .arg(example("tftp_client"))
        .args(["--addr", &server.to_string()])
        .args(args)
        .output()
        .expect("run timeout(1)")
}

pub fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

/// Asserts that `path` holds exactly `expected`.
pub fn assert_same(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got.len(), expected.len(), "{}: length", path.display());
    assert!(got == expected, "{}: contents differ", path.display());
}
