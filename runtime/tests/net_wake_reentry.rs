//! The driver wakes a socket's waiters after letting go of its waiter list:
//! a waker may run any code, including code that touches that same list.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use spindle_runtime::net::UdpSocket;
use spindle_runtime::{Backend, Builder};

use support::bounded;

type BoxedWait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A waker that, when woken, drops another pending `readable()` of the same
/// socket: that removes the other's entry from the socket's waiter list.
struct DropsTheOther {
    other: Mutex<Option<BoxedWait>>,
    woken: AtomicBool,
}

impl Wake for DropsTheOther {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let other = self.other.lock().unwrap().take();
        drop(other);
        self.woken.store(true, SeqCst);
    }
}

/// The backend `SPINDLE_POLLER` names, or else all of them.
fn backends() -> Vec<Backend> {
    match Backend::from_env().expect("SPINDLE_POLLER names a backend") {
        Some(b) => vec![b],
        None => Backend::ALL.to_vec(),
    }
}

#[test]
fn a_waker_that_drops_a_waiter_of_the_same_socket_does_not_deadlock() {
    for backend in backends() {
        bounded(10, move || {
            let rt = Builder::new().poller(backend).build().unwrap();
            rt.block_on(async {
                let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                let addr = sock.local_addr().unwrap();
                let mut cx = Context::from_waker(Waker::noop());

                // Two waits on the socket, each with its entry in the list.
                let s = sock.clone();
                let mut other: BoxedWait = Box::pin(async move { s.readable().await.unwrap() });
                assert_eq!(other.as_mut().poll(&mut cx), Poll::Pending);
                let dropper = Arc::new(DropsTheOther {
                    other: Mutex::new(Some(other)),
                    woken: AtomicBool::new(false),
                });
                let s = sock.clone();
                let mut first: BoxedWait = Box::pin(async move { s.readable().await.unwrap() });
                let waker = Waker::from(dropper.clone());
                let mut cx = Context::from_waker(&waker);
                assert_eq!(first.as_mut().poll(&mut cx), Poll::Pending);

                // A datagram: the driver wakes every reader, the dropper included.
                let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                peer.send_to(b"x", addr).unwrap();
                sock.readable().await.unwrap();

                assert!(dropper.woken.load(SeqCst), "{backend}: not woken");
                assert!(dropper.other.lock().unwrap().is_none(), "{backend}");
                drop(first);
            });
        });
    }
}
