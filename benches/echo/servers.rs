//! The echo servers the parent measures, one `serve_*` function per
//! `--serve` kind. Each prints `LISTENING <addr>` once it listens, then
//! serves forever: one task per connection, echoing what it reads.
//!
//! Two models of IO:
//! * readiness (`spindle`, `tokio`, and their `-mt` variants): the task
//!   waits with `readable().await`, then copies the data itself with
//!   `try_read` into a 1024-byte stack buffer and `try_write`s it back.
//!   Both runtimes' servers come out of one macro, so their code is the
//!   same apart from the runtime's paths.
//! * completion (`spindle-uring`, `monoio`): the task hands an owned
//!   buffer (a `Vec` of capacity 1024, reused for the whole connection) to
//!   io_uring with `read(buf).await`; the kernel waits for the data *and*
//!   copies it, and the buffer comes back holding it, to go straight out
//!   again with `write_all(buf).await`.

use std::io::{self, Write};

use super::measure::spindle_multi_thread;

/// The read buffer of every server: a 1024-byte stack buffer for the
/// readiness servers, a `Vec` of this capacity for the completion ones.
const BUF: usize = 1024;

/// Prints the `LISTENING <addr>` line the parent waits for.
pub(crate) fn announce(addr: std::net::SocketAddr) {
    println!("LISTENING {addr}");
    io::stdout().flush().unwrap();
}

/// What one `try_read` + `try_write` step of an echo connection left to do.
enum Step {
    /// The peer closed the connection.
    Closed,
    /// Everything read was written back (or nothing was ready).
    Done,
    /// The socket's send buffer was full: write these bytes with `write_all`.
    Rest(Vec<u8>),
}

/// Generates a readiness echo server for one runtime. Both servers come
/// out of this macro so their code is the same except for the runtime's
/// paths.
///
/// The read buffer lives on the stack of a plain (non-async) function, so it
/// is not part of any task's state: an idle connection costs its task, its
/// socket and the runtime's registration, nothing more.
macro_rules! echo_server {
    ($serve:ident, $serve_mt:ident, $accept:ident, $conn:ident, $step:ident, $rt:expr, $rt_mt:expr, $spawn:path, $listener:ty, $stream:ty, $write_ext:path) => {
        fn $step(stream: &$stream) -> io::Result<Step> {
            let mut buf = [0u8; BUF];
            let n = match stream.try_read(&mut buf) {
                Ok(0) => return Ok(Step::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Done),
                Err(e) => return Err(e),
            };
            let mut written = 0;
            while written < n {
                match stream.try_write(&buf[written..n]) {
                    Ok(k) => written += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Step::Rest(buf[written..n].to_vec()))
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(Step::Done)
        }

        async fn $conn(mut stream: $stream) -> io::Result<()> {
            use $write_ext;
            loop {
                stream.readable().await?;
                match $step(&stream)? {
                    Step::Closed => return Ok(()),
                    Step::Done => {}
                    Step::Rest(rest) => stream.write_all(&rest).await?,
                }
            }
        }

        async fn $accept(addr: String) {
            let listener = <$listener>::bind(addr).await.expect("bind");
            announce(listener.local_addr().expect("local_addr"));
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        $spawn(async move {
                            let _ = $conn(stream).await;
                        });
                    }
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        }

        /// The current-thread readiness server.
        pub fn $serve(addr: &str) {
            let rt = $rt;
            rt.block_on($accept(addr.to_string()))
        }

        /// On a multi-threaded runtime: the accept loop is a task too, so
        /// nothing runs on the `block_on` thread.
        pub fn $serve_mt(addr: &str, workers: usize) {
            let rt = ($rt_mt)(workers);
            let addr = addr.to_string();
            rt.block_on(async move {
                let _ = $spawn($accept(addr)).await;
            })
        }
    };
}

echo_server!(
    serve_spindle,
    serve_spindle_mt,
    accept_spindle,
    conn_spindle,
    step_spindle,
    spindle::Runtime::new().expect("spindle runtime"),
    spindle_multi_thread,
    spindle::spawn,
    spindle::net::TcpListener,
    spindle::net::TcpStream,
    spindle::io::AsyncWriteExt
);

echo_server!(
    serve_tokio,
    serve_tokio_mt,
    accept_tokio,
    conn_tokio,
    step_tokio,
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime"),
    |workers| tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime"),
    tokio::spawn,
    tokio::net::TcpListener,
    tokio::net::TcpStream,
    tokio::io::AsyncWriteExt
);

/// One connection of the completion servers: read into an owned buffer,
/// write it back, until the peer closes.
async fn uring_conn(stream: spindle::uring::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(BUF);
    loop {
        let (res, b) = stream.read(buf).await;
        if res? == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}

/// The completion servers' accept loop: a task per connection.
async fn uring_accept(listener: spindle::uring::TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                spindle::spawn(async move {
                    let _ = uring_conn(stream).await;
                });
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

/// The completion server on `spindle::uring`, on a current-thread spindle
/// runtime (epoll for readiness; the thread's completion ring beside it).
pub fn serve_spindle_uring(addr: &str) {
    let listener = spindle::uring::TcpListener::bind(addr).expect("bind");
    announce(listener.local_addr().expect("local_addr"));
    let rt = spindle::Runtime::new().expect("spindle runtime");
    rt.block_on(uring_accept(listener))
}

/// The same completion server on a multi-threaded runtime of `workers`
/// workers: the accept loop is a task, and every worker has a ring of its
/// own (an operation goes to the ring of the worker it starts on).
pub fn serve_spindle_uring_mt(addr: &str, workers: usize) {
    let listener = spindle::uring::TcpListener::bind(addr).expect("bind");
    announce(listener.local_addr().expect("local_addr"));
    let rt = spindle_multi_thread(workers);
    rt.block_on(async move {
        let _ = spindle::spawn(uring_accept(listener)).await;
    })
}

/// A multishot echo connection: one receive into `bufs` for the whole
/// connection, each buffer written back as is; it returns to the ring when
/// the write is done.
async fn uring_multi_conn(
    stream: spindle::uring::TcpStream,
    bufs: spindle::uring::BufRing,
) -> io::Result<()> {
    let mut recv = stream.recv_multi(&bufs);
    while let Some(buf) = recv.next().await {
        let (res, _buf) = stream.write_all(buf?).await;
        res?;
    }
    Ok(())
}

/// The buffers of a multishot server's ring: enough for every connection
/// of the biggest point to have a message in flight.
const RING_BUFS: u16 = 2048;

/// The completion server on `spindle::uring` with one multishot receive
/// per connection into a ring of provided buffers shared by every
/// connection (`BufRing` + `recv_multi`, see `uring_multi_conn`).
pub fn serve_spindle_uring_multi(addr: &str) {
    use spindle::uring::{BufRing, TcpListener};

    let listener = TcpListener::bind(addr).expect("bind");
    announce(listener.local_addr().expect("local_addr"));
    let rt = spindle::Runtime::new().expect("spindle runtime");
    rt.block_on(async move {
        let bufs = BufRing::new(RING_BUFS, BUF).expect("a provided-buffer ring");
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let bufs = bufs.clone();
                    spindle::spawn(async move {
                        let _ = uring_multi_conn(stream, bufs).await;
                    });
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
}

/// The multishot server on a multi-threaded runtime of `workers` workers.
/// A `BufRing` belongs to one worker's ring, so each worker makes its own
/// the first time a connection starts on it, and the connection receives
/// into that one (its receive stays on that worker's ring even if the task
/// is stolen later; its writes go to the ring of the worker it runs on).
pub fn serve_spindle_uring_multi_mt(addr: &str, workers: usize) {
    use spindle::uring::{BufRing, TcpListener};

    thread_local! {
        static BUFS: std::cell::OnceCell<BufRing> = const { std::cell::OnceCell::new() };
    }

    let listener = TcpListener::bind(addr).expect("bind");
    announce(listener.local_addr().expect("local_addr"));
    let rt = spindle_multi_thread(workers);
    rt.block_on(async move {
        let accept = spindle::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        spindle::spawn(async move {
                            let bufs = BUFS.with(|b| {
                                b.get_or_init(|| {
                                    BufRing::new(RING_BUFS, BUF).expect("a provided-buffer ring")
                                })
                                .clone()
                            });
                            let _ = uring_multi_conn(stream, bufs).await;
                        });
                    }
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        });
        let _ = accept.await;
    })
}

/// monoio's io_uring echo server, written as monoio's own echo example
/// is: owned buffers through `AsyncReadRent::read` and
/// `AsyncWriteRentExt::write_all`, on a current-thread
/// `RuntimeBuilder::<IoUringDriver>` runtime.
pub fn serve_monoio(addr: &str) {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    use monoio::net::{TcpListener, TcpStream};

    async fn conn(mut stream: TcpStream) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(BUF);
        let mut res;
        loop {
            (res, buf) = stream.read(buf).await;
            if res? == 0 {
                return Ok(());
            }
            (res, buf) = stream.write_all(buf).await;
            res?;
            buf.clear();
        }
    }

    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .build()
        .expect("monoio runtime (io_uring)");
    let addr = addr.to_string();
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).expect("bind");
        announce(listener.local_addr().expect("local_addr"));
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    monoio::spawn(async move {
                        let _ = conn(stream).await;
                    });
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
}
