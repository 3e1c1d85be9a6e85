//! Health tracking that moves priorities (keepalived's track_script / track_interface): the
//! pure rules here — rise/fall counting, what each tracked thing does to an instance, the
//! effective priority — and the script runner in `track/scripts.rs`.

mod proc_events;
mod processes;
mod procfs;
mod scripts;

// The parsers of what the kernel and other processes write, for fuzz/fuzz_targets/track.rs.
pub use proc_events::{parse as parse_proc_event, ProcEvent};
pub use processes::ProcessTracker;
pub use procfs::{matches as process_matches, parse_stat, Proc};
pub use scripts::ScriptRunner;

/// What a check has told us so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No result yet: counts neither way (keepalived's INIT state).
    Unknown,
    Up,
    Down,
}

/// Rise/fall counting: `rise` successes in a row to go up, `fall` failures in a row to go down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    health: Health,
    streak: u32,
}

impl Default for Check {
    fn default() -> Self {
        Check {
            health: Health::Unknown,
            streak: 0,
        }
    }
}

impl Check {
    pub fn health(&self) -> Health {
        self.health
    }

    /// Records one result; returns true when the health changed.
    pub fn record(&mut self, ok: bool, rise: u32, fall: u32) -> bool {
        let (toward, needed) = if ok {
            (Health::Up, rise.max(1))
        } else {
            (Health::Down, fall.max(1))
        };
        if self.health == toward {
            self.streak = 0;
            return false;
        }
        // A first result decides at once, as keepalived does on start-up.
        self.streak += 1;
        if self.health == Health::Unknown || self.streak >= needed {
            self.health = toward;
            self.streak = 0;
            return true;
        }
        false
    }
}

/// What one tracked thing does to its instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    Weight(i32),
    Fault,
}

/// keepalived's script weights: 0 = FAULT while failing; negative = added while failing;
/// positive = added while succeeding.
pub fn script_effect(health: Health, weight: i32) -> Effect {
    match (health, weight) {
        (Health::Unknown, _) => Effect::None,
        (Health::Down, 0) => Effect::Fault,
        (Health::Down, w) if w < 0 => Effect::Weight(w),
        (Health::Up, w) if w > 0 => Effect::Weight(w),
        _ => Effect::None,
    }
}

/// track_interface: without a weight (or 0) the instance is FAULT while the interface is
/// down; a negative weight is added while down, a positive one while up.
pub fn interface_effect(up: bool, weight: Option<i32>) -> Effect {
    match (up, weight.unwrap_or(0)) {
        (false, 0) => Effect::Fault,
        (false, w) if w < 0 => Effect::Weight(w),
        (true, w) if w > 0 => Effect::Weight(w),
        _ => Effect::None,
    }
}

/// track_file (keepalived): the number in the file times the weight is added; with weight 0
/// a non-zero number means FAULT. A missing or unreadable file reads as 0.
pub fn file_effect(value: i64, weight: i32) -> Effect {
    match (value, weight) {
        (0, _) => Effect::None,
        (_, 0) => Effect::Fault,
        (v, w) => Effect::Weight(v.saturating_mul(i64::from(w)).clamp(-254, 254) as i32),
    }
}

/// Reads a track_file's number (first word; anything else reads as 0).
pub fn read_file_value(path: &str) -> i64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|w| w.parse().ok()))
        .unwrap_or(0)
}

/// The priority an instance advertises: the configured one plus the weights, kept in
/// 1..=254. An address owner (255) stays 255 whatever the weights (keepalived's rule; a fault
/// still takes it out).
pub fn effective_priority(configured: u8, effects: impl IntoIterator<Item = Effect>) -> u8 {
    if configured == 255 {
        return 255;
    }
    let total = effects
        .into_iter()
        .fold(i32::from(configured), |sum, e| match e {
            Effect::Weight(w) => sum + w,
            _ => sum,
        });
    total.clamp(1, 254) as u8
}

pub fn any_fault(effects: impl IntoIterator<Item = Effect>) -> bool {
    effects.into_iter().any(|e| e == Effect::Fault)
}

/// vrrp_sync_group: whether another member of instance i's group has a fault of its own
/// (`own[i]`: a down link or a tracked fault; `group[i]`: the index of i's group). Such an
/// instance is held in FAULT with it, so the whole group fails over together.
pub fn held_by_group(own: &[bool], group: &[Option<usize>]) -> Vec<bool> {
    (0..own.len())
        .map(|i| {
            group[i]
                .is_some_and(|g| (0..own.len()).any(|j| j != i && own[j] && group[j] == Some(g)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_result_decides_then_rise_and_fall_count_in_a_row() {
        let mut c = Check::default();
        assert_eq!(c.health(), Health::Unknown);
        assert!(c.record(true, 3, 2));
        assert_eq!(c.health(), Health::Up);
        // fall 2: one failure is not enough, a success in between resets the count.
        assert!(!c.record(false, 3, 2));
        assert!(!c.record(true, 3, 2));
        assert!(!c.record(false, 3, 2));
        assert!(c.record(false, 3, 2));
        assert_eq!(c.health(), Health::Down);
        // rise 3.
        assert!(!c.record(true, 3, 2));
        assert!(!c.record(true, 3, 2));
        assert!(c.record(true, 3, 2));
        assert_eq!(c.health(), Health::Up);
    }

    #[test]
    fn script_weights_follow_keepalived() {
        assert_eq!(script_effect(Health::Unknown, 0), Effect::None);
        assert_eq!(script_effect(Health::Down, 0), Effect::Fault);
        assert_eq!(script_effect(Health::Up, 0), Effect::None);
        assert_eq!(script_effect(Health::Down, -20), Effect::Weight(-20));
        assert_eq!(script_effect(Health::Up, -20), Effect::None);
        assert_eq!(script_effect(Health::Up, 10), Effect::Weight(10));
        assert_eq!(script_effect(Health::Down, 10), Effect::None);
    }

    #[test]
    fn interface_weights() {
        assert_eq!(interface_effect(false, None), Effect::Fault);
        assert_eq!(interface_effect(true, None), Effect::None);
        assert_eq!(interface_effect(false, Some(-30)), Effect::Weight(-30));
        assert_eq!(interface_effect(true, Some(-30)), Effect::None);
        assert_eq!(interface_effect(true, Some(5)), Effect::Weight(5));
        assert_eq!(interface_effect(false, Some(0)), Effect::Fault);
    }

    #[test]
    fn a_fault_spreads_to_its_sync_group_only() {
        let group = [Some(0), Some(0), None, Some(1), Some(1)];
        // Instance 1's own fault holds instance 0 (same group); 1 itself is not "held".
        assert_eq!(
            held_by_group(&[false, true, false, false, false], &group),
            vec![true, false, false, false, false]
        );
        // An instance without a group holds nobody.
        assert_eq!(
            held_by_group(&[false, false, true, false, false], &group),
            vec![false; 5]
        );
        assert_eq!(
            held_by_group(&[false, false, false, true, true], &group),
            vec![false, false, false, true, true]
        );
        assert_eq!(held_by_group(&[false; 5], &group), vec![false; 5]);
    }

    #[test]
    fn file_values_times_weight() {
        assert_eq!(file_effect(0, 0), Effect::None);
        assert_eq!(file_effect(3, 0), Effect::Fault);
        assert_eq!(file_effect(-10, 2), Effect::Weight(-20));
        assert_eq!(file_effect(1000, 5), Effect::Weight(254));
        assert_eq!(read_file_value("/nonexistent/track"), 0);
    }

    #[test]
    fn effective_priority_is_clamped_and_the_owner_is_left_alone() {
        use Effect::*;
        assert_eq!(effective_priority(100, [Weight(-20), None, Weight(5)]), 85);
        assert_eq!(effective_priority(100, [Weight(-200)]), 1);
        assert_eq!(effective_priority(250, [Weight(50)]), 254);
        assert_eq!(effective_priority(255, [Weight(-100)]), 255);
        assert!(any_fault([None, Fault]));
        assert!(!any_fault([None, Weight(-1)]));
    }
}
