"""deploy/: every kustomization renders, its custom resources pass the API server's checks, the RBAC is
least privilege, no credential is committed, and the Helm values, images and CI workflow keep the
contract the code relies on (env names, ServiceAccounts, Secrets)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from review_slm_tests.k8s.validation import assert_valid, is_custom_resource

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / "kustomize"
# overlays/local is the git-ignored overlay with a cluster's real Secrets (deploy/README.md, step 3).
KUSTOMIZATIONS = sorted(
    d
    for d in (p.parent.relative_to(KUSTOMIZE).as_posix() for p in KUSTOMIZE.rglob("kustomization.yaml"))
    if not d.startswith("overlays/local")
)
NAMESPACE = "review-slm"

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed: cannot render kustomizations"
)


@cache
def render(directory: str) -> tuple[dict, ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUSTOMIZE / directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/kustomize/{directory} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def rendered_all() -> list[tuple[str, dict]]:
    return [(d, m) for d in KUSTOMIZATIONS for m in render(d)]


def by_kind(manifests, kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_the_kustomizations_are_the_expected_ones():
    assert {"base", "overlays/dev", "examples", "smoke", "volcano"} <= set(KUSTOMIZATIONS)


@needs_kubectl
@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_kustomization_renders(directory):
    assert render(directory), f"deploy/kustomize/{directory} renders nothing"


@needs_kubectl
@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_every_custom_resource_is_valid(directory):
    for manifest in render(directory):
        if is_custom_resource(manifest):
            assert_valid(manifest)


@needs_kubectl
def test_examples_cover_every_custom_resource_the_code_renders():
    kinds = {m["kind"] for m in render("examples") if is_custom_resource(m)}
    assert kinds == {"PyTorchJob", "TrainJob", "InferenceService"}
    assert {m["kind"] for m in render("smoke") if is_custom_resource(m)} == {"PyTorchJob", "TrainJob"}


def _pod_specs(job: dict):
    for rtype, spec in job["spec"]["pytorchReplicaSpecs"].items():
        yield rtype, spec, spec["template"]["spec"]


@needs_kubectl
def test_example_pytorchjob_is_the_seed_topology_with_its_safeguards():
    job = by_kind(render("examples"), "PyTorchJob").popitem()[1]
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] + replicas["Worker"]["replicas"] == 5
    assert job["spec"]["nprocPerNode"] == "4"
    run_policy = job["spec"]["runPolicy"]
    assert {"cleanPodPolicy", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"} <= set(run_policy)
    assert run_policy["cleanPodPolicy"] == "All"
    assert run_policy["schedulingPolicy"]["queue"] == "review-slm"
    assert run_policy["schedulingPolicy"]["minAvailable"] == 5
    for rtype, _, pod in _pod_specs(job):
        assert pod["serviceAccountName"] == "review-slm-trainer", rtype
        (container,) = pod["containers"]
        assert container["command"] == ["torchrun", "-m", "review_slm.training.entrypoint"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
        assert {"secretRef": {"name": "review-slm-s3"}} in container["envFrom"]
        assert not any("AWS_SECRET_ACCESS_KEY" == e["name"] and "value" in e for e in container.get("env", [])), (
            "secret inlined"
        )
        shm = [
            v
            for v in pod["volumes"]
            if v["name"] in {m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"}
        ]
        assert shm and shm[0]["emptyDir"]["medium"] == "Memory", rtype


@needs_kubectl
def test_example_trainjob_and_inferenceservice():
    trainjob = by_kind(render("examples"), "TrainJob").popitem()[1]["spec"]
    assert trainjob["runtimeRef"]["name"] == "torch-distributed"
    assert (trainjob["trainer"]["numNodes"], trainjob["trainer"]["numProcPerNode"]) == (5, 4)
    secret_refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in trainjob["trainer"]["env"] if "valueFrom" in e}
    assert secret_refs == {"review-slm-s3"}
    pod = trainjob["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"][
        "spec"
    ]["template"]["spec"]
    assert pod["serviceAccountName"] == "review-slm-trainer"
    assert pod["volumes"][0]["emptyDir"]["medium"] == "Memory"

    predictor = by_kind(render("examples"), "InferenceService").popitem()[1]["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "review-slm-models"
    assert predictor["model"]["modelFormat"]["name"] == "huggingface"
    assert "--backend=vllm" in predictor["model"]["args"]
    assert predictor["model"]["storageUri"].startswith("s3://review-slm/artifacts/iterations/")
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == 1


@needs_kubectl
def test_the_teacher_fleet_is_vllm_on_kserve_autoscaled_on_its_queue():
    (teacher,) = by_kind(render("teacher"), "InferenceService").values()
    predictor = teacher["spec"]["predictor"]
    assert teacher["metadata"]["name"] == "review-slm-teacher" and teacher["metadata"]["namespace"] == NAMESPACE
    assert "--backend=vllm" in predictor["model"]["args"] and predictor["model"]["modelFormat"]["name"] == "huggingface"
    assert 1 <= predictor["minReplicas"] < predictor["maxReplicas"]
    (metric,) = predictor["autoScaling"]["metrics"]
    assert "vllm:num_requests_waiting" in metric["external"]["metric"]["query"]
    served = next(a.split("=", 1)[1] for a in predictor["model"]["args"] if a.startswith("--model_name="))
    readme = "".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    # The docs' iteration points at this Service and this model name.
    assert "http://review-slm-teacher-predictor.review-slm.svc.cluster.local/openai/v1" in readme and served in readme


# --- RBAC -------------------------------------------------------------------------------------------

LAUNCHER_RULES = {
    ("kubeflow.org", "pytorchjobs"): {"create", "get", "list", "watch", "delete"},
    ("trainer.kubeflow.org", "trainjobs"): {"create", "get", "list", "watch", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"list", "watch"},
    ("serving.kserve.io", "inferenceservices"): {"create", "get", "list", "watch", "patch", "update"},
}


def _rules(role: dict) -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


@needs_kubectl
def test_rbac_is_namespaced_and_least_privilege():
    for directory, manifest in rendered_all():
        assert manifest["kind"] not in {"ClusterRole", "ClusterRoleBinding"}, f"{directory}: no cluster-wide rights"
        if manifest["kind"] in {"Role", "RoleBinding"}:
            assert manifest["metadata"]["namespace"] == NAMESPACE
        if manifest["kind"] == "Role":
            for rule in manifest["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[field], f"{manifest['metadata']['name']}: wildcard in {field}"
                assert not {"secrets", "secrets/*"} & set(rule["resources"]), (
                    f"{manifest['metadata']['name']} may read secrets"
                )


@needs_kubectl
def test_launcher_role_grants_exactly_what_the_launcher_uses():
    base = render("base")
    assert _rules(by_kind(base, "Role")["review-slm-launcher"]) == LAUNCHER_RULES
    binding = by_kind(base, "RoleBinding")["review-slm-launcher"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "review-slm-launcher",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "review-slm-launcher", "namespace": NAMESPACE}]
    # Nobody else is bound to the launcher's role, and the trainer/model accounts are bound to nothing.
    bound = {s["name"] for b in by_kind(base, "RoleBinding").values() for s in b["subjects"]}
    assert not bound & {"review-slm-trainer", "review-slm-models"}


@needs_kubectl
def test_service_accounts_and_the_kserve_s3_secret():
    base = render("base")
    accounts = by_kind(base, "ServiceAccount")
    assert {"review-slm-launcher", "review-slm-trainer", "review-slm-models"} <= set(accounts)
    assert {"name": "review-slm-s3"} in accounts["review-slm-models"]["secrets"]
    secrets = by_kind(base, "Secret")
    assert {"review-slm-s3", "review-slm-github", "dagster-postgresql-secret"} <= set(secrets)
    s3 = secrets["review-slm-s3"]
    assert set(s3["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    annotations = s3["metadata"]["annotations"]
    assert annotations["serving.kserve.io/s3-endpoint"] == "minio.review-slm.svc:9000"
    assert {"serving.kserve.io/s3-usehttps", "serving.kserve.io/s3-region"} <= set(annotations)
    assert "postgresql-password" in secrets["dagster-postgresql-secret"]["data"]
    assert all(m["metadata"].get("namespace") == NAMESPACE for m in base if m["kind"] != "Namespace")


@needs_kubectl
def test_no_secret_holds_a_committed_credential():
    checked = 0
    for directory, manifest in rendered_all():
        if manifest["kind"] != "Secret":
            continue
        values = {k: base64.b64decode(v).decode() for k, v in (manifest.get("data") or {}).items()}
        values.update(manifest.get("stringData") or {})
        for key, value in values.items():
            checked += 1
            assert value == "" or value.startswith("REPLACE_ME"), (
                f"{directory}: Secret {manifest['metadata']['name']}.{key} is not a placeholder"
            )
    assert checked >= 4


# --- Helm values ----------------------------------------------------------------------------------------

HELM_VALUES = yaml.safe_load((DEPLOY / "helm" / "dagster-values.yaml").read_text())
CODE_ENV = {
    "REVIEW_SLM_PROFILE",
    "REVIEW_SLM_ARTIFACT_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_URI",
    "GITHUB_TOKEN",
    "OLLAMA_HOST",
    "REVIEW_SLM_REPOS",
    "REVIEW_SLM_RECIPE",
    "REVIEW_SLM_NAMESPACE",
    "REVIEW_SLM_TRAINER_IMAGE",
    "REVIEW_SLM_LAUNCHER",
    "REVIEW_SLM_TRAINER_SERVICE_ACCOUNT",
    "REVIEW_SLM_SERVING_SERVICE_ACCOUNT",
}


def _user_deployment() -> dict:
    (deployment,) = [d for d in HELM_VALUES["dagster-user-deployments"]["deployments"] if d["name"] == "review-slm"]
    return deployment


def test_helm_values_use_the_k8s_run_launcher_and_the_postgres_of_the_kustomization():
    assert HELM_VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert "k8sRunLauncher" in HELM_VALUES["runLauncher"]["config"]
    postgres = HELM_VALUES["postgresql"]
    assert postgres["enabled"] is False and postgres["postgresqlHost"] == "postgres.review-slm.svc"
    assert HELM_VALUES["generatePostgresqlPasswordSecret"] is False
    assert HELM_VALUES["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"


def test_helm_user_deployment_runs_the_code_location_as_the_launcher_account():
    users = HELM_VALUES["dagster-user-deployments"]
    assert users["enabled"] and users["serviceAccount"] == {"create": False, "name": "review-slm-launcher"}
    assert users["rbacEnabled"] is False, "the chart's default Role (batch/pods '*') must not be bound to the launcher"
    deployment = _user_deployment()
    args = deployment.get("codeServerArgs") or deployment.get("dagsterApiGrpcArgs")
    assert args == ["-m", "review_slm.definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_helm_user_deployment_env_is_the_contract():
    env = {e["name"]: e for e in _user_deployment()["env"]}
    assert CODE_ENV <= set(env), f"missing: {sorted(CODE_ENV - set(env))}"
    value = {name: e.get("value") for name, e in env.items()}
    assert value["REVIEW_SLM_PROFILE"] == "k8s"
    assert value["REVIEW_SLM_NAMESPACE"] == NAMESPACE
    assert value["REVIEW_SLM_LAUNCHER"] in {"pytorchjob", "trainjob"}
    assert value["REVIEW_SLM_TRAINER_SERVICE_ACCOUNT"] == "review-slm-trainer"
    assert value["REVIEW_SLM_SERVING_SERVICE_ACCOUNT"] == "review-slm-models"
    assert value["REVIEW_SLM_ARTIFACT_URI"].startswith("s3://review-slm/")
    assert value["AWS_ENDPOINT_URL"] == "http://minio.review-slm.svc:9000"
    assert value["MLFLOW_TRACKING_URI"] == "http://mlflow.review-slm.svc:5000"
    recipes = {p.stem for p in (ROOT / "review_slm" / "data" / "recipes").glob("*.yaml")}
    assert value["REVIEW_SLM_RECIPE"] in recipes
    secret_of = {name: e["valueFrom"]["secretKeyRef"]["name"] for name, e in env.items() if "valueFrom" in e}
    assert secret_of == {
        "AWS_ACCESS_KEY_ID": "review-slm-s3",
        "AWS_SECRET_ACCESS_KEY": "review-slm-s3",
        "GITHUB_TOKEN": "review-slm-github",
    }


@needs_kubectl
def test_helm_env_points_at_the_services_of_the_kustomization():
    services = by_kind(render("base"), "Service")
    for url in (
        "http://minio.review-slm.svc:9000",
        "http://mlflow.review-slm.svc:5000",
        "postgres.review-slm.svc:5432",
    ):
        name, port = re.match(r"(?:http://)?([a-z-]+)\.review-slm\.svc:(\d+)", url).groups()
        assert int(port) in {p["port"] for p in services[name]["spec"]["ports"]}, url


# --- images -------------------------------------------------------------------------------------------


def _torch_pin() -> str:
    return re.search(r"^torch==([\d.]+)$", (ROOT / "requirements.lock").read_text(), re.M).group(1)


@pytest.mark.parametrize("name", ["trainer.Dockerfile", "code-location.Dockerfile"])
def test_dockerfile_installs_torch_before_the_package(name):
    text = (DEPLOY / "images" / name).read_text()
    lines = [line.strip() for line in text.splitlines()]
    torch_line = next(i for i, line in enumerate(lines) if re.search(r"pip install .*\"?torch==", line))
    deps_line = next(i for i, line in enumerate(lines) if "-c requirements.lock -r /tmp/requirements.txt" in line)
    package_line = next(i for i, line in enumerate(lines) if re.search(r"pip install .*--no-deps \.", line))
    assert torch_line < deps_line < package_line
    assert f"ARG TORCH_VERSION={_torch_pin()}" in text, "torch pin differs from the lock's"
    index = (
        "download.pytorch.org/whl/cpu" if name.startswith("code-location") else "download.pytorch.org/whl/${TORCH_CUDA}"
    )
    assert index in text
    assert "COPY review_slm" in text and "USER 1000" in text


def test_trainer_image_is_cuda_and_torchrun_compatible():
    text = (DEPLOY / "images" / "trainer.Dockerfile").read_text()
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+", text, re.M)
    assert 'CMD ["torchrun", "-m", "review_slm.training.entrypoint"]' in text


def test_code_location_image_can_reach_the_instance_database():
    assert '"dagster-postgres==0.29.*"' in (DEPLOY / "images" / "code-location.Dockerfile").read_text()


# --- CI workflow ----------------------------------------------------------------------------------------

WORKFLOW = yaml.safe_load((DEPLOY / "github-actions" / "iteration.yml").read_text())
LAUNCH = DEPLOY / "github-actions" / "launch_iteration.py"


def test_workflow_adds_an_iteration_key_and_launches_the_job_for_it():
    triggers = WORKFLOW.get("on", WORKFLOW.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"schedule", "workflow_dispatch"} <= set(triggers)
    steps = [s.get("run", "") for job in WORKFLOW["jobs"].values() for s in job["steps"]]
    add = next(i for i, run in enumerate(steps) if "review-slm iteration next" in run)
    launch = next(i for i, run in enumerate(steps) if "launch_iteration.py" in run)
    assert add < launch
    assert "DAGSTER_HOME=/opt/dagster/instance" in steps[add]
    mount = _user_deployment()["volumeMounts"][0]
    assert mount["mountPath"] == "/opt/dagster/instance"
    assert WORKFLOW["env"]["CODE_LOCATION"] == f"deploy/dagster-dagster-user-deployments-{_user_deployment()['name']}"


def test_launch_script_runs_the_iteration_job_of_the_code_location_for_the_partition():
    source = LAUNCH.read_text()
    compile(source, str(LAUNCH), "exec")
    iteration_job = re.search(r'ITERATION_JOB = "(\w+)"', (ROOT / "review_slm" / "sensors.py").read_text()).group(1)
    assert f'"--job", default="{iteration_job}"' in source
    assert f'"--location", default="{_user_deployment()["name"]}"' in source
    assert '"dagster/partition": args.key' in source
