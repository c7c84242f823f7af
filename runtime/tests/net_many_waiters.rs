//! Several tasks waiting on one socket through its `&self` methods are all woken.

use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn, yield_now};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn two_tasks_accepting_on_one_listener_both_get_a_connection() {
    block_on(async {
        timeout(LIMIT, async {
            let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = listener.local_addr().unwrap();
            let acceptors: Vec<_> = (0..2)
                .map(|_| {
                    let l = listener.clone();
                    spawn(async move { l.accept().await.map(|_| ()) })
                })
                .collect();
            // Let both acceptors reach their wait before anyone connects.
            for _ in 0..4 {
                yield_now().await;
            }
            let _c1 = std::net::TcpStream::connect(addr).unwrap();
            let _c2 = std::net::TcpStream::connect(addr).unwrap();
            for a in acceptors {
                a.await.unwrap().unwrap();
            }
        })
        .await
        .expect("an accepting task was never woken");
    });
}

#[test]
fn two_tasks_awaiting_readable_on_one_stream_both_wake() {
    block_on(async {
        timeout(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let server: Arc<TcpStream> = Arc::new(server);
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let s = server.clone();
                    spawn(async move { s.readable().await })
                })
                .collect();
            for _ in 0..4 {
                yield_now().await;
            }
            client.write_all(b"x").unwrap();
            for w in waiters {
                w.await.unwrap().unwrap();
            }
        })
        .await
        .expect("a task awaiting readable() was never woken");
    });
}

#[test]
fn a_cancelled_waiter_leaves_no_entry_behind() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Many accepts that time out (their futures are dropped while waiting)...
        for _ in 0..100 {
            assert!(timeout(Duration::from_millis(0), listener.accept())
                .await
                .is_err());
        }
        // ...then a real one still works.
        let _c = std::net::TcpStream::connect(addr).unwrap();
        timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
    });
}
