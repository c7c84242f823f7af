//! Name resolution: `lookup_host` and names in `connect`/`bind`/`send_to`
//! are looked up on the blocking pool (the runtime keeps running timers,
//! a timeout around a lookup fires); literal addresses never touch the pool.
//! Only "localhost" is ever looked up.

mod fs_support;
mod support;

use std::future::Future;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use fs_support::{one_pool_thread, PoolGate};
use spindle_runtime::net::{lookup_host, TcpListener, TcpStream, UdpSocket};
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn};
use support::bounded;

const WATCHDOG: Duration = Duration::from_secs(10);

#[test]
fn lookup_host_resolves_localhost_and_passes_numbers_through() {
    bounded(30, || {
        block_on(async {
            let addrs: Vec<SocketAddr> = lookup_host("localhost:8080").await.unwrap().collect();
            assert!(!addrs.is_empty());
            assert!(addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080));
            let pair: Vec<SocketAddr> = lookup_host(("localhost", 9)).await.unwrap().collect();
            assert!(pair.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
            let owned = String::from("localhost:7");
            assert!(lookup_host(&owned).await.unwrap().all(|a| a.port() == 7));

            let literal: Vec<_> = lookup_host("127.0.0.1:5").await.unwrap().collect();
            assert_eq!(literal, ["127.0.0.1:5".parse::<SocketAddr>().unwrap()]);
            let v6: Vec<_> = lookup_host("[::1]:6").await.unwrap().collect();
            assert_eq!(v6, ["[::1]:6".parse::<SocketAddr>().unwrap()]);
            let ip: Vec<_> = lookup_host((IpAddr::from(Ipv4Addr::LOCALHOST), 4))
                .await
                .unwrap()
                .collect();
            assert_eq!(ip, ["127.0.0.1:4".parse::<SocketAddr>().unwrap()]);

            // No port: the resolver's own error, not a hang or a panic.
            let err = lookup_host("localhost").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        });
    });
}

#[test]
fn a_name_lookup_runs_on_the_pool_and_a_timeout_around_it_fires() {
    // The pool's one thread is held, so a lookup cannot finish. The
    // runtime's thread must keep running: the timeout fires, a timer task
    // ticks, and literal addresses still connect. (When names were resolved
    // on the runtime thread, the connect finished inside the timeout.)
    bounded(30, || {
        let rt = one_pool_thread();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut gate = PoolGate::hold();

            let ticks = spawn(async {
                for _ in 0..3 {
                    spindle_runtime::time::sleep(Duration::from_millis(1)).await;
                }
            });
            let by_name = timeout(
                Duration::from_millis(50),
                TcpStream::connect(("localhost", port)),
            )
            .await;
            assert!(by_name.is_err(), "a name was resolved off the pool");
            timeout(WATCHDOG, ticks).await.unwrap().unwrap();
            let lookup = timeout(Duration::from_millis(20), lookup_host("localhost:1")).await;
            assert!(lookup.is_err());

            // Literal addresses need no pool.
            let stream = timeout(WATCHDOG, TcpStream::connect(("127.0.0.1", port)))
                .await
                .unwrap()
                .unwrap();
            listener.accept().await.unwrap();
            drop(stream);

            gate.release();
            let stream = timeout(WATCHDOG, TcpStream::connect(format!("localhost:{port}")))
                .await
                .unwrap()
                .unwrap();
            assert!(stream.peer_addr().unwrap().ip().is_loopback());
        });
    });
}

#[test]
fn literal_addresses_never_touch_the_pool() {
    bounded(30, || {
        let rt = one_pool_thread();
        rt.block_on(async {
            let _gate = PoolGate::hold();
            timeout(WATCHDOG, async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let _v6 = TcpListener::bind(("::1", 0)).await; // may be unavailable
                TcpStream::connect(addr).await.unwrap();
                TcpStream::connect(&[addr][..]).await.unwrap();
                let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
                let b_addr = b.local_addr().unwrap();
                a.send_to(b"x", b_addr.to_string()).await.unwrap();
                a.connect(b_addr).await.unwrap();
                a.send(b"y").await.unwrap();
                let mut buf = [0; 4];
                assert_eq!(b.recv(&mut buf).await.unwrap(), 1);
                assert_eq!(b.recv(&mut buf).await.unwrap(), 1);
                assert_eq!(lookup_host(addr).await.unwrap().next(), Some(addr));
            })
            .await
            .expect("a literal address waited for the blocking pool");
        });
    });
}

#[test]
fn names_work_in_bind_connect_and_send_to() {
    bounded(30, || {
        block_on(async {
            let listener = TcpListener::bind("localhost:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            assert!(addr.ip().is_loopback());
            let client = TcpStream::connect(("localhost", addr.port()));
            let (client, accepted) = futures_join(client, listener.accept()).await;
            assert_eq!(client.unwrap().local_addr().unwrap(), accepted.unwrap().1);

            let a = UdpSocket::bind("localhost:0").await.unwrap();
            let a_addr = a.local_addr().unwrap();
            let b = UdpSocket::bind(SocketAddr::new(a_addr.ip(), 0))
                .await
                .unwrap();
            let target = format!("localhost:{}", b.local_addr().unwrap().port());
            // "localhost" may list ::1 first while the sockets bound
            // 127.0.0.1 (no IPv6 here): then the name cannot reach them.
            if a_addr.is_ipv4()
                == lookup_host(&target)
                    .await
                    .unwrap()
                    .next()
                    .unwrap()
                    .is_ipv4()
            {
                a.send_to(b"hi", &target).await.unwrap();
                let mut buf = [0; 2];
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                assert_eq!((&buf[..n], from), (&b"hi"[..], a_addr));
            }
        });
    });
}

#[test]
fn a_dropped_lookup_leaves_the_pool_usable() {
    bounded(30, || {
        let rt = one_pool_thread();
        rt.block_on(async {
            let mut gate = PoolGate::hold();
            {
                let mut lookup = pin!(lookup_host("localhost:1"));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(matches!(lookup.as_mut().poll(&mut cx), Poll::Pending));
            }
            gate.release();
            let addrs = timeout(WATCHDOG, lookup_host("localhost:2")).await.unwrap();
            assert!(addrs.unwrap().all(|a| a.port() == 2));
        });
    });
}

#[test]
fn lookups_from_several_threads() {
    let threads: Vec<_> = (0..4u16)
        .map(|t| {
            std::thread::spawn(move || {
                bounded(30, move || {
                    block_on(async move {
                        for i in 0..5 {
                            let port = 1000 + t * 10 + i;
                            let addrs: Vec<_> =
                                lookup_host(("localhost", port)).await.unwrap().collect();
                            assert!(!addrs.is_empty());
                            assert!(addrs.iter().all(|a| a.port() == port));
                        }
                    })
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Polls both futures until both are done.
async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}
