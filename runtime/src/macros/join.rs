//! `join!` and `try_join!`. See the module docs of `macros` for how the
//! futures are stored and reached.

/// Waits on several futures at once, in the current task, and returns all
/// their outputs as a tuple (tokio's `join!`).
///
/// The futures run concurrently, not in parallel: they are polled in place
/// by the task that awaits `join!`. Use [`spawn`](crate::spawn) to run
/// things on their own.
///
/// ```
/// # spindle_runtime::block_on(async {
/// let (a, b) = spindle_runtime::join!(async { 1 }, async { "two" });
/// assert_eq!((a, b), (1, "two"));
/// # });
/// ```
#[macro_export]
macro_rules! join {
    // Every future is collected, each with one `_` per future before it.
    (@ { $( ( $($skip:tt)* ) $e:expr, )* } ( $($s:tt)* ) ) => {{
        let mut __futures = ( $( $crate::macros::support::pin!(
            $crate::macros::support::MaybeDone::new($e)
        ), )* );
        $crate::macros::support::poll_fn(|__cx| {
            let mut __all_done = true;
            $(
                let ( $($skip,)* __fut, .. ) = &mut __futures;
                __all_done &= __fut.as_mut().poll_done(__cx);
            )*
            if !__all_done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(( $( {
                let ( $($skip,)* __fut, .. ) = &mut __futures;
                __fut.as_mut().take_output()
            }, )* ))
        })
        .await
    }};
    // Take the next future.
    (@ { $($done:tt)* } ( $($s:tt)* ) $e:expr, $($rest:tt)* ) => {
        $crate::join!(@ { $($done)* ( $($s)* ) $e, } ( $($s)* _ ) $($rest)*)
    };
    () => {
        async {}.await
    };
    ( $($e:expr),+ $(,)? ) => {
        $crate::join!(@ {} () $($e,)+)
    };
}

/// Waits on several futures that return `Result`s: `Ok` of the tuple of
/// values once all succeed, or the first `Err` as soon as one fails, the
/// others then being dropped (cancelled) (tokio's `try_join!`). All the
/// errors have the same type.
///
/// ```
/// # spindle_runtime::block_on(async {
/// let r: Result<(u8, u8), &str> =
///     spindle_runtime::try_join!(async { Ok(1) }, async { Err("no") });
/// assert_eq!(r, Err("no"));
/// # });
/// ```
#[macro_export]
macro_rules! try_join {
    (@ { $( ( $($skip:tt)* ) $e:expr, )* } ( $($s:tt)* ) ) => {{
        let mut __futures = ( $( $crate::macros::support::pin!(
            $crate::macros::support::MaybeDone::new($e)
        ), )* );
        $crate::macros::support::poll_fn(|__cx| {
            let mut __all_done = true;
            $(
                let ( $($skip,)* __fut, .. ) = &mut __futures;
                if __fut.as_mut().poll_done(__cx) {
                    if let ::core::option::Option::Some(__e) = __fut.as_mut().take_err() {
                        return ::core::task::Poll::Ready(::core::result::Result::Err(__e));
                    }
                } else {
                    __all_done = false;
                }
            )*
            if !__all_done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(::core::result::Result::Ok(( $( {
                let ( $($skip,)* __fut, .. ) = &mut __futures;
                __fut.as_mut().take_ok()
            }, )* )))
        })
        .await
    }};
    (@ { $($done:tt)* } ( $($s:tt)* ) $e:expr, $($rest:tt)* ) => {
        $crate::try_join!(@ { $($done)* ( $($s)* ) $e, } ( $($s)* _ ) $($rest)*)
    };
    () => {
        async { ::core::result::Result::Ok(()) }.await
    };
    ( $($e:expr),+ $(,)? ) => {
        $crate::try_join!(@ {} () $($e,)+)
    };
}
