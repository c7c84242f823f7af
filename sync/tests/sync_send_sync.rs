//! Static checks: every primitive is `Send + Sync` (the lock types when
//! their contents allow), every guard and waiting future is `Send` where it
//! should be, and a guard over a `Send + !Sync` value is not `Sync`.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;

use spindle_sync::sync::*;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}
fn send_future<F: Future + Send>(_: &F) {}

/// Compiles only if `T` is NOT `Sync`: with `T: Sync` both impls apply and
/// the `_` in `not_sync` is ambiguous (the trick of `static_assertions`).
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
struct IsSync;
impl<T: ?Sized + Sync> AmbiguousIfSync<IsSync> for T {}

#[test]
fn primitives_are_send_and_sync() {
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<Cell<u8>>>(); // Send contents suffice for a mutex
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Flag>();
    send_sync::<Notify>();
    send_sync::<Condvar>();
    send_sync::<Barrier>();
    send_sync::<MutexGuard<'static, Vec<u8>>>();
    send_sync::<OwnedMutexGuard<Vec<u8>>>();
    send_sync::<RwLockReadGuard<'static, Vec<u8>>>();
    send_sync::<RwLockWriteGuard<'static, Vec<u8>>>();
    send_sync::<SemaphorePermit<'static>>();
    send_sync::<OwnedSemaphorePermit>();
    send_sync::<Notified<'static>>();
    send::<MutexGuard<'static, Cell<u8>>>();
    send_sync::<AcquireError>();
    send_sync::<TryAcquireError>();
    send_sync::<TryLockError>();
    send_sync::<ReleaseError>();
    send_sync::<BarrierWaitResult>();
}

#[test]
fn guards_over_non_sync_data_are_not_sync() {
    <MutexGuard<'static, Cell<u8>> as AmbiguousIfSync<_>>::check();
    <OwnedMutexGuard<Cell<u8>> as AmbiguousIfSync<_>>::check();
}

#[test]
fn waiting_futures_are_send() {
    let m = Arc::new(Mutex::new(0));
    let rw = RwLock::new(0);
    let sem = Arc::new(Semaphore::new(1));
    let bsem = Arc::new(BoundedSemaphore::new(1));
    let (e, n, cv, b) = (Flag::new(), Notify::new(), Condvar::new(), Barrier::new(1));
    send_future(&m.lock());
    send_future(&m.clone().lock_owned());
    send_future(&rw.read());
    send_future(&rw.write());
    send_future(&sem.acquire());
    send_future(&sem.acquire_many(2));
    send_future(&sem.clone().acquire_owned());
    send_future(&bsem.acquire());
    send_future(&bsem.clone().acquire_owned());
    send_future(&e.wait());
    send_future(&n.notified());
    send_future(&b.wait());
    let g = m.try_lock().unwrap();
    send_future(&cv.wait(g));
    send_future(&async {
        let g = m.lock().await;
        let _g = cv.wait_while(g, |v| *v > 0).await;
    });
}

#[test]
fn new_types_and_their_futures_are_send() {
    use spindle_sync::channel::{broadcast, watch};
    use spindle_sync::sync::{CancellationToken, OnceCell};
    send_sync::<broadcast::Sender<u8>>();
    send_sync::<broadcast::Receiver<u8>>();
    send_sync::<watch::Sender<u8>>();
    send_sync::<watch::Receiver<u8>>();
    send_sync::<CancellationToken>();
    send_sync::<OnceCell<u8>>();
    let (btx, mut brx) = broadcast::channel::<u8>(1);
    send_future(&brx.recv());
    let (wtx, mut wrx) = watch::channel(0u8);
    send_future(&wrx.changed());
    send_future(&wrx.wait_for(|v| *v > 0));
    send_future(&wtx.closed());
    let token = CancellationToken::new();
    send_future(&token.cancelled());
    send_future(&token.clone().cancelled_owned());
    let cell = OnceCell::<u8>::new();
    send_future(&cell.get_or_init(|| async { 1 }));
    drop(btx);
}
