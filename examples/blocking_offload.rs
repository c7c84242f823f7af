//! An echo server that keeps answering while a long blocking job runs.
//!
//! ```text
//! cargo run --release --example blocking_offload -- [--mb 256] [--passes 4] [--inline]
//! ```
//!
//! The program starts a TCP echo server and a client that pings it every
//! millisecond, then hashes a generated temp file (`--mb` megabytes,
//! FNV-1a, `--passes` times over) and prints, four times a second, how far
//! the hash got and the client's round-trip times meanwhile.
//!
//! By default the hash runs on the blocking pool (`spindle::spawn_blocking`):
//! the event loop stays free and round trips stay in the tens of
//! microseconds. With `--inline` the same hash runs inside a task, on the
//! event loop's own thread: no other task runs until it ends, so the
//! client's ping in flight waits the whole hash long. That is the reason
//! blocking work (file IO, hashing, compression, DNS, ...) goes to a pool.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::Runtime;

const CHUNK: usize = 1 << 20;

/// An echo server that keeps answering while a long blocking job (hashing a
/// temp file) runs: on the blocking pool, or with --inline on the event loop.
#[derive(Parser, Debug)]
#[command(name = "blocking_offload")]
struct Args {
    /// Size of the generated temp file, in megabytes.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    mb: u32,
    /// How many times the hash reads the file.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    passes: u64,
    /// Hash inside a task, on the event loop's thread (to see it stall).
    #[arg(long)]
    inline: bool,
}

fn main() -> io::Result<()> {
    let Args { mb, passes, inline } = Args::parse();
    let mb = mb as usize;
    let rt = Runtime::new()?;
    let backend = rt.backend();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        spindle::spawn(echo_server(listener));
        println!("echo server on {addr} (backend: {backend}); writing a {mb} MB temp file...");
        let path = std::env::temp_dir().join(format!("spindle-offload-{}", std::process::id()));
        let p = path.clone();
        spindle::spawn_blocking(move || generate(&p, mb)).await??;

        let total = (mb * CHUNK) as u64 * passes;
        let hashed = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let client = spindle::spawn(pinger(addr, hashed.clone(), done.clone(), total));
        // Let the client get going before the hash starts.
        spindle::time::sleep(Duration::from_millis(50)).await;

        let how = if inline {
            "inline, on the event loop"
        } else {
            "on the blocking pool"
        };
        println!("hashing {} MB {how}...", total >> 20);
        let start = Instant::now();
        let hash = if inline {
            hash_file(&path, passes, &hashed)?
        } else {
            let (p, h) = (path.clone(), hashed.clone());
            spindle::spawn_blocking(move || hash_file(&p, passes, &h)).await??
        };
        let took = start.elapsed();
        done.store(true, Ordering::SeqCst);
        let (rtts, gap) = client.await??;
        let _ = std::fs::remove_file(&path);

        println!(
            "\nFNV-1a = {hash:016x}: {} MB in {:.2} s ({:.0} MB/s)",
            total >> 20,
            took.as_secs_f64(),
            (total >> 20) as f64 / took.as_secs_f64()
        );
        let mut sorted = rtts;
        sorted.sort_unstable();
        if let Some(&max) = sorted.last() {
            println!(
                "client: {} round trips during the hash, median {:?}, p99 {:?}, max {:?}; \
                 longest time without a reply {gap:?}",
                sorted.len(),
                sorted[sorted.len() / 2],
                sorted[sorted.len() * 99 / 100],
                max
            );
        }
        Ok(())
    })
}

/// Accepts connections and echoes each one back.
async fn echo_server(listener: TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        spindle::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Pings the echo server every millisecond until `done`, printing progress
/// four times a second. Returns every round-trip time and the longest gap
/// between two replies (a ping that could not even be sent counts there).
async fn pinger(
    addr: SocketAddr,
    hashed: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    total: u64,
) -> io::Result<(Vec<Duration>, Duration)> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("could not connect to our own echo server at {addr}: {e}"),
        )
    })?;
    stream.set_nodelay(true)?;
    let (ping, mut pong) = ([b'p'; 64], [0u8; 64]);
    let (mut all, mut window) = (Vec::new(), Vec::new());
    let (mut longest_gap, mut window_gap) = (Duration::ZERO, Duration::ZERO);
    let mut last_reply = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let sent = Instant::now();
        stream.write_all(&ping).await?;
        stream.read_exact(&mut pong).await?;
        let now = Instant::now();
        window.push(now - sent);
        window_gap = window_gap.max(now - last_reply);
        last_reply = now;
        if done.load(Ordering::SeqCst) {
            break;
        }
        if last_report.elapsed() >= Duration::from_millis(250) {
            window.sort_unstable();
            println!(
                "  hashed {:>5} / {} MB | {:>4} pings, round trip median {:>7.1?} max {:>7.1?} | longest gap {:>7.1?}",
                hashed.load(Ordering::Relaxed) >> 20,
                total >> 20,
                window.len(),
                window[window.len() / 2],
                window[window.len() - 1],
                window_gap,
            );
            all.append(&mut window);
            longest_gap = longest_gap.max(window_gap);
            window_gap = Duration::ZERO;
            last_report = Instant::now();
        }
        spindle::time::sleep(Duration::from_millis(1)).await;
    }
    all.append(&mut window);
    Ok((all, longest_gap.max(window_gap)))
}

/// Writes `mb` MiB of pseudo-random bytes (xorshift) to `path`.
fn generate(path: &Path, mb: usize) -> io::Result<()> {
    let mut file = io::BufWriter::new(std::fs::File::create(path)?);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut chunk = vec![0u8; CHUNK];
    for _ in 0..mb {
        for word in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&chunk)?;
    }
    file.flush()
}

/// FNV-1a over the file, `passes` times, counting bytes into `hashed`.
/// Plain blocking code: reads with std, burns CPU.
fn hash_file(path: &Path, passes: u64, hashed: &AtomicU64) -> io::Result<u64> {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut buf = vec![0u8; CHUNK];
    for _ in 0..passes {
        let mut file = std::fs::File::open(path)?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            hashed.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    Ok(hash)
}
