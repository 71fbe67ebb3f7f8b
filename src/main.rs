//! The `hookbay` binary: `hookbay serve` runs the relay; the other
//! commands operate a store (backup, export, …) or a running relay
//! through its API (tenants, sources, queues, tail, …; see `cli`).

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hookbay::config::Config;

#[derive(Parser)]
#[command(
    name = "hookbay",
    version,
    about = "Multi-tenant inbound webhook relay (embedded store or Redis streams)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the relay.
    Serve(Box<Config>),
    /// Snapshot the embedded store into a new file, consistently, while the
    /// relay keeps serving from it.
    Backup(BackupArgs),
    /// Put a snapshot made by `backup` in place as a new data dir's store.
    Restore(RestoreArgs),
    /// Write the whole store (either backend) as NDJSON, to move it to the
    /// other backend with `import`. Stop the relay first on the embedded
    /// store (or export from a `backup` restored elsewhere).
    Export(ExportArgs),
    /// Read an `export` file into an empty store (either backend).
    Import(ImportArgs),
    /// Forward a queue to a local HTTP endpoint (SSE, durable, reconnecting).
    Listen(ListenArgs),
    /// Print the OpenAPI document (what openapi/openapi.json holds).
    Openapi,
    /// Save a relay URL and token as a profile (~/.config/hookbay/config.toml).
    Login(hookbay::cli::LoginArgs),
    #[command(flatten)]
    Ops(hookbay::cli::Ops),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The embedded store's data dir.
    #[arg(long, env = "HOOKBAY_DATA_DIR", default_value = "./hookbay-data")]
    data_dir: std::path::PathBuf,
    /// The snapshot file to write (must not exist).
    #[arg(long)]
    to: std::path::PathBuf,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// A snapshot written by `hookbay backup`.
    #[arg(long)]
    from: std::path::PathBuf,
    /// The data dir to restore into (must hold no store yet).
    #[arg(long, env = "HOOKBAY_DATA_DIR", default_value = "./hookbay-data")]
    data_dir: std::path::PathBuf,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The file to write (must not exist).
    #[arg(long)]
    to: std::path::PathBuf,
    /// Where the store is: the same settings as `serve`.
    #[command(flatten)]
    store: Box<Config>,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// A file written by `hookbay export`.
    #[arg(long)]
    from: std::path::PathBuf,
    /// Where the store is: the same settings as `serve`.
    #[command(flatten)]
    store: Box<Config>,
}

#[derive(clap::Args)]
struct ListenArgs {
    /// Relay base URL, e.g. https://hooks.example.com
    #[arg(long, env = "HOOKBAY_URL")]
    url: String,
    /// Queue id (q_…).
    #[arg(long)]
    queue: String,
    /// Tenant token with the consume scope.
    #[arg(long, env = "HOOKBAY_TOKEN", hide_env_values = true)]
    token: String,
    /// Where to send each message, e.g. http://localhost:3000/hook (the
    /// message's sub-path and query are appended).
    #[arg(long)]
    forward_to: String,
    /// Messages in flight at once.
    #[arg(long, default_value_t = 10)]
    prefetch: usize,
    /// Dead-letter on a 4xx answer (the default; accepted for clarity).
    #[arg(long, conflicts_with = "nack_on_4xx")]
    #[allow(dead_code)]
    reject_on_4xx: bool,
    /// Redeliver on a 4xx answer instead of dead-lettering.
    #[arg(long)]
    nack_on_4xx: bool,
    /// Seconds to wait for the target before nacking.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Pull with /next until the queue is empty, then exit (non-zero if
    /// any delivery was nacked or rejected).
    #[arg(long)]
    once: bool,
    /// One JSON object per line (each delivery, then the summary).
    #[arg(long)]
    json: bool,
}

async fn listen(a: ListenArgs) -> std::process::ExitCode {
    use hookbay::listen::{On4xx, Options};
    let opts = Options {
        url: a.url,
        queue: a.queue,
        token: a.token,
        forward_to: a.forward_to,
        prefetch: a.prefetch.clamp(1, 1000),
        on_4xx: if a.nack_on_4xx {
            On4xx::Nack
        } else {
            On4xx::Reject
        },
        timeout: std::time::Duration::from_secs(a.timeout.max(1)),
        json: a.json,
        dead_after: hookbay::listen::DEAD_AFTER,
    };
    let line = |s: &hookbay::listen::Summary| {
        if a.json {
            s.json().to_string()
        } else {
            s.line()
        }
    };
    if a.once {
        return match hookbay::listen::run_once(opts).await {
            Ok(s) => {
                println!("{}", line(&s));
                if s.all_acked() {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("hookbay listen: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let summary = hookbay::listen::run(opts, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    println!("\n{}", line(&summary));
    std::process::ExitCode::SUCCESS
}

/// Open the store, run an export or import on it, print the summary.
async fn transfer_cmd<F, Fut>(what: &str, cfg: &Config, f: F) -> std::process::ExitCode
where
    F: FnOnce(hookbay::store::Store) -> Fut,
    Fut: std::future::Future<Output = Result<hookbay::transfer::Summary, String>>,
{
    let store = match hookbay::app::open_store(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hookbay {what}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match f(store).await {
        Ok(s) => {
            println!("{what}: {s}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hookbay {what}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Print a backup/restore outcome; the exit code says how it went.
fn summary(
    what: &str,
    r: Result<
        Result<hookbay::store::embedded::BackupSummary, hookbay::store::embedded::BackupError>,
        tokio::task::JoinError,
    >,
) -> std::process::ExitCode {
    match r {
        Ok(Ok(s)) => {
            println!("{what}: {s}");
            std::process::ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("hookbay {what}: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hookbay {what}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter);
    if cfg.log_format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

/// Apply `--config FILE` / `HOOKBAY_CONFIG` before anything reads the
/// environment: each `HOOKBAY_*` line sets that variable unless the
/// environment already has it. Runs before any thread starts.
fn apply_config_file() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=").map(String::from).or_else(|| {
            (a == "--config")
                .then(|| args.get(i + 1).cloned())
                .flatten()
        })
    });
    let Some(path) = from_args.or_else(|| std::env::var("HOOKBAY_CONFIG").ok()) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    for (k, v) in hookbay::config::parse_file(&text).map_err(|e| format!("{path}: {e}"))? {
        if std::env::var_os(&k).is_none() {
            std::env::set_var(k, v);
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    if let Err(e) = apply_config_file() {
        eprintln!("hookbay: {e}");
        return std::process::ExitCode::from(2);
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("hookbay: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Listen(a) => listen(a).await,
        Cmd::Backup(a) => {
            let r = tokio::task::spawn_blocking(move || {
                hookbay::store::embedded::backup(&a.data_dir, &a.to)
            })
            .await;
            summary("backup", r)
        }
        Cmd::Restore(a) => {
            let r = tokio::task::spawn_blocking(move || {
                hookbay::store::embedded::restore(&a.from, &a.data_dir)
            })
            .await;
            summary("restore", r)
        }
        Cmd::Export(a) => {
            transfer_cmd("export", &a.store, |store| async move {
                let file = std::fs::File::options()
                    .write(true)
                    .create_new(true)
                    .open(&a.to)
                    .map_err(|e| format!("{}: {e}", a.to.display()))?;
                let mut out = std::io::BufWriter::new(file);
                let s = hookbay::transfer::export(&store, &mut out)
                    .await
                    .map_err(|e| e.to_string())?;
                out.into_inner()
                    .map_err(|e| e.to_string())?
                    .sync_all()
                    .map_err(|e| e.to_string())?;
                Ok(s)
            })
            .await
        }
        Cmd::Import(a) => {
            transfer_cmd("import", &a.store, |store| async move {
                let file = std::fs::File::open(&a.from)
                    .map_err(|e| format!("{}: {e}", a.from.display()))?;
                let total = file.metadata().ok().map(|m| m.len());
                hookbay::transfer::import(&store, std::io::BufReader::new(file), total)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
        }
        Cmd::Login(a) => match hookbay::cli::login(a).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Cmd::Ops(op) => hookbay::cli::run(op).await,
        Cmd::Openapi => {
            println!("{}", hookbay::http::openapi::json());
            std::process::ExitCode::SUCCESS
        }
        Cmd::Serve(cfg) => {
            init_logging(&cfg);
            let running = match hookbay::app::start(&cfg).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("hookbay: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            match running.server.await {
                Ok(Ok(())) => std::process::ExitCode::SUCCESS,
                Ok(Err(e)) => {
                    eprintln!("hookbay: server error: {e}");
                    std::process::ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("hookbay: server task failed: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
