//! Notify scripts on state transitions: `notify_master` / `notify_backup` / `notify_fault` /
//! `notify_stop` as given, and `notify` with keepalived's arguments (`INSTANCE name STATE
//! priority`). Run without blocking the poll loop and, unlike keepalived, one at a time per
//! instance in the order the transitions happened, so a quick MASTER -> BACKUP never has its
//! two scripts racing. OpenWrt's `hotplug-call` idiom gets ACTION, TYPE, NAME and PRIORITY in
//! the environment.

pub mod fifo;
mod output;

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use log::{info, warn};
use polling::{Event as PollEvent, PollMode, Poller};

use fifo::Fifos;
use output::Output;

use crate::config::{InstanceConfig, SyncGroup};
use crate::instance::{State, Time};
use crate::spawn::secure::Policy;
use crate::spawn::{Child, ChildOut};

/// Poll keys from here on are the notify queues' output pipes (key = base + queue index).
pub const OUTPUT_KEY_BASE: usize = 16;

/// By default, a notify script still running after this is killed, so its instance's queue moves on.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

struct Job {
    command: String,
    with_args: bool,
    /// keepalived's first argument: INSTANCE or GROUP.
    kind: &'static str,
    name: String,
    state: State,
    priority: u8,
}

/// The notify commands of an instance or a sync group.
struct Commands<'a> {
    master: &'a Option<String>,
    backup: &'a Option<String>,
    fault: &'a Option<String>,
    stop: &'a Option<String>,
    any: &'a Option<String>,
}

/// One per instance and per sync group: their scripts run in order.
#[derive(Default)]
struct Queue {
    kind: &'static str,
    name: String,
    /// The script running now, its command line and when it is killed.
    running: Option<(Child, String, Time)>,
    pending: VecDeque<Job>,
    /// The output pipe of the script running now, or of the last one while something it
    /// started still holds it open.
    output: Option<Output>,
}

pub struct Notifier {
    queues: Vec<Queue>,
    timeout: std::time::Duration,
    /// Where the output pipes are polled; without one, scripts inherit the daemon's stdout
    /// and stderr.
    poller: Option<Arc<Poller>>,
    /// notify_fifo / vrrp_notify_fifo: written before any script of the same transition.
    fifos: Fifos,
    /// script_user and enable_script_security (keepalived applies both to notify scripts).
    policy: Policy,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::with_timeout(TIMEOUT)
    }
}

use fifo::state_word as keepalived_state;

fn spawn(job: &Job, output: Option<OwnedFd>, policy: &Policy) -> Result<Child, String> {
    let state = keepalived_state(job.state);
    let priority = job.priority.to_string();
    let args: &[&str] = if job.with_args {
        &[job.kind, &job.name, state, &priority]
    } else {
        &[]
    };
    let out = match &output {
        Some(fd) => ChildOut::To(fd.as_fd()),
        None => ChildOut::Inherit,
    };
    let env = [
        ("ACTION", state),
        ("TYPE", job.kind),
        ("NAME", &job.name),
        ("PRIORITY", &priority),
    ];
    policy.spawn(&job.command, args, out, &env)
}

impl Notifier {
    pub fn with_timeout(timeout: std::time::Duration) -> Self {
        Notifier {
            queues: Vec::new(),
            timeout,
            poller: None,
            fifos: Fifos::default(),
            policy: Policy::default(),
        }
    }

    /// Scripts' output goes through pipes polled by `poller` and is logged.
    pub fn with_poller(mut self, poller: Arc<Poller>) -> Self {
        self.poller = Some(poller);
        self
    }

    /// Lines for each transition also go to these FIFOs.
    pub fn with_fifos(mut self, fifos: Fifos) -> Self {
        self.fifos = fifos;
        self
    }

    pub fn fifos_mut(&mut self) -> &mut Fifos {
        &mut self.fifos
    }

    /// The scripts' user and security (script_user, enable_script_security).
    pub fn with_policy(mut self, global: &crate::config::GlobalDefs) -> Self {
        self.policy = Policy::of(global);
        self
    }

    /// Reload: the scripts' user and security from `global`, and the FIFOs.
    pub fn reconfigure(&mut self, global: &crate::config::GlobalDefs) {
        self.policy = Policy::of(global);
        self.fifos.reconfigure(global);
    }

    /// keepalived's event line for a master that heard a lower-priority master (FIFOs only:
    /// tinyvrrp has no notify_master_rx_lower_pri script).
    pub fn master_rx_lower_pri(&mut self, name: &str, priority: u8) {
        self.fifos
            .write("INSTANCE", name, fifo::MASTER_RX_LOWER_PRI, priority);
    }

    pub fn transition(&mut self, cfg: &InstanceConfig, to: State, priority: u8, now: Time) {
        self.fifos
            .write("INSTANCE", &cfg.name, keepalived_state(to), priority);
        let commands = Commands {
            master: &cfg.notify_master,
            backup: &cfg.notify_backup,
            fault: &cfg.notify_fault,
            stop: &cfg.notify_stop,
            any: &cfg.notify,
        };
        self.queue("INSTANCE", &cfg.name, commands, to, priority, now);
    }

    /// A sync group's members all reached `to`: its scripts run with `GROUP name STATE 0`, as
    /// keepalived calls them.
    pub fn group_transition(&mut self, group: &SyncGroup, to: State, now: Time) {
        self.fifos
            .write("GROUP", &group.name, keepalived_state(to), 0);
        let commands = Commands {
            master: &group.notify_master,
            backup: &group.notify_backup,
            fault: &group.notify_fault,
            stop: &group.notify_stop,
            any: &group.notify,
        };
        self.queue("GROUP", &group.name, commands, to, 0, now);
    }

    fn queue(
        &mut self,
        kind: &'static str,
        name: &str,
        commands: Commands,
        to: State,
        priority: u8,
        now: Time,
    ) {
        let specific = match to {
            State::Master => commands.master,
            State::Backup => commands.backup,
            State::Fault => commands.fault,
            State::Init => commands.stop,
        };
        let jobs = [(specific, false), (commands.any, true)];
        if jobs.iter().all(|(c, _)| c.is_none()) {
            return;
        }
        let qi = match self
            .queues
            .iter()
            .position(|q| q.kind == kind && q.name == name)
        {
            Some(i) => i,
            None => {
                self.queues.push(Queue {
                    kind,
                    name: name.to_string(),
                    ..Queue::default()
                });
                self.queues.len() - 1
            }
        };
        for (command, with_args) in jobs {
            if let Some(command) = command {
                self.queues[qi].pending.push_back(Job {
                    command: command.clone(),
                    with_args,
                    kind,
                    name: name.to_string(),
                    state: to,
                    priority,
                });
            }
        }
        self.advance(qi, now);
    }

    fn advance(&mut self, qi: usize, now: Time) {
        let (timeout, poller) = (self.timeout, self.poller.clone());
        let Some(queue) = self.queues.get_mut(qi) else {
            return;
        };
        while queue.running.is_none() {
            let Some(job) = queue.pending.pop_front() else {
                return;
            };
            let label = format!("{}: notify {}", job.name, job.command);
            // Stop scripts outlive the daemon that reads the pipe: they keep its stderr.
            let piped = poller.as_ref().filter(|_| job.state != State::Init);
            let pipe = piped.and_then(|_| match Output::open(label) {
                Ok(pipe) => Some(pipe),
                Err(e) => {
                    warn!("{}: no pipe for the notify output: {e}", job.name);
                    None
                }
            });
            let (output, write) = match pipe {
                Some((o, w)) => (Some(o), Some(w)),
                None => (None, None),
            };
            match spawn(&job, write, &self.policy) {
                Ok(child) => {
                    info!("{}: running notify: {}", job.name, job.command);
                    queue.running = Some((child, job.command, now + timeout));
                    if let (Some(poller), Some(output)) = (&poller, output) {
                        Self::close_output(queue, poller);
                        // SAFETY: the fd is owned by the queue and deleted from the poller
                        // before it is dropped (close_output).
                        let added = unsafe {
                            poller.add_with_mode(
                                output.fd(),
                                PollEvent::readable(OUTPUT_KEY_BASE + qi),
                                PollMode::Level,
                            )
                        };
                        match added {
                            Ok(()) => queue.output = Some(output),
                            Err(e) => warn!("{}: polling the notify output: {e}", job.name),
                        }
                    }
                }
                Err(e) => warn!("{}: notify {}: {e}", job.name, job.command),
            }
        }
    }

    fn close_output(queue: &mut Queue, poller: &Poller) {
        if let Some(mut old) = queue.output.take() {
            old.flush();
            // SAFETY: the fd is still open here; it is closed when `old` drops.
            let _ = poller.delete(unsafe { std::os::fd::BorrowedFd::borrow_raw(old.fd()) });
        }
    }

    /// The output pipe polled with `key` is readable: logs its lines, closes it at its end.
    pub fn on_output(&mut self, key: usize) {
        let Some(poller) = self.poller.clone() else {
            return;
        };
        let Some(queue) = key
            .checked_sub(OUTPUT_KEY_BASE)
            .and_then(|qi| self.queues.get_mut(qi))
        else {
            return;
        };
        if queue.output.as_mut().is_some_and(Output::drain) {
            Self::close_output(queue, &poller);
        }
    }

    /// Called on SIGCHLD: collects finished scripts and starts the next in each queue.
    pub fn reap(&mut self, now: Time) {
        self.fifos.reap();
        for queue in &mut self.queues {
            if let Some((child, command, _)) = queue.running.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        if let Some(output) = queue.output.as_mut() {
                            output.drain();
                        }
                        if !status.success() {
                            warn!("{}: notify {command} exited with {status}", queue.name);
                        }
                        queue.running = None;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!("{}: waiting for notify {command}: {e}", queue.name);
                        queue.running = None;
                    }
                }
            }
        }
        for qi in 0..self.queues.len() {
            self.advance(qi, now);
        }
    }

    /// When the oldest running script is due to be killed.
    pub fn next_deadline(&self) -> Option<Time> {
        self.queues
            .iter()
            .filter_map(|q| q.running.as_ref().map(|r| r.2))
            .min()
    }

    /// Kills scripts that ran past [`TIMEOUT`] (with their process group) so the next one in
    /// their queue can start.
    pub fn on_timer(&mut self, now: Time) {
        for queue in &mut self.queues {
            if let Some((mut child, command, deadline)) = queue.running.take() {
                if deadline > now {
                    queue.running = Some((child, command, deadline));
                    continue;
                }
                // As Duration's {:?} prints whole seconds and milliseconds, without its code.
                let (n, unit) = match self.timeout.subsec_millis() {
                    0 => (self.timeout.as_secs(), "s"),
                    ms => (self.timeout.as_secs() * 1000 + u64::from(ms), "ms"),
                };
                warn!(
                    "{}: notify {command} still running after {n}{unit}: killed",
                    queue.name
                );
                crate::spawn::kill_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
            }
        }
        for qi in 0..self.queues.len() {
            self.advance(qi, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn instance(notify: &str) -> InstanceConfig {
        let text = format!(
            "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\n\
             virtual_ipaddress = 192.0.2.1/24\nnotify_master = {notify}\n"
        );
        crate::config::parse_str(&text, "t.conf")
            .map(|l| l.config.instances[0].clone())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    #[test]
    fn a_script_past_its_timeout_is_killed_and_the_queue_moves_on() {
        let cfg = instance("/bin/sleep 3600");
        let mut n = Notifier::with_timeout(Duration::from_millis(100));
        let t0 = Duration::from_secs(1);
        n.transition(&cfg, State::Master, 150, t0);
        n.transition(&cfg, State::Master, 150, t0);
        assert_eq!(n.next_deadline(), Some(t0 + Duration::from_millis(100)));
        let first = n.queues[0]
            .running
            .as_ref()
            .map(|r| r.0.id())
            .expect("running");
        assert_eq!(
            n.queues[0].pending.len(),
            1,
            "the second waits for the first"
        );
        n.on_timer(t0 + Duration::from_millis(50));
        assert!(alive(first), "killed before its timeout");
        n.on_timer(t0 + Duration::from_millis(100));
        assert!(!alive(first), "not killed at its timeout");
        let second = n.queues[0]
            .running
            .as_ref()
            .map(|r| r.0.id())
            .expect("next started");
        assert_ne!(first, second);
        assert!(n.queues[0].pending.is_empty());
        n.on_timer(t0 + Duration::from_millis(200));
        assert!(!alive(second));
        assert_eq!(n.next_deadline(), None);
    }

    fn uid_of(pid: u32) -> Option<u32> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Issue 16 #7: notify scripts run as script_user, and enable_script_security refuses an
    /// insecure one run as root.
    #[test]
    fn notify_scripts_follow_script_user_and_script_security() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // Only root can run a script as another user.
        }
        let cfg = instance("/bin/sleep 3600");
        let mut global = crate::config::GlobalDefs {
            script_user: Some("nobody".into()),
            ..Default::default()
        };
        let mut n = Notifier::default().with_policy(&global);
        n.transition(&cfg, State::Master, 150, Duration::from_secs(1));
        let pid = n.queues[0]
            .running
            .as_ref()
            .map(|r| r.0.id())
            .expect("runs");
        assert_eq!(uid_of(pid), Some(65534));
        crate::spawn::kill_group(pid, libc::SIGKILL);

        let path = std::env::temp_dir().join(format!("tinyvrrp-open-{}", std::process::id()));
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        global.script_user = None;
        global.enable_script_security = true;
        let mut n = Notifier::default().with_policy(&global);
        n.transition(
            &instance(&path.display().to_string()),
            State::Master,
            150,
            Duration::ZERO,
        );
        let _ = std::fs::remove_file(&path);
        assert!(
            n.queues[0].running.is_none(),
            "a mode-777 script ran as root"
        );
    }
}
