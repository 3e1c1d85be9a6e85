//! Prometheus metrics: the daemon's status text (`status::render`) rewritten in the Prometheus
//! text format (version 0.0.4). One renderer serves both the `metrics_listen` endpoint (the
//! daemon renders its status and converts it) and `tinyvrrp status --prometheus` (the client
//! converts what the status socket sent), so the two never differ.
//!
//! Names and labels follow mehdy/keepalived-exporter where it has the fact (`keepalived_*`,
//! labels `iname`, `intf`, `vrid`), so its dashboards and alerts keep working; the rest is
//! under `tinyvrrp_`. Pure: text in, text out, written into the caller's reused buffer.

#[cfg(feature = "metrics")]
pub mod http;
#[cfg(feature = "metrics")]
pub mod server;
#[cfg(feature = "metrics")]
pub use server::{MetricsServer, KEYS};
/// Built without the endpoint: there is never a server.
#[cfg(not(feature = "metrics"))]
pub enum MetricsServer {}

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Where a family's samples come from in the status text.
#[derive(Clone, Copy)]
enum Src {
    /// An instance's `key=value` (a counter without its token is 0).
    Field(&'static str),
    /// `since=`, labelled with `reason=`.
    Since,
    /// `state=` as a number, one series per address of `addresses=`.
    State,
    Held,
    Master,
    /// An instance's `PREFIX<reason>=n` tokens, one series per reason.
    Reasons(&'static str),
    /// `peer=` and the `csum_<form>=n` tokens after it.
    Forms,
    /// A `key=value` of the `process` line.
    Process(&'static str),
    /// The tokens of the `drops` line.
    Drops,
    /// `health=` of the `track_script` lines, as keepalived_script_status.
    Script,
    /// `health=` / `weight=` of every `track_*` line.
    Tracker(&'static str),
}

const COUNTER: bool = true;
const GAUGE: bool = false;

/// Every family: name, help, whether a counter, source. The exporter's help texts are kept.
const FAMILIES: &[(&str, &str, bool, Src)] = &[
    ("keepalived_vrrp_state", "State of vrrp", GAUGE, Src::State),
    (
        "keepalived_advertisements_received_total",
        "Advertisements received",
        COUNTER,
        Src::Field("rx_adverts"),
    ),
    (
        "keepalived_advertisements_sent_total",
        "Advertisements sent",
        COUNTER,
        Src::Field("tx_adverts"),
    ),
    (
        "keepalived_become_master_total",
        "Became master",
        COUNTER,
        Src::Field("become_master"),
    ),
    (
        "keepalived_release_master_total",
        "Released master",
        COUNTER,
        Src::Field("release_master"),
    ),
    (
        "keepalived_priority_zero_received_total",
        "Priority zero received",
        COUNTER,
        Src::Field("rx_priority_zero"),
    ),
    (
        "keepalived_priority_zero_sent_total",
        "Priority zero sent",
        COUNTER,
        Src::Field("tx_priority_zero"),
    ),
    (
        "keepalived_advertisements_interval_errors_total",
        "Advertisement interval errors",
        COUNTER,
        Src::Field("discard_interval_mismatch"),
    ),
    (
        "keepalived_authentication_mismatch_total",
        "Authentication mismatch",
        COUNTER,
        Src::Field("discard_auth_mismatch"),
    ),
    (
        "keepalived_address_list_errors_total",
        "Address list errors",
        COUNTER,
        Src::Field("discard_vip_mismatch"),
    ),
    (
        "keepalived_script_status",
        "Tracker Script Status",
        GAUGE,
        Src::Script,
    ),
    (
        "tinyvrrp_priority",
        "Configured priority",
        GAUGE,
        Src::Field("priority"),
    ),
    (
        "tinyvrrp_effective_priority",
        "Priority after tracking",
        GAUGE,
        Src::Field("effective_priority"),
    ),
    (
        "tinyvrrp_master_priority",
        "Priority of the master a backup follows",
        GAUGE,
        Src::Field("master_priority"),
    ),
    (
        "tinyvrrp_master",
        "The current master's address",
        GAUGE,
        Src::Master,
    ),
    (
        "tinyvrrp_vips_held",
        "Whether the virtual addresses are held",
        GAUGE,
        Src::Held,
    ),
    (
        "tinyvrrp_last_transition_seconds",
        "Seconds since the last transition, with its reason",
        GAUGE,
        Src::Since,
    ),
    (
        "tinyvrrp_transitions_total",
        "State transitions by reason",
        COUNTER,
        Src::Reasons("transitions_"),
    ),
    (
        "tinyvrrp_discards_total",
        "Adverts an instance discarded, by reason",
        COUNTER,
        Src::Reasons("discard_"),
    ),
    (
        "tinyvrrp_checksum_form_total",
        "Adverts by peer and checksum form",
        COUNTER,
        Src::Forms,
    ),
    (
        "tinyvrrp_drops_total",
        "Datagrams dropped before an instance, by reason",
        COUNTER,
        Src::Drops,
    ),
    (
        "tinyvrrp_tracker_up",
        "Tracker state: 1 up, 0 down",
        GAUGE,
        Src::Tracker("health"),
    ),
    (
        "tinyvrrp_tracker_weight",
        "Tracker weight (the section's own)",
        GAUGE,
        Src::Tracker("weight"),
    ),
    (
        "tinyvrrp_resident_memory_bytes",
        "Resident set size of the daemon",
        GAUGE,
        Src::Process("rss_bytes"),
    ),
    (
        "tinyvrrp_heap_allocations_total",
        "Heap allocations since start",
        COUNTER,
        Src::Process("heap_allocs"),
    ),
];

const UP: &str = "# HELP keepalived_up Status\n# TYPE keepalived_up gauge\nkeepalived_up ";

/// The whole exposition for the status `text` of a running daemon.
pub fn render(text: &str, out: &mut String) {
    out.push_str(UP);
    out.push_str("1\n");
    for &(name, help, counter, src) in FAMILIES {
        for part in ["# HELP ", name, " ", help, "\n# TYPE ", name] {
            out.push_str(part);
        }
        out.push_str(if counter { " counter\n" } else { " gauge\n" });
        for line in text.split('\n') {
            if line.starts_with("instance=") {
                instance(out, name, counter, src, line);
            } else {
                other(out, name, src, line);
            }
        }
    }
}

/// What `status --prometheus` prints when the daemon cannot be asked.
pub fn render_down(out: &mut String) {
    out.push_str(UP);
    out.push_str("0\n");
}

/// The samples of one family from one instance line.
fn instance(out: &mut String, name: &str, counter: bool, src: Src, line: &str) {
    let none = ("", "");
    match src {
        Src::Field(key) => {
            if let Some(v) = field(line, key).or(if counter { Some("0") } else { None }) {
                sample(out, name, line, none, v);
            }
        }
        Src::Since => {
            if let Some(v) = field(line, "since") {
                let reason = ("reason", field(line, "reason").unwrap_or(""));
                sample(out, name, line, reason, v.trim_end_matches('s'));
            }
        }
        Src::State => {
            // The exporter's numbers: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.
            let v = match field(line, "state") {
                Some("BACKUP") => "1",
                Some("MASTER") => "2",
                Some("FAULT") => "3",
                _ => "0",
            };
            // One series per virtual address, or one with an empty address, as the exporter.
            for a in field(line, "addresses").unwrap_or("").split(',') {
                sample(out, name, line, ("ip_address", a), v);
            }
        }
        Src::Held => {
            let held = field(line, "vips") == Some("held");
            sample(out, name, line, none, if held { "1" } else { "0" });
        }
        Src::Master => {
            if let Some(m) = field(line, "master") {
                sample(out, name, line, ("master", m), "1");
            }
        }
        Src::Reasons(prefix) => {
            let mut rest = line;
            while let Some((k, v)) = next_token(&mut rest) {
                if let Some(reason) = k.strip_prefix(prefix) {
                    sample(out, name, line, ("reason", reason), v);
                }
            }
        }
        Src::Forms => {
            let (mut rest, mut peer) = (line, "");
            while let Some((k, v)) = next_token(&mut rest) {
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
        _ => {}
    }
}

/// The samples of one family from a line that is not an instance's.
fn other(out: &mut String, name: &str, src: Src, line: &str) {
    let (word, mut rest) = line.split_once(' ').unwrap_or((line, ""));
    let health = match field(line, "health") {
        Some("up") => "1",
        Some("down") => "0",
        _ => "",
    };
    let kind = word.strip_prefix("track_").unwrap_or("");
    match src {
        Src::Process(key) if word == "process" => {
            if let Some(v) = field(line, key) {
                out.push_str(name);
                value(out, v);
            }
        }
        Src::Drops if word == "drops" => {
            while let Some((reason, v)) = next_token(&mut rest) {
                out.push_str(name);
                out.push('{');
                label(out, "reason", reason);
                value(out, v);
            }
        }
        // A check not decided yet has no state sample.
        Src::Script if word == "track_script" && !health.is_empty() => {
            out.push_str(name);
            out.push('{');
            label(out, "name", field(line, "name").unwrap_or(""));
            value(out, health);
        }
        Src::Tracker(key) if !kind.is_empty() => {
            let v = if key == "health" {
                health
            } else {
                field(line, key).unwrap_or("")
            };
            if !v.is_empty() {
                out.push_str(name);
                out.push('{');
                label(out, "type", kind);
                label(out, "name", field(line, "name").unwrap_or(""));
                value(out, v);
            }
        }
        _ => {}
    }
}

/// `name{iname="…",intf="…",vrid="…"[,extra="…"]} value`.
fn sample(out: &mut String, name: &str, line: &str, extra: (&str, &str), v: &str) {
    out.push_str(name);
    labels(out, line);
    if !extra.0.is_empty() {
        label(out, extra.0, extra.1);
    }
    value(out, v);
}

/// Opens the label set with the instance's labels.
fn labels(out: &mut String, line: &str) {
    out.push('{');
    label(out, "iname", field(line, "instance").unwrap_or(""));
    label(out, "intf", field(line, "interface").unwrap_or(""));
    label(out, "vrid", field(line, "vrid").unwrap_or(""));
}

/// `k="v",` with `\`, `"` and line breaks escaped as the format asks.
fn label(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push_str("=\"");
    for c in v.split_inclusive(['\\', '"', '\n']) {
        match c.as_bytes().last() {
            Some(b'\n') => {
                out.push_str(&c[..c.len() - 1]);
                out.push_str("\\n");
            }
            Some(b'\\' | b'"') => {
                out.push_str(&c[..c.len() - 1]);
                out.push('\\');
                out.push_str(&c[c.len() - 1..]);
            }
            _ => out.push_str(c),
        }
    }
    out.push_str("\",");
}

/// Closes the label set (dropping the trailing comma) and writes the value; what is not a
/// plain decimal number is written as NaN, so a garbled status never breaks the exposition.
fn value(out: &mut String, v: &str) {
    if out.ends_with(',') {
        out.pop();
        out.push('}');
    } else if out.ends_with('{') {
        out.pop();
    }
    let b = v.as_bytes();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let (mut digits, mut dots, mut last_dot) = (0, 0, false);
    for &c in b {
        last_dot = c == b'.';
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' if digits > 0 => dots += 1,
            _ => dots = 2,
        }
    }
    let number = digits > 0 && dots < 2 && !last_dot;
    out.push(' ');
    out.push_str(if number { v } else { "NaN" });
    out.push('\n');
}

/// The next `key=value` token of a status line (words without `=` are skipped).
fn next_token<'a>(rest: &mut &'a str) -> Option<(&'a str, &'a str)> {
    loop {
        let s = rest.trim_start_matches(' ');
        if s.is_empty() {
            return None;
        }
        let (word, tail) = s.split_once(' ').unwrap_or((s, ""));
        *rest = tail;
        if let Some(kv) = word.split_once('=') {
            return Some(kv);
        }
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = line;
    while let Some((k, v)) = next_token(&mut rest) {
        if k == key {
            return Some(v);
        }
    }
    None
}

/// The process's resident set size from `/proc/self/statm` (its second number, in pages),
/// read with plain syscalls into a stack buffer (std's file machinery costs ~0.5 KiB on MIPS).
pub fn rss_bytes() -> Option<u64> {
    let mut buf = [0u8; 96];
    // SAFETY: a NUL-terminated path; `buf` is live for the read and its length is passed; the
    // descriptor is ours and closed here.
    let n = unsafe {
        let fd = libc::open(
            b"/proc/self/statm\0".as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        usize::try_from(n).ok()?
    };
    let mut fields = buf[..n].split(|&b| b == b' ');
    let resident = fields.nth(1).filter(|f| !f.is_empty())?;
    let mut pages = 0u64;
    for &c in resident {
        if !c.is_ascii_digit() {
            return None;
        }
        pages = pages.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.checked_mul(u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests;
