//! The arena on its own: reuse on the owner's thread, frees from other
//! threads, heaps of threads that ended, and what it refuses.

use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::mpsc;
use std::thread;

use super::*;

/// A block's address, to send between threads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Addr(usize);

fn take(size: usize) -> Addr {
    Addr(
        alloc(size, 16)
            .expect("the arena serves this size")
            .as_ptr() as usize,
    )
}

/// # Safety
/// As [`free`]: `block` came from `take(size)` and is freed once.
unsafe fn give(block: Addr, size: usize) {
    // SAFETY: the caller's promise is `free`'s.
    unsafe { free(NonNull::new(block.0 as *mut u8).unwrap(), size) }
}

/// Fills a live block with its own address, so that a block handed out
/// twice while live shows up as a mismatch.
fn stamp(block: Addr, size: usize) {
    for word in 0..size / 8 {
        // SAFETY: the block is live and ours, `size` bytes, 16-aligned.
        unsafe { (block.0 as *mut usize).add(word).write(block.0 ^ word) };
    }
}

fn check(block: Addr, size: usize) {
    for word in 0..size / 8 {
        // SAFETY: as in `stamp`.
        let got = unsafe { (block.0 as *const usize).add(word).read() };
        assert_eq!(
            got,
            block.0 ^ word,
            "block {block:?} was overwritten while live"
        );
    }
}

#[test]
fn refuses_what_it_does_not_serve() {
    assert!(alloc(MAX_SIZE + 1, 8).is_none());
    assert!(alloc(64, 32).is_none());
    assert!(alloc(0, 8).is_none());
    let block = take(MAX_SIZE);
    // SAFETY: just taken, of this size.
    unsafe { give(block, MAX_SIZE) };
}

#[test]
fn blocks_are_aligned_distinct_and_reused_on_the_same_thread() {
    thread::spawn(|| {
        let mut live = HashSet::new();
        for size in [1, 16, 17, 48, 64, 100, 256] {
            for _ in 0..1000 {
                let block = take(size);
                assert_eq!(block.0 % 16, 0);
                assert!(live.insert((block, size)), "{block:?} handed out twice");
                stamp(block, size);
            }
        }
        let mut seen = HashSet::new();
        for &(block, size) in &live {
            check(block, size);
            assert!(seen.insert(block), "{block:?} handed out for two sizes");
        }
        // A block freed on its owner's thread is the next one of its class.
        let (block, size) = *live.iter().find(|(_, s)| *s == 64).unwrap();
        live.remove(&(block, size));
        // SAFETY: live, of this size, freed once.
        unsafe { give(block, size) };
        assert_eq!(take(64), block);
        live.insert((block, size));
        for (block, size) in live {
            // SAFETY: as above.
            unsafe { give(block, size) };
        }
    })
    .join()
    .unwrap();
}

#[test]
fn blocks_freed_on_another_thread_come_back_to_their_owner() {
    thread::spawn(|| {
        let blocks: Vec<Addr> = (0..100).map(|_| take(64)).collect();
        let sent = blocks.clone();
        thread::spawn(move || {
            for block in sent {
                // SAFETY: each block is given up once, here.
                unsafe { give(block, 64) };
            }
        })
        .join()
        .unwrap();
        // The remote stack is emptied when the owner runs short: collect
        // now, as the slow path would. The list may also hold blocks of a
        // segment this heap took over from a thread that ended (other
        // tests run beside this one), so take until all of ours are back.
        HEAP.with(|heap| heap.collect());
        let ours: HashSet<Addr> = blocks.iter().copied().collect();
        let mut again = Vec::new();
        while !ours.iter().all(|b| again.contains(b)) {
            assert!(again.len() < 10_000, "the freed blocks did not come back");
            again.push(take(64));
        }
        for block in again {
            // SAFETY: as above.
            unsafe { give(block, 64) };
        }
    })
    .join()
    .unwrap();
}

#[test]
fn a_heap_whose_thread_ended_gives_its_segments_and_free_blocks_up() {
    // A thread takes blocks, frees half and ends with the other half live.
    let (live, id) = thread::spawn(|| {
        let blocks: Vec<Addr> = (0..200).map(|_| take(96)).collect();
        for &block in &blocks {
            stamp(block, 96);
        }
        for &block in &blocks[100..] {
            // SAFETY: freed once, here.
            unsafe { give(block, 96) };
        }
        let id = HEAP.with(|heap| heap.id.get());
        (blocks[..100].to_vec(), id)
    })
    .join()
    .unwrap();
    // Its segment has no owner now, or another heap adopted it.
    let segment = segment_of(live[0].0 as *mut FreeBlock);
    // SAFETY: segments are never unmapped.
    let owner = unsafe { (*segment).shared.owner.load(Ordering::Relaxed) };
    assert_ne!(owner, id);
    // The live blocks were left alone, and can still be freed (remotely).
    for &block in &live {
        check(block, 96);
        // SAFETY: freed once, here.
        unsafe { give(block, 96) };
    }
}

#[test]
fn many_threads_trading_blocks_never_share_a_live_one() {
    // Four threads each take blocks, stamp them and send them round a
    // ring; the receiver checks the stamp and frees them: every block
    // crosses threads, the remote stacks fill and drain, and a thread that
    // ends hands its segments on. A block handed out twice while live
    // would fail a check.
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::sync_channel::<(Addr, usize)>(64))
        .unzip();
    let mut handles = Vec::new();
    for (i, receiver) in receivers.into_iter().enumerate() {
        let next = senders[(i + 1) % THREADS].clone();
        handles.push(thread::spawn(move || {
            for round in 0..ROUNDS {
                let size = 16 * (1 + (round + i) % CLASSES);
                let block = take(size);
                stamp(block, size);
                next.send((block, size)).unwrap();
                let (got, got_size) = receiver.recv().unwrap();
                check(got, got_size);
                // SAFETY: the sender gave it up; freed once, here.
                unsafe { give(got, got_size) };
            }
        }));
    }
    drop(senders);
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn blocks_of_a_segment_taken_over_from_an_ended_thread_are_handed_out_once() {
    // A thread ends with blocks live and blocks free; then this thread
    // takes enough blocks to need new segments, which it takes from the
    // abandoned ones first. Every live block keeps its stamp, and no block
    // is handed out twice while live.
    const SIZE: usize = 112;
    thread::spawn(|| {
        let left_live = thread::spawn(|| {
            let blocks: Vec<Addr> = (0..4000).map(|_| take(SIZE)).collect();
            for &block in &blocks {
                stamp(block, SIZE);
            }
            for &block in blocks.iter().skip(1).step_by(2) {
                // SAFETY: freed once, here.
                unsafe { give(block, SIZE) };
            }
            blocks.into_iter().step_by(2).collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        // 3 MiB: more than one segment's worth.
        let mine: Vec<Addr> = (0..(3 << 20) / SIZE).map(|_| take(SIZE)).collect();
        let mut seen: HashSet<Addr> = left_live.iter().copied().collect();
        for &block in &mine {
            assert!(seen.insert(block), "{block:?} handed out while live");
            stamp(block, SIZE);
        }
        for &block in &left_live {
            check(block, SIZE);
            // SAFETY: freed once, here (remotely, or by the heap that took
            // its segment).
            unsafe { give(block, SIZE) };
        }
        for &block in &mine {
            check(block, SIZE);
            // SAFETY: freed once, here.
            unsafe { give(block, SIZE) };
        }
    })
    .join()
    .unwrap();
}

#[test]
fn a_thread_local_destructor_can_free_and_allocate_after_the_heap_is_gone() {
    // A thread-local registered before the heap is destroyed after it (in
    // reverse order of registration). Its destructor frees a block the
    // heap handed out and asks for a new one: the free goes to the
    // segment's remote stack, the allocation is refused (the caller would
    // use the global allocator), and nothing crashes.
    struct Late(Cell<Option<Addr>>);
    impl Drop for Late {
        fn drop(&mut self) {
            if let Some(block) = self.0.take() {
                check(block, 48);
                // SAFETY: taken in the thread below, freed once, here.
                unsafe { give(block, 48) };
            }
            let again = alloc(48, 16);
            if let Some(block) = again {
                // The heap outlived us after all (registration order is
                // the platform's business): give the block back.
                // SAFETY: just allocated, freed once.
                unsafe { free(block, 48) };
            }
        }
    }
    thread_local! {
        static LATE: Late = const { Late(Cell::new(None)) };
    }
    thread::spawn(|| {
        LATE.with(|late| late.0.set(None));
        let block = take(48);
        stamp(block, 48);
        LATE.with(|late| late.0.set(Some(block)));
    })
    .join()
    .unwrap();
}
