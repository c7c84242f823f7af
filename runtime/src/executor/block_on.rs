//! The loop: [`Local::block_on`] alternates between polling tasks and
//! turning the reactor, until the future it was given is ready.
//!
//! The shape of the loop, and why `event_interval` and `inject_interval`
//! exist, is drawn in the module docs of `executor`. This file holds the
//! loop itself and the two small types it needs: the waker of the main
//! future ([`MainWaker`], which sets a flag in `Shared` instead of
//! queueing a task) and the guard that lifts the cooperative budget when
//! `block_on` returns.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::coop;

use super::{context, Local, Shared};

/// Lifts the cooperative budget when `block_on` returns (or unwinds), so
/// code running on this thread afterwards is not throttled.
struct UnconstrainOnExit;

impl Drop for UnconstrainOnExit {
    fn drop(&mut self) {
        coop::unconstrain();
    }
}

/// The main future's waker.
struct MainWaker(Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.0.wake_main();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake_main();
    }
}

impl Local {
    /// Runs `future` to completion on this thread, driving every task meanwhile.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_inside() {
            panic!(
                "cannot call block_on inside a spindle runtime: \
                 the outer runtime would stop while it blocks; use .await instead"
            );
        }
        let _enter = context::enter(self);
        let _budget = UnconstrainOnExit;
        let waker = Waker::from(Arc::new(MainWaker(self.shared.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let shared = &*self.shared;
        shared.main_woken.store(true, SeqCst);
        let event_interval = self.config.event_interval;
        let mut since_turn = 0;
        let mut tick: u32 = 0;
        loop {
            if shared.main_woken.swap(false, SeqCst) {
                coop::reset();
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
                since_turn += 1;
            }
            while since_turn < event_interval {
                tick = tick.wrapping_add(1);
                let Some(task) = self.next_task(tick) else {
                    break;
                };
                self.run(task);
                since_turn += 1;
            }
            let idle = !shared.main_woken.load(SeqCst)
                && self.run_queue.borrow().is_empty()
                && shared.inject.is_empty();
            if idle {
                self.turn(true);
                since_turn = 0;
            } else if since_turn >= event_interval {
                self.turn(false);
                since_turn = 0;
            }
        }
    }
}
