//! Starting the commands the daemon runs (notify and track scripts): without a shell unless
//! the line needs one, with the signals the daemon blocks unblocked again, in a process group
//! of their own so a timeout can kill everything they started, optionally as another user.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Characters that need a shell; without them the line is split on white space and run
/// directly.
const SHELL_CHARS: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '"', '\'', '*', '?', '[', '~', '\\',
];

/// A user to run as, resolved before the fork (no lookups between fork and exec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// None for root or an absent name; an unknown user is an error message.
    pub fn lookup(name: Option<&str>) -> Result<Option<RunAs>, String> {
        match name {
            None | Some("root") => Ok(None),
            Some(name) => match nix::unistd::User::from_name(name) {
                Ok(Some(u)) => Ok(Some(RunAs {
                    uid: u.uid.as_raw(),
                    gid: u.gid.as_raw(),
                })),
                Ok(None) => Err(format!("no user {name:?}")),
                Err(e) => Err(format!("looking up user {name:?}: {e}")),
            },
        }
    }
}

/// A command for `line` plus `args` (appended as words, or quoted into the shell line).
pub fn command(line: &str, args: &[&str], run_as: Option<RunAs>) -> Command {
    let mut cmd = if line.contains(SHELL_CHARS) {
        let mut full = line.to_string();
        for a in args {
            full.push_str(" '");
            full.push_str(&a.replace('\'', r"'\''"));
            full.push('\'');
        }
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(full);
        c
    } else {
        let mut words = line.split_whitespace();
        let mut c = Command::new(words.next().unwrap_or("/bin/true"));
        c.args(words).args(args);
        c
    };
    cmd.stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::setpgid(0, 0);
            if let Some(u) = run_as {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(u.gid) != 0
                    || libc::setuid(u.uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

/// Signals a whole process group started by [`command`].
pub fn kill_group(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: plain kill(2) on a process group we created.
        unsafe { libc::kill(-pid, signal) };
    }
}
