"""The Helm chart (helm/workspace-exporter), rendered with Helm's own engine.

Helm v4 runs in-process through ``helm-python-sdk`` (the Go SDK behind a C ABI), so no
``helm`` binary, cluster or network is needed. Every rendered object is validated against
the Kubernetes OpenAPI schemas shipped by ``kubernetes-validate`` (strict: unknown fields are
errors), and the Prometheus Operator kinds against the CRD schemas in ``tests/chart/crds/``.
Test dependencies: ``.ci/install-packaging.sh``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config.settings import parse_config
from exporter.config.targets import TARGET_INDEX_ENV, parse_targets

jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema not installed: run .ci/install-packaging.sh"
)
helm = pytest.importorskip(
    "helm_python", reason="helm-python-sdk not installed: run .ci/install-packaging.sh"
)
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate not installed: run .ci/install-packaging.sh"
)

pytestmark = pytest.mark.chart

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "workspace-exporter"
CRD_DIR = Path(__file__).resolve().parent / "crds"
RELEASE = "ws"
NAMESPACE = "monitoring"
FULLNAME = "ws-workspace-exporter"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema set
# kubernetes-validate ships.
KUBE_VERSIONS = ("1.25.0", "1.37.0")
SCENARIOS = sorted(p.name for p in (CHART_DIR / "ci").glob("*.yaml"))
FAKE_ENV = {
    "HUAWEICLOUD_SDK_AK": "AK",
    "HUAWEICLOUD_SDK_SK": "SK",
    "WORKSPACE_EXPORTER_IAM_PASSWORD": "pw",
}

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]


# --------------------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------------------


def load_values(scenario: str | None) -> dict[str, Any] | None:
    """A values file from the chart's ci/ folder, parsed by Helm itself (None: defaults)."""
    if scenario is None:
        return None
    values: dict[str, Any] = helm.values_from_yaml((CHART_DIR / "ci" / scenario).read_text("utf-8"))
    return values


def render_chart(chart: Any, values: dict[str, Any] | None = None, name: str = RELEASE) -> list[Manifest]:
    """Like ``helm template``: every rendered object, NOTES.txt and empty documents skipped."""
    rendered = chart.render(values, name=name, namespace=NAMESPACE, is_install=True)
    objects: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def render_notes(chart: Any, values: dict[str, Any] | None = None) -> str:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def find(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Manifest], kind: str) -> Manifest:
    found = find(objects, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def container(objects: list[Manifest]) -> Manifest:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def env_by_name(objects: list[Manifest]) -> dict[str, Manifest]:
    return {e["name"]: e for e in container(objects).get("env", [])}


def deployment_env(deployment: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}


def pod_environment(deployment: Manifest) -> dict[str, str]:
    """The variables the pod would see: FAKE_ENV, then the Deployment's own (Secret refs as fakes)."""
    env = dict(FAKE_ENV)
    for name, item in deployment_env(deployment).items():
        env[name] = item.get("value", f"secret-{name}")
    return env


def config_map(objects: list[Manifest]) -> Manifest:
    """The exporter's own ConfigMap (the dashboard ConfigMap, when enabled, is another)."""
    matches = [o for o in find(objects, "ConfigMap") if "config.yaml" in o.get("data", {})]
    assert len(matches) == 1, [o["metadata"]["name"] for o in find(objects, "ConfigMap")]
    return matches[0]


def exporter_config(objects: list[Manifest]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(config_map(objects)["data"]["config.yaml"])
    return data


def pod_annotations(objects: list[Manifest]) -> dict[str, str]:
    annotations: dict[str, str] = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    return annotations


@cache
def crd_validator(kind: str) -> Any:  # a jsonschema.Draft202012Validator
    schema = json.loads((CRD_DIR / f"{kind.lower()}-monitoring-v1.json").read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate_object(obj: Manifest, kube_version: str) -> None:
    """Raise if ``obj`` does not match its Kubernetes (or Prometheus Operator CRD) schema."""
    if obj["apiVersion"].startswith("monitoring.coreos.com/"):
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        crd_validator(obj["kind"]).validate(obj)
    else:
        kubernetes_validate.validate(obj, kube_version, strict=True)


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture
def render(chart: Any) -> Render:
    def _render(values: dict[str, Any] | None = None, **kwargs: Any) -> list[Manifest]:
        return render_chart(chart, values, **kwargs)

    return _render


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """A scratch copy of the chart, for tests that change its files (rules, dashboards)."""
    dest = tmp_path / "workspace-exporter"
    shutil.copytree(CHART_DIR, dest)
    return dest


def with_values(base: dict[str, Any] | None, **overrides: Any) -> dict[str, Any]:
    values = copy.deepcopy(base or {})
    values.update(overrides)
    return values


# --------------------------------------------------------------------------------------
# Lint and schema validation of every scenario
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_chart_lints_clean_in_strict_mode(scenario: str | None) -> None:
    report = helm.lint(
        CHART_DIR, load_values(scenario), strict=True, namespace=NAMESPACE, kube_version="v1.30.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert report["errors"] == [], report
    assert problems == [], report


@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_every_rendered_object_matches_the_kubernetes_schemas(chart: Any, scenario: str | None) -> None:
    objects = render_chart(chart, load_values(scenario))
    assert objects
    for obj in objects:
        assert obj["metadata"]["name"], obj
        for version in KUBE_VERSIONS:
            validate_object(obj, version)


@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_rendered_config_is_accepted_by_the_exporter(chart: Any, scenario: str | None) -> None:
    """Every Deployment's pod accepts the config the way the exporter loads it (``targets`` too)."""
    objects = render_chart(chart, load_values(scenario))
    config = exporter_config(objects)
    for deployment in find(objects, "Deployment"):
        env = pod_environment(deployment)
        targets = parse_targets(config, env=env)
        assert targets
        assert {t.config.web.listen_address for t in targets} == {":10187"}
        if TARGET_INDEX_ENV in env:
            (settings,) = targets
            wanted = config["targets"][int(env[TARGET_INDEX_ENV])]
            assert (settings.config.region, settings.config.project_id) == (
                wanted["region"],
                wanted["project_id"],
            )


def test_object_validation_catches_a_broken_object() -> None:
    """Guard against a validator that accepts anything."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "one", "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(deployment, KUBE_VERSIONS[-1])
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "http-metrics", "interval": "1 minute"}]},
    }
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        validate_object(monitor, KUBE_VERSIONS[-1])
    monitor["spec"]["endpoints"] = [{"port": "http-metrics", "scrapeIntervall": "60s"}]
    with pytest.raises(jsonschema.ValidationError, match="scrapeIntervall"):
        validate_object(monitor, KUBE_VERSIONS[-1])


# --------------------------------------------------------------------------------------
# What each scenario renders
# --------------------------------------------------------------------------------------


def test_default_values_render_only_the_core_objects(render: Render) -> None:
    kinds = sorted(o["kind"] for o in render())
    assert kinds == ["ConfigMap", "Deployment", "Service", "ServiceAccount"]


def test_monitoring_scenario_renders_every_optional_object(render: Render) -> None:
    kinds = {o["kind"] for o in render(load_values("monitoring-values.yaml"))}
    assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    assert "Secret" not in kinds


def test_the_deployment_is_hardened_by_default(render: Render) -> None:
    objects = render()
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    ctx = container(objects)["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert "resources" not in container(objects)
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False


def test_one_replica_with_probes_on_the_health_endpoints(render: Render) -> None:
    objects = render()
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    c = container(objects)
    assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http-metrics", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http-metrics", "scheme": "HTTP"}
    assert c["ports"] == [{"name": "http-metrics", "containerPort": 10187, "protocol": "TCP"}]
    assert c["args"] == ["--config.file=/etc/workspace-exporter/config.yaml"]


def test_config_is_mounted_from_the_configmap(render: Render) -> None:
    objects = render()
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    configmap = config_map(objects)
    assert {"name": "config", "configMap": {"name": configmap["metadata"]["name"]}} in pod["volumes"]
    mount = next(m for m in container(objects)["volumeMounts"] if m["name"] == "config")
    assert mount == {"name": "config", "mountPath": "/etc/workspace-exporter", "readOnly": True}
    assert list(configmap["data"]) == ["config.yaml"]


def test_the_service_exposes_http_metrics_and_selects_the_pods(render: Render) -> None:
    objects = render()
    service = one(objects, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": 10187, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_selector_labels_carry_no_version(render: Render) -> None:
    selector = one(render(), "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "workspace-exporter", "app.kubernetes.io/instance": RELEASE}


def test_names_are_capped_at_63_characters(render: Render) -> None:
    objects = render({"fullnameOverride": "x" * 80})
    assert {len(o["metadata"]["name"]) for o in objects} == {63}
    objects = render({"nameOverride": "n" * 40}, name="r" * 40)
    assert max(len(o["metadata"]["name"]) for o in objects) == 63


def test_release_name_containing_the_chart_name_is_used_alone(render: Render) -> None:
    objects = render(name="prod-workspace-exporter")
    assert one(objects, "Deployment")["metadata"]["name"] == "prod-workspace-exporter"


def test_listen_address_is_forced_to_the_container_port(render: Render) -> None:
    config = exporter_config(render({"config": {"web": {"listen_address": "127.0.0.1:9999"}}}))
    assert config["web"]["listen_address"] == ":10187"


def test_config_values_reach_the_configmap(render: Render) -> None:
    values = {
        "config": {"region": "cn-north-4", "inventory": {"tag_labels": ["team"]}, "log": {"format": "json"}}
    }
    config = exporter_config(render(values))
    assert config["region"] == "cn-north-4"
    assert config["inventory"] == {"interval": "5m", "tag_labels": ["team"], "user_name_label": True}
    assert config["log"] == {"level": "info", "format": "json"}


def test_extra_settings_are_passed_to_the_pod(render: Render) -> None:
    values = {
        "extraArgs": ["--log.level=debug"],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "extraEnvFrom": [{"configMapRef": {"name": "proxy-env"}}],
        "extraVolumes": [{"name": "creds", "secret": {"secretName": "files"}}],
        "extraVolumeMounts": [{"name": "creds", "mountPath": "/var/run/creds", "readOnly": True}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "monitoring", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "podAnnotations": {"team": "desktops"},
        "podLabels": {"tier": "monitoring"},
        "imagePullSecrets": [{"name": "regcred"}],
        "priorityClassName": "monitoring",
    }
    objects = render(values)
    for version in KUBE_VERSIONS:
        validate_object(one(objects, "Deployment"), version)
    pod = one(objects, "Deployment")["spec"]["template"]
    c = container(objects)
    assert c["args"][-1] == "--log.level=debug"
    assert env_by_name(objects)["HTTPS_PROXY"]["value"] == "http://proxy:3128"
    assert c["envFrom"] == [{"configMapRef": {"name": "proxy-env"}}]
    assert {"name": "creds", "secret": {"secretName": "files"}} in pod["spec"]["volumes"]
    assert c["volumeMounts"][-1]["mountPath"] == "/var/run/creds"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "monitoring"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["priorityClassName"] == "monitoring"
    assert pod["metadata"]["annotations"]["team"] == "desktops"
    assert "checksum/config" in pod["metadata"]["annotations"]
    assert pod["metadata"]["labels"]["tier"] == "monitoring"


def test_image_defaults_to_the_app_version_and_prefers_a_digest(render: Render, chart: Any) -> None:
    assert container(render())["image"] == f"workspace-exporter:{chart.metadata['appVersion']}"
    digest = "sha256:" + "a" * 64
    image = {"registry": "registry.example.com/", "repository": "obs/workspace-exporter", "digest": digest}
    assert (
        container(render({"image": image}))["image"]
        == f"registry.example.com/obs/workspace-exporter@{digest}"
    )


def test_shards_render_one_deployment_each_behind_one_service(render: Render) -> None:
    objects = render({"shards": 3, "existingSecret": {"name": "creds"}})
    deployments = find(objects, "Deployment")
    assert [d["metadata"]["name"] for d in deployments] == [f"{FULLNAME}-shard-{i}" for i in range(3)]
    service_selector = one(objects, "Service")["spec"]["selector"]
    selectors = []
    for index, deployment in enumerate(deployments):
        for version in KUBE_VERSIONS:
            validate_object(deployment, version)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["workspace-exporter/shard"] == str(index)
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert service_selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["WORKSPACE_EXPORTER_SHARD_INDEX"]["value"] == str(index)
        assert env["WORKSPACE_EXPORTER_SHARD_COUNT"]["value"] == "3"
        assert "HUAWEICLOUD_SDK_AK" in env
        selectors.append(selector)
    assert len({tuple(sorted(s.items())) for s in selectors}) == 3  # no two Deployments share pods
    config = exporter_config(objects)
    settings = parse_config(
        config, env={**FAKE_ENV, "WORKSPACE_EXPORTER_SHARD_INDEX": "2", "WORKSPACE_EXPORTER_SHARD_COUNT": "3"}
    )
    assert (settings.config.shard.index, settings.config.shard.count) == (2, 3)


def test_a_single_shard_keeps_the_plain_deployment(render: Render) -> None:
    deployment = one(render({"shards": 1}), "Deployment")
    assert deployment["metadata"]["name"] == FULLNAME
    assert "workspace-exporter/shard" not in deployment["spec"]["selector"]["matchLabels"]


TWO_TARGETS = [
    {"region": "ap-southeast-1", "project_id": "0123456789abcdef0123456789abcdef"},
    {
        "region": "cn-north-4",
        "project_id": "fedcba9876543210fedcba9876543210",
        "auth": {"ak_env": "CN_AK", "sk_env": "CN_SK"},
    },
]


def assert_deployments_apart_behind_shared_objects(objects: list[Manifest]) -> None:
    """No two Deployments share pods; the Service, ServiceMonitor, PDB and NetworkPolicy see all."""
    deployments = find(objects, "Deployment")
    shared = [
        one(objects, "Service")["spec"]["selector"],
        *(o["spec"]["selector"]["matchLabels"] for o in find(objects, "ServiceMonitor")),
        *(o["spec"]["selector"]["matchLabels"] for o in find(objects, "PodDisruptionBudget")),
        *(o["spec"]["podSelector"]["matchLabels"] for o in find(objects, "NetworkPolicy")),
    ]
    selectors = []
    for deployment in deployments:
        for version in KUBE_VERSIONS:
            validate_object(deployment, version)
        selector = deployment["spec"]["selector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        for other in shared:
            assert other.items() <= pod_labels.items()
        selectors.append(selector)
    for selector in selectors:
        # A Deployment's selector matches its own pods only.
        others = [d for d in deployments if d["spec"]["selector"]["matchLabels"] != selector]
        assert len(others) == len(deployments) - 1
        for other in others:
            assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()


def test_split_targets_render_one_deployment_per_target(render: Render) -> None:
    values = {"splitTargets": True, "existingSecret": {"name": "creds"}, "config": {"targets": TWO_TARGETS}}
    objects = render(values)
    deployments = find(objects, "Deployment")
    assert [d["metadata"]["name"] for d in deployments] == [f"{FULLNAME}-target-{i}" for i in range(2)]
    for index, deployment in enumerate(deployments):
        for labels in (
            deployment["metadata"]["labels"],
            deployment["spec"]["selector"]["matchLabels"],
            deployment["spec"]["template"]["metadata"]["labels"],
        ):
            assert labels["workspace-exporter/target"] == str(index)
            assert "workspace-exporter/shard" not in labels
        env = deployment_env(deployment)
        assert env[TARGET_INDEX_ENV]["value"] == str(index)
        assert "WORKSPACE_EXPORTER_SHARD_INDEX" not in env
        assert "HUAWEICLOUD_SDK_AK" in env
    assert_deployments_apart_behind_shared_objects(objects)
    # All share the one ConfigMap, which keeps every target.
    volumes = {d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] for d in deployments}
    assert volumes == {config_map(objects)["metadata"]["name"]}
    assert exporter_config(objects)["targets"] == TWO_TARGETS
    (settings,) = parse_targets(
        exporter_config(objects), env={"CN_AK": "a", "CN_SK": "s", TARGET_INDEX_ENV: "1"}
    )
    assert (settings.config.region, settings.config.target_labels) == ("cn-north-4", "always")


def test_split_targets_combine_with_shards(render: Render) -> None:
    objects = render(load_values("split-targets-values.yaml"))
    deployments = find(objects, "Deployment")
    pairs = [(t, s) for t in range(2) for s in range(2)]
    assert [d["metadata"]["name"] for d in deployments] == [
        f"{FULLNAME}-target-{t}-shard-{s}" for t, s in pairs
    ]
    for (target, shard), deployment in zip(pairs, deployments, strict=True):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["workspace-exporter/target"] == str(target)
        assert selector["workspace-exporter/shard"] == str(shard)
        assert deployment["metadata"]["labels"].items() >= selector.items()
        env = deployment_env(deployment)
        assert env[TARGET_INDEX_ENV]["value"] == str(target)
        assert env["WORKSPACE_EXPORTER_SHARD_INDEX"]["value"] == str(shard)
        assert env["WORKSPACE_EXPORTER_SHARD_COUNT"]["value"] == "2"
        (settings,) = parse_targets(exporter_config(objects), env=pod_environment(deployment))
        assert (settings.config.shard.index, settings.config.shard.count) == (shard, 2)
    assert_deployments_apart_behind_shared_objects(objects)
    for kind in ("ConfigMap", "Service", "ServiceMonitor", "PodDisruptionBudget"):
        assert one(objects, kind)["metadata"]["name"] == FULLNAME


def test_targets_without_split_keep_one_process(render: Render) -> None:
    objects = render({"existingSecret": {"name": "creds"}, "config": {"targets": TWO_TARGETS}})
    deployment = one(objects, "Deployment")
    assert deployment["metadata"]["name"] == FULLNAME
    assert "workspace-exporter/target" not in deployment["spec"]["selector"]["matchLabels"]
    assert TARGET_INDEX_ENV not in deployment_env(deployment)


@pytest.mark.parametrize(
    "values",
    [{"splitTargets": True}, {"splitTargets": True, "shards": 2, "config": {"region": "cn-north-4"}}],
    ids=["no-targets", "no-targets-with-shards"],
)
def test_split_targets_without_targets_fail_with_a_clear_message(
    render: Render, values: dict[str, Any]
) -> None:
    with pytest.raises(
        helm.HelmError, match=re.escape("splitTargets is true: list the projects in config.targets")
    ):
        render(values)


def test_split_target_names_are_capped_at_63_characters(render: Render) -> None:
    targets = [{"region": "ap-southeast-1", "project_id": f"{i:032x}"} for i in range(11)]
    for shards in (1, 2):
        values = {"fullnameOverride": "x" * 80, "splitTargets": True, "shards": shards}
        names = [
            d["metadata"]["name"]
            for d in find(render({**values, "config": {"targets": targets}}), "Deployment")
        ]
        assert len(names) == len(set(names)) == 11 * shards
        assert max(len(n) for n in names) <= 63
        assert len({n.split("-target-")[0] for n in names}) == 1  # one prefix for the release
        assert names[-1].endswith("-target-10-shard-1" if shards == 2 else "-target-10")


# --------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------


def secret_ref(env: Manifest) -> Manifest:
    ref: Manifest = env["valueFrom"]["secretKeyRef"]
    return ref


def test_inline_credentials_render_the_charts_secret(render: Render) -> None:
    objects = render(load_values("default-values.yaml"))
    secret = one(objects, "Secret")
    assert secret["metadata"]["name"] == FULLNAME
    assert set(secret["data"]) == {"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"}
    env = env_by_name(objects)
    assert set(env) == {"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"}
    assert secret_ref(env["HUAWEICLOUD_SDK_AK"]) == {"name": FULLNAME, "key": "HUAWEICLOUD_SDK_AK"}
    assert secret_ref(env["HUAWEICLOUD_SDK_SK"]) == {"name": FULLNAME, "key": "HUAWEICLOUD_SDK_SK"}
    # No credential value is ever rendered into the pod spec or the ConfigMap.
    text = json.dumps([one(objects, "Deployment"), config_map(objects)])
    assert "TESTACCESSKEY" not in text
    assert "not-real" not in text


def test_inline_security_token_is_stored_and_referenced(render: Render) -> None:
    creds = {"accessKey": "a", "secretKey": "s", "securityToken": "t"}
    objects = render({"credentials": creds})
    assert "HUAWEICLOUD_SDK_SECURITY_TOKEN" in one(objects, "Secret")["data"]
    ref = secret_ref(env_by_name(objects)["HUAWEICLOUD_SDK_SECURITY_TOKEN"])
    assert ref == {"name": FULLNAME, "key": "HUAWEICLOUD_SDK_SECURITY_TOKEN", "optional": True}


def test_existing_secret_is_referenced_with_its_key_names(render: Render) -> None:
    objects = render(load_values("existing-secret-values.yaml"))
    assert find(objects, "Secret") == []
    env = env_by_name(objects)
    assert secret_ref(env["HUAWEICLOUD_SDK_AK"]) == {"name": "workspace-credentials", "key": "ak"}
    assert secret_ref(env["HUAWEICLOUD_SDK_SK"]) == {"name": "workspace-credentials", "key": "sk"}
    assert secret_ref(env["HUAWEICLOUD_SDK_SECURITY_TOKEN"]) == {
        "name": "workspace-credentials",
        "key": "security-token",
        "optional": True,
    }
    assert "WORKSPACE_EXPORTER_IAM_PASSWORD" not in env


def test_token_auth_reads_only_the_iam_password(render: Render) -> None:
    objects = render(load_values("token-auth-values.yaml"))
    env = env_by_name(objects)
    assert set(env) == {"WORKSPACE_EXPORTER_IAM_PASSWORD"}
    assert secret_ref(env["WORKSPACE_EXPORTER_IAM_PASSWORD"]) == {
        "name": "workspace-iam",
        "key": "WORKSPACE_EXPORTER_IAM_PASSWORD",
    }
    assert find(objects, "ServiceAccount") == []
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_without_credentials_nothing_is_referenced_and_notes_name_the_keyless_chain(
    render: Render, chart: Any
) -> None:
    objects = render()
    assert find(objects, "Secret") == []
    assert "env" not in container(objects)
    assert "the exporter asks the ECS metadata service" in render_notes(chart)
    assert "metadata service" not in render_notes(chart, load_values("existing-secret-values.yaml"))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"existingSecret": {"name": "s"}, "credentials": {"accessKey": "a", "secretKey": "s"}},
            "either existingSecret.name or credentials",
        ),
        ({"credentials": {"accessKey": "a"}}, "set both credentials.accessKey and credentials.secretKey"),
        (
            {"config": {"auth": {"method": "token"}}, "credentials": {"accessKey": "a", "secretKey": "s"}},
            "set credentials.iamPassword",
        ),
    ],
    ids=["existing-and-inline", "ak-without-sk", "token-without-password"],
)
def test_contradictory_credentials_fail_with_a_clear_message(
    render: Render, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values)


# --------------------------------------------------------------------------------------
# Rolling on change
# --------------------------------------------------------------------------------------


def test_config_change_rolls_the_pods(render: Render) -> None:
    before = pod_annotations(render())
    after = pod_annotations(render({"config": {"inventory": {"interval": "10m"}}}))
    unrelated = pod_annotations(render({"replicaCount": 2}))
    assert after["checksum/config"] != before["checksum/config"]
    assert after["checksum/secret"] == before["checksum/secret"]
    assert unrelated == before


def test_credentials_change_rolls_the_pods(render: Render) -> None:
    before = pod_annotations(render({"credentials": {"accessKey": "a", "secretKey": "s"}}))
    after = pod_annotations(render({"credentials": {"accessKey": "a", "secretKey": "rotated"}}))
    assert after["checksum/secret"] != before["checksum/secret"]
    assert after["checksum/config"] == before["checksum/config"]


# --------------------------------------------------------------------------------------
# Prometheus Operator, Grafana, NetworkPolicy, PodDisruptionBudget
# --------------------------------------------------------------------------------------


def test_servicemonitor_selects_the_service_on_its_metrics_port(render: Render) -> None:
    objects = render(load_values("monitoring-values.yaml"))
    service = one(objects, "Service")
    monitor = one(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    port_names = {p["name"] for p in service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "60s"
    assert endpoint["scrapeTimeout"] == "30s"
    assert endpoint["metricRelabelings"][0]["action"] == "drop"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_servicemonitor_passes_auth_and_tls_through(render: Render) -> None:
    auth = {"username": {"name": "scrape", "key": "user"}, "password": {"name": "scrape", "key": "pass"}}
    tls = {"insecureSkipVerify": False, "serverName": "ws-workspace-exporter"}
    values = {
        "serviceMonitor": {
            "enabled": True,
            "namespace": "prometheus",
            "scheme": "https",
            "basicAuth": auth,
            "tlsConfig": tls,
            "relabelings": [{"targetLabel": "cluster", "replacement": "prod"}],
            "jobLabel": "app.kubernetes.io/name",
        }
    }
    monitor = one(render(values), "ServiceMonitor")
    validate_object(monitor, KUBE_VERSIONS[-1])
    assert monitor["metadata"]["namespace"] == "prometheus"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["basicAuth"] == auth
    assert endpoint["tlsConfig"] == tls
    assert endpoint["relabelings"] == [{"targetLabel": "cluster", "replacement": "prod"}]


def test_prometheusrule_ships_the_rule_source_plus_additional_rules(chart_copy: Path) -> None:
    group = {
        "name": "workspace-exporter",
        "rules": [
            {
                "alert": "WorkspaceExporterDown",
                "expr": 'up{job="workspace-exporter"} == 0',
                "for": "15m",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "The exporter is down.",
                    "description": "{{ $labels.instance }} is down.",
                },
            }
        ],
    }
    (chart_copy / "rules" / "alerts.src.yaml").write_text(yaml.safe_dump({"groups": [group]}), "utf-8")
    extra = {"alert": "Extra", "expr": "vector(1)", "labels": {"severity": "info"}}
    values = {"prometheusRule": {"enabled": True, "additionalRules": [extra]}}
    with helm.Chart.load(chart_copy) as copy_chart:
        rule = one(render_chart(copy_chart, values), "PrometheusRule")
        validate_object(rule, KUBE_VERSIONS[-1])
        groups = rule["spec"]["groups"]
        assert groups[0] == group  # verbatim: Prometheus templates are not expanded by Helm
        assert groups[1] == {"name": f"{FULLNAME}.additional", "rules": [extra]}
        values["prometheusRule"]["defaultRules"] = False
        groups = one(render_chart(copy_chart, values), "PrometheusRule")["spec"]["groups"]
        assert [g["name"] for g in groups] == [f"{FULLNAME}.additional"]


def test_prometheusrule_is_skipped_when_there_is_nothing_to_ship(chart_copy: Path) -> None:
    (chart_copy / "rules" / "alerts.src.yaml").write_text("groups: []\n", "utf-8")
    with helm.Chart.load(chart_copy) as copy_chart:
        assert find(render_chart(copy_chart, {"prometheusRule": {"enabled": True}}), "PrometheusRule") == []


def test_the_shipped_rule_source_is_a_rule_group_list() -> None:
    content = yaml.safe_load((CHART_DIR / "rules" / "alerts.src.yaml").read_text("utf-8"))
    assert isinstance(content, dict)
    assert isinstance(content.get("groups"), list)


def test_grafana_dashboards_configmap_carries_the_sidecar_label(chart_copy: Path) -> None:
    dashboards = chart_copy / "dashboards"
    shutil.rmtree(dashboards, ignore_errors=True)
    dashboards.mkdir()
    values: dict[str, Any] = {"grafanaDashboard": {"enabled": True}}
    with helm.Chart.load(chart_copy) as empty:
        assert [o["metadata"]["name"] for o in find(render_chart(empty, values), "ConfigMap")] == [FULLNAME]
    board = {"title": "Workspace", "panels": [{"title": "{{ not a helm template }}"}]}
    (dashboards / "workspace.json").write_text(json.dumps(board), "utf-8")
    values["grafanaDashboard"] |= {"sidecarLabelValue": "yes", "annotations": {"grafana_folder": "Workspace"}}
    with helm.Chart.load(chart_copy) as full:
        (cm,) = [
            o for o in find(render_chart(full, values), "ConfigMap") if o["metadata"]["name"] != FULLNAME
        ]
    validate_object(cm, KUBE_VERSIONS[-1])
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "yes"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Workspace"}
    assert json.loads(cm["data"]["workspace.json"]) == board


def test_networkpolicy_allows_scrapes_https_and_dns_only(render: Render) -> None:
    policy = one(render(load_values("monitoring-values.yaml")), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "workspace-exporter",
        "app.kubernetes.io/instance": RELEASE,
    }
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"port": "http-metrics", "protocol": "TCP"}]
    assert ingress["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    https, dns = spec["egress"]
    assert https == {"ports": [{"port": 443, "protocol": "TCP"}]}
    assert dns == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def test_pdb_prefers_min_available_when_set(render: Render) -> None:
    pdb = one(render({"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    pdb = one(
        render({"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}}), "PodDisruptionBudget"
    )
    assert pdb["spec"]["minAvailable"] == "50%"
    assert "maxUnavailable" not in pdb["spec"]


def test_optional_objects_are_off_by_default(chart: Any) -> None:
    values = chart.values
    for key in (
        "serviceMonitor",
        "prometheusRule",
        "grafanaDashboard",
        "networkPolicy",
        "podDisruptionBudget",
    ):
        assert values[key]["enabled"] is False, key
    assert values["prometheusRule"]["additionalRules"] == []
    assert values["resources"] == {}


# --------------------------------------------------------------------------------------
# values.schema.json
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 2}, "replicas"),
        ({"replicaCount": "two"}, "replicaCount"),
        ({"shards": 0}, "shards"),
        ({"splitTargets": "yes"}, "splitTargets"),
        ({"service": {"port": "http"}}, "port"),
        ({"serviceMonitor": {"enabled": "yes"}}, "enabled"),
        ({"serviceMonitor": {"interval": "1 minute"}}, "interval"),
        ({"config": {"regoin": "ap-southeast-1"}}, "regoin"),
        ({"config": {"auth": {"method": "password"}}}, "method"),
        ({"config": {"inventory": {"interval": "often"}}}, "interval"),
        ({"config": {"budget": {"burst": 0}}}, "burst"),
        ({"prometheusRule": {"thresholds": {"desktopCpuUsageRatio": 1.5}}}, "desktopCpuUsageRatio"),
        ({"prometheusRule": {"thresholds": {"cpu": 0.5}}}, "cpu"),
        ({"prometheusRule": {"for": {"desktopUsage": "half an hour"}}}, "desktopUsage"),
        ({"prometheusRule": {"selector": '{job="x"}'}}, "selector"),
    ],
    ids=[
        "unknown-top-level-key",
        "wrong-type",
        "no-shards",
        "split-targets-not-bool",
        "wrong-nested-type",
        "wrong-bool",
        "bad-duration",
        "unknown-config-key",
        "bad-config-enum",
        "bad-config-duration",
        "config-below-minimum",
        "rule-ratio-above-one",
        "unknown-rule-threshold",
        "bad-rule-for",
        "rule-selector-with-braces",
    ],
)
def test_values_schema_rejects_bad_values(chart: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=message):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_values_schema_accepts_every_scenario(chart: Any, scenario: str | None) -> None:
    chart.validate_schema(load_values(scenario))


def test_values_schema_is_draft_07_and_closed_at_the_top(chart: Any) -> None:
    schema = chart.schema
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) - {"global"} == set(chart.values) - {"global"}


def test_values_schema_config_part_matches_the_exporter_config() -> None:
    """properties.config is generated from exporter/config/settings.py; regenerate when it changes."""
    spec = importlib.util.spec_from_file_location(
        "gen_schema", ROOT / "scripts" / "gen-chart-config-schema.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema = json.loads((CHART_DIR / "values.schema.json").read_text("utf-8"))
    assert schema["properties"]["config"] == module.config_schema(), (
        "values.schema.json is stale: run .venv/bin/python scripts/gen-chart-config-schema.py"
    )


# --------------------------------------------------------------------------------------
# values.yaml and README.md
# --------------------------------------------------------------------------------------


def key_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    return None


def key_paths(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return set()
    paths = set()
    for key, sub in tree.items():
        path = f"{prefix}{key}"
        paths |= {path} | key_paths(sub, path + ".")
    return paths


def test_values_config_mirrors_the_documented_config_yaml(chart: Any) -> None:
    """Same sections as config.yaml, and no key config.yaml does not document.

    A key newly documented in config.yaml may lag behind in values.yaml (the exporter's default
    applies); a section may not, and a key config.yaml no longer has is stale.
    """
    documented = yaml.safe_load((ROOT / "config.yaml").read_text("utf-8"))
    values = chart.values["config"]
    assert set(values) >= set(documented), "add the new config.yaml section to values.yaml"
    assert key_paths(values) <= key_paths(documented)


# Subtrees passed through as Kubernetes objects: documented as a whole by their parent's comment.
PASS_THROUGH = {"podSecurityContext", "securityContext", "livenessProbe", "readinessProbe", "resources"}
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<rest>.*)$")


def values_leaves() -> Iterator[tuple[str, bool]]:
    """(dotted path, has a comment) for every leaf key of values.yaml, pass-through subtrees skipped."""
    stack: list[tuple[int, str]] = []
    commented = False
    for line in (CHART_DIR / "values.yaml").read_text("utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            commented = True
            continue
        match = KEY_LINE.match(line)
        if not match:
            if stripped and not stripped.startswith("-"):
                commented = False
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), match["key"]])
        rest = match["rest"].split(" #")[0].strip()
        inside_pass_through = any(k in PASS_THROUGH for _, k in stack)
        if not rest:  # a mapping header (or a list that follows)
            stack.append((indent, match["key"]))
        if not inside_pass_through and (rest or match["key"] in PASS_THROUGH):
            yield path, commented
        commented = False


def test_every_value_has_a_comment() -> None:
    leaves = list(values_leaves())
    assert len(leaves) > 50
    assert [path for path, commented in leaves if not commented] == []


def test_readme_lists_every_value() -> None:
    readme = (CHART_DIR / "README.md").read_text("utf-8")
    missing = [path for path, _ in values_leaves() if f"`{path}`" not in readme]
    assert missing == []


def test_package_contains_rules_and_dashboards_but_not_ci(chart_copy: Path, tmp_path: Path) -> None:
    (chart_copy / "dashboards").mkdir(exist_ok=True)
    (chart_copy / "dashboards" / "x.json").write_text("{}", "utf-8")
    archive = helm.package(chart_copy, destination=tmp_path)
    with helm.Chart.load(archive) as packaged:
        names = {f["name"] for f in packaged.files}
    assert {"rules/alerts.src.yaml", "rules/alerts.yaml"} <= names
    assert "dashboards/x.json" in names
    assert not any(n.startswith("ci/") for n in names)
