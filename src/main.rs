//! The `tinyvrrp` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use tinyvrrp::{alloc_count::CountingAlloc, config, daemon, pidfile, signals, status, timestamp};

mod syslog;

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// tinyvrrp: a small VRRP (RFC 5798 / 9568 / 3768) floating-IP daemon.
#[derive(FromArgs)]
struct Cli {
    /// configuration file (default /etc/tinyvrrp.conf); `-` reads it from stdin (with --check;
    /// messages then name it `-`)
    #[argh(option, short = 'f', default = "PathBuf::from(\"/etc/tinyvrrp.conf\")")]
    config: PathBuf,
    /// validate the configuration and exit: 0 when good, 1 with file:line errors
    #[argh(switch)]
    check: bool,
    /// log level: error, warn, info, debug, trace (default info)
    #[argh(option, short = 'l', default = "String::from(\"info\")")]
    log_level: String,
    /// log to the local syslog daemon (/dev/log, facility daemon, ident tinyvrrp) instead of
    /// stderr; falls back to stderr when /dev/log cannot be reached
    #[argh(switch)]
    syslog: bool,
    /// write the daemon's PID to this file
    #[argh(option)]
    pidfile: Option<PathBuf>,
    /// unix socket the status is served on (default /run/tinyvrrp.sock)
    #[argh(option, default = "PathBuf::from(status::DEFAULT_SOCKET)")]
    status_socket: PathBuf,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Status(StatusCmd),
    #[cfg(feature = "import")]
    Import(ImportCmd),
}

/// Print a keepalived configuration as tinyvrrp's INI on stdout, one warning on stderr for each
/// thing not carried over. Exit status: 0 = behaves like the original for VRRP (only things
/// without VRRP effect dropped), 1 = something with a VRRP effect was lost (the INI is still
/// printed), 2 = unreadable file or syntax error.
#[cfg(feature = "import")]
#[derive(FromArgs)]
#[argh(subcommand, name = "import")]
struct ImportCmd {
    /// keepalived's config id, for `@ID` / `@^ID` lines (default: the host name up to the
    /// first dot, as keepalived)
    #[argh(option)]
    config_id: Option<String>,
    /// the keepalived.conf to read (`-- -` reads stdin)
    #[argh(positional)]
    file: String,
}

/// Print the running daemon's instances, states and counters.
#[derive(FromArgs)]
#[argh(subcommand, name = "status")]
struct StatusCmd {
    /// print the status as one JSON object (on failure: {"error":"..."}, exit status 1)
    #[argh(switch)]
    json: bool,
    /// print the status in the Prometheus text format, as `metrics_listen` serves it (for
    /// node_exporter's textfile collector; on failure `keepalived_up 0`, exit status 1)
    #[argh(switch)]
    prometheus: bool,
}

fn init_logging(level: &str, to_syslog: bool) -> Result<(), String> {
    let filter: log::LevelFilter = level
        .parse()
        .map_err(|_| format!("unknown log level {level:?} (error, warn, info, debug, trace)"))?;
    if to_syslog {
        let path = std::path::Path::new(syslog::DEFAULT_PATH);
        match syslog::Syslog::connect(path, "tinyvrrp", filter) {
            Ok(logger) => return logger.install().map_err(|e| e.to_string()),
            Err(e) => eprintln!("tinyvrrp: {e}; logging to stderr"),
        }
    }
    env_logger::Builder::new()
        .filter_level(filter)
        .format(|buf, record| {
            use std::io::Write;
            writeln!(
                buf,
                "[{} {:<5} {}] {}",
                timestamp::UtcMillis(std::time::SystemTime::now()),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .target(env_logger::Target::Stderr)
        .init();
    Ok(())
}

#[cfg(feature = "import")]
fn import(cmd: &ImportCmd) -> ExitCode {
    use tinyvrrp::import;
    let config_id = cmd.config_id.clone().unwrap_or_else(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        name.trim().split('.').next().unwrap_or("").to_string()
    });
    let result = if cmd.file == "-" {
        match config::read_stdin_capped() {
            Ok(text) => import::import_text("-", &text, &config_id, &import::FsLoader),
            Err(e) => Err(import::ImportError::Read {
                file: "-".into(),
                detail: config::describe(&e),
            }),
        }
    } else {
        import::import(&cmd.file, &config_id, &import::FsLoader)
    };
    match result {
        Ok(outcome) => {
            print!("{}", outcome.ini);
            for w in &outcome.warnings {
                eprintln!("{w}");
            }
            ExitCode::from(outcome.exit_status())
        }
        Err(e) => {
            eprintln!("tinyvrrp import: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes the status to stdout; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinyvrrp: writing the status: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `status --prometheus`: the exposition `metrics_listen` serves, from the same renderer.
#[cfg(feature = "metrics")]
fn prometheus(text: &str) -> ExitCode {
    let mut out = String::with_capacity(text.len() * 4);
    tinyvrrp::metrics::render(text, &mut out);
    emit(&out)
}

/// The router builds leave the renderer out (the cargo feature `metrics`).
#[cfg(not(feature = "metrics"))]
fn prometheus(_text: &str) -> ExitCode {
    eprintln!("tinyvrrp: this build has no Prometheus output (cargo feature `metrics`)");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("tinyvrrp {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    #[cfg(feature = "import")]
    if let Some(Command::Import(cmd)) = &cli.command {
        return import(cmd);
    }
    if let Some(Command::Status(cmd)) = &cli.command {
        let text = match status::query(&cli.status_socket) {
            Ok(text) => text,
            Err(e) => {
                let msg = format!("status from {}: {e}", cli.status_socket.display());
                if cmd.json {
                    println!("{}", status::error_json(&msg));
                } else if cmd.prometheus && cfg!(feature = "metrics") {
                    let mut out = String::new();
                    tinyvrrp::metrics::render_down(&mut out);
                    print!("{out}");
                }
                eprintln!("tinyvrrp: {msg}");
                return ExitCode::FAILURE;
            }
        };
        if cmd.prometheus {
            return prometheus(&text);
        }
        if !cmd.json {
            return emit(&text);
        }
        return match status::to_json(&text) {
            Ok(json) => emit(&format!("{json}\n")),
            Err(e) => {
                println!("{}", status::error_json(&e.to_string()));
                eprintln!("tinyvrrp: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.check {
        return match config::load_for_check(&cli.config) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                println!(
                    "{}: OK ({} instance(s))",
                    cli.config.display(),
                    loaded.config.instances.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        };
    }
    run_daemon(cli)
}

/// The daemon: signals blocked before anything else (see `signals`), then the locked pidfile.
fn run_daemon(cli: Cli) -> ExitCode {
    if let Err(e) = signals::block() {
        // As io::Error, like every other errno the daemon prints: nix's Display would bring
        // its table of errno names into the binary for this one message.
        eprintln!("tinyvrrp: blocking signals: {}", std::io::Error::from(e));
        return ExitCode::FAILURE;
    }
    if let Err(e) = init_logging(&cli.log_level, cli.syslog) {
        eprintln!("tinyvrrp: {e}");
        return ExitCode::FAILURE;
    }
    let pidfile = match cli.pidfile.as_deref().map(pidfile::Pidfile::create) {
        Some(Err(e)) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
        other => other,
    };
    let opts = daemon::Options {
        config_path: cli.config,
        status_socket: cli.status_socket,
    };
    let result = daemon::Daemon::new(opts).and_then(daemon::Daemon::run);
    drop(pidfile);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
