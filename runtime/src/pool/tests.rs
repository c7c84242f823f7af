//! Unit tests of the pieces that need no second process: the wire format,
//! the frame buffer, calling a function through its offset, the check
//! that a function lives in the program's image, and the job handle.

use std::sync::mpsc;

use super::call;
use super::frame::{self, FrameBuf};
use super::handle::job_channel;
use super::wire::{from_bytes, to_bytes, Wire};
use super::PoolError;

fn round_trip<T: Wire + PartialEq + std::fmt::Debug>(value: T) {
    let bytes = to_bytes(&value);
    assert_eq!(from_bytes::<T>(&bytes).unwrap(), value);
}

#[test]
fn wire_round_trips() {
    round_trip(0xdead_beef_u32);
    round_trip(-5i64);
    round_trip(u128::MAX);
    round_trip(usize::MAX);
    round_trip(1.5f64);
    round_trip(true);
    round_trip('é');
    round_trip(());
    round_trip(String::from("héllo"));
    round_trip(vec![1u8, 2, 3]);
    round_trip(vec![vec![1u16], vec![], vec![2, 3]]);
    round_trip(Some(vec![String::from("a")]));
    round_trip(None::<u8>);
    round_trip((1u8, -2i32, String::from("x"), vec![0.5f32]));
    round_trip(Ok::<u32, String>(3));
    round_trip(Err::<u32, String>("no".into()));
}

#[test]
fn wire_rejects_bad_input() {
    assert!(from_bytes::<u32>(&[1, 2]).is_err());
    assert!(from_bytes::<bool>(&[2]).is_err());
    assert!(from_bytes::<String>(&to_bytes(&vec![0xffu8])).is_err());
    assert!(from_bytes::<u8>(&[1, 2]).is_err(), "trailing bytes");
    // A length far beyond the input fails instead of allocating it.
    assert!(from_bytes::<Vec<u8>>(&to_bytes(&u64::MAX)).is_err());
    assert!(from_bytes::<Vec<u64>>(&to_bytes(&(1u64 << 40))).is_err());
}

#[test]
fn frame_buf_cuts_frames_and_grows_for_large_ones() {
    let mut stream = Vec::new();
    frame::push_frame(&mut stream, frame::OK, 7, b"abc");
    let big = vec![9u8; 1 << 20];
    frame::push_frame(&mut stream, frame::OK, 8, &big);
    let mut buf = FrameBuf::new();
    let mut got = Vec::new();
    let mut fed = 0;
    while got.len() < 2 {
        while let Some(f) = buf.next_frame().unwrap() {
            got.push((f.id, buf.bytes(f.body).to_vec()));
        }
        let spare = buf.spare().unwrap();
        let n = spare.len().min(stream.len() - fed).min(10_000);
        spare[..n].copy_from_slice(&stream[fed..fed + n]);
        fed += n;
        buf.filled(n);
    }
    assert_eq!(got[0], (7, b"abc".to_vec()));
    assert_eq!(got[1].0, 8);
    assert_eq!(got[1].1, big);
    assert!(!buf.has_partial());
}

fn square(x: u64) -> u64 {
    x * x
}

fn task_body(site: call::CallSite, hash: u64, arg: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&site.trampoline.to_le_bytes());
    body.extend_from_slice(&site.function.to_le_bytes());
    body.extend_from_slice(&hash.to_le_bytes());
    body.extend_from_slice(arg);
    body
}

#[test]
fn invoke_calls_through_the_offset_and_checks_types() {
    let site = call::call_site(square as fn(u64) -> u64).unwrap();
    let mut out = Vec::new();
    call::invoke(
        &task_body(site, site.type_hash, &to_bytes(&12u64)),
        Vec::new(),
        &mut out,
    )
    .unwrap();
    assert_eq!(from_bytes::<u64>(&out).unwrap(), 144);

    let err = call::invoke(
        &task_body(site, site.type_hash ^ 1, &to_bytes(&12u64)),
        Vec::new(),
        &mut Vec::new(),
    );
    assert!(err.unwrap_err().contains("type check failed"));

    let err = call::invoke(
        &task_body(site, site.type_hash, &[1, 2]),
        Vec::new(),
        &mut Vec::new(),
    );
    assert!(err.unwrap_err().contains("did not decode"));
    assert_ne!(call::type_hash::<u64, u64>(), call::type_hash::<u64, u32>());
}

#[test]
fn image_check_tells_the_executable_from_a_shared_library() {
    assert!(call::in_image(square as fn(u64) -> u64 as usize));
    assert!(call::in_image(super::worker_main as fn() as usize));
    // libc's functions live in libc.so, loaded at a distance from the
    // executable that differs in every process.
    let getpid: unsafe extern "C" fn() -> libc::pid_t = libc::getpid;
    assert!(!call::in_image(getpid as usize));
    let labs: unsafe extern "C" fn(libc::c_long) -> libc::c_long = libc::labs;
    assert!(!call::in_image(labs as usize));
    assert!(!call::in_image(0));
    // SAFETY: never called: `call_site` must refuse it.
    let foreign: fn(i64) -> i64 = unsafe { std::mem::transmute(labs) };
    let why = call::call_site(foreign).unwrap_err();
    assert!(why.contains("libc"), "{why}");
}

#[test]
fn a_job_result_reaches_its_handle_once_whichever_side_comes_first() {
    // Result first, then the callback: it runs at once, here.
    let (done, handle) = job_channel::<u32>();
    assert!(!handle.is_finished());
    done.complete(Ok(3));
    assert!(handle.is_finished());
    let (tx, rx) = mpsc::channel();
    handle.on_done(move |r| tx.send(r).unwrap());
    assert_eq!(rx.try_recv(), Ok(Ok(3)));
    // Callback first: `complete` calls it, and the channel is bypassed.
    let (done, handle) = job_channel::<u32>();
    let (tx, rx) = mpsc::channel();
    handle.on_done(move |r| tx.send(r).unwrap());
    assert!(rx.try_recv().is_err());
    done.complete(Err(PoolError::ShutDown));
    assert_eq!(rx.try_recv(), Ok(Err(PoolError::ShutDown)));
    // From a plain thread.
    let (done, handle) = job_channel::<u32>();
    let waiter = std::thread::spawn(move || handle.wait());
    done.complete(Ok(4));
    assert_eq!(waiter.join().unwrap(), Ok(4));
}

#[test]
fn a_job_dropped_without_an_answer_reports_shut_down() {
    let (done, handle) = job_channel::<u32>();
    drop(done);
    assert_eq!(handle.wait(), Err(PoolError::ShutDown));
    let (done, handle) = job_channel::<u32>();
    let (tx, rx) = mpsc::channel();
    handle.on_done(move |r| tx.send(r).unwrap());
    drop(done);
    assert_eq!(rx.try_recv(), Ok(Err(PoolError::ShutDown)));
    let (done, handle) = job_channel::<u32>();
    drop(done);
    let (tx, rx) = mpsc::channel();
    handle.on_done(move |r| tx.send(r).unwrap());
    assert_eq!(rx.try_recv(), Ok(Err(PoolError::ShutDown)));
}

#[test]
fn descriptors_travel_beside_the_bytes() {
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;

    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let value: (u32, OwnedFd) = (7, OwnedFd::from(b));
    let bytes = to_bytes(&value);
    let fds = super::wire::take_outgoing_fds();
    assert_eq!(fds.len(), 1, "one duplicate per encoded descriptor");
    drop(value); // the duplicate keeps the socket open
    let (n, fd) =
        super::wire::with_incoming_fds(fds, || from_bytes::<(u32, OwnedFd)>(&bytes)).unwrap();
    assert_eq!(n, 7);
    let mut b = std::os::unix::net::UnixStream::from(fd);
    a.write_all(b"hi").unwrap();
    let mut got = [0; 2];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
    // An index with no descriptor behind it is an error, not a wrong fd.
    let err = super::wire::with_incoming_fds(Vec::new(), || from_bytes::<OwnedFd>(&bytes[4..]));
    assert!(err.is_err());
}

/// Gives the descriptor back, with a number.
fn echo_fd((n, fd): (u32, std::os::fd::OwnedFd)) -> (std::os::fd::OwnedFd, u32) {
    (fd, n + 1)
}

#[test]
fn invoke_takes_and_gives_back_descriptors() {
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;

    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let site = call::call_site(echo_fd as fn((u32, OwnedFd)) -> (OwnedFd, u32)).unwrap();
    let arg = to_bytes(&(1u32, OwnedFd::from(b)));
    let fds = super::wire::take_outgoing_fds();
    let mut out = Vec::new();
    let back = call::invoke(&task_body(site, site.type_hash, &arg), fds, &mut out).unwrap();
    assert_eq!(back.len(), 1, "the result's descriptor travels with it");
    let (fd, n) =
        super::wire::with_incoming_fds(back, || from_bytes::<(OwnedFd, u32)>(&out)).unwrap();
    assert_eq!(n, 2);
    let mut b = std::os::unix::net::UnixStream::from(fd);
    a.write_all(b"ok").unwrap();
    let mut got = [0; 2];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ok");
}

#[test]
fn frames_count_their_descriptors() {
    use std::os::fd::OwnedFd;

    let mut stream = Vec::new();
    let start = frame::begin(&mut stream, frame::OK, 1);
    stream.extend_from_slice(b"xy");
    frame::set_fds(&mut stream, start, 2);
    frame::finish(&mut stream, start);
    frame::push_frame(&mut stream, frame::OK, 2, b"z");
    let mut buf = FrameBuf::new();
    buf.spare().unwrap()[..stream.len()].copy_from_slice(&stream);
    buf.filled(stream.len());
    let mut arrived: Vec<OwnedFd> = (0..3)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let first = buf.next_frame().unwrap().unwrap();
    assert_eq!((first.id, first.fds), (1, 2));
    assert_eq!(buf.bytes(first.body), b"xy");
    assert_eq!(frame::take_fds(&mut arrived, first.fds).unwrap().len(), 2);
    let second = buf.next_frame().unwrap().unwrap();
    assert_eq!((second.id, second.fds), (2, 0));
    assert_eq!(arrived.len(), 1);
    assert!(
        frame::take_fds(&mut arrived, 2).is_err(),
        "missing descriptors"
    );
}

#[test]
fn descriptors_of_a_decoding_that_panicked_are_not_left_for_the_next() {
    use std::os::fd::OwnedFd;

    let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let bytes = to_bytes(&fd);
    let fds = super::wire::take_outgoing_fds();
    let panicked = std::panic::catch_unwind(|| {
        super::wire::with_incoming_fds(fds, || panic!("deliberate panic in a decoding"))
    });
    assert!(panicked.is_err());
    // The same index, with no descriptor sent: an error, not the old one.
    let decoded = super::wire::with_incoming_fds(Vec::new(), || from_bytes::<OwnedFd>(&bytes));
    assert!(decoded.is_err());
    assert!(from_bytes::<OwnedFd>(&bytes).is_err());
}
