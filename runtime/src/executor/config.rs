//! [`Config`]: the executor's tunables, as the [`Builder`](crate::Builder)
//! sets them.
//!
//! Nothing here is read on a hot path more than once per runtime: the
//! loop copies `event_interval` into a local, and the backend is chosen
//! once, when the runtime is built (see `driver/backend.rs`).

use spindle_reactor::Backend;

use crate::blocking::PoolConfig;

/// Tunables, set through [`Builder`](crate::Builder).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Task polls between two looks at the reactor while tasks are always
    /// ready (see "The loop" in the module docs of `executor`).
    pub(crate) event_interval: u32,
    /// The blocking pool's limits.
    pub(crate) blocking: PoolConfig,
    /// Every this many polls the injection queue is served first.
    pub(crate) inject_interval: u32,
    /// How many readiness events one wait may return.
    pub(crate) events_capacity: usize,
    /// The readiness backend asked for in the builder, if any.
    pub(crate) poller: Option<Backend>,
    /// Start with the test clock paused (`time::pause`).
    pub(crate) start_paused: bool,
    /// `Some(n)`: a multi-threaded runtime with `n` workers (`None` in it:
    /// one per CPU the process may run on). `None`: current-thread.
    pub(crate) multi_thread: Option<Option<usize>>,
    /// The builder chose the flavor (so `SPINDLE_FLAVOR` does not).
    pub(crate) flavor_chosen: bool,
}

impl Config {
    /// How the runtime starts its threads (workers, stand-ins, blocking
    /// pool). It is kept in the pool's config, the one part configured by a
    /// sub-config of its own that starts threads itself.
    pub(crate) fn threads(&self) -> &crate::executor::ThreadConfig {
        &self.blocking.threads
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            event_interval: 61,
            blocking: PoolConfig::default(),
            inject_interval: 31,
            events_capacity: 1024,
            poller: None,
            start_paused: false,
            multi_thread: None,
            flavor_chosen: false,
        }
    }
}
