//! `AsyncSeek` on `fs::File`: seeks settle buffered writes first, read-ahead
//! never shows in the position, cancellation loses nothing, `set_len`.

mod fs_support;
mod support;

use std::future::Future;
use std::io::{ErrorKind, SeekFrom};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use fs_support::{one_pool_thread, PoolGate, TempDir};
use spindle_runtime::block_on;
use spindle_runtime::fs::{File, OpenOptions};
use spindle_runtime::io::{AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWriteExt};
use support::bounded;

async fn read_write(path: &std::path::Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .open(path)
        .await
        .unwrap()
}

#[test]
fn seek_after_a_buffered_write_sees_the_data() {
    bounded(30, || {
        let tmp = TempDir::new("seek-write");
        block_on(async {
            let mut f = read_write(&tmp.join("f")).await;
            // The write is accepted at once and runs on the pool ...
            f.write_all(b"hello world").await.unwrap();
            // ... and the seek waits for it before moving.
            assert_eq!(
                AsyncSeekExt::seek(&mut f, SeekFrom::Start(6))
                    .await
                    .unwrap(),
                6
            );
            let mut rest = String::new();
            f.read_to_string(&mut rest).await.unwrap();
            assert_eq!(rest, "world");
            f.rewind().await.unwrap();
            let mut all = String::new();
            f.read_to_string(&mut all).await.unwrap();
            assert_eq!(all, "hello world");
            assert_eq!(f.stream_position().await.unwrap(), 11);
        });
    });
}

#[test]
fn the_position_does_not_count_read_ahead() {
    bounded(30, || {
        let tmp = TempDir::new("seek-ahead");
        std::fs::write(tmp.join("f"), b"0123456789").unwrap();
        block_on(async {
            let mut f = File::open(tmp.join("f")).await.unwrap();
            let mut three = [0; 3];
            f.read_exact(&mut three).await.unwrap();
            // One job read all ten bytes; the logical position is 3.
            assert_eq!(f.stream_position().await.unwrap(), 3);
            // Current is relative to the logical position.
            assert_eq!(f.seek(SeekFrom::Current(2)).await.unwrap(), 5);
            let mut two = [0; 2];
            f.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"56");
            assert_eq!(f.seek(SeekFrom::End(-2)).await.unwrap(), 8);
            let mut rest = Vec::new();
            f.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"89");
            // Past the end is allowed; reads there find the end.
            assert_eq!(f.seek(SeekFrom::Start(100)).await.unwrap(), 100);
            assert_eq!(f.read(&mut two).await.unwrap(), 0);
        });
    });
}

#[test]
fn the_known_position_needs_no_pool_job() {
    bounded(30, || {
        let tmp = TempDir::new("seek-known");
        std::fs::write(tmp.join("f"), b"0123456789").unwrap();
        let rt = one_pool_thread();
        rt.block_on(async {
            let mut f = File::open(tmp.join("f")).await.unwrap();
            let mut four = [0; 4];
            f.read_exact(&mut four).await.unwrap();
            let _gate = PoolGate::hold();
            let mut position = pin!(f.stream_position());
            let mut cx = Context::from_waker(Waker::noop());
            assert!(matches!(
                position.as_mut().poll(&mut cx),
                Poll::Ready(Ok(4))
            ));
        });
    });
}

#[test]
fn a_file_from_std_asks_the_os_for_its_position() {
    bounded(30, || {
        let tmp = TempDir::new("seek-std");
        std::fs::write(tmp.join("f"), b"0123456789").unwrap();
        block_on(async {
            let mut std = std::fs::File::open(tmp.join("f")).unwrap();
            std::io::Seek::seek(&mut std, SeekFrom::Start(7)).unwrap();
            let mut f = File::from_std(std);
            assert_eq!(f.stream_position().await.unwrap(), 7);
            let mut rest = Vec::new();
            f.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"789");
        });
    });
}

#[test]
fn append_mode_writes_leave_the_position_at_the_end() {
    bounded(30, || {
        let tmp = TempDir::new("seek-append");
        std::fs::write(tmp.join("f"), b"0123").unwrap();
        block_on(async {
            let mut f = OpenOptions::new()
                .append(true)
                .open(tmp.join("f"))
                .await
                .unwrap();
            f.write_all(b"abc").await.unwrap();
            assert_eq!(f.stream_position().await.unwrap(), 7);
        });
    });
}

#[test]
fn errors_are_reported_and_the_position_kept() {
    bounded(30, || {
        let tmp = TempDir::new("seek-err");
        std::fs::write(tmp.join("f"), b"0123456789").unwrap();
        block_on(async {
            let mut f = File::open(tmp.join("f")).await.unwrap();
            f.seek(SeekFrom::Start(4)).await.unwrap();
            let err = f.seek(SeekFrom::Current(-5)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(f.stream_position().await.unwrap(), 4);

            // A write to a read-only file is accepted (write-behind); the
            // seek that follows reports its failure.
            f.write_all(b"x").await.unwrap();
            let err = f.seek(SeekFrom::Start(0)).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBADF));
            assert_eq!(f.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        });
    });
}

#[test]
fn start_seek_fails_while_an_operation_is_in_flight() {
    bounded(30, || {
        let tmp = TempDir::new("seek-busy");
        let rt = one_pool_thread();
        rt.block_on(async {
            let mut f = read_write(&tmp.join("f")).await;
            let mut gate = PoolGate::hold();
            f.write_all(b"queued").await.unwrap();
            let err = Pin::new(&mut f).start_seek(SeekFrom::Start(0)).unwrap_err();
            assert!(err.to_string().contains("poll_complete"), "{err}");
            gate.release();
            assert_eq!(f.stream_position().await.unwrap(), 6);
        });
    });
}

#[test]
fn a_dropped_seek_still_moves_the_position() {
    bounded(30, || {
        let tmp = TempDir::new("seek-cancel");
        std::fs::write(tmp.join("f"), b"0123456789").unwrap();
        let rt = one_pool_thread();
        rt.block_on(async {
            let mut f = File::open(tmp.join("f")).await.unwrap();
            let mut one = [0; 1];
            f.read_exact(&mut one).await.unwrap();
            let mut gate = PoolGate::hold();
            {
                let mut seek = pin!(f.seek(SeekFrom::Start(8)));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(seek.as_mut().poll(&mut cx).is_pending());
            }
            gate.release();
            // The read waits for the submitted seek, then reads from 8.
            let mut rest = Vec::new();
            f.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"89");
        });
    });
}

#[test]
fn set_len_truncates_extends_and_drops_stale_read_ahead() {
    bounded(30, || {
        let tmp = TempDir::new("set-len");
        std::fs::write(tmp.join("f"), b"0123456789").unwrap();
        block_on(async {
            let mut f = read_write(&tmp.join("f")).await;
            let mut two = [0; 2];
            f.read_exact(&mut two).await.unwrap();
            // The read-ahead holds "23456789"; after truncating to 5 only
            // "234" is left to read.
            f.set_len(5).await.unwrap();
            assert_eq!(f.stream_position().await.unwrap(), 2);
            let mut rest = Vec::new();
            f.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"234");
            f.set_len(20).await.unwrap();
            assert_eq!(f.metadata().await.unwrap().len(), 20);
            // A write then set_len: the write lands first.
            f.seek(SeekFrom::Start(0)).await.unwrap();
            f.write_all(b"abcdefgh").await.unwrap();
            f.set_len(3).await.unwrap();
            f.sync_all().await.unwrap();
            assert_eq!(std::fs::read(tmp.join("f")).unwrap(), b"abc");
        });
    });
}

#[test]
fn files_seek_on_several_threads() {
    let tmp = std::sync::Arc::new(TempDir::new("seek-threads"));
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let tmp = tmp.clone();
            std::thread::spawn(move || {
                bounded(30, move || {
                    block_on(async move {
                        let mut f = read_write(&tmp.join(&format!("f{t}"))).await;
                        for i in 0..20u64 {
                            f.write_all(&[t; 4]).await.unwrap();
                            assert_eq!(f.stream_position().await.unwrap(), 4 * (i + 1));
                        }
                        f.seek(SeekFrom::Start(40)).await.unwrap();
                        let mut rest = Vec::new();
                        f.read_to_end(&mut rest).await.unwrap();
                        assert_eq!(rest, vec![t; 40]);
                    })
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
