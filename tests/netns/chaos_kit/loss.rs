//! Random loss on one bridge port: nftables in the bridge namespace drops `percent` % of the
//! frames the bridge forwards from or to the port (`numgen random mod 100 < N drop`), each
//! direction and each flooded copy drawn on its own. Counters tell what really was dropped.

use std::io::Write;
use std::process::{Command, Stdio};

fn nft(ns: &str, script: &str) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run nft (tests/run.sh installs nftables): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).expect("write to nft");
    }
    let out = child.wait_with_output().expect("nft");
    assert!(
        out.status.success(),
        "nft -f failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The loss rules on `port` in the bridge namespace `ns`; removed on drop.
pub struct Loss {
    ns: String,
}

impl Loss {
    pub fn new(ns: &str, port: &str, percent: u32) -> Loss {
        nft(
            ns,
            &format!(
                "table bridge chaos {{\n chain loss {{\n  \
                 type filter hook forward priority 0; policy accept;\n  \
                 iifname \"{port}\" counter\n  oifname \"{port}\" counter\n  \
                 iifname \"{port}\" numgen random mod 100 < {percent} counter drop\n  \
                 oifname \"{port}\" numgen random mod 100 < {percent} counter drop\n }}\n}}\n"
            ),
        );
        Loss { ns: ns.to_owned() }
    }

    /// (frames seen from or to the port, frames dropped).
    pub fn counts(&self) -> (u64, u64) {
        let text = nft(&self.ns, "list chain bridge chaos loss\n");
        let packets: Vec<u64> = text
            .lines()
            .filter_map(|l| l.split_once("packets "))
            .filter_map(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(packets.len(), 4, "unexpected nft listing:\n{text}");
        (packets[0] + packets[1], packets[2] + packets[3])
    }
}

impl Drop for Loss {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "nft", "delete", "table", "bridge", "chaos",
            ])
            .output();
    }
}
