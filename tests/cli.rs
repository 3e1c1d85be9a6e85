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
