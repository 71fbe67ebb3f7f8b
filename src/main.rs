//! The `hookbay` binary: `hookbay serve` runs the relay.

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hookbay::config::Config;

#[derive(Parser)]
#[command(
    name = "hookbay",
    version,
    about = "Multi-tenant inbound webhook relay on Redis streams"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the relay.
    Serve(Config),
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
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
