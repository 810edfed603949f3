"""The deployment material, checked here since no image can be built nor cluster run on these
machines: the Kustomize overlays render and validate strictly (kubernetes-validate's bundled
schemas); the Compose file is valid (docker-compose); the Prometheus rules pass promtool; and
none of them names a setting, worker component or port the code does not have."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    COMPOSE_SECRETS,
    DEPLOY,
    OVERLAYS,
    compose,
    containers,
    environment_names,
    only_components,
    rendered_overlay,
    run,
    setting_names,
)
from wiring.workers import COMPONENTS, PUSH

KUBERNETES = "1.37.0"
WORKER_GROUPS = ("saga", "views", "outbox", "relay")
LEFT_TO_PROFILES = {PUSH}  # needs a service account key: Compose's `push` profile


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return rendered_overlay(request.param, tmp_path_factory.mktemp("k8s"))


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_each_overlay_renders_and_every_object_validates_strictly(overlay: Any) -> None:
    for doc in overlay:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    deployments = of_kind(overlay, "Deployment")
    assert sorted(deployments) == sorted(
        ["tiffin-api", *(f"tiffin-{group}" for group in WORKER_GROUPS)]
    )
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for d in of_kind(overlay, "PodDisruptionBudget").values()
    }
    assert budgets == set(deployments), "a PodDisruptionBudget for each Deployment"
    [hpa] = of_kind(overlay, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tiffin-api"
    assert "tiffin-migrate" in of_kind(overlay, "Job")
    assert {"tiffin-secrets", "tiffin-tls"} <= {
        n.rsplit("-", 1)[0] for n in of_kind(overlay, "Secret")
    }
    assert of_kind(overlay, "NetworkPolicy"), "ingress is limited"


def test_the_api_serves_tcp_and_udp_on_one_port_with_the_probes_the_code_answers(
    overlay: Any,
) -> None:
    [config] = of_kind(overlay, "ConfigMap").values()
    port = int(config["data"]["TIFFIN_PORT"])
    [service] = of_kind(overlay, "Service").values()
    assert {(p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]} == {
        (port, "TCP"),
        (port, "UDP"),
    }
    assert len({p["port"] for p in service["spec"]["ports"]}) == 1, "HTTP/3 on the same port"
    api = of_kind(overlay, "Deployment")["tiffin-api"]
    [container] = api["spec"]["template"]["spec"]["containers"]
    assert {(p["containerPort"], p["protocol"]) for p in container["ports"]} == {
        (port, "TCP"),
        (port, "UDP"),
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    graceful = float(container["args"][container["args"].index("--graceful-seconds") + 1])
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert pause + graceful < grace, "Kubernetes waits for the drain before it kills"


def test_manifests_name_only_settings_components_and_ports_the_code_has(overlay: Any) -> None:
    known = setting_names()
    [config] = of_kind(overlay, "ConfigMap").values()
    secrets = [s for n, s in of_kind(overlay, "Secret").items() if n.startswith("tiffin-secrets")]
    named = set(config["data"]) | {key for secret in secrets for key in secret["data"]}
    assert named <= known, f"not Tiffin settings: {sorted(named - known)}"
    assert config["data"]["TIFFIN_CREATE_TABLES"] == "false", "the migrate Job makes tables"
    metrics_port = int(config["data"]["TIFFIN_WORKER_METRICS_PORT"])
    run_by_workers: list[str] = []
    for doc, container in containers(overlay):
        components = only_components(container["args"])
        assert set(components) <= set(COMPONENTS), f"{doc['metadata']['name']}: {components}"
        run_by_workers += components
        if components:
            assert [p["containerPort"] for p in container["ports"]] == [metrics_port]
    assert sorted(run_by_workers) == sorted(set(COMPONENTS) - LEFT_TO_PROFILES), (
        "each component in exactly one worker group"
    )


def test_the_compose_file_is_valid_and_names_what_the_code_has() -> None:
    services = compose()["services"]
    known = setting_names()
    run_by_workers: list[str] = []
    for name, service in services.items():
        if service.get("image") != "tiffin:latest":
            continue
        named = environment_names(service.get("environment", {}))
        assert named <= known, f"{name}: not Tiffin settings: {sorted(named - known)}"
        assert service["read_only"] is True, f"{name}: a read-only root filesystem"
        command = service["command"]
        run_by_workers += only_components(command)
    workers_with_standby = [c for c in run_by_workers if run_by_workers.count(c) == 2]
    assert sorted(set(workers_with_standby)) == sorted(COMPONENTS), "each with a standby"
    assert {"migrate", "topics", "api-a", "api-b", "prometheus", "grafana", "jaeger"} <= set(
        services
    )
    endpoint = services["api-a"]["environment"]["TIFFIN_OTEL_ENDPOINT"]
    assert endpoint.startswith("http://jaeger:"), "every process sends its traces to Jaeger"
    ports = {p["target"] for s in ("api-a", "api-b") for p in services[s]["ports"]}
    assert ports == {8443}
    protocols = {p.get("protocol", "tcp") for p in services["api-a"]["ports"]}
    assert protocols == {"tcp", "udp"}


def test_the_compose_file_refuses_to_render_without_its_secrets() -> None:
    answer = run(
        ["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        env={"PATH": "/usr/bin:/bin"},
    )
    assert answer.returncode != 0
    assert "set POSTGRES_PASSWORD" in answer.stderr or any(
        f"set {name}" in answer.stderr for name in COMPOSE_SECRETS
    )


def test_the_prometheus_rules_pass_promtool() -> None:
    answer = run(["promtool", "check", "rules", str(DEPLOY / "prometheus" / "rules.yml")])
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "SUCCESS" in answer.stdout


def test_prometheus_scrapes_every_tiffin_process_of_the_compose_file() -> None:
    import yaml

    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    services = compose()["services"]
    environment = services["saga-1"]["environment"]
    worker_port = environment["TIFFIN_WORKER_METRICS_PORT"]
    expected = set()
    for name, service in services.items():
        if service.get("image") != "tiffin:latest" or "profiles" in service:
            continue
        if service["command"][0] == "serve":
            expected.add(f"{name}:{service['environment']['TIFFIN_PORT']}")
        elif service["command"][0] == "worker":
            expected.add(f"{name}:{worker_port}")
    assert targets == expected


def test_the_dockerfile_runs_as_a_user_with_settings_from_the_environment_only() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in text
    assert "EXPOSE 8443/tcp 8443/udp" in text
    assert "--constraint constraints.txt" in text
    assert text.count("FROM ") >= 2, "multi-stage"
    named = {
        line.split("=")[0].split()[-1]
        for line in text.splitlines()
        if "TIFFIN_" in line and "=" in line
    }
    assert {n for n in named if n.startswith("TIFFIN_")} <= setting_names()


def test_no_secret_of_the_deployment_is_committed() -> None:
    tracked = run(["git", "ls-files", "deploy"], cwd=DEPLOY.parent).stdout.split()
    secret_files = ("secrets.env", "tls.key", "tls.crt", ".env", "fcm-service-account.json")
    assert tracked, "git lists the deployment files"
    assert not [path for path in tracked if path.rsplit("/", 1)[-1] in secret_files]
