"""Reading the deployment material: the rendered Kustomize overlays, the Compose file, the
Prometheus rules and the Grafana dashboard, and what each of them names (settings, worker
components, ports, metrics), to be checked against what the code really has."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from application.settings import CLIENT_VARIABLES, ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "prod")
COMPOSE_SECRETS = {  # what deploy/.env holds (test values, not secrets)
    "POSTGRES_PASSWORD": "compose-test",
    "TIFFIN_EVENT_CIPHER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "TIFFIN_JWT_SECRET": "compose-test-jwt-secret",
    "TIFFIN_PAYMENT_WEBHOOK_SECRET": "compose-test-webhook-secret",
    "GRAFANA_ADMIN_PASSWORD": "compose-test",
}
METRIC = re.compile(r"\b(tiffin_[a-z0-9_]+|tiffin:[a-z0-9_:]+)\b")
SELECTOR = re.compile(r"\b(tiffin_[a-z0-9_]+|tiffin:[a-z0-9_:]+)\{([^}]*)\}")


def setting_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields} | set(CLIENT_VARIABLES)


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(command[0])
    assert tool is not None, f"{command[0]} is not installed (make test installs it)"
    return subprocess.run([tool, *command[1:]], capture_output=True, text=True, **kwargs)


def rendered_overlay(overlay: str, workdir: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of the overlay, in a copy given the secrets its generators read
    (made by the dev overlay's own script)."""
    copy = workdir / "k8s"
    if not copy.exists():
        shutil.copytree(DEPLOY / "k8s", copy)
        dev = copy / "overlays" / "dev"
        made = run(
            ["sh", str(dev / "make-secrets.sh")],
            env={**os.environ, "DATABASE_URL": "postgresql://tiffin:pw@postgres:5432/tiffin"},
        )
        assert made.returncode == 0, made.stderr
        for name in ("secrets.env", "tls.crt", "tls.key"):
            shutil.copy(dev / name, copy / "overlays" / "prod" / name)
    answer = run(["kubectl", "kustomize", str(copy / "overlays" / overlay)])
    assert answer.returncode == 0, answer.stderr
    return [doc for doc in yaml.safe_load_all(answer.stdout) if doc]


def compose() -> dict[str, Any]:
    """The Compose file as docker-compose resolves it (anchors, merges, variables)."""
    answer = run(
        ["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config"],
        env={**os.environ, **COMPOSE_SECRETS},
    )
    assert answer.returncode == 0, answer.stderr
    loaded: dict[str, Any] = yaml.safe_load(answer.stdout)
    return loaded


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each workload's containers: (the object, the container)."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def only_components(args: list[str]) -> list[str]:
    """The components a `tiffin worker --only …` command line names."""
    if not args or args[0] != "worker" or "--only" not in args:
        return []
    return [a.split("#")[0].strip() for a in args[args.index("--only") + 1 :]]


def environment_names(environment: Mapping[str, Any] | list[str]) -> set[str]:
    if isinstance(environment, list):
        return {item.split("=", 1)[0] for item in environment}
    return set(environment)


def promql_of_rules() -> dict[str, str]:
    """Each rule's name (the recorded series or the alert) and its expression."""
    groups = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())["groups"]
    return {r.get("record") or r["alert"]: r["expr"] for g in groups for r in g["rules"]}


def promql_of_dashboard() -> dict[str, str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "tiffin.json").read_text())
    return {
        f"{panel['title']} ({target['refId']})": target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }


def exported(metrics_text: str) -> dict[str, set[str]]:
    """The series a /metrics page offers, each with the label names seen on it (a family with
    no samples yet counts, by its TYPE line, with its samples' suffixes)."""
    found: dict[str, set[str]] = {}
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("", "_total")}
            for suffix in suffixes.get(kind, ("",)):
                found.setdefault(name.removesuffix("_total") + suffix, set())
        elif line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            name = name.split()[0]
            labels = {pair.split("=")[0] for pair in re.findall(r'(\w+)="', rest)}
            found.setdefault(name, set()).update(labels)
    return found
