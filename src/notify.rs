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
