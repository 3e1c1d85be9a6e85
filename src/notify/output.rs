//! A notify script's stdout and stderr, read by the poll loop as they come and logged line
//! by line under the script's name. Read while the script runs, not at its exit: a chatty
//! script never blocks on a full pipe.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use log::info;

/// Longest line logged as one record; longer ones are cut into pieces.
const MAX_LINE: usize = 512;

pub struct Output {
    read: OwnedFd,
    label: String,
    partial: Vec<u8>,
}

impl Output {
    /// A pipe for a child: our non-blocking read end, and the write end for the child.
    pub fn open(label: String) -> io::Result<(Output, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fds from pipe2.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on our own fd.
        unsafe {
            let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let out = Output {
            read,
            label,
            partial: Vec::new(),
        };
        Ok((out, write))
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Reads what is there and logs complete lines; true at end of file (every writer gone).
    pub fn drain(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            // SAFETY: read into our buffer from our fd.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n == 0 {
                self.flush();
                return true;
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return false,
                    _ => {
                        self.flush();
                        return true;
                    }
                }
            }
            for &b in buf.get(..n as usize).unwrap_or(&[]) {
                if b == b'\n' {
                    self.flush();
                } else {
                    self.partial.push(b);
                    if self.partial.len() >= MAX_LINE {
                        self.flush();
                    }
                }
            }
        }
    }

    /// Logs what is pending as one line.
    pub fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial);
            info!("{}: {}", self.label, line.trim_end_matches('\r'));
            self.partial.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_they_come_and_eof_is_seen() {
        let (mut out, write) = Output::open("t".into()).expect("pipe");
        let w = std::fs::File::from(write);
        use std::io::Write;
        let mut w = w;
        w.write_all(b"one\ntwo").expect("write");
        assert!(!out.drain(), "not at end while a writer is open");
        assert_eq!(out.partial, b"two");
        w.write_all(&[b'x'; MAX_LINE]).expect("write");
        assert!(!out.drain());
        assert!(out.partial.len() < MAX_LINE, "long lines are cut");
        drop(w);
        assert!(out.drain(), "end of file once the writer is gone");
        assert!(out.partial.is_empty());
    }
}
