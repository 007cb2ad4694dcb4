//! Command-line interface of `portico-cp`. Every flag also reads `PORTICO_<NAME>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "portico-cp",
    version,
    about = "Portico control plane: Kong-compatible Admin API and configuration store",
    long_about = "Portico control plane.\n\nOwns the configuration database (Postgres, or an \
embedded SQLite file under --prefix when no --database-url is given), serves the \
Kong-compatible Admin API, and streams versioned configuration snapshots to data planes \
over mutually authenticated gRPC."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane: Admin API plus the cluster listener for data planes.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit (serve applies them too).
    Migrate(DatabaseArgs),
    /// Ask the local control plane whether it is healthy (GET /status answers and the
    /// database is reachable); exit 0 if so, 1 otherwise. For container health checks.
    Health(crate::health::HealthArgs),
    /// Generate cluster certificates for mTLS between control and data planes.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Import or export declarative configuration (Kong's kong.yml, _format_version 3.0).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Postgres URL (postgres://user@host:port/db). Without it, an embedded SQLite
    /// database is kept under --prefix.
    #[arg(long, env = "PORTICO_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the embedded database and other state.
    #[arg(long, env = "PORTICO_PREFIX", default_value = ".portico")]
    pub prefix: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address of the Admin API.
    #[arg(long, env = "PORTICO_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    pub admin_listen: SocketAddr,
    /// When set, every Admin API request must carry this value in a `Kong-Admin-Token` header.
    #[arg(long, env = "PORTICO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, env = "PORTICO_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The cluster listener data planes connect to. It starts when `--cluster-cert` is given;
/// without it the control plane serves only the Admin API.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Address data planes connect to (mTLS gRPC).
    #[arg(long, env = "PORTICO_CLUSTER_LISTEN", default_value = "0.0.0.0:8005")]
    pub cluster_listen: SocketAddr,
    /// Cluster mTLS mode: `shared` (every node presents the same certificate) or `pki`
    /// (certificates signed by --cluster-ca-cert).
    #[arg(
        long,
        env = "PORTICO_CLUSTER_MTLS",
        default_value = "shared",
        value_name = "shared|pki"
    )]
    pub cluster_mtls: common::cluster_tls::MtlsMode,
    /// The control plane's cluster certificate (PEM). Enables the cluster listener.
    #[arg(long, env = "PORTICO_CLUSTER_CERT")]
    pub cluster_cert: Option<PathBuf>,
    /// The key of --cluster-cert (PEM).
    #[arg(long, env = "PORTICO_CLUSTER_CERT_KEY")]
    pub cluster_cert_key: Option<PathBuf>,
    /// pki mode: the CA that signs data plane certificates (PEM).
    #[arg(long, env = "PORTICO_CLUSTER_CA_CERT")]
    pub cluster_ca_cert: Option<PathBuf>,
    /// Seconds a disconnected data plane stays listed in /clustering/data-planes (Kong's
    /// cluster_data_plane_purge_delay; 14 days by default).
    #[arg(
        long,
        env = "PORTICO_CLUSTER_DATA_PLANE_PURGE_DELAY",
        default_value_t = crate::cluster::registry::DEFAULT_PURGE_DELAY_SECS,
        value_name = "SECONDS"
    )]
    pub cluster_data_plane_purge_delay: u64,
    /// Seconds between heartbeats to each data plane (Kong: 30).
    #[arg(
        long,
        env = "PORTICO_CLUSTER_HEARTBEAT_INTERVAL",
        default_value_t = 30,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub cluster_heartbeat_interval: u64,
    /// Seconds of silence after which a data plane is considered gone (Kong: 45).
    #[arg(
        long,
        env = "PORTICO_CLUSTER_HEARTBEAT_TIMEOUT",
        default_value_t = 45,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub cluster_heartbeat_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Write cluster certificates into --out (created if missing).
    Generate(CertsGenerateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CertsGenerateArgs {
    /// Output directory (created if missing; an existing directory is fine as long as no
    /// file would be overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// `shared`: one certificate for the control plane and every data plane
    /// (cluster.crt, cluster.key). `pki`: a CA and one certificate per node (ca.crt, ca.key,
    /// cp.crt, cp.key, NAME.crt, NAME.key).
    #[arg(long, default_value = "shared", value_name = "shared|pki")]
    pub mode: common::cluster_tls::MtlsMode,
    /// A data plane to issue a certificate for (pki mode); repeat once per data plane.
    #[arg(long = "dp", value_name = "NAME")]
    pub dp: Vec<String>,
    /// An extra name (DNS name or IP address) for the control plane certificate, besides
    /// localhost, 127.0.0.1 and ::1; repeat as needed.
    #[arg(long = "cp-host", value_name = "NAME")]
    pub cp_host: Vec<String>,
    /// Validity of the certificates, in days.
    #[arg(long, default_value_t = common::cluster_tls::generate::DEFAULT_VALIDITY_DAYS)]
    pub days: u32,
    /// Start the validity this many days in the past (tests use it for expired certificates).
    #[arg(long, default_value_t = 0, hide = true)]
    pub backdate_days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Write nothing and succeed when every file already exists (for one-shot jobs that run
    /// at every start, like the Compose file's `certs` service); when only some exist, fail
    /// as without this flag.
    #[arg(long, conflicts_with = "force")]
    pub keep_existing: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Replace the stored configuration with a declarative file (kong.yml, YAML or JSON),
    /// all or nothing: every error is listed and nothing changes unless the whole file is
    /// valid. Importing what is already stored changes nothing.
    Import(ConfigImportArgs),
    /// Write the stored configuration as declarative YAML to standard output.
    Export(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ConfigImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The declarative file (YAML or JSON).
    pub file: PathBuf,
}

/// Parses the command line, runs the command, and maps failure to a message and exit code 1.
pub fn main() -> ExitCode {
    main_with_plugins(Vec::new())
}

/// `portico-cp` that also knows the custom plugins `custom` (their schemas validate the
/// Admin API's and `config import`'s plugin configurations, and their versions are what
/// data planes are checked against): the control plane of a build with custom plugins,
/// see `docs/custom-plugins.md`. The data plane's counterpart is
/// `data_plane::cli::main_with_plugins`.
pub fn main_with_plugins(custom: Vec<common::schema::PluginDef>) -> ExitCode {
    let cli = Cli::parse();
    let names: Vec<String> = custom
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    let result = common::schema::register_plugins(custom)
        .map_err(anyhow::Error::from)
        .and_then(|()| run(cli, &names));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portico-cp: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command; `custom` names the registered custom plugins (for the log).
fn run(cli: Cli, custom: &[String]) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => runtime()?.block_on(crate::store::migrate_command(&args)),
        Command::Health(args) => crate::health::check(&args),
        Command::Certs {
            command: CertsCommand::Generate(args),
        } => {
            let written = crate::certs::generate(&args)?;
            if written.is_empty() {
                println!("kept the existing files in {}", args.out.display());
            }
            for path in written {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Command::Serve(args) => {
            crate::serve::init_logging(&args.log_level)?;
            if !custom.is_empty() {
                tracing::info!(plugins = %custom.join(", "), "custom plugins registered");
            }
            runtime()?.block_on(crate::serve::serve(args))
        }
        Command::Config {
            command: ConfigCommand::Import(args),
        } => runtime()?.block_on(crate::declarative::import_command(&args)),
        Command::Config {
            command: ConfigCommand::Export(args),
        } => runtime()?.block_on(crate::declarative::export_command(&args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
