//! One namespace: commands run inside it, its interfaces and addresses (`ip -n`).

use std::process::Output;

use super::setup::Ns;
use super::{run, run_ok};

impl Ns {
    /// Runs a command inside the namespace and waits for it.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// True when `ip` (v4 or v6, without prefix length) is configured on this namespace's eth0.
    pub fn has_addr(&self, ip: &str) -> bool {
        let out = run(&["ip", "-n", &self.name, "-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).lines().any(|line| {
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                if w == "inet" || w == "inet6" {
                    if let Some(a) = words.next() {
                        if a.split('/').next() == Some(ip) {
                            return true;
                        }
                    }
                }
            }
            false
        })
    }

    /// eth0's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.dev_mac("eth0")
            .unwrap_or_else(|| panic!("no MAC on eth0 in {}", self.name))
    }

    pub fn link_down(&self) {
        run_ok(&["ip", "-n", &self.name, "link", "set", "eth0", "down"]);
    }

    /// Brings eth0 back up and re-adds the lab's IPv6 address, which the kernel flushed at
    /// link down (keep_addr_on_down is 0 by default).
    pub fn link_up(&self) {
        run_ok(&["ip", "-n", &self.name, "link", "set", "eth0", "up"]);
        if !self.has_addr(&self.ipv6) {
            self.add_addr_nodad(&format!("{}/64", self.ipv6));
        }
    }

    /// Writes a sysctl inside this namespace (`ip netns exec` gives it its own /proc/sys/net).
    pub fn sysctl(&self, key: &str, value: &str) {
        let kv = format!("{key}={value}");
        run_ok(&["ip", "netns", "exec", &self.name, "sysctl", "-q", "-w", &kv]);
    }

    /// eth0's IPv6 link-local address (without scope), if it has one.
    pub fn link_local(&self) -> Option<String> {
        let out = run(&[
            "ip", "-n", &self.name, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet6" {
                return words
                    .next()
                    .and_then(|a| a.split('/').next())
                    .map(str::to_owned);
            }
        }
        None
    }

    /// Removes eth0's IPv6 link-local address(es).
    pub fn flush_link_local(&self) {
        run_ok(&[
            "ip", "-n", &self.name, "-6", "addr", "flush", "dev", "eth0", "scope", "link",
        ]);
    }

    /// Adds `addr` (with prefix) to eth0 without duplicate address detection.
    pub fn add_addr_nodad(&self, addr: &str) {
        run_ok(&[
            "ip", "-n", &self.name, "-6", "addr", "add", addr, "dev", "eth0", "nodad",
        ]);
    }

    /// `ip -o link show` of every interface in the namespace.
    pub fn links_text(&self) -> String {
        let out = run(&["ip", "-n", &self.name, "-o", "link", "show"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The MAC of interface `dev` in this namespace, if it exists.
    pub fn dev_mac(&self, dev: &str) -> Option<[u8; 6]> {
        let out = run(&["ip", "-n", &self.name, "-o", "link", "show", "dev", dev]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "link/ether" {
                return words.next().and_then(parse_mac);
            }
        }
        None
    }

    /// True when `ip` is configured on any interface of this namespace.
    pub fn has_addr_anywhere(&self, ip: &str) -> bool {
        let out = run(&["ip", "-n", &self.name, "-o", "addr", "show"]);
        String::from_utf8_lossy(&out.stdout).lines().any(|line| {
            line.split_whitespace()
                .any(|w| w.split('/').next() == Some(ip))
        })
    }
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn fmt_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
