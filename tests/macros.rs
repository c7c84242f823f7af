//! Tests of `#[spindle::main]` and `#[spindle::test]` (the `spindle-macros`
//! crate): every option reaches the runtime, the body's value and `?` come
//! through, and `crate = "..."` names the runtime by another path. The
//! compile errors are checked by the `compile_fail` doctests in
//! macros/compile_errors.md.

use std::time::Duration;

use spindle::time::{sleep, timeout, Instant};
use spindle::{Backend, Handle};

/// The plainest test: it runs inside a runtime.
#[spindle::test]
async fn runs_inside_a_runtime() {
    assert!(Handle::try_current().is_some());
    let answer = spindle::spawn(async { 6 * 7 }).await.unwrap();
    assert_eq!(answer, 42);
}

#[spindle::test(start_paused = true)]
async fn start_paused_gives_the_test_clock() {
    let start = Instant::now();
    assert!(
        timeout(Duration::from_secs(3600), sleep(Duration::from_secs(7200)))
            .await
            .is_err()
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}

#[spindle::test(start_paused = false)]
async fn start_paused_false_leaves_the_clock_running() {
    let real = std::time::Instant::now();
    sleep(Duration::from_millis(2)).await;
    assert!(real.elapsed() >= Duration::from_millis(2));
}

#[spindle::test(backend = "poll")]
async fn backend_option_chooses_the_poller() {
    assert_eq!(Handle::current().backend(), Backend::Poll);
}

#[spindle::test(backend = "select", flavor = "current_thread", event_interval = 7)]
async fn several_options_at_once() {
    assert_eq!(Handle::current().backend(), Backend::Select);
    spindle::yield_now().await;
}

#[spindle::test(backend = "epoll", event_interval = 1_000)]
async fn epoll_backend_and_an_underscored_number() {
    assert_eq!(Handle::current().backend(), Backend::Epoll);
}

#[spindle::test(crate = "spindle")]
async fn crate_option_with_the_default_name() {
    assert!(Handle::try_current().is_some());
}

mod renamed {
    /// The facade under another name, as a user's `Cargo.toml` rename or
    /// a re-export would make it.
    pub use spindle as runtime_alias;
}

#[spindle::test(crate = "crate::renamed::runtime_alias", start_paused = true)]
async fn crate_option_with_a_path_inside_this_crate() {
    let t = Instant::now();
    sleep(Duration::from_secs(60)).await;
    assert_eq!(t.elapsed(), Duration::from_secs(60));
}

/// `#[spindle::main]` on a function that is not called `main`, so a test
/// can call it: it returns the body's value, and `?` works in the body.
#[spindle::main(start_paused = true)]
async fn main_like() -> std::io::Result<u32> {
    let t = Instant::now();
    sleep(Duration::from_secs(5)).await;
    let n: u32 = "7".parse().map_err(std::io::Error::other)?;
    Ok(n + t.elapsed().as_secs() as u32)
}

#[spindle::main]
async fn main_that_fails() -> std::io::Result<()> {
    std::fs::metadata("/nonexistent/spindle/macro/test")?;
    Ok(())
}

#[test]
fn main_returns_the_body_value_and_question_mark_works() {
    assert_eq!(main_like().unwrap(), 12);
    assert_eq!(
        main_that_fails().unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    // Outside: the runtime main_like built is gone.
    assert!(Handle::try_current().is_none());
}

#[spindle::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_threaded_test_spawns_onto_its_two_workers() {
    let metrics = Handle::current().metrics();
    assert_eq!(metrics.num_workers(), 2);
    let name = spindle::spawn(async { std::thread::current().name().map(str::to_owned) })
        .await
        .unwrap();
    assert!(name.unwrap().starts_with("spindle-worker-"));
}

#[spindle::test(flavor = "current_thread")]
async fn an_explicit_current_thread_test_has_no_workers() {
    assert_eq!(Handle::current().metrics().num_workers(), 0);
}
