//! [`ThreadConfig`]: how the runtime starts its threads (workers, their
//! `block_in_place` stand-ins, blocking-pool threads), as the
//! [`Builder`](crate::Builder) sets it: their name, stack size, and hooks
//! that run on each thread as it starts and before it ends.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A hook run on a runtime thread.
type Hook = Arc<dyn Fn() + Send + Sync>;

/// Names, stack size and start/stop hooks of the runtime's threads.
#[derive(Clone, Default)]
pub(crate) struct ThreadConfig {
    /// Replaces the `spindle` of `spindle-worker-N`, `spindle-blocking`.
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<Hook>,
    pub(crate) on_stop: Option<Hook>,
}

impl fmt::Debug for ThreadConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadConfig")
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("on_start", &self.on_start.is_some())
            .field("on_stop", &self.on_stop.is_some())
            .finish()
    }
}

impl ThreadConfig {
    /// Starts a runtime thread named `<name>-<role>` (`spindle-<role>`
    /// without a name set) that runs the start hook, `body`, then the stop
    /// hook (also if `body` panics).
    pub(crate) fn spawn<T, F>(&self, role: &str, body: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let prefix = self.name.as_deref().unwrap_or("spindle");
        let mut builder = std::thread::Builder::new().name(format!("{prefix}-{role}"));
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        let (on_start, on_stop) = (self.on_start.clone(), self.on_stop.clone());
        builder.spawn(move || {
            /// Runs the stop hook as the thread's body ends, however it ends.
            struct Stop(Option<Hook>);
            impl Drop for Stop {
                fn drop(&mut self) {
                    if let Some(hook) = self.0.take() {
                        hook();
                    }
                }
            }
            let _stop = Stop(on_stop);
            if let Some(hook) = on_start {
                hook();
            }
            body()
        })
    }
}
