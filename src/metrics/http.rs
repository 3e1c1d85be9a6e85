//! One scrape connection's request side, pure: the bytes read so far and the clock in, what to
//! answer out. Only `GET /metrics` over HTTP/1.x is served; every answer closes the
//! connection, so there is no keep-alive state and no request body to read.

use std::time::Duration;

use crate::instance::Time;

/// Requests (request line and headers) longer than this are answered 400.
pub const REQUEST_MAX: usize = 1024;
/// A connection not done (request read and answer written) within this is dropped, however
/// slowly it trickles bytes.
pub const DEADLINE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Metrics,
    NotFound,
    BadMethod,
    BadRequest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The request is not complete yet.
    More,
    Reply(Reply),
}

/// The request being read on one connection.
pub struct Request {
    buf: [u8; REQUEST_MAX],
    len: usize,
    deadline: Time,
}

impl Request {
    pub fn new(now: Time) -> Self {
        Request {
            buf: [0; REQUEST_MAX],
            len: 0,
            deadline: now + DEADLINE,
        }
    }

    pub fn deadline(&self) -> Time {
        self.deadline
    }

    pub fn expired(&self, now: Time) -> bool {
        now >= self.deadline
    }

    /// More bytes of the request arrived.
    pub fn receive(&mut self, bytes: &[u8]) -> Step {
        let Some(room) = self.buf.get_mut(self.len..self.len + bytes.len()) else {
            return Step::Reply(Reply::BadRequest);
        };
        room.copy_from_slice(bytes);
        self.len += bytes.len();
        let got = &self.buf[..self.len];
        let Some(eol) = got.iter().position(|&b| b == b'\n') else {
            return Step::More;
        };
        let reply = judge(&got[..eol]);
        // A bad request line is answered at once; a good one once the headers end.
        let end = got.windows(4).any(|w| w == b"\r\n\r\n") || got.windows(2).any(|w| w == b"\n\n");
        if reply == Reply::BadRequest || end {
            Step::Reply(reply)
        } else {
            Step::More
        }
    }
}

/// The request line: `GET /metrics HTTP/1.1` (a query string is ignored).
fn judge(line: &[u8]) -> Reply {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Reply::BadRequest;
    };
    let http1 = version.len() == 8 && version.starts_with(b"HTTP/1.");
    let token = !method.is_empty() && method.iter().all(u8::is_ascii_uppercase);
    if !http1 || !token || !target.starts_with(b"/") {
        return Reply::BadRequest;
    }
    if method != b"GET" {
        return Reply::BadMethod;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(target);
    if path == b"/metrics" {
        Reply::Metrics
    } else {
        Reply::NotFound
    }
}

/// The whole answer for an error reply.
pub fn error_response(reply: Reply) -> &'static [u8] {
    match reply {
        Reply::NotFound => b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        Reply::BadMethod => b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        _ => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    }
}

/// The head of the 200 answer, before a body of `len` bytes.
pub fn metrics_head(out: &mut Vec<u8>, len: usize) {
    use std::io::Write as _;
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        super::CONTENT_TYPE
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Time = Duration::from_secs(100);

    fn all_at_once(req: &[u8]) -> Step {
        Request::new(T0).receive(req)
    }

    #[test]
    fn get_metrics_is_served_other_paths_and_methods_are_not() {
        let ok = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
        assert_eq!(all_at_once(ok), Step::Reply(Reply::Metrics));
        let query = b"GET /metrics?x=1 HTTP/1.0\r\n\r\n";
        assert_eq!(all_at_once(query), Step::Reply(Reply::Metrics));
        assert_eq!(
            all_at_once(b"GET /metrics HTTP/1.1\n\n"),
            Step::Reply(Reply::Metrics)
        );
        assert_eq!(
            all_at_once(b"GET / HTTP/1.1\r\n\r\n"),
            Step::Reply(Reply::NotFound)
        );
        let post = b"POST /metrics HTTP/1.1\r\n\r\n";
        assert_eq!(all_at_once(post), Step::Reply(Reply::BadMethod));
        let head = b"HEAD /metrics HTTP/1.1\r\n\r\n";
        assert_eq!(all_at_once(head), Step::Reply(Reply::BadMethod));
    }

    #[test]
    fn a_request_in_pieces_waits_for_the_end_of_its_headers() {
        let mut r = Request::new(T0);
        for piece in [
            &b"GE"[..],
            b"T /met",
            b"rics HTTP/1.1\r",
            b"\nHost: a\r\n",
            b"\r",
        ] {
            assert_eq!(r.receive(piece), Step::More);
        }
        assert_eq!(r.receive(b"\n"), Step::Reply(Reply::Metrics));
    }

    #[test]
    fn garbage_is_answered_400_as_soon_as_its_first_line_ends() {
        let mut r = Request::new(T0);
        assert_eq!(r.receive(b"\x16\x03\x01\x02\x00"), Step::More);
        assert_eq!(r.receive(b"\n"), Step::Reply(Reply::BadRequest));
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET /metrics HTTP/2.0\r\n",
            b"GET metrics HTTP/1.1\r\n",
            b"get /metrics HTTP/1.1\r\n",
            b"GET  /metrics HTTP/1.1\r\n",
            b"GET /metrics HTTP/1.1 x\r\n",
            b"\r\n",
        ] {
            assert_eq!(all_at_once(bad), Step::Reply(Reply::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn oversize_requests_are_refused() {
        let mut r = Request::new(T0);
        assert_eq!(r.receive(b"GET /metrics HTTP/1.1\r\n"), Step::More);
        let header = [b'a'; 100];
        let mut step = Step::More;
        for _ in 0..11 {
            step = r.receive(&header);
            if step != Step::More {
                break;
            }
        }
        assert_eq!(step, Step::Reply(Reply::BadRequest));
        // One read bigger than the cap at once.
        assert_eq!(
            all_at_once(&[b'G'; REQUEST_MAX + 1]),
            Step::Reply(Reply::BadRequest)
        );
    }

    #[test]
    fn a_slow_client_expires_at_its_deadline_whatever_it_sends() {
        let mut r = Request::new(T0);
        let mut now = T0;
        // Slowloris: one byte every 50 ms never completes the headers.
        for b in b"GET /metrics HTTP/1.1\r\nX-a: b" {
            assert!(!r.expired(now));
            assert_eq!(r.receive(&[*b]), Step::More);
            now += Duration::from_millis(50);
        }
        assert_eq!(r.deadline(), T0 + DEADLINE);
        assert!(r.expired(T0 + DEADLINE));
        assert!(!Request::new(T0).expired(T0 + DEADLINE - Duration::from_millis(1)));
    }

    #[test]
    fn answers_close_the_connection_and_give_their_length() {
        for reply in [Reply::NotFound, Reply::BadMethod, Reply::BadRequest] {
            let text = std::str::from_utf8(error_response(reply)).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("Connection: close"));
            assert!(head.contains(&format!("Content-Length: {}", body.len())));
        }
        let mut out = Vec::new();
        metrics_head(&mut out, 12);
        let head = String::from_utf8(out).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains("Content-Type: text/plain; version=0.0.4\r\n"));
        assert!(head.ends_with("Content-Length: 12\r\nConnection: close\r\n\r\n"));
    }
}
