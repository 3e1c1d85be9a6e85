//! keepalived's own keywords per section (from keepalived's vrrp_parser.c and
//! global_parser.c), so that an unknown key can say "keepalived's X is not supported", and
//! the keepalived keys with no effect on VRRP, accepted with a warning. Space-separated
//! strings: a few bytes each, no table of pointers.

/// `[global_defs]` keys that change nothing for VRRP (mail, SNMP, D-Bus, LVS/IPVS, the checker
/// and BFD processes, dynamic_interfaces which only matters to keepalived's interface
/// tracking of deleted/re-created links, which tinyvrrp always follows).
pub(super) const GLOBAL_NO_EFFECT: &str = "notification_email notification_email_from \
    smtp_server smtp_helo_name smtp_connect_timeout smtp_alert smtp_alert_vrrp \
    smtp_alert_checker no_email_faults no_checker_emails checker_log_all_failures \
    enable_traps enable_snmp_vrrp enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 \
    enable_snmp_rfcv3 enable_snmp_checker snmp_socket snmp_vs_stats_update_interval \
    snmp_rs_stats_update_interval enable_dbus dbus_service_name dbus_no_interface_name \
    lvs_timeouts lvs_flush lvs_flush_on_stop lvs_flush_onstop lvs_sync_daemon \
    lvs_process_name lvs_notify_fifo lvs_notify_fifo_script lvs_netlink_cmd_rcv_bufs \
    lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs \
    lvs_netlink_monitor_rcv_bufs_force rs_init_notifies dynamic_interfaces \
    checker_process_name checker_priority checker_no_swap checker_rt_priority \
    checker_cpu_affinity checker_rlimit_rttime checker_rlimit_rtime bfd_process_name \
    bfd_priority bfd_no_swap bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime \
    bfd_rlimit_rtime";

/// Instance keys with no effect: mail alerts, keepalived's debug level, the IPVS sync daemon.
pub(super) const INSTANCE_NO_EFFECT: &str = "smtp_alert debug lvs_sync_daemon_interface";

pub(super) const SYNC_GROUP_NO_EFFECT: &str = "smtp_alert";

pub(super) const KEEPALIVED_GLOBAL: &str = "linkbeat_use_polling net_namespace \
    net_namespace_ipvs namespace_with_ipsets use_pid_dir instance child_wait_time \
    process_names process_name vrrp_process_name use_symlink_paths set_supplementary_groups \
    startup_script startup_script_timeout shutdown_script shutdown_script_timeout \
    max_auto_priority min_auto_priority_delay default_interface disable_local_igmp \
    v3_checksum_as_v2 vrrp_mcast_group4 vrrp_mcast_group6 vrrp_garp_lower_prio_delay \
    vrrp_garp_lower_prio_repeat vrrp_down_timer_adverts vrrp_garp_interval \
    vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_vmac_garp_intvl \
    vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_iptables vrrp_ipsets \
    nftables nftables_priority nftables_ifindex vrrp_check_unicast_src \
    vrrp_skip_check_adv_addr vrrp_strict vrrp_priority vrrp_no_swap vrrp_rt_priority \
    vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime nftables_ipvs \
    nftables_ipvs_priority nftables_ipvs_start_fwmark nftables_counters notify_fifo \
    notify_fifo_script vrrp_notify_fifo vrrp_notify_fifo_script \
    vrrp_notify_priority_changes fifo_write_vrrp_states_on_reload \
    vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force \
    vrrp_netlink_monitor_rcv_bufs vrrp_netlink_monitor_rcv_bufs_force \
    process_monitor_rcv_bufs process_monitor_rcv_bufs_force vrrp_rx_bufs_policy \
    vrrp_rx_bufs_multiplier vrrp_delay_after_boot log_unknown_vrids \
    vrrp_owner_ignore_adverts vmac_prefix vmac_addr_prefix umask random_seed \
    reload_check_config reload_time_file reload_repeat reload_file include_check \
    config_save_dir tmp_config_directory data_use_instance json_version iproute_usr_dir \
    iproute_etc_dir state_dump_file stats_dump_file json_dump_file";

pub(super) const KEEPALIVED_INSTANCE: &str = "use_vmac use_vmac_addr use_ipvlan \
    unicast_fault_no_peer check_unicast_src old_unicast_checksum native_ipv6 vrf \
    dont_track_primary track_bfd mcast_src_ip mcast_dst_ip track_src_ip \
    virtual_ipaddress_excluded no_virtual_ipaddress promote_secondaries \
    linkbeat_use_polling virtual_routes virtual_rules accept no_accept skip_check_adv_addr \
    strict_mode preempt notify_deleted notify_master_rx_lower_pri notify_priority_changes \
    garp_lower_prio_delay garp_lower_prio_repeat down_timer_adverts timer_expired_backup \
    thread_timer_expired garp_extra_if vmac_garp_intvl lower_prio_no_advert \
    higher_prio_send_advert owner_ignore_adverts kernel_rx_buf_size authentication \
    auth_hmac";

pub(super) const KEEPALIVED_SYNC_GROUP: &str = "track_interface track_script track_file \
    track_process track_bfd global_tracking sync_group_tracking_weight \
    notify_priority_changes";

pub(super) const KEEPALIVED_SCRIPT: &str = "init_fail";
pub(super) const KEEPALIVED_TRACK_FILE: &str = "init_file";
pub(super) const KEEPALIVED_TRACK_PROCESS: &str = "";

/// What a section accepts beyond its own keys: keepalived's keys that are ignored with a
/// warning, and keepalived's other keys (for the error message).
#[derive(Clone, Copy)]
pub(super) struct Foreign {
    pub no_effect: &'static str,
    pub keepalived: &'static str,
}

pub(super) fn listed(list: &str, key: &str) -> bool {
    list.split_ascii_whitespace().any(|k| k == key)
}

/// The allowed key closest to `key`, if at most two edits away (one for short keys).
pub(super) fn suggest(key: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
    let limit = if key.len() <= 4 { 1 } else { 2 };
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested() {
        const KEYS: &[&str] = &["priority", "nopreempt", "state", "interface"];
        assert_eq!(suggest("priorty", KEYS), Some("priority"));
        assert_eq!(suggest("nopremept", KEYS), Some("nopreempt"));
        assert_eq!(suggest("stat", KEYS), Some("state"));
        assert_eq!(suggest("weight", KEYS), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn lists_hold_whole_words_only() {
        assert!(listed(GLOBAL_NO_EFFECT, "smtp_server"));
        assert!(!listed(GLOBAL_NO_EFFECT, "smtp"));
        assert!(listed(KEEPALIVED_INSTANCE, "auth_hmac"));
        assert!(!listed(KEEPALIVED_TRACK_PROCESS, ""));
    }
}
