//! spindle::uring's owned buffers under cancellation, files, fixed
//! buffers, and shutdown: dropping an operation's future at every stage
//! frees its buffer exactly once, only after the kernel is done with it,
//! and loses no data a later operation should get. (CI also runs this
//! binary under valgrind's memcheck.)

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use spindle_runtime::uring::{fs::File, FixedBufPool, IoBuf, IoBufMut, TcpListener, TcpStream};
use spindle_runtime::{spawn, yield_now};

mod support;
use support::{counter, stays_pending};

/// Runs on a current-thread runtime under a watchdog: the checks below
/// rely on one ring (a cancel and the round trip after it on the same one).
fn run<F: std::future::Future + Send + 'static>(f: impl FnOnce() -> F + Send + 'static) -> F::Output
where
    F::Output: Send,
{
    support::bounded(10, move || {
        support::block_on_current_thread(async move {
            spindle_runtime::time::timeout(std::time::Duration::from_secs(8), f())
                .await
                .expect("test timed out")
        })
    })
}

/// A buffer that counts its drops.
struct Tracked {
    bytes: Box<[u8]>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

// SAFETY: the bytes are a boxed slice: heap memory that never moves.
unsafe impl IoBuf for Tracked {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.len()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.len()
    }
}

// SAFETY: as above; all of it is writable.
unsafe impl IoBufMut for Tracked {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

fn tracked(len: usize, drops: &Arc<AtomicUsize>) -> Tracked {
    Tracked {
        bytes: vec![0u8; len].into_boxed_slice(),
        drops: drops.clone(),
    }
}

/// Polls `f` once: its output if it is ready.
async fn poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// A connected pair: a uring stream and a std one.
async fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}

/// One full operation round trip on the ring: every request queued before
/// it (a cancel, say) has been submitted and run when it returns.
async fn ring_round_trip(file: &File) {
    let (res, _) = file.read_at(vec![0u8; 1], 0).await;
    res.unwrap();
}

async fn some_file() -> (tempdir::Dir, File) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join("f");
    std::fs::write(&path, b"0123456789").unwrap();
    let file = File::open(&path).await.unwrap();
    (dir, file)
}

mod tempdir {
    /// A fresh directory under the system's temp dir, removed on drop.
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("spindle-uring-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn a_read_dropped_before_it_was_submitted_frees_its_buffer_once() {
    run(|| async {
        let (server, _client) = pair().await;
        let drops = counter();
        // Polled once (queued), dropped before the runtime's turn submits it:
        // the request and its cancel go to the kernel together.
        assert!(stays_pending(server.read(tracked(64, &drops))).await);
        let (_dir, file) = some_file().await;
        ring_round_trip(&file).await;
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn a_read_dropped_while_in_the_kernel_is_cancelled_and_loses_no_later_data() {
    run(|| async {
        let (server, mut client) = pair().await;
        let (_dir, file) = some_file().await;
        let drops = counter();
        {
            let read = server.read(tracked(64, &drops));
            let mut read = std::pin::pin!(read);
            assert!(stays_pending(read.as_mut()).await);
            ring_round_trip(&file).await; // now it is surely in the kernel
            assert_eq!(drops.load(SeqCst), 0, "the kernel still owns the buffer");
        } // dropped: cancelled
        ring_round_trip(&file).await; // the cancel has run
        assert_eq!(drops.load(SeqCst), 1, "freed once the kernel let go");
        // The cancelled read took nothing: the next one gets all the data.
        std::io::Write::write_all(&mut client, b"after").unwrap();
        let (res, buf) = server.read(vec![0u8; 16]).await;
        assert_eq!(&buf[..res.unwrap()], b"after");
    });
}

#[test]
fn a_read_dropped_after_it_completed_frees_its_buffer_and_keeps_nothing_in_flight() {
    run(|| async {
        let (server, mut client) = pair().await;
        let (_dir, file) = some_file().await;
        let drops = counter();
        std::io::Write::write_all(&mut client, b"x").unwrap();
        {
            let read = server.read(tracked(64, &drops));
            let mut read = std::pin::pin!(read);
            // Polled until it is in the kernel, then the completion arrives
            // (the data is there) during the round trip; never polled again.
            let _ = stays_pending(read.as_mut()).await;
            ring_round_trip(&file).await;
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn reads_dropped_at_every_stage_free_each_buffer_once_and_leave_the_stream_usable() {
    run(|| async {
        let (server, mut client) = pair().await;
        let (_dir, file) = some_file().await;
        let drops = counter();
        // Round i polls its read i % 4 times (0: never submitted; 1: queued;
        // more: in the kernel across turns) and then drops it.
        for i in 0..200 {
            let read = server.read(tracked(64, &drops));
            let mut read = std::pin::pin!(read);
            for _ in 0..i % 4 {
                assert!(poll_once(read.as_mut()).await.is_none(), "no data was sent");
                yield_now().await;
            }
        }
        ring_round_trip(&file).await; // every cancel has run
        assert_eq!(drops.load(SeqCst), 200, "each buffer freed exactly once");
        std::io::Write::write_all(&mut client, b"end").unwrap();
        let (res, buf) = server.read(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"end");
    });
}

#[test]
fn write_all_at_writes_every_byte_where_it_belongs() {
    run(|| async {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("data");
        let file = File::create(&path).await.unwrap();
        let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
        let (res, back) = file.write_all_at(big.clone(), 100).await;
        res.unwrap();
        assert_eq!(back, big, "the buffer comes back as it was");
        let (res, _) = file.write_all_at(b"head", 0).await;
        res.unwrap();
        file.sync_all().await.unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), 100 + big.len());
        assert_eq!(&on_disk[..4], b"head");
        assert!(
            on_disk[4..100].iter().all(|&b| b == 0),
            "the gap reads as zeros"
        );
        assert_eq!(&on_disk[100..], &big[..]);
    });
}

#[test]
fn open_options_append_create_new_read_write_and_refusals() {
    use spindle_runtime::uring::fs::OpenOptions;
    use std::os::unix::fs::PermissionsExt;
    run(|| async {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("log");
        // create_new makes it, with the mode asked for (before the umask).
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await
            .unwrap();
        drop(file);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & !0o600,
            0,
            "no bit beyond the mode asked for: {mode:o}"
        );
        let again = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await;
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        // Appends land at the end, whatever offset the write names.
        for line in ["one\n", "two\n"] {
            let log = File::options().append(true).open(&path).await.unwrap();
            let (res, _) = log.write_all_at(line, 0).await;
            res.unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        // Read and write on one descriptor.
        let both = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = both.write_all_at(b"ONE", 0).await;
        res.unwrap();
        let (res, buf) = both.read_at(vec![0u8; 8], 0).await;
        assert_eq!(&buf[..res.unwrap()], b"ONE\ntwo\n");
        // What std::fs refuses, refused the same way, before any system call.
        for options in [
            OpenOptions::new(),
            OpenOptions::new().read(true).create(true).clone(),
            OpenOptions::new().read(true).truncate(true).clone(),
            OpenOptions::new().append(true).truncate(true).clone(),
        ] {
            let err = options.open(&path).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{options:?}");
        }
        // A missing file without create is NotFound.
        let missing = OpenOptions::new()
            .read(true)
            .open(dir.path().join("nope"))
            .await;
        assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn offsets_beyond_i64_max_are_refused_and_give_the_buffer_back() {
    run(|| async {
        let (_dir, file) = some_file().await;
        // To io_uring, u64::MAX would mean "the current position".
        let (res, buf) = file.read_at(vec![0u8; 4], u64::MAX).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(buf.len(), 4);
        let (res, buf) = file.write_at(b"x".to_vec(), 1 << 63).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(buf, b"x");
        let (res, _) = file.write_all_at(b"x".to_vec(), u64::MAX).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn file_read_at_and_write_at_with_several_in_flight() {
    run(|| async {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("data");
        let file = Arc::new(File::create(&path).await.unwrap());
        // Eight writes at once, each to its own block.
        let mut tasks = Vec::new();
        for i in 0..8u8 {
            let file = file.clone();
            tasks.push(spawn(async move {
                let (res, _) = file.write_at(vec![i; 4096], i as u64 * 4096).await;
                assert_eq!(res.unwrap(), 4096);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        file.sync_all().await.unwrap();
        let file = Arc::new(File::open(&path).await.unwrap());
        let reads: Vec<_> = (0..8u8)
            .map(|i| {
                let file = file.clone();
                // Zeroed, not `with_capacity`: valgrind cannot see the kernel
                // write into a buffer, so it would call the data uninitialised.
                spawn(async move { file.read_at(vec![0u8; 4096], i as u64 * 4096).await })
            })
            .collect();
        for (i, read) in reads.into_iter().enumerate() {
            let (res, buf) = read.await.unwrap();
            assert_eq!(res.unwrap(), 4096);
            assert!(buf.iter().all(|&b| b == i as u8));
        }
        let (res, _) = file.read_at(vec![0u8; 10], 8 * 4096).await;
        assert_eq!(res.unwrap(), 0, "end of file");
        let err = File::open(dir.path().join("missing")).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn fixed_buffers_read_files_and_sockets_and_return_to_the_pool() {
    support::block_on_current_thread(async {
        let pool = match FixedBufPool::new(4, 4096) {
            Ok(pool) => pool,
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {
                eprintln!("skipped: the locked-memory limit is too low ({e})");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert!(FixedBufPool::new(1, 16).is_err(), "one set per ring");
        let (_dir, file) = some_file().await;
        let buf = pool.try_take().unwrap();
        let (res, buf) = file.read_at(buf, 2).await;
        assert_eq!(&buf[..res.unwrap()], b"23456789");
        let (server, mut client) = pair().await;
        std::io::Write::write_all(&mut client, b"fixed").unwrap();
        let mut buf = buf;
        buf.clear();
        let (res, buf) = server.read(buf).await;
        assert_eq!(&buf[..res.unwrap()], b"fixed");
        let taken: Vec<_> = std::iter::from_fn(|| pool.try_take()).collect();
        assert_eq!(taken.len(), 3, "one is still out");
        drop(buf);
        assert!(pool.try_take().is_some(), "a dropped buffer goes back");
    });
}

#[test]
fn a_runtime_shut_down_with_reads_in_flight_frees_their_buffers() {
    let drops = counter();
    let (server, client) = {
        let rt = support::current_thread();
        let d = drops.clone();
        let (server, client) = rt.block_on(pair());
        let server = Arc::new(server);
        let s = server.clone();
        rt.block_on(async move {
            spawn(async move {
                let _ = s.read(tracked(64, &d)).await;
            });
            yield_now().await;
            yield_now().await;
        });
        drop(rt); // the read is in the kernel: shutdown cancels it and waits
        (server, client)
    };
    assert_eq!(drops.load(SeqCst), 1);
    // The socket outlives the runtime and works on the next one.
    let rt = support::current_thread();
    rt.block_on(async move {
        std::io::Write::write_all(&mut &client, b"next").unwrap();
        let (res, buf) = server.read(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"next");
    });
}
