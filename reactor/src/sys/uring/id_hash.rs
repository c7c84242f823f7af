//! The hasher of the io_uring poller's table of request ids.
//!
//! Request ids are sequential `u64`s, so they need no protection against
//! chosen keys: one multiply by an odd constant (Fibonacci hashing) spreads
//! consecutive ids over the table's buckets, for a fraction of the cost of
//! the standard library's SipHash.

/// Builds an [`IdHasher`] for each lookup.
#[derive(Default, Clone, Copy)]
pub(super) struct BuildIdHasher;

/// Hashes one request id.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl std::hash::BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
