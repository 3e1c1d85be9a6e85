//! Least privilege. Before opening anything the daemon checks that it holds the capabilities
//! its configuration needs and names the missing ones (instead of a bare EPERM later); once
//! set up it keeps only those: CAP_NET_RAW (raw VRRP and AF_PACKET sockets), CAP_NET_ADMIN
//! (addresses, routes, macvlans, their /proc/sys/net sysctls, process events) and, only when
//! the configuration asks for them, CAP_SETUID + CAP_SETGID + CAP_KILL (scripts run as
//! another user, and stopping them) and CAP_CHOWN (a notify FIFO's owner). The inheritable
//! and ambient sets are emptied, so scripts do not inherit the network capabilities.
//!
//! The bounding set is cut to the same set (so an exec cannot win the rest back) unless a
//! script runs as root: a root script gets its capabilities from the bounding set at exec, and
//! keepalived's scripts run with all of root's. `script_user` confines those too.
//! PR_SET_NO_NEW_PRIVS is not set: it would break scripts that rely on set-uid helpers.

use std::fmt;

use crate::config::Config;

pub const CHOWN: u32 = 0;
pub const KILL: u32 = 5;
pub const SETGID: u32 = 6;
pub const SETUID: u32 = 7;
pub const NET_ADMIN: u32 = 12;
pub const NET_RAW: u32 = 13;

/// A set of capabilities, bit N = capability N.
pub type Caps = u64;

pub const fn bit(cap: u32) -> Caps {
    1 << cap
}

/// What the daemon keeps after start-up, decided from the configuration alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub keep: Caps,
    /// A script runs as root: the bounding set stays whole (see the module comment).
    pub root_scripts: bool,
}

/// The capabilities `config` needs in a daemon running as root (`as_root`) or not.
pub fn plan(config: &Config, as_root: bool) -> Plan {
    let g = &config.global;
    let fifos = [&g.notify_fifo, &g.vrrp_notify_fifo];
    let any = |n: [&Option<String>; 5]| n.iter().any(|s| s.is_some());
    let notify = config.instances.iter().any(|i| {
        any([
            &i.notify_master,
            &i.notify_backup,
            &i.notify_fault,
            &i.notify_stop,
            &i.notify,
        ])
    }) || config.sync_groups.iter().any(|s| {
        any([
            &s.notify_master,
            &s.notify_backup,
            &s.notify_fault,
            &s.notify_stop,
            &s.notify,
        ])
    }) || fifos
        .iter()
        .any(|f| f.as_ref().is_some_and(|f| f.script.is_some()));
    let default = g.script_user.as_deref();
    // Notify and FIFO scripts run as script_user; a vrrp_script may name its own.
    let users = config.scripts.iter().map(|s| s.user.as_deref().or(default));
    let mut keep = bit(NET_RAW) | bit(NET_ADMIN);
    let mut root_scripts = false;
    for user in users.chain(notify.then_some(default)) {
        match user {
            // As spawn::RunAs: no user and root (with root's group) run as the daemon itself.
            None => root_scripts |= as_root,
            Some(u) if crate::spawn::runs_as_daemon(u) => root_scripts |= as_root,
            // setgroups(2) needs CAP_SETGID even to the daemon's own user.
            Some(_) => keep |= bit(SETUID) | bit(SETGID) | bit(KILL),
        }
    }
    let owned = |f: &&Option<crate::config::NotifyFifo>| {
        f.as_ref()
            .is_some_and(|f| f.user.is_some() || f.group.is_some())
    };
    if fifos.iter().any(owned) {
        keep |= bit(CHOWN);
    }
    Plan { keep, root_scripts }
}

/// Capabilities the configuration needs that the process cannot have.
#[derive(Debug, PartialEq, Eq)]
pub struct Missing(pub Caps);

/// A capability's name and what the daemon needs it for.
fn about(cap: u32) -> (&'static str, &'static str) {
    match cap {
        NET_RAW => ("CAP_NET_RAW", "raw VRRP and AF_PACKET sockets"),
        NET_ADMIN => ("CAP_NET_ADMIN", "addresses, routes, VMACs"),
        SETUID => ("CAP_SETUID", "scripts run as a user"),
        SETGID => ("CAP_SETGID", "scripts run as a user"),
        KILL => ("CAP_KILL", "stopping scripts run as a user"),
        _ => ("CAP_CHOWN", "notify FIFO owner"),
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("missing")?;
        for cap in (0..64).filter(|c| self.0 & bit(*c) != 0) {
            let (name, why) = about(cap);
            write!(f, " {name} ({why});")?;
        }
        f.write_str(
            " run as root or grant them, e.g. setcap cap_net_raw,cap_net_admin+ep \
             /usr/sbin/tinyvrrp (README: Running without root)",
        )
    }
}

impl std::error::Error for Missing {}

/// Appended to "permission denied" on the pidfile or status socket of a non-root daemon.
pub fn path_hint(e: &std::io::Error) -> &'static str {
    // SAFETY: geteuid has no preconditions.
    if e.kind() == std::io::ErrorKind::PermissionDenied && unsafe { libc::geteuid() } != 0 {
        " (not root: put --pidfile and --status-socket in a directory this user owns)"
    } else {
        ""
    }
}

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const VERSION_3: u32 = 0x2008_0522;

fn capget() -> std::io::Result<[Data; 2]> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget with a v3 header and room for its two data words.
    if unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(d)
}

fn capset(d: &[Data; 2]) -> std::io::Result<()> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    // SAFETY: capset with a v3 header and its two data words.
    if unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn join(d: &[Data; 2], word: fn(&Data) -> u32) -> Caps {
    Caps::from(word(&d[0])) | Caps::from(word(&d[1])) << 32
}

/// Before setup: the plan for the configuration, or which of its capabilities this process
/// lacks. Capabilities permitted but not effective (`setcap ...+p`) are raised.
pub fn check(config: &Config) -> Result<Plan, Missing> {
    let plan = plan(config, nix::unistd::geteuid().is_root());
    let Ok(mut d) = capget() else {
        return Ok(plan); // A kernel without capabilities: the syscalls will tell.
    };
    let missing = plan.keep & !join(&d, |w| w.permitted);
    if missing != 0 {
        return Err(Missing(missing));
    }
    if plan.keep & !join(&d, |w| w.effective) != 0 {
        d[0].effective |= plan.keep as u32;
        d[1].effective |= (plan.keep >> 32) as u32;
        let _ = capset(&d);
    }
    Ok(plan)
}

/// After setup: keeps only `plan.keep` (see the module comment). Decided once: after a reload
/// that needs more (a new script user) those scripts fail with EPERM until a restart.
pub fn reduce(plan: Plan) {
    let Ok(d) = capget() else {
        return;
    };
    let keep = plan.keep & join(&d, |w| w.permitted);
    const SETPCAP: u32 = 8;
    if !plan.root_scripts && join(&d, |w| w.effective) & bit(SETPCAP) != 0 {
        // EINVAL past the kernel's last capability.
        for cap in (0..63).filter(|c| keep & bit(*c) == 0) {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let word = |w: u32| Data {
        effective: w,
        permitted: w,
        inheritable: 0,
    };
    // Cannot fail: nothing is added, and the inheritable set only shrinks.
    let _ = capset(&[word(keep as u32), word((keep >> 32) as u32)]);
    // The u32 formatter is linked anyway (u64's would cost its own copy); the plan holds no
    // capability past CAP_NET_RAW (13).
    log::info!("capabilities reduced to {:#x}", keep as u32);
}

#[cfg(test)]
mod tests;
