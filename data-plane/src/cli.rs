//! Command-line interface of `portico-dp`. Every flag also reads `PORTICO_<NAME>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "portico-dp",
    version,
    about = "Portico data plane: a Kong-compatible proxy",
    long_about = "Portico data plane.\n\nProxies traffic by Kong's routing rules. Its \
configuration comes either from a control plane (--cluster-control-plane), cached on disk \
under --prefix so it keeps serving across control-plane outages and its own restarts, or \
from a declarative kong.yml file (--declarative-config, standalone mode)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Plain HTTP proxy address (HTTP/1.1 and h2c).
    #[arg(long, env = "PORTICO_PROXY_LISTEN", default_value = "0.0.0.0:8000")]
    pub proxy_listen: SocketAddr,
    /// TLS proxy address (HTTP/1.1 and HTTP/2 by ALPN).
    #[arg(long, env = "PORTICO_PROXY_LISTEN_TLS", default_value = "0.0.0.0:8443")]
    pub proxy_listen_tls: SocketAddr,
    /// Status API address: /status, /status/ready, /metrics.
    #[arg(long, env = "PORTICO_STATUS_LISTEN", default_value = "127.0.0.1:8100")]
    pub status_listen: SocketAddr,
    /// Directory for the node id and the cached configuration.
    #[arg(long, env = "PORTICO_PREFIX", default_value = ".portico")]
    pub prefix: PathBuf,
    /// Standalone mode: serve this declarative file (kong.yml); SIGHUP reloads it.
    #[arg(long, env = "PORTICO_DECLARATIVE_CONFIG")]
    pub declarative_config: Option<PathBuf>,
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, env = "PORTICO_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Parses the command line, runs the command, and maps failure to a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portico-dp: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(_) => anyhow::bail!("serve is not available in this build yet"),
    }
}
