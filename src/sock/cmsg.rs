//! Control-message (cmsg) buffers: reading what the kernel wrote after `recvmmsg` and writing
//! the PKTINFO message a datagram is sent with. Works on byte slices, so a malformed or
//! truncated control area ends the walk instead of reading out of bounds.

use std::mem::size_of;

/// Room for the control messages of one datagram. Receive gets at most PKTINFO plus TTL /
/// hop limit (64 bytes on 64-bit); the spare room keeps an unexpected extra message from
/// setting MSG_CTRUNC and hiding the ones we need.
pub(super) const CONTROL_LEN: usize = 128;

/// A control buffer aligned for `cmsghdr`, as the kernel and the CMSG_* macros expect.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(super) struct ControlBuf(pub(super) [u8; CONTROL_LEN]);

#[cfg(test)]
impl ControlBuf {
    pub(super) const ZERO: ControlBuf = ControlBuf([0; CONTROL_LEN]);
}

/// CMSG_ALIGN: glibc and musl both align to `sizeof(size_t)` / `sizeof(long)`.
fn align(len: usize) -> usize {
    let a = size_of::<usize>();
    (len + a - 1) & !(a - 1)
}

/// Offset of a message's data from its header (CMSG_LEN(0)).
fn data_offset() -> usize {
    align(size_of::<libc::cmsghdr>())
}

/// One control message: level, type and its data bytes.
pub(super) struct Cmsg<'a> {
    pub(super) level: libc::c_int,
    pub(super) kind: libc::c_int,
    pub(super) data: &'a [u8],
}

/// Walks the control messages in `buf` (the first `msg_controllen` bytes).
pub(super) struct CmsgIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> CmsgIter<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        CmsgIter { buf, off: 0 }
    }
}

impl<'a> Iterator for CmsgIter<'a> {
    type Item = Cmsg<'a>;

    fn next(&mut self) -> Option<Cmsg<'a>> {
        let head = self.buf.get(self.off..)?;
        let head = head.get(..size_of::<libc::cmsghdr>())?;
        // SAFETY: `head` holds size_of::<cmsghdr>() bytes; cmsghdr is plain integers, valid
        // for any bit pattern; read_unaligned has no alignment requirement.
        let hdr: libc::cmsghdr = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
        let len = hdr.cmsg_len as usize;
        let end = self.off.checked_add(len)?;
        let data = self.buf.get(self.off.checked_add(data_offset())?..end)?;
        self.off = self.off.checked_add(align(len))?;
        Some(Cmsg {
            level: hdr.cmsg_level,
            kind: hdr.cmsg_type,
            data,
        })
    }
}

/// Writes one control message with `data` at the start of `buf`; returns the bytes used
/// (CMSG_SPACE), or None if it does not fit.
pub(super) fn write(
    buf: &mut [u8],
    level: libc::c_int,
    kind: libc::c_int,
    data: &[u8],
) -> Option<usize> {
    let len = data_offset() + data.len();
    let space = align(len);
    let out = buf.get_mut(..space)?;
    out.fill(0);
    // SAFETY: cmsghdr is plain integers (plus padding on musl); all-zero is valid.
    let mut hdr: libc::cmsghdr = unsafe { std::mem::zeroed() };
    hdr.cmsg_len = len as _;
    hdr.cmsg_level = level;
    hdr.cmsg_type = kind;
    // SAFETY: `out` has at least data_offset() >= size_of::<cmsghdr>() bytes.
    unsafe { std::ptr::write_unaligned(out.as_mut_ptr().cast::<libc::cmsghdr>(), hdr) };
    out.get_mut(data_offset()..len)?.copy_from_slice(data);
    Some(space)
}

/// The bytes of a plain C struct, for writing it as cmsg data.
pub(super) fn bytes_of<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: callers pass padding-free C structs (in_pktinfo, in6_pktinfo); every byte is
    // initialised and the slice borrows `value`.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

/// Reads a plain C struct from cmsg data, if the data is long enough.
pub(super) fn read<T: Copy>(data: &[u8]) -> Option<T> {
    let bytes = data.get(..size_of::<T>())?;
    // SAFETY: callers only read integer-only C structs (valid for any bits); the length is
    // checked and read_unaligned has no alignment requirement.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_messages_read_back() {
        let mut buf = ControlBuf::ZERO;
        let a = write(&mut buf.0, 1, 2, &[9, 8, 7]).unwrap();
        let b = write(&mut buf.0[a..], 3, 4, &42i32.to_ne_bytes()).unwrap();
        let msgs: Vec<_> = CmsgIter::new(&buf.0[..a + b])
            .map(|c| (c.level, c.kind, c.data.to_vec()))
            .collect();
        assert_eq!(
            msgs,
            vec![(1, 2, vec![9, 8, 7]), (3, 4, 42i32.to_ne_bytes().to_vec())]
        );
        // Matches the libc macros.
        assert_eq!(a, unsafe { libc::CMSG_SPACE(3) } as usize);
    }

    #[test]
    fn malformed_lengths_end_the_walk() {
        let mut buf = ControlBuf::ZERO;
        let n = write(&mut buf.0, 1, 2, &[1; 8]).unwrap();
        // Claim more data than the buffer holds.
        let mut bad = buf.0[..n].to_vec();
        let mut hdr: libc::cmsghdr = read(&bad).unwrap();
        hdr.cmsg_len = (n + 100) as _;
        unsafe { std::ptr::write_unaligned(bad.as_mut_ptr().cast::<libc::cmsghdr>(), hdr) };
        assert_eq!(CmsgIter::new(&bad).count(), 0);
        // A header cut short.
        assert_eq!(CmsgIter::new(&buf.0[..4]).count(), 0);
        // A zero length cannot loop forever.
        let zero = [0u8; 64];
        assert_eq!(CmsgIter::new(&zero).count(), 0);
    }
}
