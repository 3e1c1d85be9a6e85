//! What both batches hold: their slots, and the iovec and mmsghdr each slot needs.

/// `slots`, with one iovec and one mmsghdr per slot, allocated once in `new`.
///
/// Invariant: the three are boxed slices created in `new` and never replaced or resized, so
/// their heap storage does not move when the batch holding them moves. `hdrs[i]` and `iovs[i]`
/// hold raw pointers into `slots[i]` and `iovs[i]` (and a send batch's data buffer, boxed the
/// same way), written by `arm`; since that storage never moves they stay valid for every later
/// syscall. `arm` also resets the lengths and flags the kernel overwrites; before each syscall
/// the caller re-arms at least every header the previous syscall had the kernel write.
pub(super) struct Mmsg<S> {
    pub(super) slots: Box<[S]>,
    iovs: Box<[libc::iovec]>,
    pub(super) hdrs: Box<[libc::mmsghdr]>,
}

// SAFETY: the raw pointers in `iovs` / `hdrs` only point into this storage's own heap buffers,
// which move with it; nothing is shared with another owner.
unsafe impl<S: Send> Send for Mmsg<S> {}

/// Where one slot keeps its datagram, address and control messages, and their lengths.
pub(super) struct Parts {
    pub(super) data: *mut u8,
    pub(super) len: usize,
    pub(super) name: *mut libc::sockaddr_storage,
    pub(super) namelen: libc::socklen_t,
    pub(super) control: *mut u8,
    pub(super) controllen: usize,
}

/// A type for which all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for plain C data (integers, byte arrays, raw pointers, `repr(u8)` enums whose
/// zero tag is a unit variant).
pub(super) unsafe trait Zeroed: Copy {}

// SAFETY: a byte.
unsafe impl Zeroed for u8 {}
// SAFETY: integers and raw pointers only; null pointers are not used before `arm` sets them.
unsafe impl Zeroed for libc::iovec {}
// SAFETY: as above.
unsafe impl Zeroed for libc::mmsghdr {}

/// `n` (at least 1) all-zero values from one `alloc_zeroed` (calloc). A large calloc is fresh
/// mmap'd memory the allocator does not write, so a slot's pages count in the RSS only once a
/// datagram is written into it (a `vec![slot; n]` wrote, and so mapped, all of them).
pub(super) fn zeroed_slice<T: Zeroed>(n: usize) -> Box<[T]> {
    let n = n.max(1);
    let layout = match std::alloc::Layout::array::<T>(n) {
        Ok(l) => l,
        Err(_) => std::alloc::handle_alloc_error(std::alloc::Layout::new::<T>()),
    };
    // SAFETY: the layout has a non-zero size (n >= 1, and no slot type is zero-sized); the
    // memory comes from the global allocator with the layout `Box<[T]>` frees it with, and
    // all-zero bytes are valid `T`s (`Zeroed`).
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<T>();
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n))
    }
}

impl<S: Zeroed> Mmsg<S> {
    /// `n` (at least 1) all-zero slots: the only allocation a batch makes.
    pub(super) fn new(n: usize) -> Self {
        Mmsg {
            slots: zeroed_slice(n),
            iovs: zeroed_slice(n),
            hdrs: zeroed_slice(n),
        }
    }

    /// Points the first `count` headers at what `parts` says their slots hold.
    pub(super) fn arm(&mut self, count: usize, mut parts: impl FnMut(&mut S) -> Parts) {
        let slots = self.slots.iter_mut();
        let iovs = self.iovs.iter_mut();
        for ((slot, iov), hdr) in slots.zip(iovs).zip(self.hdrs.iter_mut()).take(count) {
            let p = parts(slot);
            iov.iov_base = p.data.cast();
            iov.iov_len = p.len;
            let msg = &mut hdr.msg_hdr;
            msg.msg_name = p.name.cast();
            msg.msg_namelen = p.namelen;
            msg.msg_iov = iov;
            msg.msg_iovlen = 1;
            msg.msg_control = p.control.cast();
            msg.msg_controllen = p.controllen as _;
            msg.msg_flags = 0;
            hdr.msg_len = 0;
        }
    }
}
