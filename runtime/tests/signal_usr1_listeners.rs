//! Two listeners of SIGUSR1 both see one `raise(SIGUSR1)`; deliveries
//! nobody has received yet are merged into one.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use spindle_runtime::block_on;
use spindle_runtime::signal::Signal;
use spindle_runtime::time::timeout;

fn raise(signum: i32) {
    // SAFETY: raise only sends a signal; spindle's handler is installed.
    assert_eq!(unsafe { libc::raise(signum) }, 0);
}

#[test]
fn every_listener_sees_each_delivery() {
    block_on(async {
        timeout(Duration::from_secs(10), async {
            let mut first = Signal::new(libc::SIGUSR1).unwrap();
            let mut second = Signal::new(libc::SIGUSR1).unwrap();
            raise(libc::SIGUSR1);
            assert_eq!(first.recv().await, Some(()));
            assert_eq!(second.recv().await, Some(()));

            // Twice before anyone looks: one merged delivery per listener.
            raise(libc::SIGUSR1);
            raise(libc::SIGUSR1);
            assert_eq!(first.recv().await, Some(()));
            assert_eq!(second.recv().await, Some(()));
            let more = poll_fn(|cx| Poll::Ready(first.poll_recv(cx).is_ready())).await;
            assert!(!more, "two merged deliveries were reported twice");

            // A listener created after a delivery does not see it.
            raise(libc::SIGUSR1);
            assert_eq!(first.recv().await, Some(()));
            let mut late = Signal::new(libc::SIGUSR1).unwrap();
            let seen = poll_fn(|cx| Poll::Ready(late.poll_recv(cx).is_ready())).await;
            assert!(!seen, "a new listener saw an older delivery");
            raise(libc::SIGUSR1);
            assert_eq!(late.recv().await, Some(()));
        })
        .await
        .expect("a listener never saw SIGUSR1");
    });
}
