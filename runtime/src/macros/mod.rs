//! `join!`, `try_join!` and `select!`: waiting on several futures at once
//! inside one task, with `macro_rules!` only (no procedural macro).
//!
//! All three work the same way underneath. The futures are put in a tuple
//! pinned on the stack of the awaiting task (`core::pin::pin!`, so nothing
//! is allocated), and a `poll_fn` polls each of them in place every time the
//! task is woken. A future's place in the tuple is named by a list of `_`
//! tokens, one per future before it: `let (_, _, fut, ..) = &mut futures;`
//! reaches the third one. That is how a `macro_rules!` macro, which cannot
//! count, still gives every future (and every `select!` branch) a position.
//!
//! * `join!` wraps each future in [`MaybeDone`](support::MaybeDone), which
//!   keeps an output until all are done, and returns the tuple of outputs.
//! * `try_join!` does the same but returns the first `Err` at once,
//!   dropping (cancelling) the other futures.
//! * `select!` polls its branches, starting at a random one unless
//!   `biased;` is given. The first whose output matches its pattern wins:
//!   the poll returns that output in a variant of a small enum declared by
//!   the expansion (one variant per branch), the futures are dropped, and
//!   only then is the winning handler run, so a handler may use whatever
//!   the futures borrowed (and may `return`, `break` or use `?`, since it
//!   runs in the caller's code, not in a closure). A branch whose output
//!   does not match its pattern is disabled and the others keep going.
//!
//! The macros are exported at the crate root (`spindle::select!`); this
//! module holds their documentation and the items they expand to
//! (`support`, hidden: not a public API).

mod join;
mod select;
#[doc(hidden)]
pub mod support;
