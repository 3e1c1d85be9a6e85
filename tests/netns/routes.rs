//! Excluded VIPs, virtual routes and virtual rules follow the master on a real network: a
//! tinyvrrp pair in namespaces; the master holds them (seen with `ip route show table all`,
//! `ip rule`, `ip addr`), the backup does not, and after the master is stopped (SIGTERM)
//! they are on the other node and gone from the first. Also: keepalived given the same lines
//! installs exactly what tinyvrrp installs; a reload swaps a route in place; leftovers of a
//! crash are cleared at the next start. Needs root; skips otherwise.

use crate::lab;

use std::time::Duration;

use lab::{wait_until, DaemonHandle, Lab, Node};

const VIP: &str = "192.0.2.1";

const EXCLUDED: &[&str] = &[
    "198.51.100.1/24 dev eth0 brd + scope global",
    "2001:db8:5::1/64",
];
const ROUTES: &[&str] = &[
    "203.0.113.0/25 via 192.0.2.254",
    "src 192.0.2.1 to 203.0.113.128/25 dev eth0 table 100",
    "blackhole 198.51.100.128/25 table 100",
    "203.0.113.0/24 via 192.0.2.254 table 70000 metric 7",
    "2001:db8:7::/48 via 2001:db8::254 dev eth0",
];
const RULES: &[&str] = &[
    "from 203.0.113.0/24 table 100 priority 1000",
    // Not `inet6 to ...`: keepalived (2.2.7 and its current source) skips the word after
    // `inet`/`inet6` in a rule or route line, so it would read the prefix as an option.
    "to 2001:db8:7::/48 lookup 100 priority 1001",
];

fn config(priority: u8) -> String {
    let mut c = format!(
        "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 61\npriority = {priority}\n\
         advert_int = 1\nversion = 3\nvirtual_ipaddress = {VIP}/24\n\
         virtual_routes = 198.51.100.64/26 dev nosuch0\n"
    );
    for (key, items) in [
        ("virtual_ipaddress_excluded", EXCLUDED),
        ("virtual_routes", ROUTES),
        ("virtual_rules", RULES),
    ] {
        for item in items {
            c.push_str(&format!("{key} = {item}\n"));
        }
    }
    c
}

/// The same instance in keepalived's syntax.
fn keepalived_config(priority: u8) -> String {
    let mut c = format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 61\n\
         priority {priority}\n advert_int 1\n version 3\n virtual_ipaddress {{\n {VIP}/24\n }}\n"
    );
    for (key, items) in [
        ("virtual_ipaddress_excluded", EXCLUDED),
        ("virtual_routes", ROUTES),
        ("virtual_rules", RULES),
    ] {
        c.push_str(&format!(" {key} {{\n"));
        for item in items {
            c.push_str(&format!("  {item}\n"));
        }
        c.push_str(" }\n");
    }
    c.push_str("}\n");
    c
}

/// (command after `ip -n NS`, words that must all be on one line of its output).
const EXPECTED: &[(&[&str], &[&str])] = &[
    (
        &["route", "show", "table", "all"],
        &[
            "203.0.113.0/25",
            "via",
            "192.0.2.254",
            "proto",
            "keepalived",
        ],
    ),
    (
        &["route", "show", "table", "all"],
        &[
            "203.0.113.128/25",
            "dev",
            "eth0",
            "table",
            "100",
            "src",
            VIP,
        ],
    ),
    (
        &["route", "show", "table", "all"],
        &["blackhole", "198.51.100.128/25", "table", "100"],
    ),
    (
        &["route", "show", "table", "all"],
        &["203.0.113.0/24", "table", "70000", "metric", "7"],
    ),
    (
        &["-6", "route", "show", "table", "all"],
        &["2001:db8:7::/48", "via", "2001:db8::254"],
    ),
    (
        &["rule", "show"],
        &["1000:", "from", "203.0.113.0/24", "lookup", "100"],
    ),
    (
        &["-6", "rule", "show"],
        &["1001:", "to", "2001:db8:7::/48", "lookup", "100"],
    ),
    (
        &["-o", "addr", "show", "dev", "eth0"],
        &[
            "198.51.100.1/24",
            "brd",
            "198.51.100.255",
            "scope",
            "global",
        ],
    ),
    (
        &["-o", "addr", "show", "dev", "eth0"],
        &["2001:db8:5::1/64"],
    ),
];

fn ip_n(node: &Node, cmd: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", node.name.as_str()])
        .args(cmd)
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_line(node: &Node, cmd: &[&str], words: &[&str]) -> bool {
    ip_n(node, cmd).lines().any(|line| {
        let have: Vec<&str> = line.split_whitespace().collect();
        words.iter().all(|w| have.contains(w))
    })
}

/// Which of EXPECTED are present on `node`.
fn present(node: &Node) -> Vec<bool> {
    EXPECTED.iter().map(|(c, w)| has_line(node, c, w)).collect()
}

fn state(d: &DaemonHandle) -> String {
    d.state("VI_1").unwrap_or_else(|| "<no status>".into())
}

fn dump(node: &Node) -> String {
    let mut text = String::new();
    for cmd in [
        &["route", "show", "table", "all"][..],
        &["-6", "route", "show", "table", "all"],
        &["rule", "show"],
        &["-6", "rule", "show"],
        &["-o", "addr", "show", "dev", "eth0"],
    ] {
        text.push_str(&ip_n(node, cmd));
    }
    text
}

/// Waits until `master` reports MASTER and holds every expected item while `other` holds none.
fn wait_follow(
    tag: &str,
    master: (&Node, &DaemonHandle),
    other: &Node,
    check_other: impl Fn() -> bool,
) {
    let ok = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        master.1.assert_running(tag);
        state(master.1) == "MASTER"
            && present(master.0).iter().all(|p| *p)
            && present(other).iter().all(|p| !*p)
            && check_other()
    });
    if ok.is_none() {
        panic!(
            "{tag}: node {} state {}, present {:?}, node {} present {:?}\nmaster:\n{}\nother:\n{}\nlog:\n{}",
            master.0.index,
            state(master.1),
            present(master.0),
            other.index,
            present(other),
            dump(master.0),
            dump(other),
            master.1.log_text()
        );
    }
}

#[test]
fn routes_rules_and_excluded_vips_follow_the_master() {
    let Some(lab) = Lab::new("netns_routes", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&config(200));
    let d2 = n2.spawn_daemon(&config(100));
    wait_follow("node 1 master", (n1, &d1), n2, || state(&d2) == "BACKUP");
    let log = d1.log_text();
    assert!(
        log.contains("route to 198.51.100.64/26 skipped: no interface nosuch0"),
        "missing-dev route not logged:\n{log}"
    );
    let failed = d1.parsed_status().drop_count("route_rule_failed");
    assert_eq!(failed, 0, "failures counted on the master:\n{log}");

    // Removed by hand while master: put back (the routes and rules are re-added as they are).
    ip_n(n1, &["addr", "del", "198.51.100.1/24", "dev", "eth0"]);
    wait_follow("excluded VIP restored", (n1, &d1), n2, || true);
    assert!(d1
        .log_text()
        .contains("VIP 198.51.100.1 was removed by someone else"));
    let failed = d1.parsed_status().drop_count("route_rule_failed");
    assert_eq!(
        failed,
        0,
        "failures counted after the restore:\n{}",
        d1.log_text()
    );

    d1.stop();
    wait_follow("node 2 master after SIGTERM", (n2, &d2), n1, || true);
    let failed = d2.parsed_status().drop_count("route_rule_failed");
    assert_eq!(failed, 0, "failures counted on node 2:\n{}", d2.log_text());
    assert!(
        !d1.log_text().contains("removing route"),
        "{}",
        d1.log_text()
    );
}

/// What a master installed: routes and rules of protocol keepalived, and the excluded IPv4
/// address line, sorted (IPv6 address lines differ in flags: tinyvrrp adds without DAD).
fn installed(node: &Node) -> Vec<String> {
    let mut lines = Vec::new();
    for cmd in [
        &["route", "show", "table", "all"][..],
        &["-6", "route", "show", "table", "all"],
        &["rule", "show"],
        &["-6", "rule", "show"],
    ] {
        let text = ip_n(node, cmd);
        let ours = text.lines().filter(|l| l.contains("proto keepalived"));
        lines.extend(ours.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    let addrs = ip_n(node, &["-o", "addr", "show", "dev", "eth0"]);
    for line in addrs.lines().filter(|l| l.contains(" 198.51.100.1/")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let end = words.iter().position(|w| w.starts_with("valid_lft"));
        lines.push(words[2..end.unwrap_or(words.len())].join(" "));
    }
    lines.sort();
    lines.dedup();
    lines
}

/// keepalived as master on node 1, then stopped, tinyvrrp master on node 2: each installs the
/// very same routes, rules and excluded address (as `ip` shows them).
#[test]
fn keepalived_and_tinyvrrp_install_the_same() {
    let Some(lab) = Lab::new("netns_routes_keepalived", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let ka = n1.spawn_keepalived(&keepalived_config(200));
    let d2 = n2.spawn_daemon(&config(100));
    let want = ROUTES.len() + RULES.len() + 1;
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        ka.assert_running("keepalived master");
        n1.has_addr(VIP) && installed(n1).len() == want && state(&d2) == "BACKUP"
    });
    assert!(
        settled.is_some(),
        "keepalived master: {:?}, tinyvrrp {}\n{}",
        installed(n1),
        state(&d2),
        ka.log_text()
    );
    let by_keepalived = installed(n1);
    assert!(installed(n2).is_empty(), "backup: {:?}", installed(n2));

    ka.terminate(Duration::from_secs(5));
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        state(&d2) == "MASTER" && installed(n2).len() == want && installed(n1).is_empty()
    });
    assert!(
        settled.is_some(),
        "tinyvrrp master: {:?}, left on node 1 {:?}\n{}",
        installed(n2),
        installed(n1),
        d2.log_text()
    );
    assert_eq!(installed(n2), by_keepalived, "tinyvrrp vs keepalived");
}

/// SIGHUP with a changed route list on the master: the route is swapped, nothing else moves.
#[test]
fn a_reload_swaps_routes_in_place() {
    let Some(lab) = Lab::new("netns_routes_reload", 2) else {
        return;
    };
    let (n1, n2) = (lab.node(1), lab.node(2));
    let d1 = n1.spawn_daemon(&config(200));
    let d2 = n2.spawn_daemon(&config(100));
    wait_follow("node 1 master", (n1, &d1), n2, || state(&d2) == "BACKUP");
    let old = "virtual_routes = 203.0.113.0/25 via 192.0.2.254";
    let new = "virtual_routes = 203.0.113.0/26 via 192.0.2.254";
    let text = config(200).replace(old, new);
    assert_ne!(text, config(200));
    std::fs::write(&d1.conf, text).expect("rewrite config");
    d1.kill(libc::SIGHUP);
    let route = |node: &Node, prefix: &str| {
        has_line(
            node,
            &["route", "show", "table", "all"],
            &[prefix, "proto", "keepalived"],
        )
    };
    let swapped = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        route(n1, "203.0.113.0/26") && !route(n1, "203.0.113.0/25")
    });
    assert!(swapped.is_some(), "{}\n{}", dump(n1), d1.log_text());
    let log = d1.log_text();
    assert!(log.contains("reloaded"), "{log}");
    assert_eq!(log.matches("-> MASTER").count(), 1, "{log}");
    assert_eq!((state(&d1), state(&d2)), ("MASTER".into(), "BACKUP".into()));
    // The rest stayed.
    assert!(
        route(n1, "203.0.113.128/25") && n1.has_addr("198.51.100.1"),
        "{}",
        dump(n1)
    );
    assert!(!route(n2, "203.0.113.0/26"), "{}", dump(n2));

    // A crash leaves them behind; the next start on that node clears them.
    d1.kill(libc::SIGKILL);
    d1.wait(Duration::from_secs(3));
    let taken = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        state(&d2) == "MASTER" && present(n2).iter().all(|p| *p)
    });
    assert!(taken.is_some(), "node 2 after the crash:\n{}", dump(n2));
    assert!(
        route(n1, "203.0.113.0/26"),
        "a crash leaves them:\n{}",
        dump(n1)
    );
    let d1b = n1.spawn_daemon(&config(50).replace(old, new));
    let cleared = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        state(&d1b) == "BACKUP" && present(n1).iter().all(|p| !*p) && !route(n1, "203.0.113.0/26")
    });
    assert!(
        cleared.is_some(),
        "left on node 1:\n{}\n{}",
        dump(n1),
        d1b.log_text()
    );
}
