//! track_process reads what other processes and the kernel write: /proc/PID/stat (a process
//! names itself, `)` and spaces included), /proc/PID/cmdline, and the proc connector's
//! messages. Each input is used three ways, each compared with a plain reading of the format:
//! - as a stat line: the name is what lies between the first `(` and the last `)`, the state
//!   the byte after the following space;
//! - as a connector message: an event names the pids at their documented offsets;
//! - as a matcher and a process: the match result is keepalived's rule (name against the
//!   first 15 bytes of comm; with parameters, argv[0] and then exact / partial / initial).
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyvrrp::config::{ParamMatch, ProcessMatch};
use tinyvrrp::track::{parse_proc_event, parse_stat, process_matches, Proc, ProcEvent};

fuzz_target!(|data: &[u8]| {
    check_stat(data);
    check_proc_event(data);
    let _ = check_matches(&mut Unstructured::new(data));
});

fn check_stat(data: &[u8]) {
    let open = data.iter().position(|&b| b == b'(');
    let close = data.iter().rposition(|&b| b == b')');
    let expected = match (open, close) {
        (Some(o), Some(c)) if c > o => data.get(c + 2).map(|&s| (&data[o + 1..c], s)),
        _ => None,
    };
    assert_eq!(parse_stat(data), expected);
}

fn word(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 4)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// nlmsghdr (16) + cn_msg (20): `what` at 36, the event's words from 52.
fn check_proc_event(data: &[u8]) {
    let Some(ev) = parse_proc_event(data) else {
        return;
    };
    assert_eq!((word(data, 16), word(data, 20)), (Some(1), Some(1)));
    let what = word(data, 36).unwrap();
    let w = |i: usize| word(data, 52 + 4 * i).unwrap();
    match ev {
        ProcEvent::Fork { parent, child } => {
            assert_eq!(what, 1);
            assert_eq!((parent, child, child), (w(1), w(2), w(3)));
        }
        ProcEvent::Changed { pid } => {
            assert!(what == 2 || what == 0x200);
            assert_eq!((pid, pid), (w(0), w(1)));
        }
        ProcEvent::Exit { pid } => {
            assert_eq!(what, 0x8000_0000);
            assert_eq!((pid, pid), (w(0), w(1)));
        }
    }
}

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let len = u.int_in_range(0..=20)?;
    Ok(String::from_utf8_lossy(u.bytes(len)?).into_owned())
}

fn check_matches(u: &mut Unstructured<'_>) -> Result<()> {
    let params = if u.arbitrary()? {
        let n = u.int_in_range(0..=3)?;
        Some((0..n).map(|_| text(u)).collect::<Result<Vec<_>>>()?)
    } else {
        None
    };
    let m = ProcessMatch {
        process: text(u)?,
        params,
        param_match: *u.choose(&[ParamMatch::Exact, ParamMatch::Partial, ParamMatch::Initial])?,
        full_command: u.arbitrary()?,
    };
    let comm_len = u.int_in_range(0..=16)?;
    let comm = u.bytes(comm_len)?;
    let cmdline = if u.arbitrary()? {
        Some(u.bytes(u.len())?)
    } else {
        None
    };
    let p = Proc { comm, cmdline };
    assert_eq!(
        process_matches(&m, &p),
        reference(&m, &p),
        "{m:?} {comm:?} {cmdline:?}"
    );
    Ok(())
}

fn reference(m: &ProcessMatch, p: &Proc<'_>) -> bool {
    let name = m.process.as_bytes();
    if !m.full_command && m.params.is_none() {
        return p.comm == &name[..name.len().min(15)];
    }
    let Some(cmd) = p.cmdline else {
        return false;
    };
    let cmd = cmd.strip_suffix(&[0]).unwrap_or(cmd);
    if cmd.is_empty() {
        return false;
    }
    let argv: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
    if argv[0] != name {
        return false;
    }
    let Some(params) = &m.params else {
        return true;
    };
    let rest = &argv[1..];
    if rest.len() < params.len() {
        return false;
    }
    let eq = |i: usize| rest[i] == params[i].as_bytes();
    match (m.param_match, params.len()) {
        (ParamMatch::Exact, n) => rest.len() == n && (0..n).all(eq),
        (ParamMatch::Partial, n) => (0..n).all(eq),
        (ParamMatch::Initial, 0) => true,
        (ParamMatch::Initial, n) => {
            (0..n - 1).all(eq) && rest[n - 1].starts_with(params[n - 1].as_bytes())
        }
    }
}
