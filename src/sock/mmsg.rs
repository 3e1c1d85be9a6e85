//! What both batches hold: their slots, and the iovec and mmsghdr each slot needs.

/// `slots`, with one iovec and one mmsghdr per slot, allocated once in `new`.
///
/// Invariant: the three are boxed slices created in `new` and never replaced or resized, so
/// their heap storage does not move when the batch holding them moves. `hdrs[i]` and `iovs[i]`
/// hold raw pointers into `slots[i]` and `iovs[i]`; `arm` rewrites them from a fresh
/// `&mut self` before every syscall (resetting the lengths the kernel overwrites), so they are
/// valid for the syscall that uses them.
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

impl<S: Copy> Mmsg<S> {
    /// `n` (at least 1) copies of `slot`: the only allocation a batch makes.
    pub(super) fn new(n: usize, slot: S) -> Self {
        let n = n.max(1);
        // SAFETY: iovec and mmsghdr are plain C data (integers and raw pointers); all-zero
        // bytes are valid values (null pointers are not used before `arm` sets them).
        let (iov, hdr) = unsafe {
            (
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed::<libc::mmsghdr>(),
            )
        };
        Mmsg {
            slots: vec![slot; n].into_boxed_slice(),
            iovs: vec![iov; n].into_boxed_slice(),
            hdrs: vec![hdr; n].into_boxed_slice(),
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
