//! spindle::fs: whole-file helpers and `File` (reads, write-behind,
//! read-ahead followed by writes, seek, sync_all, metadata), on temp files.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use spindle_runtime::fs::{self, File};
use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::{block_on, spawn};

/// A temp path unique to this test; removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        Temp(std::env::temp_dir().join(format!("spindle-fs-{}-{name}", std::process::id())))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn read_write_and_read_to_string() {
    let tmp = Temp::new("whole");
    block_on(async {
        fs::write(&tmp.0, "héllo\nworld").await.unwrap();
        assert_eq!(fs::read(&tmp.0).await.unwrap(), "héllo\nworld".as_bytes());
        assert_eq!(fs::read_to_string(&tmp.0).await.unwrap(), "héllo\nworld");
        assert_eq!(fs::metadata(&tmp.0).await.unwrap().len(), 12);
        fs::write(&tmp.0, [0xffu8, 0xfe]).await.unwrap();
        let err = fs::read_to_string(&tmp.0).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        fs::remove_file(&tmp.0).await.unwrap();
        let err = fs::read(&tmp.0).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(File::open(&tmp.0).await.is_err());
    });
}

#[test]
fn file_streams_many_small_writes_and_reads_in_chunks() {
    let tmp = Temp::new("stream");
    block_on(async {
        let mut f = File::create(&tmp.0).await.unwrap();
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            let line = format!("line {i}\n");
            f.write_all(line.as_bytes()).await.unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        // A write bigger than one job's 2 MiB buffer.
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
        f.write_all(&big).await.unwrap();
        expected.extend_from_slice(&big);
        f.sync_all().await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), expected.len() as u64);
        drop(f);

        let mut f = File::open(&tmp.0).await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 777];
        loop {
            let n = f.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(
            got == expected,
            "read back {} bytes, wrote {}",
            got.len(),
            expected.len()
        );
        // At the end it stays at the end.
        assert_eq!(f.read(&mut chunk).await.unwrap(), 0);

        let mut all = Vec::new();
        File::open(&tmp.0)
            .await
            .unwrap()
            .read_to_end(&mut all)
            .await
            .unwrap();
        assert!(all == expected);
    });
}

#[test]
fn read_ahead_is_given_back_before_a_write_and_seek_works() {
    let tmp = Temp::new("rw");
    std::fs::write(&tmp.0, b"0123456789").unwrap();
    block_on(async {
        let std = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&tmp.0)
            .unwrap();
        let mut f = File::from_std(std);
        // One read job fetches all ten bytes; we take three.
        let mut three = [0u8; 3];
        f.read_exact(&mut three).await.unwrap();
        assert_eq!(&three, b"012");
        // The write lands at logical position 3, not at the OS position 10.
        f.write_all(b"abc").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(std::fs::read(&tmp.0).unwrap(), b"012abc6789");

        assert_eq!(f.seek(SeekFrom::Start(1)).await.unwrap(), 1);
        let mut two = [0u8; 2];
        f.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"12");
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 3);
        assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"9");
    });
}

#[test]
fn a_blocked_file_operation_does_not_block_the_event_loop() {
    // `fs::read` of a FIFO blocks in open(2) until a writer appears. The
    // writer thread only opens it once an ordinary task on the event loop
    // has run, which it can only do if the read is off the loop.
    let tmp = Temp::new("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&tmp.0)
        .status()
        .unwrap();
    assert!(status.success());
    let path = tmp.0.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let loop_ran = rx.recv_timeout(Duration::from_secs(20)).is_ok();
        std::fs::write(path, b"through the fifo").unwrap();
        loop_ran
    });
    block_on(async {
        let reader = spawn(fs::read(tmp.0.clone()));
        spawn(async move { tx.send(()).unwrap() });
        assert_eq!(reader.await.unwrap().unwrap(), b"through the fifo");
    });
    assert!(
        writer.join().unwrap(),
        "the event loop was blocked by a file read"
    );
}
