//! Unit tests of `sockaddr.rs`: address conversions.

use super::*;

#[test]
fn inet_round_trip() {
    for text in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:9"] {
        let addr: SocketAddr = text.parse().unwrap();
        assert_eq!(SockAddr::from_inet(&addr).to_inet().unwrap(), addr);
    }
}

#[test]
fn unix_round_trip() {
    let path = SockAddr::from_path(Path::new("/tmp/x.sock")).unwrap();
    let path = path.to_unix().unwrap();
    assert_eq!(path.as_pathname(), Some(Path::new("/tmp/x.sock")));
    let abs = SockAddr::from_path(Path::new("\0spindle")).unwrap();
    assert_eq!(
        abs.to_unix().unwrap().as_abstract_name(),
        Some(&b"spindle"[..])
    );
    let mut unnamed = SockAddr::empty();
    unnamed.storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
    unnamed.len = mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
    assert!(unnamed.to_unix().unwrap().is_unnamed());
    unnamed.len = 0;
    assert!(unnamed.to_unix().unwrap().is_unnamed());
    assert!(SockAddr::from_path(Path::new("a\0b")).is_err());
    assert!(SockAddr::from_inet(&"1.2.3.4:5".parse().unwrap())
        .to_unix()
        .is_err());
}
