//! The shipped router binaries on their own kernels: for aarch64, armv7 and mipsel, a qemu VM
//! (Debian's kernel, busybox-static as init, `contrib/busybox/S50tinyvrrp` started by `rcS`)
//! joins the lab's bridge beside keepalived (node 1, priority 50) and the x86_64 tinyvrrp
//! (node 2, priority 150). The VM (priority 200) runs an IPv4 and an IPv6 instance:
//!
//! 1. before the VM: the x86 tinyvrrp wins the election over keepalived;
//! 2. the VM boots, init starts the daemon, it preempts: both VIPs on the VM only, the client's
//!    neighbour entries move to its MAC (gratuitous ARP, unsolicited NA);
//! 3. `S50tinyvrrp status` (`tinyvrrp status`) inside the VM shows both instances MASTER;
//! 4. SIGKILL of the VM's daemon: node 2 takes over within Master_Down_Interval (measured
//!    between the adverts a sniffer in the client sees, kernel timestamps);
//! 5. `S50tinyvrrp start` again: the VM preempts again;
//! 6. `S50tinyvrrp reload` with priority 120: node 2 (150) takes over, the VM is BACKUP and
//!    has released its VIPs; reloaded to 200, the VM preempts;
//! 7. `S50tinyvrrp stop`: priority 0, node 2 takes over within Skew_Time, no VIP left on the
//!    VM, no daemon left.
//!
//! The tests are `#[ignore]`d: tests/vm/run.sh (a stage of tests/run.sh) downloads the
//! kernels and runs them with `--ignored`, one at a time. Driving the VM from Rust keeps the
//! lab (namespaces, teardown, keepalived, x86 daemon) and its checks in one place; the console
//! is a plain pipe to qemu's serial port, read by a thread.

use crate::lab;
mod qemu;

use lab::{fmt_mac, in_netns, wait_until, DaemonHandle, KeepalivedHandle, Lab, Status};
use qemu::{Arch, Image, Vm};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const VIP4: &str = "192.0.2.1";
const VIP6: &str = "2001:db8::1";
const VM_IP4: &str = "192.0.2.30";
const VM_MAC: &str = "02:00:00:00:00:30";
const ADVERT_INT: f64 = 0.5;
/// Node 2 (x86 tinyvrrp) and the VM.
const PRIO_X86: u8 = 150;
const PRIO_VM: u8 = 200;
/// Slack for the x86 daemon's timer wake-up on a loaded machine when checking a takeover
/// time (measured: mostly 1-4 ms, up to 25 ms with a load average of 15 on 2 cores).
const SLACK: f64 = 0.1;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn skew(priority: u8) -> f64 {
    (256.0 - f64::from(priority)) * ADVERT_INT / 256.0
}

fn master_down(priority: u8) -> f64 {
    3.0 * ADVERT_INT + skew(priority)
}

fn tinyvrrp_conf(priority: u8) -> String {
    let mut conf = String::new();
    for (name, vrid, vip) in [("V4", 51, "192.0.2.1/24"), ("V6", 52, "2001:db8::1/64")] {
        conf.push_str(&format!(
            "[vrrp_instance {name}]\ninterface = eth0\nstate = BACKUP\n\
             virtual_router_id = {vrid}\npriority = {priority}\nadvert_int = {ADVERT_INT}\n\
             version = 3\nvirtual_ipaddress = {vip}\n\n"
        ));
    }
    conf
}

fn keepalived_conf() -> String {
    format!(
        "global_defs {{\n    router_id ka1\n}}\n\
         vrrp_instance V4 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority 50\n    advert_int {ADVERT_INT}\n    version 3\n    \
         virtual_ipaddress {{\n        {VIP4}/24\n    }}\n}}\n"
    )
}

/// One VRRP advert as the client saw it: kernel receive time (seconds), source, VRID, priority.
#[derive(Clone, Copy, Debug)]
struct Seen {
    at: f64,
    src: Ipv4Addr,
    vrid: u8,
    priority: u8,
}

/// Records every IPv4 VRRP advert reaching the client, with the kernel's receive timestamp.
struct Sniffer {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

fn raw_vrrp_socket(ns: &str) -> OwnedFd {
    in_netns(ns, || {
        // SAFETY: plain socket(2) call; the descriptor is owned right after.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 112) };
        assert!(raw >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: raw is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the name is a NUL-terminated literal.
        let index = unsafe { libc::if_nametoindex(c"eth0".as_ptr()) };
        let mreq = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from_ne_bytes([224, 0, 0, 18]),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: index as libc::c_int,
        };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        setsockopt(&fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq);
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv);
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMP, &1i32);
        fd
    })
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value points to a live T of len bytes.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    assert_eq!(
        rc,
        0,
        "setsockopt {name}: {}",
        std::io::Error::last_os_error()
    );
}

/// One datagram and its SO_TIMESTAMP (seconds), or None on timeout.
fn recv_stamped(fd: &OwnedFd, buf: &mut [u8]) -> Option<(usize, f64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points to live buffers whose sizes it carries.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if n <= 0 {
        return None;
    }
    // SAFETY: the kernel filled msg_control; CMSG_* walk within msg_controllen.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is a valid header inside the control buffer.
        let c = unsafe { &*cmsg };
        if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SO_TIMESTAMP {
            // SAFETY: SO_TIMESTAMP carries a struct timeval.
            let tv: libc::timeval =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            return Some((n as usize, tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6));
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    panic!("no SO_TIMESTAMP on a received advert");
}

impl Sniffer {
    fn start(ns: &str) -> Sniffer {
        let fd = raw_vrrp_socket(ns);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                let Some((n, at)) = recv_stamped(&fd, &mut buf) else {
                    continue;
                };
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                if n < ihl + 8 {
                    continue;
                }
                let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
                let (vrid, priority) = (buf[ihl + 1], buf[ihl + 2]);
                let s = Seen {
                    at,
                    src,
                    vrid,
                    priority,
                };
                seen2.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
        });
        Sniffer {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn adverts(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn mark(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Seconds from `old`'s last advert of VRID 51 (its priority-0 advert when
    /// `priority_zero`) to the first advert of `new` seen after index `from`.
    fn takeover(&self, from: usize, old: Ipv4Addr, new: Ipv4Addr, priority_zero: bool) -> f64 {
        let all = self.adverts();
        let skip = all.len().min(from);
        let first_new = skip
            + all[skip..]
                .iter()
                .position(|s| s.vrid == 51 && s.src == new)
                .unwrap_or_else(|| panic!("no advert from {new}: {:?}", &all[skip..]));
        let last_old = all[..first_new]
            .iter()
            .rev()
            .find(|s| s.vrid == 51 && s.src == old && (!priority_zero || s.priority == 0))
            .unwrap_or_else(|| {
                panic!("no advert from {old} (priority 0: {priority_zero}) before {new}'s: {all:?}")
            });
        all[first_new].at - last_old.at
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything one VM scenario needs.
struct Rig<'a> {
    arch: &'a Arch,
    lab: &'a Lab,
    vm: Vm,
    x86: DaemonHandle,
    ka: KeepalivedHandle,
    sniffer: Sniffer,
    vm_mac: [u8; 6],
    /// Figures for the log: (what, seconds).
    times: Vec<(String, f64)>,
}

/// What the VM reports: its eth0 addresses and whether tinyvrrp runs.
struct VmView {
    v4: bool,
    v6: bool,
}

impl Rig<'_> {
    fn vm_view(&mut self) -> VmView {
        let out = self.vm.sh_ok("ip addr show dev eth0", secs(20.0));
        VmView {
            v4: out.contains(&format!("inet {VIP4}/")),
            v6: out.contains(&format!("inet6 {VIP6}/")),
        }
    }

    fn vm_status(&mut self) -> Status {
        let out = self.vm.sh_ok("/etc/init.d/S50tinyvrrp status", secs(20.0));
        assert!(
            out.contains("tinyvrrp is running"),
            "[{}] {out}",
            self.arch.name
        );
        Status::parse(&out)
    }

    fn x86_state(&self, instance: &str) -> String {
        self.x86
            .state(instance)
            .unwrap_or_else(|| "<no status>".into())
    }

    /// Who holds the VIPs among the VM, node 1 and node 2 (a daemon that was SIGKILLed leaves
    /// its VIPs: `vm_counts` false leaves the VM out).
    fn holders(&mut self, vm_counts: bool) -> (Vec<&'static str>, Vec<&'static str>) {
        let view = self.vm_view();
        let (n1, n2) = (self.lab.node(1), self.lab.node(2));
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        if vm_counts && view.v4 {
            v4.push("vm");
        }
        if vm_counts && view.v6 {
            v6.push("vm");
        }
        if n1.has_addr(VIP4) {
            v4.push("keepalived");
        }
        if n2.has_addr(VIP4) {
            v4.push("x86");
        }
        if n2.has_addr(VIP6) {
            v6.push("x86");
        }
        (v4, v6)
    }

    /// Waits until `master` ("vm" or "x86") alone holds both VIPs (the VM counted unless it
    /// crashed) and the client's neighbour entries point to it, then checks it stays so for
    /// two advert intervals. Returns the seconds it took.
    fn settle(&mut self, step: &str, master: &'static str, vm_counts: bool, timeout: f64) -> f64 {
        let mac = if master == "vm" {
            self.vm_mac
        } else {
            self.lab.node(2).mac()
        };
        let want = (vec![master], vec![master]);
        let mut last = (Vec::new(), Vec::new());
        let cl = &self.lab.client;
        let took = wait_until(secs(timeout), Duration::from_millis(200), || {
            self.x86.assert_running(step);
            self.ka.assert_running(step);
            last = self.holders(vm_counts);
            last == want && cl.neigh_mac(VIP4) == Some(mac) && cl.neigh_mac(VIP6) == Some(mac)
        });
        let Some(took) = took else {
            panic!(
                "[{}] {step}: not settled with {master} master after {timeout} s: VIP4 on {:?}, \
                 VIP6 on {:?}, client's entries {:?} / {:?} (want {}), x86 {}",
                self.arch.name,
                last.0,
                last.1,
                cl.neigh_mac(VIP4).map(|m| fmt_mac(&m)),
                cl.neigh_mac(VIP6).map(|m| fmt_mac(&m)),
                fmt_mac(&mac),
                self.x86_state("V4")
            );
        };
        thread::sleep(secs(2.0 * ADVERT_INT));
        let again = self.holders(vm_counts);
        assert_eq!(
            again, want,
            "[{}] {step}: {master} did not stay the one master",
            self.arch.name
        );
        let took = took.as_secs_f64();
        eprintln!(
            "[{}] {step}: {master} master, settled in {took:.3} s",
            self.arch.name
        );
        took
    }

    fn record(&mut self, what: &str, seconds: f64) {
        eprintln!("[{}] {what}: {seconds:.3} s", self.arch.name);
        self.times.push((what.to_owned(), seconds));
    }
}

/// Builds the lab and the initramfs, starts keepalived and the x86 daemon (step 1), boots the
/// VM and waits for its console.
fn scenario(arch: &Arch) {
    let tag = format!("vm_{}", arch.name);
    let root = qemu::vm_dir().unwrap_or_else(|e| panic!("{tag}: {e}"));
    let lab = Lab::new(&tag, 2).unwrap_or_else(|| panic!("{tag}: needs root and ip netns"));
    let initrd = lab.dir().join("initrd.cpio");
    let conf = tinyvrrp_conf(PRIO_VM);
    let image = Image {
        arch,
        config: &conf,
        ipv4: "192.0.2.30/24",
        ipv6: "2001:db8::30/64",
    };
    image.write(&root, &initrd);

    let (n1, n2) = (lab.node(1), lab.node(2));
    let ka = n1.spawn_keepalived(&keepalived_conf());
    let x86 = n2.spawn_daemon(&tinyvrrp_conf(PRIO_X86));
    let sniffer = Sniffer::start(&lab.client.name);
    let elected = wait_until(secs(10.0), Duration::from_millis(50), || {
        x86.state("V4").as_deref() == Some("MASTER")
            && x86.state("V6").as_deref() == Some("MASTER")
            && n2.has_addr(VIP4)
            && !n1.has_addr(VIP4)
    });
    assert!(
        elected.is_some(),
        "{tag}: x86 tinyvrrp (150) not elected over keepalived (50)"
    );
    assert!(lab.client.ping(VIP4, secs(3.0)) && lab.client.ping(VIP6, secs(3.0)));
    assert_eq!(lab.client.neigh_mac(VIP4), Some(n2.mac()));

    qemu::add_tap(lab.bridge_ns(), "vm0", "br0");
    let vm = Vm::boot(arch, &root, &initrd, lab.bridge_ns(), "vm0", VM_MAC);
    let mut rig = Rig {
        arch,
        lab: &lab,
        vm,
        x86,
        ka,
        sniffer,
        vm_mac: lab::parse_mac(VM_MAC).expect("const MAC"),
        times: Vec::new(),
    };
    rig.vm.expect("@@CONSOLE@@", secs(300.0));
    let boot = rig.vm.uptime();
    rig.record("boot to console (rcS done)", boot);
    assert!(
        !rig.vm.printed("@@INSMOD-FAILED"),
        "{tag}: a NIC module did not load"
    );
    assert!(
        rig.vm.printed("Starting tinyvrrp: OK"),
        "{tag}: S50tinyvrrp start did not start the daemon"
    );
    steps(&mut rig);
    let summary: Vec<String> = rig
        .times
        .iter()
        .map(|(w, s)| format!("{w} {s:.3} s"))
        .collect();
    eprintln!("[{}] SUMMARY: {}", arch.name, summary.join("; "));
}

/// Steps 2 to 7 of the module docs.
fn steps(rig: &mut Rig) {
    let name = rig.arch.name;
    let took = rig.settle("boot: the VM preempts", "vm", true, 60.0);
    rig.record("preemption by the VM (from console up)", took);
    let status = rig.vm_status();
    for inst in ["V4", "V6"] {
        let i = status
            .instance(inst)
            .unwrap_or_else(|| panic!("[{name}] no {inst}: {status:?}"));
        assert_eq!(
            i.get("state").map(String::as_str),
            Some("MASTER"),
            "[{name}] {i:?}"
        );
        assert_eq!(
            i.get("priority").map(String::as_str),
            Some("200"),
            "[{name}] {i:?}"
        );
    }

    let (vm_ip, x86_ip) = (VM_IP4.parse().expect("const"), rig.lab.node(2).ipv4);
    let mark = rig.sniffer.mark();
    rig.vm
        .sh_ok("kill -9 \"$(cat /var/run/tinyvrrp.pid)\"", secs(20.0));
    rig.settle("SIGKILL of the VM's daemon", "x86", false, 20.0);
    let gap = rig.sniffer.takeover(mark, vm_ip, x86_ip, false);
    rig.record("SIGKILL: VM's last advert -> x86's first", gap);
    let bound = master_down(PRIO_X86);
    assert!(
        gap <= bound + SLACK && gap >= 3.0 * ADVERT_INT - SLACK,
        "[{name}] takeover after SIGKILL took {gap:.3} s; Master_Down_Interval is {bound:.3} s"
    );

    let out = rig.vm.sh_ok("/etc/init.d/S50tinyvrrp start", secs(30.0));
    assert!(
        out.contains("Starting tinyvrrp: OK"),
        "[{name}] restart: {out}"
    );
    rig.settle("restarted: the VM preempts again", "vm", true, 30.0);

    reload(rig, 200, 120);
    rig.settle("reload to priority 120", "x86", true, 20.0);
    let status = rig.vm_status();
    let v4 = status
        .instance("V4")
        .unwrap_or_else(|| panic!("[{name}] no V4: {status:?}"));
    assert_eq!(
        v4.get("state").map(String::as_str),
        Some("BACKUP"),
        "[{name}] {v4:?}"
    );
    assert_eq!(
        v4.get("priority").map(String::as_str),
        Some("120"),
        "[{name}] {v4:?}"
    );
    reload(rig, 120, 200);
    rig.settle("reload back to priority 200", "vm", true, 20.0);

    let mark = rig.sniffer.mark();
    let out = rig.vm.sh_ok("/etc/init.d/S50tinyvrrp stop", secs(30.0));
    assert!(
        out.contains("Stopping tinyvrrp: OK"),
        "[{name}] stop: {out}"
    );
    let view = rig.vm_view();
    assert!(
        !view.v4 && !view.v6,
        "[{name}] a VIP left on the VM after S50tinyvrrp stop"
    );
    rig.settle("graceful stop", "x86", true, 10.0);
    let gap = rig.sniffer.takeover(mark, vm_ip, x86_ip, true);
    rig.record("stop: VM's priority-0 advert -> x86's first", gap);
    assert!(
        gap <= skew(PRIO_X86) + SLACK,
        "[{name}] takeover after the priority-0 advert took {gap:.3} s; Skew_Time {:.3} s",
        skew(PRIO_X86)
    );
    let (out, rc) = rig.vm.sh("/etc/init.d/S50tinyvrrp status", secs(20.0));
    assert_eq!(rc, 3, "[{name}] still running after stop: {out}");
    rig.vm.sh("cat /var/log/messages", secs(20.0));
}

/// Rewrites the priority in the VM's /etc/tinyvrrp.conf and reloads through the init script.
fn reload(rig: &mut Rig, from: u8, to: u8) {
    let cmd = format!(
        "sed -i 's/^priority = {from}$/priority = {to}/' /etc/tinyvrrp.conf && \
         /etc/init.d/S50tinyvrrp reload"
    );
    let out = rig.vm.sh_ok(&cmd, secs(30.0));
    assert!(
        out.contains("Reloading tinyvrrp: OK"),
        "[{}] reload: {out}",
        rig.arch.name
    );
}

#[test]
#[ignore = "boots a VM: run by tests/vm/run.sh"]
fn vm_aarch64() {
    scenario(&qemu::AARCH64);
}

#[test]
#[ignore = "boots a VM: run by tests/vm/run.sh"]
fn vm_armv7() {
    scenario(&qemu::ARMV7);
}

#[test]
#[ignore = "boots a VM: run by tests/vm/run.sh"]
fn vm_mipsel() {
    scenario(&qemu::MIPSEL);
}
