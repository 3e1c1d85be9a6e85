use super::*;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn line(kind: &str, name: &str, state: State, priority: u8) -> String {
    let mut out = Vec::new();
    format_line(&mut out, kind, name, state_word(state), priority);
    String::from_utf8(out).expect("ascii")
}

#[test]
fn lines_are_keepalived_s() {
    assert_eq!(
        line("INSTANCE", "VI_1", State::Master, 150),
        "INSTANCE \"VI_1\" MASTER 150\n"
    );
    assert_eq!(
        line("INSTANCE", "wan", State::Backup, 100),
        "INSTANCE \"wan\" BACKUP 100\n"
    );
    assert_eq!(
        line("INSTANCE", "VI_1", State::Fault, 5),
        "INSTANCE \"VI_1\" FAULT 5\n"
    );
    assert_eq!(
        line("INSTANCE", "VI_1", State::Init, 255),
        "INSTANCE \"VI_1\" STOP 255\n"
    );
    assert_eq!(
        line("GROUP", "G1", State::Backup, 0),
        "GROUP \"G1\" BACKUP 0\n"
    );
    assert_eq!(
        line("GROUP", "G1", State::Master, 0),
        "GROUP \"G1\" MASTER 0\n"
    );
    assert_eq!(line("GROUP", "G1", State::Init, 0), "GROUP \"G1\" STOP 0\n");
    let mut out = Vec::new();
    format_line(&mut out, "INSTANCE", "VI_1", MASTER_RX_LOWER_PRI, 150);
    assert_eq!(out, b"INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 150\n");
    for p in [1u8, 9, 10, 42, 99, 100, 101, 199, 200, 254] {
        assert_eq!(
            line("INSTANCE", "x", State::Master, p),
            format!("INSTANCE \"x\" MASTER {p}\n")
        );
    }
}

#[test]
fn the_line_buffer_is_reused() {
    let mut out = Vec::with_capacity(128);
    format_line(&mut out, "INSTANCE", "VI_1", "MASTER", 150);
    let (ptr, cap) = (out.as_ptr(), out.capacity());
    for p in 0..=255u8 {
        format_line(&mut out, "INSTANCE", "a_long_name", MASTER_RX_LOWER_PRI, p);
    }
    assert_eq!((out.as_ptr(), out.capacity()), (ptr, cap));
}

/// A scratch directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("tinyvrrp-fifo-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        Dir(d)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn global(path: &str, script: Option<&str>) -> GlobalDefs {
    GlobalDefs {
        vrrp_notify_fifo: Some(NotifyFifo {
            path: path.to_string(),
            user: None,
            group: None,
            script: script.map(str::to_string),
        }),
        ..GlobalDefs::default()
    }
}

#[test]
fn a_fifo_nobody_reads_never_blocks_and_drops_what_does_not_fit() {
    let dir = Dir::new("noreader");
    let path = dir.path("vrrp.fifo");
    let mut fifos = Fifos::open(&global(&path, None));
    let meta = std::fs::metadata(&path).expect("created");
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let t0 = Instant::now();
    // 20 000 lines of 26 bytes: far more than a pipe holds (64 KiB).
    for _ in 0..20_000 {
        fifos.write("INSTANCE", "VI_1", state_word(State::Master), 150);
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "writes blocked");
    let dropped = fifos.dropped();
    assert!(dropped > 10_000, "only {dropped} dropped");
    assert!(dropped < 20_000, "nothing went in");
    drop(fifos);
    assert!(
        std::fs::metadata(&path).is_err(),
        "a FIFO we created is removed at exit"
    );
}

#[test]
fn a_reader_that_never_reads_does_not_block_and_one_that_reads_sees_every_line_in_order() {
    let dir = Dir::new("reader");
    let path = dir.path("vrrp.fifo");
    let mut fifos = Fifos::open(&global(&path, None));
    // Opened non-blocking: a reader can come and go without the writer noticing.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .expect("open reader");
    for _ in 0..10_000 {
        fifos.write("GROUP", "G1", state_word(State::Backup), 0);
    }
    assert!(fifos.dropped() > 0);
    let mut sink = vec![0u8; 1 << 20];
    while reader.read(&mut sink).is_ok_and(|n| n > 0) {}
    let before = fifos.dropped();
    fifos.write("INSTANCE", "VI_1", state_word(State::Backup), 100);
    fifos.write("INSTANCE", "VI_1", state_word(State::Master), 100);
    fifos.write("GROUP", "G1", state_word(State::Master), 0);
    assert_eq!(
        fifos.dropped(),
        before,
        "room again after the reader caught up"
    );
    let mut got = String::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.push_str(std::str::from_utf8(&buf[..n]).expect("ascii"));
    }
    assert_eq!(
        got,
        "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\nGROUP \"G1\" MASTER 0\n"
    );
}

#[test]
fn something_else_at_the_path_is_refused_and_left_alone() {
    let dir = Dir::new("planted");
    let path = dir.path("vrrp.fifo");
    std::fs::write(&path, "not a fifo").expect("write");
    let mut fifos = Fifos::open(&global(&path, None));
    fifos.write("INSTANCE", "VI_1", state_word(State::Master), 150);
    assert_eq!(fifos.open.len(), 0);
    drop(fifos);
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "not a fifo"
    );
}

#[test]
fn an_existing_fifo_is_used_and_kept() {
    let dir = Dir::new("existing");
    let path = dir.path("vrrp.fifo");
    let c = c_path(&path).expect("path");
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let fifos = Fifos::open(&global(&path, None));
    assert_eq!(fifos.open.len(), 1);
    drop(fifos);
    assert!(std::fs::metadata(&path).is_ok(), "not ours to remove");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn the_script_gets_the_path_reads_the_lines_and_is_stopped_at_exit() {
    let dir = Dir::new("script");
    let path = dir.path("vrrp.fifo");
    let out = dir.path("out");
    // The FIFO's path comes last, as keepalived passes it: $0 of the inner shell.
    let script = format!("/bin/sh -c 'exec cat \"$0\" > {out}'");
    let mut fifos = Fifos::open(&global(&path, Some(&script)));
    let pid = fifos.open[0]
        .script
        .as_ref()
        .map(Child::id)
        .expect("started");
    fifos.write("INSTANCE", "VI_1", state_word(State::Backup), 100);
    fifos.write("INSTANCE", "VI_1", state_word(State::Master), 100);
    let want = "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n";
    let t0 = Instant::now();
    while std::fs::read_to_string(&out).unwrap_or_default() != want {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "script output: {:?}",
            std::fs::read_to_string(&out)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(alive(pid));
    drop(fifos);
    let t0 = Instant::now();
    while alive(pid) {
        assert!(t0.elapsed() < Duration::from_secs(5), "script not stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reload_keeps_an_unchanged_fifo_and_its_script_and_replaces_a_changed_one() {
    let dir = Dir::new("reload");
    let (a, b) = (dir.path("a.fifo"), dir.path("b.fifo"));
    let script = "/bin/sh -c 'exec cat \"$0\" > /dev/null'";
    let mut fifos = Fifos::open(&global(&a, Some(script)));
    let pid = fifos.open[0]
        .script
        .as_ref()
        .map(Child::id)
        .expect("started");
    let fd = fifos.open[0].fd.as_raw_fd();
    fifos.reconfigure(&global(&a, Some(script)));
    assert_eq!(fifos.open[0].script.as_ref().map(Child::id), Some(pid));
    assert_eq!(fifos.open[0].fd.as_raw_fd(), fd);
    fifos.reconfigure(&global(&b, Some(script)));
    assert!(std::fs::metadata(&a).is_err(), "the old FIFO is removed");
    assert!(std::fs::metadata(&b).is_ok_and(|m| m.file_type().is_fifo()));
    let t0 = Instant::now();
    while alive(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "old script not stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    fifos.reap();
    assert!(fifos.retired.is_empty(), "the old script is reaped");
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_err(),
        "zombie left"
    );
    let new_pid = fifos.open[0].script.as_ref().map(Child::id);
    assert!(new_pid.is_some_and(|p| p != pid));
    fifos.reconfigure(&GlobalDefs::default());
    assert!(fifos.open.is_empty());
    assert!(std::fs::metadata(&b).is_err());
}
