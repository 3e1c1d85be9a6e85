//! What the importer says about the keepalived keywords it does not carry over.

/// Why a keyword is dropped; each names what keepalived does and what tinyvrrp does instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cat {
    Mail,
    Lvs,
    Snmp,
    Static,
    Bfd,
    NoEffect,
    AdvCheck,
    UnicastSrc,
    Strict,
    Firewall,
    McastGroup,
    Garp,
    Vmac,
    Preempt,
    InitState,
    NoVips,
    GroupWeights,
    Ignored,
}

impl Cat {
    /// (changes VRRP behaviour, message)
    pub fn says(self) -> (bool, &'static str) {
        match self {
            Cat::Mail => (false, "keepalived sends mail on state changes; tinyvrrp sends none (a notify script can): dropped"),
            Cat::Lvs => (false, "keepalived uses it for IPVS load balancing; tinyvrrp does no load balancing: skipped"),
            Cat::Snmp => (false, "keepalived reports over SNMP or D-Bus; tinyvrrp reports on its status socket (`tinyvrrp status`): dropped"),
            Cat::Static => (false, "keepalived sets these at start-up whatever the VRRP state; tinyvrrp does not (configure them in the system's network setup): skipped"),
            Cat::Bfd => (false, "keepalived runs BFD sessions; tinyvrrp has no BFD: skipped"),
            Cat::NoEffect => (false, "a keepalived setting for its own process, logging or interfaces, with no VRRP effect in tinyvrrp: dropped"),
            Cat::AdvCheck => (false, "keepalived then accepts adverts whose address list differs from its own; tinyvrrp never compares the lists: dropped"),
            Cat::UnicastSrc => (false, "keepalived then drops unicast adverts from addresses that are not peers; tinyvrrp always does: dropped"),
            Cat::InitState => (true, "keepalived starts this check in the failed state; tinyvrrp starts it as up: dropped"),
            Cat::NoVips => (false, "keepalived then runs the instance without VIPs without a warning; tinyvrrp does so with one: dropped"),
            Cat::GroupWeights => (false, "keepalived then lets tracked weights move the members' priorities, as tinyvrrp always does: dropped"),
            Cat::Ignored => (false, "keepalived does not know this keyword here and ignores it with a log line: dropped"),
            Cat::Preempt => (false, "keepalived preempts by default, as tinyvrrp does: dropped"),
            Cat::Strict => (true, "keepalived's strict mode refuses unicast and authentication and blocks traffic to the VIPs with firewall rules; tinyvrrp does none of that: dropped"),
            Cat::Firewall => (true, "keepalived adds firewall rules for the VIPs; tinyvrrp adds none: dropped"),
            Cat::McastGroup => (true, "keepalived sends adverts to this multicast group; tinyvrrp uses the standard one (224.0.0.18, ff02::12): dropped"),
            Cat::Garp => (true, "keepalived changes when gratuitous ARPs / NAs are sent; tinyvrrp keeps its own timing: dropped"),
            Cat::Vmac => (true, "a keepalived variant of the virtual MAC setup; tinyvrrp has only `use_vmac`: dropped"),
        }
    }
}

/// Keywords with a known fate, in any section.
pub(super) const NOTES: &[(&str, Cat)] = &[
    ("notification_email", Cat::Mail),
    ("notification_email_from", Cat::Mail),
    ("smtp_server", Cat::Mail),
    ("smtp_helo_name", Cat::Mail),
    ("smtp_connect_timeout", Cat::Mail),
    ("smtp_alert", Cat::Mail),
    ("smtp_alert_vrrp", Cat::Mail),
    ("smtp_alert_checker", Cat::Mail),
    ("email_faults", Cat::Mail),
    ("virtual_server", Cat::Lvs),
    ("virtual_server_group", Cat::Lvs),
    ("lvs_id", Cat::Lvs),
    ("lvs_sync_daemon", Cat::Lvs),
    ("lvs_sync_daemon_interface", Cat::Lvs),
    ("lvs_timeouts", Cat::Lvs),
    ("lvs_flush", Cat::Lvs),
    ("lvs_flush_onstop", Cat::Lvs),
    ("checker_process_name", Cat::Lvs),
    ("enable_traps", Cat::Snmp),
    ("enable_snmp_vrrp", Cat::Snmp),
    ("enable_snmp_keepalived", Cat::Snmp),
    ("enable_snmp_checker", Cat::Snmp),
    ("enable_snmp_rfc", Cat::Snmp),
    ("enable_snmp_rfcv2", Cat::Snmp),
    ("enable_snmp_rfcv3", Cat::Snmp),
    ("snmp_socket", Cat::Snmp),
    ("enable_dbus", Cat::Snmp),
    ("static_ipaddress", Cat::Static),
    ("static_routes", Cat::Static),
    ("static_rules", Cat::Static),
    ("bfd_instance", Cat::Bfd),
    ("debug", Cat::NoEffect),
    ("dynamic_interfaces", Cat::NoEffect),
    ("vrrp_skip_check_adv_addr", Cat::AdvCheck),
    ("skip_check_adv_addr", Cat::AdvCheck),
    ("vrrp_check_unicast_src", Cat::UnicastSrc),
    ("check_unicast_src", Cat::UnicastSrc),
    ("max_auto_priority", Cat::NoEffect),
    ("vrrp_no_swap", Cat::NoEffect),
    ("vrrp_rt_priority", Cat::NoEffect),
    ("vrrp_priority", Cat::NoEffect),
    ("vrrp_process_name", Cat::NoEffect),
    ("process_names", Cat::NoEffect),
    ("linkbeat_use_polling", Cat::NoEffect),
    ("kernel_rx_buf_size", Cat::NoEffect),
    ("vrrp_netlink_cmd_rcv_bufs", Cat::NoEffect),
    ("vrrp_cpu_affinity", Cat::NoEffect),
    ("vrrp_rlimit_rttime", Cat::NoEffect),
    ("vrrp_rx_bufs_policy", Cat::NoEffect),
    ("vrrp_rx_bufs_multiplier", Cat::NoEffect),
    ("vrrp_socket_priority", Cat::NoEffect),
    ("vrrp_netlink_monitor_rcv_bufs", Cat::NoEffect),
    ("preempt", Cat::Preempt),
    ("init_fail", Cat::InitState),
    ("init_file", Cat::InitState),
    ("no_virtual_ipaddress", Cat::NoVips),
    ("global_tracking", Cat::GroupWeights),
    ("sync_group_tracking_weight", Cat::GroupWeights),
    ("vrrp_strict", Cat::Strict),
    ("strict_mode", Cat::Strict),
    ("vrrp_iptables", Cat::Firewall),
    ("vrrp_ipsets", Cat::Firewall),
    ("nftables", Cat::Firewall),
    ("vrrp_mcast_group4", Cat::McastGroup),
    ("vrrp_mcast_group6", Cat::McastGroup),
    ("vrrp_garp_interval", Cat::Garp),
    ("vrrp_gna_interval", Cat::Garp),
    ("vrrp_garp_lower_prio_delay", Cat::Garp),
    ("vrrp_garp_lower_prio_repeat", Cat::Garp),
    ("vrrp_min_garp", Cat::Garp),
    ("garp_lower_prio_delay", Cat::Garp),
    ("garp_lower_prio_repeat", Cat::Garp),
    ("use_vmac_addr", Cat::Vmac),
    ("use_ipvlan", Cat::Vmac),
];

/// Settings given their keepalived default, which change nothing.
pub(super) const DEFAULTS: &[(&str, &str)] =
    &[("vrrp_garp_interval", "0"), ("vrrp_gna_interval", "0")];

/// Families of keywords of keepalived's other processes (IPVS checker, BFD) and reporting.
const PREFIXES: &[(&str, Cat)] = &[
    ("lvs_", Cat::Lvs),
    ("checker_", Cat::Lvs),
    ("smtp_", Cat::Mail),
    ("notification_email", Cat::Mail),
    ("enable_snmp", Cat::Snmp),
    ("snmp_", Cat::Snmp),
    ("enable_dbus", Cat::Snmp),
    ("bfd_", Cat::Bfd),
];

pub(super) fn note(keyword: &str) -> Option<Cat> {
    let exact = NOTES.iter().find(|(k, _)| *k == keyword);
    let prefix = || PREFIXES.iter().find(|(p, _)| keyword.starts_with(p));
    exact.or_else(prefix).map(|(_, c)| *c)
}

pub(super) fn is_default(keyword: &str, args: &[String]) -> bool {
    DEFAULTS
        .iter()
        .any(|(k, v)| *k == keyword && args.len() == 1 && args[0] == *v)
}
