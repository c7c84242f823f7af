//! `#[spindle::main]` and `#[spindle::test]`: run an `async fn` on a
//! spindle runtime.
//!
//! ```ignore
//! #[spindle::main]
//! async fn main() -> std::io::Result<()> { ... }
//!
//! #[spindle::test(start_paused = true)]
//! async fn an_hour_long_timeout() { ... }
//! ```
//!
//! # How it works
//!
//! The attribute rewrites the function into a plain one whose body builds
//! a runtime and blocks on the original body:
//!
//! ```ignore
//! #[::core::prelude::v1::test]          // #[spindle::test] only
//! fn an_hour_long_timeout() {
//!     let body = async { ... };
//!     ::spindle::Builder::new()
//!         .start_paused(true)               // one call per option given
//!         .build()
//!         .expect("...")
//!         .block_on(body)
//! }
//! ```
//!
//! The crate depends on nothing but `proc_macro`, so it parses by hand:
//! the function is a flat list of token trees (attributes, visibility,
//! `async`, `fn`, name, parameters, return type, body in braces), and the
//! rewrite drops `async` and swaps the last tree, the body. The options
//! are `key = value` pairs separated by commas. A mistake becomes a
//! `compile_error!` carrying the span of the offending token, so the
//! compiler points at it; the function is still emitted (with its body
//! replaced) so that no second, confusing error follows.
//!
//! # Options
//!
//! | option | meaning |
//! |---|---|
//! | `flavor = "current_thread"` | [`Builder::current_thread`]: one thread runs every task (the default) |
//! | `flavor = "multi_thread"` | [`Builder::multi_thread`]: worker threads that steal work |
//! | `worker_threads = 4` | [`Builder::worker_threads`] (implies `flavor = "multi_thread"`) |
//! | `backend = "epoll"` | also `"poll"`, `"select"`, `"io_uring"`: [`Builder::poller`] |
//! | `event_interval = 31` | [`Builder::event_interval`] |
//! | `start_paused = true` | [`Builder::start_paused`]: the test clock, paused |
//! | `crate = "spindle_runtime"` | the path the expansion names the runtime by (default `spindle`) |
//!
//! [`Builder::current_thread`]: https://docs.rs/spindle-runtime/latest/spindle_runtime/struct.Builder.html#method.current_thread
//! [`Builder::multi_thread`]: https://docs.rs/spindle-runtime/latest/spindle_runtime/struct.Builder.html#method.multi_thread
//! [`Builder::worker_threads`]: https://docs.rs/spindle-runtime/latest/spindle_runtime/struct.Builder.html#method.worker_threads
//! [`Builder::poller`]: https://docs.rs/spindle-runtime/latest/spindle_runtime/struct.Builder.html#method.poller
//! [`Builder::event_interval`]: https://docs.rs/spindle-runtime/latest/spindle_runtime/struct.Builder.html#method.event_interval
//! [`Builder::start_paused`]: https://docs.rs/spindle-runtime/latest/spindle_runtime/struct.Builder.html#method.start_paused

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs `async fn main` on a spindle runtime.
///
/// ```ignore
/// #[spindle::main]
/// async fn main() {
///     spindle::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// Options (`#[spindle::main(flavor = "multi_thread", worker_threads = 4)]`,
/// `#[spindle::main(backend = "poll", event_interval = 31)]`):
/// `flavor = "current_thread"` (the default) or `"multi_thread"`;
/// `worker_threads = N` (implies `"multi_thread"`); `backend = "epoll"`,
/// `"poll"`, `"select"` or `"io_uring"`; `event_interval = N`;
/// `start_paused = true` (current-thread only: the test clock); `crate =
/// "path"` (the path the expansion names the runtime by, default
/// `spindle`). Each sets the matching `spindle::Builder` method
/// (`backend` is `poller`); the `spindle-macros` crate docs have the
/// table.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Main)
}

/// Runs an `async fn` test on its own spindle runtime.
///
/// ```ignore
/// #[spindle::test(start_paused = true)]
/// async fn times_out() {
///     let slow = spindle::time::sleep(std::time::Duration::from_secs(3600));
///     assert!(spindle::time::timeout(std::time::Duration::from_secs(1), slow).await.is_err());
/// }
/// ```
///
/// Options as for [`main`](macro@main).
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Test)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "#[spindle::main]",
            Kind::Test => "#[spindle::test]",
        }
    }
}

/// A compile error at a span.
struct Error {
    span: Span,
    message: String,
}

fn error(span: Span, message: impl Into<String>) -> Error {
    Error {
        span,
        message: message.into(),
    }
}

impl Error {
    /// `::core::compile_error!("message");` with every token at the span.
    fn to_tokens(&self) -> TokenStream {
        let mut msg = Literal::string(&self.message);
        msg.set_span(self.span);
        let mut tokens = path(&["core", "compile_error"], self.span);
        tokens.push(punct('!', self.span));
        tokens.push(group(
            Delimiter::Parenthesis,
            vec![TokenTree::Literal(msg)],
            self.span,
        ));
        tokens.push(punct(';', self.span));
        tokens.into_iter().collect()
    }
}

/// The runtime options, as parsed from the attribute's arguments.
struct Options {
    krate: Option<(String, Span)>,
    /// `(Builder method, argument tokens)` in the order given.
    calls: Vec<(&'static str, Vec<TokenTree>)>,
}

fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let item: Vec<TokenTree> = item.into_iter().collect();
    let result = parse_options(args, kind).and_then(|options| rewrite(&item, &options, kind));
    match result {
        Ok(tokens) => tokens,
        Err(e) => {
            let mut out = e.to_tokens();
            out.extend(fallback(&item, kind));
            out
        }
    }
}

fn parse_options(args: TokenStream, kind: Kind) -> Result<Options, Error> {
    let mut options = Options {
        krate: None,
        calls: Vec::new(),
    };
    let mut tokens = args.into_iter().peekable();
    while let Some(tree) = tokens.next() {
        let key = match &tree {
            TokenTree::Ident(ident) => ident.to_string(),
            other => {
                return Err(error(
                    other.span(),
                    format!(
                        "{}: expected an option name, such as `backend`",
                        kind.name()
                    ),
                ))
            }
        };
        let key_span = tree.span();
        match tokens.next() {
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
            Some(other) => {
                return Err(error(
                    other.span(),
                    format!("expected `=` after `{key}`, as in `{key} = ...`"),
                ))
            }
            None => return Err(error(key_span, format!("expected `= value` after `{key}`"))),
        }
        let value = match tokens.next() {
            Some(TokenTree::Literal(l)) => Value::Literal(l),
            Some(TokenTree::Ident(i)) => Value::Ident(i),
            Some(other) => {
                return Err(error(
                    other.span(),
                    format!("`{key}` takes a literal value"),
                ))
            }
            None => return Err(error(key_span, format!("`{key} =` is missing its value"))),
        };
        match tokens.next() {
            None => {}
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(other) => return Err(error(other.span(), "expected `,` between options")),
        }
        let span = value.span();
        apply_option(&mut options, &key, key_span, value)?;
        check_combination(&options, span)?;
    }
    Ok(options)
}

/// Options that contradict each other, reported at the later one.
fn check_combination(options: &Options, span: Span) -> Result<(), Error> {
    let given = |m: &str| options.calls.iter().any(|(method, _)| *method == m);
    if given("current_thread") && given("worker_threads") {
        return Err(error(
            span,
            "`worker_threads` needs flavor = \"multi_thread\": a current-thread runtime has no \
             workers",
        ));
    }
    if given("current_thread") && given("multi_thread") {
        return Err(error(span, "`flavor` is given twice"));
    }
    if given("start_paused") && (given("multi_thread") || given("worker_threads")) {
        return Err(error(
            span,
            "`start_paused` needs a current-thread runtime: the test clock drives one loop, \
             not a pool of workers",
        ));
    }
    Ok(())
}

enum Value {
    Literal(Literal),
    Ident(Ident),
}

impl Value {
    fn span(&self) -> Span {
        match self {
            Value::Literal(l) => l.span(),
            Value::Ident(i) => i.span(),
        }
    }

    /// The contents of a string literal (plain `"..."` only: no escapes
    /// are needed for any value these options take).
    fn string(&self, key: &str) -> Result<String, Error> {
        let text = match self {
            Value::Literal(l) => l.to_string(),
            Value::Ident(i) => i.to_string(),
        };
        match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(s) if !s.contains('\\') => Ok(s.to_string()),
            _ => Err(error(
                self.span(),
                format!("`{key}` takes a string, as in `{key} = \"...\"`"),
            )),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, Error> {
        match self {
            Value::Ident(i) if i.to_string() == "true" => Ok(true),
            Value::Ident(i) if i.to_string() == "false" => Ok(false),
            _ => Err(error(
                self.span(),
                format!("`{key}` takes `true` or `false`"),
            )),
        }
    }

    fn integer(&self, key: &str) -> Result<u32, Error> {
        let text = match self {
            Value::Literal(l) => l.to_string(),
            Value::Ident(i) => i.to_string(),
        };
        let digits: String = text
            .strip_suffix("u32")
            .unwrap_or(&text)
            .chars()
            .filter(|&c| c != '_')
            .collect();
        match digits.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(error(
                self.span(),
                format!("`{key}` takes a whole number from 1 to {}", u32::MAX),
            )),
        }
    }
}

fn apply_option(
    options: &mut Options,
    key: &str,
    key_span: Span,
    value: Value,
) -> Result<(), Error> {
    let span = value.span();
    match key {
        "flavor" => match value.string(key)?.as_str() {
            "current_thread" => options.calls.push(("current_thread", vec![])),
            "multi_thread" => options.calls.push(("multi_thread", vec![])),
            other => {
                return Err(error(
                    span,
                    format!(
                        "unknown flavor \"{other}\": expected \"current_thread\" or \
                         \"multi_thread\""
                    ),
                ))
            }
        },
        "worker_threads" => {
            let n = value.integer(key)?;
            let mut lit = Literal::usize_suffixed(n as usize);
            lit.set_span(span);
            options
                .calls
                .push(("worker_threads", vec![TokenTree::Literal(lit)]));
        }
        "backend" => {
            let variant = match value.string(key)?.as_str() {
                "epoll" => "Epoll",
                "poll" => "Poll",
                "select" => "Select",
                "io_uring" => "IoUring",
                other => {
                    return Err(error(
                        span,
                        format!(
                            "unknown backend \"{other}\": expected \"epoll\", \"poll\", \
                             \"select\" or \"io_uring\""
                        ),
                    ))
                }
            };
            // Filled in with the crate path once it is known.
            options
                .calls
                .push(("poller", vec![TokenTree::Ident(Ident::new(variant, span))]));
        }
        "event_interval" => {
            let n = value.integer(key)?;
            let mut lit = Literal::u32_suffixed(n);
            lit.set_span(span);
            options
                .calls
                .push(("event_interval", vec![TokenTree::Literal(lit)]));
        }
        "start_paused" => {
            let paused = value.boolean(key)?;
            options.calls.push((
                "start_paused",
                vec![TokenTree::Ident(Ident::new(
                    if paused { "true" } else { "false" },
                    span,
                ))],
            ));
        }
        "crate" => {
            let path = value.string(key)?;
            let valid = !path.is_empty()
                && path.split("::").all(|seg| {
                    let mut chars = seg.chars();
                    chars
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid {
                return Err(error(
                    span,
                    format!("`crate = \"{path}\"` is not a path, such as \"spindle_runtime\""),
                ));
            }
            options.krate = Some((path, span));
        }
        other => {
            return Err(error(
                key_span,
                format!(
                    "unknown option `{other}`: expected `flavor`, `worker_threads`, `backend`, \
                     `event_interval`, `start_paused` or `crate`"
                ),
            ))
        }
    }
    Ok(())
}

/// The parts of the function the rewrite needs.
struct Function<'a> {
    /// Everything before the body, `async` left out.
    signature: Vec<TokenTree>,
    body: &'a Group,
}

fn split_function(item: &[TokenTree], kind: Kind) -> Result<Function<'_>, Error> {
    let whole = item.first().map_or_else(Span::call_site, |t| t.span());
    let Some((TokenTree::Group(body), head)) = item.split_last() else {
        return Err(error(whole, format!("{} goes on a function", kind.name())));
    };
    if body.delimiter() != Delimiter::Brace {
        return Err(error(
            body.span(),
            format!("{} goes on a function with a body", kind.name()),
        ));
    }
    let mut signature = Vec::with_capacity(head.len());
    let mut is_async = false;
    let mut after_fn = None;
    for (i, tree) in head.iter().enumerate() {
        match tree {
            TokenTree::Ident(ident) if after_fn.is_none() && ident.to_string() == "async" => {
                is_async = true;
                continue;
            }
            TokenTree::Ident(ident) if after_fn.is_none() && ident.to_string() == "fn" => {
                after_fn = Some(i);
            }
            _ => {}
        }
        signature.push(tree.clone());
    }
    let Some(fn_at) = after_fn else {
        return Err(error(whole, format!("{} goes on a function", kind.name())));
    };
    let fn_span = head[fn_at].span();
    if !is_async {
        return Err(error(
            fn_span,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    // After the name comes the parameter list (or generics, which a
    // function run by a runtime cannot have).
    match head.get(fn_at + 2) {
        Some(TokenTree::Group(params)) if params.delimiter() == Delimiter::Parenthesis => {
            if kind == Kind::Test && !params.stream().is_empty() {
                return Err(error(
                    params.span(),
                    "a test function cannot take arguments",
                ));
            }
            if kind == Kind::Main && !params.stream().is_empty() {
                return Err(error(params.span(), "`main` cannot take arguments"));
            }
        }
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err(error(
                p.span(),
                format!("a function under {} cannot be generic", kind.name()),
            ));
        }
        _ => {
            return Err(error(
                fn_span,
                format!("{} goes on a function", kind.name()),
            ))
        }
    }
    Ok(Function { signature, body })
}

fn rewrite(item: &[TokenTree], options: &Options, kind: Kind) -> Result<TokenStream, Error> {
    let function = split_function(item, kind)?;
    let span = function.body.span();
    let krate: Vec<TokenTree> = match &options.krate {
        Some((path, span)) => {
            let segments: Vec<&str> = path.split("::").collect();
            crate_path(&segments, *span)
        }
        None => crate_path(&["spindle"], Span::call_site()),
    };

    // let body = async { ... };
    let mut block = vec![
        ident("let", span),
        ident("body", span),
        punct('=', span),
        ident("async", span),
        TokenTree::Group(function.body.clone()),
        punct(';', span),
    ];
    // <crate>::Builder::new()
    block.extend(krate.iter().cloned());
    block.extend(sep(span));
    block.push(ident("Builder", span));
    block.extend(sep(span));
    block.push(ident("new", span));
    block.push(group(Delimiter::Parenthesis, vec![], span));
    for (method, arg) in &options.calls {
        let mut arg = arg.clone();
        if *method == "poller" {
            // backend = "poll" -> <crate>::Backend::Poll
            let mut full = krate.clone();
            full.extend(sep(span));
            full.push(ident("Backend", span));
            full.extend(sep(span));
            full.extend(arg);
            arg = full;
        }
        block.push(punct('.', span));
        block.push(ident(method, span));
        block.push(group(Delimiter::Parenthesis, arg, span));
    }
    // .build().expect("...").block_on(body)
    block.push(punct('.', span));
    block.push(ident("build", span));
    block.push(group(Delimiter::Parenthesis, vec![], span));
    block.push(punct('.', span));
    block.push(ident("expect", span));
    block.push(group(
        Delimiter::Parenthesis,
        vec![TokenTree::Literal(Literal::string(
            "failed to build the spindle runtime",
        ))],
        span,
    ));
    block.push(punct('.', span));
    block.push(ident("block_on", span));
    block.push(group(
        Delimiter::Parenthesis,
        vec![ident("body", span)],
        span,
    ));

    let mut out = Vec::new();
    if kind == Kind::Test {
        out.extend(test_attribute(span));
    }
    out.extend(function.signature);
    out.push(group(Delimiter::Brace, block, span));
    Ok(out.into_iter().collect())
}

/// What goes out beside a compile error: the function without `async` and
/// with a body that type-checks whatever it returns, so the error stands
/// alone (no "main function not found", no "async main" error).
fn fallback(item: &[TokenTree], kind: Kind) -> TokenStream {
    let Some((TokenTree::Group(body), head)) = item.split_last() else {
        return item.iter().cloned().collect();
    };
    let span = body.span();
    let mut out = Vec::new();
    if kind == Kind::Test {
        out.extend(test_attribute(span));
    }
    out.extend(
        head.iter()
            .filter(|t| !matches!(t, TokenTree::Ident(i) if i.to_string() == "async"))
            .cloned(),
    );
    let mut unreachable = path(&["core", "unreachable"], span);
    unreachable.push(punct('!', span));
    unreachable.push(group(Delimiter::Parenthesis, vec![], span));
    out.push(group(Delimiter::Brace, unreachable, span));
    out.into_iter().collect()
}

/// `#[::core::prelude::v1::test]`
fn test_attribute(span: Span) -> Vec<TokenTree> {
    vec![
        punct('#', span),
        group(
            Delimiter::Bracket,
            path(&["core", "prelude", "v1", "test"], span),
            span,
        ),
    ]
}

/// `::a::b::c`
fn path(segments: &[&str], span: Span) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for segment in segments {
        out.extend(sep(span));
        out.push(ident(segment, span));
    }
    out
}

/// The crate path: absolute (`::spindle`), or as written if it starts with
/// `crate`, `self` or `super` (a re-export inside the user's own crate).
fn crate_path(segments: &[&str], span: Span) -> Vec<TokenTree> {
    if matches!(segments.first(), Some(&("crate" | "self" | "super"))) {
        let mut out = vec![ident(segments[0], span)];
        out.extend(path(&segments[1..], span));
        out
    } else {
        path(segments, span)
    }
}

/// `::`
fn sep(span: Span) -> [TokenTree; 2] {
    let mut first = Punct::new(':', Spacing::Joint);
    first.set_span(span);
    [TokenTree::Punct(first), punct(':', span)]
}

fn punct(c: char, span: Span) -> TokenTree {
    let mut p = Punct::new(c, Spacing::Alone);
    p.set_span(span);
    TokenTree::Punct(p)
}

fn ident(name: &str, span: Span) -> TokenTree {
    TokenTree::Ident(Ident::new(name, span))
}

fn group(delimiter: Delimiter, tokens: Vec<TokenTree>, span: Span) -> TokenTree {
    let mut g = Group::new(delimiter, tokens.into_iter().collect());
    g.set_span(span);
    TokenTree::Group(g)
}
