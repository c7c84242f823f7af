//! Calling a function by its offset in another process, checking that a
//! function lives in the program's own image, and the shared "running
//! job" word. (How the processes start is in `startup.rs`.)
//!
//! # Calling `fn(A) -> R` in another process
//!
//! A function pointer is an address, and addresses differ between two runs
//! of a program (ASLR loads the executable at a random base). But *both
//! processes run the same file*, so every function sits at the same
//! distance from every other one. The parent therefore sends
//! `address(f) - address(worker_main)`, and the worker adds its own
//! `address(worker_main)` back. With `fork` the address space is copied and
//! the offsets work the same way.
//!
//! This only holds for code in the *same loaded object* as `worker_main`,
//! normally the program's executable. A function in a shared library
//! (libc's, or Rust's own `libstd-*.so` under `-C prefer-dynamic`) sits
//! at a distance that changes from run to run: its offset would send the
//! worker into garbage. So [`call_site`] checks the function and its glue
//! against the executable segments of that object (found once with
//! `dl_iterate_phdr`, then two comparisons per call) and refuses anything
//! else with an error, before anything is sent.
//!
//! The worker cannot know `A` and `R`, so the parent also sends the offset
//! of `trampoline::<A, R>`, the monomorphized glue that decodes an `A`,
//! calls the function and encodes the `R`. The glue first compares a hash
//! of the types it was compiled for with the hash the parent computed for
//! the call; before any task, the parent checks the worker's HELLO "probe"
//! offset against its own, which fails if the worker is a different build.

use std::any::{type_name, TypeId};
use std::ffi::{c_int, c_void, CStr};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::frame::i64_at;
use super::wire::{from_bytes, take_outgoing_fds, with_incoming_fds, Wire};
use crate::sys::{fd as sys_fd, memory};

/// The type-erased signature every `trampoline::<A, R>` has: function,
/// type hash, argument bytes and the descriptors that came with them, the
/// output buffer; gives back the descriptors the result's encoding holds.
type Trampoline = fn(usize, u64, &[u8], Vec<OwnedFd>, &mut Vec<u8>) -> Result<Vec<OwnedFd>, String>;
/// The signature of [`invoke`], whose offset is the HELLO probe.
type Invoke = fn(&[u8], Vec<OwnedFd>, &mut Vec<u8>) -> Result<Vec<OwnedFd>, String>;

/// What a TASK frame says about the function to call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSite {
    pub(crate) trampoline: i64,
    pub(crate) function: i64,
    pub(crate) type_hash: u64,
}

impl CallSite {
    /// Appends the call header of a TASK body (the argument follows it).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.trampoline.to_le_bytes());
        out.extend_from_slice(&self.function.to_le_bytes());
        out.extend_from_slice(&self.type_hash.to_le_bytes());
    }
}

/// The reference point: a function both processes have at the same offset.
fn anchor() -> usize {
    super::worker_main as fn() as usize
}

fn offset_of(address: usize) -> i64 {
    address.wrapping_sub(anchor()) as i64
}

fn address_of(offset: i64) -> usize {
    anchor().wrapping_add(offset as usize)
}

/// Describes a call of `function` for a TASK frame, or says why it cannot
/// be called in a worker (it lives outside the program's image).
pub(crate) fn call_site<A: Wire + 'static, R: Wire + 'static>(
    function: fn(A) -> R,
) -> Result<CallSite, String> {
    let glue = trampoline::<A, R> as Trampoline as usize;
    for address in [function as usize, glue] {
        if !in_image(address) {
            return Err(format!(
                "the function at {address:#x} ({}) is not in the program's executable, \
                 so a worker cannot find it: a ProcessPool can only run functions \
                 compiled into the program itself",
                object_name(address)
            ));
        }
    }
    Ok(CallSite {
        trampoline: offset_of(glue),
        function: offset_of(function as usize),
        type_hash: type_hash::<A, R>(),
    })
}

/// At most this many executable segments are recorded for the image.
const MAX_SEGMENTS: usize = 8;

/// The executable segments (`[start, end)` addresses) of the loaded object
/// that holds [`anchor`]: the code whose offsets are the same in every
/// process running this program.
#[derive(Clone, Copy)]
struct Image {
    segments: [(usize, usize); MAX_SEGMENTS],
    len: usize,
}

/// The state of the `dl_iterate_phdr` search.
struct Search {
    anchor: usize,
    found: Option<Image>,
}

extern "C" fn visit_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid `dl_phdr_info` for one loaded
    // object, whose `dlpi_phdr` points at `dlpi_phnum` program headers, and
    // hands back the `data` pointer we gave it: a live, exclusive `Search`.
    let (info, search, headers) = unsafe {
        let info = &*info;
        let headers = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
        (info, &mut *data.cast::<Search>(), headers)
    };
    let base = info.dlpi_addr as usize;
    let mut image = Image {
        segments: [(0, 0); MAX_SEGMENTS],
        len: 0,
    };
    for h in headers {
        if h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_X != 0 && image.len < MAX_SEGMENTS {
            let start = base.wrapping_add(h.p_vaddr as usize);
            image.segments[image.len] = (start, start.wrapping_add(h.p_memsz as usize));
            image.len += 1;
        }
    }
    if image.contains(search.anchor) {
        search.found = Some(image);
        return 1; // stop
    }
    0
}

impl Image {
    fn contains(&self, address: usize) -> bool {
        self.segments[..self.len]
            .iter()
            .any(|&(start, end)| (start..end).contains(&address))
    }

    fn find() -> Option<Image> {
        let mut search = Search {
            anchor: anchor(),
            found: None,
        };
        // SAFETY: `visit_object` matches the callback type and only uses
        // `data` as the `Search` passed here, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(visit_object), (&mut search as *mut Search).cast()) };
        search.found
    }
}

/// True if `address` is code of the program's own image (see the module docs).
pub(super) fn in_image(address: usize) -> bool {
    static IMAGE: OnceLock<Option<Image>> = OnceLock::new();
    IMAGE
        .get_or_init(Image::find)
        .is_some_and(|image| image.contains(address))
}

/// The file of the loaded object holding `address`, for error messages.
fn object_name(address: usize) -> String {
    // SAFETY: an all-zero Dl_info is valid; dladdr fills it in or returns 0.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address value and writes `info`.
    if unsafe { libc::dladdr(address as *const c_void, &mut info) } == 0 || info.dli_fname.is_null()
    {
        return "in no loaded object".into();
    }
    // SAFETY: dli_fname points at the NUL-terminated path the loader keeps
    // for as long as the object stays loaded; we copy it at once.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    format!("in {}", name.to_string_lossy())
}

/// The offset the worker reports in HELLO and the parent checks.
pub(crate) fn probe() -> i64 {
    offset_of(invoke as Invoke as usize)
}

/// A hash of `fn(A) -> R`: FNV-1a of the type's name, mixed with its `TypeId`.
pub(super) fn type_hash<A: 'static, R: 'static>() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in type_name::<fn(A) -> R>().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    // `DefaultHasher::new()` uses fixed keys: the same in every process.
    let mut sip = DefaultHasher::new();
    TypeId::of::<fn(A) -> R>().hash(&mut sip);
    hash ^ sip.finish()
}

/// The glue run in the worker: check, decode, call, encode. The argument
/// decodes with `fds`, the descriptors that came with it; the result's
/// descriptors are given back, to travel with its bytes.
fn trampoline<A: Wire + 'static, R: Wire + 'static>(
    function: usize,
    hash: u64,
    input: &[u8],
    fds: Vec<OwnedFd>,
    out: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>, String> {
    let name = type_name::<fn(A) -> R>;
    if hash != type_hash::<A, R>() {
        return Err(format!("type check failed (the glue is for `{}`)", name()));
    }
    let arg: A = with_incoming_fds(fds, || from_bytes(input))
        .map_err(|e| format!("the argument of a `{}` did not decode: {e}", name()))?;
    // SAFETY: `function` is `anchor + offset`, where the parent computed the
    // offset in `call_site::<A, R>` from a real `fn(A) -> R` (never null) in
    // the same executable (checked through the HELLO probe), so it is that
    // function's address in this process. The type hash just matched, so
    // `A` and `R` are the types it was cast from. `fn` pointers are
    // pointer-sized.
    let function = unsafe { std::mem::transmute::<usize, fn(A) -> R>(function) };
    function(arg).encode(out);
    Ok(take_outgoing_fds())
}

/// Runs the call described by a TASK body, with `fds` the descriptors that
/// came with it, appending the encoded result to `out`; returns the
/// descriptors that must travel with the result.
pub(crate) fn invoke(
    body: &[u8],
    fds: Vec<OwnedFd>,
    out: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>, String> {
    let (Some(trampoline), Some(function), Some(hash)) =
        (i64_at(body, 0), i64_at(body, 8), i64_at(body, 16))
    else {
        return Err("truncated task header".into());
    };
    let (trampoline, function) = (address_of(trampoline), address_of(function));
    if trampoline == 0 || function == 0 {
        return Err("null function offset".into());
    }
    // SAFETY: TASK frames come only from our parent, which runs the same
    // executable (it checked our HELLO probe) and wrote this offset in
    // `call_site` from `trampoline::<A, R> as Trampoline` for some `A`, `R`:
    // the address is such a function, and every instance has exactly the
    // `Trampoline` signature. The trampoline checks the rest.
    let trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(trampoline) };
    trampoline(function, hash as u64, &body[24..], fds, out)
}

/// Eight bytes of memory shared by the parent and one worker: the id of
/// the task the worker is running (0 between tasks). When a worker dies,
/// the parent reads it to know which task to blame.
pub(super) struct RunSlot {
    word: NonNull<AtomicU64>,
}

// SAFETY: the mapping is only accessed through the atomic; it is owned by
// this value and unmapped once, in Drop.
unsafe impl Send for RunSlot {}
// SAFETY: as above: shared access is atomic.
unsafe impl Sync for RunSlot {}

const SLOT_LEN: usize = 8;

impl RunSlot {
    /// A new memfd-backed slot (the fd is close-on-exec) and its mapping.
    pub(super) fn create() -> io::Result<(RunSlot, OwnedFd)> {
        let fd = sys_fd::memfd(c"spindle-pool-slot", SLOT_LEN)?;
        Ok((RunSlot::map(&fd)?, fd))
    }

    /// Maps the slot behind `fd` (the worker's side). The mapping stays
    /// valid after `fd` is closed.
    pub(super) fn map(fd: &OwnedFd) -> io::Result<RunSlot> {
        let word = memory::map_shared(fd.as_fd(), SLOT_LEN)?.cast();
        Ok(RunSlot { word })
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the mapping is page-aligned, 8 bytes long and lives until
        // Drop; both processes use it only through atomic operations.
        unsafe { self.word.as_ref() }
    }

    pub(super) fn set(&self, task: u64) {
        self.word().store(task, Ordering::Release);
    }

    pub(super) fn get(&self) -> u64 {
        self.word().load(Ordering::Acquire)
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`, unmapped once; `self`
        // is going away, so nothing reads the word any more.
        unsafe { memory::unmap(self.word.cast(), SLOT_LEN) };
    }
}
