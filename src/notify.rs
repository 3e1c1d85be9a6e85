//! Notify scripts on state transitions: `notify_master` / `notify_backup` / `notify_fault` /
//! `notify_stop` as given, and `notify` with keepalived's arguments (`INSTANCE name STATE
//! priority`). Run without blocking the poll loop and, unlike keepalived, one at a time per
//! instance in the order the transitions happened, so a quick MASTER -> BACKUP never has its
//! two scripts racing. OpenWrt's `hotplug-call` idiom gets ACTION, TYPE, NAME and PRIORITY in
//! the environment.

use std::collections::VecDeque;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use log::{info, warn};

use crate::config::InstanceConfig;
use crate::instance::State;

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
    running: Option<(Child, String)>,
    pending: VecDeque<Job>,
}

#[derive(Default)]
pub struct Notifier {
    queues: Vec<Queue>,
}

/// Characters that need a shell; without them the command is split on white space and run
/// directly.
const SHELL_CHARS: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '"', '\'', '*', '?', '[', '~', '\\',
];

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
    let mut cmd = if job.command.contains(SHELL_CHARS) {
        let mut line = job.command.clone();
        if job.with_args {
            line.push_str(&format!(" INSTANCE '{}' {state} {priority}", job.name));
        }
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(line);
        c
    } else {
        let mut words = job.command.split_whitespace();
        let mut c = Command::new(words.next().unwrap_or("/bin/true"));
        c.args(words);
        if job.with_args {
            c.args(["INSTANCE", &job.name, state, &priority]);
        }
        c
    };
    cmd.env("ACTION", state)
        .env("TYPE", "INSTANCE")
        .env("NAME", &job.name)
        .env("PRIORITY", &priority)
        .stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec. The daemon blocks the
    // signals it reads through its signalfd; a script must start with them unblocked, and in
    // a process group of its own so that a timeout can kill all it started.
    unsafe {
        cmd.pre_exec(|| {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    cmd.spawn()
}

impl Notifier {
    pub fn transition(&mut self, cfg: &InstanceConfig, to: State, priority: u8) {
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
        Self::advance(&mut self.queues[qi]);
    }

    fn advance(queue: &mut Queue) {
        while queue.running.is_none() {
            let Some(job) = queue.pending.pop_front() else {
                return;
            };
            match spawn(&job) {
                Ok(child) => {
                    info!("{}: running notify: {}", job.name, job.command);
                    queue.running = Some((child, job.command));
                }
                Err(e) => warn!("{}: notify {}: {e}", job.name, job.command),
            }
        }
    }

    /// Called on SIGCHLD: collects finished scripts and starts the next in each queue.
    pub fn reap(&mut self) {
        for queue in &mut self.queues {
            if let Some((child, command)) = queue.running.as_mut() {
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
            Self::advance(queue);
        }
    }
}
