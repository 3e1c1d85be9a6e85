//! What track_process needs from /proc, read without heap allocation: the list of process IDs
//! (getdents64 into a fixed buffer), a process's name and state (/proc/PID/stat) and, only
//! when a matcher compares parameters, its command line (/proc/PID/cmdline).

use std::ffi::CStr;
use std::io::Write;

use crate::config::{ParamMatch, ProcessMatch};

/// The kernel's TASK_COMM_LEN minus the NUL: the most of a name /proc/PID/comm keeps.
pub const COMM_LEN: usize = 15;

/// A fixed buffer for one process's facts.
pub struct ProcBuf {
    stat: [u8; 512],
    cmdline: [u8; 4096],
}

impl Default for ProcBuf {
    fn default() -> Self {
        ProcBuf {
            stat: [0; 512],
            cmdline: [0; 4096],
        }
    }
}

/// A running (not zombie) process as the matchers see it.
pub struct Proc<'a> {
    pub comm: &'a [u8],
    /// NUL-separated argv, when it was asked for (empty for kernel threads).
    pub cmdline: Option<&'a [u8]>,
}

/// Reads `/proc/<pid>/<file>` into `buf`; the number of bytes, or None when it is gone.
fn read_proc_file(pid: u32, file: &str, buf: &mut [u8]) -> Option<usize> {
    let mut path = [0u8; 48];
    let mut w = &mut path[..];
    write!(w, "/proc/{pid}/{file}\0").ok()?;
    let path = CStr::from_bytes_until_nul(&path).ok()?;
    // SAFETY: open/read/close on a NUL-terminated path and a buffer we own.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let mut filled = 0;
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            let n = libc::read(fd, rest.as_mut_ptr().cast(), rest.len());
            if n <= 0 {
                break;
            }
            filled += n as usize;
        }
        libc::close(fd);
        Some(filled)
    }
}

/// Name and state from the text of /proc/PID/stat: `PID (NAME) S ...`. The name may itself
/// hold ')' or spaces, so it ends at the last ')'.
pub fn parse_stat(stat: &[u8]) -> Option<(&[u8], u8)> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let name = stat.get(open + 1..close)?;
    let state = *stat.get(close + 2)?;
    Some((name, state))
}

/// Reads process `pid`; None when it is gone, a zombie or dead.
pub fn read_proc(pid: u32, with_cmdline: bool, buf: &mut ProcBuf) -> Option<Proc<'_>> {
    let n = read_proc_file(pid, "stat", &mut buf.stat)?;
    let (comm, state) = parse_stat(buf.stat.get(..n)?)?;
    if matches!(state, b'Z' | b'X' | b'x') {
        return None;
    }
    let cmdline = if with_cmdline {
        let n = read_proc_file(pid, "cmdline", &mut buf.cmdline)?;
        buf.cmdline.get(..n)
    } else {
        None
    };
    Some(Proc { comm, cmdline })
}

/// Whether the matcher needs the command line.
pub fn needs_cmdline(m: &ProcessMatch) -> bool {
    m.full_command || m.params.is_some()
}

/// keepalived's track_process matching: the name against comm (whose first 15 bytes are all
/// the kernel keeps), or, with `full_command` or parameters, against argv[0] and the
/// parameters after it.
pub fn matches(m: &ProcessMatch, p: &Proc) -> bool {
    if !needs_cmdline(m) {
        let name = m.process.as_bytes();
        let name = name.get(..COMM_LEN).unwrap_or(name);
        return p.comm == name;
    }
    let Some(cmdline) = p.cmdline else {
        return false;
    };
    let cmdline = cmdline.strip_suffix(&[0]).unwrap_or(cmdline);
    if cmdline.is_empty() {
        return false;
    }
    let mut argv = cmdline.split(|&b| b == 0);
    if argv.next() != Some(m.process.as_bytes()) {
        return false;
    }
    let Some(params) = &m.params else {
        return true;
    };
    let last = params.len().checked_sub(1);
    for (i, want) in params.iter().enumerate() {
        let Some(got) = argv.next() else {
            return false;
        };
        let ok = if m.param_match == ParamMatch::Initial && Some(i) == last {
            got.starts_with(want.as_bytes())
        } else {
            got == want.as_bytes()
        };
        if !ok {
            return false;
        }
    }
    m.param_match != ParamMatch::Exact || argv.next().is_none()
}

/// Calls `f` with every process ID in /proc.
pub fn for_each_pid(mut f: impl FnMut(u32)) -> std::io::Result<()> {
    // SAFETY: open a directory fd we close below.
    let fd = unsafe {
        libc::open(
            b"/proc\0".as_ptr().cast(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buf = [0u8; 4096];
    let result = loop {
        // SAFETY: getdents64 fills at most buf.len() bytes of our buffer.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            break Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            break Ok(());
        }
        let mut off = 0usize;
        let filled = n as usize;
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        while off + 19 < filled {
            let reclen = buf
                .get(off + 16..off + 18)
                .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]) as usize);
            if reclen == 0 {
                break;
            }
            let name = buf.get(off + 19..(off + reclen).min(filled)).unwrap_or(&[]);
            let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
            if let Some(pid) = parse_pid(name) {
                f(pid);
            }
            off += reclen;
        }
    };
    // SAFETY: closing the fd opened above.
    unsafe { libc::close(fd) };
    result
}

fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    name.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(process: &str, params: Option<&[&str]>, pm: ParamMatch, full: bool) -> ProcessMatch {
        ProcessMatch {
            process: process.into(),
            params: params.map(|p| p.iter().map(|s| s.to_string()).collect()),
            param_match: pm,
            full_command: full,
        }
    }

    fn proc<'a>(comm: &'a str, cmdline: &'a [u8]) -> Proc<'a> {
        Proc {
            comm: comm.as_bytes(),
            cmdline: Some(cmdline),
        }
    }

    #[test]
    fn stat_name_may_hold_parentheses_and_spaces() {
        assert_eq!(
            parse_stat(b"42 (a (b) c) S 1 42 42 0"),
            Some((&b"a (b) c"[..], b'S'))
        );
        assert_eq!(parse_stat(b"42 (x) Z 1"), Some((&b"x"[..], b'Z')));
        assert_eq!(parse_stat(b"42 (x"), None);
        assert_eq!(parse_stat(b"42 (x)"), None);
    }

    #[test]
    fn names_compare_with_comm_cut_at_15_bytes() {
        let m = matcher("dnsmasq", None, ParamMatch::Exact, false);
        assert!(matches(&m, &proc("dnsmasq", b"")));
        assert!(!matches(&m, &proc("dnsmasq2", b"")));
        assert!(!matches(&m, &proc("dnsmas", b"")));
        let long = matcher("a-very-long-daemon-name", None, ParamMatch::Exact, false);
        assert!(matches(&long, &proc("a-very-long-dae", b"")));
    }

    #[test]
    fn full_command_and_parameters_compare_argv() {
        let cmd = b"/usr/sbin/dnsmasq\0-C\0/etc/dnsmasq.conf\0";
        let full = matcher("/usr/sbin/dnsmasq", None, ParamMatch::Exact, true);
        assert!(matches(&full, &proc("dnsmasq", cmd)));
        assert!(!matches(
            &matcher("dnsmasq", None, ParamMatch::Exact, true),
            &proc("dnsmasq", cmd)
        ));
        let exact = |p: &[&str]| matcher("/usr/sbin/dnsmasq", Some(p), ParamMatch::Exact, false);
        assert!(matches(
            &exact(&["-C", "/etc/dnsmasq.conf"]),
            &proc("x", cmd)
        ));
        assert!(!matches(&exact(&["-C"]), &proc("x", cmd)));
        assert!(!matches(&exact(&[]), &proc("x", cmd)));
        assert!(matches(&exact(&[]), &proc("x", b"/usr/sbin/dnsmasq\0")));
        let partial = matcher(
            "/usr/sbin/dnsmasq",
            Some(&["-C"]),
            ParamMatch::Partial,
            false,
        );
        assert!(matches(&partial, &proc("x", cmd)));
        let initial =
            |p: &[&str]| matcher("/usr/sbin/dnsmasq", Some(p), ParamMatch::Initial, false);
        assert!(matches(&initial(&["-C", "/etc/dns"]), &proc("x", cmd)));
        assert!(!matches(&initial(&["-C", "/etc/dnx"]), &proc("x", cmd)));
        // A kernel thread has an empty command line.
        assert!(!matches(&full, &proc("dnsmasq", b"")));
    }

    #[test]
    fn this_process_is_listed_and_read() {
        let me = std::process::id();
        let mut seen = false;
        for_each_pid(|pid| seen |= pid == me).expect("list /proc");
        assert!(seen, "own pid {me} not listed");
        let mut buf = ProcBuf::default();
        let p = read_proc(me, true, &mut buf).expect("read own /proc entry");
        let exe = std::env::current_exe().expect("current_exe");
        let name = exe.file_name().and_then(|n| n.to_str()).expect("name");
        let name = name.get(..COMM_LEN).unwrap_or(name);
        assert_eq!(p.comm, name.as_bytes());
        assert!(p.cmdline.is_some_and(|c| !c.is_empty()));
        assert!(read_proc(u32::MAX, false, &mut buf).is_none());
    }
}
