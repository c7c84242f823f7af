//! The task arena: the memory that task cells live in.
//!
//! Every task is one allocation (`raw.rs`), and a program that spawns a
//! million of them makes a million. The global allocator serves each from
//! a general-purpose heap: a size-class lookup, a chunk header of its own
//! (8 bytes on glibc, so a 64-byte task takes an 80-byte chunk), and fresh
//! memory one 4 KiB page fault at a time. The arena serves task cells of
//! up to [`MAX_SIZE`] bytes from memory it maps itself, in 2 MiB
//! segments:
//!
//! ```text
//!  thread A's heap                               segment (2 MiB, 2 MiB-aligned)
//!  +----------------------+                      +-----------------------------+
//!  | free[class]: lists   |--- pop/push -------> | owner: heap id (A)          |
//!  | segments: A's list,  |--------------------> | remote: blocks freed by     |<-- push from
//!  |   carving the first  |                      |   other threads (a stack)   |    thread B
//!  +----------------------+                      | bump: first byte never used |
//!                                                +-----------------------------+
//!                                                | 64 | 64 | 96 | 64 | 256 |...|  blocks, 16-byte
//!                                                +-----------------------------+  size classes
//! ```
//!
//! * **Size classes.** A cell of `size` bytes takes a block of `size`
//!   rounded up to 16 (classes 16, 32, ..., 256). No header per block:
//!   the block's segment is its address rounded down to 2 MiB, and its
//!   class is known to whoever frees it (the task's type fixes its size).
//! * **Per-thread heaps.** Each thread that allocates a task cell has a
//!   heap (a thread-local): one free list per class, and the segments it
//!   owns. An
//!   allocation pops its class's list; if that is empty, it carves the
//!   next block off the current segment (a bump of an offset); if the
//!   segment is used up, it collects the blocks other threads freed (see
//!   below) and tries the list again; failing that it takes a new
//!   segment. The first two steps, all but a few allocations, touch no
//!   atomic and no lock; collecting swaps each segment's remote stack, and
//!   taking a segment locks a global list (below).
//! * **Freeing.** A block freed on its owner's thread goes on the owner's
//!   list: one relaxed load (of the segment's owner), no atomic write. A block freed on any other thread (a task spawned
//!   on one worker and finished or dropped on another) is pushed onto its
//!   segment's `remote` stack, which only the owner empties, all at once
//!   (`remote.rs`, with a loom model). Which one it is: the segment's
//!   `owner` field against the freeing thread's heap id.
//! * **Pages.** The first segment a heap maps is left to fault in page by
//!   page, so a program with a few tasks pays for the pages it touches and
//!   no more. The segments it maps after that, which only a program with
//!   more than 2 MiB of tasks alive at once reaches, are backed whole when
//!   they are mapped (`MADV_POPULATE_WRITE`): one system call instead of
//!   512 page faults, at the cost of the segment's unused tail counting
//!   in the process's memory from the start. With
//!   `SPINDLE_TASK_ARENA=huge-pages` those segments are advised
//!   `MADV_HUGEPAGE` instead: one fault per segment, and fewer TLB misses
//!   while the tasks are polled. That is not the default because the
//!   2 MiB page can be slow to come by: with THP's `defrag` set to
//!   `madvise` (a common default) the fault may compact memory to find
//!   one, and in a virtual machine that reports free memory to its host
//!   (this project's benchmark machine does), a free 2 MiB page is often
//!   one the host took back and must back again. There, a million spawns
//!   took 65 ms in most runs and 130 to 250 ms in about a third of them
//!   (docs/benchmarks.md).
//! * **Threads that end.** A heap that is dropped (its thread exits) puts
//!   its free blocks on their segments' remote stacks and gives its
//!   segments up: their owner becomes 0, and they wait in a global list
//!   (a mutex, taken only when a heap needs a segment) for a heap to
//!   adopt them, with their live tasks, remote stacks and unused tail.
//!   Tasks still alive there free into the remote stacks meanwhile, as
//!   from any thread that is not the owner.
//!
//! Memory is never given back to the system. A block, once carved, stays
//! in its size class and, while its heap lives, with its heap: a burst of
//! a million small tasks spawned on one thread leaves ~64 MiB that only
//! that thread's next tasks of the same class reuse, and a burst on each
//! of two workers maps the memory twice. A heap's segments pass to another
//! heap only when its thread ends. The global allocator is no better for
//! the typical case (glibc keeps freed small chunks in per-size bins and
//! per-thread caches) but does merge free neighbours; a program whose
//! tasks change size over its life pays for the difference here.
//!
//! The environment variable `SPINDLE_TASK_ARENA`, read once, changes what
//! the arena does: `off` turns it off, so that tools that track the global
//! allocator (valgrind's memcheck and massif, heaptrack) see every task,
//! as CI's valgrind runs do; `huge-pages` asks for huge pages (above). A
//! task records where its cell came from
//! (`Header::in_arena`), because cells come from the global allocator in
//! other cases too: a future too large or over-aligned for the arena, a
//! thread whose heap is gone (a task spawned from another thread-local's
//! destructor), or a system out of memory for a new segment.

mod remote;

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use remote::{FreeBlock, RemoteFrees};

use crate::sys::memory;

/// Bytes in a segment, and its alignment: one huge page on x86-64.
const SEGMENT: usize = 2 << 20;
/// The step between size classes, and every block's alignment.
const GRAIN: usize = 16;
/// Size classes: 16, 32, ..., `MAX_SIZE`.
const CLASSES: usize = 16;
/// The largest cell the arena serves; larger ones go to the global
/// allocator.
pub(crate) const MAX_SIZE: usize = GRAIN * CLASSES;
/// Where a segment's first block starts: after its header's two cache
/// lines, so that no block shares a line with the header.
const FIRST_BLOCK: usize = 128;

/// The front of every segment: a line that every thread reads or writes
/// (the owner, the remote stack), then a line that only the owner touches
/// (its carving offset, its list), so that carving does not bounce the
/// line that frees from other threads use.
#[repr(C, align(64))]
struct Segment {
    shared: SegmentShared,
    owned: SegmentOwned,
}

/// The part of a segment's header that any thread touches.
#[repr(C, align(64))]
struct SegmentShared {
    /// The id of the heap that owns the segment, or 0 while it waits in
    /// `ABANDONED`. Written by the heap that maps or takes the segment,
    /// and by its owner when that gives it up; read by every free, which
    /// compares it with its own heap's id.
    owner: AtomicUsize,
    /// Blocks freed by threads other than the owner.
    remote: RemoteFrees,
}

/// The part of a segment's header that only its owner touches.
#[repr(C, align(64))]
struct SegmentOwned {
    /// Offset of the first byte never handed out.
    bump: Cell<usize>,
    /// The owner's next segment (meaningless while abandoned).
    next: Cell<*mut Segment>,
}

const _: () = assert!(std::mem::size_of::<Segment>() <= FIRST_BLOCK);

/// A segment pointer that may cross threads (inside `ABANDONED`).
struct SegmentPtr(*mut Segment);

// SAFETY: a segment is shared memory by design: its atomics are for every
// thread, its other fields for whichever thread owns it, and ownership
// passes only through the `ABANDONED` mutex (see `Heap::drop` and
// `Heap::add_segment`).
unsafe impl Send for SegmentPtr {}

/// Segments whose heap is gone, waiting for another heap.
static ABANDONED: Mutex<Vec<SegmentPtr>> = Mutex::new(Vec::new());

/// Heap ids; 0 is "no owner", so they start at 1 and are never reused.
static NEXT_HEAP_ID: AtomicUsize = AtomicUsize::new(1);

/// What `SPINDLE_TASK_ARENA` says (module docs), read on first use.
static MODE: AtomicU8 = AtomicU8::new(MODE_UNREAD);
const MODE_UNREAD: u8 = 0;
const MODE_ON: u8 = 1;
const MODE_HUGE_PAGES: u8 = 2;
const MODE_OFF: u8 = 3;

/// A thread's heap (see the module docs). Thread-local, so plain cells.
struct Heap {
    /// This heap's id, 0 until its first allocation.
    id: Cell<usize>,
    /// One free list per size class, linked through `FreeBlock::next`.
    free: [Cell<*mut FreeBlock>; CLASSES],
    /// Every segment this heap owns, linked through `Segment::next`, the
    /// last one taken first: new blocks are carved from that one.
    segments: Cell<*mut Segment>,
    /// How many segments this heap has mapped: the first is backed on
    /// touch, the others up front (module docs).
    mapped: Cell<usize>,
}

thread_local! {
    static HEAP: Heap = const {
        Heap {
            id: Cell::new(0),
            free: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            segments: Cell::new(ptr::null_mut()),
            mapped: Cell::new(0),
        }
    };
}

/// A block for a cell of `size` bytes aligned to `align`, or `None` if the
/// arena does not serve it (too large, over-aligned, the arena is off,
/// this thread's heap is gone, or the system gave no memory): the caller
/// then uses the global allocator.
#[inline]
pub(crate) fn alloc(size: usize, align: usize) -> Option<NonNull<u8>> {
    if size == 0 || size > MAX_SIZE || align > GRAIN || !enabled() {
        return None;
    }
    let class = class_of(size);
    HEAP.try_with(|heap| heap.alloc(class)).ok().flatten()
}

/// Gives back a block from [`alloc`].
///
/// # Safety
/// `block` came from `alloc(size, _)` with this same `size`, nobody uses
/// it any more, and it is freed once.
#[inline]
pub(crate) unsafe fn free(block: NonNull<u8>, size: usize) {
    let class = class_of(size);
    let block = block.as_ptr().cast::<FreeBlock>();
    let segment = segment_of(block);
    let freed_here = HEAP
        .try_with(|heap| {
            let id = heap.id.get();
            // SAFETY: segments are never unmapped, and `owner` is atomic.
            // Only this thread can make the owner its own id (by taking
            // the segment), so equality here stays true while we push.
            if id != 0 && unsafe { (*segment).shared.owner.load(Ordering::Relaxed) } == id {
                // SAFETY: the block is ours to reuse (caller), and this
                // heap owns its segment.
                unsafe { heap.push(class, block) };
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if !freed_here {
        // SAFETY: the caller gave the block up; the segment lives forever.
        unsafe { (*segment).shared.remote.push(block, class) };
    }
}

/// The size class of a cell of `size` bytes (1 to `MAX_SIZE`): its
/// blocks are `(class + 1) * GRAIN` bytes.
#[inline]
fn class_of(size: usize) -> usize {
    (size - 1) / GRAIN
}

/// Whether the arena serves tasks (`SPINDLE_TASK_ARENA` is not `off`).
#[inline]
fn enabled() -> bool {
    mode() != MODE_OFF
}

/// `SPINDLE_TASK_ARENA`, read on the first call. Two threads may both read
/// it; they store the same answer.
#[inline]
fn mode() -> u8 {
    match MODE.load(Ordering::Relaxed) {
        MODE_UNREAD => {
            let mode = match std::env::var_os("SPINDLE_TASK_ARENA") {
                Some(v) if v == "off" => MODE_OFF,
                Some(v) if v == "huge-pages" => MODE_HUGE_PAGES,
                _ => MODE_ON,
            };
            MODE.store(mode, Ordering::Relaxed);
            mode
        }
        mode => mode,
    }
}

/// The segment a block lies in: its address rounded down to `SEGMENT`.
fn segment_of(block: *mut FreeBlock) -> *mut Segment {
    block.map_addr(|addr| addr & !(SEGMENT - 1)).cast()
}

impl Heap {
    #[inline]
    fn alloc(&self, class: usize) -> Option<NonNull<u8>> {
        if let Some(block) = self.pop(class) {
            return Some(block);
        }
        if let Some(block) = self.carve((class + 1) * GRAIN) {
            return Some(block);
        }
        self.alloc_slow(class)
    }

    /// Takes the first block of `class`'s free list.
    #[inline]
    fn pop(&self, class: usize) -> Option<NonNull<u8>> {
        let head = NonNull::new(self.free[class].get())?;
        // SAFETY: a block on our list is free and in one of our segments;
        // its first word is the link we wrote when we pushed it.
        self.free[class].set(unsafe { (*head.as_ptr()).next });
        Some(head.cast())
    }

    /// Puts `block` on `class`'s free list.
    ///
    /// # Safety
    /// `block` is a free block of `class` in one of this heap's segments,
    /// on no list.
    #[inline]
    unsafe fn push(&self, class: usize, block: *mut FreeBlock) {
        // SAFETY: the block is free and ours (caller); blocks are 16-byte
        // aligned and at least 16 bytes, room for a `FreeBlock`.
        unsafe {
            block.write(FreeBlock {
                next: self.free[class].get(),
                class,
            })
        };
        self.free[class].set(block);
    }

    /// `alloc` when the list is empty and the current segment used up.
    #[cold]
    fn alloc_slow(&self, class: usize) -> Option<NonNull<u8>> {
        let size = (class + 1) * GRAIN;
        self.collect();
        if let Some(block) = self.pop(class) {
            return Some(block);
        }
        // A segment adopted from a heap that ended may be used up and hold
        // nothing of this class; a freshly mapped one always has room. So
        // this loop ends.
        loop {
            self.add_segment()?;
            if let Some(block) = self.pop(class).or_else(|| self.carve(size)) {
                return Some(block);
            }
        }
    }

    /// Cuts `size` bytes off the unused tail of the segment taken last.
    #[inline]
    fn carve(&self, size: usize) -> Option<NonNull<u8>> {
        let segment = self.segments.get();
        if segment.is_null() {
            return None;
        }
        // SAFETY: one of our segments, mapped for good; its `bump` is ours
        // alone.
        let bump = unsafe { &(*segment).owned.bump };
        let offset = bump.get();
        if SEGMENT - offset < size {
            return None;
        }
        bump.set(offset + size);
        // SAFETY: `offset + size <= SEGMENT`, inside the mapping.
        NonNull::new(unsafe { segment.cast::<u8>().add(offset) })
    }

    /// Moves every block other threads freed into our segments onto our
    /// free lists.
    fn collect(&self) {
        let mut segment = self.segments.get();
        while !segment.is_null() {
            // SAFETY: one of our segments; `next` is ours alone.
            unsafe {
                self.collect_from(segment);
                segment = (*segment).owned.next.get();
            }
        }
    }

    /// # Safety
    /// `segment` is one of this heap's.
    unsafe fn collect_from(&self, segment: *mut Segment) {
        // SAFETY: the caller says the segment is ours; only the owner
        // takes its remote stack.
        let mut block = unsafe { (*segment).shared.remote.take_all() };
        while !block.is_null() {
            // SAFETY: each block on the stack was pushed whole (link and
            // class, published by the push's Release, seen through
            // take_all's Acquire), and is now ours alone.
            unsafe {
                let FreeBlock { next, class } = block.read();
                self.push(class, block);
                block = next;
            }
        }
    }

    /// This heap's id, drawn on first use.
    fn id(&self) -> usize {
        match self.id.get() {
            0 => {
                let id = NEXT_HEAP_ID.fetch_add(1, Ordering::Relaxed);
                self.id.set(id);
                id
            }
            id => id,
        }
    }

    /// Takes a segment (an abandoned one if there is one, else a new
    /// mapping), makes it ours and first on our list (the one to carve
    /// from), and collects its remote frees. `None` if the system has no
    /// memory to give.
    fn add_segment(&self) -> Option<()> {
        let id = self.id();
        let adopted = ABANDONED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let segment = match adopted {
            // The mutex ordered the old owner's last writes before this.
            Some(SegmentPtr(segment)) => segment,
            None => {
                let backing = match (self.mapped.get(), mode()) {
                    (0, _) => Backing::OnTouch,
                    (_, MODE_HUGE_PAGES) => Backing::HugePages,
                    _ => Backing::Populated,
                };
                let segment = map_segment(backing)?;
                self.mapped.set(self.mapped.get() + 1);
                segment
            }
        };
        // SAFETY: the segment is mapped for good and was owned by nobody:
        // fresh, or popped from ABANDONED (each segment is there once). So
        // its owner-only fields are ours from here on.
        unsafe {
            (*segment).shared.owner.store(id, Ordering::Relaxed);
            (*segment).owned.next.set(self.segments.get());
            self.segments.set(segment);
            self.collect_from(segment);
        }
        Some(())
    }
}

impl Drop for Heap {
    /// The thread is ending: hands every free block to its segment's
    /// remote stack and every segment to `ABANDONED` (module docs).
    fn drop(&mut self) {
        if self.segments.get().is_null() {
            // A thread that never allocated (it only freed tasks, or
            // nothing): nothing to hand on.
            return;
        }
        // Each list goes back as runs of neighbours from the same segment,
        // one compare-and-swap a run: a list freed in order is mostly long
        // runs, and a thread that ends with a million free blocks would
        // otherwise make a million atomic pushes.
        for list in &self.free {
            let mut block = list.replace(ptr::null_mut());
            while !block.is_null() {
                let segment = segment_of(block);
                let first = block;
                let mut last = block;
                // SAFETY: blocks on our list are free, in our segments, and
                // linked with their class written (`push`); a run of them,
                // cut off the list, goes onto its segment's stack whole.
                unsafe {
                    block = (*last).next;
                    while !block.is_null() && segment_of(block) == segment {
                        last = block;
                        block = (*last).next;
                    }
                    (*segment).shared.remote.push_chain(first, last);
                }
            }
        }
        let mut abandoned = ABANDONED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut segment = self.segments.replace(ptr::null_mut());
        while !segment.is_null() {
            // SAFETY: one of our segments; once its owner is 0 and it is in
            // ABANDONED (under the lock), no field but the atomics is ours.
            unsafe {
                let next = (*segment).owned.next.get();
                (*segment).shared.owner.store(0, Ordering::Relaxed);
                abandoned.push(SegmentPtr(segment));
                segment = next;
            }
        }
    }
}

/// Maps a new segment, `SEGMENT` bytes aligned to `SEGMENT`, and writes its
/// How a new segment's memory is backed (module docs).
#[derive(Clone, Copy)]
enum Backing {
    /// Small pages, each on its first touch.
    OnTouch,
    /// Small pages, all at once now.
    Populated,
    /// Advised onto huge pages.
    HugePages,
}

/// Maps a new segment, `SEGMENT` bytes aligned to `SEGMENT`, backs it as
/// `backing` says, and writes its header.
fn map_segment(backing: Backing) -> Option<*mut Segment> {
    // Map twice the size, then unmap what lies outside the aligned middle.
    let region = memory::map_private(2 * SEGMENT).ok()?;
    let start = region.as_ptr() as usize;
    let head = start.next_multiple_of(SEGMENT) - start;
    let tail = SEGMENT - head;
    // SAFETY: `head < SEGMENT`, so the segment, `SEGMENT` bytes from
    // `head`, lies inside the `2 * SEGMENT` bytes mapped.
    let segment = unsafe { NonNull::new_unchecked(region.as_ptr().add(head)) };
    // SAFETY: both ranges are page-aligned (mmap's start and the segment's
    // edges are), lie in the mapping just made outside the segment, and
    // nothing refers to them.
    unsafe {
        if head > 0 {
            memory::unmap(region, head);
        }
        if tail > 0 {
            memory::unmap(NonNull::new_unchecked(segment.as_ptr().add(SEGMENT)), tail);
        }
    }
    // Both are advice: if the kernel declines, pages fault in on touch.
    match backing {
        Backing::OnTouch => {}
        Backing::Populated => drop(memory::populate(segment, SEGMENT)),
        Backing::HugePages => drop(memory::advise_huge_pages(segment, SEGMENT)),
    }
    let segment = segment.cast::<Segment>().as_ptr();
    // SAFETY: the segment is ours, aligned to `SEGMENT`, zeroed, and nothing
    // refers to it yet; the header fits before the first block.
    unsafe {
        segment.write(Segment {
            shared: SegmentShared {
                owner: AtomicUsize::new(0),
                remote: RemoteFrees::new(),
            },
            owned: SegmentOwned {
                bump: Cell::new(FIRST_BLOCK),
                next: Cell::new(ptr::null_mut()),
            },
        });
    }
    Some(segment)
}

#[cfg(all(test, not(loom)))]
mod tests;
