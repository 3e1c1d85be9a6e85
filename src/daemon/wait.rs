//! The loop's wait (and the start-up delay's): `epoll_wait` on the poller's own epoll fd
//! instead of `Poller::wait`.
//! polling 3's `wait` makes four syscalls per wake-up besides the wait itself: it re-arms its
//! internal timerfd (`timerfd_settime` + `epoll_ctl`) and clears and re-arms its notifier
//! (`read` + `epoll_ctl`). The daemon needs neither: it has its own timerfd and never calls
//! `Poller::notify`. Registration stays with `polling` (add / modify / delete; level and
//! oneshot modes are epoll flags), which stores an event's key as the epoll data
//! (`tests::keys_are_the_epoll_data` checks that against the locked version).

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use polling::Poller;

/// polling's key for its own notifier and timer, never armed here.
const POLLING_INTERNAL: u64 = usize::MAX as u64;

pub(super) struct Wait {
    ready: [libc::epoll_event; 16],
    len: usize,
}

impl Wait {
    pub fn new() -> Self {
        Wait {
            ready: [libc::epoll_event { events: 0, u64: 0 }; 16],
            len: 0,
        }
    }

    /// Blocks until a registered fd is ready or `timeout` (rounded up to milliseconds; at
    /// most about 24 days) has passed; EINTR is an error of kind Interrupted.
    pub fn wait(&mut self, poller: &Poller, timeout: Option<Duration>) -> io::Result<()> {
        self.len = 0;
        let max = self.ready.len() as libc::c_int;
        let ms = timeout.map_or(-1, |t| {
            // No u128 arithmetic (as_millis): it links a 128-bit division on 32-bit targets.
            let sub = u64::from(t.subsec_nanos().div_ceil(1_000_000));
            let ms = t.as_secs().saturating_mul(1000).saturating_add(sub);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        });
        // SAFETY: the buffer holds `max` events and outlives the call.
        let n = unsafe { libc::epoll_wait(poller.as_raw_fd(), self.ready.as_mut_ptr(), max, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.len = n as usize;
        Ok(())
    }

    /// The keys of the fds found ready by the last wait.
    pub fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        let ready = self.ready.get(..self.len).unwrap_or_default().iter();
        ready
            .map(|ev| ev.u64)
            .filter(|&k| k != POLLING_INTERNAL)
            .map(|k| k as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polling::{Event, PollMode};
    use std::os::fd::AsFd;

    #[test]
    fn keys_are_the_epoll_data() {
        let poller = Poller::new().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let (r2, _w2) = nix::unistd::pipe().unwrap();
        // SAFETY: both pipes outlive the poller's use of them.
        unsafe {
            poller
                .add_with_mode(r.as_raw_fd(), Event::readable(5), PollMode::Level)
                .unwrap();
            poller
                .add_with_mode(r2.as_raw_fd(), Event::readable(9), PollMode::Level)
                .unwrap();
        }
        nix::unistd::write(w.as_fd(), b"x").unwrap();
        let mut wait = Wait::new();
        wait.wait(&poller, None).unwrap();
        assert_eq!(wait.keys().collect::<Vec<_>>(), [5]);
        // Level mode: still ready until read.
        wait.wait(&poller, None).unwrap();
        assert_eq!(wait.keys().collect::<Vec<_>>(), [5]);
        nix::unistd::read(&r, &mut [0u8; 1]).unwrap();
        wait.wait(&poller, Some(Duration::from_micros(1))).unwrap();
        assert_eq!(wait.keys().count(), 0, "a timeout with nothing ready");
        poller.delete(r.as_fd()).unwrap();
        poller.delete(r2.as_fd()).unwrap();
    }
}
