//! A qemu-system VM (no KVM) on the lab's bridge, driven through its serial console: Debian's
//! kernel for the architecture, busybox-static as init, the shipped cross binary of tinyvrrp
//! and contrib/busybox/S50tinyvrrp started by busybox init's `rcS`, as on an appliance.
//!
//! tests/vm/run.sh downloads and unpacks the Debian packages and names the directory in
//! `TINYVRRP_VM_DIR`: `<DIR>/<arch>/kernel` (a linux-image package: `boot/vmlinuz-*`,
//! `lib/modules/*/`) and `<DIR>/<arch>/busybox` (busybox-static: `bin/busybox`).
//!
//! The console: after `rcS`, init starts `/etc/console.sh` on it, a non-interactive `sh` (no
//! prompt, no line editing) that turns the tty's echo off and runs each line it reads. Each command the host sends ends with a `printf` of a marker and the exit code;
//! the host reads the output up to that marker. Everything the console prints goes to stderr
//! with the seconds since the VM started, so the test log has the whole boot and every step.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One router architecture: its qemu, machine, kernel package and shipped binary.
pub struct Arch {
    pub name: &'static str,
    pub target: &'static str,
    pub qemu: &'static str,
    pub machine: &'static [&'static str],
    pub console: &'static str,
    pub nic: &'static str,
    /// Kernel modules for the NIC, in load order (none of them is built in on these kernels).
    pub modules: &'static [&'static str],
}

const VIRTIO_NET: &[&str] = &[
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

pub const AARCH64: Arch = Arch {
    name: "aarch64",
    target: "aarch64-unknown-linux-musl",
    qemu: "qemu-system-aarch64",
    machine: &["-M", "virt", "-cpu", "cortex-a53"],
    console: "ttyAMA0",
    nic: "virtio-net-pci",
    modules: VIRTIO_NET,
};

pub const ARMV7: Arch = Arch {
    name: "armv7",
    target: "armv7-unknown-linux-musleabihf",
    qemu: "qemu-system-arm",
    machine: &["-M", "virt,highmem=off", "-cpu", "cortex-a15"],
    console: "ttyAMA0",
    nic: "virtio-net-pci",
    modules: VIRTIO_NET,
};

/// Malta's own NIC is an AMD PCnet; the 4kc-malta kernel has its driver as a module.
pub const MIPSEL: Arch = Arch {
    name: "mipsel",
    target: "mipsel-unknown-linux-musl",
    qemu: "qemu-system-mipsel",
    machine: &["-M", "malta"],
    console: "ttyS0",
    nic: "pcnet",
    modules: &["mii", "pcnet32"],
};

/// The directory tests/vm/run.sh prepared, or None with the reason.
pub fn vm_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("TINYVRRP_VM_DIR")
        .ok_or("TINYVRRP_VM_DIR is not set: run tests/vm/run.sh, which downloads the kernels")?;
    Ok(PathBuf::from(dir))
}

/// The only file in `dir` whose name starts with `prefix`.
fn find_one(dir: &Path, prefix: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {prefix}* in {}: {found:?}",
        dir.display()
    );
    found.remove(0)
}

/// `name.ko` anywhere under `dir`.
fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            if let Some(p) = find_module(&path, name) {
                return Some(p);
            }
        } else if entry.file_name().to_string_lossy() == format!("{name}.ko") {
            return Some(path);
        }
    }
    None
}

/// The files of the VM's initramfs besides the fixed layout: what differs per test.
pub struct Image<'a> {
    pub arch: &'a Arch,
    /// /etc/tinyvrrp.conf
    pub config: &'a str,
    /// eth0's addresses, e.g. "192.0.2.30/24" and "2001:db8::30/64".
    pub ipv4: &'a str,
    pub ipv6: &'a str,
}

const RCS: &str = r#"#!/bin/sh
# Buildroot-style rcS: mounts, modules, network, syslogd, then every /etc/init.d/S??* start.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1
echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
for m in $(cat /etc/modules); do insmod "/lib/modules/$m.ko" || echo "@@INSMOD-FAILED $m@@"; done
hostname vm
ip link set lo up
ip addr add "$(cat /etc/ipv4)" dev eth0
ip -6 addr add "$(cat /etc/ipv6)" dev eth0
ip link set eth0 up
syslogd -O /var/log/messages
for s in /etc/init.d/S??*; do [ -x "$s" ] && "$s" start; done
echo "@@BOOTED@@"
"#;

/// The shell reads its console line by line with its own `read`: `cat | sh` hung after a
/// command or two on these kernels (sh blocked on the pipe's lock, cat waiting on the tty).
const CONSOLE_SH: &str = "#!/bin/sh\n\
stty -echo\n\
echo @@CONSOLE@@\n\
exec 2>&1\n\
while IFS= read -r line; do eval \"$line\"; done\n";

/// busybox init's table: rcS once, then the console shell on the kernel's console (the
/// serial port), respawned if it ever exits.
const INITTAB: &str = "::sysinit:/etc/init.d/rcS\n::respawn:/etc/console.sh\n";

impl Image<'_> {
    /// Writes the initramfs (an uncompressed newc cpio: the kernels take it as is) to `out`.
    pub fn write(&self, root: &Path, out: &Path) {
        let a = self.arch;
        let kernel = root.join(a.name).join("kernel");
        let modules = find_one(&kernel.join("lib/modules"), "");
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cross/dist");
        let daemon = read(&bin.join(a.target).join("tinyvrrp"));
        let busybox = read(&root.join(a.name).join("busybox/bin/busybox"));
        let script =
            read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/busybox/S50tinyvrrp"));
        let mut c = Cpio::default();
        for d in [
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "etc/init.d",
            "proc",
            "sys",
            "dev",
            "tmp",
            "var",
            "var/run",
            "var/log",
            "lib",
            "lib/modules",
            "root",
        ] {
            c.dir(d);
        }
        c.char_dev("dev/console", 5, 1);
        c.file("bin/busybox", 0o755, &busybox);
        c.symlink("bin/sh", "busybox");
        c.symlink("init", "bin/busybox");
        c.file("usr/sbin/tinyvrrp", 0o755, &daemon);
        c.file("etc/init.d/S50tinyvrrp", 0o755, &script);
        c.file("etc/init.d/rcS", 0o755, RCS.as_bytes());
        c.file("etc/console.sh", 0o755, CONSOLE_SH.as_bytes());
        c.file("etc/inittab", 0o644, INITTAB.as_bytes());
        c.file("etc/tinyvrrp.conf", 0o644, self.config.as_bytes());
        c.file("etc/ipv4", 0o644, self.ipv4.as_bytes());
        c.file("etc/ipv6", 0o644, self.ipv6.as_bytes());
        c.file("etc/modules", 0o644, a.modules.join("\n").as_bytes());
        for m in a.modules {
            let path = find_module(&modules, m)
                .unwrap_or_else(|| panic!("{m}.ko not in {}", modules.display()));
            c.file(&format!("lib/modules/{m}.ko"), 0o644, &read(&path));
        }
        fs::write(out, c.finish()).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    }
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A newc ("070701") cpio archive, the format the kernel unpacks into its initramfs.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, (0, 0), &[]);
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100_000 | perm, (0, 0), data);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120_777, (0, 0), target.as_bytes());
    }

    fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020_600, (major, minor), &[]);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

/// A running VM. Dropping it kills qemu (by the pid it was started with).
pub struct Vm {
    pub name: &'static str,
    child: Child,
    stdin: ChildStdin,
    console: Arc<Mutex<String>>,
    started: Instant,
    seq: u32,
}

impl Vm {
    /// Starts `arch`'s qemu in network namespace `ns` with `initrd`, its NIC on tap `tap`
    /// (which must exist in `ns`) with MAC `mac`.
    pub fn boot(arch: &Arch, root: &Path, initrd: &Path, ns: &str, tap: &str, mac: &str) -> Vm {
        let kernel = find_one(&root.join(arch.name).join("kernel/boot"), "vmlinuz-");
        let append = format!("console={} quiet panic=-1", arch.console);
        let netdev = format!("tap,id=n0,ifname={tap},script=no,downscript=no");
        // No option ROM: nothing here network-boots (and the ROM files are another package).
        let device = format!("{},netdev=n0,mac={mac},romfile=", arch.nic);
        let (k, i) = (kernel.to_string_lossy(), initrd.to_string_lossy());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, arch.qemu])
            .args(arch.machine)
            .args(["-m", "256", "-smp", "1", "-nodefaults", "-display", "none"])
            .args([
                "-no-reboot",
                "-kernel",
                &k,
                "-initrd",
                &i,
                "-append",
                &append,
            ])
            .args(["-netdev", &netdev, "-device", &device, "-serial", "stdio"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        eprintln!("[{}] {:?}", arch.name, cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", arch.qemu));
        let console = Arc::new(Mutex::new(String::new()));
        let started = Instant::now();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        tee(arch.name, "", stdout, Some(Arc::clone(&console)), started);
        tee(arch.name, "qemu: ", stderr, None, started);
        let stdin = child.stdin.take().expect("piped stdin");
        Vm {
            name: arch.name,
            child,
            stdin,
            console,
            started,
            seq: 0,
        }
    }

    fn text(&self) -> String {
        self.console
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn len(&self) -> usize {
        self.console.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Seconds since qemu started.
    pub fn uptime(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Waits until the console has printed `needle` after byte `from`; its end offset.
    fn wait_for(&mut self, from: usize, needle: &str, timeout: Duration) -> Option<usize> {
        let start = Instant::now();
        loop {
            let text = self.text();
            if let Some(at) = text.get(from..).and_then(|t| t.find(needle)) {
                return Some(from + at + needle.len());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "[{}] qemu exited ({status}) waiting for {needle:?}",
                    self.name
                );
            }
            if start.elapsed() >= timeout {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `needle` anywhere in the console output; panics with the console after
    /// `timeout`.
    pub fn expect(&mut self, needle: &str, timeout: Duration) {
        if self.wait_for(0, needle, timeout).is_none() {
            panic!(
                "[{}] no {needle:?} on the console after {timeout:?}:\n{}",
                self.name,
                self.text()
            );
        }
    }

    /// Whether the console printed `needle` so far.
    pub fn printed(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    /// Runs `cmd` in the VM's shell; its output (stdout and stderr) and exit code.
    pub fn sh(&mut self, cmd: &str, timeout: Duration) -> (String, i32) {
        self.seq += 1;
        let tag = format!("@@k{}:", self.seq);
        let from = self.len();
        let line = format!("{cmd}; printf '@@%s:%d@@\\n' k{} $?\n", self.seq);
        // Paced, a precaution for the slow guests: the UART models take input byte by byte
        // and the guest drains them only when it gets the CPU.
        for chunk in line.as_bytes().chunks(8) {
            self.stdin
                .write_all(chunk)
                .and_then(|()| self.stdin.flush())
                .unwrap_or_else(|e| panic!("[{}] console write: {e}", self.name));
            thread::sleep(Duration::from_millis(10));
        }
        let Some(end) = self.wait_for(from, &tag, timeout) else {
            panic!(
                "[{}] {cmd:?} did not finish within {timeout:?}; console:\n{}",
                self.name,
                self.text()
            );
        };
        let close = self
            .wait_for(end, "@@", Duration::from_secs(5))
            .expect("marker closes");
        let text = self.text();
        let rc = text[end..close - 2].parse().unwrap_or(-1);
        let output = text[from..end - tag.len()].to_owned();
        (output, rc)
    }

    /// `sh` that must exit 0.
    pub fn sh_ok(&mut self, cmd: &str, timeout: Duration) -> String {
        let (out, rc) = self.sh(cmd, timeout);
        assert_eq!(rc, 0, "[{}] {cmd:?} exited {rc}:\n{out}", self.name);
        out
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `from` to stderr line by line, each line prefixed with the VM's name and seconds
/// since `started`; also appends it (without carriage returns) to `keep`.
fn tee(
    name: &'static str,
    prefix: &'static str,
    mut from: impl Read + Send + 'static,
    keep: Option<Arc<Mutex<String>>>,
    started: Instant,
) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut line = String::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
            if let Some(keep) = &keep {
                keep.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&chunk);
            }
            line.push_str(&chunk);
            while let Some(nl) = line.find('\n') {
                let t = started.elapsed().as_secs_f64();
                eprintln!("[{name} {t:7.3}] {prefix}{}", &line[..nl]);
                line.drain(..=nl);
            }
        }
        if !line.is_empty() {
            eprintln!("[{name}] {prefix}{line}");
        }
    });
}

/// Runs a command and fails loudly when it does.
pub fn run_ok(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes tap `tap` in namespace `ns` and puts it on `bridge`, up. It goes away with the
/// namespace.
pub fn add_tap(ns: &str, tap: &str, bridge: &str) {
    run_ok(&["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"]);
    run_ok(&["ip", "-n", ns, "link", "set", tap, "master", bridge, "up"]);
}
