//! The receiving floor for `benches/compare.sh`: the kernel's own cost of the adverts a
//! backup hears, with nothing else around them. A raw IPPROTO 112 socket that joined
//! 224.0.0.18 on IFACE, `epoll_wait`, then `recvmmsg` of up to 64 datagrams until fewer come
//! back; the datagrams are counted, never parsed.
//!   usage: floor_receiver IFACE      (root; runs until killed)

use std::ffi::CString;
use std::io::Error;
use std::process::exit;

const BATCH: usize = 64;
const SLOT: usize = 4096;

fn check(what: &str, rc: libc::c_int) {
    if rc < 0 {
        eprintln!("floor_receiver: {what}: {}", Error::last_os_error());
        exit(1);
    }
}

fn main() {
    let Some(Ok(name)) = std::env::args().nth(1).map(CString::new) else {
        eprintln!("usage: floor_receiver IFACE");
        exit(2)
    };
    // SAFETY: plain libc calls on values we own; every buffer outlives the calls using it.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            eprintln!("floor_receiver: no interface {name:?}");
            exit(1);
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 112);
        check("socket", fd);
        let mut mreq: libc::ip_mreqn = std::mem::zeroed();
        mreq.imr_multiaddr.s_addr = u32::from_be_bytes([224, 0, 0, 18]).to_be();
        mreq.imr_ifindex = ifindex as libc::c_int;
        let mlen = std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t;
        let mp = &mreq as *const libc::ip_mreqn as *const libc::c_void;
        check(
            "IP_ADD_MEMBERSHIP",
            libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, mp, mlen),
        );

        let mut bufs = vec![0u8; BATCH * SLOT];
        let mut iovs: Vec<libc::iovec> = bufs
            .chunks_mut(SLOT)
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: SLOT,
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| {
                let mut m: libc::mmsghdr = std::mem::zeroed();
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();

        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        check("epoll_create1", ep);
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        check(
            "epoll_ctl",
            libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev),
        );
        let mut ready = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let mut count: u64 = 0;
        loop {
            let n = libc::epoll_wait(ep, ready.as_mut_ptr(), ready.len() as _, -1);
            if n < 0 {
                continue; // EINTR
            }
            loop {
                let flags = libc::MSG_DONTWAIT;
                let got = libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as _,
                    flags as _,
                    std::ptr::null_mut(),
                );
                if got <= 0 {
                    break;
                }
                count = count.wrapping_add(got as u64);
                if (got as usize) < BATCH {
                    break;
                }
            }
            std::hint::black_box(count);
        }
    }
}
