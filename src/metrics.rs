//! Prometheus metrics: the daemon's status text (`status::render`) rewritten in the Prometheus
//! text format (version 0.0.4). One renderer serves both the `metrics_listen` endpoint (the
//! daemon renders its status and converts it) and `tinyvrrp status --prometheus` (the client
//! converts what the status socket sent), so the two never differ.
//!
//! Names and labels follow mehdy/keepalived-exporter where it has the fact (`keepalived_*`,
//! labels `iname`, `intf`, `vrid`), so its dashboards and alerts keep working; the rest is
//! under `tinyvrrp_`. Pure: text in, text out, written into the caller's reused buffer.

use std::fmt::Write as _;

pub mod http;
pub mod server;
pub use server::{MetricsServer, KEYS};

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

use Kind::{Counter, Gauge};

/// Per-instance facts that are one status token each: (metric, token key, help, type).
/// A counter whose token is absent is 0 (the status lists discards only once counted).
const SIMPLE: &[(&str, &str, &str, Kind)] = &[
    (
        "keepalived_advertisements_received_total",
        "rx_adverts",
        "Advertisements received",
        Counter,
    ),
    (
        "keepalived_advertisements_sent_total",
        "tx_adverts",
        "Advertisements sent",
        Counter,
    ),
    (
        "keepalived_become_master_total",
        "become_master",
        "Became master",
        Counter,
    ),
    (
        "keepalived_release_master_total",
        "release_master",
        "Released master",
        Counter,
    ),
    (
        "keepalived_priority_zero_received_total",
        "rx_priority_zero",
        "Priority zero received",
        Counter,
    ),
    (
        "keepalived_priority_zero_sent_total",
        "tx_priority_zero",
        "Priority zero sent",
        Counter,
    ),
    (
        "keepalived_advertisements_interval_errors_total",
        "discard_interval_mismatch",
        "Advertisement interval errors",
        Counter,
    ),
    (
        "keepalived_authentication_mismatch_total",
        "discard_auth_mismatch",
        "Authentication mismatch",
        Counter,
    ),
    (
        "keepalived_address_list_errors_total",
        "discard_vip_mismatch",
        "Address list errors",
        Counter,
    ),
    (
        "tinyvrrp_priority",
        "priority",
        "Configured priority",
        Gauge,
    ),
    (
        "tinyvrrp_effective_priority",
        "effective_priority",
        "Priority after tracking",
        Gauge,
    ),
    (
        "tinyvrrp_master_priority",
        "master_priority",
        "Priority of the master a backup follows",
        Gauge,
    ),
    (
        "tinyvrrp_last_transition_seconds",
        "since",
        "Seconds since the last transition, labelled with its reason",
        Gauge,
    ),
];

/// Families that take each `PREFIX<reason>=n` token of an instance line as one series with
/// that reason: (metric, token prefix, help).
const BY_REASON: &[(&str, &str, &str)] = &[
    (
        "tinyvrrp_transitions_total",
        "transitions_",
        "State transitions by reason",
    ),
    (
        "tinyvrrp_discards_total",
        "discard_",
        "Adverts an instance discarded, by reason",
    ),
];

/// The whole exposition for the status `text` of a running daemon.
pub fn render(text: &str, out: &mut String) {
    family(out, "keepalived_up", "Status", Gauge);
    out.push_str("keepalived_up 1\n");
    vrrp_state(text, out);
    for &(name, key, help, kind) in SIMPLE {
        family(out, name, help, kind);
        for line in instances(text) {
            let Some(v) = field(line, key).or((kind == Counter).then_some("0")) else {
                continue;
            };
            let v = v.strip_suffix('s').unwrap_or(v);
            let reason = field(line, "reason").filter(|_| key == "since");
            sample(out, name, line, reason.map(|r| ("reason", r)), v);
        }
    }
    for &(name, prefix, help) in BY_REASON {
        family(out, name, help, Counter);
        for line in instances(text) {
            for (reason, v) in prefixed(line, prefix) {
                sample(out, name, line, Some(("reason", reason)), v);
            }
        }
    }
    master(text, out);
    checksum_forms(text, out);
    process_and_drops(text, out);
    trackers(text, out);
}

/// What `status --prometheus` prints when the daemon cannot be asked.
pub fn render_down(out: &mut String) {
    family(out, "keepalived_up", "Status", Gauge);
    out.push_str("keepalived_up 0\n");
}

/// `keepalived_vrrp_state`: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT; one series per virtual
/// address (label `ip_address`), or one with an empty address when there is none, as the
/// exporter.
fn vrrp_state(text: &str, out: &mut String) {
    let name = "keepalived_vrrp_state";
    family(out, name, "State of vrrp", Gauge);
    for line in instances(text) {
        let v = match field(line, "state") {
            Some("BACKUP") => "1",
            Some("MASTER") => "2",
            Some("FAULT") => "3",
            _ => "0",
        };
        let addrs = field(line, "addresses").unwrap_or("");
        for a in addrs.split(',') {
            sample(out, name, line, Some(("ip_address", a)), v);
        }
    }
    let held = "tinyvrrp_vips_held";
    family(
        out,
        held,
        "Whether the instance holds its virtual addresses",
        Gauge,
    );
    for line in instances(text) {
        let v = if field(line, "vips") == Some("held") {
            "1"
        } else {
            "0"
        };
        sample(out, held, line, None, v);
    }
}

fn master(text: &str, out: &mut String) {
    let name = "tinyvrrp_master";
    family(
        out,
        name,
        "The current master's address (1 per instance)",
        Gauge,
    );
    for line in instances(text) {
        if let Some(m) = field(line, "master") {
            sample(out, name, line, Some(("master", m)), "1");
        }
    }
}

/// Which v3-over-IPv4 checksum form each peer's adverts used (RFC 5798 or RFC 9568).
fn checksum_forms(text: &str, out: &mut String) {
    let name = "tinyvrrp_checksum_form_total";
    family(
        out,
        name,
        "Adverts received by peer and checksum form",
        Counter,
    );
    for line in instances(text) {
        let mut peer = "";
        for (k, v) in tokens(line) {
            if k == "peer" {
                peer = v;
            } else if let Some(form) = k.strip_prefix("csum_") {
                out.push_str(name);
                labels(out, line);
                label(out, "peer", peer);
                label(out, "form", form);
                value(out, v);
            }
        }
    }
}

fn process_and_drops(text: &str, out: &mut String) {
    let process = lines(text, "process ").next().unwrap_or("");
    for (name, key, help, kind) in [
        (
            "tinyvrrp_resident_memory_bytes",
            "rss_bytes",
            "Resident set size of the daemon",
            Gauge,
        ),
        (
            "tinyvrrp_heap_allocations_total",
            "heap_allocs",
            "Heap allocations since start",
            Counter,
        ),
    ] {
        if let Some(v) = field(process, key) {
            family(out, name, help, kind);
            out.push_str(name);
            value(out, v);
        }
    }
    let name = "tinyvrrp_drops_total";
    family(
        out,
        name,
        "Datagrams dropped before an instance, by reason",
        Counter,
    );
    for line in lines(text, "drops") {
        for (reason, v) in tokens(line) {
            out.push_str(name);
            out.push('{');
            label(out, "reason", reason);
            value(out, v);
        }
    }
}

/// `keepalived_script_status` (1 GOOD, 0 BAD, as the exporter), and the state and weight of
/// every tracked script and process; a check not yet decided has no state sample.
fn trackers(text: &str, out: &mut String) {
    let checks = || lines(text, "track_script ").chain(lines(text, "track_process "));
    let kind = |line: &str| {
        if line.starts_with("track_script") {
            "script"
        } else {
            "process"
        }
    };
    let health = |line| match field(line, "health") {
        Some("up") => Some("1"),
        Some("down") => Some("0"),
        _ => None,
    };
    let status = "keepalived_script_status";
    family(out, status, "Tracker Script Status", Gauge);
    for line in lines(text, "track_script ") {
        if let Some(v) = health(line) {
            out.push_str(status);
            out.push('{');
            label(out, "name", field(line, "name").unwrap_or(""));
            value(out, v);
        }
    }
    for (name, help) in [
        ("tinyvrrp_tracker_up", "Tracker state: 1 up, 0 down"),
        (
            "tinyvrrp_tracker_weight",
            "Tracker weight (the section's own)",
        ),
    ] {
        family(out, name, help, Gauge);
        for line in checks() {
            let v = if name == "tinyvrrp_tracker_up" {
                health(line)
            } else {
                field(line, "weight")
            };
            let Some(v) = v else { continue };
            out.push_str(name);
            out.push('{');
            label(out, "type", kind(line));
            label(out, "name", field(line, "name").unwrap_or(""));
            value(out, v);
        }
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: Kind) {
    let kind = if kind == Counter { "counter" } else { "gauge" };
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// `name{iname="…",intf="…",vrid="…"[,extra="…"]} value`.
fn sample(out: &mut String, name: &str, line: &str, extra: Option<(&str, &str)>, v: &str) {
    out.push_str(name);
    labels(out, line);
    if let Some((k, x)) = extra {
        label(out, k, x);
    }
    value(out, v);
}

/// Opens the label set with the instance's labels.
fn labels(out: &mut String, line: &str) {
    out.push('{');
    for (k, key) in [
        ("iname", "instance"),
        ("intf", "interface"),
        ("vrid", "vrid"),
    ] {
        label(out, k, field(line, key).unwrap_or(""));
    }
}

/// `k="v",` with `\`, `"` and line breaks escaped as the format asks.
fn label(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push_str("=\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\",");
}

/// Closes the label set (dropping a trailing comma) and writes the value; what is not a plain
/// decimal number is written as NaN, so a garbled status never breaks the exposition.
fn value(out: &mut String, v: &str) {
    if out.ends_with(',') {
        out.pop();
        out.push('}');
    } else if out.ends_with('{') {
        out.pop();
    }
    let b = v.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let number = match v.split_once('.') {
        Some((i, f)) => digits(i.trim_start_matches('-').as_bytes()) && digits(f.as_bytes()),
        None => digits(b.strip_prefix(b"-").unwrap_or(b)),
    };
    out.push(' ');
    out.push_str(if number { v } else { "NaN" });
    out.push('\n');
}

fn lines<'a>(text: &'a str, start: &'a str) -> impl Iterator<Item = &'a str> {
    text.lines().filter(move |l| l.starts_with(start))
}

fn instances(text: &str) -> impl Iterator<Item = &str> {
    lines(text, "instance=")
}

fn tokens(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_ascii_whitespace()
        .filter_map(|t| t.split_once('='))
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    tokens(line).find(|t| t.0 == key).map(|t| t.1)
}

fn prefixed<'a>(line: &'a str, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    tokens(line).filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v)))
}

/// The process's resident set size from `/proc/self/statm` (pages × page size), read
/// into a stack buffer.
pub fn rss_bytes() -> Option<u64> {
    use std::io::Read;
    let mut buf = [0u8; 96];
    let n = std::fs::File::open("/proc/self/statm")
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let pages: u64 = text.split(' ').nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests;
