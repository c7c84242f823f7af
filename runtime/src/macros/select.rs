//! `select!`: wait on several branches, run the handler of the first that
//! finishes (tokio's grammar and semantics). See the module docs of
//! `macros` for the shape of the expansion.

/// Waits on several futures and runs the handler of the first one to
/// finish whose output matches its pattern; the other futures are dropped
/// (cancelled) before the handler runs (tokio's `select!`).
///
/// ```text
/// select! {
///     biased;                                   // optional: poll in order
///     <pattern> = <future> (, if <condition>)? => <handler>,
///     ...
///     else => <expression>                      // optional
/// }
/// ```
///
/// 1. Every `if` condition is evaluated; a branch whose condition is false
///    is disabled. Every future expression is evaluated, disabled or not.
/// 2. The enabled futures are polled, starting from a random branch each
///    time (from the first with `biased;`).
/// 3. When a future finishes, its output is matched against the pattern.
///    On a match the futures are dropped and the handler runs with the
///    pattern's bindings; its value is the value of `select!`. Otherwise
///    that branch is disabled and the others are polled on.
/// 4. If every branch is disabled, the `else` expression is the value;
///    without an `else` branch, `select!` panics.
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::time::{sleep, Duration};
/// let out = spindle_runtime::select! {
///     v = async { 7 } => v,
///     _ = sleep(Duration::from_secs(60)) => 0,
/// };
/// assert_eq!(out, 7);
/// # });
/// ```
///
/// Patterns are matched against a reference to the output first (to know
/// whether the branch wins before anything is dropped), then against the
/// output itself: a pattern with a `mut` binding inside, such as
/// `Some(mut v)`, therefore needs a `Copy` value; bind `Some(v)` and
/// rebind `let mut v = v;` in the handler otherwise.
#[macro_export]
macro_rules! select {
    // ===== All branches normalised: expand. =====
    //
    // `( $($count)* )` holds one `_` per branch; each branch carries
    // `( $($skip)* )`, one `_` per branch before it (its index).
    (@ {
        start=$start:expr;
        ( $($count:tt)* )
        $( ( $($skip:tt)* ) $bind:pat = $fut:expr, if $c:expr => $handle:expr, )+
        ; $else:expr
    }) => {{
        const __SPINDLE_SELECT_BRANCHES: u32 = $crate::__select_count!($($count)*);
        $crate::__select_output_enum!($($count)*);
        // Bit i set: branch i is not to be polled (its condition was false,
        // it finished, or its output did not match its pattern).
        let mut __disabled: u64 = 0;
        $(
            if !$c {
                __disabled |= 1u64 << $crate::__select_count!($($skip)*);
            }
        )+
        let __output = {
            let mut __futures = ( $( $crate::macros::support::pin!(
                $crate::macros::support::IntoFuture::into_future($fut)
            ), )+ );
            $crate::macros::support::poll_fn(|__cx| {
                let __start: u32 = $start;
                let mut __any_pending = false;
                for __i in 0..__SPINDLE_SELECT_BRANCHES {
                    // `__start` and `__i` are below the branch count: wrap
                    // by one subtraction, not a division.
                    let mut __branch = __start + __i;
                    if __branch >= __SPINDLE_SELECT_BRANCHES {
                        __branch -= __SPINDLE_SELECT_BRANCHES;
                    }
                    match __branch {
                        $(
                            $crate::__select_count!($($skip)*) => {
                                let __mask = 1u64 << __branch;
                                if __disabled & __mask != 0 {
                                    continue;
                                }
                                let ( $($skip,)* __fut, .. ) = &mut __futures;
                                let __out = match ::core::future::Future::poll(
                                    __fut.as_mut(),
                                    __cx,
                                ) {
                                    ::core::task::Poll::Ready(__out) => __out,
                                    ::core::task::Poll::Pending => {
                                        __any_pending = true;
                                        continue;
                                    }
                                };
                                // Finished: never poll it again, whatever follows.
                                __disabled |= __mask;
                                #[allow(unused_variables, unused_mut, unreachable_patterns)]
                                match &__out {
                                    $bind => {}
                                    _ => continue,
                                }
                                return ::core::task::Poll::Ready(
                                    $crate::__select_variant!(__SpindleSelectOut, ($($skip)*))(__out)
                                );
                            }
                        )+
                        _ => ::core::unreachable!("select!: branch index out of range"),
                    }
                }
                if __any_pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__SpindleSelectOut::Disabled)
                }
            })
            .await
        };
        // The futures are gone; run the winner's handler.
        #[allow(unreachable_patterns)]
        match __output {
            $(
                $crate::__select_variant!(__SpindleSelectOut, ($($skip)*) ($bind)) => $handle,
            )+
            __SpindleSelectOut::Disabled => $else,
            _ => ::core::unreachable!("select!: a branch matched its pattern by reference only"),
        }
    }};

    // ===== Normalising: one branch at a time. =====
    //
    // Input used up, no `else`: panic when all branches are disabled.
    (@ { start=$start:expr; $($t:tt)* } ) => {
        $crate::select!(@ { start=$start; $($t)*; ::core::panic!("all branches are disabled and there is no else branch") })
    };
    (@ { start=$start:expr; $($t:tt)* } else => $else:expr $(,)? ) => {
        $crate::select!(@ { start=$start; $($t)*; $else })
    };
    // A block handler, with or without a comma after it.
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr, if $c:expr => $h:block, $($r:tt)* ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if $c => $h, } $($r)*)
    };
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr => $h:block, $($r:tt)* ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if true => $h, } $($r)*)
    };
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr, if $c:expr => $h:block $($r:tt)* ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if $c => $h, } $($r)*)
    };
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr => $h:block $($r:tt)* ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if true => $h, } $($r)*)
    };
    // An expression handler: the last one may go without a comma.
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr, if $c:expr => $h:expr ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if $c => $h, })
    };
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr => $h:expr ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if true => $h, })
    };
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr, if $c:expr => $h:expr, $($r:tt)* ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if $c => $h, } $($r)*)
    };
    (@ { start=$start:expr; ( $($s:tt)* ) $($t:tt)* } $p:pat = $f:expr => $h:expr, $($r:tt)* ) => {
        $crate::select!(@ { start=$start; ( $($s)* _ ) $($t)* ( $($s)* ) $p = $f, if true => $h, } $($r)*)
    };

    // ===== Entry points. =====
    (biased; else => $else:expr $(,)? ) => {{
        $else
    }};
    (else => $else:expr $(,)? ) => {{
        $else
    }};
    (biased; $p:pat = $($t:tt)* ) => {
        $crate::select!(@ { start=0; () } $p = $($t)*)
    };
    ( $p:pat = $($t:tt)* ) => {
        // A random first branch each poll, so no branch starves the others.
        $crate::select!(@ {
            start=$crate::macros::support::random_below(__SPINDLE_SELECT_BRANCHES);
            ()
        } $p = $($t)*)
    };
    () => {
        ::core::compile_error!("select! needs at least one branch")
    };
}

/// The number of `_` tokens it is given, as a literal (so it can be a
/// `match` pattern): the index of a `select!` branch from its `skip` list.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_count {
    () => {
        0
    };
    (_) => {
        1
    };
    (_ _) => {
        2
    };
    (_ _ _) => {
        3
    };
    (_ _ _ _) => {
        4
    };
    (_ _ _ _ _) => {
        5
    };
    (_ _ _ _ _ _) => {
        6
    };
    (_ _ _ _ _ _ _) => {
        7
    };
    (_ _ _ _ _ _ _ _) => {
        8
    };
    (_ _ _ _ _ _ _ _ _) => {
        9
    };
    (_ _ _ _ _ _ _ _ _ _) => {
        10
    };
    (_ _ _ _ _ _ _ _ _ _ _) => {
        11
    };
    (_ _ _ _ _ _ _ _ _ _ _ _) => {
        12
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _) => {
        13
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        14
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        15
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        16
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        17
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        18
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        19
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        20
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        21
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        22
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        23
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        24
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        25
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        26
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        27
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        28
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        29
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        30
    };
    (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) => {
        31
    };
}

/// The variant of `select!`'s output enum for a branch (`Out::_2`), or
/// with a parenthesised pattern the pattern of that variant (`Out::_2(p)`).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_variant {
    ($out:ident, ()) => { $out::_0 };
    ($out:ident, () $bind:tt) => { $out::_0 $bind };
    ($out:ident, (_)) => { $out::_1 };
    ($out:ident, (_) $bind:tt) => { $out::_1 $bind };
    ($out:ident, (_ _)) => { $out::_2 };
    ($out:ident, (_ _) $bind:tt) => { $out::_2 $bind };
    ($out:ident, (_ _ _)) => { $out::_3 };
    ($out:ident, (_ _ _) $bind:tt) => { $out::_3 $bind };
    ($out:ident, (_ _ _ _)) => { $out::_4 };
    ($out:ident, (_ _ _ _) $bind:tt) => { $out::_4 $bind };
    ($out:ident, (_ _ _ _ _)) => { $out::_5 };
    ($out:ident, (_ _ _ _ _) $bind:tt) => { $out::_5 $bind };
    ($out:ident, (_ _ _ _ _ _)) => { $out::_6 };
    ($out:ident, (_ _ _ _ _ _) $bind:tt) => { $out::_6 $bind };
    ($out:ident, (_ _ _ _ _ _ _)) => { $out::_7 };
    ($out:ident, (_ _ _ _ _ _ _) $bind:tt) => { $out::_7 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _)) => { $out::_8 };
    ($out:ident, (_ _ _ _ _ _ _ _) $bind:tt) => { $out::_8 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _)) => { $out::_9 };
    ($out:ident, (_ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_9 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _)) => { $out::_10 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_10 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _)) => { $out::_11 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_11 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_12 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_12 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_13 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_13 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_14 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_14 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_15 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_15 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_16 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_16 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_17 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_17 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_18 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_18 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_19 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_19 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_20 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_20 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_21 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_21 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_22 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_22 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_23 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_23 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_24 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_24 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_25 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_25 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_26 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_26 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_27 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_27 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_28 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_28 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_29 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_29 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_30 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_30 $bind };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _)) => { $out::_31 };
    ($out:ident, (_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _) $bind:tt) => { $out::_31 $bind };
}

/// Declares `select!`'s output enum, `__SpindleSelectOut<_0, .., _n>`: one
/// variant per branch holding that branch's output, and `Disabled` for
/// "every branch is disabled". One `_` per branch comes in; as many names
/// are taken from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_output_enum {
    (@ ($($taken:ident)*) (_ $($count:tt)*) ($next:ident $($names:ident)*)) => {
        $crate::__select_output_enum!(@ ($($taken)* $next) ($($count)*) ($($names)*));
    };
    (@ ($($taken:ident)*) (_ $($count:tt)*) ()) => {
        ::core::compile_error!("select! supports at most 32 branches");
    };
    (@ ($($taken:ident)*) () ($($names:ident)*)) => {
        #[allow(non_camel_case_types, dead_code)]
        enum __SpindleSelectOut<$($taken,)*> {
            $($taken($taken),)*
            Disabled,
        }
    };
    ($($count:tt)*) => {
        $crate::__select_output_enum!(@ () ($($count)*) (_0 _1 _2 _3 _4 _5 _6 _7 _8 _9 _10 _11 _12 _13 _14 _15 _16 _17 _18 _19 _20 _21 _22 _23 _24 _25 _26 _27 _28 _29 _30 _31));
    };
}
