//! [`TimerWheel`]: a hierarchical timing wheel with 1 ms resolution.
//!
//! # How the wheel works
//!
//! Time is counted in ticks of one millisecond since the wheel was made.
//! There are six levels of 64 slots. A slot on level 0 covers 1 ms, on
//! level 1 64 ms, on level 2 about 4 s, and so on up to level 5, whose slots
//! cover about 12 days; the whole wheel spans about 2.2 years.
//!
//! A timer goes on the *lowest* level whose slot can tell it apart from the
//! current time: the level is the position of the highest bit in which the
//! deadline differs from `elapsed`, divided by six. So a timer 5 ms away
//! sits on level 0, one 3 s away on level 1. Within a level the slot is the
//! six bits of the deadline belonging to that level.
//!
//! Each slot is a doubly linked list threaded through a slab of entries, and
//! each level keeps a 64-bit mask of its non-empty slots. Inserting and
//! cancelling are therefore O(1): link or unlink one entry, set or clear one
//! bit. Finding the next deadline is a few `trailing_zeros` over the masks.
//!
//! As time advances, the loop takes the next non-empty slot whose start has
//! come. Entries whose deadline has passed fire; the others (a level-1 slot
//! holds 64 ms worth of deadlines) are put back, one level lower. Every
//! timer is moved at most once per level, at most six times in all.
//!
//! # Deadlines beyond the wheel's reach
//!
//! A deadline more than [`MAX_TICKS`] ahead (about 2.2 years: `sleep` of
//! three years, or `Duration::MAX`, which `sleep` turns into 30 years) has
//! no slot of its own. Such an entry keeps its true deadline in `when` but
//! is *placed* at the farthest tick the wheel can tell apart, `elapsed +
//! MAX_TICKS` (see [`TimerWheel::position`]). When that slot comes round,
//! the entry is not due yet (`when > elapsed`), so it is put back like any
//! other cascading entry, now up to another 2.2 years ahead; it fires only
//! once its real deadline has passed. A sleep therefore never ends early,
//! however far away its deadline is, at the cost of one extra move every
//! 2.2 years.

use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::task::CompactWaker;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// The farthest deadline the wheel can hold, in ticks (about 2.2 years).
const MAX_TICKS: u64 = (1 << (SLOT_BITS as u64 * LEVELS as u64)) - 1;
/// "No entry": the end of a slot's list, an empty slot.
const NIL: u32 = u32::MAX;
/// `Entry::prev` of an entry in no list: its deadline passed (its waker
/// was taken and woken), or it was never linked.
const FIRED: u32 = u32::MAX;
/// Set in `Entry::prev` of the first entry of a slot's list; the other
/// bits say which slot (`level * SLOTS + slot`).
const HEAD_OF: u32 = 1 << 31;

/// One timer: 24 bytes, since a runtime may hold millions.
///
/// Where the entry is needs no field of its own: `prev` tells it, being
/// [`FIRED`] when the entry is in no list, `HEAD_OF | slot` when it is the
/// first of a slot's list (so unlinking it can update the slot's head),
/// and the previous entry's key otherwise (keys stay below `HEAD_OF`).
/// The waker is a [`CompactWaker`], one word (a task's waker is kept as
/// its header pointer); a fired entry's is empty, and the slab keeps its
/// vacant marker in that word's niche.
struct Entry {
    /// The tick at which the timer is due (not clamped to the wheel's reach).
    when: u64,
    waker: CompactWaker,
    prev: u32,
    next: u32,
}

impl Entry {
    fn is_linked(&self) -> bool {
        self.prev != FIRED
    }
}

struct Level {
    occupied: u64,
    heads: [u32; SLOTS],
}

/// All the live timers of one runtime.
pub(crate) struct TimerWheel {
    start: Instant,
    /// Ticks processed so far: every deadline at or before it has fired.
    elapsed: u64,
    levels: [Level; LEVELS],
    entries: Slab<Entry>,
}

impl TimerWheel {
    pub(crate) fn new(start: Instant) -> TimerWheel {
        TimerWheel {
            start,
            elapsed: 0,
            levels: std::array::from_fn(|_| Level {
                occupied: 0,
                heads: [NIL; SLOTS],
            }),
            entries: Slab::new(),
        }
    }

    /// The tick at which a deadline is due: rounded up, so a timer never
    /// fires early. Saturates at `u64::MAX` (half a billion years).
    fn tick_for(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.start).as_nanos();
        let ticks = nanos.div_ceil(1_000_000);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The tick whose slot an entry due at `when` goes into: `when` itself,
    /// or, for a deadline beyond the wheel's reach, the farthest tick the
    /// wheel can hold (the entry is moved on from there; see the module
    /// docs).
    fn position(&self, when: u64) -> u64 {
        when.min(self.elapsed.saturating_add(MAX_TICKS))
    }

    fn now_tick(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Number of timers registered (fired or not) and not yet removed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a timer; returns its key. A deadline already processed is
    /// marked fired at once (see [`poll`](Self::poll)).
    pub(crate) fn insert(&mut self, deadline: Instant, waker: &Waker) -> usize {
        self.insert_at_tick(self.tick_for(deadline), waker)
    }

    fn insert_at_tick(&mut self, when: u64, waker: &Waker) -> usize {
        let fired = when <= self.elapsed;
        let key = self.entries.insert(Entry {
            when,
            waker: if fired {
                CompactWaker::none()
            } else {
                CompactWaker::new(waker)
            },
            prev: FIRED,
            next: NIL,
        });
        assert!(key < HEAD_OF as usize, "more than 2 billion live timers");
        if !fired {
            self.link(key as u32);
        }
        key
    }

    /// Adds the timer of a [`time::advance`](super::advance): due at the
    /// tick `deadline` falls in (rounded *down*, unlike [`insert`](Self::insert)),
    /// so it fires at the first turn that processes the clock's time
    /// `deadline`, together with every other timer due by then.
    pub(crate) fn insert_on_turn(&mut self, deadline: Instant, waker: &Waker) -> usize {
        self.insert_at_tick(self.now_tick(deadline), waker)
    }

    /// True if the timer fired; otherwise makes sure `waker` is the one that
    /// will be woken.
    pub(crate) fn poll(&mut self, key: usize, waker: &Waker) -> bool {
        let entry = &mut self.entries[key];
        if !entry.is_linked() {
            return true;
        }
        if !entry.waker.will_wake(waker) {
            entry.waker = CompactWaker::new(waker);
        }
        false
    }

    /// Removes a timer, fired or not.
    pub(crate) fn remove(&mut self, key: usize) {
        if let Some(entry) = self.entries.get(key) {
            if entry.is_linked() {
                self.unlink(key as u32);
            }
            self.entries.remove(key);
        }
    }

    /// How long the loop may sleep before the next timer is due; `None` if
    /// there are no pending timers.
    pub(crate) fn next_timeout(&self, now: Instant) -> Option<Duration> {
        let (_, _, deadline) = self.next_expiration()?;
        let at = self.start + Duration::from_millis(deadline);
        Some(at.saturating_duration_since(now))
    }

    /// Fires every timer due at `now`, pushing their wakers onto `fired`.
    pub(crate) fn advance(&mut self, now: Instant, fired: &mut Vec<Waker>) {
        let now = self.now_tick(now);
        while let Some((level, slot, deadline)) = self.next_expiration() {
            if deadline > now {
                break;
            }
            self.elapsed = deadline;
            let lvl = &mut self.levels[level];
            let mut key = std::mem::replace(&mut lvl.heads[slot], NIL);
            lvl.occupied &= !(1 << slot);
            while key != NIL {
                let entry = &mut self.entries[key as usize];
                let next = entry.next;
                entry.prev = FIRED;
                entry.next = NIL;
                if entry.when <= self.elapsed {
                    if let Some(waker) = entry.waker.take() {
                        fired.push(waker);
                    }
                } else {
                    // Due later in this slot's span (goes one level lower),
                    // or beyond the reach (goes back to the far end).
                    self.link(key);
                }
                key = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// The level for an entry placed at tick `position` (at most
    /// `MAX_TICKS` ahead of `elapsed`).
    fn level_for(&self, position: u64) -> usize {
        let mut masked = (self.elapsed ^ position) | (SLOTS as u64 - 1);
        if masked >= MAX_TICKS {
            masked = MAX_TICKS - 1;
        }
        let significant = 63 - masked.leading_zeros() as usize;
        significant / SLOT_BITS as usize
    }

    fn link(&mut self, key: u32) {
        let position = self.position(self.entries[key as usize].when);
        let level = self.level_for(position);
        let slot = ((position >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
        let head = self.levels[level].heads[slot];
        if head != NIL {
            self.entries[head as usize].prev = key;
        }
        let entry = &mut self.entries[key as usize];
        entry.prev = HEAD_OF | (level * SLOTS + slot) as u32;
        entry.next = head;
        let lvl = &mut self.levels[level];
        lvl.heads[slot] = key;
        lvl.occupied |= 1 << slot;
    }

    fn unlink(&mut self, key: u32) {
        let entry = &self.entries[key as usize];
        if !entry.is_linked() {
            return;
        }
        let (prev, next) = (entry.prev, entry.next);
        if prev & HEAD_OF != 0 {
            // First of its slot: the next entry (if any) becomes the head
            // and inherits the slot marker, copied below.
            let code = (prev & !HEAD_OF) as usize;
            let (level, slot) = (code / SLOTS, code % SLOTS);
            self.levels[level].heads[slot] = next;
            if next == NIL {
                self.levels[level].occupied &= !(1 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        let entry = &mut self.entries[key as usize];
        entry.prev = FIRED;
        entry.next = NIL;
    }

    /// The first non-empty slot at or after the current time, lowest level
    /// first, with the tick at which that slot starts.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let slot_range = 1u64 << (level as u32 * SLOT_BITS);
            let level_range = slot_range << SLOT_BITS;
            let now_slot = self.elapsed / slot_range;
            let rotated = lvl.occupied.rotate_right((now_slot % SLOTS as u64) as u32);
            let slot = ((rotated.trailing_zeros() as u64 + now_slot) % SLOTS as u64) as usize;
            let level_start = self.elapsed & !(level_range - 1);
            let mut deadline = level_start + slot as u64 * slot_range;
            if deadline <= self.elapsed && level > 0 {
                // The slot lies "behind" us on this level: it is for the
                // next turn of the level.
                deadline += level_range;
            }
            return Some((level, slot, deadline.max(self.elapsed)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_entry_is_24_bytes() {
        // A million sleeping tasks hold a million entries: each byte here
        // is a megabyte of their memory (the slab keeps its vacant marker
        // in the waker's niche, so it adds nothing).
        assert_eq!(std::mem::size_of::<Entry>(), 24);
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 24);
    }

    #[test]
    fn removing_heads_middles_and_tails_keeps_every_slot_list_whole() {
        // Many timers share a few slots; removing entries at every
        // position of a list (head, middle, tail) must leave the others
        // firing on time and the removed ones never.
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let deadlines: Vec<u64> = (0..300).map(|i| 1 + (i % 5) * 70).collect();
        let keys: Vec<usize> = deadlines
            .iter()
            .map(|&d| wheel.insert(start + ms(d), &waker))
            .collect();
        let removed = |i: usize| i.is_multiple_of(3) || i.is_multiple_of(7);
        for (i, &k) in keys.iter().enumerate() {
            if removed(i) {
                wheel.remove(k);
            }
        }
        let mut fired = Vec::new();
        for t in 0..=281 {
            wheel.advance(start + ms(t), &mut fired);
            for (i, &k) in keys.iter().enumerate() {
                if !removed(i) {
                    assert_eq!(wheel.poll(k, &waker), deadlines[i] <= t, "timer {i} at {t}");
                }
            }
        }
        let kept = (0..keys.len()).filter(|&i| !removed(i)).count();
        assert_eq!(fired.len(), kept);
        assert_eq!(wheel.next_timeout(start + ms(281)), None);
    }

    #[test]
    fn fires_each_timer_once_at_or_after_its_deadline() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        // Deadlines spread over every level up to ~12 days.
        let deadlines: Vec<u64> = vec![
            1,
            2,
            63,
            64,
            65,
            100,
            4095,
            4096,
            4097,
            300_000,
            20_000_000,
            1_000_000_000,
        ];
        let keys: Vec<usize> = deadlines
            .iter()
            .map(|&d| wheel.insert(start + ms(d), &waker))
            .collect();
        let mut fired = Vec::new();
        for (i, &d) in deadlines.iter().enumerate() {
            wheel.advance(start + ms(d - 1), &mut fired);
            assert!(!wheel.poll(keys[i], &waker), "timer {d} fired early");
            wheel.advance(start + ms(d), &mut fired);
            assert!(wheel.poll(keys[i], &waker), "timer {d} did not fire");
            assert_eq!(fired.len(), i + 1);
        }
        for w in fired.drain(..) {
            w.wake();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), deadlines.len());
    }

    #[test]
    fn removed_timer_never_fires_and_next_timeout_follows() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let a = wheel.insert(start + ms(10), &waker);
        let b = wheel.insert(start + ms(20), &waker);
        assert_eq!(wheel.next_timeout(start), Some(ms(10)));
        wheel.remove(a);
        assert_eq!(wheel.next_timeout(start), Some(ms(20)));
        let mut fired = Vec::new();
        wheel.advance(start + ms(15), &mut fired);
        assert!(fired.is_empty());
        wheel.advance(start + ms(20), &mut fired);
        assert_eq!(fired.len(), 1);
        assert!(wheel.poll(b, &waker));
        wheel.remove(b);
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_timeout(start), None);
    }

    #[test]
    fn past_deadline_is_fired_on_insert() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut fired = Vec::new();
        wheel.advance(start + ms(50), &mut fired);
        let k = wheel.insert(start + ms(10), &waker);
        assert!(wheel.poll(k, &waker));
    }

    #[test]
    fn deadline_beyond_the_reach_fires_when_due_not_at_the_reach() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        // Three years: further than the wheel's ~2.18-year reach.
        let due = 3 * 365 * 86_400_000;
        assert!(due > MAX_TICKS);
        let far = wheel.insert(start + ms(due), &waker);
        let near = wheel.insert(start + ms(5), &waker);
        let mut fired = Vec::new();
        wheel.advance(start + ms(5), &mut fired);
        assert!(wheel.poll(near, &waker));
        assert!(!wheel.poll(far, &waker));
        // The loop is told to wake by the far end of the reach at the
        // latest, so it can move the entry on; never later than the deadline.
        let wait = wheel.next_timeout(start + ms(5)).unwrap();
        assert!(wait <= ms(MAX_TICKS) && wait <= ms(due - 5), "{wait:?}");
        // The tick the deadline used to be clamped to passes: not due yet.
        for t in [MAX_TICKS, MAX_TICKS + 1, MAX_TICKS + 5, due - 1000] {
            wheel.advance(start + ms(t), &mut fired);
            assert!(!wheel.poll(far, &waker), "fired at tick {t}, due at {due}");
        }
        assert_eq!(fired.len(), 1);
        let wait = wheel.next_timeout(start + ms(due - 10)).unwrap();
        assert!(wait <= ms(10), "{wait:?}");
        wheel.advance(start + ms(due - 1), &mut fired);
        assert!(!wheel.poll(far, &waker), "fired a millisecond early");
        wheel.advance(start + ms(due), &mut fired);
        assert!(wheel.poll(far, &waker), "did not fire when due");
        assert_eq!(fired.len(), 2);
        for w in fired.drain(..) {
            w.wake();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        wheel.remove(far);
        wheel.remove(near);
        assert_eq!(wheel.next_timeout(start + ms(due)), None);
    }

    #[test]
    fn far_deadlines_in_random_order_never_fire_early_or_late() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut seed = 0x9E3779B97F4A7C15u64;
        let mut keys = Vec::new();
        // Up to ten times the reach, so entries are moved on several times.
        let span = 10 * MAX_TICKS;
        for _ in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = 1 + seed % span;
            keys.push((d, wheel.insert(start + ms(d), &waker)));
        }
        let mut fired = Vec::new();
        let mut t = 0;
        let step = MAX_TICKS / 7 + 12_345;
        while t <= span {
            t += step;
            wheel.advance(start + ms(t), &mut fired);
            for &(d, k) in &keys {
                assert_eq!(wheel.poll(k, &waker), d <= t, "deadline {d} at time {t}");
            }
        }
        assert_eq!(fired.len(), keys.len());
    }

    #[test]
    fn unrepresentable_deadlines_saturate_and_stay_pending() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        // Five hundred million years of milliseconds overflow u64 ticks.
        let far = start + Duration::from_secs(u64::MAX / 1000 * 2);
        let key = wheel.insert(far, &waker);
        let mut fired = Vec::new();
        for years in [1, 3, 10, 100] {
            wheel.advance(
                start + Duration::from_secs(years * 365 * 86_400),
                &mut fired,
            );
            assert!(!wheel.poll(key, &waker), "fired after {years} years");
            assert!(wheel.next_timeout(start).is_some());
        }
        assert!(fired.is_empty());
    }

    #[test]
    fn many_timers_in_random_order_fire_in_order() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut keys = Vec::new();
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = 1 + seed % 200_000;
            keys.push((d, wheel.insert(start + ms(d), &waker)));
        }
        let mut fired = Vec::new();
        let mut t = 0;
        while t <= 200_000 {
            t += 997;
            wheel.advance(start + ms(t), &mut fired);
            for &(d, k) in &keys {
                assert_eq!(wheel.poll(k, &waker), d <= t, "deadline {d} at time {t}");
            }
        }
        assert_eq!(fired.len(), 10_000);
    }
}
