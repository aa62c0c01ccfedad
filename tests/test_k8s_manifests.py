"""deploy/k8s, built with kustomize (built from the Go module proxy) and validated without a cluster:
built-in kinds against the Kubernetes JSON schemas (kubernetes-validate, strict), the operators' resources against
schemas of the fields we use, and the promises the manifests make (probes, budgets, replication, partitions)."""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.bus import dead_letter_topic
from shared.events import ALL_EVENTS

pytestmark = pytest.mark.tools  # needs kustomize, built by `make install`

ROOT = Path(__file__).resolve().parents[1]
KUSTOMIZE = ROOT / ".cache" / "bin" / "kustomize"
CRD_SCHEMAS = Path(__file__).parent / "k8s_schemas"
KUBERNETES = "1.31"
SERVICES = {"registration": "registration", "welcome-pack": "welcome_pack", "school-intake": "school_intake",
            "job-match": "job_match"}


def build(overlay: str) -> list[dict]:
    if not KUSTOMIZE.exists():
        pytest.fail(f"{KUSTOMIZE} missing: `make install` builds it (deploy/kustomize)")
    out = subprocess.run([str(KUSTOMIZE), str(ROOT / "deploy" / "k8s" / overlay)], capture_output=True, text=True,
                         check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/local"])
def manifests(request):
    return request.param, build(request.param)


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_object_is_valid(manifests):
    _, docs = manifests
    for doc in docs:
        schema_file = CRD_SCHEMAS / f"{doc['kind']}.json"
        if schema_file.exists():
            jsonschema.validate(doc, json.loads(schema_file.read_text()))
        else:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_validation_catches_mistakes():
    deployment = of_kind(build("base"), "Deployment")["registration"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    topic = next(iter(of_kind(build("base"), "KafkaTopic").values()))
    topic["spec"]["partitions"] = "six"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, json.loads((CRD_SCHEMAS / "KafkaTopic.json").read_text()))


def test_each_service_has_probes_resources_a_budget_and_an_autoscaler(manifests):
    _, docs = manifests
    deployments, pdbs, hpas = of_kind(docs, "Deployment"), of_kind(docs, "PodDisruptionBudget"), \
        of_kind(docs, "HorizontalPodAutoscaler")
    assert set(deployments) == set(SERVICES) == set(pdbs) == set(hpas) == set(of_kind(docs, "Service"))
    for name, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert container["args"][:4] == ["python", "-m", "shared.serve", SERVICES[name]]
        env = {e["name"]: e.get("value") for e in container["env"]}
        settings = importlib.import_module(f"services.{SERVICES[name]}.settings")
        cls = next(v for k, v in vars(settings).items() if k.endswith("Settings") and k != "ServiceSettings")
        assert env["MONGODB_DATABASE"] == cls().mongodb_database
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name


def test_kafka_replicates_every_topic_three_times_with_two_in_sync_in_the_base():
    docs = build("base")
    [kafka] = of_kind(docs, "Kafka").values()
    [pool] = of_kind(docs, "KafkaNodePool").values()
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic").values()}
    expected = {spec.topic for spec in ALL_EVENTS} | {dead_letter_topic(spec.topic) for spec in ALL_EVENTS}
    assert set(topics) == expected
    for topic in topics.values():
        assert topic["spec"]["replicas"] == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2
    [mongo] = of_kind(docs, "MongoDBCommunity").values()
    assert mongo["spec"]["members"] == 3
    # Each service's database user may write its own database only.
    assert {u["roles"][0]["db"] for u in mongo["spec"]["users"]} == {
        f"velkommen_{s}" for s in SERVICES.values()}


def test_no_autoscaler_adds_replicas_beyond_the_partitions_they_would_share():
    docs = build("base")
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(docs, "KafkaTopic").values()}
    for name, hpa in of_kind(docs, "HorizontalPodAutoscaler").items():
        handlers = importlib.import_module(f"services.{SERVICES[name]}.handlers")
        busiest = max(partitions[spec.topic] for spec in handlers.CONSUMES)
        assert hpa["spec"]["maxReplicas"] <= busiest, name


def test_the_local_overlay_is_a_single_node_trial():
    docs = build("overlays/local")
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"velkommen"}
    assert all(d["spec"]["replicas"] == 1 for d in of_kind(docs, "Deployment").values())
    assert all(t["spec"]["replicas"] == 1 for t in of_kind(docs, "KafkaTopic").values())
    assert of_kind(docs, "ConfigMap")["velkommen-config"]["data"]["AUTH_DEV_ISSUER"] == "true"
    assert of_kind(build("base"), "ConfigMap")["velkommen-config"]["data"].get("AUTH_DEV_ISSUER") is None
