//! Unit tests of `socket.rs`: error classes.

use super::*;

#[test]
fn accept_failures() {
    let class = |errno| accept_failure(&io::Error::from_raw_os_error(errno));
    assert_eq!(class(libc::EMFILE), AcceptFailure::Exhausted);
    assert_eq!(class(libc::ECONNABORTED), AcceptFailure::Retry);
    assert_eq!(class(libc::EBADF), AcceptFailure::Other);
}
