//! Checks that need the running system: the host's own addresses, and (on a reload) the
//! configuration running now. The daemon refuses what they find; `--check` warns.

use std::net::IpAddr;
use std::path::Path;

use super::context::{all, Ctx};
use super::error::{ConfigError, ConfigErrors, ConfigWarning, ErrorKind, WarningKind};
use super::syntax::RawSection;
use super::{file, parse_with, values, InstanceConfig, Loaded};

/// An address an interface of the host holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAddr {
    pub dev: String,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

pub struct HostCheck<'a> {
    pub addrs: Vec<HostAddr>,
    /// The instances running now (a reload): their VIPs are the daemon's own.
    pub running: &'a [InstanceConfig],
    /// Errors (the daemon) or warnings (`--check`).
    pub refuse: bool,
}

/// What the daemon loads at start (`running` empty) and on SIGHUP: also refused are VIPs the
/// host already holds, and a reload to a configuration without instances unless none run.
pub fn load_for_daemon(path: &Path, running: &[InstanceConfig]) -> Result<Loaded, ConfigErrors> {
    let name = path.display().to_string();
    let text = file::read_config(path).map_err(|e| file::io_error(&name, &e))?;
    let host = HostCheck {
        addrs: host_addrs(),
        running,
        refuse: true,
    };
    let loaded = parse_with(&text, &name, Some(&host))?;
    if loaded.config.instances.is_empty() && !running.is_empty() {
        return Err(ConfigErrors(vec![ConfigError {
            file: name,
            line: 0,
            section: String::new(),
            key: String::new(),
            kind: ErrorKind::NoInstances,
        }]));
    }
    Ok(loaded)
}

/// `--check`: the file (`-` is stdin, capped as a file is), with what the daemon would refuse
/// on this host as warnings.
pub fn load_for_check(path: &Path) -> Result<Loaded, ConfigErrors> {
    let name = path.display().to_string();
    let text = if name == "-" {
        file::read_stdin_capped()
    } else {
        file::read_config(path)
    }
    .map_err(|e| file::io_error(&name, &e))?;
    let host = HostCheck {
        addrs: host_addrs(),
        running: &[],
        refuse: false,
    };
    let mut loaded = parse_with(&text, &name, Some(&host))?;
    if loaded.config.instances.is_empty() {
        loaded.warnings.push(ConfigWarning {
            file: name,
            line: 0,
            section: String::new(),
            key: String::new(),
            message: WarningKind::DaemonRefuses {
                detail: ErrorKind::NoInstances,
            },
        });
    }
    Ok(loaded)
}

/// A VIP (or excluded VIP) the host already holds other than as the daemon would have added
/// it. keepalived's rule for what is the daemon's: the address with the configured prefix on
/// the configured interface (or the instance's VMAC), e.g. left by a crash; on a reload, also
/// any address of a running instance.
pub(super) fn check_host_vips(
    ctx: &mut Ctx,
    host: &HostCheck,
    instances: &[InstanceConfig],
    sections: &[(&str, &RawSection)],
) {
    for (inst, (_, sec)) in instances.iter().zip(sections) {
        let vmac = inst
            .use_vmac
            .then(|| crate::vmac::ifname_for(inst.vrid, inst.family, inst.vmac_name.as_deref()))
            .and_then(Result::ok);
        for vip in inst.vips.iter().chain(&inst.vips_excluded) {
            let dev = vip.dev.as_deref().unwrap_or(&inst.interface);
            let ours = |h: &HostAddr| {
                h.prefix_len == vip.prefix_len
                    && (h.dev == dev || vmac.as_ref().is_some_and(|v| v.as_str() == h.dev))
            };
            let Some(held) = host.addrs.iter().find(|h| h.addr == vip.addr && !ours(h)) else {
                continue;
            };
            let running = host
                .running
                .iter()
                .flat_map(|r| r.vips.iter().chain(&r.vips_excluded));
            if running.clone().any(|v| v.addr == vip.addr) {
                continue;
            }
            let kind = ErrorKind::HostAddress {
                dev: held.dev.clone(),
                prefix_len: held.prefix_len,
            };
            report(ctx, host.refuse, sec, vip.addr, kind);
        }
    }
}

fn report(ctx: &mut Ctx, refuse: bool, sec: &RawSection, addr: IpAddr, kind: ErrorKind) {
    let entry = ["virtual_ipaddress", "virtual_ipaddress_excluded"]
        .into_iter()
        .flat_map(|key| all(sec, key))
        .find(|e| values::vip(&e.value, None).is_ok_and(|v| v.addr == addr));
    let (line, key) = entry.map_or((sec.line, ""), |e| (e.line, e.key.as_str()));
    let key = key.to_string();
    if refuse {
        ctx.error(sec, line, &key, kind);
    } else {
        ctx.warn(sec, line, &key, WarningKind::DaemonRefuses { detail: kind });
    }
}

/// The host's addresses, from an rtnetlink dump through the daemon's own bounded parser;
/// none if it fails. IPv4 addresses carry their label (`eth0:1`), as getifaddrs names them;
/// the others are named by `if_indextoname`. Neither musl's getifaddrs nor a link dump is used:
/// qemu-user mistranslates both for big-endian guests (getifaddrs spun forever in the MIPS
/// smoke test; qemu leaves a link message's last, empty attribute in host byte order), and
/// the cross tests run there.
pub fn host_addrs() -> Vec<HostAddr> {
    let mut out = Vec::new();
    let Ok(mut nl) = crate::netlink::Netlink::open() else {
        return out;
    };
    let dump = nl.addresses(|a| {
        let dev = match &a.label {
            Some(label) => label.as_str().to_string(),
            None => interface_name(a.index).unwrap_or_default(),
        };
        out.push(HostAddr {
            dev,
            addr: a.addr,
            prefix_len: a.prefix_len,
        });
    });
    if dump.is_err() {
        out.clear();
    }
    out
}

/// The name of interface `index` (SIOCGIFNAME), if there is one.
fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires; on success it is
    // NUL-terminated.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname succeeded, so `buf` is a NUL-terminated C string.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}
