//! Repeats among many items in O(n log n): keys sorted (a small heapsort, one copy in the
//! binary), then compared with their neighbours. A reload must not hold the loop for long,
//! whatever the file holds.

use std::net::IpAddr;

/// What makes two items the same (`text`, `num`), and which item it is (`index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key<'a> {
    pub text: &'a str,
    pub num: u128,
    pub index: u32,
}

impl<'a> Key<'a> {
    pub fn new(text: &'a str, num: u128, index: usize) -> Self {
        Key {
            text,
            num,
            index: index as u32,
        }
    }
}

/// An address as one number (IPv6 ones above every IPv4 one).
pub(super) fn ip_num(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a) | 1 << 127 | 1 << 126,
    }
}

/// (index of the first, index of a repeat) for every item equal to an earlier one.
pub(super) fn repeats(mut keys: Vec<Key>) -> Vec<(usize, usize)> {
    heapsort(&mut keys);
    let mut out = Vec::new();
    let mut first = 0;
    for i in 1..keys.len() {
        let (a, b) = (keys[first], keys[i]);
        if (a.text, a.num) == (b.text, b.num) {
            out.push((a.index as usize, b.index as usize));
        } else {
            first = i;
        }
    }
    out
}

/// Sorted keys, to find an item by `(text, num)`.
pub(super) struct Index<'a>(Vec<Key<'a>>);

impl<'a> Index<'a> {
    pub fn new(mut keys: Vec<Key<'a>>) -> Self {
        heapsort(&mut keys);
        Index(keys)
    }

    /// The first item with this key.
    pub fn find(&self, text: &str, num: u128) -> Option<usize> {
        let i = self.0.partition_point(|k| (k.text, k.num) < (text, num));
        self.0
            .get(i)
            .filter(|k| (k.text, k.num) == (text, num))
            .map(|k| k.index as usize)
    }
}

fn heapsort(v: &mut [Key]) {
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

fn sift_down(v: &mut [Key], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v[child] < v[child + 1] {
            child += 1;
        }
        if v[root] >= v[child] {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_point_at_the_first_item_and_the_index_finds_it() {
        let names = ["b", "a", "b", "c", "a", "b"];
        let keys = || names.iter().enumerate().map(|(i, n)| Key::new(n, 7, i));
        let mut found = repeats(keys().collect());
        found.sort_unstable();
        assert_eq!(found, vec![(0, 2), (0, 5), (1, 4)]);
        let index = Index::new(keys().collect());
        assert_eq!(index.find("b", 7), Some(0));
        assert_eq!(index.find("a", 7), Some(1));
        assert_eq!(index.find("b", 8), None);
        assert_eq!(index.find("d", 7), None);
        let ips = ["192.0.2.1", "::c000:201", "192.0.2.1"].map(|s| s.parse().map(ip_num));
        assert_ne!(ips[0], ips[1]);
        assert_eq!(ips[0], ips[2]);
    }
}
