//! What can be wrong with a config file (errors) or merely suspicious (warnings), each with the
//! file, line, section and key it is about.

use std::fmt;

use crate::packet::Family;

/// Every error found in one file, in line order. `Display` prints one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// One error. `line` is 1-based; 0 means "the whole file" (I/O errors). `section` is the
/// header as written without brackets (`vrrp_instance VI_1`), empty outside any section.
/// `key` is empty when the error is about a section or a line rather than a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub section: String,
    pub key: String,
    pub kind: ErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.line, &self.section, &self.key)?;
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for ConfigError {}

fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: usize,
    section: &str,
    key: &str,
) -> fmt::Result {
    write!(f, "{file}:{line}: ")?;
    if !section.is_empty() {
        write!(f, "[{section}] ")?;
    }
    if !key.is_empty() {
        write!(f, "{key}: ")?;
    }
    Ok(())
}

/// A line that the INI reader would misread; found by our own line scan before rust-ini runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyntaxError {
    /// A line that is neither a section header, a comment nor `key = value`.
    NoSeparator,
    /// `= value` with nothing before the `=`.
    EmptyKey,
    /// A key with characters other than letters, digits and `_`.
    BadKeyName,
    /// `[section` without `]`.
    UnclosedSection,
    /// `[section] something`: rust-ini would read the rest as the start of a key.
    TextAfterSection,
    /// keepalived's `key value` without `=`.
    MissingEquals,
    /// keepalived's `name {` ... `}` blocks.
    KeepalivedBlock,
    /// A quote opened in a value and not closed on the same line.
    UnterminatedQuote,
    /// A value ending in `\`, which rust-ini would join with the next line.
    LineContinuation,
    /// A `\r` that is not part of a `\r\n` line end.
    StrayCarriageReturn,
    /// `key = value` before the first section header.
    KeyOutsideSection,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyntaxError::NoSeparator => {
                "expected `key = value`, `[section]` or a comment (a flag is written alone, like `nopreempt`, or as `key =`)"
            }
            SyntaxError::MissingEquals => {
                "missing `=` between key and value (keepalived's `key value` is `key = value` here)"
            }
            SyntaxError::KeepalivedBlock => {
                "keepalived's `{ }` block (allowed: a [section] header and one `key = value` per line; `tinyvrrp import` converts keepalived.conf)"
            }
            SyntaxError::EmptyKey => "missing key name before `=`",
            SyntaxError::BadKeyName => {
                "bad key name (allowed: letters, digits and `_`, then `=` or `:`)"
            }
            SyntaxError::UnclosedSection => "section header without closing `]`",
            SyntaxError::TextAfterSection => {
                "text after `]` (comments must be on a line of their own)"
            }
            SyntaxError::UnterminatedQuote => {
                "quote not closed on the same line (a lone ' or \" goes inside the other quote)"
            }
            SyntaxError::LineContinuation => {
                "value ends with `\\` (line continuation is not supported)"
            }
            SyntaxError::StrayCarriageReturn => "carriage return in the middle of a line",
            SyntaxError::KeyOutsideSection => {
                "key outside any section (allowed: after a [section] header)"
            }
        })
    }
}

/// Errors (and, apart, warnings) kept of one file: enough to fix it, and a bound on the
/// memory and log lines a bad file costs.
pub const MAX_REPORTS: usize = 100;
/// Lines of one list key (virtual_ipaddress_excluded, unicast_peer, ...) in one section:
/// far above real use, a bound on the checks for repeats.
pub const MAX_LIST: usize = 1024;

/// What is wrong. `Display` gives the message and, where there is a closed set or range, the
/// allowed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io {
        kind: std::io::ErrorKind,
        detail: String,
    },
    Syntax(SyntaxError),
    /// rust-ini rejected text our scan accepted, or split it differently; a bug here, reported
    /// rather than guessed around.
    IniParser {
        detail: String,
    },
    UnknownSection {
        allowed: &'static [&'static str],
    },
    /// `[vrrp_instance]` without a name.
    MissingSectionName,
    /// A name where none is allowed (`[global_defs x]`) or a name with spaces.
    BadSectionName {
        expected: &'static str,
    },
    DuplicateSection {
        first_line: usize,
    },
    /// `keepalived` when keepalived has this key in this section; `suggestion` is a key of
    /// the section one or two typos away.
    UnknownKey {
        key: String,
        keepalived: bool,
        suggestion: Option<&'static str>,
    },
    /// A single-valued key given twice.
    DuplicateKey {
        first_line: usize,
    },
    /// The same item twice in a list key.
    DuplicateValue {
        first_line: usize,
    },
    /// A required key is absent (reported at the section header's line).
    Missing,
    OutOfRange {
        value: String,
        allowed: &'static str,
    },
    BadValue {
        value: String,
        expected: &'static str,
    },
    /// VRRPv2 carries the advert interval in whole seconds.
    AdvertIntNotWholeSeconds {
        value: String,
    },
    /// An address of the other family than the instance's first virtual address.
    FamilyMismatch {
        expected: Family,
        found: Family,
    },
    /// IPv4 and IPv6 virtual addresses in one instance.
    MixedFamilyVips {
        expected: Family,
        found: Family,
    },
    /// VRRPv2 (RFC 3768) is IPv4 only.
    V2RequiresIpv4,
    /// RFC 5798 adverts carry at least one address; keepalived refuses a v3 instance without.
    NoVipsWithV3,
    /// More VIPs than one advert carries: its count field is one byte, and an IPv6 advert
    /// must fit a 1500-byte MTU.
    TooManyVips {
        max: usize,
    },
    /// The host already holds the address (not as this instance's VIP would be): the daemon
    /// would take it away whenever the instance is not master.
    HostAddress {
        dev: String,
        prefix_len: u8,
    },
    /// A reload to a configuration without instances (it would stop every one).
    NoInstances,
    /// More errors than [`MAX_REPORTS`]: only the first are kept.
    MoreErrors {
        count: usize,
    },
    /// More lines of one list key in one section than [`MAX_LIST`].
    TooManyLines {
        max: usize,
    },
    /// Two keys that contradict each other (`accept` and `no_accept`, or two different
    /// source addresses).
    Conflicts {
        other_key: &'static str,
        other_line: usize,
    },
    DuplicateVrid {
        vrid: u8,
        interface: String,
        other_instance: String,
        other_line: usize,
    },
    UnknownScript {
        name: String,
    },
    UnknownTrackFile {
        name: String,
    },
    UnknownTrackProcess {
        name: String,
    },
    UnknownInstance {
        name: String,
    },
    InstanceInTwoGroups {
        instance: String,
        other_group: String,
    },
    /// IPsec AH authentication (RFC 2338, dropped by RFC 3768) is not implemented.
    AuthAhUnsupported,
    /// `auth_pass` without `auth_type = PASS`.
    AuthPassWithoutType,
    /// A relative path with a `/` (a bare name is looked up in PATH).
    ScriptNotAbsolute {
        path: String,
    },
    /// The command line does not split into words (keepalived's quoting rules).
    BadCommand {
        detail: &'static str,
    },
    ScriptNotFound {
        path: String,
    },
    ScriptNotExecutable {
        path: String,
    },
}

impl ErrorKind {
    /// `BadValue` for `value` (one out-of-line constructor for the many callers).
    #[inline(never)]
    pub(crate) fn bad(value: &str, expected: &'static str) -> Self {
        ErrorKind::BadValue {
            value: value.to_string(),
            expected,
        }
    }

    #[inline(never)]
    pub(crate) fn out_of_range(value: &str, allowed: &'static str) -> Self {
        ErrorKind::OutOfRange {
            value: value.to_string(),
            allowed,
        }
    }
}

/// Every section type, for `UnknownSection`.
pub const SECTION_TYPES: &[&str] = &[
    "global_defs",
    "vrrp_script NAME",
    "vrrp_track_file NAME",
    "vrrp_track_process NAME",
    "vrrp_instance NAME",
    "vrrp_sync_group NAME",
];

fn write_list(f: &mut fmt::Formatter<'_>, items: &[&str]) -> fmt::Result {
    f.write_str(" (allowed: ")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(item)?;
    }
    f.write_str(")")
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io { detail, .. } => write!(f, "cannot read the file: {detail}"),
            ErrorKind::Syntax(s) => write!(f, "{s}"),
            ErrorKind::IniParser { detail } => write!(f, "INI parser: {detail}"),
            ErrorKind::UnknownSection { allowed } => {
                f.write_str("unknown section")?;
                write_list(f, allowed)
            }
            ErrorKind::MissingSectionName => {
                f.write_str("section needs a name (allowed: [TYPE NAME], e.g. [vrrp_instance VI_1])")
            }
            ErrorKind::BadSectionName { expected } => {
                write!(f, "bad section name (allowed: {expected})")
            }
            ErrorKind::DuplicateSection { first_line } => {
                write!(f, "section defined twice (first at line {first_line})")
            }
            ErrorKind::UnknownKey {
                key,
                keepalived,
                suggestion,
            } => {
                if *keepalived {
                    write!(f, "keepalived's {key} is not supported by tinyvrrp")
                } else if let Some(s) = suggestion {
                    write!(f, "unknown key (did you mean {s}?)")
                } else {
                    f.write_str("unknown key (see the README's Configuration reference)")
                }
            }
            ErrorKind::DuplicateKey { first_line } => write!(
                f,
                "given twice (first at line {first_line}; only list keys may repeat)"
            ),
            ErrorKind::DuplicateValue { first_line } => {
                write!(f, "listed twice (first at line {first_line})")
            }
            ErrorKind::Missing => f.write_str("missing (this key is required in this section)"),
            ErrorKind::OutOfRange { value, allowed } => {
                write!(f, "{value:?} is out of range (allowed: {allowed})")
            }
            ErrorKind::BadValue { value, expected } => {
                write!(f, "bad value {value:?} (allowed: {expected})")
            }
            ErrorKind::AdvertIntNotWholeSeconds { value } => write!(
                f,
                "{value:?}: VRRPv2 advertises whole seconds (allowed: 1..=255, or set version = 3 for 0.01..=40.95)"
            ),
            ErrorKind::FamilyMismatch { expected, found }
            | ErrorKind::MixedFamilyVips { expected, found } => {
                let allowed = if matches!(self, ErrorKind::FamilyMismatch { .. }) {
                    "one address family per instance, set by the first virtual_ipaddress"
                } else {
                    "one family per instance: split it in two with the same virtual_router_id, as `tinyvrrp import` does"
                };
                write!(
                    f,
                    "{} address in an {} instance (allowed: {allowed})",
                    family_name(*found),
                    family_name(*expected)
                )
            }
            ErrorKind::TooManyVips { max } => write!(
                f,
                "more than {max} VIPs in one instance: an advert lists at most 255 addresses, \
                 89 IPv6 ones in a 1500-byte MTU (keepalived moves the excess to \
                 virtual_ipaddress_excluded: list them there)"
            ),
            ErrorKind::HostAddress { dev, prefix_len } => write!(
                f,
                "the host already holds this address (on {dev}, /{prefix_len}); a VIP must be \
                 an address the daemon may add and remove"
            ),
            ErrorKind::NoInstances => f.write_str(
                "no vrrp_instance: a reload to this would stop every instance and remove every \
                 VIP, so it is refused (stop the daemon instead)",
            ),
            ErrorKind::MoreErrors { count } => write!(f, "{count} more errors not shown"),
            ErrorKind::TooManyLines { max } => {
                write!(f, "more than {max} lines of this key in one section")
            }
            ErrorKind::NoVipsWithV3 => f.write_str(
                "missing: VRRPv3 adverts carry at least one address (RFC 5798, keepalived) (allowed: a virtual_ipaddress, or version = 2)",
            ),
            ErrorKind::Conflicts {
                other_key,
                other_line,
            } => write!(
                f,
                "contradicts {other_key} at line {other_line} (allowed: one of the two)"
            ),
            ErrorKind::V2RequiresIpv4 => f.write_str(
                "IPv6 virtual address with VRRP version 2 (allowed: IPv4 only with version 2; set version = 3 for IPv6)",
            ),
            ErrorKind::DuplicateVrid {
                vrid,
                interface,
                other_instance,
                other_line,
            } => write!(
                f,
                "virtual_router_id {vrid} is already used on {interface} for the same address family by {other_instance} (line {other_line}) (allowed: a VRID unique per interface and family)"
            ),
            ErrorKind::UnknownScript { name }
            | ErrorKind::UnknownTrackProcess { name }
            | ErrorKind::UnknownTrackFile { name }
            | ErrorKind::UnknownInstance { name } => {
                let section = match self {
                    ErrorKind::UnknownScript { .. } => "vrrp_script",
                    ErrorKind::UnknownTrackProcess { .. } => "vrrp_track_process",
                    ErrorKind::UnknownTrackFile { .. } => "vrrp_track_file",
                    _ => "vrrp_instance",
                };
                write!(
                    f,
                    "no [{section} {name}] section (allowed: names of {section} sections)"
                )
            }
            ErrorKind::InstanceInTwoGroups {
                instance,
                other_group,
            } => write!(
                f,
                "instance {instance} is already in sync group {other_group} (allowed: one sync group per instance)"
            ),
            ErrorKind::AuthAhUnsupported => f.write_str(
                "AH is not supported: RFC 3768 removed it from VRRP and keepalived's AH is non-standard (allowed: auth_type = PASS with version 2, or no authentication, as with version 3)",
            ),
            ErrorKind::AuthPassWithoutType => {
                f.write_str("auth_pass without auth_type (allowed: set auth_type = PASS)")
            }
            ErrorKind::ScriptNotAbsolute { path } => write!(
                f,
                "{path:?} is a relative path (allowed: an absolute path, or a bare command name looked up in PATH)"
            ),
            ErrorKind::BadCommand { detail } => write!(f, "bad command line: {detail}"),
            ErrorKind::ScriptNotFound { path } => {
                if path.as_bytes().contains(&b'/') {
                    write!(f, "{path} does not exist")
                } else {
                    write!(f, "{path} is not found in PATH")
                }
            }
            ErrorKind::ScriptNotExecutable { path } => write!(
                f,
                "{path} is not an executable file (allowed: a regular file with an x permission bit)"
            ),
        }
    }
}

/// Something that parses but probably does not do what the writer meant. keepalived logs the
/// same traps and, like it, the config is adjusted as the warning says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    pub line: usize,
    pub section: String,
    pub key: String,
    /// Typed; its `Display` is the text.
    pub message: WarningKind,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.line, &self.section, &self.key)?;
        write!(f, "warning: {}", self.message)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarningKind {
    /// keepalived clears nopreempt when the initial state is MASTER; so do we.
    NopreemptWithMaster,
    /// The address owner (priority 255) always preempts; nopreempt is cleared.
    NopreemptWithOwner,
    /// preempt_delay has no meaning when not preempting; it is reset to 0.
    PreemptDelayWithNopreempt,
    /// A MASTER starts as master at once, so there is nothing to delay; reset to 0.
    PreemptDelayWithMaster,
    /// Only 8 bytes of a VRRPv2 password go on the wire.
    AuthPassTruncated { length: usize },
    /// A sync group of one instance synchronises nothing.
    SyncGroupSingleInstance,
    /// A notify script that cannot run; the transition still happens, the script is skipped.
    NotifyScriptUnusable { detail: ErrorKind },
    /// A vrrp_script that cannot run here (it may exist on the target): the daemon counts
    /// the check as failing.
    TrackScriptUnusable { detail: ErrorKind },
    /// What the daemon refuses at start or reload, found by `--check` on this host.
    DaemonRefuses { detail: ErrorKind },
    /// More warnings than [`MAX_REPORTS`]: only the first are kept.
    MoreWarnings { count: usize },
    /// A bare command name found by a PATH search (keepalived logs the same).
    ScriptFoundInPath { word: String, path: String },
    /// `||`, `>`, `$(` ... in a command: no shell runs it (as in keepalived).
    ShellSyntaxAsArgument { word: String },
    /// keepalived cuts a value at `#` or `!`; here it is kept as text.
    CommentMarkInValue { mark: char },
    /// A keepalived key with no effect on VRRP (mail, SNMP, LVS, ...): accepted, ignored.
    NoEffect { key: String },
    /// keepalived's `state` takes MASTER or BACKUP and defaults anything else to BACKUP.
    UnknownStateIsBackup { value: String },
    /// v3_checksum_as_v2 only changes VRRPv3 over IPv4.
    ChecksumAsV2Ignored,
    /// RFC 5798 §5.2.9: in IPv6 multicast adverts the first address is the link-local one
    /// (keepalived logs the same; it is an error only in its strict mode).
    FirstIpv6VipNotLinkLocal,
    /// A `virtual_rules` line without a priority gets one, as keepalived does.
    RulePriorityAssigned { priority: u32 },
    /// An instance without VIPs (notify-driven setups): it elects and notifies, moves nothing.
    NoVirtualIpaddress,
    /// The same VIP twice in one instance; keepalived ignores the repeat, so do we.
    DuplicateVip { first_line: usize },
    /// `no_accept`: keepalived drops traffic to the VIPs on a non-owner master with its own
    /// firewall rules; tinyvrrp installs no rules.
    NoAcceptNotEnforced,
    /// A sync group and one of its members track the same thing (keepalived logs it too).
    TrackedByInstanceAndGroup { group: String },
    /// A weighted track on a sync group with an address-owner member: keepalived clears the
    /// weight to 0 (a failure then puts the group in FAULT).
    GroupWeightWithOwner { instance: String },
    /// The same VIP on the same interface in two instances (keepalived does not check): the
    /// first to leave MASTER removes it from under the other.
    VipInTwoInstances { other_instance: String },
    /// `use_vmac = NAME` already used by another instance: keepalived ignores the name.
    VmacNameTaken { other_instance: String },
    /// `vmac_xmit_base` without `use_vmac`: keepalived clears it, so do we.
    XmitBaseWithoutVmac,
    /// RFC 5798 has no authentication; keepalived ignores it with version 3 (a log line), so
    /// do we: refusing it would refuse configs that run with keepalived.
    AuthIgnoredWithV3,
    /// A notify_fifo key that has no effect, and why.
    NotifyFifoIgnored { reason: &'static str },
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarningKind::NopreemptWithMaster => f.write_str(
                "nopreempt does not work with state MASTER (as in keepalived); nopreempt ignored: use state = BACKUP on every node",
            ),
            WarningKind::NopreemptWithOwner => f.write_str(
                "nopreempt does not work with priority 255 (the address owner always preempts); nopreempt ignored",
            ),
            WarningKind::PreemptDelayWithNopreempt => {
                f.write_str("preempt_delay has no effect with nopreempt; ignored")
            }
            WarningKind::PreemptDelayWithMaster => f.write_str(
                "preempt_delay does not work with state MASTER (as in keepalived); ignored",
            ),
            WarningKind::AuthPassTruncated { length } => write!(
                f,
                "auth_pass has {length} bytes; only the first 8 are used (as in keepalived)"
            ),
            WarningKind::SyncGroupSingleInstance => {
                f.write_str("sync group has only one instance; it synchronises nothing")
            }
            WarningKind::NotifyScriptUnusable { detail } => {
                write!(f, "notify script will not run: {detail}")
            }
            WarningKind::MoreWarnings { count } => write!(f, "{count} more warnings not shown"),
            WarningKind::DaemonRefuses { detail } => {
                write!(f, "{detail} (the daemon refuses this here)")
            }
            WarningKind::TrackScriptUnusable { detail } => write!(
                f,
                "{detail}; if so on the target, the check counts as failing"
            ),
            WarningKind::ScriptFoundInPath { word, path } => write!(
                f,
                "`{word}` resolved by PATH search to {path} (as keepalived; an absolute path is safer)"
            ),
            WarningKind::ShellSyntaxAsArgument { word } => write!(
                f,
                "`{word}` is passed to the program as an argument: no shell runs the command (as in keepalived; use sh -c '...' for shell syntax)"
            ),
            WarningKind::CommentMarkInValue { mark } => write!(
                f,
                "`{mark}` inside a value is kept as text; keepalived would start a comment there (quote the value to keep it silently)"
            ),
            WarningKind::NoEffect { key } => {
                write!(f, "keepalived's {key} has no effect on VRRP; ignored")
            }
            WarningKind::UnknownStateIsBackup { value } => write!(
                f,
                "unknown state {value:?}; BACKUP is used, as keepalived does (allowed: MASTER, BACKUP)"
            ),
            WarningKind::ChecksumAsV2Ignored => f.write_str(
                "v3_checksum_as_v2 only affects VRRPv3 over IPv4; ignored for this instance",
            ),
            WarningKind::NoVirtualIpaddress => f.write_str(
                "none given: the instance elects and notifies but moves no address",
            ),
            WarningKind::DuplicateVip { first_line } => write!(
                f,
                "already listed at line {first_line}; ignored"
            ),
            WarningKind::NoAcceptNotEnforced => f.write_str(
                "tinyvrrp does not filter packets to the VIPs (keepalived's no_accept adds firewall rules dropping them on the master): no effect",
            ),
            WarningKind::TrackedByInstanceAndGroup { group } => write!(
                f,
                "also tracked by sync group {group}; the group's weight applies unless this one is 0"
            ),
            WarningKind::GroupWeightWithOwner { instance } => write!(
                f,
                "member {instance} has priority 255: weight set to 0 (a failure puts the group in FAULT)"
            ),
            WarningKind::VipInTwoInstances { other_instance } => write!(
                f,
                "instance {other_instance} has it on the same interface; the first to leave MASTER removes it from both"
            ),
            WarningKind::VmacNameTaken { other_instance } => write!(
                f,
                "name already used by instance {other_instance}; the default name is used"
            ),
            WarningKind::XmitBaseWithoutVmac => {
                f.write_str("only with use_vmac (as in keepalived); ignored")
            }
            WarningKind::FirstIpv6VipNotLinkLocal => f.write_str(
                "the first IPv6 virtual_ipaddress should be link-local (fe80::/10), as RFC 5798 asks",
            ),
            WarningKind::RulePriorityAssigned { priority } => write!(
                f,
                "rule without priority: priority {priority} assigned (as keepalived); give one"
            ),
            WarningKind::NotifyFifoIgnored { reason } => f.write_str(reason),
            WarningKind::AuthIgnoredWithV3 => {
                f.write_str("VRRPv3 has no authentication: ignored (as keepalived does)")
            }
        }
    }
}
