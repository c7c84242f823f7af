//! The extension methods: binary numbers (`read_u32`, `write_f64_le`, ...),
//! `AsyncBufReadExt::read_until` and `split`, and the fused `Lines` and
//! `Split` streams; over `duplex` and loopback TCP, with cancellation.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::task::Poll;

use futures_core::stream::{FusedStream, Stream};
use spindle_runtime::io::{duplex, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use spindle_runtime::net::{TcpListener, TcpStream};
use spindle_runtime::spawn;

mod support;
use support::run;

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[test]
fn numbers_round_trip_in_both_byte_orders() {
    run(|| async {
        // A one-byte buffer: every number arrives in pieces.
        let (mut w, mut r) = duplex(1);
        let writer = spawn(async move {
            w.write_u8(0xab).await.unwrap();
            w.write_i8(-2).await.unwrap();
            w.write_u16(0x0102).await.unwrap();
            w.write_u16_le(0x0102).await.unwrap();
            w.write_i16(-300).await.unwrap();
            w.write_i16_le(-300).await.unwrap();
            w.write_u32(0xdead_beef).await.unwrap();
            w.write_u32_le(0xdead_beef).await.unwrap();
            w.write_i32(-70_000).await.unwrap();
            w.write_i32_le(-70_000).await.unwrap();
            w.write_u64(u64::MAX - 1).await.unwrap();
            w.write_u64_le(u64::MAX - 1).await.unwrap();
            w.write_i64(i64::MIN).await.unwrap();
            w.write_i64_le(i64::MIN).await.unwrap();
            w.write_u128(u128::MAX / 3).await.unwrap();
            w.write_u128_le(u128::MAX / 3).await.unwrap();
            w.write_i128(-1).await.unwrap();
            w.write_i128_le(i128::MIN + 5).await.unwrap();
            w.write_f32(1.5).await.unwrap();
            w.write_f32_le(-0.25).await.unwrap();
            w.write_f64(std::f64::consts::PI).await.unwrap();
            w.write_f64_le(f64::MIN_POSITIVE).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut raw = [0u8; 2];
        assert_eq!(r.read_u8().await.unwrap(), 0xab);
        assert_eq!(r.read_i8().await.unwrap(), -2);
        r.read_exact(&mut raw).await.unwrap();
        assert_eq!(raw, [1, 2], "big-endian puts the high byte first");
        r.read_exact(&mut raw).await.unwrap();
        assert_eq!(raw, [2, 1], "little-endian puts the low byte first");
        assert_eq!(r.read_i16().await.unwrap(), -300);
        assert_eq!(r.read_i16_le().await.unwrap(), -300);
        assert_eq!(r.read_u32().await.unwrap(), 0xdead_beef);
        assert_eq!(r.read_u32_le().await.unwrap(), 0xdead_beef);
        assert_eq!(r.read_i32().await.unwrap(), -70_000);
        assert_eq!(r.read_i32_le().await.unwrap(), -70_000);
        assert_eq!(r.read_u64().await.unwrap(), u64::MAX - 1);
        assert_eq!(r.read_u64_le().await.unwrap(), u64::MAX - 1);
        assert_eq!(r.read_i64().await.unwrap(), i64::MIN);
        assert_eq!(r.read_i64_le().await.unwrap(), i64::MIN);
        assert_eq!(r.read_u128().await.unwrap(), u128::MAX / 3);
        assert_eq!(r.read_u128_le().await.unwrap(), u128::MAX / 3);
        assert_eq!(r.read_i128().await.unwrap(), -1);
        assert_eq!(r.read_i128_le().await.unwrap(), i128::MIN + 5);
        assert_eq!(r.read_f32().await.unwrap(), 1.5);
        assert_eq!(r.read_f32_le().await.unwrap(), -0.25);
        assert_eq!(r.read_f64().await.unwrap(), std::f64::consts::PI);
        assert_eq!(r.read_f64_le().await.unwrap(), f64::MIN_POSITIVE);
        writer.await.unwrap();
        // End of stream where a number was expected.
        let err = r.read_u16().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn numbers_match_std_byte_orders() {
    run(|| async {
        let mut out = Vec::new();
        out.write_u32(0x0a0b_0c0d).await.unwrap();
        out.write_u32_le(0x0a0b_0c0d).await.unwrap();
        out.write_f64_le(2.0).await.unwrap();
        let mut want = 0x0a0b_0c0du32.to_be_bytes().to_vec();
        want.extend_from_slice(&0x0a0b_0c0du32.to_le_bytes());
        want.extend_from_slice(&2.0f64.to_le_bytes());
        assert_eq!(out, want);
        let mut reader = &out[..];
        assert_eq!(reader.read_u32().await.unwrap(), 0x0a0b_0c0d);
        assert_eq!(reader.read_u32_le().await.unwrap(), 0x0a0b_0c0d);
        assert_eq!(reader.read_f64_le().await.unwrap(), 2.0);
    });
}

#[test]
fn a_partial_number_then_end_of_stream_is_unexpected_eof() {
    run(|| async {
        let mut reader: &[u8] = &[1, 2, 3];
        let err = reader.read_u64().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            err.to_string().contains("3 of the number's 8 bytes"),
            "{err}"
        );
    });
}

#[test]
fn numbers_over_loopback_tcp() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut sum = 0u64;
            while let Ok(n) = conn.read_u32_le().await {
                sum += u64::from(n);
            }
            conn.write_u64(sum).await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        for i in 0..1000u32 {
            client.write_u32_le(i).await.unwrap();
        }
        client.shutdown().await.unwrap();
        assert_eq!(client.read_u64().await.unwrap(), 999 * 1000 / 2);
        server.await.unwrap();
    });
}

#[test]
fn read_until_includes_the_delimiter() {
    run(|| async {
        let mut reader = BufReader::new(&b"key=value;next"[..]);
        let mut buf = Vec::new();
        assert_eq!(reader.read_until(b';', &mut buf).await.unwrap(), 10);
        assert_eq!(buf, b"key=value;");
        buf.clear();
        assert_eq!(reader.read_until(b';', &mut buf).await.unwrap(), 4);
        assert_eq!(buf, b"next");
        assert_eq!(reader.read_until(b';', &mut buf).await.unwrap(), 0);
    });
}

#[test]
fn split_segments_survive_a_cancelled_next_segment() {
    run(|| async {
        let (mut tx, rx) = duplex(64);
        let mut segments = BufReader::new(rx).split(0);
        tx.write_all(b"first\0sec").await.unwrap();
        assert_eq!(segments.next_segment().await.unwrap().unwrap(), b"first");
        {
            let mut fut = pin!(segments.next_segment());
            let pending = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "half a segment: waits for the rest");
        } // cancelled with "sec" taken from the reader
        tx.write_all(b"ond\0").await.unwrap();
        tx.shutdown().await.unwrap();
        assert_eq!(segments.next_segment().await.unwrap().unwrap(), b"second");
        assert_eq!(segments.next_segment().await.unwrap(), None);
    });
}

#[test]
fn split_and_lines_are_fused_streams() {
    run(|| async {
        let mut split = BufReader::new(&b"a,b,"[..]).split(b',');
        assert!(!split.is_terminated());
        assert_eq!(next(&mut split).await.unwrap().unwrap(), b"a");
        assert_eq!(next(&mut split).await.unwrap().unwrap(), b"b");
        assert!(next(&mut split).await.is_none());
        assert!(split.is_terminated());
        assert!(next(&mut split).await.is_none(), "stays ended");

        let mut lines = BufReader::new(&b"one\r\ntwo"[..]).lines();
        assert!(!lines.is_terminated());
        assert_eq!(next(&mut lines).await.unwrap().unwrap(), "one");
        assert_eq!(next(&mut lines).await.unwrap().unwrap(), "two");
        assert!(next(&mut lines).await.is_none());
        assert!(lines.is_terminated());
        assert!(next(&mut lines).await.is_none());
    });
}
