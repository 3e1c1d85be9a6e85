//! The `metrics_listen` socket, served from the poll loop without ever blocking it: a
//! non-blocking TCP listener, at most `CLIENTS` connections (more are closed at once), each
//! read and written non-blocking as it becomes ready and dropped at its deadline (one timerfd
//! armed to the earliest). The answer is one shared buffer for every client of a wake-up, so a
//! client that stops reading holds no growing buffer of its own. HTTP is decided in `http`.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::Arc;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use polling::{Event, PollMode, Poller};

use super::http::{self, Reply, Request, Step};
use crate::instance::Time;

/// Poller keys: the listener, the deadline timer, then one per client. Far above the
/// daemon's, the status server's and notify's.
pub const KEYS: Range<usize> = 1 << 20..(1 << 20) + 2 + CLIENTS;
const LISTEN_KEY: usize = KEYS.start;
const TIMER_KEY: usize = KEYS.start + 1;
const CLIENTS: usize = 4;
const ACCEPTS_PER_WAKE: usize = 8;

enum Answer {
    Static(&'static [u8]),
    Shared(Rc<Vec<u8>>),
}

struct Client {
    stream: TcpStream,
    request: Request,
    /// Waiting for the metrics text (`reply`).
    waiting: bool,
    answer: Option<Answer>,
    sent: usize,
    /// Answered and shut for writing: what the client still sends is read and dropped until
    /// it closes (or the deadline passes), so that closing with unread bytes does not reset
    /// the connection and destroy the answer in flight.
    draining: bool,
}

pub struct MetricsServer {
    /// The address it was bound to.
    pub addr: SocketAddr,
    listener: TcpListener,
    timer: TimerFd,
    poller: Arc<Poller>,
    clients: [Option<Client>; CLIENTS],
    /// The rendered exposition and the answer built from it, both reused.
    body: String,
    shared: Rc<Vec<u8>>,
}

/// What an event asked of the daemon.
#[derive(PartialEq, Eq)]
pub enum Wants {
    Nothing,
    /// Render the status and call `reply` with it.
    Status,
}

impl MetricsServer {
    pub fn bind(addr: SocketAddr, poller: Arc<Poller>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let level = |fd, key| {
            // SAFETY: both fds are deleted from the poller in `drop`, before they are closed.
            unsafe { poller.add_with_mode(fd, Event::readable(key), PollMode::Level) }
        };
        level(listener.as_raw_fd(), LISTEN_KEY)?;
        if let Err(e) = level(timer.as_fd().as_raw_fd(), TIMER_KEY) {
            let _ = poller.delete(&listener);
            return Err(e);
        }
        Ok(MetricsServer {
            addr,
            listener,
            timer,
            poller,
            clients: Default::default(),
            body: String::new(),
            shared: Rc::default(),
        })
    }

    /// A poller event: `None` when `key` is not ours.
    pub fn on_event(&mut self, key: usize, now: Time) -> Option<Wants> {
        match key {
            LISTEN_KEY => self.accept(now),
            TIMER_KEY => {
                let _ = self.timer.wait();
                for i in 0..CLIENTS {
                    if self.clients[i]
                        .as_ref()
                        .is_some_and(|c| c.request.expired(now))
                    {
                        self.close(i);
                    }
                }
                self.rearm();
            }
            k if KEYS.contains(&k) => {
                let i = k - TIMER_KEY - 1;
                match self.clients[i].as_ref() {
                    Some(c) if c.draining => self.drain(i),
                    Some(c) if c.answer.is_some() => self.write(i),
                    _ => self.read(i),
                }
            }
            _ => return None,
        }
        let waiting = self.clients.iter().flatten().any(|c| c.waiting);
        Some(if waiting {
            Wants::Status
        } else {
            Wants::Nothing
        })
    }

    fn accept(&mut self, now: Time) {
        for _ in 0..ACCEPTS_PER_WAKE {
            // Non-blocking at once, and no peer address (std's accept converts it).
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            let (addr, len) = (std::ptr::null_mut(), std::ptr::null_mut());
            // SAFETY: accept4 on our listener; a valid new descriptor is owned by the stream.
            let fd = unsafe { libc::accept4(self.listener.as_raw_fd(), addr, len, flags) };
            if fd < 0 {
                break;
            }
            // SAFETY: `fd` is a new, open socket that nothing else owns.
            let stream = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            // Over the cap the connection is closed at once.
            let Some(i) = self.clients.iter().position(Option::is_none) else {
                continue;
            };
            let key = Event::readable(TIMER_KEY + 1 + i);
            // SAFETY: the stream is deleted from the poller in `close` before it is dropped.
            let added = unsafe { self.poller.add_with_mode(&stream, key, PollMode::Level) };
            if added.is_ok() {
                self.clients[i] = Some(Client {
                    stream,
                    request: Request::new(now),
                    waiting: false,
                    answer: None,
                    sent: 0,
                    draining: false,
                });
            }
        }
        self.rearm();
    }

    fn read(&mut self, i: usize) {
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        let mut buf = [0u8; 512];
        let step = loop {
            match (&c.stream).read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => match c.request.receive(&buf[..n]) {
                    Step::More => {}
                    Step::Reply(r) => break Some(r),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break None,
            }
        };
        match step {
            None => self.close(i),
            Some(Reply::Metrics) => {
                c.waiting = true;
                // Quiet until the answer is there: no more reading.
                let _ = self
                    .poller
                    .modify(&c.stream, Event::none(TIMER_KEY + 1 + i));
            }
            Some(r) => self.answer(i, Answer::Static(http::error_response(r))),
        }
    }

    /// The clients waiting for metrics get the exposition of the status `text`.
    pub fn reply(&mut self, text: &str) {
        self.body.clear();
        super::render(text, &mut self.body);
        // The buffer is reused once no client holds it: serving then allocates nothing.
        if Rc::get_mut(&mut self.shared).is_none() {
            self.shared = Rc::default();
        }
        if let Some(buf) = Rc::get_mut(&mut self.shared) {
            buf.clear();
            http::metrics_head(buf, self.body.len());
            buf.extend_from_slice(self.body.as_bytes());
        }
        for i in 0..CLIENTS {
            if self.clients[i].as_ref().is_some_and(|c| c.waiting) {
                self.answer(i, Answer::Shared(Rc::clone(&self.shared)));
            }
        }
    }

    fn answer(&mut self, i: usize, answer: Answer) {
        if let Some(c) = self.clients[i].as_mut() {
            c.waiting = false;
            c.answer = Some(answer);
            let ev = Event::writable(TIMER_KEY + 1 + i);
            if self
                .poller
                .modify_with_mode(&c.stream, ev, PollMode::Level)
                .is_err()
            {
                self.close(i);
                return;
            }
        }
        self.write(i);
    }

    fn write(&mut self, i: usize) {
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        let text: &[u8] = match &c.answer {
            Some(Answer::Static(s)) => s,
            Some(Answer::Shared(s)) => s,
            None => return,
        };
        let done = crate::status::write_rest(&c.stream, text, &mut c.sent);
        if done {
            c.draining = true;
            let ev = Event::readable(TIMER_KEY + 1 + i);
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            if self
                .poller
                .modify_with_mode(&c.stream, ev, PollMode::Level)
                .is_err()
            {
                self.close(i);
            }
        }
    }

    fn drain(&mut self, i: usize) {
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        let mut buf = [0u8; 512];
        // Bounded per wake-up: a client that sends without end is level-triggered back.
        for _ in 0..16 {
            match (&c.stream).read(&mut buf) {
                Ok(n) if n > 0 => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                _ => {}
            }
            self.close(i);
            return;
        }
    }

    fn close(&mut self, i: usize) {
        if let Some(c) = self.clients[i].take() {
            let _ = self.poller.delete(&c.stream);
        }
    }

    /// Arms the timer to the earliest client deadline (disarmed when there is no client).
    fn rearm(&mut self) {
        let next = self
            .clients
            .iter()
            .flatten()
            .map(|c| c.request.deadline())
            .min();
        let result = match next {
            Some(at) => {
                // An absolute CLOCK_MONOTONIC time, as the daemon's clock.
                let when = Expiration::OneShot(TimeSpec::from_duration(at));
                self.timer.set(when, TimerSetTimeFlags::TFD_TIMER_ABSTIME)
            }
            None => self.timer.unset(),
        };
        if let Err(e) = result {
            log::warn!("metrics: arming the deadline timer: {}", io::Error::from(e));
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        for i in 0..CLIENTS {
            self.close(i);
        }
        let _ = self.poller.delete(&self.listener);
        let _ = self.poller.delete(self.timer.as_fd());
    }
}
