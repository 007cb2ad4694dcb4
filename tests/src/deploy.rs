//! Reading the deploy files (`deploy/`) and the binaries' `--help` for
//! `tests/tests/deploy_flags.rs`: which command lines, `PORTICO_*` variables, ports and
//! probes the Dockerfiles, the Compose file, the Kubernetes manifests and the systemd units
//! give `portico-cp` and `portico-dp`, and which flags and variables the binaries accept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::process::binary;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// What `BIN SUBCOMMAND... --help` lists: long flags and `PORTICO_*` variables.
#[derive(Debug, Default, Clone)]
pub struct Help {
    pub flags: BTreeSet<String>,
    pub envs: BTreeSet<String>,
}

impl Help {
    /// Runs the real binary's help (with no `PORTICO_*` variables set).
    pub fn of(bin: &str, subcommand: &[&str]) -> Help {
        let mut command = Command::new(binary(bin));
        command.args(subcommand).arg("--help");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PORTICO_") {
                command.env_remove(name);
            }
        }
        let out = command.output().expect("help runs");
        assert!(
            out.status.success(),
            "{bin} {subcommand:?} --help failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Help is wrapped at spaces: joining the words back makes `[env: NAME=...]` whole.
        let text = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut help = Help::default();
        for word in text.split([' ', ',', '<', '[']) {
            if let Some(name) = word.strip_prefix("--") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if !name.is_empty() {
                    help.flags.insert(format!("--{name}"));
                }
            }
        }
        for part in text.split("[env: ").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            help.envs.insert(name);
        }
        help
    }
}

/// One way a deploy file starts a binary.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Where it was found, for messages.
    pub origin: String,
    /// `portico-cp` or `portico-dp`.
    pub bin: String,
    /// Subcommand words (`serve`, `certs generate`, `health`).
    pub subcommand: Vec<String>,
    /// The remaining arguments.
    pub args: Vec<String>,
    /// Environment variables, in order; `None` when the value is supplied at run time
    /// (a Kubernetes Secret or field reference).
    pub env: Vec<(String, Option<String>)>,
}

impl Invocation {
    /// From an argv whose first word may be the binary's path (`/usr/local/bin/portico-dp`):
    /// leading lowercase words are the subcommand (`certs generate`); the rest, starting
    /// at the first flag or path, are arguments.
    pub fn from_argv(origin: &str, bin: &str, argv: &[String]) -> Invocation {
        let skip = usize::from(argv.first().is_some_and(|a| a.ends_with(bin)));
        let words = &argv[skip.min(argv.len())..];
        let split = words
            .iter()
            .position(|w| {
                !w.chars().all(|c| c.is_ascii_lowercase() || c == '-') || w.starts_with('-')
            })
            .unwrap_or(words.len());
        Invocation {
            origin: origin.to_string(),
            bin: bin.to_string(),
            subcommand: words[..split].to_vec(),
            args: words[split..].to_vec(),
            env: Vec::new(),
        }
    }

    /// Long flags given (`--name` of `--name value` and `--name=value`).
    pub fn flags(&self) -> Vec<String> {
        self.args
            .iter()
            .filter(|a| a.starts_with("--"))
            .map(|a| a.split('=').next().unwrap_or(a).to_string())
            .collect()
    }

    /// The value of `--flag` or of its `PORTICO_*` variable.
    pub fn setting(&self, flag: &str) -> Option<String> {
        if let Some(i) = self.args.iter().position(|a| a == flag) {
            return self.args.get(i + 1).cloned();
        }
        let prefix = format!("{flag}=");
        if let Some(v) = self.args.iter().find_map(|a| a.strip_prefix(&prefix)) {
            return Some(v.to_string());
        }
        let env = env_name(flag);
        self.env
            .iter()
            .rev()
            .find(|(k, _)| *k == env)
            .and_then(|(_, v)| v.clone())
    }
}

impl Invocation {
    /// Every setting as `(flag, value)`, in order: the arguments' flags, then the
    /// `PORTICO_*` variables that this command reads (per `help`) as the flags they stand
    /// for, unless a flag already set it. Variables whose value is supplied at run time are
    /// left out; `$(...)` substitutions and systemd specifiers get sample values.
    pub fn settings(&self, help: &Help) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        let mut args = self.args.iter().peekable();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                continue; // a positional argument (config import FILE)
            };
            let (flag, value) = match flag.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => {
                    let value = args.next_if(|next| !next.starts_with("--")).cloned();
                    (flag.to_string(), value)
                }
            };
            out.push((format!("--{flag}"), value.map(|v| concrete(&v))));
        }
        for (name, value) in &self.env {
            let (Some(flag), Some(value)) = (name.strip_prefix("PORTICO_"), value) else {
                continue;
            };
            let flag = format!("--{}", flag.to_lowercase().replace('_', "-"));
            if help.envs.contains(name) && !out.iter().any(|(f, _)| *f == flag) {
                out.push((flag, Some(concrete(value))));
            }
        }
        out
    }

    /// Positional arguments (after the subcommand, not flags or flag values).
    pub fn positionals(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut args = self.args.iter().peekable();
        while let Some(arg) = args.next() {
            if arg.starts_with("--") {
                if !arg.contains('=') {
                    args.next_if(|next| !next.starts_with("--"));
                }
            } else {
                out.push(arg.clone());
            }
        }
        out
    }
}

/// `$(NAME)` substitutions (Kubernetes) and `%S` / `%d` specifiers (systemd) replaced by
/// sample values.
pub fn concrete(value: &str) -> String {
    let mut out = value
        .replace("%S", "/var/lib")
        .replace("%d", "/run/credentials/x");
    while let (Some(start), Some(end)) = (out.find("$("), out.find(')')) {
        if end < start {
            break;
        }
        out.replace_range(start..=end, "sample-node");
    }
    out
}

/// `--status-listen` -> `PORTICO_STATUS_LISTEN`.
pub fn env_name(flag: &str) -> String {
    format!(
        "PORTICO_{}",
        flag.trim_start_matches('-')
            .replace('-', "_")
            .to_uppercase()
    )
}

/// Which binary a path, image or container name stands for.
pub fn binary_of(text: &str) -> Option<&'static str> {
    if text.contains("portico-cp") || text == "control-plane" {
        Some("portico-cp")
    } else if text.contains("portico-dp") || text == "data-plane" {
        Some("portico-dp")
    } else {
        None
    }
}

/// Every YAML document in `path`, with `<<` merge keys applied (nested ones too).
pub fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read yaml");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
            // A merged mapping may itself hold `<<`: apply until none is left.
            for _ in 0..8 {
                value.apply_merge().expect("merge keys");
            }
            value
        })
        .collect()
}

/// Files under `dir` (recursively) whose name ends with `suffix`.
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// A scalar as text (numbers and booleans too).
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A Kubernetes container running one of our binaries, as the manifests describe it.
#[derive(Debug, Clone)]
pub struct PodContainer {
    pub origin: String,
    pub invocation: Invocation,
    /// `name -> containerPort`.
    pub ports: BTreeMap<String, u16>,
    /// `readinessProbe`, `livenessProbe`, `startupProbe` by kind.
    pub probes: BTreeMap<String, Value>,
    /// Whether the document is a complete workload (not an overlay's patch).
    pub complete: bool,
}

/// Containers named `control-plane` / `data-plane` (or running our images) in every
/// manifest and patch under `dir`.
pub fn kubernetes_containers(dir: &Path) -> Vec<PodContainer> {
    let mut out = Vec::new();
    for path in files(dir, ".yaml") {
        if path.ends_with("kustomization.yaml") {
            continue;
        }
        for doc in yaml_documents(&path) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let pod = &doc["spec"]["template"]["spec"];
            let Some(containers) = pod["containers"].as_sequence() else {
                continue;
            };
            for c in containers {
                let name = c["name"].as_str().unwrap_or_default();
                let image = c["image"].as_str().unwrap_or_default();
                let Some(bin) = binary_of(name).or_else(|| binary_of(image)) else {
                    continue;
                };
                let origin = format!(
                    "{} {kind} container {name}",
                    path.strip_prefix(repo_root()).unwrap_or(&path).display()
                );
                let mut args = strings(&c["args"]);
                if args.is_empty() && image.is_empty() {
                    // An overlay's patch: it keeps the base's `serve` arguments.
                    args.push("serve".to_string());
                }
                let mut invocation = Invocation::from_argv(&origin, bin, &args);
                for env in c["env"].as_sequence().into_iter().flatten() {
                    let key = env["name"].as_str().unwrap_or_default().to_string();
                    let value = scalar(&env["value"]);
                    invocation.env.push((key, value));
                }
                let ports = c["ports"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let port = p["containerPort"].as_u64()?;
                        Some((p["name"].as_str()?.to_string(), u16::try_from(port).ok()?))
                    })
                    .collect();
                let probes = ["readinessProbe", "livenessProbe", "startupProbe"]
                    .into_iter()
                    .filter(|k| !c[*k].is_null())
                    .map(|k| (k.to_string(), c[k].clone()))
                    .collect();
                out.push(PodContainer {
                    origin,
                    invocation,
                    ports,
                    probes,
                    complete: !image.is_empty(),
                });
            }
        }
    }
    out
}

/// `ExecStart=` of a systemd unit, continuation lines joined and split into words.
pub fn systemd_exec_start(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read unit");
    let joined = text.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{}: no ExecStart", path.display()));
    line.split_whitespace().map(str::to_string).collect()
}

/// `NAME=value` lines of an environment file (comments and blanks skipped).
pub fn env_file(path: &Path) -> Vec<(String, Option<String>)> {
    std::fs::read_to_string(path)
        .expect("read env file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), Some(v.trim().to_string())))
        .collect()
}

/// A Dockerfile's instructions: continuation lines joined, comments dropped.
pub fn dockerfile_instructions(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("read Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (instruction, rest) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((instruction.to_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    out
}
