//! Command-line interface of `portico-dp`. Every flag also reads `PORTICO_<NAME>`; names
//! follow Kong's `kong.conf` keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::node::{Node, NodeConfig};
use crate::proxy::settings::{
    EnabledHeaders, ErrorDefaultType, KeepaliveSettings, ProxySettings, TrustedIps,
    parse_port_maps, parse_real_ip_header,
};
use crate::runtime::{CompileEnv, RuntimeHandle};
use crate::standalone::DeclarativeSource;

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

// Parsed once at start; boxing `ServeArgs` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Serve(ServeArgs),
    /// Ask the local node's status API whether it is ready (/status/ready); exit 0 if so,
    /// 1 otherwise. For container health checks: the image has no shell or HTTP client.
    Health(crate::health::HealthArgs),
}

/// A listen address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

pub(crate) fn parse_listen(s: &str) -> Result<Listen, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(Listen(None));
    }
    s.parse::<SocketAddr>()
        .map(|a| Listen(Some(a)))
        .map_err(|_| format!("'{s}' is not an address (IP:PORT) or 'off'"))
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("'{other}' is not on/off")),
    }
}

/// nginx time syntax: `60`, `60s`, `500ms`, `2m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("'{s}': unknown time unit '{unit}'")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Plain HTTP proxy address (HTTP/1.1 and h2c), or `off`.
    #[arg(long, env = "PORTICO_PROXY_LISTEN", default_value = "0.0.0.0:8000", value_parser = parse_listen)]
    pub proxy_listen: Listen,
    /// TLS proxy address (HTTP/1.1 and HTTP/2 by ALPN), or `off`.
    #[arg(long, env = "PORTICO_PROXY_LISTEN_TLS", default_value = "0.0.0.0:8443", value_parser = parse_listen)]
    pub proxy_listen_tls: Listen,
    /// Status API address (/status, /status/ready, /metrics), or `off`.
    #[arg(long, env = "PORTICO_STATUS_LISTEN", default_value = "127.0.0.1:8100", value_parser = parse_listen)]
    pub status_listen: Listen,
    /// Also serve Kong's proxy-cache Admin API endpoints (`/proxy-cache...`) on the status
    /// listener: look up and purge this node's cached responses. Off by default: they show
    /// cached response bodies, and the status listener is often reachable by a whole
    /// cluster (probes, metrics scrapes).
    #[arg(long, env = "PORTICO_PROXY_CACHE_API")]
    pub proxy_cache_api: bool,
    /// Directory for the node id and the cached configuration.
    #[arg(long, env = "PORTICO_PREFIX", default_value = ".portico")]
    pub prefix: PathBuf,
    /// Standalone mode: serve this declarative file (kong.yml). SIGHUP, or a change of the
    /// file's content, reloads it; an invalid file keeps the running configuration.
    #[arg(long, env = "PORTICO_DECLARATIVE_CONFIG")]
    pub declarative_config: Option<PathBuf>,
    /// Hybrid mode: control plane address(es), `host:port[,host:port]`, tried in turn.
    #[arg(long, env = "PORTICO_CLUSTER_CONTROL_PLANE", value_delimiter = ',')]
    pub cluster_control_plane: Vec<String>,
    /// Cluster mTLS mode: `shared` (one certificate for all nodes) or `pki` (a CA).
    #[arg(
        long,
        env = "PORTICO_CLUSTER_MTLS",
        default_value = "shared",
        value_name = "shared|pki"
    )]
    pub cluster_mtls: common::cluster_tls::MtlsMode,
    /// This node's cluster certificate (PEM).
    #[arg(long, env = "PORTICO_CLUSTER_CERT")]
    pub cluster_cert: Option<PathBuf>,
    /// The key of --cluster-cert (PEM).
    #[arg(long, env = "PORTICO_CLUSTER_CERT_KEY")]
    pub cluster_cert_key: Option<PathBuf>,
    /// pki mode: the CA that signed the control plane's certificate (PEM).
    #[arg(long, env = "PORTICO_CLUSTER_CA_CERT")]
    pub cluster_ca_cert: Option<PathBuf>,
    /// The name the control plane's certificate must carry (default: the host dialed).
    #[arg(long, env = "PORTICO_CLUSTER_SERVER_NAME")]
    pub cluster_server_name: Option<String>,
    /// Labels reported to the control plane: `key:value,key:value`.
    #[arg(long, env = "PORTICO_CLUSTER_DP_LABELS", default_value = "")]
    pub cluster_dp_labels: String,
    /// Largest configuration snapshot accepted from the control plane, in bytes of
    /// compressed payload (Kong's cluster_max_payload). A larger one is refused (NACK) and
    /// the running configuration kept.
    #[arg(
        long,
        env = "PORTICO_CLUSTER_MAX_PAYLOAD",
        default_value_t = crate::sync::DEFAULT_MAX_PAYLOAD,
        value_name = "BYTES"
    )]
    pub cluster_max_payload: u64,
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, env = "PORTICO_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Tokio worker threads serving traffic; 0 uses one per CPU.
    #[arg(long, env = "PORTICO_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,
    /// Comma-separated IPs / CIDR blocks whose X-Forwarded-* and real-IP headers are trusted.
    #[arg(long, env = "PORTICO_TRUSTED_IPS", default_value = "")]
    pub trusted_ips: String,
    /// Header carrying the client address when the peer is trusted (or `proxy_protocol`).
    #[arg(long, env = "PORTICO_REAL_IP_HEADER", default_value = "X-Real-IP")]
    pub real_ip_header: String,
    /// Skip trusted addresses from the right of the real-IP header (on/off).
    #[arg(long, env = "PORTICO_REAL_IP_RECURSIVE", default_value = "off", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub real_ip_recursive: bool,
    /// Headers added to client responses: Server, Via, X-Kong-*-Latency,
    /// X-Kong-Upstream-Status, X-Kong-Request-Id, server_tokens, latency_tokens, or off.
    #[arg(
        long,
        env = "PORTICO_HEADERS",
        default_value = "server_tokens, latency_tokens, X-Kong-Request-Id"
    )]
    pub headers: String,
    /// Headers added to upstream requests: X-Kong-Request-Id or off.
    #[arg(
        long,
        env = "PORTICO_HEADERS_UPSTREAM",
        default_value = "X-Kong-Request-Id"
    )]
    pub headers_upstream: String,
    /// Error body type when the request has no Accept header: text/plain, text/html,
    /// application/json or application/xml.
    #[arg(long, env = "PORTICO_ERROR_DEFAULT_TYPE", default_value = "text/plain")]
    pub error_default_type: String,
    /// Answer `Kong-Debug: 1` requests with Kong-Route-*/Kong-Service-* headers (on/off).
    #[arg(long, env = "PORTICO_ALLOW_DEBUG_HEADER", default_value = "off", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub allow_debug_header: bool,
    /// `HOST_PORT:LISTEN_PORT,...`: the port announced in X-Forwarded-Port per listen port.
    #[arg(long, env = "PORTICO_PORT_MAPS", default_value = "")]
    pub port_maps: String,
    /// Idle upstream connections kept per address/TLS/SNI; 0 disables keep-alive.
    #[arg(
        long,
        env = "PORTICO_UPSTREAM_KEEPALIVE_POOL_SIZE",
        default_value_t = 512
    )]
    pub upstream_keepalive_pool_size: usize,
    /// Requests per upstream connection before it is closed; 0 is unlimited.
    #[arg(
        long,
        env = "PORTICO_UPSTREAM_KEEPALIVE_MAX_REQUESTS",
        default_value_t = 10_000
    )]
    pub upstream_keepalive_max_requests: u64,
    /// Seconds an idle upstream connection is kept; 0 keeps it indefinitely.
    #[arg(
        long,
        env = "PORTICO_UPSTREAM_KEEPALIVE_IDLE_TIMEOUT",
        default_value_t = 60
    )]
    pub upstream_keepalive_idle_timeout: u64,
    /// Trust store for verifying upstream certificates when a service has no
    /// ca_certificates: `system` and/or comma-separated PEM files.
    #[arg(
        long,
        env = "PORTICO_LUA_SSL_TRUSTED_CERTIFICATE",
        default_value = "system"
    )]
    pub lua_ssl_trusted_certificate: String,
    /// Time allowed to receive request headers (also the idle keep-alive timeout).
    #[arg(long, env = "PORTICO_NGINX_HTTP_CLIENT_HEADER_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub nginx_http_client_header_timeout: Duration,
    /// Time allowed between two reads of a request body.
    #[arg(long, env = "PORTICO_NGINX_HTTP_CLIENT_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub nginx_http_client_body_timeout: Duration,
    /// Time a write to the client may make no progress before the connection is closed
    /// (a client that stopped reading).
    #[arg(long, env = "PORTICO_NGINX_HTTP_SEND_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub nginx_http_send_timeout: Duration,
}

impl ServeArgs {
    /// The proxy settings these flags describe, or every invalid value explained.
    pub fn proxy_settings(&self) -> anyhow::Result<ProxySettings> {
        let mut errors = Vec::new();
        let mut settings = ProxySettings::default();
        match TrustedIps::parse(&self.trusted_ips) {
            Ok(t) => settings.trusted_ips = t,
            Err(e) => errors.push(format!("--trusted-ips: {e}")),
        }
        match parse_real_ip_header(&self.real_ip_header) {
            Ok(r) => settings.real_ip_source = r,
            Err(e) => errors.push(format!("--real-ip-header: {e}")),
        }
        settings.real_ip_recursive = self.real_ip_recursive;
        match EnabledHeaders::parse(&self.headers) {
            Ok(h) => settings.headers = h,
            Err(e) => errors.push(format!("--headers: {e}")),
        }
        match self.headers_upstream.trim().to_ascii_lowercase().as_str() {
            "x-kong-request-id" => settings.upstream_request_id = true,
            "off" | "" => settings.upstream_request_id = false,
            other => errors.push(format!("--headers-upstream: invalid value '{other}'")),
        }
        match ErrorDefaultType::parse(&self.error_default_type) {
            Ok(t) => settings.error_default_type = t,
            Err(e) => errors.push(format!("--error-default-type: {e}")),
        }
        settings.allow_debug_header = self.allow_debug_header;
        match parse_port_maps(&self.port_maps) {
            Ok(m) => settings.port_maps = m,
            Err(e) => errors.push(format!("--port-maps: {e}")),
        }
        settings.keepalive = KeepaliveSettings {
            pool_size: self.upstream_keepalive_pool_size,
            max_requests: self.upstream_keepalive_max_requests,
            idle_timeout: Duration::from_secs(self.upstream_keepalive_idle_timeout),
        };
        settings.client_header_timeout = self.nginx_http_client_header_timeout;
        settings.client_body_timeout = self.nginx_http_client_body_timeout;
        settings.send_timeout = self.nginx_http_send_timeout;
        if errors.is_empty() {
            Ok(settings)
        } else {
            anyhow::bail!("{}", errors.join("\n"))
        }
    }
}

/// The proxy settings that `portico-dp serve` would use with these flags (for embedding
/// and tests: `settings_from_flags(&["--trusted-ips", "10.0.0.0/8"])`).
pub fn settings_from_flags(flags: &[&str]) -> anyhow::Result<ProxySettings> {
    let argv = ["portico-dp", "serve"]
        .into_iter()
        .chain(flags.iter().copied());
    let cli = Cli::try_parse_from(argv)?;
    match cli.command {
        Command::Serve(args) => args.proxy_settings(),
        Command::Health(_) => anyhow::bail!("not a serve command line"),
    }
}

/// Parses the command line, runs the command, and maps failure to a message and exit code 1.
pub fn main() -> ExitCode {
    main_with_plugins(crate::plugins::PluginRegistry::bundled())
}

/// `portico-dp` with the plugins of `registry` (a build with custom plugins: see
/// `docs/custom-plugins.md`).
pub fn main_with_plugins(registry: crate::plugins::PluginRegistry) -> ExitCode {
    let cli = Cli::parse();
    match run(cli, registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portico-dp: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, registry: crate::plugins::PluginRegistry) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args, registry),
        Command::Health(args) => crate::health::check(&args),
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn serve(args: ServeArgs, registry: crate::plugins::PluginRegistry) -> anyhow::Result<()> {
    init_logging(&args.log_level);
    let settings = args.proxy_settings()?;
    // One worker thread: a current-thread runtime serves on the main thread, without the
    // work-stealing scheduler's bookkeeping (nothing to steal from or hand work to).
    let mut builder = if args.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if args.worker_threads > 0 {
            b.worker_threads(args.worker_threads);
        }
        b
    };
    let rt = builder.enable_all().build()?;
    rt.block_on(async move {
        let env = CompileEnv::with_plugins(
            &crate::runtime::env_settings(&args.lua_ssl_trusted_certificate),
            registry,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let runtime = RuntimeHandle::new(env)?;
        std::fs::create_dir_all(&args.prefix).map_err(|e| {
            anyhow::anyhow!("cannot create --prefix {}: {e}", args.prefix.display())
        })?;
        let node_id = crate::sync::node_id::load_or_create(&args.prefix)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut stop = stop_rx.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        };
        let mut background = Vec::new();
        let mut sync_state = None;
        if let Some(path) = &args.declarative_config {
            if !args.cluster_control_plane.is_empty() {
                anyhow::bail!(
                    "--declarative-config and --cluster-control-plane exclude each other"
                );
            }
            // Standalone mode: the file must be valid to start (like Kong); later reloads
            // that fail keep the running configuration.
            let source = DeclarativeSource::new(path, runtime.clone());
            source.reload().await?;
            tracing::info!(path = %path.display(), "serving the declarative configuration");
            background.push(tokio::spawn(source.watch(stopped())));
        } else if !args.cluster_control_plane.is_empty() {
            let client = cluster_client(&args, node_id, runtime.clone())?;
            sync_state = Some(client.state());
            background.push(tokio::spawn(client.run(stopped())));
        } else {
            tracing::warn!(
                "no --declarative-config and no --cluster-control-plane: serving nothing"
            );
        }
        let config = NodeConfig {
            proxy_listen: args.proxy_listen.0,
            proxy_listen_tls: args.proxy_listen_tls.0,
            status_listen: args.status_listen.0,
            proxy_cache_api: args.proxy_cache_api,
            settings,
            node_id: node_id.to_string(),
            sync: sync_state,
        };
        let node = Node::start(config, runtime).await?;
        wait_for_termination().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
        for task in background {
            let _ = task.await;
        }
        node.shutdown(Duration::from_secs(9)).await;
        Ok(())
    })
}

/// Hybrid mode: the sync client, after serving the cached configuration (if any) so the
/// node is useful before it reaches a control plane.
fn cluster_client(
    args: &ServeArgs,
    node_id: uuid::Uuid,
    runtime: RuntimeHandle,
) -> anyhow::Result<crate::sync::SyncClient> {
    use crate::sync::{NodeInfo, RuntimeApplier, SnapshotCache, SyncClient, SyncClientSettings};
    let (Some(cert), Some(key)) = (&args.cluster_cert, &args.cluster_cert_key) else {
        anyhow::bail!("--cluster-control-plane needs --cluster-cert and --cluster-cert-key");
    };
    let tls = common::cluster_tls::ClusterTls::load(
        args.cluster_mtls,
        cert,
        key,
        args.cluster_ca_cert.as_deref(),
    )?;
    let mut labels = std::collections::BTreeMap::new();
    for pair in args
        .cluster_dp_labels
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (k, v) = pair
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--cluster-dp-labels: '{pair}' is not key:value"))?;
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    // What this build can run; the control plane holds back configurations using
    // plugins missing here.
    let plugins = runtime.env().plugins().plugin_infos();
    let applier = RuntimeApplier::with_max_payload(
        runtime,
        Some(SnapshotCache::new(&args.prefix)),
        args.cluster_max_payload,
    );
    let serving = applier.restore_from_cache();
    let node = NodeInfo {
        node_id,
        hostname: hostname(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        labels,
        plugins,
    };
    let mut settings = SyncClientSettings::new(
        args.cluster_control_plane.clone(),
        tls.mode(),
        tls.client_config()?,
        node,
    );
    settings.server_name = args.cluster_server_name.clone();
    settings.max_payload = args.cluster_max_payload;
    Ok(SyncClient::new(settings, applier, serving))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; use SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_nginx_syntax() {
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn listen_accepts_off() {
        assert_eq!(parse_listen("off"), Ok(Listen(None)));
        assert!(parse_listen("127.0.0.1:1").is_ok_and(|l| l.0.is_some()));
        assert!(parse_listen("nope").is_err());
    }

    #[test]
    fn on_off_flags_take_a_value() {
        let settings =
            settings_from_flags(&["--real-ip-recursive", "on", "--allow-debug-header", "on"])
                .expect("valid");
        assert!(settings.real_ip_recursive && settings.allow_debug_header);
        let settings = settings_from_flags(&[]).expect("defaults");
        assert!(!settings.real_ip_recursive && !settings.allow_debug_header);
    }

    #[test]
    fn invalid_settings_are_all_reported() {
        let cli = Cli::try_parse_from([
            "portico-dp",
            "serve",
            "--trusted-ips",
            "bogus",
            "--headers",
            "nope",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve command line");
        };
        let err = args.proxy_settings().expect_err("invalid").to_string();
        assert!(
            err.contains("--trusted-ips") && err.contains("--headers"),
            "{err}"
        );
    }
}
