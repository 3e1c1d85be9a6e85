//! The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC): fork, exec, name
//! change and exit of every process, pushed to us, so track_process needs no polling. Only
//! the initial network namespace has it (elsewhere subscribing fails with ECONNREFUSED) and
//! it needs CAP_NET_ADMIN; the caller falls back to scanning /proc when `subscribe` fails.
//! Messages are in host byte order.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;
/// Start of `struct proc_event`'s union: what(4) cpu(4) timestamp(8).
const EVENT_DATA: usize = NLMSG_HDRLEN + CN_MSG_LEN + 16;

const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_COMM: u32 = 0x0000_0200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One event that matters to process tracking; thread events are left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new process (not a thread) `child`, forked by process `parent`.
    Fork { parent: u32, child: u32 },
    /// Process `pid` ran exec or changed its name: look at it again.
    Changed { pid: u32 },
    /// Process `pid` ended.
    Exit { pid: u32 },
}

pub struct ProcEvents {
    fd: OwnedFd,
    buf: Box<[u8; 8192]>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// The event in one netlink message (header included), if it is one we use.
pub fn parse(msg: &[u8]) -> Option<ProcEvent> {
    if u32_at(msg, NLMSG_HDRLEN)? != CN_IDX_PROC || u32_at(msg, NLMSG_HDRLEN + 4)? != CN_VAL_PROC {
        return None;
    }
    let what = u32_at(msg, NLMSG_HDRLEN + CN_MSG_LEN)?;
    let word = |i: usize| u32_at(msg, EVENT_DATA + 4 * i);
    match what {
        PROC_EVENT_FORK => {
            let (parent_tgid, child_pid, child_tgid) = (word(1)?, word(2)?, word(3)?);
            (child_pid == child_tgid).then_some(ProcEvent::Fork {
                parent: parent_tgid,
                child: child_tgid,
            })
        }
        PROC_EVENT_EXEC | PROC_EVENT_COMM => {
            let (pid, tgid) = (word(0)?, word(1)?);
            (pid == tgid).then_some(ProcEvent::Changed { pid: tgid })
        }
        PROC_EVENT_EXIT => {
            let (pid, tgid) = (word(0)?, word(1)?);
            (pid == tgid).then_some(ProcEvent::Exit { pid: tgid })
        }
        _ => None,
    }
}

/// What a read brought.
pub enum Batch {
    Events,
    /// The kernel dropped events (socket overrun): the caller must rescan.
    Overrun,
}

impl ProcEvents {
    /// Opens the connector and asks for process events.
    pub fn subscribe() -> io::Result<Self> {
        // SAFETY: socket(2); the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: a zeroed sockaddr_nl is valid; bind with our own address.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = CN_IDX_PROC;
        let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_nl of `len` bytes.
        if unsafe { libc::bind(raw, (&addr as *const libc::sockaddr_nl).cast(), len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut msg = [0u8; NLMSG_HDRLEN + CN_MSG_LEN + 4];
        let total = msg.len() as u32;
        msg[0..4].copy_from_slice(&total.to_ne_bytes());
        msg[4..6].copy_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg[16..20].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg[20..24].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg[32..34].copy_from_slice(&4u16.to_ne_bytes());
        msg[36..40].copy_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: sending our buffer on our socket (to the kernel, the bound peer 0).
        let sent = unsafe { libc::send(raw, msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ProcEvents {
            fd,
            buf: Box::new([0; 8192]),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads what is waiting and calls `f` with each event.
    pub fn drain(&mut self, mut f: impl FnMut(ProcEvent)) -> io::Result<Batch> {
        loop {
            // SAFETY: recv into our buffer.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(Batch::Events),
                    Some(libc::ENOBUFS) => Ok(Batch::Overrun),
                    Some(libc::EINTR) => continue,
                    _ => Err(e),
                };
            }
            let mut data = self.buf.get(..n as usize).unwrap_or(&[]);
            while let Some(len) = u32_at(data, 0) {
                let len = len as usize;
                if len < NLMSG_HDRLEN || len > data.len() {
                    break;
                }
                if let Some(ev) = data.get(..len).and_then(parse) {
                    f(ev);
                }
                // Netlink messages are 4-byte aligned.
                let next = (len + 3) & !3;
                data = data.get(next..).unwrap_or(&[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, words: &[u32]) -> Vec<u8> {
        let mut m = vec![0u8; EVENT_DATA];
        m[16..20].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m[20..24].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m[36..40].copy_from_slice(&what.to_ne_bytes());
        for w in words {
            m.extend_from_slice(&w.to_ne_bytes());
        }
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    #[test]
    fn events_of_processes_are_kept_and_threads_left_out() {
        assert_eq!(
            parse(&message(PROC_EVENT_FORK, &[10, 10, 11, 11])),
            Some(ProcEvent::Fork {
                parent: 10,
                child: 11
            })
        );
        // A new thread of process 10.
        assert_eq!(parse(&message(PROC_EVENT_FORK, &[10, 10, 12, 10])), None);
        assert_eq!(
            parse(&message(PROC_EVENT_EXEC, &[20, 20])),
            Some(ProcEvent::Changed { pid: 20 })
        );
        assert_eq!(
            parse(&message(PROC_EVENT_COMM, &[20, 20, 0, 0, 0, 0])),
            Some(ProcEvent::Changed { pid: 20 })
        );
        assert_eq!(
            parse(&message(PROC_EVENT_EXIT, &[30, 30, 0, 9, 1, 1])),
            Some(ProcEvent::Exit { pid: 30 })
        );
        assert_eq!(
            parse(&message(PROC_EVENT_EXIT, &[31, 30, 0, 0, 1, 1])),
            None
        );
        // The subscription's acknowledgement, other connectors, short messages.
        assert_eq!(parse(&message(0, &[0, 0])), None);
        let mut other = message(PROC_EVENT_EXIT, &[30, 30, 0, 0, 1, 1]);
        other[16] = 7;
        assert_eq!(parse(&other), None);
        assert_eq!(parse(&message(PROC_EVENT_EXIT, &[30])), None);
        assert_eq!(parse(&[0u8; 10]), None);
    }
}
