//! Reading a 1 GiB file in 64 KiB blocks: io_uring completions
//! (`spindle::uring::fs::File::read_at`, 4 reads in flight) against the
//! blocking pool (`spindle::fs::read`, and `spindle::fs::File` read block
//! by block).
//!
//! ```text
//! cargo bench -p spindle-benches --bench uring_file                    # 3 runs (the default)
//! cargo bench -p spindle-benches --bench uring_file -- --runs 5
//! cargo bench -p spindle-benches --bench uring_file -- --path /some/disk/file --size-mib 256
//! ```
//!
//! The three methods, each on one current-thread spindle runtime:
//! * `uring read_at x4`: four tasks share one `uring::fs::File`; task `i`
//!   reads blocks `i`, `i + 4`, `i + 8`, ... with `read_at(buf, offset)`,
//!   reusing one 64 KiB `Vec`, so four reads are in flight in the kernel
//!   at all times (the kernel does the waiting and the copying; the
//!   thread only submits and reaps).
//! * `fs::read`: `spindle::fs::read(path)`, the whole file in one job on
//!   the blocking pool (`std::fs::read` on a pool thread).
//! * `fs::File 64K`: `spindle::fs::File`, `AsyncReadExt::read` into a
//!   64 KiB `Vec` until the end: one pool job per block.
//!
//! # What is measured
//!
//! The file (random-looking bytes from a xorshift generator, written for
//! real, not sparse) is made once, as `uring_file-<size>MiB.dat` in the
//! `target/` directory this bench was built into (or `$TMPDIR`), or taken
//! from `--path`. Each run measures every method (the order rotates from
//! run to run) twice:
//! * **cold**: first `fdatasync` and `posix_fadvise(POSIX_FADV_DONTNEED)`
//!   drop the file's pages from the page cache, and `mincore` over a
//!   mapping of the file says how much of it is still resident (printed);
//!   the read then has to come from the disk;
//! * **warm**: at once again, from the page cache the cold read filled.
//!
//! The time is wall time from opening the file to having seen every byte,
//! including a cheap checksum of 16 bytes per 4 KiB page of what was read
//! (which must match the file's). Before the timed runs each method reads
//! the file once untimed with a checksum of *every* byte, which must match
//! too. Before each timed read the bench waits for a quiet machine, and a
//! read during which other processes used more than `--max-other` of a CPU
//! is repeated (`--attempts`), as in the other measuring programs (see
//! `measure/mod.rs`). The table gives medians, the ratios `uring/fs::read`
//! and `uring/fs::File` (below 1: uring is faster), and cold/warm per
//! method: if no method's cold reads take longer than its warm ones, the
//! eviction did not work (or the disk is itself a cache, as a VM's may
//! be). `fs::read` shows it least: most of its time, warm or cold, goes
//! to faulting in the fresh file-sized buffer it reads into.
//!
//! "Other CPU" is what the rest of the machine used during a read (all
//! CPUs' busy time from `/proc/stat` minus this process's `getrusage`),
//! as a share of one CPU over the read, or over one second for a shorter
//! read (`/proc/stat` counts in clock ticks, too coarse for less).

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

mod measure;
use measure::{
    least_disturbed, machine_busy_seconds, median, self_cpu_seconds, CargoBenchArgs, Quiet,
};

/// The block every method reads at a time.
const BLOCK: usize = 64 << 10;
/// Reads in flight with `uring::fs::File::read_at`.
const IN_FLIGHT: u64 = 4;
/// The page size the sampled checksum samples by.
const PAGE: u64 = 4096;

/// Reads a 1 GiB file in 64 KiB blocks with io_uring completions
/// (`uring::fs::File::read_at`, 4 in flight), with `fs::read` and with
/// `fs::File` (both on the blocking pool), cold and warm.
#[derive(Parser, Debug)]
#[command(
    name = "uring_file",
    bin_name = "cargo bench -p spindle-benches --bench uring_file --"
)]
struct Args {
    /// Runs per method, each cold and warm.
    #[arg(long, value_name = "N", default_value_t = 3)]
    runs: usize,
    /// The file's size in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    size_mib: u64,
    /// The file to read (made if it is missing or of another size).
    #[arg(long, value_name = "PATH")]
    path: Option<PathBuf>,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    cargo_bench: CargoBenchArgs,
}

// ------------------------------------------------------------- checksum --

/// How much of what is read a checksum covers.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Every byte.
    Full,
    /// The first and last 8 bytes of every 4 KiB page: cheap enough to
    /// leave inside the timed reads, and still says whether every page
    /// of the file arrived, and at its place.
    Sampled,
}

/// A checksum of bytes at their positions in the file: the sum over each
/// 8-byte word `w` at position `p` of `w * weight(p)` (wrapping). It is
/// linear in the bytes, so a word split between two reads adds up to the
/// same thing, in any order: the reads may arrive in any order and any
/// sizes, and still sum to the file's checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Digest {
    sum: u64,
    bytes: u64,
}

/// An odd multiplier that depends on a word's position (a splitmix step).
fn weight(word_pos: u64) -> u64 {
    let z = (word_pos ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (z ^ (z >> 31)) | 1
}

impl Digest {
    /// Adds `data`, read from the file at `offset`.
    fn add(&mut self, check: Check, offset: u64, data: &[u8]) {
        self.bytes += data.len() as u64;
        match check {
            Check::Full => self.add_range(offset, data),
            Check::Sampled => {
                let end = offset + data.len() as u64;
                let mut page = offset / PAGE * PAGE;
                while page < end {
                    for (lo, hi) in [(page, page + 8), (page + PAGE - 8, page + PAGE)] {
                        let (lo, hi) = (lo.max(offset), hi.min(end));
                        if lo < hi {
                            let part = &data[(lo - offset) as usize..(hi - offset) as usize];
                            self.add_range(lo, part);
                        }
                    }
                    page += PAGE;
                }
            }
        }
    }

    /// Adds every byte of `data`, which sits at `offset` in the file.
    fn add_range(&mut self, offset: u64, data: &[u8]) {
        let head = (((8 - offset % 8) % 8) as usize).min(data.len());
        for (i, &b) in data[..head].iter().enumerate() {
            self.add_byte(offset + i as u64, b);
        }
        let mut pos = offset + head as u64;
        let words = data[head..].chunks_exact(8);
        let tail = words.remainder();
        for w in words {
            let w = u64::from_le_bytes(w.try_into().unwrap());
            self.sum = self.sum.wrapping_add(w.wrapping_mul(weight(pos)));
            pos += 8;
        }
        for (i, &b) in tail.iter().enumerate() {
            self.add_byte(pos + i as u64, b);
        }
    }

    /// A byte's share of its word's term.
    fn add_byte(&mut self, pos: u64, b: u8) {
        let part = (b as u64) << (8 * (pos % 8));
        self.sum = self.sum.wrapping_add(part.wrapping_mul(weight(pos & !7)));
    }

    fn merge(&mut self, other: Digest) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.bytes += other.bytes;
    }
}

// ----------------------------------------------------------------- file --

/// Where the file goes by default: the `target/` directory this bench's
/// executable is in (`target/release/deps/uring_file-...`), else `$TMPDIR`.
fn default_path(size_mib: u64) -> PathBuf {
    let name = format!("uring_file-{size_mib}MiB.dat");
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|e| {
        e.ancestors()
            .find(|d| d.file_name().is_some_and(|n| n == "target"))
    });
    match target {
        Some(dir) => dir.join(name),
        None => std::env::temp_dir().join(name),
    }
}

/// Makes the file unless it is there with the right size: xorshift64*
/// output, written and synced (through a temporary name, so an
/// interrupted run leaves no short file behind).
fn ensure_file(path: &Path, size: u64) -> io::Result<()> {
    if fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    println!("making {} ({} MiB)...", path.display(), size >> 20);
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for w in chunk.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            w.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// The file's checksums (full, sampled), read with `std::fs` in 1 MiB
/// pieces: what every method must arrive at.
fn expected(path: &Path) -> io::Result<(Digest, Digest)> {
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut full, mut sampled) = (Digest::default(), Digest::default());
    let mut offset = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((full, sampled));
        }
        full.add(Check::Full, offset, &buf[..n]);
        sampled.add(Check::Sampled, offset, &buf[..n]);
        offset += n as u64;
    }
}

/// Drops the file's pages from the page cache (`fdatasync` first: dirty
/// pages are not dropped), and returns the share of them still resident
/// afterwards.
fn evict(path: &Path) -> io::Result<f64> {
    let file = fs::File::open(path)?;
    file.sync_data()?;
    // SAFETY: a plain syscall on a descriptor we own.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    resident_share(&file)
}

/// The share of `file`'s pages in the page cache (`mincore` over a
/// read-only mapping of it, which touches none of them).
fn resident_share(file: &fs::File) -> io::Result<f64> {
    let len = file.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0.0);
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let pages = len.div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: a fresh shared read-only mapping of a file we hold open; it
    // is only passed to mincore (never read through) and unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `map` is `len` bytes mapped above; `vec` has one byte per
    // page of it, as mincore writes.
    let rc = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { libc::munmap(map, len) };
    if rc != 0 {
        return Err(err);
    }
    let resident = vec.iter().filter(|&&v| v & 1 != 0).count();
    Ok(resident as f64 / pages as f64)
}

// -------------------------------------------------------------- methods --

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Uring,
    FsRead,
    FsFile,
}

const METHODS: [Method; 3] = [Method::Uring, Method::FsRead, Method::FsFile];

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Uring => "uring read_at x4",
            Method::FsRead => "fs::read",
            Method::FsFile => "fs::File 64K",
        }
    }
}

/// `uring::fs::File::read_at`: `IN_FLIGHT` tasks, task `i` reading blocks
/// `i`, `i + IN_FLIGHT`, ... into its own reused 64 KiB `Vec`.
async fn read_uring(path: &Path, size: u64, check: Check) -> io::Result<Digest> {
    let file = Arc::new(spindle::uring::fs::File::open(path).await?);
    let blocks = size.div_ceil(BLOCK as u64);
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|first| {
            let file = file.clone();
            spindle::spawn(async move {
                let mut digest = Digest::default();
                let mut buf = Vec::with_capacity(BLOCK);
                for block in (first..blocks).step_by(IN_FLIGHT as usize) {
                    let offset = block * BLOCK as u64;
                    let want = (size - offset).min(BLOCK as u64) as usize;
                    let mut got = 0;
                    // A short read (never seen on a local file, but
                    // allowed) is continued; bytes past this block are
                    // another task's and not counted here.
                    while got < want {
                        let (res, b) = file.read_at(buf, offset + got as u64).await;
                        buf = b;
                        let n = res?.min(want - got);
                        if n == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        digest.add(check, offset + got as u64, &buf[..n]);
                        got += n;
                    }
                }
                io::Result::Ok(digest)
            })
        })
        .collect();
    let mut total = Digest::default();
    for task in tasks {
        total.merge(task.await.map_err(io::Error::other)??);
    }
    Ok(total)
}

/// `spindle::fs::read`: the whole file in one blocking-pool job.
async fn read_whole(path: &Path, check: Check) -> io::Result<Digest> {
    let data = spindle::fs::read(path).await?;
    let mut digest = Digest::default();
    digest.add(check, 0, &data);
    Ok(digest)
}

/// `spindle::fs::File`: `read` into a 64 KiB `Vec` until the end, one
/// blocking-pool job per block.
async fn read_file(path: &Path, check: Check) -> io::Result<Digest> {
    use spindle::io::AsyncReadExt;
    let mut file = spindle::fs::File::open(path).await?;
    let mut buf = vec![0u8; BLOCK];
    let mut digest = Digest::default();
    let mut offset = 0;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(digest);
        }
        digest.add(check, offset, &buf[..n]);
        offset += n as u64;
    }
}

/// Reads the file once with `method`: the wall time and the checksum.
fn read_once(
    rt: &spindle::Runtime,
    method: Method,
    path: &Path,
    size: u64,
    check: Check,
) -> (Duration, Digest) {
    rt.block_on(async {
        let start = Instant::now();
        let digest = match method {
            Method::Uring => read_uring(path, size, check).await,
            Method::FsRead => read_whole(path, check).await,
            Method::FsFile => read_file(path, check).await,
        };
        let digest = digest.unwrap_or_else(|e| panic!("{}: {e}", method.name()));
        (start.elapsed(), digest)
    })
}

// -------------------------------------------------------------- measure --

/// One timed read.
struct Timed {
    secs: f64,
    /// Share of the file's pages resident when the read started (cold
    /// reads: right after the eviction).
    resident: f64,
    /// CPU other processes used during the read (share of one CPU).
    other: f64,
}

/// Reads the file once with `method`, cold (evicted first) or warm, and
/// checks the sampled checksum.
fn timed(
    rt: &spindle::Runtime,
    method: Method,
    path: &Path,
    size: u64,
    cold: bool,
    want: Digest,
) -> Timed {
    let resident = if cold {
        evict(path).expect("evict the file's pages")
    } else {
        resident_share(&fs::File::open(path).expect("open")).expect("mincore")
    };
    let (busy0, self0) = (machine_busy_seconds(), self_cpu_seconds());
    let (elapsed, digest) = read_once(rt, method, path, size, Check::Sampled);
    let secs = elapsed.as_secs_f64();
    let others = (machine_busy_seconds() - busy0) - (self_cpu_seconds() - self0);
    assert_eq!(
        digest,
        want,
        "{}: the sampled checksum of what it read differs from the file's",
        method.name()
    );
    Timed {
        secs,
        resident,
        // Over at least a second: /proc/stat counts in clock ticks, too
        // coarse to divide by a warm read's tenth of a second.
        other: others.max(0.0) / secs.max(1.0),
    }
}

fn main() {
    let args = Args::parse();
    let size = args.size_mib << 20;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| default_path(args.size_mib));
    ensure_file(&path, size).expect("make the file");
    let (full, sampled) = expected(&path).expect("read the file");
    assert_eq!(full.bytes, size, "{} is not {size} bytes", path.display());
    let rt = spindle::Runtime::new().expect("spindle runtime");

    println!(
        "uring_file: {} ({} MiB), {} KiB blocks, {} uring reads in flight, {} runs, each cold then warm",
        path.display(),
        args.size_mib,
        BLOCK >> 10,
        IN_FLIGHT,
        args.runs
    );
    for method in METHODS {
        let (_, digest) = read_once(&rt, method, &path, size, Check::Full);
        assert_eq!(
            digest,
            full,
            "{}: what it read differs from the file",
            method.name()
        );
    }
    println!(
        "verified (untimed): every method read all {size} bytes with the file's full checksum"
    );

    let gib = size as f64 / (1u64 << 30) as f64;
    // results[method][cold = 0, warm = 1]
    let mut results: Vec<[Vec<Timed>; 2]> = METHODS.iter().map(|_| [vec![], vec![]]).collect();
    for run in 0..args.runs {
        for i in 0..METHODS.len() {
            let k = (i + run) % METHODS.len();
            let method = METHODS[k];
            for (temp, cold) in [(0, true), (1, false)] {
                let t = least_disturbed(
                    args.quiet,
                    || timed(&rt, method, &path, size, cold, sampled),
                    |t| t.other,
                    |t, attempt| {
                        println!(
                            "  run {}/{} {:<16} {}  {:>7.3} s {:>6.2} GiB/s  resident before {:>5.1}%  other {:>3.0}% CPU{}",
                            run + 1,
                            args.runs,
                            method.name(),
                            if cold { "cold" } else { "warm" },
                            t.secs,
                            gib / t.secs,
                            t.resident * 100.0,
                            t.other * 100.0,
                            if t.other > args.quiet.max_other {
                                format!("  (disturbed, attempt {attempt})")
                            } else {
                                String::new()
                            }
                        );
                    },
                );
                results[k][temp].push(t);
            }
        }
    }

    let med = |k: usize, temp: usize| median(results[k][temp].iter().map(|t| t.secs).collect());
    println!();
    println!(
        "Medians over {} runs (wall time to read and see every byte). 'resident' is the most of the file still in the page cache after an eviction; 'other CPU' the most other processes used during a kept read.",
        args.runs
    );
    println!("| method | cold (s) | cold GiB/s | warm (s) | warm GiB/s | cold/warm | resident after evict (max) | other CPU (max) |");
    println!("|--------|----------|------------|----------|------------|-----------|----------------------------|-----------------|");
    for (k, method) in METHODS.iter().enumerate() {
        let (cold, warm) = (med(k, 0), med(k, 1));
        let resident = results[k][0].iter().map(|t| t.resident).fold(0.0, f64::max);
        let other = results[k]
            .iter()
            .flatten()
            .map(|t| t.other)
            .fold(0.0, f64::max);
        println!(
            "| {} | {cold:.3} | {:.2} | {warm:.3} | {:.2} | {:.2} | {:.1}% | {:.0}% |",
            method.name(),
            gib / cold,
            gib / warm,
            cold / warm,
            resident * 100.0,
            other * 100.0
        );
    }
    for (k, other) in [(1, "fs::read"), (2, "fs::File")] {
        println!(
            "| uring/{other} | {:.3} | | {:.3} | | | | |",
            med(0, 0) / med(k, 0),
            med(0, 1) / med(k, 1)
        );
    }
    println!();
    // The eviction is the same before every cold read, so one method whose
    // cold reads are clearly slower than its warm ones shows it works.
    // fs::read may show little difference either way: its time goes mostly
    // to faulting in the fresh buffer the size of the file it reads into.
    let resident = results
        .iter()
        .flat_map(|r| &r[0])
        .map(|t| t.resident)
        .fold(0.0, f64::max);
    let ratios: Vec<String> = (0..METHODS.len())
        .map(|k| format!("{} {:.2}", METHODS[k].name(), med(k, 0) / med(k, 1)))
        .collect();
    let slower = (0..METHODS.len()).any(|k| med(k, 0) > 1.3 * med(k, 1));
    println!(
        "eviction: at most {:.1}% of the file resident after it (mincore); cold/warm time: {}; by timing it {}",
        resident * 100.0,
        ratios.join(", "),
        if slower {
            "seemed to work (cold reads over 1.3x the warm ones)"
        } else {
            "seemed NOT to work (no method's cold reads took over 1.3x its warm ones): the cold figures may come from a cache"
        }
    );
}
