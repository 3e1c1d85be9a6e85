//! Statements to INI sections, with a warning for everything not carried over.

use super::notes::{self, Cat};
use super::tree::Node;
use super::{Warn, Warnings};

/// How a keyword is carried over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `key value...` (or a flag, without value) → `key = value`.
    Value,
    /// `key ADDRESS[/PREFIX]` → `key = ADDRESS` (keepalived drops the prefix).
    Addr,
    /// A block of lines → one repeated key per line.
    List,
    /// As List, for VIP lines (options checked).
    Vip,
    /// As List, for unicast peers (ttl options dropped).
    Peer,
    /// A block of words → one repeated key per word (sync group members).
    Words,
    /// `authentication { auth_type ...; auth_pass ... }` → the two keys.
    Auth,
}

use Kind::*;

const GLOBAL: &[(&str, Kind)] = &[
    ("router_id", Value),
    ("default_interface", Value),
    ("script_user", Value),
    ("enable_script_security", Value),
    ("vrrp_version", Value),
    ("vrrp_garp_master_delay", Value),
    ("vrrp_garp_master_repeat", Value),
    ("vrrp_garp_master_refresh", Value),
    ("vrrp_garp_master_refresh_repeat", Value),
    ("vrrp_startup_delay", Value),
    ("notify_fifo", Value),
    ("notify_fifo_script", Value),
    ("vrrp_notify_fifo", Value),
    ("vrrp_notify_fifo_script", Value),
];

const SCRIPT: &[(&str, Kind)] = &[
    ("script", Value),
    ("interval", Value),
    ("timeout", Value),
    ("weight", Value),
    ("rise", Value),
    ("fall", Value),
    ("user", Value),
];

const TRACK_FILE: &[(&str, Kind)] = &[("file", Value), ("weight", Value)];

const TRACK_PROCESS: &[(&str, Kind)] = &[
    ("process", Value),
    ("param_match", Value),
    ("full_command", Value),
    ("weight", Value),
    ("quorum", Value),
    ("quorum_max", Value),
    ("delay", Value),
    ("fork_delay", Value),
    ("terminate_delay", Value),
];

const INSTANCE: &[(&str, Kind)] = &[
    ("interface", Value),
    ("state", Value),
    ("virtual_router_id", Value),
    ("priority", Value),
    ("advert_int", Value),
    ("version", Value),
    ("nopreempt", Value),
    ("preempt_delay", Value),
    ("virtual_ipaddress", Vip),
    ("virtual_ipaddress_excluded", Vip),
    ("virtual_routes", List),
    ("virtual_rules", List),
    ("unicast_src_ip", Addr),
    ("unicast_peer", Peer),
    ("unicast_ttl", Value),
    ("mcast_src_ip", Value),
    ("authentication", Auth),
    ("garp_master_delay", Value),
    ("garp_master_repeat", Value),
    ("garp_master_refresh", Value),
    ("garp_master_refresh_repeat", Value),
    ("track_interface", List),
    ("track_script", List),
    ("track_file", List),
    ("track_process", List),
    ("notify_master", Value),
    ("notify_backup", Value),
    ("notify_fault", Value),
    ("notify_stop", Value),
    ("notify", Value),
    ("v3_checksum_as_v2", Value),
    ("use_vmac", Value),
    ("vmac_xmit_base", Value),
    ("dont_track_primary", Value),
    ("accept", Value),
    ("no_accept", Value),
];

const SYNC_GROUP: &[(&str, Kind)] = &[
    ("group", Words),
    ("track_interface", List),
    ("track_script", List),
    ("track_file", List),
    ("track_process", List),
    ("notify_master", Value),
    ("notify_backup", Value),
    ("notify_fault", Value),
    ("notify_stop", Value),
    ("notify", Value),
];

/// Sections whose keepalived keywords are all carried over (or noted).
const CLOSED: &[&str] = &[
    "vrrp_script",
    "vrrp_track_file",
    "track_file",
    "vrrp_track_process",
];

/// One `[header]` with its `key = value` lines (None: a flag, written `key =`).
pub(super) struct Section {
    pub header: String,
    pub entries: Vec<(&'static str, Option<String>)>,
}

pub(super) struct Ctx<'a> {
    pub files: &'a [String],
    pub w: &'a mut Warnings,
}

impl Ctx<'_> {
    pub fn warn(&mut self, node: &Node, keyword: &str, text: String, effect: bool) {
        let file = self.files.get(node.file).map_or("", String::as_str);
        self.w
            .push(Warn::new(file, node.line, keyword, text, effect));
    }

    /// Adds `key = value` to `sec`, written as INI reads it back.
    pub fn push(
        &mut self,
        sec: &mut Section,
        node: &Node,
        key: &'static str,
        value: Option<String>,
    ) {
        let Some(value) = value else {
            sec.entries.push((key, None));
            return;
        };
        match ini_value(&value) {
            Some(v) => sec.entries.push((key, Some(v))),
            None => {
                let text = format!("the value {value:?} cannot be written in tinyvrrp's INI (quotes of both kinds, a control character, or a backslash where INI needs quotes): dropped");
                self.warn(node, key, text, true);
            }
        }
    }

    fn note(&mut self, node: &Node, cat: Cat) {
        let (effect, text) = cat.says();
        self.warn(node, node.keyword(), text.to_string(), effect);
    }

    fn push_words(&mut self, sec: &mut Section, node: &Node, key: &'static str) {
        for word in node.args() {
            self.push(sec, node, key, Some(word.clone()));
        }
        for line in node.block.iter().flatten() {
            for word in &line.words {
                self.push(sec, line, key, Some(word.clone()));
            }
        }
    }

    fn unsupported(&mut self, node: &Node, within: &str) {
        let text = format!(
            "keepalived's `{}`{within} is not supported by tinyvrrp: dropped",
            node.keyword()
        );
        self.warn(node, node.keyword(), text, true);
    }
}

pub(super) fn translate(nodes: &[Node], files: &[String], w: &mut Warnings) -> String {
    let mut ctx = Ctx { files, w };
    let mut sections: Vec<Section> = Vec::new();
    let mut splits: Vec<(String, String)> = Vec::new();
    for node in nodes {
        top(&mut ctx, node, &mut sections, &mut splits);
    }
    super::families::join_groups(&mut sections, &splits);
    render(&sections)
}

/// The keys carried over in a top-level block.
fn table_of(keyword: &str) -> Option<&'static [(&'static str, Kind)]> {
    Some(match keyword {
        "global_defs" => GLOBAL,
        "vrrp_script" => SCRIPT,
        "vrrp_track_file" | "track_file" => TRACK_FILE,
        "vrrp_track_process" => TRACK_PROCESS,
        "vrrp_instance" => INSTANCE,
        "vrrp_sync_group" => SYNC_GROUP,
        _ => return None,
    })
}

fn top(ctx: &mut Ctx, node: &Node, out: &mut Vec<Section>, splits: &mut Vec<(String, String)>) {
    let keyword = node.keyword();
    let Some(table) = table_of(keyword) else {
        match notes::note(keyword) {
            Some(cat) => ctx.note(node, cat),
            None => ctx.unsupported(node, ""),
        }
        return;
    };
    let Some(block) = &node.block else {
        let text =
            format!("keepalived ignores `{keyword}` without a `{{ ... }}` block; so does tinyvrrp");
        ctx.warn(node, keyword, text, false);
        return;
    };
    let global = keyword == "global_defs";
    let name = node.args().first().map_or("", String::as_str);
    if !global && !is_name(name) {
        let text = "needs one name made of letters, digits and `_.-`: skipped".to_string();
        ctx.warn(node, keyword, text, true);
        return;
    }
    let mut section = Section {
        header: if global {
            keyword.to_string()
        } else {
            format!("{keyword} {name}")
        },
        entries: Vec::new(),
    };
    for child in block {
        carry(ctx, &mut section, child, table, keyword);
    }
    if keyword == "vrrp_instance" {
        if let Some(v6) = super::families::split(ctx, node, &mut section) {
            splits.push((
                name.to_string(),
                v6.header["vrrp_instance ".len()..].to_string(),
            ));
            out.push(section);
            out.push(v6);
            return;
        }
        super::families::ipv6_version(&mut section);
    }
    match out
        .iter_mut()
        .find(|s| global && s.header == section.header)
    {
        // keepalived reads a second global_defs block as more of the first.
        Some(first) => first.entries.append(&mut section.entries),
        None => out.push(section),
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':'))
}

fn carry(
    ctx: &mut Ctx,
    sec: &mut Section,
    node: &Node,
    table: &[(&'static str, Kind)],
    within: &str,
) {
    let keyword = node.keyword();
    let Some(&(key, kind)) = table.iter().find(|(k, _)| *k == keyword) else {
        if notes::is_default(keyword, node.args()) {
            let text = "keepalived's default value: dropped".to_string();
            ctx.warn(node, keyword, text, false);
            return;
        }
        match notes::note(keyword) {
            Some(cat) => ctx.note(node, cat),
            // keepalived knows no more keywords in these sections than tinyvrrp carries.
            None if CLOSED.contains(&within) => ctx.note(node, Cat::Ignored),
            None => ctx.unsupported(node, &format!(" in {within}")),
        }
        return;
    };
    match (kind, &node.block) {
        (Addr, None) => {
            let value = node.args().first().map(|a| strip_prefix_len(a).to_string());
            ctx.push(sec, node, key, value);
        }
        (Value, None) => {
            let value = (!node.args().is_empty()).then(|| join(node.args()));
            ctx.push(sec, node, key, value);
        }
        (Value | Addr, Some(_)) => {
            let text = "takes a value, not a block: dropped".to_string();
            ctx.warn(node, keyword, text, true);
        }
        (Auth, _) => auth(ctx, sec, node),
        (Words, _) => {
            ctx.push_words(sec, node, key);
        }
        (List | Vip | Peer, _) => list(ctx, sec, node, key, kind),
    }
}

/// The words of a value: a quoted word with blanks keeps its quotes when others follow.
pub(super) fn join(words: &[String]) -> String {
    if let [one] = words {
        return one.clone();
    }
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains([' ', '\t']) || word.is_empty() {
            out.push('"');
            out.push_str(word);
            out.push('"');
        } else {
            out.push_str(word);
        }
    }
    out
}

fn list(ctx: &mut Ctx, sec: &mut Section, node: &Node, key: &'static str, kind: Kind) {
    if !node.args().is_empty() {
        let text = "keepalived reads the items of this list from a `{ ... }` block: the words after it are dropped".to_string();
        ctx.warn(node, node.keyword(), text, true);
    }
    for item in node.block.iter().flatten() {
        if item.block.is_some() {
            let text = format!("a block inside `{key}`: dropped");
            ctx.warn(item, item.keyword(), text, true);
            continue;
        }
        if kind == Vip && duplicate(sec, key, item.keyword()) {
            let text = "keepalived ignores a VIP given twice; dropped".to_string();
            ctx.warn(item, item.keyword(), text, false);
            continue;
        }
        let value = match kind {
            Vip => vip(ctx, item),
            Peer => peer(ctx, item),
            _ => join(&item.words),
        };
        ctx.push(sec, item, key, Some(value));
    }
}

/// Whether `sec` has `key` for the address of `vip` already (prefixes aside, as keepalived).
fn duplicate(sec: &Section, key: &str, vip: &str) -> bool {
    let address = strip_prefix_len(vip);
    sec.entries.iter().any(|(k, v)| {
        *k == key
            && v.as_deref().is_some_and(|v| {
                strip_prefix_len(v.split([' ', '\t']).next().unwrap_or("")) == address
            })
    })
}

/// A VIP line keeps `dev`, `label`, `brd` (`broadcast`) and `scope`; other options go.
fn vip(ctx: &mut Ctx, item: &Node) -> String {
    let mut out = item.keyword().to_string();
    let mut args = item.args().iter();
    while let Some(opt) = args.next() {
        let kept = match opt.as_str() {
            "dev" | "label" | "brd" | "scope" => opt.as_str(),
            "broadcast" => "brd",
            _ => {
                if matches!(opt.as_str(), "preferred_lft" | "peer" | "track_group") {
                    args.next();
                }
                let text = format!("keepalived's VIP option `{opt}` is not supported by tinyvrrp: dropped from this address");
                ctx.warn(item, opt, text, true);
                continue;
            }
        };
        out.push(' ');
        out.push_str(kept);
        if let Some(value) = args.next() {
            out.push(' ');
            out.push_str(value);
        }
    }
    out
}

fn peer(ctx: &mut Ctx, item: &Node) -> String {
    if !item.args().is_empty() {
        let text = "keepalived checks the TTL of this peer's adverts (`min_ttl`/`max_ttl`); tinyvrrp does not: options dropped".to_string();
        ctx.warn(item, item.keyword(), text, true);
    }
    strip_prefix_len(item.keyword()).to_string()
}

/// keepalived reads `192.0.2.1/24` as a unicast address and drops the `/24`.
fn strip_prefix_len(address: &str) -> &str {
    address.split_once('/').map_or(address, |(a, _)| a)
}

fn auth(ctx: &mut Ctx, sec: &mut Section, node: &Node) {
    let children = node.block.iter().flatten();
    let ah = children
        .clone()
        .any(|c| c.keyword() == "auth_type" && c.args().first().is_some_and(|t| t == "AH"));
    if ah {
        let text = "keepalived authenticates with IPsec AH, which tinyvrrp refuses (RFC 5798 dropped it; use `auth_type PASS` or none, on every node): written without authentication".to_string();
        ctx.warn(node, "auth_type", text, true);
        return;
    }
    for child in children {
        match child.keyword() {
            "auth_type" => ctx.push(sec, child, "auth_type", Some(join(child.args()))),
            "auth_pass" => ctx.push(sec, child, "auth_pass", Some(join(child.args()))),
            _ => ctx.unsupported(child, " in authentication"),
        }
    }
}

fn render(sections: &[Section]) -> String {
    let mut out =
        String::from("# Imported from a keepalived configuration by `tinyvrrp import`.\n");
    for section in sections {
        out.push_str("\n[");
        out.push_str(&section.header);
        out.push_str("]\n");
        for (key, value) in &section.entries {
            out.push_str(key);
            out.push_str(" =");
            if let Some(value) = value {
                out.push(' ');
                out.push_str(value);
            }
            out.push('\n');
        }
    }
    out
}

/// `value` as INI reads it back unchanged: quoted when INI would see a comment, a quote, a
/// keepalived block or blanks at either end in it (tinyvrrp's INI takes `#`, `;` and `!` after a
/// blank as a comment, pairs quotes anywhere in a line, and warns of a `#` or `!` inside a
/// word); None when no quoting can carry it.
pub(super) fn ini_value(value: &str) -> Option<String> {
    if value.contains(|c: char| c != '\t' && c.is_control()) {
        return None;
    }
    if reads_back_plain(value) {
        return Some(value.to_string());
    }
    if value.contains('\\') {
        return None;
    }
    let quote = if !value.contains('"') {
        '"'
    } else if !value.contains('\'') {
        '\''
    } else {
        return None;
    };
    Some(format!("{quote}{value}{quote}"))
}

/// Whether `key = value` gives back `value` as it is: no blank or quote at its edges, no
/// trailing `{` or `\`, and the INI reader's own comment scan keeps it whole.
fn reads_back_plain(value: &str) -> bool {
    let blank = |c: char| c == ' ' || c == '\t';
    let edges = value.starts_with(blank)
        || value.ends_with(blank)
        || value.starts_with(['"', '\''])
        || value.ends_with(['{', '\\']);
    !edges && crate::config::value_reads_whole(value)
}
