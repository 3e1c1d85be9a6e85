//! The sending floor for `benches/compare.sh`: the kernel's own cost of N VRRP-sized datagrams
//! every interval, with nothing else around it. A blocking read of a periodic timerfd, then
//! one `sendmmsg` of N datagrams of SIZE bytes to 224.0.0.18 on a raw IPPROTO 112 socket
//! (TTL 255, as the daemon sends). The datagrams are VRRPv3 headers with VRIDs 1..N and no
//! valid checksum: the floor receiver only counts them.
//!   usage: floor_sender IFACE N INTERVAL_MS [SIZE]      (root; runs until killed)

use std::ffi::CString;
use std::io::Error;
use std::process::exit;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    match args.get(i).map(|a| a.parse()) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!("usage: floor_sender IFACE N INTERVAL_MS [SIZE]  ({what} missing or bad)");
            exit(2)
        }
    }
}

fn check(what: &str, rc: libc::c_int) {
    if rc < 0 {
        eprintln!("floor_sender: {what}: {}", Error::last_os_error());
        exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iface: String = arg(&args, 1, "IFACE");
    let n: usize = arg(&args, 2, "N");
    let interval_ms: u64 = arg(&args, 3, "INTERVAL_MS");
    let size: usize = if args.len() > 4 {
        arg(&args, 4, "SIZE")
    } else {
        12
    };
    let Ok(name) = CString::new(iface) else {
        exit(2)
    };
    // SAFETY: plain libc calls on values we own; every buffer outlives the calls using it.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            eprintln!("floor_sender: no interface {name:?}");
            exit(1);
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 112);
        check("socket", fd);
        let ttl: libc::c_int = 255;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let p = &ttl as *const libc::c_int as *const libc::c_void;
        check(
            "IP_MULTICAST_TTL",
            libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, p, len),
        );
        // As the daemon: no copy of each datagram looped back to this host.
        let off: libc::c_int = 0;
        let p = &off as *const libc::c_int as *const libc::c_void;
        check(
            "IP_MULTICAST_LOOP",
            libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, p, len),
        );
        let mut mreq: libc::ip_mreqn = std::mem::zeroed();
        mreq.imr_ifindex = ifindex as libc::c_int;
        let mlen = std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t;
        let mp = &mreq as *const libc::ip_mreqn as *const libc::c_void;
        check(
            "IP_MULTICAST_IF",
            libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, mp, mlen),
        );

        let mut dst: libc::sockaddr_in = std::mem::zeroed();
        dst.sin_family = libc::AF_INET as libc::sa_family_t;
        dst.sin_addr.s_addr = u32::from_be_bytes([224, 0, 0, 18]).to_be();
        let mut bufs = vec![vec![0u8; size.max(8)]; n];
        for (i, b) in bufs.iter_mut().enumerate() {
            b[0] = 0x31; // version 3, type 1
            b[1] = (i % 255 + 1) as u8;
            b[2] = 100;
            b[3] = 1;
            b[5] = 10; // 0.1 s
        }
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: size,
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| {
                let mut m: libc::mmsghdr = std::mem::zeroed();
                m.msg_hdr.msg_name = (&mut dst as *mut libc::sockaddr_in).cast();
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as _;
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();

        let tfd = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC);
        check("timerfd_create", tfd);
        let ts = libc::timespec {
            tv_sec: (interval_ms / 1000) as libc::time_t,
            tv_nsec: ((interval_ms % 1000) * 1_000_000) as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        check(
            "timerfd_settime",
            libc::timerfd_settime(tfd, 0, &spec, std::ptr::null_mut()),
        );
        let mut ticks = [0u8; 8];
        loop {
            check(
                "read",
                libc::read(tfd, ticks.as_mut_ptr().cast(), 8) as libc::c_int,
            );
            // Sent in chunks of 64 like the daemon's batch.
            for chunk in msgs.chunks_mut(64) {
                libc::sendmmsg(fd, chunk.as_mut_ptr(), chunk.len() as _, 0);
            }
        }
    }
}
