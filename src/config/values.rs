//! Parsers for single values. Each returns the typed value or the `ErrorKind` to report; the
//! caller adds the location.

use std::net::IpAddr;

use super::error::ErrorKind;
use super::model::Vip;
use crate::packet::Family;
use crate::spawn::{CommandError, Program};

use ErrorKind as E;

fn bad(value: &str, expected: &'static str) -> ErrorKind {
    E::bad(value, expected)
}

/// An integer in `min..=max`; `allowed` is the range as shown to the user.
pub(super) fn int_in(
    value: &str,
    min: i64,
    max: i64,
    allowed: &'static str,
) -> Result<i64, ErrorKind> {
    let n: i64 = value.parse().map_err(|_| bad(value, allowed))?;
    if n < min || n > max {
        return Err(E::out_of_range(value, allowed));
    }
    Ok(n)
}

pub(super) fn u8_in(value: &str, min: u8, max: u8, allowed: &'static str) -> Result<u8, ErrorKind> {
    let n = int_in(value, i64::from(min), i64::from(max), allowed)?;
    u8::try_from(n).map_err(|_| bad(value, allowed))
}

pub(super) fn i32_in(
    value: &str,
    min: i32,
    max: i32,
    allowed: &'static str,
) -> Result<i32, ErrorKind> {
    let n = int_in(value, i64::from(min), i64::from(max), allowed)?;
    i32::try_from(n).map_err(|_| bad(value, allowed))
}

/// Seconds with at most two decimals (`1`, `0.5`, `2.25`) as centiseconds; `None` when the
/// text is not of that form (a range check is the caller's).
pub(super) fn centiseconds(value: &str) -> Option<u64> {
    let (whole, frac) = match value.split_once('.') {
        Some((w, f)) => (w, f),
        None => (value, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || !digits(whole) || frac.len() > 2 || !digits(frac) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac_cs = match frac.len() {
        0 => 0,
        1 => u64::from(frac.as_bytes().first()? - b'0') * 10,
        _ => frac.parse().ok()?,
    };
    Some(whole * 100 + frac_cs)
}

/// keepalived-style flags: an empty value (`nopreempt =`) means "on".
pub(super) fn flag(value: &str) -> Result<bool, ErrorKind> {
    const ALLOWED: &str = "empty, yes, true, on, 1, no, false, off, 0";
    let any = |words: &[&str]| words.iter().any(|w| value.eq_ignore_ascii_case(w));
    if any(&["", "yes", "true", "on", "1"]) {
        Ok(true)
    } else if any(&["no", "false", "off", "0"]) {
        Ok(false)
    } else {
        Err(bad(value, ALLOWED))
    }
}

pub(super) fn family_of(addr: &IpAddr) -> Family {
    match addr {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

pub(super) fn ip(value: &str) -> Result<IpAddr, ErrorKind> {
    value.parse().map_err(|_| {
        bad(
            value,
            "an IPv4 or IPv6 address, e.g. 192.0.2.1 or 2001:db8::1",
        )
    })
}

/// A Linux interface name: 1 to 15 bytes, no `/`, no blanks, not `.` or `..`.
pub(super) fn interface_name(value: &str) -> Result<String, ErrorKind> {
    const ALLOWED: &str = "an interface name of 1 to 15 characters without '/' or blanks";
    let ok = !value.is_empty()
        && value.len() <= 15
        && value != "."
        && value != ".."
        && !value
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad(value, ALLOWED))
    }
}

/// The longest prefix of `addr`'s family, and that range as shown to the user.
pub(super) fn prefix_range(addr: IpAddr) -> (u8, &'static str) {
    match addr {
        IpAddr::V4(_) => (32, "prefix 0..=32 for IPv4"),
        IpAddr::V6(_) => (128, "prefix 0..=128 for IPv6"),
    }
}

const VIP_FORM: &str =
    "ADDRESS[/PREFIX] [dev IFNAME] [label LABEL] [brd ADDRESS|+|-] [scope global|site|link|host|N]";

/// `192.0.2.1/24 dev eth1 label eth1:vip`. `default_dev` is the instance's interface, used to
/// check the label.
pub(super) fn vip(value: &str, default_dev: Option<&str>) -> Result<Vip, ErrorKind> {
    let mut words = value.split_whitespace();
    let Some(addr_text) = words.next() else {
        return Err(bad(value, VIP_FORM));
    };
    let (addr_part, prefix_part) = match addr_text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (addr_text, None),
    };
    let addr: IpAddr = addr_part.parse().map_err(|_| bad(value, VIP_FORM))?;
    let (max, allowed) = prefix_range(addr);
    let prefix_len = match prefix_part {
        None => max,
        Some(p) => u8_in(p, 0, max, allowed)?,
    };
    let mut vip = Vip {
        addr,
        prefix_len,
        dev: None,
        label: None,
        brd: None,
        scope: 0,
    };
    while let Some(word) = words.next() {
        let Some(arg) = words.next() else {
            return Err(bad(value, VIP_FORM));
        };
        match word {
            "dev" if vip.dev.is_none() => vip.dev = Some(interface_name(arg)?),
            "label" if vip.label.is_none() => vip.label = Some(arg.to_string()),
            "brd" | "broadcast" if vip.brd.is_none() => {
                vip.brd = Some(super::routes::broadcast(arg, addr, prefix_len)?)
            }
            "scope" if addr.is_ipv4() => vip.scope = super::routes::scope(arg)?,
            "scope" => return Err(bad(value, "scope on IPv4 addresses only")),
            _ => return Err(bad(value, VIP_FORM)),
        }
    }
    if let Some(label) = &vip.label {
        if addr.is_ipv6() {
            return Err(bad(
                value,
                "labels only on IPv4 addresses (Linux has no IPv6 labels)",
            ));
        }
        let dev = vip.dev.as_deref().or(default_dev).unwrap_or("");
        let prefixed = label.len() <= 15 && label.starts_with(dev) && label != dev;
        if !prefixed {
            return Err(bad(
                value,
                "a label of at most 15 characters starting with the device name, e.g. eth0:vip",
            ));
        }
    }
    Ok(vip)
}

/// `NAME` or `NAME weight W` with W in `min..=max`.
pub(super) fn named_weight(
    value: &str,
    min: i32,
    max: i32,
    form: &'static str,
    allowed: &'static str,
) -> Result<(String, Option<i32>), ErrorKind> {
    // SplitWhitespace is fused: after the last word, `next` stays `None`.
    let mut words = value.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(name), None, _, _) => Ok((name.to_string(), None)),
        (Some(name), Some("weight"), Some(w), None) => {
            Ok((name.to_string(), Some(i32_in(w, min, max, allowed)?)))
        }
        _ => Err(bad(value, form)),
    }
}

/// What a command line that can run somewhere means on this machine.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CommandNote {
    Found,
    /// A bare name found by a PATH search.
    FoundInPath {
        word: String,
        path: String,
    },
    /// Missing or not executable here (it may be there on the target).
    Unusable(ErrorKind),
}

/// Checks a command line as the daemon will run it (see `spawn::Program`): `Err` when it can
/// run nowhere (bad quoting, a relative path).
pub(super) fn check_command(command: &str) -> Result<CommandNote, ErrorKind> {
    match Program::parse(command) {
        Ok(p) => Ok(match p.file() {
            (path, Some(word)) => CommandNote::FoundInPath {
                word: word.to_string(),
                path: path.to_string(),
            },
            _ => CommandNote::Found,
        }),
        Err(CommandError::Syntax(detail)) => Err(ErrorKind::BadCommand { detail }),
        Err(CommandError::Relative(path)) => Err(ErrorKind::ScriptNotAbsolute { path }),
        Err(CommandError::NotFound(path)) => {
            Ok(CommandNote::Unusable(ErrorKind::ScriptNotFound { path }))
        }
        Err(CommandError::NotExecutable(path)) => {
            Ok(CommandNote::Unusable(ErrorKind::ScriptNotExecutable {
                path,
            }))
        }
    }
}

/// The first argument that looks like shell syntax (`||`, `>`, `$(`, ...): keepalived runs no
/// shell, so it reaches the program as a plain argument.
pub(super) fn shell_word(command: &str) -> Option<String> {
    let words = crate::spawn::split_words(command).ok()?;
    words.into_iter().skip(1).find(|w| {
        w.bytes()
            .all(|c| matches!(c, b'|' | b'&' | b';' | b'<' | b'>'))
            || [">", "2>", "$(", "`"].iter().any(|p| w.starts_with(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centiseconds_accepts_up_to_two_decimals() {
        assert_eq!(centiseconds("1"), Some(100));
        assert_eq!(centiseconds("0.1"), Some(10));
        assert_eq!(centiseconds("0.05"), Some(5));
        assert_eq!(centiseconds("40.95"), Some(4095));
        assert_eq!(centiseconds("0.001"), None);
        assert_eq!(centiseconds(".5"), None);
        assert_eq!(centiseconds("1."), Some(100));
        assert_eq!(centiseconds("-1"), None);
        assert_eq!(centiseconds("1e3"), None);
        assert_eq!(centiseconds("99999999999"), None);
    }

    #[test]
    fn vip_forms() {
        let v = vip("192.0.2.2/24 dev eth1 label eth1:vip", Some("eth0")).unwrap();
        assert_eq!(v.prefix_len, 24);
        assert_eq!(v.dev.as_deref(), Some("eth1"));
        assert_eq!(v.label.as_deref(), Some("eth1:vip"));
        assert_eq!(vip("2001:db8::1", None).unwrap().prefix_len, 128);
        assert!(vip("192.0.2.1 label eth1:x", Some("eth0")).is_err());
        // brd is an option now (config::routes tests); a second one, or an unknown word, is not.
        assert!(vip("192.0.2.1/24 brd + brd -", None).is_err());
        assert!(vip("192.0.2.1 peer 192.0.2.2", None).is_err());
        assert!(vip("192.0.2.1 dev", None).is_err());
        assert!(matches!(
            vip("192.0.2.1/33", None),
            Err(ErrorKind::OutOfRange { .. })
        ));
        assert!(matches!(
            vip("2001:db8::1/129", None),
            Err(ErrorKind::OutOfRange { .. })
        ));
        assert!(matches!(
            vip("192.0.2.300", None),
            Err(ErrorKind::BadValue { .. })
        ));
    }

    #[test]
    fn command_checks() {
        assert_eq!(check_command("/bin/true --x"), Ok(CommandNote::Found));
        assert!(matches!(
            check_command("true"),
            Ok(CommandNote::FoundInPath { word, path }) if word == "true" && path.ends_with("/true")
        ));
        assert!(matches!(
            check_command("bin/true"),
            Err(ErrorKind::ScriptNotAbsolute { .. })
        ));
        assert!(matches!(
            check_command("/bin/true 'open"),
            Err(ErrorKind::BadCommand { .. })
        ));
        assert!(matches!(
            check_command("/nonexistent/tinyvrrp-test"),
            Ok(CommandNote::Unusable(ErrorKind::ScriptNotFound { .. }))
        ));
        assert!(matches!(
            check_command("tinyvrrp-no-such-command-anywhere"),
            Ok(CommandNote::Unusable(ErrorKind::ScriptNotFound { .. }))
        ));
        assert!(matches!(
            check_command("/"),
            Ok(CommandNote::Unusable(ErrorKind::ScriptNotExecutable { .. }))
        ));
        // keepalived's file-readable test is not a program.
        assert_eq!(check_command("</etc/hostname"), Ok(CommandNote::Found));
    }
}
