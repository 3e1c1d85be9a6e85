//! Which signals the daemon takes over. They are blocked from the start of `main` (before the
//! pidfile and the config) and read later from the loop's signalfd, so no signal that arrives
//! during start-up kills the daemon without cleanup: a SIGHUP then becomes a reload once the
//! loop runs, SIGUSR2 (keepalived's stats signal) logs counters, the rest are logged and ignored.

use nix::sys::signal::{SigSet, Signal};

/// Everything but the signals a fault raises (they must kill) and job control (the operator's
/// Ctrl-Z keeps working). Real-time signals are in: their default action is to terminate.
pub fn daemon_set() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGABRT,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGCONT,
    ] {
        set.remove(s);
    }
    set
}

/// Blocks `daemon_set` on the calling thread: the first thing `main` does for the daemon.
pub fn block() -> nix::Result<()> {
    daemon_set().thread_block()
}
