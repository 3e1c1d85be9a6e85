//! `metrics_listen` for real: a pair of daemons, each serving /metrics in its own namespace,
//! scraped every second by a real Prometheus (Debian's `prometheus` package) that the test
//! starts in the client namespace; PromQL through Prometheus's HTTP API sees a failover. And
//! the endpoint's bounds: connections over the cap are closed at once, silent and slow clients
//! are dropped at their deadline, bad requests get 400/404/405, and none of it delays an
//! advert (gaps measured from the client namespace).
//!
//! Needs root (the lab) and prometheus/promtool: as root a missing prometheus is a failure
//! (tests/run.sh installs it); without root every test skips.

use crate::lab;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{in_netns, output_timeout, wait_until, DaemonHandle, Lab, DAEMON};

const VIP: &str = "192.0.2.1";
const PORT: u16 = 9165;
const PROM_WEB: &str = "192.0.2.100:9090";

fn config(priority: u8, advert_int: &str, node_ip: Ipv4Addr) -> String {
    format!(
        "[global_defs]\nmetrics_listen = {node_ip}:{PORT}\n{}",
        lab::v3_instance(priority, advert_int, VIP)
    )
}

fn need(tool: &str, tag: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file());
    if found.is_none() && lab::is_root() {
        panic!("{tag}: {tool} is not installed (tests/run.sh installs Debian's prometheus)");
    }
    found
}

/// One HTTP/1.0 exchange from inside namespace `ns`: the whole answer, or the I/O error.
fn http(ns: &str, addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
    in_netns(ns, || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(request)?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
}

fn get(ns: &str, addr: SocketAddr, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    http(ns, addr, req.as_bytes()).unwrap_or_default()
}

/// An instant PromQL query through Prometheus's HTTP API: the first sample's value.
fn promql(ns: &str, query: &str) -> Option<String> {
    let enc: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(
        ns,
        PROM_WEB.parse().expect("const"),
        &format!("/api/v1/query?query={enc}"),
    );
    // {"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[t,"2"]}]}}
    let (_, after) = body.split_once("\"value\":[")?;
    let (_, v) = after.split_once(",\"")?;
    Some(v.split('"').next()?.to_string())
}

/// Prometheus in the client namespace, scraping both nodes every second.
fn start_prometheus(lab: &Lab, prometheus: &Path) -> u32 {
    let dir = lab.dir().join("prometheus");
    fs::create_dir_all(dir.join("data")).expect("prometheus dir");
    let targets: Vec<String> = lab
        .nodes
        .iter()
        .map(|n| format!("'{}:{PORT}'", n.ipv4))
        .collect();
    let yml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: tinyvrrp\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    let conf = dir.join("prometheus.yml");
    fs::write(&conf, yml).expect("prometheus.yml");
    let args = [
        prometheus.to_string_lossy().into_owned(),
        format!("--config.file={}", conf.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={PROM_WEB}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.client.spawn(&args, &dir.join("prometheus.log"))
}

/// The value PromQL gives for `query`, once it equals `want` (None after 30 s).
fn await_promql(ns: &str, query: &str, want: &str) -> Option<String> {
    let mut last = None;
    wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        last = promql(ns, query);
        last.as_deref() == Some(want)
    })
    .map(|_| want.to_string())
    .or(last)
}

fn status_prometheus(d: &DaemonHandle) -> String {
    let sock = d.sock.to_string_lossy().into_owned();
    let out = output_timeout(
        Command::new(DAEMON).args(["--status-socket", &sock, "status", "--prometheus"]),
        Duration::from_secs(3),
    )
    .expect("status --prometheus hung");
    assert!(out.status.success(), "status --prometheus: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `promtool check metrics` accepts the text (format and naming lint).
fn promtool_accepts(promtool: &Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics refused:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The series names of an exposition, in order (values differ between two renderings).
fn series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|p| p.0))
        .collect()
}

/// The endpoint and `status --prometheus` give the same series; promtool accepts both.
fn endpoint_and_status_agree(ns: &str, addr: SocketAddr, d: &DaemonHandle, promtool: &Path) {
    let scraped = get(ns, addr, "/metrics");
    let (head, body) = scraped.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let printed = status_prometheus(d);
    assert_eq!(series(body), series(&printed));
    promtool_accepts(promtool, body);
    promtool_accepts(promtool, &printed);
}

#[test]
fn prometheus_sees_a_failover() {
    let Some(prometheus) = need("prometheus", "metrics") else {
        return eprintln!("metrics: skipped: prometheus is not installed");
    };
    let Some(promtool) = need("promtool", "metrics") else {
        return;
    };
    let Some(lab) = Lab::new("metrics", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&config(200, "0.5", n1.ipv4));
    let d2 = n2.spawn_daemon(&config(100, "0.5", n2.ipv4));
    let master = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        d1.state("VI_1").as_deref() == Some("MASTER")
            && d2.state("VI_1").as_deref() == Some("BACKUP")
    });
    assert!(master.is_some(), "no election:\n{}", d1.log_text());

    let addr1 = SocketAddr::new(n1.ipv4.into(), PORT);
    endpoint_and_status_agree(&lab.client.name, addr1, &d1, &promtool);

    let pid = start_prometheus(&lab, &prometheus);
    let cl = lab.client.name.clone();
    let (q1, q2) = (
        format!("max(keepalived_vrrp_state{{instance=\"{addr1}\",iname=\"VI_1\"}})"),
        format!(
            "max(keepalived_vrrp_state{{instance=\"{}:{PORT}\",iname=\"VI_1\"}})",
            n2.ipv4
        ),
    );
    let became = format!(
        "max(keepalived_become_master_total{{instance=\"{}:{PORT}\"}})",
        n2.ipv4
    );
    assert_eq!(
        await_promql(&cl, &q1, "2").as_deref(),
        Some("2"),
        "node 1 not MASTER in Prometheus"
    );
    assert_eq!(await_promql(&cl, &q2, "1").as_deref(), Some("1"));
    assert_eq!(promql(&cl, &became).as_deref(), Some("0"));

    // Failover: the master stops; it comes back at a lower priority, as a backup.
    d1.stop();
    let d1 = n1.spawn_daemon(&config(50, "0.5", n1.ipv4));
    assert_eq!(
        await_promql(&cl, &q2, "2").as_deref(),
        Some("2"),
        "node 2 not MASTER in Prometheus"
    );
    assert_eq!(
        await_promql(&cl, &q1, "1").as_deref(),
        Some("1"),
        "node 1 not BACKUP in Prometheus"
    );
    assert_eq!(promql(&cl, &became).as_deref(), Some("1"));
    let up = "sum(up{job=\"tinyvrrp\"})";
    assert_eq!(await_promql(&cl, up, "2").as_deref(), Some("2"));
    let reason = format!(
        "max(tinyvrrp_transitions_total{{instance=\"{}:{PORT}\",reason=\"master_left\"}})",
        n2.ipv4
    );
    assert_eq!(
        await_promql(&cl, &reason, "1").as_deref(),
        Some("1"),
        "{}",
        d2.status()
    );

    // SAFETY: kill(2) on the pid of the prometheus this test started (the lab reaps it).
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    d1.assert_running("restarted backup");
    d2.assert_running("new master");
}

/// Arrival times of the adverts seen in namespace `ns` during `d` (a raw IPPROTO_VRRP socket
/// joined to 224.0.0.18 on eth0). Listening when this returns.
fn advert_times(ns: &str, d: Duration) -> std::thread::JoinHandle<Vec<Instant>> {
    let ns = ns.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        in_netns(&ns, || {
            // SAFETY: plain socket calls on a descriptor this closure owns and closes; every
            // pointer passed is to a live local of the size given.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 112);
                assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
                let mreq = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from_ne_bytes([224, 0, 0, 18]),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: libc::if_nametoindex(b"eth0\0".as_ptr().cast()) as i32,
                };
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 20_000,
                };
                let set = |opt_level, opt, p: *const libc::c_void, len: usize| {
                    let rc = libc::setsockopt(fd, opt_level, opt, p, len as libc::socklen_t);
                    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
                };
                let mreq_p = (&mreq as *const libc::ip_mreqn).cast();
                set(
                    libc::IPPROTO_IP,
                    libc::IP_ADD_MEMBERSHIP,
                    mreq_p,
                    std::mem::size_of_val(&mreq),
                );
                let tv_p = (&tv as *const libc::timeval).cast();
                set(
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    tv_p,
                    std::mem::size_of_val(&tv),
                );
                let _ = tx.send(());
                let (mut times, mut buf, start) = (Vec::new(), [0u8; 1500], Instant::now());
                while start.elapsed() < d {
                    if libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) > 0 {
                        times.push(Instant::now());
                    }
                }
                libc::close(fd);
                times
            }
        })
    });
    let _ = rx.recv();
    handle
}

/// Connections opened from namespace `ns` (they stay in it), each having sent `first`.
fn open(ns: &str, addr: SocketAddr, first: &[&[u8]]) -> Vec<(TcpStream, Instant)> {
    in_netns(ns, || {
        first
            .iter()
            .map(|bytes| {
                let mut s = TcpStream::connect(addr).expect("connect to metrics_listen");
                s.write_all(bytes).expect("send");
                (s, Instant::now())
            })
            .collect()
    })
}

/// Reads `s` to its end: how long after `since` it ended and what came.
fn until_closed(s: &mut TcpStream, since: Instant) -> (Duration, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    (since.elapsed(), got)
}

#[test]
fn slow_and_silent_clients_are_bounded_and_never_delay_adverts() {
    let Some(lab) = Lab::new("metricsbound", 1) else {
        return;
    };
    let n1 = lab.node(1);
    let d = n1.spawn_daemon(&config(200, "0.1", n1.ipv4));
    let master = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        d.state("VI_1").as_deref() == Some("MASTER")
    });
    assert!(master.is_some(), "not master:\n{}", d.log_text());
    let cl = lab.client.name.clone();
    let addr = SocketAddr::new(n1.ipv4.into(), PORT);

    let capture = advert_times(&cl, Duration::from_secs(4));
    // Every slot taken: three silent clients and a slowloris that never ends its request.
    let mut held = open(&cl, addr, &[b"", b"", b"", b"GET /metr"]);
    // One more (and a scrape) is closed at once, with nothing sent.
    let (mut extra, since) = open(&cl, addr, &[b"GET /metrics HTTP/1.0\r\n\r\n"]).remove(0);
    let (took, got) = until_closed(&mut extra, since);
    assert!(
        got.is_empty() && took < Duration::from_secs(1),
        "over the cap: {took:?} {got:?}"
    );
    // The held ones are dropped at their 2 s deadline.
    for (s, since) in held.iter_mut() {
        let (took, got) = until_closed(s, *since);
        assert!(got.is_empty(), "{got:?}");
        let window = Duration::from_millis(1800)..Duration::from_millis(3500);
        assert!(
            window.contains(&took),
            "dropped after {took:?}, not at the 2 s deadline"
        );
    }
    let times = capture.join().expect("capture");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let max = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "metrics: {} adverts in 4 s while 4 clients hung, largest gap {max:?} (interval 100 ms)",
        times.len()
    );
    // 100 ms adverts: ~40 in 4 s; no gap near Master_Down_Interval (~3 intervals).
    assert!(times.len() >= 30, "only {} adverts in 4 s", times.len());
    assert!(
        max <= Duration::from_millis(300),
        "an advert gap of {max:?}"
    );

    // Slots free again: bad requests get their answers, a scrape its metrics.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(2048)
    );
    for (req, want) in [
        (big.as_bytes(), "HTTP/1.1 400 "),
        (&b"\x16\x03\x01\x00\xa5\x01\n"[..], "HTTP/1.1 400 "),
        (b"POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 "),
        (b"GET /other HTTP/1.1\r\n\r\n", "HTTP/1.1 404 "),
        (b"GET /metrics HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"),
    ] {
        let answer = http(&cl, addr, req).unwrap_or_default();
        assert!(answer.starts_with(want), "{want}: {answer:?}");
    }
    let scraped = get(&cl, addr, "/metrics");
    assert!(scraped.contains("\nkeepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"192.0.2.1\"} 2\n"), "{scraped}");
    d.assert_running("after the abuse");

    // A reload that moves the endpoint re-binds it; the old port is closed.
    let moved = config(200, "0.1", n1.ipv4).replace(":9165", ":9166");
    fs::write(&d.conf, moved).expect("rewrite the config");
    d.kill(libc::SIGHUP);
    let new_addr = SocketAddr::new(n1.ipv4.into(), 9166);
    let rebound = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        get(&cl, new_addr, "/metrics").starts_with("HTTP/1.1 200 OK")
    });
    assert!(rebound.is_some(), "not re-bound:\n{}", d.log_text());
    assert!(http(&cl, addr, b"GET /metrics HTTP/1.0\r\n\r\n").is_err());
}
