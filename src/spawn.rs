//! Starting the commands the daemon runs (notify and track scripts) as keepalived does: the
//! line is split into words (keepalived's quoting: `"..."`, `'...'` and `\` escapes), a first
//! word without `/` is looked up in PATH, and the program is executed directly with the other
//! words as arguments, without a shell (so `|`, `&&` or `$X` are plain arguments, as in
//! keepalived; `sh -c '...'` runs a shell line). A file that is neither `#!` script nor ELF
//! binary is run by /bin/sh (keepalived does that through system() when libmagic says so),
//! and a first word `</path` is handed to /bin/sh (keepalived's file-readable test). Children
//! get the signals the daemon blocks unblocked again and a process group of their own, so a
//! timeout can kill everything they started; optionally they run as another user.

pub mod secure;

use std::ffi::{CString, NulError};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// Why a command line cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Not splittable into words: an open quote, a `\` at the end, or no word at all.
    Syntax(&'static str),
    /// A path with `/` that does not start with `/`.
    Relative(String),
    /// No such file, or a bare name not found in PATH.
    NotFound(String),
    /// Not a regular file with an x bit.
    NotExecutable(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Syntax(why) => write!(f, "bad command line: {why}"),
            CommandError::Relative(p) => write!(f, "{p} is a relative path"),
            CommandError::NotFound(p) if p.as_bytes().contains(&b'/') => {
                write!(f, "{p} does not exist")
            }
            CommandError::NotFound(p) => write!(f, "{p} is not found in PATH"),
            CommandError::NotExecutable(p) => write!(f, "{p} is not an executable file"),
        }
    }
}

/// keepalived's word splitting (lib/parser.c, alloc_strvec_quoted_escaped): words are
/// separated by blanks; `"` and `'` quote anywhere in a word; `\` escapes the next character,
/// with C's `\n`, `\t`, ..., `\xHH`, octal `\NNN` and `\cX` (control) forms.
pub fn split_words(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (_, '\\') => word.push(escaped(&mut chars)?),
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '"' | '\'') => quote = Some(c),
                (None, c) if c.is_ascii_whitespace() => break,
                (None, c) => word.push(c),
            }
        }
        if quote.is_some() {
            return Err(CommandError::Syntax("quote not closed"));
        }
        words.push(word);
    }
    if words.is_empty() {
        return Err(CommandError::Syntax("no command"));
    }
    Ok(words)
}

/// The character a `\` escape stands for; `chars` is just after the `\`.
fn escaped(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, CommandError> {
    let Some(c) = chars.next() else {
        return Err(CommandError::Syntax("`\\` at the end"));
    };
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, radix, max, first| {
        let mut n: u32 = first;
        for _ in 1..max {
            match chars.peek().and_then(|d| d.to_digit(radix)) {
                Some(d) => {
                    n = n * radix + d;
                    chars.next();
                }
                None => break,
            }
        }
        char::from(u8::try_from(n & 0xff).unwrap_or(0))
    };
    Ok(match c {
        'x' if chars.peek().is_some_and(char::is_ascii_hexdigit) => {
            let first = chars.next().and_then(|d| d.to_digit(16)).unwrap_or(0);
            digits(chars, 16, 2, first)
        }
        'c' if chars.peek().is_some() => {
            char::from(u8::try_from(u32::from(chars.next().unwrap_or('@')) & 0x1f).unwrap_or(0))
        }
        '0'..='7' => digits(chars, 8, 3, c.to_digit(8).unwrap_or(0)),
        'a' => '\u{7}',
        'b' => '\u{8}',
        'E' => '\u{1b}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        c => c,
    })
}

/// The file `word` names: a path with `/` as is, a bare name searched in PATH (keepalived's
/// find_path; /bin:/usr/bin without PATH). The file must be a regular file with an x bit.
pub fn find_program(word: &str) -> Result<String, CommandError> {
    if word.as_bytes().contains(&b'/') {
        if !word.starts_with('/') {
            return Err(CommandError::Relative(word.to_string()));
        }
        let meta = std::fs::metadata(word).map_err(|_| CommandError::NotFound(word.to_string()))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(CommandError::NotExecutable(word.to_string()));
        }
        return Ok(word.to_string());
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/bin:/usr/bin".to_string());
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{}/{word}", dir.trim_end_matches('/'));
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return Ok(candidate);
        }
    }
    Err(CommandError::NotFound(word.to_string()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Exec,
    /// Neither `#!` nor ELF: `/bin/sh FILE ARGS`.
    ShellScript,
    /// `</path`: the line goes to `/bin/sh -c`.
    ShellLine,
}

/// A command line ready to run: words, the first one resolved to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    argv: Vec<String>,
    how: How,
    /// The word a PATH search resolved (argv[0] is the file found).
    searched: Option<String>,
    /// What exec gets when no argument is added (every run of a track script), built once:
    /// such a run allocates nothing.
    exec: Vec<CString>,
}

impl Program {
    pub fn parse(line: &str) -> Result<Program, CommandError> {
        let mut argv = split_words(line)?;
        let first = argv.first().map_or("", String::as_str);
        if first
            .strip_prefix('<')
            .is_some_and(|rest| rest.trim_start().starts_with('/'))
        {
            return Program::with_exec(argv, How::ShellLine, None);
        }
        let file = find_program(first)?;
        let searched = (file != first).then(|| first.to_string());
        let how = if runs_directly(&file) {
            How::Exec
        } else {
            How::ShellScript
        };
        if let Some(slot) = argv.first_mut() {
            *slot = file;
        }
        Program::with_exec(argv, how, searched)
    }

    fn with_exec(
        argv: Vec<String>,
        how: How,
        searched: Option<String>,
    ) -> Result<Self, CommandError> {
        let mut program = Program {
            argv,
            how,
            searched,
            exec: Vec::new(),
        };
        program.exec = program
            .exec_argv(&[])
            .map_err(|_| CommandError::Syntax("a NUL character"))?;
        Ok(program)
    }

    /// The words of the command line, the first one resolved.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.argv.iter().map(String::as_str)
    }

    /// The file run, and the bare name it was found for when a PATH search found it.
    pub fn file(&self) -> (&str, Option<&str>) {
        let file = self.argv.first().map_or("", String::as_str);
        (file, self.searched.as_deref())
    }

    /// Starts the program plus `args`, with `env` added to the daemon's environment.
    pub fn spawn(
        &self,
        args: &[&str],
        run_as: Option<RunAs>,
        out: ChildOut<'_>,
        env: &[(&str, &str)],
    ) -> io::Result<Child> {
        let built;
        let argv = if args.is_empty() {
            &self.exec
        } else {
            built = self
                .exec_argv(args)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            &built
        };
        start(argv, run_as, out, env)
    }

    /// What exec gets: the words plus `args`, through /bin/sh as `how` says.
    fn exec_argv(&self, args: &[&str]) -> Result<Vec<CString>, NulError> {
        let (first, rest) = self
            .argv
            .split_first()
            .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
        let words = rest.iter().map(String::as_str).chain(args.iter().copied());
        let mut argv = Vec::new();
        // Every string through CString::new::<&str>: one instantiation (no From<&CStr>).
        match self.how {
            How::Exec => {}
            How::ShellScript => argv.push(CString::new("/bin/sh")?),
            How::ShellLine => {
                let mut line = first.to_string();
                for w in words {
                    line.push_str(" '");
                    line.push_str(&w.replace('\'', r"'\''"));
                    line.push('\'');
                }
                for w in ["/bin/sh", "-c", &line] {
                    argv.push(CString::new(w)?);
                }
                return Ok(argv);
            }
        }
        for w in std::iter::once(first).chain(words) {
            argv.push(CString::new(w)?);
        }
        Ok(argv)
    }
}

/// Where a child's stdout and stderr go (stdin is always /dev/null).
#[derive(Clone, Copy)]
pub enum ChildOut<'a> {
    Inherit,
    Null,
    To(BorrowedFd<'a>),
}

/// A started child; like std's, dropping it neither kills nor waits for it.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid.unsigned_abs()
    }

    /// The exit status once the child has ended (it is reaped then), without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_flags(libc::WNOHANG)
    }

    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            match self.wait_flags(0) {
                Ok(Some(status)) => return Ok(status),
                Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                _ => {}
            }
        }
    }

    fn wait_flags(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            let mut raw = 0;
            // SAFETY: waitpid on our own child, into a local.
            match unsafe { libc::waitpid(self.pid, &mut raw, flags) } {
                0 => return Ok(None),
                -1 => return Err(io::Error::last_os_error()),
                _ => self.status = Some(ExitStatus::from_raw(raw)),
            }
        }
        Ok(self.status)
    }
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// `env` as `KEY=VALUE` strings, and the daemon's environment without those keys plus them,
/// as exec wants it (pointing into both).
fn environment(env: &[(&str, &str)]) -> io::Result<(Vec<CString>, Vec<*const libc::c_char>)> {
    let mut set = Vec::new();
    for (k, v) in env {
        let entry = CString::new(format!("{k}={v}"));
        set.push(entry.map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?);
    }
    let mut ptrs = Vec::new();
    // SAFETY: environ is the NULL-terminated array of C strings the process was started with
    // (the daemon never changes its environment).
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = std::ffi::CStr::from_ptr(*p).to_bytes();
            let key = entry.split(|&b| b == b'=').next().unwrap_or(entry);
            if !env.iter().any(|(k, _)| k.as_bytes() == key) {
                ptrs.push(*p);
            }
            p = p.add(1);
        }
    }
    ptrs.extend(set.iter().map(|c| c.as_ptr()));
    ptrs.push(std::ptr::null());
    Ok((set, ptrs))
}

/// fork + exec, as std's Command with a `pre_exec` does: an exec failure comes back through a
/// close-on-exec pipe as an error of the call. Children get the signals the daemon blocks
/// unblocked again, SIGPIPE at its default (std ignores it), a process group of their own, and
/// optionally another user; stdin is /dev/null.
fn start(
    argv: &[CString],
    run_as: Option<RunAs>,
    out: ChildOut<'_>,
    env: &[(&str, &str)],
) -> io::Result<Child> {
    if env.is_empty() {
        // SAFETY: environ is the process's NULL-terminated environment, which the daemon
        // never changes; nothing to add means nothing to allocate (a track script's run).
        let envp = unsafe { environ };
        return exec_pointers(argv, envp, run_as, out);
    }
    let (_set, envp) = environment(env)?;
    exec_pointers(argv, envp.as_ptr(), run_as, out)
}

/// [`fork_exec`] with `argv` as the NULL-terminated array exec wants: on the stack unless the
/// line is long. Not generic: one copy of [`fork_exec`] for both callers.
fn exec_pointers(
    argv: &[CString],
    envp: *const *const libc::c_char,
    run_as: Option<RunAs>,
    out: ChildOut<'_>,
) -> io::Result<Child> {
    let mut short = [std::ptr::null(); 32];
    let mut long = Vec::new();
    let ptrs = if argv.len() < short.len() {
        &mut short[..=argv.len()]
    } else {
        long.resize(argv.len() + 1, std::ptr::null());
        &mut long[..]
    };
    for (p, s) in ptrs.iter_mut().zip(argv) {
        *p = s.as_ptr();
    }
    fork_exec(ptrs, envp, run_as, out)
}

/// [`start`] with the pointer arrays made (both NULL-terminated).
fn fork_exec(
    argv_ptrs: &[*const libc::c_char],
    envp: *const *const libc::c_char,
    run_as: Option<RunAs>,
    out: ChildOut<'_>,
) -> io::Result<Child> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh from pipe2 and owned from here on.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let out_fd = match out {
        ChildOut::Inherit => None,
        ChildOut::Null => Some(null.as_raw_fd()),
        ChildOut::To(fd) => Some(fd.as_raw_fd()),
    };
    // SAFETY: the child calls only async-signal-safe functions before exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the child; every pointer was prepared before the fork.
        unsafe {
            let errno = child_setup(null.as_raw_fd(), out_fd, run_as).unwrap_or_else(|| {
                libc::execve(argv_ptrs[0], argv_ptrs.as_ptr(), envp);
                *libc::__errno_location()
            });
            let bytes = errno.to_ne_bytes();
            libc::write(write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127);
        }
    }
    drop(write);
    let mut child = Child { pid, status: None };
    let mut buf = [0u8; 4];
    loop {
        // SAFETY: read into a local buffer.
        let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n == 4 {
            let _ = child.wait();
            return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf)));
        }
        return Ok(child);
    }
}

/// Between fork and exec: `Some(errno)` when a step failed.
///
/// # Safety
/// Only in the child of a fork.
unsafe fn child_setup(
    null: libc::c_int,
    out: Option<libc::c_int>,
    run_as: Option<RunAs>,
) -> Option<libc::c_int> {
    let redirect = |from: libc::c_int, to: libc::c_int| {
        // dup2 onto itself keeps close-on-exec: clear it instead.
        if from == to {
            libc::fcntl(to, libc::F_SETFD, 0) >= 0
        } else {
            libc::dup2(from, to) >= 0
        }
    };
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    let ok = redirect(null, 0)
        && out.map_or(true, |fd| redirect(fd, 1) && redirect(fd, 2))
        && libc::setpgid(0, 0) == 0
        && libc::signal(libc::SIGPIPE, libc::SIG_DFL) != libc::SIG_ERR
        && libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == 0
        && run_as.map_or(true, |u| {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(u.gid) == 0
                && libc::setuid(u.uid) == 0
        });
    if ok {
        None
    } else {
        Some(*libc::__errno_location())
    }
}

/// Whether the kernel can exec `file` itself: a `#!` script or an ELF binary (or a file we
/// cannot read, which only exec can tell).
fn runs_directly(file: &str) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let read = std::fs::File::open(file).and_then(|mut f| f.read(&mut head));
    match read {
        Ok(n) => head[..n].starts_with(b"#!") || head[..n] == *b"\x7fELF",
        Err(_) => true,
    }
}

/// A user to run as, resolved before the fork (no lookups between fork and exec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// keepalived's `USER [GROUP]` (`script_user`, a script's `user`): None for no user, and
    /// for root with no group or root's; an unknown user or group is an error message. A
    /// group given replaces the user's own.
    pub fn lookup(spec: Option<&str>) -> Result<Option<RunAs>, String> {
        let Some(spec) = spec else {
            return Ok(None);
        };
        let Some((user, group)) = user_and_group(spec) else {
            return Err("not USER or USER GROUP".into());
        };
        let gid = match group {
            Some(name) => Some(group_id(name)?),
            None => None,
        };
        if user == "root" && gid.map_or(true, |g| g == 0) {
            return Ok(None);
        }
        let mut run_as = Self::passwd(user)?;
        if let Some(gid) = gid {
            run_as.gid = gid;
        }
        Ok(Some(run_as))
    }

    fn passwd(name: &str) -> Result<RunAs, String> {
        let c = CString::new(name).map_err(|_| format!("no user {name:?}"))?;
        let mut buf = vec![0u8; 1024];
        loop {
            // SAFETY: a zeroed passwd is a valid out-parameter.
            let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
            let mut found = std::ptr::null_mut();
            // SAFETY: getpwnam_r on a NUL-terminated name, into `pw` and `buf`.
            let rv = unsafe {
                libc::getpwnam_r(
                    c.as_ptr(),
                    &mut pw,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut found,
                )
            };
            match rv {
                0 if found.is_null() => return Err(format!("no user {name:?}")),
                0 => {
                    return Ok(RunAs {
                        uid: pw.pw_uid,
                        gid: pw.pw_gid,
                    })
                }
                libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
                e => {
                    let e = io::Error::from_raw_os_error(e);
                    return Err(format!("looking up user {name:?}: {e}"));
                }
            }
        }
    }
}

/// Whether `USER [GROUP]` runs a script as the daemon itself (as [`RunAs::lookup`]'s None,
/// without looking anything up): root, alone or with root's group.
pub fn runs_as_daemon(spec: &str) -> bool {
    matches!(user_and_group(spec), Some(("root", None | Some("root"))))
}

/// `USER [GROUP]` split in its words; None when there is no user or a third word.
fn user_and_group(spec: &str) -> Option<(&str, Option<&str>)> {
    let mut words = spec.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(user), group, None) => Some((user, group)),
        _ => None,
    }
}

/// A group of this host by name.
pub fn group_id(name: &str) -> Result<u32, String> {
    // SAFETY: getgrnam on a NUL-terminated name; the daemon has no other threads, and the
    // entry is read before any other call.
    let entry = CString::new(name).map_or(std::ptr::null_mut(), |c| unsafe {
        libc::getgrnam(c.as_ptr())
    });
    if entry.is_null() {
        return Err(format!("no group {name:?}"));
    }
    // SAFETY: a non-null entry from getgrnam.
    Ok(unsafe { (*entry).gr_gid })
}

/// Starts `line` plus `args` (see [`Program`]), as root, with `env` added.
pub fn spawn(
    line: &str,
    args: &[&str],
    out: ChildOut<'_>,
    env: &[(&str, &str)],
) -> Result<Child, String> {
    secure::Policy::default().spawn(line, args, out, env)
}

/// Signals a whole process group started by [`spawn`].
pub fn kill_group(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: plain kill(2) on a process group we created.
        unsafe { libc::kill(-pid, signal) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn run_as_takes_keepalived_user_and_group() {
        assert_eq!(RunAs::lookup(None), Ok(None));
        assert_eq!(RunAs::lookup(Some("root")), Ok(None));
        assert_eq!(RunAs::lookup(Some("root root")), Ok(None));
        let nobody = RunAs::lookup(Some("nobody")).unwrap().unwrap();
        let with_root = RunAs::lookup(Some(" nobody  root ")).unwrap().unwrap();
        assert_eq!((with_root.uid, with_root.gid), (nobody.uid, 0));
        assert!(RunAs::lookup(Some("nobody nogrp-tinyvrrp")).is_err());
        assert!(RunAs::lookup(Some("nobody root root")).is_err());
        assert!(RunAs::lookup(Some("")).is_err());
        assert!(runs_as_daemon("root") && runs_as_daemon("root  root"));
        assert!(!runs_as_daemon("root wheel") && !runs_as_daemon("nobody"));
    }

    fn words(line: &str) -> Vec<String> {
        split_words(line).expect("splits")
    }

    #[test]
    fn words_split_as_keepalived_does() {
        assert_eq!(
            words("  killall  -0\thaproxy "),
            ["killall", "-0", "haproxy"]
        );
        assert_eq!(
            words("sh -c 'pidof x || exit 1'"),
            ["sh", "-c", "pidof x || exit 1"]
        );
        assert_eq!(words(r#"a"b c"d 'e"f' "g'h""#), ["ab cd", "e\"f", "g'h"]);
        assert_eq!(
            words(r#"a\ b \"c\" \x41\101\t\cA"#),
            ["a b", "\"c\"", "AA\t\u{1}"]
        );
        assert_eq!(words("x || y"), ["x", "||", "y"]);
        assert_eq!(words(r"'a\'b'"), ["a'b"]);
        assert!(split_words("a 'b").is_err());
        assert!(split_words("a \\").is_err());
        assert!(split_words("   ").is_err());
    }

    #[test]
    fn bare_names_are_found_in_path() {
        let sh = find_program("sh").expect("sh in PATH");
        assert!(sh.starts_with('/') && sh.ends_with("/sh"), "{sh}");
        assert_eq!(find_program("/bin/sh"), Ok("/bin/sh".to_string()));
        assert_eq!(
            find_program("tinyvrrp-no-such-program"),
            Err(CommandError::NotFound("tinyvrrp-no-such-program".into()))
        );
        assert_eq!(
            find_program("./x"),
            Err(CommandError::Relative("./x".into()))
        );
        assert_eq!(
            find_program("/etc"),
            Err(CommandError::NotExecutable("/etc".into()))
        );
    }

    fn run(line: &str, args: &[&str]) -> (i32, String) {
        use std::io::Read;
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let mut child = spawn(line, args, ChildOut::To(write.as_fd()), &[]).expect("runs");
        drop(write);
        let mut out = String::new();
        std::fs::File::from(read)
            .read_to_string(&mut out)
            .expect("reads");
        let status = child.wait().expect("waits");
        (status.code().unwrap_or(-1), out)
    }

    #[test]
    fn env_is_added_and_exec_errors_come_back() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let env = [("TINYVRRP_T", "a b"), ("PATH", "/x")];
        let mut child = spawn(
            "sh -c 'echo \"$TINYVRRP_T:$PATH\"'",
            &[],
            ChildOut::To(write.as_fd()),
            &env,
        )
        .expect("runs");
        drop(write);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut out).expect("reads");
        assert!(child.wait().expect("waits").success());
        assert_eq!(out, "a b:/x\n");
        let p = Program::with_exec(vec!["/nonexistent/tinyvrrp".into()], How::Exec, None)
            .expect("builds");
        let e = p
            .spawn(&[], None, ChildOut::Null, &[])
            .expect_err("no such file");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    /// A line longer than the on-stack pointer array runs too, arguments added or not.
    #[test]
    fn long_command_lines_run() {
        let words: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
        let line = format!("echo {}", words.join(" "));
        assert_eq!(run(&line, &[]), (0, format!("{}\n", words.join(" "))));
        assert_eq!(run(&line, &["x"]), (0, format!("{} x\n", words.join(" "))));
    }

    /// A NUL character cannot go to exec: the line is refused when read, not at each run.
    #[test]
    fn a_nul_character_is_refused_when_parsed() {
        assert_eq!(
            Program::parse(r"/bin/true a\x00b"),
            Err(CommandError::Syntax("a NUL character"))
        );
        assert_eq!(
            Program::parse(r"</etc/hostname \0"),
            Err(CommandError::Syntax("a NUL character"))
        );
    }

    /// No shell unless asked for: shell operators are plain arguments, as in keepalived.
    #[test]
    fn commands_run_without_a_shell_unless_asked() {
        assert_eq!(
            run("echo a || b $HOME", &["X"]),
            (0, "a || b $HOME X\n".into())
        );
        assert_eq!(
            run("sh -c 'echo $0-$1 && exit 3'", &["p", "q"]),
            (3, "p-q\n".into())
        );
        let p = Program::parse("true").expect("true");
        assert!(p.file().0.ends_with("/true") && p.file().1 == Some("true"));
        // keepalived's file-readable test.
        assert_eq!(run("</etc/hostname", &[]).0, 0);
        assert_ne!(run("</nonexistent/tinyvrrp", &[]).0, 0);
    }

    /// A script without `#!` is run by /bin/sh (keepalived: system() when libmagic says it
    /// is no executable).
    #[test]
    fn a_script_without_shebang_runs_in_sh() {
        let path = std::env::temp_dir().join(format!("tinyvrrp-noshebang-{}", std::process::id()));
        std::fs::write(&path, "echo \"got $1\"\nexit 4\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let result = run(&path.display().to_string(), &["arg"]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(result, (4, "got arg\n".into()));
    }
}
