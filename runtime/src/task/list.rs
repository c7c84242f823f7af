//! [`TaskList`]: the owner's list of every task not yet finished, one
//! machine word per slot.
//!
//! The executor keeps one reference to each of its unfinished tasks here,
//! so shutdown can find and drop every future; the slot's index lives in
//! the task header (`owned_index`), so completion removes the task in O(1).
//! It is a slab (a vector of slots plus a list of free ones), but smaller
//! than a general one: `slab::Slab<TaskRef>` spends 16 bytes a slot (its
//! vacant variant's index cannot share the pointer's word), this one 8. A
//! slot holds either a task pointer (even: headers are 8-byte aligned) or,
//! when free, the index of the next free slot shifted left once with the
//! low bit set (odd). A million tasks save 8 MB, and the slots they touch.
//!
//! Only the owner thread uses a `TaskList` (it sits in a `RefCell` in
//! `Local`).

use std::ptr::NonNull;

use super::raw::{Header, TaskRef};

/// Marks a free slot (see the module docs).
const FREE: usize = 1;
/// End of the free list.
const NO_FREE: usize = usize::MAX >> 1;
/// Slot indices stay below the header's `NOT_OWNED` and `RELEASED`.
const MAX_TASKS: usize = u32::MAX as usize - 1;

/// The unfinished tasks of one runtime, each holding one reference.
pub(crate) struct TaskList {
    slots: Vec<usize>,
    /// First free slot, or `NO_FREE`.
    free_head: usize,
    len: usize,
}

impl TaskList {
    pub(crate) fn new() -> TaskList {
        TaskList {
            slots: Vec::new(),
            free_head: NO_FREE,
            len: 0,
        }
    }

    /// Number of tasks in the list.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Stores the task's reference; returns its slot index (a `u32`, as
    /// kept in the task header).
    #[inline]
    pub(crate) fn insert(&mut self, task: TaskRef) -> u32 {
        let word = task.into_raw().as_ptr() as usize;
        debug_assert_eq!(word & FREE, 0, "task headers are aligned");
        self.len += 1;
        let index = if self.free_head == NO_FREE {
            self.slots.push(word);
            self.slots.len() - 1
        } else {
            let index = self.free_head;
            self.free_head = self.slots[index] >> 1;
            self.slots[index] = word;
            index
        };
        // The two highest values mean "not owned" and "released".
        assert!(index < MAX_TASKS, "more than 4 billion unfinished tasks");
        index as u32
    }

    /// Takes the task out of slot `index`, if that slot holds one.
    #[inline]
    pub(crate) fn try_remove(&mut self, index: u32) -> Option<TaskRef> {
        let index = index as usize;
        let word = *self.slots.get(index)?;
        if word & FREE != 0 {
            return None;
        }
        self.slots[index] = (self.free_head << 1) | FREE;
        self.free_head = index;
        self.len -= 1;
        // SAFETY: an even word is a task pointer stored by `insert`, whose
        // reference the list has owned since; the slot no longer holds it.
        Some(unsafe { take(word) })
    }

    /// The tasks in the list, left in it (the list keeps its references).
    pub(crate) fn iter(&self) -> impl Iterator<Item = NonNull<Header>> + '_ {
        self.slots
            .iter()
            .filter(|&&word| word & FREE == 0)
            // SAFETY: an even word is a task pointer stored by `insert`.
            .map(|&word| unsafe { NonNull::new_unchecked(word as *mut Header) })
    }

    /// Takes every task out, leaving the list empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = TaskRef> {
        self.free_head = NO_FREE;
        self.len = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .filter(|word| word & FREE == 0)
            // SAFETY: as in `try_remove`: each even word is a reference the
            // list owned, taken out of the list exactly once here.
            .map(|word| unsafe { take(word) })
    }
}

/// # Safety
/// `word` is a task pointer whose reference the caller owns and gives up.
unsafe fn take(word: usize) -> TaskRef {
    // SAFETY: by the caller's promise `word` is a non-null task pointer
    // with a reference to hand over.
    unsafe { TaskRef::from_raw(NonNull::new_unchecked(word as *mut Header)) }
}

impl Drop for TaskList {
    fn drop(&mut self) {
        // Shutdown drains the list; anything left still gives back its
        // references rather than leak them.
        self.drain().for_each(drop);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::raw::allocate;

    #[test]
    fn a_slot_is_one_word_and_free_slots_are_reused() {
        let rt = crate::Runtime::new().unwrap();
        rt.block_on(async {
            let mut list = TaskList::new();
            let shared = crate::executor::context::current_shared().unwrap();
            let mut keep = Vec::new();
            let mut indices = Vec::new();
            for i in 0..10u64 {
                let (queued, owned, join) = allocate(async move { i }, shared.clone(), u32::MAX);
                indices.push(list.insert(owned));
                keep.push((queued, join));
            }
            assert_eq!(indices, (0..10).collect::<Vec<u32>>());
            assert_eq!(list.len(), 10);
            let removed: Vec<TaskRef> = [3, 7, 0]
                .iter()
                .map(|&i| list.try_remove(i).expect("slot was full"))
                .collect();
            assert!(list.try_remove(3).is_none(), "a free slot gave a task");
            assert!(list.try_remove(99).is_none());
            assert!(list.try_remove(u32::MAX).is_none());
            assert_eq!(list.len(), 7);
            // Freed slots come back, most recently freed first, before
            // the list grows.
            for (expect, task) in [0, 7, 3].into_iter().zip(removed) {
                assert_eq!(list.insert(task), expect);
            }
            assert_eq!(list.slots.len(), 10);
            assert_eq!(list.drain().count(), 10);
            assert_eq!(list.len(), 0);
            // Each task is still held by its queue reference and handle;
            // complete them so the handles' drops free them.
            for (queued, join) in keep {
                crate::executor::cancel_and_complete(&queued);
                drop(queued);
                drop(crate::task::JoinHandle::<u64>::new(join));
            }
        });
    }
}
