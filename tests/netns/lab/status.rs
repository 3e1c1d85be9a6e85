//! The parser of `tinyvrrp status` output.

use std::collections::HashMap;

/// `tinyvrrp status` output: one `instance=... key=value ...` line per instance and `drops`
/// lines of `reason=count`. A counter that is not printed counts as 0.
#[derive(Debug, Default)]
pub struct Status {
    pub instances: Vec<HashMap<String, String>>,
    pub drops: HashMap<String, u64>,
}

impl Status {
    pub fn parse(text: &str) -> Status {
        let mut status = Status::default();
        for line in text.lines() {
            let mut words = line.split_whitespace().peekable();
            if words.peek() == Some(&"drops") {
                words.next();
                for (k, v) in words.filter_map(|w| w.split_once('=')) {
                    *status.drops.entry(k.to_owned()).or_default() += v.parse::<u64>().unwrap_or(0);
                }
            } else if line.trim_start().starts_with("instance=") {
                let fields = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                status.instances.push(fields);
            }
        }
        status
    }

    pub fn instance(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.instances
            .iter()
            .find(|i| i.get("instance").map(String::as_str) == Some(name))
    }

    /// A numeric field of an instance line (0 when absent or not a number).
    pub fn counter(&self, instance: &str, key: &str) -> u64 {
        self.instance(instance)
            .and_then(|i| i.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn drop_count(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }
}
