//! The crate's sources, compiled into a loom test crate.
//!
//! `tests/sync_loom.rs` and `tests/channel_loom.rs` each declare this module
//! and glob-import it at their root. The crate's sources name their parts
//! from the crate root (`crate::loom`, `crate::coop`, `crate::wait_list`,
//! ...), and in a test crate that root is the test's: the glob import puts
//! those names there. Being a `test` build under `--cfg loom`, the sources'
//! `loom.rs` shim hands them loom's types, so loom explores every
//! interleaving of their atomics and locks.
//!
//! At a test's root, `loom` then names the crate's shim module; the loom
//! crate itself is reached as `::loom`.

#[path = "../../src/lib.rs"]
#[allow(missing_docs, clippy::all)]
mod spindle_sync;

pub(crate) use spindle_sync::{channel, coop, loom, park, sync, wait_list, wake_list};
