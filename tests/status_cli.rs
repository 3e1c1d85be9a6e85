//! `tinyvrrp status` against a stand-in server (no root needed): a reply cut short is an
//! error (also with `--json`), a complete one prints without its `end` line, and a reader that
//! goes away early (`| head -c10`) is no panic.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

const DAEMON: &str = env!("CARGO_BIN_EXE_tinyvrrp");

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tvr-status-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// Serves `reply` once on a fresh socket in `dir`, then closes.
fn serve_once(dir: &Path, reply: Vec<u8>) -> (PathBuf, thread::JoinHandle<()>) {
    let sock = dir.join("s.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let t = thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(&reply);
        }
    });
    (sock, t)
}

fn status(sock: &Path, json: bool) -> Output {
    let mut cmd = Command::new(DAEMON);
    cmd.arg("--status-socket").arg(sock).arg("status");
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run tinyvrrp status")
}

const LINE: &str = "instance=VI_1 interface=eth0 vrid=51 version=3 state=MASTER priority=150 \
                    effective_priority=150 vips=held rx_adverts=0 tx_adverts=9 \
                    rx_priority_zero=0 tx_priority_zero=0 become_master=1 release_master=0\n";

#[test]
fn a_reply_cut_short_is_an_error_in_text_and_json() {
    let dir = scratch("cut");
    let cut = &LINE[..LINE.find("release_mas").expect("const") + "release_mas".len()];
    for json in [false, true] {
        let (sock, t) = serve_once(&dir, cut.as_bytes().to_vec());
        let out = status(&sock, json);
        t.join().expect("server");
        let _ = std::fs::remove_file(&sock);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "json={json}: {stdout} {stderr}");
        assert!(stderr.contains("cut short"), "json={json}: {stderr}");
        if json {
            assert!(stdout.starts_with("{\"error\":"), "{stdout}");
            assert!(stdout.contains("cut short"), "{stdout}");
        } else {
            assert!(stdout.is_empty(), "a cut reply is not printed: {stdout}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_complete_reply_prints_without_its_end_line() {
    let dir = scratch("whole");
    let (sock, t) = serve_once(&dir, format!("{LINE}end\n").into_bytes());
    let out = status(&sock, false);
    t.join().expect("server");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), LINE);
    let _ = std::fs::remove_file(&sock);
    let (sock, t) = serve_once(&dir, format!("{LINE}end\n").into_bytes());
    let out = status(&sock, true);
    t.join().expect("server");
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\"VI_1\"") && !json.contains("end"), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reader_that_stops_early_is_no_panic() {
    let dir = scratch("head");
    // Well over a pipe's 64 KiB, so the writer meets the closed pipe.
    let big = LINE.repeat(2000) + "end\n";
    let (sock, t) = serve_once(&dir, big.into_bytes());
    let mut child = Command::new(DAEMON)
        .arg("--status-socket")
        .arg(&sock)
        .arg("status")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("piped");
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).expect("first 10 bytes");
    drop(stdout); // as `head -c10` exits
    let out = child.wait_with_output().expect("wait");
    t.join().expect("server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(&first, b"instance=V");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `status --prometheus`: the exposition of a complete reply; `keepalived_up 0` and exit 1
/// when there is no daemon, as the textfile collector wants to record.
#[cfg(feature = "metrics")]
#[test]
fn prometheus_text_and_down() {
    let dir = scratch("prom");
    let (sock, t) = serve_once(&dir, format!("{LINE}end\n").into_bytes());
    let out = Command::new(DAEMON)
        .arg("--status-socket")
        .arg(&sock)
        .args(["status", "--prometheus"])
        .output()
        .expect("run");
    t.join().expect("server");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "keepalived_up 1",
        "# TYPE keepalived_become_master_total counter",
        r#"keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="51"} 1"#,
        r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address=""} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    let _ = std::fs::remove_file(&sock);
    let out = Command::new(DAEMON)
        .arg("--status-socket")
        .arg(&sock)
        .args(["status", "--prometheus"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\nkeepalived_up 0\n"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
