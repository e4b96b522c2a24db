"""deploy/: Kubernetes manifests (kustomize build + schema validation) and docker-compose (compose-spec).

Offline tools: `kubectl kustomize` (or a `kustomize` binary), the `kubernetes-validate` PyPI package (strict
schemas of the Kubernetes API), `check-jsonschema --builtin-schema vendor.compose-spec`. See
deploy/local/install_test_tools.sh.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from engine.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "deploy" / "docker-compose.yml"
BIN = Path(sys.executable).parent
GO_KUSTOMIZE = Path.home() / ".cache" / "ratchet" / "bin" / "kustomize"


def kustomize_build(path: Path) -> list[dict]:
    """The rendered manifests of a kustomization, as dicts."""
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(path)]
    elif shutil.which("kustomize") or GO_KUSTOMIZE.exists():
        cmd = [shutil.which("kustomize") or str(GO_KUSTOMIZE), "build", str(path)]
    else:
        pytest.fail("neither kubectl nor kustomize is installed: run deploy/local/install_test_tools.sh")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[list[dict], Path]:
    docs = kustomize_build(K8S)
    out = tmp_path_factory.mktemp("k8s") / "rendered.yaml"
    out.write_text(yaml.safe_dump_all(docs))
    return docs, out


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert matches, f"no {kind}/{name} in the rendered manifests"
    return matches[0]


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_manifests_pass_strict_kubernetes_schemas(rendered) -> None:
    _docs, path = rendered
    result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "-k", "1.32.0", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") >= 14


def test_schema_validation_catches_a_broken_manifest(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                                   "spec": {"replicas": "two", "selector": {}, "template": {}}}))
    result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "-k", "1.32.0", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0


def config_map(docs: list[dict], prefix: str) -> dict[str, str]:
    """The data of the generated ConfigMap whose name starts with ``prefix`` (kustomize adds a hash)."""
    return next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(prefix))["data"]


def test_vllm_replicas_are_gpu_pods_with_tensor_parallel_setting(rendered) -> None:
    docs, _ = rendered
    vllm = find(docs, "Deployment", "vllm")
    assert vllm["spec"]["replicas"] >= 2
    server = pod_spec(vllm)["containers"][0]
    assert "--tensor-parallel-size=$(TENSOR_PARALLEL_SIZE)" in server["args"]
    tp = config_map(docs, "vllm-config")["TENSOR_PARALLEL_SIZE"]
    assert int(server["resources"]["limits"]["nvidia.com/gpu"]) == int(tp)
    assert env_of(server)["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    sidecar = pod_spec(vllm)["containers"][1]
    assert sidecar["command"][-1] == "/opt/ratchet/adapter_sync.py" and "readinessProbe" in sidecar
    assert env_of(sidecar)["RATCHET_ENGINE__REPLICA_URLS"] == "[]", "the sidecar syncs its own replica only"
    assert env_of(sidecar)["RATCHET_ENGINE__REPLICA_DISCOVERY"] == ""
    assert find(docs, "Service", "vllm-replicas")["spec"]["clusterIP"] == "None"


def test_promotion_reaches_every_vllm_replica(rendered) -> None:
    docs, _ = rendered
    vllm = find(docs, "Deployment", "vllm")
    headless = find(docs, "Service", "vllm-replicas")
    assert headless["spec"]["selector"] == vllm["spec"]["selector"]["matchLabels"], "the Service finds the pods"
    assert not headless["spec"].get("publishNotReadyAddresses"), "only replicas that finished their sync"
    discovery = config_map(docs, "ratchet-env")["RATCHET_ENGINE__REPLICA_DISCOVERY"]
    host, port = discovery.rsplit(":", 1)
    assert host.split(".")[:2] == ["vllm-replicas", "ratchet"] and int(port) == headless["spec"]["ports"][0]["port"]


def test_ratchet_pods_share_adapters_config_and_replica_urls(rendered) -> None:
    docs, _ = rendered
    assert find(docs, "PersistentVolumeClaim", "ratchet-adapters")["spec"]["accessModes"] == ["ReadWriteMany"]
    bot = find(docs, "Deployment", "ratchet-bot")
    assert bot["spec"]["replicas"] >= 2
    port = env_of(pod_spec(bot)["containers"][0])["RATCHET_ADMIN__BOT_METRICS_PORT"]
    assert bot["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == port
    trainer = find(docs, "CronJob", "ratchet-trainer")
    assert trainer["spec"]["concurrencyPolicy"] == "Forbid"
    assert "nvidia.com/gpu" in pod_spec(trainer)["containers"][0]["resources"]["limits"]
    env_map = next(d["metadata"]["name"] for d in docs if d["metadata"]["name"].startswith("ratchet-env"))
    assert config_map(docs, "ratchet-env")["RATCHET_CONFIG"] == "/etc/ratchet/ratchet.yaml"
    for doc in (bot, find(docs, "Deployment", "ratchet-admin"), trainer):
        container = pod_spec(doc)["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": env_map}},
                                        {"secretRef": {"name": "ratchet-secrets"}}]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["adapters"] == "/data/adapters" and mounts["config"] == "/etc/ratchet"
        assert mounts["models"] == "/data/models", "promotion and training read the base model's config"
    assert find(docs, "StatefulSet", "postgres")["spec"]["volumeClaimTemplates"]


def test_every_ratchet_command_in_the_manifests_exists() -> None:
    docs = kustomize_build(K8S)
    compose = yaml.safe_load(COMPOSE.read_text())
    commands = [pod_spec(d)["containers"][0].get("args") for d in docs
                if d["kind"] in ("Deployment", "CronJob") and d["metadata"]["name"].startswith("ratchet")]
    assert len(commands) == 3
    commands += [s["command"] for s in compose["services"].values()
                 if isinstance(s.get("command"), list) and s["command"][0] == "ratchet"]
    assert len(commands) >= 5
    for argv in commands:
        result = CliRunner().invoke(app, [*argv[1:], "--help"])
        assert result.exit_code == 0, f"`{' '.join(argv)}` is not a ratchet command: {result.output[-300:]}"


def test_the_shared_settings_load_as_the_pods_see_them(rendered, monkeypatch) -> None:
    docs, _ = rendered
    env = config_map(docs, "ratchet-env")
    monkeypatch.setenv("RATCHET_CONFIG", str(K8S / "ratchet.yaml"))
    monkeypatch.setenv("RATCHET_ENGINE__REPLICA_DISCOVERY", env["RATCHET_ENGINE__REPLICA_DISCOVERY"])
    settings = Settings()
    assert settings.engine.vllm_url.startswith("http://vllm.") and settings.log_json
    assert settings.engine.replica_discovery.startswith("vllm-replicas.")
    assert not settings.engine.base_adapter, "the GPU vLLM serves no zero-LoRA stand-in"
    assert str(settings.model_dir) == config_map(docs, "vllm-config")["MODEL"], "trainer and vLLM see one model"
    assert settings.rag.weaviate_url.startswith("http://weaviate-api.")


def test_weaviate_helm_values_are_replicated() -> None:
    values = yaml.safe_load((K8S / "weaviate" / "values.yaml").read_text())
    assert values["replicas"] >= 3 and values["env"]["REPLICATION_MINIMUM_FACTOR"] >= 2
    assert values["grpcService"]["enabled"] is True


def test_compose_file_matches_the_compose_spec(tmp_path) -> None:
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yml"
    broken.write_text(COMPOSE.read_text().replace("restart: unless-stopped", "restart: [nope]", 1))
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
                            capture_output=True, text=True)
    assert result.returncode != 0, "the compose schema check must reject a broken file"
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"vllm", "weaviate", "postgres", "bot", "admin", "trainer", "adapter-sync"} <= set(services)
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]


RATCHET_PODS = ("ratchet-bot", "ratchet-admin", "ratchet-trainer")


def _labels(doc: dict) -> dict[str, str]:
    meta = doc["spec"]["jobTemplate"]["spec"]["template"] if doc["kind"] == "CronJob" else doc["spec"]["template"]
    return meta["metadata"]["labels"]


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only plain label selectors are expected here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_vllm_requires_an_api_key_from_a_secret_and_ratchet_sends_it(rendered) -> None:
    docs, _ = rendered
    server = pod_spec(find(docs, "Deployment", "vllm"))["containers"][0]
    assert "--api-key=$(VLLM_API_KEY)" in server["args"]
    key = next(e for e in server["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": "ratchet-secrets", "key": "RATCHET_ENGINE__API_KEY"}
    example = (K8S / "secret.example.env").read_text()
    assert "\nRATCHET_ENGINE__API_KEY=" in example, "the secret template names the key"
    # the bot, the admin page and the trainer get RATCHET_ENGINE__API_KEY from the same secret (envFrom)
    for name, kind in (("ratchet-bot", "Deployment"), ("ratchet-admin", "Deployment"), ("ratchet-trainer", "CronJob")):
        assert {"secretRef": {"name": "ratchet-secrets"}} in pod_spec(find(docs, kind, name))["containers"][0]["envFrom"]


def test_only_ratchet_pods_reach_vllm(rendered) -> None:
    docs, _ = rendered
    vllm = find(docs, "Deployment", "vllm")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"
                and _selects(d["spec"]["podSelector"], _labels(vllm))]
    assert len(policies) == 1, "one NetworkPolicy guards the vLLM pods"
    spec = policies[0]["spec"]
    assert spec["policyTypes"] == ["Ingress"] and len(spec["ingress"]) == 1
    rule = spec["ingress"][0]
    assert [p["port"] for p in rule["ports"]] == [8000]
    sources = rule["from"]
    assert all(set(s) == {"podSelector"} for s in sources), "no namespace or IP block is let in"
    pods = {d["metadata"]["name"]: _labels(d) for d in docs if d["metadata"]["name"] in RATCHET_PODS
            and d["kind"] in ("Deployment", "CronJob")}
    assert set(pods) == set(RATCHET_PODS)
    for name, labels in pods.items():
        assert any(_selects(s["podSelector"], labels) for s in sources), f"{name} must reach vLLM"
    others = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "CronJob")
              and d["metadata"]["name"] not in RATCHET_PODS and d["metadata"]["name"] != "vllm"]
    assert others, "there are other pods in the namespace"
    for doc in others + [vllm]:
        assert not any(_selects(s["podSelector"], _labels(doc)) for s in sources), f"{doc['metadata']['name']} is let in"


def test_adapter_sync_sidecar_gets_no_slack_or_admin_tokens(rendered) -> None:
    docs, _ = rendered
    sidecar = next(c for c in pod_spec(find(docs, "Deployment", "vllm"))["containers"] if c["name"] == "adapter-sync")
    assert not any("secretRef" in source for source in sidecar.get("envFrom", [])), "not the whole secret"
    secret_keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in sidecar["env"] if "valueFrom" in e}
    assert secret_keys == {"RATCHET_DATABASE_URL", "RATCHET_ENGINE__API_KEY"}
    assert {e["name"] for e in sidecar["env"]} >= {"RATCHET_DATABASE_URL", "RATCHET_ENGINE__API_KEY"}


def test_compose_vllm_requires_an_api_key_and_every_ratchet_service_sends_it() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert any(arg.startswith("--api-key=${VLLM_API_KEY:?") for arg in services["vllm"]["command"])
    for name in ("bot", "admin", "trainer", "adapter-sync"):
        env = services[name]["environment"]
        assert env["RATCHET_ENGINE__API_KEY"] == "${VLLM_API_KEY:?set VLLM_API_KEY}", name
    assert "\nVLLM_API_KEY=" in (COMPOSE.parent / "compose.example.env").read_text()
