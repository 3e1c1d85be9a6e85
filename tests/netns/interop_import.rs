//! keepalived.conf files from the corpus (tests/data/keepalived/), run as their users would:
//! keepalived with the original on node 1, tinyvrrp with `tinyvrrp import` of the same file on
//! node 2. Only what ties a file to its original site is rewritten for the lab, line by line and
//! the same way for both nodes (`adapt`): the interface becomes the lab's `eth0`, unicast
//! addresses become the nodes' own, the priorities 150 (keepalived) / 100 (tinyvrrp), both start
//! as BACKUP, and the per-case replacements below (check commands that need a daemon the lab
//! does not run, FIFO paths). The importer sees keepalived's syntax exactly as the corpus has it.
//!
//! Each case checks: keepalived is the one master, and everything that follows mastership
//! (VIPs, excluded VIPs, routes, rules) is on node 1 only; keepalived stops (SIGTERM) and all of
//! it moves to node 2; with a notify FIFO, the lines tinyvrrp writes have keepalived's format and
//! order. Without root the tests skip; as root a missing keepalived is a failure.

use crate::lab;

use lab::{wait_until, DaemonHandle, Lab, Node};
use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);
const KA_PRIORITY: u8 = 150;
const TV_PRIORITY: u8 = 100;

/// What follows the master in one case.
struct Expect {
    /// Addresses (VIPs and excluded VIPs), on whichever interface (a VMAC or the parent).
    addrs: &'static [&'static str],
    /// `ip route show table all` lines that must be there: every word of the string, in order
    /// of appearance, e.g. "198.51.100.0/24 via 192.0.2.254".
    routes: &'static [&'static str],
    /// `ip rule` (and `ip -6 rule`) lines, as words, e.g. "from 203.0.113.0/24 lookup 100".
    rules: &'static [&'static str],
}

struct Case {
    tag: &'static str,
    /// File name in tests/data/keepalived/.
    file: &'static str,
    /// (from, to) replacements applied to the text for both nodes, before `adapt`. In `to`,
    /// `@DIR@` is the node's scratch directory and `@FIFO@` its notify FIFO.
    replace: &'static [(&'static str, &'static str)],
    /// Files written to each node's scratch directory first (name, content).
    files: &'static [(&'static str, &'static str)],
    /// `tinyvrrp import`'s exit status: 0, or 1 when something with a VRRP effect is not
    /// carried over (the case's comment says what).
    import_exit: i32,
    expect: Expect,
    /// Whether the file has a notify FIFO, replaced by `@FIFO@` in `replace`, and how both
    /// nodes' FIFO lines are compared.
    fifo: FifoCheck,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FifoCheck {
    No,
    /// The same lines in the same order.
    SameOrder,
    /// Each instance's and group's own lines in the same order; how the lines of different
    /// names interleave may differ (see the case).
    SameOrderPerName,
}

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keepalived")
        .join(file)
}

/// The first word of a line and where it starts, ignoring leading white space.
fn first_word(line: &str) -> Option<(usize, &str)> {
    let start = line.len() - line.trim_start().len();
    let word = line[start..].split_whitespace().next()?;
    Some((start, word))
}

fn keep_indent(line: &str, start: usize, text: &str) -> String {
    format!("{}{text}", &line[..start])
}

/// Rewrites the site-specific lines of a keepalived.conf for node `me` with peer `peer`.
fn adapt(text: &str, priority: u8, me: &Node, peer: &Node) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_peers = false;
    for line in text.lines() {
        let Some((start, word)) = first_word(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        if in_peers {
            if word.starts_with('}') {
                in_peers = false;
                out.push_str(line);
            } else if !word.starts_with('#') && !word.starts_with('!') {
                // All peers but one are left out: the lab has two nodes.
                if !out.ends_with("#peer\n") {
                    out.push_str(&keep_indent(line, start, &format!("{} #peer", peer.ipv4)));
                }
                out.push('\n');
                continue;
            } else {
                out.push_str(line);
            }
            out.push('\n');
            continue;
        }
        let rewritten = match word {
            "interface" => Some("interface eth0".to_owned()),
            "priority" => Some(format!("priority {priority}")),
            "state" => Some("state BACKUP".to_owned()),
            "unicast_src_ip" => Some(format!("unicast_src_ip {}", me.ipv4)),
            "mcast_src_ip" => Some(format!("mcast_src_ip {}", me.ipv4)),
            "router_id" => Some(format!("router_id node{}", me.index)),
            "unicast_peer" => {
                let rest = line[start..].trim_start_matches("unicast_peer").trim();
                if rest == "{" {
                    in_peers = true;
                    None
                } else {
                    Some(format!("unicast_peer {{\n{}\n}}", peer.ipv4))
                }
            }
            _ => None,
        };
        match rewritten {
            Some(text) => out.push_str(&keep_indent(line, start, &text)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `tinyvrrp import FILE`: the INI it prints; panics unless it exits with `exit`.
fn import(file: &Path, exit: i32) -> String {
    let out = Command::new(lab::DAEMON)
        .arg("import")
        .arg(file)
        .output()
        .expect("run tinyvrrp import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(exit),
        "import {} ({}): {stderr}",
        file.display(),
        out.status
    );
    eprintln!("import {}: warnings:\n{stderr}", file.display());
    String::from_utf8(out.stdout).expect("import prints UTF-8")
}

/// True when `line` has all `words` in this order (not necessarily next to each other).
fn has_words_in_order(line: &str, words: &str) -> bool {
    let mut have = line.split_whitespace();
    words.split_whitespace().all(|w| have.any(|h| h == w))
}

fn output_lines(node: &Node, args: &[&str]) -> Vec<String> {
    let out = node.exec(args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn has_addr(node: &Node, addr: &str) -> bool {
    output_lines(node, &["ip", "-o", "addr", "show"])
        .iter()
        .any(|l| {
            l.split_whitespace()
                .any(|w| w.split('/').next() == Some(addr))
        })
}

/// What of `expect` node holds: (addresses, routes, rules) present, each as a count.
fn held(node: &Node, expect: &Expect) -> (usize, usize, usize) {
    let addrs = expect.addrs.iter().filter(|a| has_addr(node, a)).count();
    let mut routes_now = output_lines(node, &["ip", "route", "show", "table", "all"]);
    routes_now.extend(output_lines(
        node,
        &["ip", "-6", "route", "show", "table", "all"],
    ));
    let routes = expect
        .routes
        .iter()
        .filter(|r| routes_now.iter().any(|l| has_words_in_order(l, r)))
        .count();
    let mut rules_now = output_lines(node, &["ip", "rule", "show"]);
    rules_now.extend(output_lines(node, &["ip", "-6", "rule", "show"]));
    let rules = expect
        .rules
        .iter()
        .filter(|r| rules_now.iter().any(|l| has_words_in_order(l, r)))
        .count();
    (addrs, routes, rules)
}

fn everything(expect: &Expect) -> (usize, usize, usize) {
    (expect.addrs.len(), expect.routes.len(), expect.rules.len())
}

/// Waits until node `master` holds everything and the other node nothing.
fn settle(
    lab: &Lab,
    tag: &str,
    step: &str,
    master: usize,
    expect: &Expect,
    timeout: Duration,
    logs: &dyn Fn() -> String,
) {
    let other = 3 - master;
    let ok = wait_until(timeout, POLL, || {
        held(lab.node(master), expect) == everything(expect)
            && held(lab.node(other), expect) == (0, 0, 0)
    });
    assert!(
        ok.is_some(),
        "{tag}: {step}: node {master} should hold {:?} and node {other} nothing; they hold \
         {:?} and {:?}\nnode {master} routes: {:?}\nnode {master} rules: {:?}\n{}",
        everything(expect),
        held(lab.node(master), expect),
        held(lab.node(other), expect),
        output_lines(lab.node(master), &["ip", "route", "show", "table", "all"]),
        output_lines(lab.node(master), &["ip", "rule", "show"]),
        logs(),
    );
    eprintln!(
        "{tag}: {step}: settled in {:.2} s",
        ok.unwrap_or_default().as_secs_f64()
    );
}

/// Reads a FIFO's lines in a thread. The FIFO is opened read-write so the reader never sees
/// end-of-file while writers come and go, and never blocks the writer's open.
struct FifoReader {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FifoReader {
    fn start(path: &Path) -> FifoReader {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo {}", path.display());
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("open fifo");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (Arc::clone(&lines), Arc::clone(&stop));
        thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                match file.read(&mut buf) {
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                    l.lock().unwrap_or_else(|e| e.into_inner()).push(text);
                }
            }
        });
        FifoReader { lines, stop }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for FifoReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `INSTANCE "VI_1" MASTER 150` -> ("INSTANCE", "VI_1", "MASTER", "150").
fn fifo_fields(line: &str) -> Option<(String, String, String, String)> {
    let mut w = line.split_whitespace();
    let kind = w.next()?.to_owned();
    let name = w.next()?.trim_matches('"').to_owned();
    let state = w.next()?.to_owned();
    let prio = w.next().unwrap_or("").to_owned();
    Some((kind, name, state, prio))
}

/// The lines each wrote, as (kind, name, state) with the priority replaced by whether it is
/// the node's own configured priority.
fn fifo_shape(lines: &[String], own: u8) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| fifo_fields(l))
        .map(|(k, n, s, p)| {
            let p = if p == own.to_string() {
                "own".to_owned()
            } else {
                p
            };
            format!("{k} {n} {s} {p}")
        })
        .collect()
}

/// The shaped lines grouped by `KIND NAME`, each group in its order.
fn per_name(shape: &[String]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut by_name = std::collections::BTreeMap::<String, Vec<String>>::new();
    for line in shape {
        let mut words = line.splitn(3, ' ');
        let (kind, name) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let rest = words.next().unwrap_or("").to_owned();
        by_name
            .entry(format!("{kind} {name}"))
            .or_default()
            .push(rest);
    }
    by_name
}

fn tv_states(tv: &DaemonHandle) -> Vec<(String, String)> {
    let status = tv.status();
    status
        .lines()
        .filter_map(|l| {
            let name = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("instance="))?;
            let state = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("state="))?;
            Some((name.to_owned(), state.to_owned()))
        })
        .collect()
}

fn run_case(case: &Case) {
    let tag = case.tag;
    let Some(lab) = Lab::new(tag, 2) else {
        return;
    };
    let (ka_node, tv_node) = (lab.node(1), lab.node(2));
    let original = fs::read_to_string(corpus(case.file)).expect("corpus file");
    let site = |node: &Node| {
        let dir = lab.dir().join(format!("n{}", node.index));
        fs::create_dir_all(&dir).expect("mkdir");
        for (name, content) in case.files {
            fs::write(dir.join(name), content).expect("write case file");
        }
        let fifo = lab.dir().join(format!("n{}.fifo", node.index));
        let mut text = original.clone();
        for (from, to) in case.replace {
            let to = to
                .replace("@FIFO@", &fifo.to_string_lossy())
                .replace("@DIR@", &dir.to_string_lossy());
            text = text.replace(from, &to);
        }
        text
    };
    let readers: Vec<FifoReader> = if case.fifo != FifoCheck::No {
        (1..=2)
            .map(|i| FifoReader::start(&lab.dir().join(format!("n{i}.fifo"))))
            .collect()
    } else {
        Vec::new()
    };
    let ka_text = adapt(&site(ka_node), KA_PRIORITY, ka_node, tv_node);
    let tv_source = lab.dir().join("tv-keepalived.conf");
    fs::write(
        &tv_source,
        adapt(&site(tv_node), TV_PRIORITY, tv_node, ka_node),
    )
    .expect("write");
    let tv_ini = import(&tv_source, case.import_exit);

    // keepalived first, alone until it is master: with `nopreempt` or a `preempt_delay` the
    // first to finish its down timer keeps the VIP, and keepalived's start-up is slower.
    let ka = ka_node.spawn_keepalived(&ka_text);
    let ka_logs = || {
        format!(
            "keepalived config:\n{ka_text}\nkeepalived log:\n{}",
            ka.log_text()
        )
    };
    settle(
        &lab,
        tag,
        "keepalived alone",
        1,
        &case.expect,
        secs(20.0),
        &ka_logs,
    );
    let tv = tv_node.spawn_daemon(&tv_ini);
    let logs = || {
        format!(
            "{}\ntinyvrrp config:\n{tv_ini}\ntinyvrrp log:\n{}",
            ka_logs(),
            tv.log_text()
        )
    };
    // tinyvrrp joins as backup: nothing moves for three advert intervals.
    thread::sleep(secs(3.0));
    settle(
        &lab,
        tag,
        "tinyvrrp joined",
        1,
        &case.expect,
        secs(2.0),
        &logs,
    );
    ka.assert_running(tag);
    tv.assert_running(tag);
    for (name, state) in tv_states(&tv) {
        assert_eq!(state, "BACKUP", "{tag}: tinyvrrp instance {name}");
    }

    assert!(
        ka.terminate(secs(5.0)).is_some(),
        "{tag}: keepalived did not exit on SIGTERM"
    );
    settle(
        &lab,
        tag,
        "keepalived stopped",
        2,
        &case.expect,
        secs(8.0),
        &logs,
    );
    for (name, state) in tv_states(&tv) {
        assert_eq!(state, "MASTER", "{tag}: tinyvrrp instance {name}");
    }
    tv.stop();
    if case.fifo != FifoCheck::No {
        thread::sleep(Duration::from_millis(300));
        let ka_lines = readers[0].lines();
        let tv_lines = readers[1].lines();
        eprintln!("{tag}: keepalived FIFO: {ka_lines:?}\n{tag}: tinyvrrp FIFO: {tv_lines:?}");
        assert!(!ka_lines.is_empty(), "{tag}: keepalived wrote no FIFO line");
        // Both went BACKUP -> MASTER -> stopped, each at its own priority.
        let (tv_shape, ka_shape) = (
            fifo_shape(&tv_lines, TV_PRIORITY),
            fifo_shape(&ka_lines, KA_PRIORITY),
        );
        if case.fifo == FifoCheck::SameOrder {
            assert_eq!(tv_shape, ka_shape, "{tag}: FIFO lines differ");
        }
        assert_eq!(
            per_name(&tv_shape),
            per_name(&ka_shape),
            "{tag}: FIFO lines differ for one instance or group"
        );
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Octavia's amphora: unicast, a route in table 1 with a preferred source, a rule to it,
/// `accept`, `nopreempt`, PASS authentication. The check script exists only on an amphora.
#[test]
fn import_octavia_routes_rules_unicast() {
    run_case(&Case {
        tag: "imp_octavia",
        file: "13-octavia-amphora-routes-rules-accept.conf",
        replace: &[
            ("eth1", "eth0"),
            ("/var/lib/octavia/vrrp/check_script.sh", "/bin/true"),
        ],
        files: &[],
        import_exit: 0,
        expect: Expect {
            addrs: &["198.51.100.10"],
            routes: &["198.51.100.0/24 dev eth0 table 1"],
            rules: &["from 198.51.100.10 lookup 1"],
        },
        fifo: FifoCheck::No,
    });
}

/// An Ansible role's rendered file: a sync group with track_script and track_file at group
/// level, an excluded IPv6 address, a default route in table 100 and a rule to it, a VMAC on
/// the second instance with `vmac_xmit_base`, unicast on the first, shell redirection in a
/// bare `ping` check.
#[test]
fn import_ansible_sync_group_track_script() {
    run_case(&Case {
        tag: "imp_ansible",
        file: "33-ansible-role-rendered-track-file-sync-group.conf",
        replace: &[
            ("eth1", "eth0"),
            ("keepalived_script", "root"),
            // The source's check is `ping -c 1 HOST 1>&2`: keepalived runs it without a
            // shell, so ping gets `1>&2` as an argument and fails everywhere (keepalived and
            // tinyvrrp alike); the lab pings its client instead.
            ("203.0.113.129 1>&2", "192.0.2.100"),
            (
                "/etc/keepalived/maintenance.weight",
                "@DIR@/maintenance.weight",
            ),
        ],
        files: &[("maintenance.weight", "0\n")],
        import_exit: 0,
        expect: Expect {
            addrs: &["198.51.100.1", "2001:db8:0:10::1", "192.0.2.1"],
            routes: &["default via 198.51.100.254 dev eth0 table 100"],
            rules: &["from 198.51.100.1 lookup 100"],
        },
        fifo: FifoCheck::No,
    });
}

/// kolla-ansible: unicast with two peers (the lab has one), two VIPs on two interfaces (one
/// here), a tracked interface.
#[test]
fn import_kolla_unicast() {
    run_case(&Case {
        tag: "imp_kolla",
        file: "15-kolla-ansible-unicast-two-vips.conf",
        replace: &[
            ("ens3", "eth0"),
            ("ens4", "eth0"),
            ("/check_alive.sh", "/bin/true"),
        ],
        files: &[],
        import_exit: 0,
        expect: Expect {
            addrs: &["192.0.2.250", "203.0.113.250"],
            routes: &[],
            rules: &[],
        },
        fifo: FifoCheck::No,
    });
}

/// TrueNAS: VRRPv3 at 0.68 s, unicast, `nopreempt`, two instances (one per interface there,
/// both on the lab's eth0 here, so the second gets VRID 21), and the `vrrp_notify_fifo` its
/// HA service reads: tinyvrrp's FIFO lines must be keepalived's.
#[test]
fn import_truenas_notify_fifo() {
    run_case(&Case {
        tag: "imp_truenas",
        file: "12-truenas-vrrp-notify-fifo-unicast.conf",
        replace: &[
            ("/var/run/vrrpd.fifo", "@FIFO@"),
            (
                "interface enp6s0\n    state BACKUP\n    advert_int 0.68\n    nopreempt\n    \
                 virtual_router_id 20",
                "interface eth0\n    state BACKUP\n    advert_int 0.68\n    nopreempt\n    \
                 virtual_router_id 21",
            ),
        ],
        files: &[],
        import_exit: 0,
        expect: Expect {
            addrs: &["192.0.2.10", "198.51.100.10"],
            routes: &[],
            rules: &[],
        },
        fifo: FifoCheck::SameOrder,
    });
}

/// VyOS: `notify_fifo`, a sync group with a group-level track_script, a named VMAC with
/// `vmac_xmit_base`, excluded VIPs, `dont_track_primary`,
/// `preempt_delay`, `mcast_src_ip`, `vrrp_startup_delay`, a virtual_server block (skipped).
/// The file also tracks healthcheck_LAN on the LAN instance itself: keepalived 2.2.7 (and its
/// master of Aug 2026) then counts the script's initial state twice and decrements it once
/// (initialise_vrrp_tracking_priorities / add_vrrp_to_track_script), so LAN and the whole
/// group stay in FAULT for ever, though it logs that it ignores the duplicate. tinyvrrp
/// tracks it once (with a warning); the lab drops the instance's copy so keepalived runs.
/// FIFO: after `vrrp_startup_delay` keepalived writes its instances' BACKUP lines (WAN first)
/// before the group's; tinyvrrp writes the group's first, as keepalived does without the
/// delay; so only each name's own sequence is compared.
#[test]
fn import_vyos_notify_fifo_sync_group() {
    run_case(&Case {
        tag: "imp_vyos",
        file: "11-vyos-notify-fifo-vmac-sync-group.conf",
        replace: &[
            (
                "    track_script {\n        healthcheck_LAN\n    }\n}\nvrrp_script",
                "}\nvrrp_script",
            ),
            ("eth1", "eth0"),
            ("/config/scripts/lan-uplink-check.sh", "/bin/true"),
            ("/usr/bin/ping -c1 203.0.113.254", "/bin/true"),
            (
                "notify_fifo_script /usr/libexec/vyos/system/keepalived-fifo.py",
                "",
            ),
            ("/run/keepalived/keepalived_notify_fifo", "@FIFO@"),
        ],
        files: &[],
        import_exit: 0,
        expect: Expect {
            addrs: &[
                "192.0.2.1",
                "192.0.2.10",
                "192.0.2.50",
                "192.0.2.51",
                "203.0.113.1",
            ],
            routes: &[],
            rules: &[],
        },
        fifo: FifoCheck::SameOrderPerName,
    });
}
