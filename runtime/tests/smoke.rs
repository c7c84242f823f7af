//! A first smoke test of the runtime: block_on, spawn, timers and yielding.

use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{block_on, spawn, yield_now, Runtime};
use std::time::{Duration, Instant};

#[test]
fn spawn_join_sleep_timeout_abort_panic() {
    block_on(async {
        let h = spawn(async { 1 + 1 });
        assert_eq!(h.await.unwrap(), 2);
        let t = Instant::now();
        sleep(Duration::from_millis(20)).await;
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(
            timeout(Duration::from_millis(5), sleep(Duration::from_secs(5)))
                .await
                .is_err()
        );
        let h = spawn(async { sleep(Duration::from_secs(100)).await });
        yield_now().await;
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        let h = spawn(async { panic!("boom") });
        let e = h.await.unwrap_err();
        assert!(e.is_panic());
        assert_eq!(e.panic_message(), Some("boom"));
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                spawn(async move {
                    yield_now().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 999 * 1000 / 2);
    });
}

#[test]
fn remote_wake_from_plain_thread() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let v = rt.block_on(async move {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let h = handle.spawn(async { 5 });
            tx.send(h).unwrap();
        });
        loop {
            if let Ok(h) = rx.try_recv() {
                break h.await.unwrap();
            }
            sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(v, 5);
}
