//! Runs the vrrp_script checks without blocking the poll loop: each script starts when its
//! interval comes round (never two runs of one script at once), its exit is collected when the
//! daemon sees SIGCHLD, and a run past its timeout is killed with its whole process group
//! (SIGTERM, then SIGKILL a second later) and counted as a failure. No zombies: every child is
//! waited for.

use std::time::Duration;

use log::{debug, info, warn};

use super::{Check, Health};
use crate::config::VrrpScript;
use crate::instance::Time;
use crate::spawn::{self, secure, Child, ChildOut, Program, RunAs};

const KILL_GRACE: Duration = Duration::from_secs(1);

struct Running {
    child: Child,
    /// When to signal it next: SIGTERM at the timeout, then SIGKILL after the grace.
    deadline: Time,
    timed_out: bool,
}

struct Script {
    cfg: VrrpScript,
    /// Resolved at (re)load, as keepalived does; `None` when it cannot run (logged): never
    /// run, always failing, until a reload finds it.
    program: Option<Program>,
    run_as: Option<RunAs>,
    check: Check,
    next_run: Time,
    running: Option<Running>,
    runs: u64,
    /// Refused by enable_script_security: never run, always failing.
    refused: bool,
}

#[derive(Default)]
pub struct ScriptRunner {
    scripts: Vec<Script>,
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl ScriptRunner {
    /// Scripts of a (re)loaded config. A script whose definition did not change keeps its
    /// health across a reload, so a reload does not flap the instances that track it.
    pub fn new(
        scripts: &[crate::config::VrrpScript],
        default_user: Option<&str>,
        security: bool,
        previous: Option<ScriptRunner>,
        now: Time,
    ) -> Self {
        let mut previous = previous.map_or_else(Vec::new, |mut p| std::mem::take(&mut p.scripts));
        let scripts = scripts
            .iter()
            .map(|cfg| {
                let kept = previous
                    .iter()
                    .position(|p| p.cfg == *cfg)
                    .map(|i| previous.swap_remove(i));
                let user = cfg.user.as_deref().or(default_user);
                // An unknown user was refused at load; gone since, the script does not run.
                let run_as = RunAs::lookup(user);
                let program = resolve(cfg);
                let why = match (&program, &run_as) {
                    (_, Err(e)) => Some(e.clone()),
                    (Some(p), Ok(r)) if security => secure::check(p, *r).err(),
                    _ => None,
                };
                if let Some(why) = &why {
                    warn!(
                        "vrrp_script {}: refused ({why}); it counts as failing",
                        cfg.name
                    );
                }
                let run_as = run_as.ok().flatten();
                let refused = why.is_some();
                let mut s = kept.unwrap_or_else(|| Script {
                    cfg: cfg.clone(),
                    program: None,
                    run_as,
                    check: Check::default(),
                    next_run: now,
                    running: None,
                    runs: 0,
                    refused,
                });
                s.run_as = run_as;
                s.refused = refused || program.is_none();
                s.program = program;
                s
            })
            .collect();
        // Runs of scripts that went away are killed and collected now.
        for mut old in previous {
            if let Some(mut r) = old.running.take() {
                spawn::kill_group(r.child.id(), libc::SIGKILL);
                let _ = r.child.wait();
            }
        }
        ScriptRunner { scripts }
    }

    pub fn health(&self, name: &str) -> Health {
        self.scripts
            .iter()
            .find(|s| s.cfg.name == name)
            .map_or(Health::Unknown, |s| s.check.health())
    }

    pub fn next_deadline(&self) -> Option<Time> {
        self.scripts
            .iter()
            .map(|s| s.running.as_ref().map_or(s.next_run, |r| r.deadline))
            .min()
    }

    /// Starts due scripts and signals overdue ones; returns true when a health changed.
    pub fn on_timer(&mut self, now: Time) -> bool {
        let mut changed = false;
        for s in &mut self.scripts {
            match &mut s.running {
                Some(r) if r.deadline <= now => {
                    if r.timed_out {
                        spawn::kill_group(r.child.id(), libc::SIGKILL);
                        r.deadline = now + KILL_GRACE;
                    } else {
                        warn!(
                            "vrrp_script {}: no answer after {} s, killing it (a failure)",
                            s.cfg.name, s.cfg.timeout_s
                        );
                        spawn::kill_group(r.child.id(), libc::SIGTERM);
                        r.timed_out = true;
                        r.deadline = now + KILL_GRACE;
                    }
                }
                Some(_) => {}
                None if s.next_run <= now && s.refused => {
                    s.next_run = now + secs(s.cfg.interval_s);
                    changed |= record(s, false);
                }
                None if s.next_run <= now => {
                    let Some(program) = &s.program else {
                        continue;
                    };
                    let started = program.spawn(&[], s.run_as, ChildOut::Null, &[]);
                    s.next_run = now + secs(s.cfg.interval_s);
                    match started {
                        Ok(child) => {
                            s.runs += 1;
                            s.running = Some(Running {
                                child,
                                deadline: now + secs(s.cfg.timeout_s),
                                timed_out: false,
                            });
                        }
                        Err(e) => {
                            warn!("vrrp_script {}: cannot start: {e}", s.cfg.name);
                            changed |= record(s, false);
                        }
                    }
                }
                None => {}
            }
        }
        changed
    }

    /// Collects finished runs (call on SIGCHLD); returns true when a health changed.
    pub fn reap(&mut self) -> bool {
        let mut changed = false;
        for s in &mut self.scripts {
            let Some(r) = s.running.as_mut() else {
                continue;
            };
            match r.child.try_wait() {
                Ok(Some(status)) => {
                    let ok = status.success() && !r.timed_out;
                    debug!("vrrp_script {}: {status}", s.cfg.name);
                    s.running = None;
                    changed |= record(s, ok);
                }
                Ok(None) => {}
                Err(e) => {
                    warn!("vrrp_script {}: waiting: {e}", s.cfg.name);
                    s.running = None;
                }
            }
        }
        changed
    }

    /// Runs started so far, per script name (for status and tests).
    /// (name, runs, health, the section's weight) of every script.
    pub fn runs(&self) -> impl Iterator<Item = (&str, u64, Health, i32)> {
        self.scripts
            .iter()
            .map(|s| (s.cfg.name.as_str(), s.runs, s.check.health(), s.cfg.weight))
    }
}

/// The script's program, or why it cannot run (logged; then it counts as failing). The file
/// a PATH search found is a config warning, logged at each (re)load.
fn resolve(cfg: &VrrpScript) -> Option<Program> {
    match Program::parse(&cfg.script) {
        Ok(p) => {
            if let (file, Some(word)) = p.file() {
                info!(
                    "vrrp_script {}: `{word}` resolved by PATH search to {file}",
                    cfg.name
                );
            }
            Some(p)
        }
        Err(e) => {
            warn!(
                "vrrp_script {}: {e}; it counts as failing until a reload finds it",
                cfg.name
            );
            None
        }
    }
}

fn record(s: &mut Script, ok: bool) -> bool {
    let changed = s.check.record(ok, s.cfg.rise, s.cfg.fall);
    if changed {
        info!(
            "vrrp_script {} is now {}",
            s.cfg.name,
            if s.check.health() == Health::Up {
                "up"
            } else {
                "down"
            }
        );
    }
    changed
}

impl Drop for ScriptRunner {
    fn drop(&mut self) {
        for s in &mut self.scripts {
            if let Some(mut r) = s.running.take() {
                spawn::kill_group(r.child.id(), libc::SIGKILL);
                let _ = r.child.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn insecure(file: &str) -> Option<String> {
        secure::secure_path(file).err()
    }

    fn temp_script(tag: &str, mode: u32) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("tinyvrrp-{tag}-{}", std::process::id()));
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn script_security_refuses_files_others_can_write() {
        assert_eq!(insecure("/bin/true"), None);
        let path = temp_script("insecure", 0o777);
        assert!(insecure(&path.display().to_string()).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // Owned by the test's user: insecure unless that is root. /tmp above it is sticky.
        let root = nix::unistd::Uid::effective().is_root();
        assert_eq!(insecure(&path.display().to_string()).is_some(), !root);
        let _ = std::fs::remove_file(&path);
    }

    /// A safe file in a directory others can write is not safe: they could replace it.
    #[test]
    fn script_security_looks_at_the_directories_above() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("tinyvrrp-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let script = dir.join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(insecure(&script.display().to_string()), None);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let why = insecure(&script.display().to_string());
        assert!(
            why.as_deref()
                .is_some_and(|w| w.contains("writable by users other")),
            "{why:?}"
        );
        // Sticky, like /tmp: others cannot replace root's file.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert_eq!(insecure(&script.display().to_string()), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_refused_script_never_runs_and_counts_as_failing() {
        let path = temp_script("refused", 0o777);
        let cfg = VrrpScript {
            name: "chk".into(),
            script: path.display().to_string(),
            interval_s: 1,
            timeout_s: 1,
            weight: 0,
            rise: 1,
            fall: 1,
            user: None,
        };
        let mut r = ScriptRunner::new(&[cfg], None, true, None, Duration::ZERO);
        assert!(r.on_timer(Duration::ZERO));
        assert_eq!(r.health("chk"), Health::Down);
        assert_eq!(r.runs().next().map(|x| x.1), Some(0), "it must not run");
        let _ = std::fs::remove_file(&path);
    }

    fn script_cfg(name: &str, script: &str) -> VrrpScript {
        VrrpScript {
            name: name.into(),
            script: script.into(),
            interval_s: 1,
            timeout_s: 1,
            weight: 0,
            rise: 1,
            fall: 1,
            user: None,
        }
    }

    /// keepalived disables a script it cannot find; here the check counts as failing, so the
    /// instances tracking it see the failure instead of silently losing the check.
    #[test]
    fn a_missing_script_never_runs_and_counts_as_failing() {
        let cfgs = [
            script_cfg("gone", "/nonexistent/tinyvrrp-check arg"),
            script_cfg("nopath", "tinyvrrp-no-such-command"),
        ];
        let mut r = ScriptRunner::new(&cfgs, None, false, None, Duration::ZERO);
        assert!(r.on_timer(Duration::ZERO));
        assert_eq!(r.health("gone"), Health::Down);
        assert_eq!(r.health("nopath"), Health::Down);
        assert!(r.runs().all(|(_, runs, _, _)| runs == 0));
    }

    /// A bare command is found in PATH and run.
    #[test]
    fn a_bare_command_runs_from_path() {
        let cfgs = [script_cfg("ok", "true")];
        let mut r = ScriptRunner::new(&cfgs, None, false, None, Duration::ZERO);
        r.on_timer(Duration::ZERO);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while r.health("ok") != Health::Up && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            r.reap();
        }
        assert_eq!(r.health("ok"), Health::Up);
        assert_eq!(r.runs().next().map(|x| x.1), Some(1));
    }
}
