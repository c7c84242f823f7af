//! spindle-runtime (work in progress).
pub mod io;
