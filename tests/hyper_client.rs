//! hyper 1.x on spindle with no glue (feature `hyper`): a hyper client
//! against a hyper server, both on spindle sockets, over HTTP/1.1 (TCP and
//! Unix sockets) and h2c (HTTP/2 without TLS, with `spindle::hyper::Executor`,
//! and `LocalExecutor` for a `!Send` service, on a runtime and on shards);
//! hyper-util's pooled client through `spindle::hyper::Connector`;
//! hyper's timeouts through `spindle::hyper::Timer`; `hyper::rt::Read`
//! used directly, into uninitialized memory; and hyper over io_uring
//! through `spindle::uring::PollStream`.
//!
//! ```text
//! cargo test -p spindle-rt --features hyper --test hyper_client
//! ```
//!
//! Loopback only; every test runs under a watchdog.

use std::convert::Infallible;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1 as client1, http2 as client2};
use hyper::rt::{ReadBuf, Timer as _};
use hyper::server::conn::{http1 as server1, http2 as server2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use spindle::hyper::{Connector, Executor, LocalExecutor, Timer};
use spindle::io::AsyncWriteExt;
use spindle::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use spindle::Runtime;

mod support;
use support::bounded;

/// Runs `future` on a fresh spindle runtime, under the watchdog.
fn run<F: std::future::Future<Output = ()> + 'static>(make: impl FnOnce() -> F + Send + 'static) {
    bounded(30, move || Runtime::new().unwrap().block_on(make()));
}

/// The test server's service: `GET /hello` is "hello", a `POST` echoes its
/// body (read whole, then sent back), anything else is 404.
async fn service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/hello") => Response::new(Full::new(Bytes::from_static(b"hello"))),
        (&Method::POST, _) => {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Response::new(Full::new(body))
        }
        _ => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

/// Which protocol the test server speaks.
#[derive(Clone, Copy)]
enum Protocol {
    Http1,
    H2c,
}

/// Serves every connection accepted on `listener` with [`service`].
async fn serve_tcp(listener: TcpListener, protocol: Protocol) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        spindle::spawn(serve_one(stream, protocol));
    }
}

/// Serves one connection: the stream goes to hyper as it is.
async fn serve_one<S>(stream: S, protocol: Protocol)
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let result = match protocol {
        Protocol::Http1 => {
            server1::Builder::new()
                .timer(Timer::new())
                .serve_connection(stream, service_fn(service))
                .await
        }
        Protocol::H2c => {
            server2::Builder::new(Executor::new())
                .timer(Timer::new())
                .serve_connection(stream, service_fn(service))
                .await
        }
    };
    result.unwrap();
}

/// A megabyte of bytes that are not all alike.
fn big_body() -> Bytes {
    (0..1 << 20).map(|i: u32| (i * 31 % 251) as u8).collect()
}

/// Sends `req` and returns the status and the whole body.
async fn fetch_h1(
    sender: &mut client1::SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Bytes) {
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::new(Bytes::new())).unwrap()
}

fn post(path: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::post(path).body(Full::new(body)).unwrap()
}

#[test]
fn http1_get_post_and_404_on_one_keep_alive_connection() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spindle::spawn(serve_tcp(listener, Protocol::Http1));

        let stream = TcpStream::connect(addr).await.unwrap();
        http1_requests(stream).await;
    });
}

/// On one keep-alive HTTP/1.1 connection over `stream`: a GET, a 1 MiB
/// POST echoed back (it crosses many reads into hyper's buffer, on both
/// sides, and must come back byte for byte), small GETs again on the same
/// connection, a 404; then the sender is dropped, which ends the client
/// connection cleanly.
async fn http1_requests<S>(stream: S)
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = client1::handshake(stream).await.unwrap();
    let conn = spindle::spawn(conn);
    let (status, body) = fetch_h1(&mut sender, get("/hello")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    let big = big_body();
    let (status, body) = fetch_h1(&mut sender, post("/echo", big.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == big, "the echoed megabyte differs");
    for _ in 0..10 {
        let (status, body) = fetch_h1(&mut sender, get("/hello")).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    }
    let (status, _) = fetch_h1(&mut sender, get("/missing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    drop(sender);
    conn.await.unwrap().unwrap();
}

#[test]
fn http1_over_a_unix_socket() {
    run(|| async {
        let dir = std::env::temp_dir().join(format!("spindle-hyper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("http.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        spindle::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                spindle::spawn(serve_one(stream, Protocol::Http1));
            }
        });

        let stream = UnixStream::connect(&path).await.unwrap();
        let (mut sender, conn) = client1::handshake(stream).await.unwrap();
        spindle::spawn(conn);
        let (status, body) = fetch_h1(&mut sender, get("/hello")).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
        let big = big_body();
        let (_, body) = fetch_h1(&mut sender, post("/echo", big.clone())).await;
        assert!(body == big, "the echoed megabyte differs");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// On one h2c (HTTP/2 without TLS) connection over `stream`: 32 requests
/// at once, each from its own task (spawn needs Send: the sender and its
/// futures are Send), half GETs and half echoed POSTs; then one megabyte
/// through HTTP/2's flow control.
async fn h2c_requests<S>(stream: S)
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = client2::Builder::new(Executor::new())
        .timer(Timer::new())
        .handshake(stream)
        .await
        .unwrap();
    spindle::spawn(conn);
    let mut tasks = Vec::new();
    for i in 0..32u32 {
        let mut sender = sender.clone();
        tasks.push(spindle::spawn(async move {
            sender.ready().await.unwrap();
            let body = Bytes::from(format!("request {i} ").repeat(1000 + i as usize));
            let req = if i % 2 == 0 {
                get("/hello")
            } else {
                post("/echo", body.clone())
            };
            let response = sender.send_request(req).await.unwrap();
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            let got = response.into_body().collect().await.unwrap().to_bytes();
            assert_reply(i, &got, &body);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut sender = sender;
    let big = big_body();
    let response = sender
        .send_request(post("/echo", big.clone()))
        .await
        .unwrap();
    let got = response.into_body().collect().await.unwrap().to_bytes();
    assert!(got == big, "the echoed megabyte differs");
}

#[test]
fn h2c_get_and_post_from_32_concurrent_send_tasks() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spindle::spawn(serve_tcp(listener, Protocol::H2c));

        let stream = TcpStream::connect(addr).await.unwrap();
        h2c_requests(stream).await;
    });
}

/// hyper on io_uring: server and client connections are `spindle::uring`
/// streams behind `uring::PollStream`, over HTTP/1.1 (as in
/// `http1_requests`) and h2c (as in `h2c_requests`).
#[test]
fn http1_and_h2c_over_io_uring_poll_streams() {
    run(|| async {
        use spindle::uring::{
            BufRing, PollStream, TcpListener as UringListener, TcpStream as UringStream,
        };
        // The server's streams receive into a shared ring of 16 buffers of
        // 4 KiB (fewer than the 1 MiB bodies need: receives wait for the
        // buffers to come back); the client's into buffers of their own.
        let bufs = BufRing::new(16, 4096).unwrap();
        for protocol in [Protocol::Http1, Protocol::H2c] {
            let listener = UringListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let bufs = bufs.clone();
            spindle::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let stream = PollStream::with_buf_ring(stream, &bufs);
                    spindle::spawn(serve_one(stream, protocol));
                }
            });
            let stream = PollStream::new(UringStream::connect(addr).await.unwrap());
            match protocol {
                Protocol::Http1 => http1_requests(stream).await,
                Protocol::H2c => h2c_requests(stream).await,
            }
        }
    });
}

#[test]
fn header_read_timeout_closes_a_silent_connection() {
    // hyper's header_read_timeout runs on spindle::hyper::Timer: a client
    // that connects and says nothing is hung up on, and nothing else.
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (outcome_tx, outcome_rx) = spindle::channel::oneshot::channel();
        spindle::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let result = server1::Builder::new()
                .timer(Timer::new())
                .header_read_timeout(Duration::from_millis(100))
                .serve_connection(stream, service_fn(service))
                .await;
            let _ = outcome_tx.send(result.map_err(|e| e.is_timeout()));
        });
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let n = spindle::io::AsyncReadExt::read(&mut silent, &mut buf)
            .await
            .unwrap_or(0);
        assert_eq!(n, 0, "the server hangs up without answering");
        assert!(started.elapsed() >= Duration::from_millis(100));
        let outcome = outcome_rx.await.unwrap();
        assert_eq!(
            outcome,
            Err(true),
            "hyper ended the connection with a timeout"
        );
        silent.shutdown().await.unwrap();
    });
}

#[test]
fn timer_reset_moves_a_spindle_sleep_in_place() {
    run(|| async {
        let timer = Timer::new();
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        let before: *const () = (&*sleep as *const dyn hyper::rt::Sleep).cast();
        let started = Instant::now();
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(20));
        let after: *const () = (&*sleep as *const dyn hyper::rt::Sleep).cast();
        assert_eq!(before, after, "reset reused the same sleep");
        sleep.as_mut().await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(20),
            "woke early: {waited:?}"
        );
        // Reset after it fired: it waits again.
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(5));
        sleep.as_mut().await;
        let default_timer = Timer::default();
        default_timer.sleep_until(Instant::now()).await;
    });
}

/// A sleep of some other timer: `reset` must replace it.
struct ForeignSleep;

impl std::future::Future for ForeignSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl hyper::rt::Sleep for ForeignSleep {}

#[test]
fn timer_reset_replaces_a_foreign_sleep() {
    run(|| async {
        let timer = Timer::new();
        let mut sleep: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(ForeignSleep);
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(5));
        // ForeignSleep never completes; the replacement does.
        sleep.as_mut().await;
    });
}

/// Reads once with `hyper::rt::Read` into `storage` (uninitialized
/// memory) and returns the bytes filled.
async fn hyper_read<R: hyper::rt::Read + Unpin>(
    reader: &mut R,
    storage: &mut [MaybeUninit<u8>],
) -> Vec<u8> {
    let mut buf = ReadBuf::uninit(storage);
    poll_fn(|cx| Pin::new(&mut *reader).poll_read(cx, buf.unfilled()))
        .await
        .unwrap();
    buf.filled().to_vec()
}

#[test]
fn hyper_read_fills_uninitialized_memory_and_sees_end_of_stream() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (mut read_half, _write_half) = server.into_split();

        let mut storage = [MaybeUninit::<u8>::uninit(); 64];
        client.write_all(b"straight in").await.unwrap();
        assert_eq!(
            hyper_read(&mut read_half, &mut storage).await,
            b"straight in"
        );
        client.shutdown().await.unwrap();
        assert_eq!(hyper_read(&mut read_half, &mut storage).await, b"");

        // The whole stream too, and hyper::rt::Write.
        let (mut a, mut b) = UnixStream::pair().unwrap();
        poll_fn(|cx| hyper::rt::Write::poll_write(Pin::new(&mut a), cx, b"via hyper"))
            .await
            .unwrap();
        assert_eq!(hyper_read(&mut b, &mut storage).await, b"via hyper");
        poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut a), cx))
            .await
            .unwrap();
        assert_eq!(hyper_read(&mut b, &mut storage).await, b"");
    });
}

/// 32 concurrent requests (GETs and POSTs) from Send tasks through
/// hyper-util's pooled client, connecting with `spindle::hyper::Connector`.
async fn pooled_requests(protocol: Protocol) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spindle::spawn(serve_tcp(listener, protocol));

    let mut connector = Connector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let client: Client<Connector, Full<Bytes>> = Client::builder(Executor::new())
        .pool_timer(Timer::new())
        .timer(Timer::new())
        .http2_only(matches!(protocol, Protocol::H2c))
        .build(connector);

    let mut tasks = Vec::new();
    for i in 0..32u32 {
        let client = client.clone();
        tasks.push(spindle::spawn(async move {
            let body = Bytes::from(format!("pooled {i} ").repeat(100 + i as usize));
            let req = if i % 2 == 0 {
                Request::get(format!("http://{addr}/hello"))
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            } else {
                Request::post(format!("http://{addr}/echo"))
                    .body(Full::new(body.clone()))
                    .unwrap()
            };
            let response = client.request(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let got = response.into_body().collect().await.unwrap().to_bytes();
            assert_reply(i, &got, &body);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn pooled_client_over_http1() {
    run(|| pooled_requests(Protocol::Http1));
}

#[test]
fn pooled_client_over_h2c() {
    run(|| pooled_requests(Protocol::H2c));
}

#[test]
fn connector_refuses_https_and_reports_a_refused_connection() {
    run(|| async {
        use tower_service::Service as _;
        // A port nobody listens on: bind one, note it, close it.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let mut connector = Connector::default();
        let uri = |s: String| s.parse::<hyper::Uri>().unwrap();
        let refused = connector.call(uri(format!("http://{closed}/"))).await;
        assert_eq!(
            refused.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused
        );
        let https = connector.call(uri(format!("https://{closed}/"))).await;
        assert_eq!(https.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// The answer to request `i` of the concurrent tests: even ones GET
/// `/hello`, odd ones POST `body` to `/echo`.
fn assert_reply(i: u32, got: &Bytes, body: &Bytes) {
    if i.is_multiple_of(2) {
        assert_eq!(&got[..], b"hello");
    } else {
        assert!(got == body, "request {i}: echo differs");
    }
}

/// Serves h2c on `listener` with a service whose futures are `!Send`
/// (they hold an `Rc`), through `LocalExecutor`; each response says how
/// many requests this server had answered, counting itself.
async fn serve_h2c_local(listener: TcpListener) {
    let served = std::rc::Rc::new(std::cell::Cell::new(0u32));
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let served = served.clone();
        spindle::spawn_local(async move {
            let service = service_fn(move |_req: Request<Incoming>| {
                let served = served.clone();
                async move {
                    // An await while the Rc is held: the future is !Send.
                    spindle::task::yield_now().await;
                    served.set(served.get() + 1);
                    let body = Bytes::from(served.get().to_string());
                    Ok::<_, Infallible>(Response::new(Full::new(body)))
                }
            });
            server2::Builder::new(LocalExecutor::new())
                .timer(Timer::new())
                .serve_connection(stream, service)
                .await
                .unwrap();
        });
    }
}

/// 16 concurrent h2c requests to [`serve_h2c_local`] over one connection,
/// each sent from a `spawn_local` task holding an `Rc`; returns the counts
/// the server answered, sorted.
async fn h2c_local_requests(addr: std::net::SocketAddr) -> Vec<u32> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = client2::Builder::new(LocalExecutor::new())
        .timer(Timer::new())
        .handshake::<_, Full<Bytes>>(stream)
        .await
        .unwrap();
    spindle::spawn_local(conn);
    let answers = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut sender = sender.clone();
        let answers = answers.clone();
        tasks.push(spindle::spawn_local(async move {
            sender.ready().await.unwrap();
            let response = sender.send_request(get("/count")).await.unwrap();
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let n: u32 = std::str::from_utf8(&body).unwrap().parse().unwrap();
            answers.borrow_mut().push(n);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut answers = answers.take();
    answers.sort_unstable();
    answers
}

#[test]
fn h2c_with_a_not_send_service_through_local_executor() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spindle::spawn_local(serve_h2c_local(listener));
        // Every request was served once, by the one Rc counter.
        assert_eq!(h2c_local_requests(addr).await, (1..=16).collect::<Vec<_>>());
    });
}

/// The same on two shards: each serves its own `!Send` h2c server and is
/// its own client, so the counters never meet.
#[test]
fn h2c_with_a_not_send_service_on_each_shard() {
    bounded(30, || {
        let answers = spindle::shard::Builder::new()
            .shards(2)
            .pin(false)
            .run(|_shard| async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                spindle::spawn_local(serve_h2c_local(listener));
                h2c_local_requests(addr).await
            })
            .unwrap();
        for answer in answers {
            assert_eq!(answer, (1..=16).collect::<Vec<_>>());
        }
    });
}
