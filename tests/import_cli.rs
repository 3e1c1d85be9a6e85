//! `tinyvrrp import FILE` and `tinyvrrp --check -f -` on the command line.
#![cfg(feature = "import")]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tinyvrrp");

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tinyvrrp-import-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

const KEEPALIVED: &str =
    "global_defs {\n  notification_email { ops@example.com }\n  router_id edge1\n}\n\
    vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 150 # high\n\
    virtual_ipaddress {\n    192.0.2.1/24\n  }\n}\n";

#[test]
fn import_prints_ini_and_warns_on_stderr_and_check_reads_stdin() {
    let path = write("ok.conf", KEEPALIVED);
    let p = path.to_str().expect("utf-8 path");
    let out = run(&["import", p], "");
    assert_eq!(out.status.code(), Some(0));
    let ini = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        ini.contains("[vrrp_instance VI_1]\ninterface = eth0\n"),
        "{ini}"
    );
    assert!(ini.contains("priority = 150\n"), "{ini}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{p}:2: notification_email: keepalived sends mail")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let check = run(&["--check", "-f", "-"], &ini);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("-: OK (1 instance(s))"));
    let bad = run(
        &["--check", "-f", "-"],
        "[vrrp_instance VI_1]\npriority = 0\n",
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("-:2: [vrrp_instance VI_1] priority"));
}

#[test]
fn import_exit_status_1_when_vrrp_behaviour_is_lost_and_2_when_unreadable() {
    let ah = KEEPALIVED.replace(
        "  priority 150 # high\n",
        "  authentication {\n    auth_type AH\n    auth_pass secret\n  }\n",
    );
    let path = write("ah.conf", &ah);
    let out = run(&["import", path.to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("[vrrp_instance VI_1]"));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(":8: auth_type: keepalived authenticates with IPsec AH"));

    let missing = run(&["import", "/nonexistent/keepalived.conf"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty());
    let broken = run(
        &["import", "--", "-"],
        "vrrp_instance VI_1 {\n  interface eth0\n",
    );
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("-:1: `{` never closed"));
}

#[test]
fn import_config_id_selects_conditional_lines() {
    let text = "vrrp_instance VI_1 {\n@a priority 200\n@^a priority 50\n}\n";
    let a = run(&["import", "--config-id", "a", "--", "-"], text);
    assert!(String::from_utf8_lossy(&a.stdout).contains("priority = 200\n"));
    let b = run(&["import", "--config-id", "b", "--", "-"], text);
    assert!(String::from_utf8_lossy(&b.stdout).contains("priority = 50\n"));
}
