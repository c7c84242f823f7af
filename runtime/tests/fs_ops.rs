//! spindle::fs path operations, `read_dir` and `OpenOptions`, in temp dirs.

mod fs_support;
mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use fs_support::{one_pool_thread, PoolGate, TempDir};
use spindle_runtime::block_on;
use spindle_runtime::fs::{self, File, OpenOptions};
use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use support::bounded;

#[test]
fn create_copy_rename_link_and_remove() {
    bounded(30, || {
        let tmp = TempDir::new("ops");
        block_on(async {
            let nested = tmp.join("a/b/c");
            fs::create_dir_all(&nested).await.unwrap();
            fs::create_dir_all(&nested).await.unwrap(); // exists: fine
            let err = fs::create_dir(&nested).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AlreadyExists);
            let err = fs::create_dir(tmp.join("x/y")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(fs::try_exists(&nested).await.unwrap());
            assert!(!fs::try_exists(tmp.join("nope")).await.unwrap());

            let file = nested.join("f.txt");
            fs::write(&file, b"contents").await.unwrap();
            assert_eq!(fs::copy(&file, tmp.join("copy")).await.unwrap(), 8);
            assert_eq!(fs::read(tmp.join("copy")).await.unwrap(), b"contents");

            fs::rename(tmp.join("copy"), tmp.join("moved"))
                .await
                .unwrap();
            assert!(!fs::try_exists(tmp.join("copy")).await.unwrap());
            assert_eq!(fs::read(tmp.join("moved")).await.unwrap(), b"contents");

            fs::hard_link(tmp.join("moved"), tmp.join("hard"))
                .await
                .unwrap();
            assert_eq!(fs::metadata(tmp.join("hard")).await.unwrap().nlink(), 2);

            fs::symlink(&file, tmp.join("sym")).await.unwrap();
            assert_eq!(fs::read_link(tmp.join("sym")).await.unwrap(), file);
            let link_meta = fs::symlink_metadata(tmp.join("sym")).await.unwrap();
            assert!(link_meta.file_type().is_symlink());
            let target_meta = fs::metadata(tmp.join("sym")).await.unwrap();
            assert!(target_meta.is_file());
            assert_eq!(target_meta.len(), 8);
            let canonical = fs::canonicalize(tmp.join("a/b/../b/c/../../../sym"))
                .await
                .unwrap();
            assert_eq!(canonical, std::fs::canonicalize(&file).unwrap());
            let err = fs::read_link(&file).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);

            fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .await
                .unwrap();
            let mode = fs::metadata(&file).await.unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);

            // A dangling link does not "exist".
            fs::remove_file(&file).await.unwrap();
            assert!(!fs::try_exists(tmp.join("sym")).await.unwrap());
            assert!(fs::symlink_metadata(tmp.join("sym")).await.is_ok());

            let err = fs::remove_dir(tmp.join("a")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty);
            fs::remove_dir(&nested).await.unwrap();
            fs::remove_dir_all(tmp.join("a")).await.unwrap();
            assert!(!fs::try_exists(tmp.join("a")).await.unwrap());
            let err = fs::remove_dir_all(tmp.join("a")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
        });
    });
}

#[test]
fn read_dir_lists_every_entry_once_across_batches() {
    bounded(30, || {
        let tmp = TempDir::new("list");
        // More than three batches of 32, plus a directory.
        let mut expected = BTreeSet::new();
        for i in 0..100 {
            let name = format!("file{i:03}");
            std::fs::write(tmp.join(&name), vec![b'x'; i]).unwrap();
            expected.insert(name);
        }
        std::fs::create_dir(tmp.join("sub")).unwrap();
        block_on(async {
            let mut entries = fs::read_dir(tmp.path()).await.unwrap();
            let mut seen = BTreeSet::new();
            let mut dirs = 0;
            while let Some(entry) = entries.next_entry().await.unwrap() {
                let name = entry.file_name().into_string().unwrap();
                assert_eq!(entry.path(), tmp.join(&name));
                let file_type = entry.file_type().await.unwrap();
                if name == "sub" {
                    assert!(file_type.is_dir());
                    dirs += 1;
                    continue;
                }
                assert!(file_type.is_file());
                let i: u64 = name["file".len()..].parse().unwrap();
                assert_eq!(entry.metadata().await.unwrap().len(), i);
                assert_eq!(entry.ino(), entry.metadata().await.unwrap().ino());
                assert!(seen.insert(name), "listed twice");
            }
            assert_eq!(dirs, 1);
            assert_eq!(seen, expected);
            // Past the end it stays at the end.
            assert!(entries.next_entry().await.unwrap().is_none());

            let err = fs::read_dir(tmp.join("missing")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
        });
    });
}

#[test]
fn a_dropped_next_entry_loses_no_entry() {
    bounded(30, || {
        let tmp = TempDir::new("cancel");
        for i in 0..40 {
            std::fs::write(tmp.join(&format!("f{i}")), b"").unwrap();
        }
        let rt = one_pool_thread();
        rt.block_on(async {
            let mut entries = fs::read_dir(tmp.path()).await.unwrap();
            let mut count = 0;
            let mut cancelled = 0;
            loop {
                // With the pool's one thread held, a batch job cannot run:
                // `next_entry` either hands out a buffered entry at once or
                // is pending, and then we drop it.
                let mut gate = PoolGate::hold();
                {
                    let mut next = pin!(entries.next_entry());
                    let mut cx = Context::from_waker(Waker::noop());
                    match next.as_mut().poll(&mut cx) {
                        Poll::Ready(entry) => match entry.unwrap() {
                            Some(_) => {
                                count += 1;
                                continue;
                            }
                            None => break,
                        },
                        Poll::Pending => cancelled += 1,
                    }
                }
                gate.release();
                // The job started by the dropped future is still there.
                match entries.next_entry().await.unwrap() {
                    Some(_) => count += 1,
                    None => break,
                }
            }
            assert_eq!(count, 40);
            // A batch of 32 then the rest, then the end: at least two.
            assert!(cancelled >= 2, "only {cancelled} pending polls");
        });
    });
}

#[test]
fn open_options_modes() {
    bounded(30, || {
        let tmp = TempDir::new("open");
        let path = tmp.join("log");
        block_on(async {
            let err = OpenOptions::new().read(true).open(&path).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);

            let mut f = File::options()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(&path)
                .await
                .unwrap();
            f.write_all(b"first\n").await.unwrap();
            f.flush().await.unwrap();
            let mode = fs::metadata(&path).await.unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640 & !umask());
            let err = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AlreadyExists);

            let mut log = OpenOptions::new().append(true).open(&path).await.unwrap();
            log.write_all(b"second\n").await.unwrap();
            log.flush().await.unwrap();
            assert_eq!(fs::read(&path).await.unwrap(), b"first\nsecond\n");

            let mut rw = OpenOptions::from({
                let mut std = std::fs::OpenOptions::new();
                std.read(true).write(true);
                std
            })
            .open(&path)
            .await
            .unwrap();
            rw.write_all(b"FIRST").await.unwrap();
            let mut rest = String::new();
            rw.read_to_string(&mut rest).await.unwrap();
            assert_eq!(rest, "\nsecond\n");

            let mut truncated = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .await
                .unwrap();
            truncated.flush().await.unwrap();
            assert_eq!(fs::metadata(&path).await.unwrap().len(), 0);
        });
    });
}

#[test]
fn fs_calls_from_several_threads() {
    let tmp = std::sync::Arc::new(TempDir::new("threads"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let tmp = tmp.clone();
            std::thread::spawn(move || {
                bounded(30, move || {
                    block_on(async move {
                        let dir = tmp.join(&format!("t{t}/inner"));
                        fs::create_dir_all(&dir).await.unwrap();
                        for i in 0..10 {
                            fs::write(dir.join(format!("{i}")), b"x").await.unwrap();
                        }
                        let mut entries = fs::read_dir(&dir).await.unwrap();
                        let mut n = 0;
                        while entries.next_entry().await.unwrap().is_some() {
                            n += 1;
                        }
                        assert_eq!(n, 10);
                        fs::remove_dir_all(tmp.join(&format!("t{t}")))
                            .await
                            .unwrap();
                    })
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The process's umask, read without changing it.
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

#[allow(dead_code)]
fn assert_send() {
    fn send<T: Send>() {}
    send::<fs::ReadDir>();
    send::<fs::DirEntry>();
    send::<File>();
    send::<OpenOptions>();
}
