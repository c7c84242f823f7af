//! Which backend a runtime runs on, and how a refused io_uring is reported:
//! through `Runtime::backend_fallback`, never by printing.

use spindle_runtime::{Backend, Runtime};

#[test]
fn the_builders_backend_wins_and_has_no_fallback() {
    // Over whatever SPINDLE_POLLER says (CI runs this suite under each).
    for backend in [Backend::Epoll, Backend::Poll, Backend::Select] {
        let rt = Runtime::builder().poller(backend).build().unwrap();
        assert_eq!(rt.backend(), backend);
        assert!(rt.backend_fallback().is_none());
    }
}

#[test]
fn io_uring_runs_or_its_refusal_is_returned() {
    let rt = Runtime::builder().poller(Backend::IoUring).build().unwrap();
    match rt.backend() {
        Backend::IoUring => assert!(rt.backend_fallback().is_none()),
        Backend::Epoll => {
            let fallback = rt
                .backend_fallback()
                .expect("running on epoll after asking for io_uring needs a reason");
            assert_eq!(fallback.requested(), Backend::IoUring);
            assert_eq!(fallback.used(), Backend::Epoll);
            assert!(fallback.to_string().contains("io_uring unavailable"));
        }
        other => panic!("asked for io_uring, got {other}"),
    }
    // The runtime works either way.
    assert_eq!(rt.block_on(async { 6 * 7 }), 42);
}
