//! One daemon per pidfile and per (interface, VRID, family).
//!
//! The pidfile is opened without following a symlink, must be a regular file of ours with one
//! link, and stays locked (flock) for the daemon's life: a second start fails on the lock and
//! leaves the file alone. Each instance also binds an abstract unix socket named after its
//! interface, VRID and family. Abstract sockets belong to the network namespace and vanish
//! with the process, so a crashed daemon leaves nothing stale, and a second daemon managing
//! the same virtual router is refused with the first one's PID (SO_PEERCRED).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::InstanceConfig;
use crate::packet::Family;

#[derive(Debug)]
pub enum PidfileError {
    Open(PathBuf, io::Error),
    NotOurs(PathBuf, &'static str),
    Locked(PathBuf, Option<u32>),
}

impl fmt::Display for PidfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidfileError::Open(p, e) if e.raw_os_error() == Some(libc::ELOOP) => {
                write!(
                    f,
                    "pidfile {}: a symbolic link; refusing to follow it",
                    p.display()
                )
            }
            PidfileError::Open(p, e) => {
                let hint = crate::privilege::path_hint(e);
                write!(f, "pidfile {}: {e}{hint}", p.display())
            }
            PidfileError::NotOurs(p, why) => {
                write!(f, "pidfile {}: {why}; refusing it", p.display())
            }
            PidfileError::Locked(p, pid) => {
                write!(f, "pidfile {} is locked by a running tinyvrrp", p.display())?;
                match pid {
                    Some(pid) => write!(f, " (pid {pid})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The daemon's locked pidfile; removed on drop if the path still names it.
pub struct Pidfile {
    file: File,
    path: PathBuf,
}

impl Pidfile {
    pub fn create(path: &Path) -> Result<Self, PidfileError> {
        let err = |e| PidfileError::Open(path.to_path_buf(), e);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        let why = if !meta.is_file() {
            Some("not a regular file")
        } else if meta.nlink() != 1 {
            Some("has other hard links")
        } else if meta.uid() != nix::unistd::geteuid().as_raw() {
            Some("owned by another user")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(PidfileError::NotOurs(path.to_path_buf(), why));
        }
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut buf = [0u8; 16];
            let n = (&file).read(&mut buf).unwrap_or(0);
            let pid = std::str::from_utf8(&buf[..n])
                .ok()
                .and_then(|t| t.trim().parse().ok());
            return Err(PidfileError::Locked(path.to_path_buf(), pid));
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(err)?;
        Ok(Pidfile {
            file,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let ours = |m: std::fs::Metadata| {
            self.file
                .metadata()
                .is_ok_and(|f| f.dev() == m.dev() && f.ino() == m.ino())
        };
        if std::fs::symlink_metadata(&self.path).is_ok_and(ours) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The process listening on a unix socket (from SO_PEERCRED).
#[derive(Clone, Copy, Debug)]
pub struct Holder {
    pub pid: u32,
    pub uid: u32,
}

/// A unix stream socket (non-blocking, close-on-exec) and the address `name`: a path, or an
/// abstract name starting with a NUL.
fn unix_socket(name: &[u8]) -> Option<(OwnedFd, libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if name.is_empty() || name.len() >= sa.sun_path.len() {
        return None;
    }
    for (d, s) in sa.sun_path.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // A path is passed with its NUL, an abstract name without one.
    let len = std::mem::size_of::<libc::sa_family_t>() + name.len() + usize::from(name[0] != 0);
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_UNIX, flags, 0) };
    // SAFETY: a fresh descriptor nobody else owns.
    (fd >= 0).then(|| {
        (
            unsafe { OwnedFd::from_raw_fd(fd) },
            sa,
            len as libc::socklen_t,
        )
    })
}

fn sockaddr(sa: &libc::sockaddr_un) -> *const libc::sockaddr {
    sa as *const libc::sockaddr_un as *const libc::sockaddr
}

/// Who listens on the unix socket `name` (see `unix_socket`): None when nobody (a stale
/// socket), Some when a process does (Some(None) when it could not be learnt, e.g. its backlog
/// is full). The connect does not block.
pub fn listener(name: &[u8]) -> Option<Option<Holder>> {
    let (fd, sa, len) = unix_socket(name)?;
    // SAFETY: sa is live and len is within it.
    if unsafe { libc::connect(fd.as_raw_fd(), sockaddr(&sa), len) } != 0 {
        let again = io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN);
        return again.then_some(None);
    }
    // SAFETY: ucred is plain old data; getsockopt writes at most `n` bytes into it.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut n = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let credp = &mut cred as *mut libc::ucred as *mut libc::c_void;
    // SAFETY: as above.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            credp,
            &mut n,
        )
    };
    Some((rc == 0).then_some(Holder {
        pid: cred.pid as u32,
        uid: cred.uid,
    }))
}

/// Binds and listens on the abstract name `name` (NUL first); None when it is taken.
fn claim(name: &[u8]) -> Option<OwnedFd> {
    let (fd, sa, len) = unix_socket(name)?;
    // SAFETY: sa is live and len is within it; listen on our own socket.
    let ok = unsafe {
        libc::bind(fd.as_raw_fd(), sockaddr(&sa), len) == 0 && libc::listen(fd.as_raw_fd(), 1) == 0
    };
    ok.then_some(fd)
}

#[derive(Debug)]
pub struct ClaimError {
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    pub holder: Option<Holder>,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = match self.family {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        };
        write!(
            f,
            "VRID {} ({fam}) on {} is managed by another tinyvrrp",
            self.vrid, self.interface
        )?;
        if let Some(h) = self.holder {
            write!(f, " (pid {})", h.pid)?;
        }
        f.write_str("; refusing to run beside it")
    }
}

/// The abstract sockets claiming this daemon's virtual routers.
#[derive(Default)]
pub struct Claims {
    held: Vec<(Vec<u8>, OwnedFd)>,
}

/// The abstract name of an instance's claim: NUL, then `tinyvrrp/IFNAME/VRID/v4|v6`.
fn claim_name(c: &InstanceConfig) -> Vec<u8> {
    let fam = match c.family {
        Family::V4 => 4,
        Family::V6 => 6,
    };
    format!("\0tinyvrrp/{}/{}/v{fam}", c.interface, c.vrid).into_bytes()
}

impl Claims {
    /// Claims every instance of `instances` and releases the others; on a refusal nothing
    /// changes (a reload then keeps the running configuration).
    pub fn update(&mut self, instances: &[InstanceConfig]) -> Result<(), ClaimError> {
        let mut fresh: Vec<(Vec<u8>, OwnedFd)> = Vec::new();
        for c in instances {
            let name = claim_name(c);
            if self.held.iter().chain(&fresh).any(|h| h.0 == name) {
                continue;
            }
            if let Some(fd) = claim(&name) {
                fresh.push((name, fd));
                continue;
            }
            let holder = listener(&name).flatten();
            // Abstract names have no permissions: a process of another user squatting on one
            // is not a tinyvrrp of ours and must not keep the daemon down.
            if let Some(h) = holder.filter(|h| h.uid != nix::unistd::geteuid().as_raw()) {
                log::warn!(
                    "VRID {} on {} is claimed by pid {} of uid {}: running without that claim",
                    c.vrid,
                    c.interface,
                    h.pid,
                    h.uid
                );
                continue;
            }
            return Err(ClaimError {
                interface: c.interface.clone(),
                vrid: c.vrid,
                family: c.family,
                holder,
            });
        }
        let wanted: Vec<Vec<u8>> = instances.iter().map(claim_name).collect();
        self.held.retain(|h| wanted.contains(&h.0));
        self.held.extend(fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tvr-pidfile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_symlink_is_refused_and_its_target_untouched() {
        let dir = scratch("link");
        let target = dir.join("target");
        std::fs::write(&target, "keep\n").unwrap();
        let link = dir.join("p.pid");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = Pidfile::create(&link).err().expect("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_lock_refuses_a_second_owner_and_only_our_file_is_removed() {
        let dir = scratch("lock");
        let path = dir.join("p.pid");
        let first = Pidfile::create(&path).expect("first");
        let me = std::process::id();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        match Pidfile::create(&path) {
            Err(PidfileError::Locked(_, Some(pid))) => assert_eq!(pid, me),
            other => panic!("not refused on the lock: {:?}", other.err()),
        }
        assert!(path.exists(), "a refused start removed the pidfile");
        // Replaced behind our back: the new file is not ours to remove.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "1\n").unwrap();
        drop(first);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        std::fs::remove_file(&path).unwrap();
        drop(Pidfile::create(&path).expect("again"));
        assert!(!path.exists(), "our own pidfile is removed on drop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
