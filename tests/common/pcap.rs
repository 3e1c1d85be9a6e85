//! A minimal classic-pcap reader for the keepalived captures in tests/data/captures (Ethernet
//! link type, either byte order, µs or ns timestamps). Test code only: included with `#[path]`
//! by tests/captures.rs and by the arp unit tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const LINKTYPE_ETHERNET: u32 = 1;

pub fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// The frames of a classic pcap file.
pub fn pcap_frames(file: &[u8]) -> Vec<&[u8]> {
    assert!(file.len() >= 24, "pcap global header missing");
    let magic_be = u32::from_be_bytes(file[0..4].try_into().expect("4 bytes"));
    let big_endian = match magic_be {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => panic!("not a classic pcap file (magic {other:#010x})"),
    };
    assert_eq!(
        read_u32(file, 20, big_endian),
        LINKTYPE_ETHERNET,
        "link type"
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at < file.len() {
        assert!(at + 16 <= file.len(), "truncated pcap record header");
        let incl_len = read_u32(file, at + 8, big_endian) as usize;
        let orig_len = read_u32(file, at + 12, big_endian) as usize;
        assert_eq!(incl_len, orig_len, "capture was cut to a snap length");
        let start = at + 16;
        assert!(start + incl_len <= file.len(), "truncated pcap record");
        frames.push(&file[start..start + incl_len]);
        at = start + incl_len;
    }
    frames
}

pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

pub fn load(name: &str) -> Vec<u8> {
    let path = captures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
