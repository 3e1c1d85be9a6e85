use std::collections::HashMap;

use super::*;

/// Files in memory; directories are listed from the paths.
struct MapLoader(HashMap<&'static str, &'static str>);

impl Loader for MapLoader {
    fn read(&self, path: &str) -> Result<String, String> {
        self.0
            .get(path)
            .map(|t| t.to_string())
            .ok_or("No such file".into())
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let prefix = format!("{dir}/");
        Ok(self
            .0
            .keys()
            .filter_map(|p| p.strip_prefix(prefix.as_str()))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }
}

fn run(text: &str) -> Outcome {
    import_text("k.conf", text, "node1", &NoFiles).expect("imports")
}

/// The INI without its comment header.
fn ini(text: &str) -> String {
    let out = run(text).ini;
    out.split_once('\n')
        .map_or(out.clone(), |(_, rest)| rest.to_string())
}

fn warnings(text: &str) -> Vec<String> {
    run(text).warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn comments_quotes_and_blocks() {
    let text = "! top\nvrrp_script chk { # c\n  script \"/bin/pidof x # y\"  ! c\n  interval 2#c\n weight\\#1\n}\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_script chk]\nscript = \"/bin/pidof x # y\"\ninterval = 2\n"
    );
    let w = warnings(text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("k.conf:5: weight#1: keepalived does not know this keyword here"),
        "{w:?}"
    );
}

#[test]
fn braces_on_the_next_line_and_one_line_blocks() {
    let text = "vrrp_instance VI_1\n{\n interface eth0\n virtual_ipaddress { 192.0.2.1/24 dev eth0 }\n\
                track_interface\n {\n  eth1 weight 10\n eth2 }\n}\nvrrp_sync_group G { group { VI_1 VI_2 } }\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_instance VI_1]\ninterface = eth0\nvirtual_ipaddress = 192.0.2.1/24 dev eth0\n\
         track_interface = eth1 weight 10\ntrack_interface = eth2\n\n\
         [vrrp_sync_group G]\ngroup = VI_1\ngroup = VI_2\n"
    );
    assert_eq!(run(text).exit_status(), 0);
}

#[test]
fn conditional_lines_follow_the_config_id() {
    let text =
        "global_defs {\n@node1 router_id one\n@node2 router_id two\n@^node1 script_user nobody\n\
                @^node3 vrrp_version 3\n@node1\n}\n";
    assert_eq!(
        ini(text),
        "\n[global_defs]\nrouter_id = one\nvrrp_version = 3\n"
    );
    let w = warnings(text);
    assert_eq!(w.len(), 1, "{w:?}");
    let said = "k.conf:3: @: keepalived skips the lines of other config ids; skipped here for config id \"node1\"";
    assert!(w[0].starts_with(said), "{w:?}");
}

#[test]
fn definitions_are_substituted() {
    let text = "$IF=eth0\n$PRIO = 150\nvrrp_instance VI_1 {\n interface $IF\n priority ${PRIO}\n notify $UNKNOWN\n}\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_instance VI_1]\ninterface = eth0\npriority = 150\nnotify = $UNKNOWN\n"
    );
}

#[test]
fn line_continuation_joins_lines() {
    let text = "vrrp_script s {\n script /bin/check \\\n   --fast\n interval 3\n}\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_script s]\nscript = /bin/check --fast\ninterval = 3\n"
    );
}

#[test]
fn includes_with_globs_relative_to_the_including_file() {
    let loader = MapLoader(HashMap::from([
        (
            "/etc/keepalived/keepalived.conf",
            "include conf.d/*.conf\ninclude /abs/one\nglobal_defs { router_id r }\n",
        ),
        (
            "/etc/keepalived/conf.d/b.conf",
            "vrrp_script b {\n script /bin/b\n}\n",
        ),
        (
            "/etc/keepalived/conf.d/a.conf",
            "include sub/x?.inc\nvrrp_script a {\n script /bin/a\n}\n",
        ),
        (
            "/etc/keepalived/conf.d/.hidden.conf",
            "vrrp_script h {\n}\n",
        ),
        ("/etc/keepalived/conf.d/c.txt", "vrrp_script c {\n}\n"),
        (
            "/etc/keepalived/conf.d/sub/x1.inc",
            "vrrp_script x1 {\n script /bin/x1\n}\n",
        ),
        ("/abs/one", "vrrp_script one {\n script \"/bin/one\"\n}\n"),
    ]));
    let out = import("/etc/keepalived/keepalived.conf", "n", &loader).expect("imports");
    let headers: Vec<&str> = out.ini.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        headers,
        [
            "[vrrp_script x1]",
            "[vrrp_script a]",
            "[vrrp_script b]",
            "[vrrp_script one]",
            "[global_defs]"
        ]
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[test]
fn unreadable_includes_and_loops_are_warnings() {
    let loader = MapLoader(HashMap::from([
        ("/k/main.conf", "include missing.conf\ninclude self.conf\n"),
        ("/k/self.conf", "include self.conf\n"),
    ]));
    let out = import("/k/main.conf", "n", &loader).expect("imports");
    let w: Vec<String> = out.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("/k/main.conf:1: include: "), "{w:?}");
    assert!(w[0].contains("/k/missing.conf"), "{w:?}");
    assert!(
        w[1].starts_with("/k/self.conf:1: include: includes nested too deep"),
        "{w:?}"
    );
    assert_eq!(out.exit_status(), 1);
    assert!(matches!(
        import("/k/none.conf", "n", &loader),
        Err(ImportError::Read { .. })
    ));
}

#[test]
fn glob_matching() {
    use super::glob::matches;
    for (pattern, name, want) in [
        ("*.conf", "a.conf", true),
        ("*.conf", "a.conf.bak", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("[a-c]x", "bx", true),
        ("[!a-c]x", "bx", false),
        ("[^a]x", "zx", true),
        ("[]]", "]", true),
        ("[ab", "[ab", true),
        ("*a*b*", "xxaxxbxx", true),
        ("*a*b", "xxaxxbxxc", false),
        ("\\*", "*", true),
        ("", "", true),
        ("*", "", true),
    ] {
        assert_eq!(matches(pattern, name), want, "{pattern} ~ {name}");
    }
}

#[test]
fn instance_keys_blocks_and_flags() {
    let text = "vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n\
        advert_int 1\n nopreempt\n preempt_delay 5\n unicast_src_ip 192.0.2.1/24\n\
        unicast_peer {\n  192.0.2.2/24\n  192.0.2.3 min_ttl 250\n }\n\
        authentication {\n  auth_type PASS\n  auth_pass \"se cret\"\n }\n\
        virtual_ipaddress {\n  192.0.2.10/24 brd 192.0.2.255 scope global label eth0:1\n  192.0.2.11 broadcast 192.0.2.255 no_track\n  192.0.2.10/32\n }\n\
        virtual_ipaddress_excluded {\n  192.0.2.20/24\n }\n\
        virtual_routes {\n  src 192.0.2.10 to 198.51.100.0/24 via 192.0.2.254 dev eth0\n }\n\
        virtual_rules {\n  from 192.0.2.10 table 100\n }\n\
        track_script {\n  chk weight 10\n }\n track_file {\n  f\n }\n track_process {\n  p\n }\n\
        notify_master \"/etc/k/notify.sh master\"\n notify /etc/k/n.sh \"a b\" c\n\
        dont_track_primary\n accept\n use_vmac vrrp51\n mcast_src_ip 192.0.2.1\n}\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_instance VI_1]\nstate = BACKUP\ninterface = eth0\nvirtual_router_id = 51\npriority = 100\n\
         advert_int = 1\nnopreempt =\npreempt_delay = 5\nunicast_src_ip = 192.0.2.1\n\
         unicast_peer = 192.0.2.2\nunicast_peer = 192.0.2.3\n\
         auth_type = PASS\nauth_pass = se cret\n\
         virtual_ipaddress = 192.0.2.10/24 brd 192.0.2.255 scope global label eth0:1\n\
         virtual_ipaddress = 192.0.2.11 brd 192.0.2.255\n\
         virtual_ipaddress_excluded = 192.0.2.20/24\n\
         virtual_routes = src 192.0.2.10 to 198.51.100.0/24 via 192.0.2.254 dev eth0\n\
         virtual_rules = from 192.0.2.10 table 100\n\
         track_script = chk weight 10\ntrack_file = f\ntrack_process = p\n\
         notify_master = /etc/k/notify.sh master\nnotify = /etc/k/n.sh \"a b\" c\n\
         dont_track_primary =\naccept =\nuse_vmac = vrrp51\nmcast_src_ip = 192.0.2.1\n"
    );
    let w = warnings(text);
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(
        w[2],
        "k.conf:21: 192.0.2.10/32: keepalived ignores a VIP given twice; dropped"
    );
    assert!(
        w[0].starts_with("k.conf:12: 192.0.2.3: keepalived checks the TTL"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("k.conf:20: no_track: keepalived's VIP option `no_track`"),
        "{w:?}"
    );
}

#[test]
fn global_script_track_sections() {
    let text = "global_defs {\n router_id r1\n script_user root\n enable_script_security\n vrrp_version 3\n\
        notify_fifo /run/k.fifo\n vrrp_notify_fifo_script /bin/f.sh\n vrrp_garp_master_delay 2\n}\n\
        vrrp_script s {\n script \"/bin/true\"\n interval 2\n timeout 3\n weight -5\n rise 2\n fall 3\n user nobody\n}\n\
        vrrp_track_file tf {\n file /run/tf\n weight 2\n}\ntrack_file tf2 {\n file /run/tf2\n}\n\
        vrrp_track_process tp {\n process dnsmasq --keep\n param_match partial\n full_command\n\
        quorum 1\n quorum_max 2\n delay 1.5\n fork_delay 1\n terminate_delay 2\n weight -10\n}\n\
        global_defs {\n vrrp_garp_master_repeat 3\n}\n";
    assert_eq!(
        ini(text),
        "\n[global_defs]\nrouter_id = r1\nscript_user = root\nenable_script_security =\nvrrp_version = 3\n\
         notify_fifo = /run/k.fifo\nvrrp_notify_fifo_script = /bin/f.sh\nvrrp_garp_master_delay = 2\n\
         vrrp_garp_master_repeat = 3\n\n\
         [vrrp_script s]\nscript = /bin/true\ninterval = 2\ntimeout = 3\nweight = -5\nrise = 2\nfall = 3\nuser = nobody\n\n\
         [vrrp_track_file tf]\nfile = /run/tf\nweight = 2\n\n[track_file tf2]\nfile = /run/tf2\n\n\
         [vrrp_track_process tp]\nprocess = dnsmasq --keep\nparam_match = partial\nfull_command =\n\
         quorum = 1\nquorum_max = 2\ndelay = 1.5\nfork_delay = 1\nterminate_delay = 2\nweight = -10\n"
    );
    assert!(warnings(text).is_empty());
}

#[test]
fn sync_group_keys() {
    let text =
        "vrrp_sync_group G {\n group {\n  A\n  B C\n }\n track_script {\n  chk weight -10\n }\n\
        notify_master /bin/m\n smtp_alert\n notify_priority_changes\n}\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_sync_group G]\ngroup = A\ngroup = B\ngroup = C\ntrack_script = chk weight -10\nnotify_master = /bin/m\n"
    );
    let out = run(text);
    assert_eq!(out.warnings.len(), 2);
    assert!(!out.warnings[0].effect);
    assert!(out.warnings[1]
        .to_string()
        .contains("`notify_priority_changes` in vrrp_sync_group is not supported"));
    assert_eq!(out.exit_status(), 1);
}

#[test]
fn things_without_vrrp_effect_are_dropped_with_exit_status_0() {
    let text = "global_defs {\n notification_email {\n  a@example.com\n }\n notification_email_from b@example.com\n\
        smtp_server 192.0.2.9\n smtp_connect_timeout 30\n enable_traps\n lvs_id x\n debug\n dynamic_interfaces\n\
        vrrp_garp_interval 0\n vrrp_gna_interval 0\n}\nstatic_ipaddress {\n 192.0.2.50/24 dev eth0\n}\n\
        virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n\
        vrrp_instance VI_1 {\n interface eth0\n smtp_alert\n preempt\n}\n";
    let out = run(text);
    let lines: Vec<usize> = out.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 18, 27, 28]);
    assert!(out.warnings.iter().all(|w| !w.effect), "{:?}", out.warnings);
    assert_eq!(out.exit_status(), 0);
    assert!(out.warnings[11]
        .to_string()
        .starts_with("k.conf:18: virtual_server: keepalived uses it for IPVS"));
}

#[test]
fn things_with_vrrp_effect_give_exit_status_1() {
    for text in [
        "global_defs {\n vrrp_strict\n}\n",
        "global_defs {\n vrrp_garp_interval 0.01\n}\n",
        "global_defs {\n vrrp_mcast_group4 224.0.0.19\n}\n",
        "vrrp_instance V {\n track_bfd {\n  b\n }\n}\n",
        "vrrp_instance V {\n use_vmac_addr\n}\n",
        "bogus_block {\n}\n",
        "vrrp_instance {\n}\n",
    ] {
        let out = run(text);
        assert_eq!(out.exit_status(), 1, "{text}: {:?}", out.warnings);
        assert_eq!(out.warnings.len(), 1, "{text}: {:?}", out.warnings);
    }
}

#[test]
fn auth_type_ah_is_refused_with_exit_status_1() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n authentication {\n  auth_type AH\n  auth_pass x\n }\n}\n";
    let out = run(text);
    assert_eq!(out.exit_status(), 1);
    assert!(!out.ini.contains("auth"), "{}", out.ini);
    assert!(out.warnings[0]
        .to_string()
        .starts_with("k.conf:3: auth_type: keepalived authenticates with IPsec AH"));
}

#[test]
fn mixed_families_are_split_into_two_instances() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n version 2\n\
        unicast_peer {\n  192.0.2.2\n  2001:db8::2\n }\n authentication {\n  auth_type PASS\n  auth_pass p\n }\n\
        virtual_ipaddress {\n  192.0.2.1/24\n  2001:db8::1/64\n }\n track_script {\n  chk\n }\n notify /bin/n\n}\n\
        vrrp_instance VI_2 {\n virtual_ipaddress {\n  2001:db8::9\n  192.0.2.9\n }\n}\n\
        vrrp_sync_group G {\n group {\n  VI_2\n }\n}\n";
    assert_eq!(
        ini(text),
        "\n[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 7\nversion = 2\nunicast_peer = 192.0.2.2\n\
         auth_type = PASS\nauth_pass = p\nvirtual_ipaddress = 192.0.2.1/24\ntrack_script = chk\nnotify = /bin/n\n\n\
         [vrrp_instance VI_1_v6]\ninterface = eth0\nvirtual_router_id = 7\nunicast_peer = 2001:db8::2\n\
         virtual_ipaddress = 2001:db8::1/64\ntrack_script = chk\nversion = 3\n\n\
         [vrrp_instance VI_2]\nvirtual_ipaddress = 192.0.2.9\n\n[vrrp_instance VI_2_v6]\nvirtual_ipaddress = 2001:db8::9\nversion = 3\n\n\
         [vrrp_sync_group G]\ngroup = VI_2\ngroup = VI_2_v6\n\n\
         [vrrp_sync_group VI_1_families]\ngroup = VI_1\ngroup = VI_1_v6\n"
    );
    let out = run(text);
    assert_eq!(out.exit_status(), 1);
    assert_eq!(out.warnings.len(), 2);
    assert!(out.warnings[0]
        .to_string()
        .starts_with("k.conf:1: virtual_ipaddress: keepalived takes the family"));
}

#[test]
fn syntax_errors_name_file_and_line() {
    for (text, line, what) in [
        (
            "vrrp_instance V {\n interface eth0\n",
            1,
            "`{` never closed",
        ),
        ("global_defs {\n}\n}\n", 3, "`}` without a block to close"),
        ("{\n}\n", 1, "`{` without a keyword before it"),
        ("a {\n b \"x\n}\n", 2, "unterminated quote"),
        ("a { { } }\n", 1, "`{` without a keyword before it"),
    ] {
        match import_text("k.conf", text, "n", &NoFiles) {
            Err(ImportError::Syntax {
                file,
                line: l,
                what: w,
            }) => {
                assert_eq!(
                    (file.as_str(), l, w.as_str()),
                    ("k.conf", line, what),
                    "{text}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let deep = "a {\n".repeat(40);
    assert!(matches!(
        import_text("k.conf", &deep, "n", &NoFiles),
        Err(ImportError::Syntax { .. })
    ));
}

#[test]
fn values_are_quoted_when_ini_needs_it() {
    use super::translate::ini_value;
    for (value, want) in [
        ("plain", Some("plain")),
        ("", Some("")),
        ("a#b", Some("\"a#b\"")),
        ("a #b", Some("\"a #b\"")),
        ("a;b", Some("a;b")),
        ("a\t;b", Some("\"a\t;b\"")),
        ("x !y", Some("\"x !y\"")),
        ("#x", Some("\"#x\"")),
        (" lead", Some("\" lead\"")),
        ("/bin/sh -c 'exit 0'", Some("/bin/sh -c 'exit 0'")),
        ("it's", Some("\"it's\"")),
        ("\"q\" x", Some("'\"q\" x'")),
        ("x {", Some("\"x {\"")),
        ("a\\b", Some("a\\b")),
        ("'q' \"x\"", None),
        ("ends\\", None),
        ("a #b\\c", None),
        ("ctl\u{1}", None),
    ] {
        assert_eq!(ini_value(value).as_deref(), want, "{value:?}");
    }
}

#[test]
fn a_typical_import_passes_the_checker() {
    let text = "global_defs {\n router_id edge1\n}\nvrrp_script chk {\n script \"/bin/sh -c 'exit 0'\"\n interval 2\n weight -20\n}\n\
        vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n advert_int 1\n\
        authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n virtual_ipaddress {\n  192.0.2.1/24 dev eth0 label eth0:1\n }\n\
        track_script {\n  chk\n }\n nopreempt\n}\n";
    let out = run(text);
    assert_eq!(out.exit_status(), 0, "{:?}", out.warnings);
    let loaded = crate::config::parse_str(&out.ini, "-").expect("the checker accepts it");
    assert_eq!(loaded.config.instances.len(), 1);
    assert_eq!(loaded.config.instances[0].priority, 150);
}

/// A small stand-in for the fuzz target (fuzz/fuzz_targets/import.rs) that runs with the unit
/// tests: mutated keepalived snippets never panic, errors and warnings name lines of the text,
/// and the INI written always gets past the checker's syntax layer.
#[test]
fn mutated_input_never_breaks_the_invariants() {
    let seeds = [
        include_str!("../../tests/data/keepalived/own-comments-quotes.conf"),
        include_str!("../../tests/data/keepalived/own-definitions-conditionals.conf"),
        include_str!("../../tests/data/keepalived/own-mixed-families.conf"),
        "vrrp_instance V { virtual_ipaddress { 192.0.2.1 } authentication { auth_type AH } }\n",
    ];
    let pieces = [
        "{", "}", "\"", "#", "!", "@", "$", "\\", "\n", " ", "'", ";", "\r", "[", "]", "=", "x",
    ];
    let mut state: u32 = 12345;
    let mut next = |n: usize| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (state >> 8) as usize % n.max(1)
    };
    for round in 0..3000 {
        let mut text: Vec<char> = seeds[round % seeds.len()].chars().collect();
        for _ in 0..1 + next(4) {
            let at = next(text.len() + 1);
            if next(2) == 0 && at < text.len() {
                text.remove(at);
            } else {
                text.insert(at, pieces[next(pieces.len())].chars().next().unwrap_or('x'));
            }
        }
        let text: String = text.into_iter().collect();
        let lines = text.split('\n').count();
        match import_text("m.conf", &text, "east", &NoFiles) {
            Ok(out) => {
                assert!(
                    out.warnings.iter().all(|w| (1..=lines).contains(&w.line)),
                    "{text}"
                );
                if let Err(errors) = crate::config::parse_str(&out.ini, "-") {
                    let syntax = errors.0.iter().find(|e| {
                        matches!(
                            e.kind,
                            crate::config::ErrorKind::Syntax(_)
                                | crate::config::ErrorKind::IniParser { .. }
                        )
                    });
                    assert!(
                        syntax.is_none(),
                        "{syntax:?}\n--- from:\n{text}\n--- ini:\n{}",
                        out.ini
                    );
                }
            }
            Err(ImportError::Syntax { line, .. }) => assert!((1..=lines).contains(&line), "{text}"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn ipv6_instances_without_version_get_version_3_as_in_keepalived() {
    let text = "global_defs {\n vrrp_version 2\n}\nvrrp_instance A {\n virtual_ipaddress {\n  fe80::1\n  2001:db8::1\n }\n}\n\
        vrrp_instance B {\n version 3\n virtual_ipaddress {\n  2001:db8::2\n }\n}\n\
        vrrp_instance C {\n virtual_ipaddress {\n  192.0.2.3\n }\n}\nvrrp_instance D {\n}\n";
    assert_eq!(
        ini(text),
        "\n[global_defs]\nvrrp_version = 2\n\n[vrrp_instance A]\nvirtual_ipaddress = fe80::1\n\
         virtual_ipaddress = 2001:db8::1\nversion = 3\n\n[vrrp_instance B]\nversion = 3\n\
         virtual_ipaddress = 2001:db8::2\n\n[vrrp_instance C]\nvirtual_ipaddress = 192.0.2.3\n\n\
         [vrrp_instance D]\n"
    );
    assert!(run(text).warnings.is_empty());
}

#[test]
fn keyword_families_of_other_keepalived_processes_have_no_vrrp_effect() {
    let text =
        "global_defs {\n checker_log_all_failures\n lvs_sync_daemon eth0 VI_1\n bfd_priority -1\n\
        smtp_alert_checker\n enable_snmp_checker\n}\n";
    let out = run(text);
    assert_eq!(out.warnings.len(), 5, "{:?}", out.warnings);
    assert_eq!(out.exit_status(), 0, "{:?}", out.warnings);
}

#[test]
fn vmac_xmit_base_is_carried_over() {
    let text = "vrrp_instance V {\n interface eth0\n use_vmac\n vmac_xmit_base\n\
        virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    let out = run(text);
    assert!(
        out.ini
            .contains("use_vmac =\nvmac_xmit_base =\nvirtual_ipaddress = 192.0.2.1\n"),
        "{}",
        out.ini
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(out.exit_status(), 0);
}

#[test]
fn a_split_instance_keeps_its_own_vmac_and_says_when_it_loses_unicast() {
    let text = "vrrp_instance V {\n use_vmac vrrp.7\n unicast_peer {\n  192.0.2.2\n }\n\
        virtual_ipaddress {\n  192.0.2.1\n  2001:db8::1\n }\n}\n";
    let out = ini(text);
    assert!(
        out.contains("[vrrp_instance V]\nuse_vmac = vrrp.7\nunicast_peer = 192.0.2.2\n"),
        "{out}"
    );
    assert!(
        out.contains("[vrrp_instance V_v6]\nuse_vmac =\nvirtual_ipaddress = 2001:db8::1\n"),
        "{out}"
    );
    let w = warnings(text);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(
        w[1],
        "k.conf:1: unicast_peer: no IPv6 peer: instance V_v6 advertises by multicast"
    );
}

#[test]
fn startup_delay_and_default_interface_are_carried_over() {
    let text = "global_defs {\n vrrp_startup_delay 5\n default_interface eth1\n}\n";
    assert_eq!(
        ini(text),
        "\n[global_defs]\nvrrp_startup_delay = 5\ndefault_interface = eth1\n"
    );
    assert!(run(text).warnings.is_empty());
}
