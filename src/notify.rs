//! Notify scripts on state transitions: `notify_master` / `notify_backup` / `notify_fault` /
//! `notify_stop` as given, and `notify` with keepalived's arguments (`INSTANCE name STATE
//! priority`). Run without blocking the poll loop and, unlike keepalived, one at a time per
//! instance in the order the transitions happened, so a quick MASTER -> BACKUP never has its
//! two scripts racing. OpenWrt's `hotplug-call` idiom gets ACTION, TYPE, NAME and PRIORITY in
//! the environment.

use std::collections::VecDeque;
use std::process::Child;

use log::{info, warn};

use crate::config::InstanceConfig;
use crate::instance::{State, Time};

/// By default, a notify script still running after this is killed, so its instance's queue moves on.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

struct Job {
    command: String,
    with_args: bool,
    name: String,
    state: State,
    priority: u8,
}

#[derive(Default)]
struct Queue {
    name: String,
    /// The script running now, its command line and when it is killed.
    running: Option<(Child, String, Time)>,
    pending: VecDeque<Job>,
}

pub struct Notifier {
    queues: Vec<Queue>,
    timeout: std::time::Duration,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::with_timeout(TIMEOUT)
    }
}

fn keepalived_state(state: State) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Init => "STOP",
    }
}

fn spawn(job: &Job) -> std::io::Result<Child> {
    let state = keepalived_state(job.state);
    let priority = job.priority.to_string();
    let args: &[&str] = if job.with_args {
        &["INSTANCE", &job.name, state, &priority]
    } else {
        &[]
    };
    crate::spawn::command(&job.command, args, None)
        .env("ACTION", state)
        .env("TYPE", "INSTANCE")
        .env("NAME", &job.name)
        .env("PRIORITY", &priority)
        .spawn()
}

impl Notifier {
    pub fn with_timeout(timeout: std::time::Duration) -> Self {
        Notifier {
            queues: Vec::new(),
            timeout,
        }
    }

    pub fn transition(&mut self, cfg: &InstanceConfig, to: State, priority: u8, now: Time) {
        let specific = match to {
            State::Master => &cfg.notify_master,
            State::Backup => &cfg.notify_backup,
            State::Fault => &cfg.notify_fault,
            State::Init => &cfg.notify_stop,
        };
        let jobs = [(specific, false), (&cfg.notify, true)];
        if jobs.iter().all(|(c, _)| c.is_none()) {
            return;
        }
        let qi = match self.queues.iter().position(|q| q.name == cfg.name) {
            Some(i) => i,
            None => {
                self.queues.push(Queue {
                    name: cfg.name.clone(),
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
                    name: cfg.name.clone(),
                    state: to,
                    priority,
                });
            }
        }
        Self::advance(&mut self.queues[qi], now, self.timeout);
    }

    fn advance(queue: &mut Queue, now: Time, timeout: std::time::Duration) {
        while queue.running.is_none() {
            let Some(job) = queue.pending.pop_front() else {
                return;
            };
            match spawn(&job) {
                Ok(child) => {
                    info!("{}: running notify: {}", job.name, job.command);
                    queue.running = Some((child, job.command, now + timeout));
                }
                Err(e) => warn!("{}: notify {}: {e}", job.name, job.command),
            }
        }
    }

    /// Called on SIGCHLD: collects finished scripts and starts the next in each queue.
    pub fn reap(&mut self, now: Time) {
        for queue in &mut self.queues {
            if let Some((child, command, _)) = queue.running.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
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
            Self::advance(queue, now, self.timeout);
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
                warn!(
                    "{}: notify {command} still running after {:?}: killed",
                    queue.name, self.timeout
                );
                crate::spawn::kill_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
            }
            Self::advance(queue, now, self.timeout);
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
}
