//! keepalived's script security (lib/notify.c: check_script_secure, check_security) for every
//! program the daemon starts: vrrp_script, notify*, notify_fifo_script. A program that runs
//! as root (or is set-uid/gid root) must not be changeable by anyone but root.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Child, ChildOut, Program, RunAs};

/// How the daemon runs scripts: as `script_user`, and whether `enable_script_security`
/// refuses insecure ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub run_as: Option<RunAs>,
    pub security: bool,
    /// `script_user` is unknown: nothing runs (rather than as root).
    pub no_user: bool,
}

impl Policy {
    /// The global policy. An unknown `script_user` was refused at load; should the user
    /// have gone since, scripts are refused rather than run as root.
    pub fn of(global: &crate::config::GlobalDefs) -> Policy {
        let user = RunAs::lookup(global.script_user.as_deref());
        Policy {
            run_as: user.clone().ok().flatten(),
            security: global.enable_script_security,
            no_user: user.is_err(),
        }
    }

    /// Why this policy refuses to run `program` as `run_as`, if it does.
    pub fn refuses(&self, program: &Program, run_as: Option<RunAs>) -> Option<String> {
        if self.no_user {
            Some("script_user is not a user of this host".into())
        } else if self.security {
            check(program, run_as).err()
        } else {
            None
        }
    }

    /// Starts `line` plus `args` as this policy says (see [`Program::spawn`]).
    pub fn spawn(
        &self,
        line: &str,
        args: &[&str],
        out: ChildOut<'_>,
        env: &[(&str, &str)],
    ) -> Result<Child, String> {
        let program = Program::parse(line).map_err(|e| e.to_string())?;
        if let Some(why) = self.refuses(&program, self.run_as) {
            return Err(format!("refused: {why}"));
        }
        let started = program.spawn(args, self.run_as, out, env);
        started.map_err(|e| e.to_string())
    }
}

/// keepalived's check for `program` run as `run_as` (None: root). Only a program that runs
/// as root, or a set-uid/gid root file, needs it. Beyond keepalived, every other word that
/// names an existing file is checked too: in `a.sh && b.sh`, a.sh may well run b.sh.
pub fn check(program: &Program, run_as: Option<RunAs>) -> Result<(), String> {
    let file = program.file().0;
    let as_root = run_as.map_or(true, |u| u.uid == 0 || u.gid == 0);
    let setid_root = std::fs::metadata(file).is_ok_and(|m| {
        (m.uid() == 0 && m.mode() & 0o4100 == 0o4100)
            || (m.gid() == 0 && m.mode() & 0o2010 == 0o2010)
    });
    if !as_root && !setid_root {
        return Ok(());
    }
    for word in program.words() {
        let word = word.trim_start_matches('<');
        if word.starts_with('/') && (word == file || std::fs::symlink_metadata(word).is_ok()) {
            secure_path(word)?;
        }
    }
    Ok(())
}

/// Every component of `path` as written (links not followed: a link must be root's too) and
/// of its real path is owned by root, and no file or non-sticky directory among them is
/// writable by others or by a group other than root's.
pub fn secure_path(path: &str) -> Result<(), String> {
    components(Path::new(path))?;
    let real = std::fs::canonicalize(path).map_err(|e| why(Path::new(path), &e.to_string()))?;
    components(&real)
}

/// "PATH what", one formatting for every refusal.
#[inline(never)]
fn why(p: &Path, what: &str) -> String {
    format!("{} {what}", p.display())
}

fn components(path: &Path) -> Result<(), String> {
    for (i, p) in path.ancestors().enumerate() {
        if p.as_os_str().is_empty() {
            break;
        }
        let m = std::fs::symlink_metadata(p).map_err(|e| why(p, &e.to_string()))?;
        let t = m.file_type();
        let expected = t.is_symlink() || if i == 0 { t.is_file() } else { t.is_dir() };
        let mode = m.mode();
        let checked = t.is_file() || (t.is_dir() && mode & 0o1000 == 0);
        let problem = if !expected {
            "has the wrong file type"
        } else if m.uid() != 0 {
            "is not owned by root"
        } else if checked && (mode & 0o002 != 0 || (m.gid() != 0 && mode & 0o020 != 0)) {
            "is writable by users other than root"
        } else {
            continue;
        };
        return Err(why(p, problem));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tinyvrrp-sec-{tag}-{}", std::process::id()))
    }

    fn script(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn chown(path: &Path, uid: u32) {
        std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown");
    }

    /// Issue 16 #7: a root-owned file reached through a symlink in a directory another user
    /// owns, a world-writable second word, a mode-777 file: all refused when run as root.
    #[test]
    fn keepalived_rules_cover_links_every_component_and_every_word() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // chown needs root, as the tests of the lab do.
        }
        let dir = temp("dir");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        let good = dir.join("good.sh");
        script(&good, 0o755);
        let open = dir.join("open.sh");
        script(&open, 0o777);
        let other = dir.join("other");
        std::fs::create_dir(&other).expect("mkdir");
        chown(&other, 65534);
        let link = other.join("link.sh");
        std::os::unix::fs::symlink(&good, &link).expect("symlink");
        let p = |line: &str| Program::parse(line).expect("parses");
        let g = good.display();
        assert_eq!(check(&p(&format!("{g} arg")), None), Ok(()));
        assert!(check(&p(&format!("{}", open.display())), None).is_err());
        assert!(check(&p(&format!("{} x", link.display())), None).is_err());
        assert!(check(&p(&format!("{g} && {}", open.display())), None).is_err());
        // As another user nothing is checked (keepalived: only root needs protection).
        let nobody = Some(RunAs {
            uid: 65534,
            gid: 65534,
        });
        assert_eq!(check(&p(&format!("{}", open.display())), nobody), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
