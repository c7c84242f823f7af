//! Helpers shared by the `net_*` test binaries (each includes this module
//! with `mod net_support;`; not every binary uses every helper).
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::time::timeout;

/// Runs `f` on a fresh runtime, failing the test if it takes over 10 s.
pub fn run<F: Future>(f: F) -> F::Output {
    block_on(async {
        timeout(Duration::from_secs(10), f)
            .await
            .expect("test timed out")
    })
}

/// Echoes everything `stream` sends until end of stream or an error.
pub async fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Sends `count` numbered messages through an echoing peer and checks
/// each reply, then shuts down the write side.
pub async fn ping_pong<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, count: u32) {
    for i in 0..count {
        let msg = format!("message number {i}");
        stream.write_all(msg.as_bytes()).await.unwrap();
        let mut reply = vec![0; msg.len()];
        stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, msg.as_bytes());
    }
    stream.shutdown().await.unwrap();
}

/// A connected (client, server) pair through `listener`.
pub async fn tcp_pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// A socket path in the temp directory, unique to this process and
/// `name`, removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(name: &str) -> TempPath {
        let file = format!("spindle-{}-{name}.sock", std::process::id());
        let path = std::env::temp_dir().join(file);
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
