//! The typed configuration: what the rest of the daemon reads. Plain data, validated.

use std::net::{IpAddr, Ipv4Addr};

use crate::packet::{Family, Version};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub global: GlobalDefs,
    pub scripts: Vec<VrrpScript>,
    pub track_files: Vec<VrrpTrackFile>,
    pub track_processes: Vec<VrrpTrackProcess>,
    pub instances: Vec<InstanceConfig>,
    pub sync_groups: Vec<SyncGroup>,
}

/// `[global_defs]`. The `vrrp_garp_*` values are the defaults of the instances' `garp_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    /// keepalived's interface for addresses that name none; here also the `interface` of
    /// instances that name none.
    pub default_interface: Option<String>,
    pub script_user: Option<String>,
    pub enable_script_security: bool,
    /// Default `version` of instances; VRRPv2 when unset, as keepalived.
    pub vrrp_version: Option<Version>,
    pub vrrp_garp_master_delay_s: u32,
    pub vrrp_garp_master_repeat: u32,
    pub vrrp_garp_master_refresh_s: u32,
    pub vrrp_garp_master_refresh_repeat: u32,
    /// keepalived's `vrrp_startup_delay`: the instances start this long after the daemon.
    pub vrrp_startup_delay_cs: u32,
    /// `allowed_sources`: adverts from other sources are dropped, for every instance that
    /// has no list of its own (either family; each instance uses its own family's).
    pub allowed_sources: Vec<IpAddr>,
    /// `stop_handover` (default yes): on SIGTERM a master keeps its VIPs until the new master
    /// is heard; no: it drops them with its priority-0 advert, as keepalived does.
    pub stop_handover: bool,
    /// keepalived's `notify_fifo` and `vrrp_notify_fifo`: both get every VRRP state line.
    pub notify_fifo: Option<NotifyFifo>,
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    /// `metrics_listen`: where the Prometheus endpoint listens (off when unset).
    #[cfg(feature = "metrics")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// A FIFO the daemon writes `INSTANCE "VI_1" MASTER 150` lines to, as keepalived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyFifo {
    pub path: String,
    /// Owner and group given to the FIFO when the daemon creates it.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Started at start-up with the FIFO's path as its last argument; stopped at exit.
    pub script: Option<String>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            default_interface: None,
            script_user: None,
            enable_script_security: false,
            vrrp_version: None,
            vrrp_garp_master_delay_s: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh_s: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_startup_delay_cs: 0,
            allowed_sources: Vec::new(),
            stop_handover: true,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            #[cfg(feature = "metrics")]
            metrics_listen: None,
        }
    }
}

/// `[vrrp_script NAME]`: a health check whose result moves the priority of instances that
/// track it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    /// The command line as written (see `spawn::Program` for how it runs).
    pub script: String,
    pub interval_s: u32,
    pub timeout_s: u32,
    /// Added to the priority on success if positive, subtracted on failure if negative; 0
    /// means "go to FAULT on failure".
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<String>,
}

/// `[vrrp_track_file NAME]`: a file holding a number, multiplied by `weight` and added to
/// the priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpTrackFile {
    pub name: String,
    pub file: String,
    pub weight: i32,
}

/// `[vrrp_track_process NAME]` (keepalived's): good while at least `quorum` and at most
/// `quorum_max` matching processes run. `weight` as for scripts (0 = FAULT while not good).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpTrackProcess {
    pub name: String,
    pub matcher: ProcessMatch,
    pub weight: i32,
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    /// How long a gained quorum must last before it counts (keepalived's fork_delay).
    pub fork_delay_cs: u32,
    /// How long a lost quorum must last before it counts (keepalived's terminate_delay).
    pub terminate_delay_cs: u32,
}

/// Which processes a `vrrp_track_process` counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessMatch {
    /// Compared with /proc/PID/comm (the kernel keeps its first 15 bytes), or with argv[0]
    /// when `full_command` is set or parameters are matched.
    pub process: String,
    /// The parameters that must follow argv[0]; `None` = not compared.
    pub params: Option<Vec<String>>,
    pub param_match: ParamMatch,
    pub full_command: bool,
}

/// keepalived's `param_match`: all parameters exactly, only the first n given, or the first
/// n with the last one a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamMatch {
    Exact,
    Partial,
    Initial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InitialState {
    Master,
    Backup,
}

/// One virtual address: `192.0.2.1/24 dev eth1 label eth1:vip`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// Interface to put the address on; the instance's interface when `None`.
    pub dev: Option<String>,
    pub label: Option<String>,
    /// `brd ADDR` (IPv4 only; `+` and `-` are resolved to the address at parse time).
    pub brd: Option<Ipv4Addr>,
    /// `scope`: RT_SCOPE_* of the address (0 global, 200 site, 253 link, 254 host); IPv4 only.
    pub scope: u8,
}

/// What a `virtual_routes` entry is (rtm_type): RTN_UNICAST, or a route that drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteType {
    Unicast = 1,
    Blackhole = 6,
    Unreachable = 7,
    Prohibit = 8,
}

/// `virtual_routes = [src ADDR] [to] [TYPE] PREFIX [via ADDR] [dev IF] [table N] [metric N]
/// [scope S] [protocol N] [onlink]`, keepalived's route line. Added while master.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VirtualRoute {
    pub dst: IpAddr,
    pub dst_len: u8,
    /// `src`: the preferred source address (RTA_PREFSRC).
    pub src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    /// No default: like keepalived, the kernel picks the device from the gateway.
    pub dev: Option<String>,
    /// 254 (main) unless `table` is given.
    pub table: u32,
    pub metric: Option<u32>,
    /// RT_SCOPE_*; `None` = universe on add (keepalived's default), any on delete.
    pub scope: Option<u8>,
    /// rtm_protocol; 18 ("keepalived" in iproute2's names) unless `protocol` is given.
    pub protocol: u8,
    pub kind: RouteType,
    pub onlink: bool,
}

/// What a matching `virtual_rules` entry does (fib_rule_hdr action).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// FR_ACT_TO_TBL: look up this table.
    Table(u32),
    Blackhole,
    Unreachable,
    Prohibit,
}

/// `virtual_rules = [from PREFIX] [to PREFIX] table N [priority N] [iif IF] [oif IF]
/// [fwmark N[/M]] [not]`, keepalived's rule line. Added while master.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VirtualRule {
    pub family: crate::packet::Family,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub action: RuleAction,
    /// Given, or assigned from 16384 downwards per family as keepalived does (with a warning).
    pub priority: u32,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<(u32, Option<u32>)>,
    pub invert: bool,
}

/// `track_script`, `track_file` or `track_process = NAME [weight W]`: names a section of
/// that kind; `weight` overrides the section's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<i32>,
}

/// `track_interface = eth1 [weight W]`: without weight (or 0), the instance goes to FAULT
/// while the interface is down.
pub type TrackInterface = TrackRef;
pub type TrackScriptRef = TrackRef;
pub type TrackFileRef = TrackRef;

/// `[vrrp_instance NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    pub name: String,
    pub interface: String,
    pub initial_state: InitialState,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (VRRPv2: a multiple of 100).
    pub advert_int_cs: u16,
    pub version: Version,
    /// The family of the virtual addresses (all the same).
    pub family: Family,
    /// False only when `nopreempt` is set and took effect (see the warnings).
    pub preempt: bool,
    pub preempt_delay_cs: u32,
    /// Empty only with a warning (VRRPv2 adverts without addresses, as keepalived sends).
    pub vips: Vec<Vip>,
    /// `virtual_ipaddress_excluded`: follow mastership like `vips` but are not advertised;
    /// either family (as keepalived).
    pub vips_excluded: Vec<Vip>,
    pub virtual_routes: Vec<VirtualRoute>,
    pub virtual_rules: Vec<VirtualRule>,
    /// The advert source: `unicast_src_ip` or `mcast_src_ip` (one setting in keepalived,
    /// whatever the transport). It must be on the interface, else FAULT.
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// `allowed_sources` of the instance, else the global ones of its family; empty: any.
    pub allowed_sources: Vec<IpAddr>,
    pub unicast_ttl: Option<u8>,
    /// VRRPv2 simple password, zero-padded to 8 bytes.
    pub auth: Option<[u8; 8]>,
    pub garp_master_delay_s: u32,
    pub garp_master_repeat: u32,
    pub garp_master_refresh_s: u32,
    pub garp_master_refresh_repeat: u32,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScriptRef>,
    pub track_files: Vec<TrackFileRef>,
    pub track_processes: Vec<TrackRef>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    /// VRRPv3 over IPv4: checksum without the pseudo-header (RFC 9568, Cisco, Juniper).
    pub v3_checksum_as_v2: bool,
    pub use_vmac: bool,
    /// `use_vmac = NAME`: the macvlan's name instead of `vrrp.VRID` / `vrrp6.VRID`.
    pub vmac_name: Option<String>,
    /// keepalived's `vmac_xmit_base`: IPv4 adverts leave from the parent interface (its MAC)
    /// instead of the VMAC; the VIPs stay on the VMAC. Only set with `use_vmac`.
    pub vmac_xmit_base: bool,
    /// keepalived's `dont_track_primary`: the instance's own interface going down does not
    /// put it in FAULT (a missing interface or source address still does).
    pub dont_track_primary: bool,
}

/// `[vrrp_sync_group NAME]`: instances that change state together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    pub instances: Vec<String>,
    /// Tracking given on the group: merged into every member's own lists when the file is
    /// read (keepalived's rule), kept here as written.
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScriptRef>,
    pub track_files: Vec<TrackFileRef>,
    pub track_processes: Vec<TrackRef>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
}
