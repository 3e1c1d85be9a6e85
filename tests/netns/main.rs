//! Every test that uses the network-namespace lab, built as one test binary (`netns`) so the
//! lab compiles once. Needs root and `ip netns`; without root each test prints why and passes.
//! One module per topic; a test's name is `<module>::<test>`:
//!
//!   cargo test --test netns                      # all of them
//!   cargo test --test netns failover::           # one module (was `--test netns_failover`)
//!   cargo test --test netns -- --exact failover::election_by_priority
//!
//! Tests of all modules run side by side on the harness's threads (as many as cores, as each
//! former binary did); labs keep apart by their own namespace names.
//!
//! Adding a module, e.g. a file written as `tests/netns_<topic>.rs` with `mod lab;`:
//! 1. `git mv tests/netns_<topic>.rs tests/netns/<topic>.rs`;
//! 2. in it, replace the line `mod lab;` with `use crate::lab;` (its `use lab::{...}` and
//!    `lab::...` paths then work unchanged);
//! 3. add `mod <topic>;` below.
//!
//! Lab items a moved file names at `lab::` but lab/mod.rs does not re-export yet (the old
//! lab's items all still exist but `keepalived_pids` and `Lab::bridge_ns`, e.g. `Ns`,
//! `KeepalivedHandle`, `parse_mac`, the free `send_raw_ipv4`) go into its `pub use` lines. A
//! helper a branch added to the old tests/lab/mod.rs goes into the topic's file under
//! tests/netns/lab/, and into `pub use` too.
//!
//! A whole-process setting made by one module holds for all of them: `sock` installs a
//! counting global allocator (per-thread counts, so harmless elsewhere) and `initscript` makes
//! the process a child subreaper (orphans of any test's processes are reparented to it).

mod lab;

mod chaos;
mod chaos_kit;
mod failover;
mod fifo;
mod hardening;
mod initscript;
mod interop_import;
mod interop_keepalived;
mod lifecycle;
mod local_abuse;
mod metrics;
mod modes;
mod netlink;
mod options;
mod privilege;
mod reload;
mod resilience;
mod routes;
mod soak;
mod sock;
mod track;
mod vm;
