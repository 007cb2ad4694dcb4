//! The deploy files cannot drift away from the binaries: every command line, flag and
//! `PORTICO_*` variable that the Dockerfiles, the Compose file, the Kubernetes manifests
//! (base and overlays) and the systemd units give `portico-cp` / `portico-dp` is accepted
//! by the real binary's `--help` and parses (values included); probes and health checks
//! ask the ports and paths the listen settings open; data planes dial the control plane's
//! cluster port.
//!
//! Schema validation of the same files (Kubernetes, Compose, systemd) is `.ci/deploy_checks.py`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use clap::Parser;
use portico_tests::deploy::{
    Help, Invocation, PodContainer, binary_of, dockerfile_instructions, env_file, env_name, files,
    kubernetes_containers, repo_root, scalar, strings, systemd_exec_start, yaml_documents,
};
use serde_yaml_ng::Value;

/// Where the images install the binaries (the Dockerfiles' COPY destination).
fn image_path(bin: &str) -> String {
    format!("/usr/local/bin/{bin}")
}

fn kubernetes_dir() -> std::path::PathBuf {
    repo_root().join("deploy/kubernetes")
}

fn compose_file() -> std::path::PathBuf {
    repo_root().join("deploy/docker/compose.yaml")
}

/// Exec probes of Kubernetes containers, run with the container's environment.
fn exec_probes(container: &PodContainer) -> Vec<Invocation> {
    let mut out = Vec::new();
    for (kind, probe) in &container.probes {
        let command = strings(&probe["exec"]["command"]);
        if command.is_empty() {
            continue;
        }
        let origin = format!("{} {kind}", container.origin);
        let mut invocation = Invocation::from_argv(&origin, &container.invocation.bin, &command);
        invocation.env = container.invocation.env.clone();
        out.push(invocation);
    }
    out
}

/// Services of the Compose file that run our images: (name, service).
fn compose_services() -> Vec<(String, &'static str, Value)> {
    let doc = yaml_documents(&compose_file()).remove(0);
    let mut out = Vec::new();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap().to_string();
        let image = svc["image"].as_str().unwrap_or_default();
        if let Some(bin) = binary_of(image) {
            out.push((name, bin, svc.clone()));
        }
    }
    out
}

fn compose_invocations() -> Vec<Invocation> {
    let mut out = Vec::new();
    for (name, bin, svc) in compose_services() {
        let origin = format!("deploy/docker/compose.yaml service {name}");
        let mut command = strings(&svc["command"]);
        if command.is_empty() {
            command = vec!["serve".to_string()];
        }
        let mut invocation = Invocation::from_argv(&origin, bin, &command);
        let env: Vec<(String, Option<String>)> = svc["environment"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), scalar(v)))
            .collect();
        invocation.env = env.clone();
        out.push(invocation);
        let test = strings(&svc["healthcheck"]["test"]);
        if let Some(("CMD", argv)) = test.split_first().map(|(h, t)| (h.as_str(), t)) {
            let mut check = Invocation::from_argv(&format!("{origin} healthcheck"), bin, argv);
            check.env = env;
            out.push(check);
        }
    }
    out
}

/// The images' defaults: `ENV`, `ENTRYPOINT` + `CMD`, and `HEALTHCHECK`.
fn dockerfile_invocations() -> Vec<Invocation> {
    let mut out = Vec::new();
    for path in files(&repo_root().join("deploy/docker"), ".Dockerfile") {
        let origin = path
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        let bin = binary_of(&origin).unwrap();
        let mut env = Vec::new();
        let mut entrypoint = Vec::new();
        let mut cmd = Vec::new();
        let mut healthcheck = Vec::new();
        for (instruction, rest) in dockerfile_instructions(&path) {
            match instruction.as_str() {
                "ENV" => {
                    for pair in rest.split_whitespace() {
                        let (k, v) = pair.split_once('=').unwrap();
                        env.push((k.to_string(), Some(v.to_string())));
                    }
                }
                "ENTRYPOINT" => entrypoint = serde_json::from_str(&rest).unwrap(),
                "CMD" => cmd = serde_json::from_str(&rest).unwrap(),
                "HEALTHCHECK" => {
                    let json = &rest[rest.find('[').unwrap()..];
                    healthcheck = serde_json::from_str(json).unwrap();
                }
                _ => {}
            }
        }
        assert_eq!(entrypoint, [image_path(bin)], "{origin}: ENTRYPOINT");
        assert_eq!(healthcheck.first(), Some(&image_path(bin)), "{origin}");
        let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        let mut run = Invocation::from_argv(&origin, bin, &argv);
        run.env = env.clone();
        let mut check = Invocation::from_argv(&format!("{origin} HEALTHCHECK"), bin, &healthcheck);
        check.env = env;
        out.extend([run, check]);
    }
    out
}

fn systemd_invocations() -> Vec<Invocation> {
    let mut out = Vec::new();
    for path in files(&repo_root().join("deploy/systemd"), ".service") {
        let origin = path
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        let argv = systemd_exec_start(&path);
        let bin = binary_of(&argv[0]).unwrap();
        assert_eq!(argv[0], image_path(bin), "{origin}: ExecStart");
        let mut invocation = Invocation::from_argv(&origin, bin, &argv);
        let example = path.with_file_name(format!("{bin}.env.example"));
        invocation.env = env_file(&example);
        assert!(!invocation.env.is_empty(), "{}", example.display());
        out.push(invocation);
    }
    out
}

fn all_invocations() -> Vec<Invocation> {
    let containers = kubernetes_containers(&kubernetes_dir());
    let mut out: Vec<Invocation> = containers.iter().map(|c| c.invocation.clone()).collect();
    out.extend(containers.iter().flat_map(exec_probes));
    out.extend(compose_invocations());
    out.extend(dockerfile_invocations());
    out.extend(systemd_invocations());
    out
}

/// The invocation as one argv (see [`Invocation::settings`]), so values are parsed without
/// touching the test's own environment.
fn argv(invocation: &Invocation, help: &Help) -> Vec<String> {
    let mut argv = vec![invocation.bin.clone()];
    argv.extend(invocation.subcommand.iter().cloned());
    for (flag, value) in invocation.settings(help) {
        argv.push(match value {
            Some(v) => format!("{flag}={v}"),
            None => flag,
        });
    }
    argv.extend(invocation.positionals());
    argv
}

/// Parses the argv with the binaries' own command-line definitions (and, for the data
/// plane's `serve`, checks the proxy settings the values describe).
fn parse_error(argv: &[String], bin: &str) -> Option<String> {
    match bin {
        "portico-dp" => match data_plane::cli::Cli::try_parse_from(argv) {
            Err(e) => Some(e.to_string()),
            Ok(cli) => match cli.command {
                data_plane::cli::Command::Serve(args) => {
                    args.proxy_settings().err().map(|e| e.to_string())
                }
                data_plane::cli::Command::Health(_) => None,
            },
        },
        _ => control_plane::cli::Cli::try_parse_from(argv)
            .err()
            .map(|e| e.to_string()),
    }
}

#[test]
fn every_flag_and_variable_in_the_deploy_files_is_accepted_by_the_binaries() {
    let invocations = all_invocations();
    let mut help: BTreeMap<(String, Vec<String>), Help> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut counted = BTreeMap::<&str, usize>::new();
    for inv in &invocations {
        *counted
            .entry(if inv.bin == "portico-cp" { "cp" } else { "dp" })
            .or_default() += 1;
        let key = (inv.bin.clone(), inv.subcommand.clone());
        let sub: Vec<&str> = inv.subcommand.iter().map(String::as_str).collect();
        let accepted = help.entry(key).or_insert_with(|| Help::of(&inv.bin, &sub));
        for flag in inv.flags() {
            if !accepted.flags.contains(&flag) {
                problems.push(format!(
                    "{}: `{} {}` has no {flag}",
                    inv.origin,
                    inv.bin,
                    sub.join(" ")
                ));
            }
        }
        // A health check runs with its container's (or service's) environment and reads
        // only the variables it needs from it; those are parsed below.
        let inherited_env = inv.subcommand == ["health"];
        for (name, _) in &inv.env {
            // Non-PORTICO variables (NODE_NAME, ...) only feed $(...) substitutions.
            if !inherited_env && name.starts_with("PORTICO_") && !accepted.envs.contains(name) {
                problems.push(format!(
                    "{}: `{} {}` reads no {name}",
                    inv.origin,
                    inv.bin,
                    sub.join(" ")
                ));
            }
        }
        let argv = argv(inv, accepted);
        if let Some(e) = parse_error(&argv, &inv.bin) {
            problems.push(format!("{}: {argv:?} does not parse: {e}", inv.origin));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Every kind of file was read (a parser that silently found nothing would pass).
    for origin in [
        "deploy/kubernetes/base",
        "deploy/kubernetes/overlays",
        "compose.yaml",
        "portico-cp.Dockerfile",
        "portico-dp.Dockerfile",
        "portico-cp.service",
        "portico-dp.service",
    ] {
        assert!(
            invocations.iter().any(|i| i.origin.contains(origin)),
            "nothing read from {origin}"
        );
    }
    assert!(counted["cp"] >= 5 && counted["dp"] >= 5, "{counted:?}");
}

fn listen(invocation: &Invocation, flag: &str, default: &str) -> SocketAddr {
    let value = invocation
        .setting(flag)
        .unwrap_or_else(|| default.to_string());
    value
        .parse()
        .unwrap_or_else(|_| panic!("{}: {flag} {value} is not an address", invocation.origin))
}

/// The container port a probe's `port` (a name or a number) designates.
fn probe_port(container: &PodContainer, port: &Value) -> u16 {
    match port {
        Value::String(name) => *container
            .ports
            .get(name)
            .unwrap_or_else(|| panic!("{}: no container port named {name}", container.origin)),
        other => u16::try_from(other.as_u64().unwrap()).unwrap(),
    }
}

/// Kubernetes Services in the manifests: name -> ports.
fn services() -> BTreeMap<String, Vec<u16>> {
    let mut out = BTreeMap::new();
    for path in files(&kubernetes_dir().join("base"), ".yaml") {
        for doc in yaml_documents(&path) {
            if doc["kind"] == "Service" {
                let ports = doc["spec"]["ports"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|p| u16::try_from(p["port"].as_u64().unwrap()).unwrap())
                    .collect();
                out.insert(doc["metadata"]["name"].as_str().unwrap().to_string(), ports);
            }
        }
    }
    out
}

#[test]
fn kubernetes_probes_and_ports_match_the_listeners() {
    let containers = kubernetes_containers(&kubernetes_dir());
    let complete: Vec<&PodContainer> = containers.iter().filter(|c| c.complete).collect();
    let cp = complete
        .iter()
        .find(|c| c.invocation.bin == "portico-cp")
        .expect("a control-plane Deployment");
    let dp = complete
        .iter()
        .find(|c| c.invocation.bin == "portico-dp")
        .expect("a data-plane DaemonSet");
    for c in [cp, dp] {
        assert_eq!(c.invocation.subcommand, ["serve"], "{}", c.origin);
    }

    // Data plane: the kubelet probes the pod address, so the status API is not on loopback;
    // readiness is /status/ready and liveness a status path, both on the status port.
    let status = listen(&dp.invocation, "--status-listen", "127.0.0.1:8100");
    assert!(
        status.ip().is_unspecified(),
        "{}: status on {status}",
        dp.origin
    );
    assert_eq!(dp.ports["status"], status.port());
    let readiness = &dp.probes["readinessProbe"]["httpGet"];
    assert_eq!(readiness["path"], "/status/ready", "{}", dp.origin);
    assert_eq!(probe_port(dp, &readiness["port"]), status.port());
    let liveness = &dp.probes["livenessProbe"]["httpGet"];
    assert!(["/status", "/status/ready"].contains(&liveness["path"].as_str().unwrap()));
    assert_eq!(probe_port(dp, &liveness["port"]), status.port());
    let proxy = listen(&dp.invocation, "--proxy-listen", "0.0.0.0:8000");
    let proxy_tls = listen(&dp.invocation, "--proxy-listen-tls", "0.0.0.0:8443");
    assert_eq!(dp.ports["proxy"], proxy.port());
    assert_eq!(dp.ports["proxy-tls"], proxy_tls.port());

    // Control plane: Admin API and cluster listener on the declared ports; the TCP probes
    // on the Admin API; the exec probe runs the image's binary's `health`, which reads
    // the same PORTICO_ADMIN_LISTEN as `serve`.
    let admin = listen(&cp.invocation, "--admin-listen", "127.0.0.1:8001");
    let cluster = listen(&cp.invocation, "--cluster-listen", "0.0.0.0:8005");
    assert!(admin.ip().is_unspecified() && cluster.ip().is_unspecified());
    assert_eq!(cp.ports["admin"], admin.port());
    assert_eq!(cp.ports["cluster"], cluster.port());
    for kind in ["startupProbe", "livenessProbe"] {
        assert_eq!(
            probe_port(cp, &cp.probes[kind]["tcpSocket"]["port"]),
            admin.port(),
            "{kind}"
        );
    }
    let exec = exec_probes(cp);
    assert_eq!(exec.len(), 1, "{}", cp.origin);
    assert_eq!(exec[0].subcommand, ["health"]);
    assert_eq!(
        strings(&cp.probes["readinessProbe"]["exec"]["command"])[0],
        image_path("portico-cp")
    );

    // The data planes dial a Service that forwards the control plane's cluster port.
    let target = dp.invocation.setting("--cluster-control-plane").unwrap();
    let (host, port) = target.rsplit_once(':').unwrap();
    assert_eq!(port.parse::<u16>().unwrap(), cluster.port(), "{target}");
    let services = services();
    assert!(
        services
            .get(host)
            .is_some_and(|ports| ports.contains(&cluster.port())),
        "{target}: no Service {host} with port {port} in {services:?}"
    );
    assert!(services.contains_key("portico-cp-admin"));
}

#[test]
fn compose_health_checks_ports_and_control_plane_address_match() {
    let services = compose_services();
    let (cp_name, _, cp) = services
        .iter()
        .find(|(_, bin, svc)| *bin == "portico-cp" && strings(&svc["command"]) == ["serve"])
        .expect("a control-plane service");
    let cp_inv = compose_invocations()
        .into_iter()
        .find(|i| i.origin.ends_with(&format!("service {cp_name}")))
        .unwrap();
    let cluster = listen(&cp_inv, "--cluster-listen", "0.0.0.0:8005");
    let admin = listen(&cp_inv, "--admin-listen", "127.0.0.1:8001");
    // The Admin API is published on the host's loopback only, on its own port.
    let published = strings(&cp["ports"]);
    assert_eq!(published, [format!("127.0.0.1:{0}:{0}", admin.port())]);
    assert_eq!(
        strings(&cp["healthcheck"]["test"])[1..],
        [image_path("portico-cp"), "health".into()]
    );

    let mut data_planes = 0;
    for inv in compose_invocations() {
        if inv.bin != "portico-dp" || inv.subcommand != ["serve"] {
            continue;
        }
        data_planes += 1;
        let target = inv.setting("--cluster-control-plane").unwrap();
        assert_eq!(
            target,
            format!("{cp_name}:{}", cluster.port()),
            "{}",
            inv.origin
        );
        // Each data plane keeps its own prefix (its own node id and cache).
        let prefix = inv.setting("--prefix").unwrap();
        assert!(prefix.starts_with('/'), "{}", inv.origin);
    }
    assert_eq!(data_planes, 2, "two data planes");
    for (name, bin, svc) in &services {
        if *bin == "portico-dp" {
            let test = strings(&svc["healthcheck"]["test"]);
            assert_eq!(
                test[1..],
                [image_path("portico-dp"), "health".into()],
                "{name}"
            );
        }
    }
}

#[test]
fn image_health_checks_ask_the_listeners_the_images_configure() {
    for inv in dockerfile_invocations() {
        if inv.subcommand == ["health"] {
            continue;
        }
        assert_eq!(inv.subcommand, ["serve"], "{}", inv.origin);
        let text = std::fs::read_to_string(repo_root().join(&inv.origin)).unwrap();
        let exposed: Vec<u16> = text
            .lines()
            .filter_map(|l| l.strip_prefix("EXPOSE "))
            .flat_map(|l| l.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
            .collect();
        let flags: &[(&str, &str)] = if inv.bin == "portico-dp" {
            &[
                ("--proxy-listen", "0.0.0.0:8000"),
                ("--proxy-listen-tls", "0.0.0.0:8443"),
                ("--status-listen", "127.0.0.1:8100"),
            ]
        } else {
            &[
                ("--admin-listen", "127.0.0.1:8001"),
                ("--cluster-listen", "0.0.0.0:8005"),
            ]
        };
        for (flag, default) in flags {
            let port = listen(&inv, flag, default).port();
            assert!(
                exposed.contains(&port),
                "{}: {flag} port {port} not in EXPOSE",
                inv.origin
            );
        }
        // Probes from outside the container need the status API off loopback.
        if inv.bin == "portico-dp" {
            assert!(
                listen(&inv, "--status-listen", "127.0.0.1:8100")
                    .ip()
                    .is_unspecified()
            );
        }
        assert_eq!(inv.setting("--prefix").as_deref(), Some("/var/lib/portico"));
        assert!(
            text.contains("VOLUME [\"/var/lib/portico\"]"),
            "{}",
            inv.origin
        );
    }
}

#[test]
fn env_names_follow_the_flag_names() {
    // The conversion the other tests rely on, checked against the binaries' help.
    let help = Help::of("portico-dp", &["serve"]);
    for flag in &help.flags {
        if ["--help", "--version"].contains(&flag.as_str()) {
            continue;
        }
        assert!(
            help.envs.contains(&env_name(flag)),
            "{flag} has no {}",
            env_name(flag)
        );
    }
    assert!(Path::new(&compose_file()).exists());
}
