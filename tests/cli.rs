//! The command line without root: --check, --version, status without a daemon.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tinyvrrp");

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tinyvrrp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn check_accepts_a_good_config() {
    let path = write(
        "good.conf",
        "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 51\n\
         virtual_ipaddress = 192.0.2.1/24\nnopreempt\n",
    );
    let out = Command::new(BIN)
        .arg("--check")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (1 instance(s))"));
}

#[test]
fn check_refuses_a_broken_config_with_file_line_and_key() {
    let path = write(
        "bad.conf",
        "[vrrp_instance VI_1]\ninterface = eth0\nvirtual_router_id = 300\n\
         priority = 0\nvirtual_ipaddress = 192.0.2.1/24\nbogus = 1\n",
    );
    let out = Command::new(BIN)
        .arg("--check")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    for want in [
        format!("{p}:3: [vrrp_instance VI_1] virtual_router_id"),
        format!("{p}:4: [vrrp_instance VI_1] priority"),
        format!("{p}:6: [vrrp_instance VI_1] bogus"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn check_of_a_missing_file_names_it() {
    let out = Command::new(BIN)
        .args(["--check", "-f", "/nonexistent/tinyvrrp.conf"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tinyvrrp.conf"));
}

#[test]
fn version_prints_the_crate_version() {
    let out = Command::new(BIN).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tinyvrrp {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn status_without_a_daemon_fails_clearly() {
    let out = Command::new(BIN)
        .args(["--status-socket", "/nonexistent/tinyvrrp.sock", "status"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tinyvrrp.sock"));
}

/// A keepalived user's file, translated line by line: inline comments, mail keys, a bare
/// command and a script that exists only on the target pass --check, with one warning each.
#[test]
fn check_accepts_keepalived_habits_with_warnings() {
    let path = write(
        "habits.conf",
        "! Configuration File for keepalived\n[global_defs]\n\
         notification_email = ops@example.org\nsmtp_server = 192.0.2.25 # relay\n\
         [vrrp_script chk_haproxy]\nscript = test -e /etc   # cheap\n\
         [vrrp_script chk_target]\nscript = /etc/keepalived/tinyvrrp-absent.sh\n\
         [vrrp_instance VI_1]\nstate = SLAVE\ninterface = eth0\nvirtual_router_id = 51\n\
         auth_type = PASS\nauth_pass = 1111 # note\nsmtp_alert\n\
         virtual_ipaddress = 192.0.2.18/24\ntrack_script = chk_haproxy\ntrack_script = chk_target\n",
    );
    let out = Command::new(BIN)
        .args(["--check", "-f"])
        .arg(&path)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let p = path.display();
    for want in [
        format!("{p}:3: [global_defs] notification_email:"),
        format!("{p}:4: [global_defs] smtp_server:"),
        format!("{p}:6: [vrrp_script chk_haproxy] script:"),
        format!("{p}:8: [vrrp_script chk_target] script:"),
        format!("{p}:10: [vrrp_instance VI_1] state:"),
        format!("{p}:15: [vrrp_instance VI_1] smtp_alert:"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert_eq!(err.lines().count(), 6, "{err}");
}

/// Syntax errors and the errors of the lines that could be read, in one run.
#[test]
fn check_reports_syntax_and_other_errors_together() {
    let path = write(
        "mixed.conf",
        "[vrrp_instance VI_1]\ninterface eth0\nvirtual_router_id = 300\n\
         virtual_ipaddress = 192.0.2.1/24\ntrack_bfd = b1\n",
    );
    let out = Command::new(BIN)
        .args(["--check", "-f"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    for want in [
        format!("{p}:2: [vrrp_instance VI_1] interface: missing `=`"),
        format!("{p}:3: [vrrp_instance VI_1] virtual_router_id:"),
        format!(
            "{p}:5: [vrrp_instance VI_1] track_bfd: keepalived's track_bfd is not supported by \
             tinyvrrp"
        ),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}
