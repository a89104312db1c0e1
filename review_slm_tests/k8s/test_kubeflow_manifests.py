"""Every rendered PyTorchJob / TrainJob is what the API server and the operators' webhooks accept."""

import json

import pytest

from review_slm.core.recipe import HardwareSpec, load_recipe
from review_slm.resources.kubeflow import PyTorchJobLauncher, TrainJobLauncher
from review_slm.resources.kubeflow.manifests import TrainerPod, dns_label
from review_slm.training.job_spec import JobSpec
from review_slm_tests.k8s.validation import assert_valid

CPU_1 = HardwareSpec(accelerator="cpu", nodes=1, gpus_per_node=0, memory="4Gi")
GPU_5x4 = HardwareSpec(accelerator="cuda", nodes=5, gpus_per_node=4, memory="320Gi", gpu_type="A100-80GB")
GPU_1 = HardwareSpec(accelerator="cuda", nodes=1, gpus_per_node=1, memory="48Gi")
TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute", "tolerationSeconds": 300},
]
CONFIGS = {
    "cpu, 1 node": (CPU_1, {}),
    "5 nodes x 4 GPUs, Volcano queue": (
        GPU_5x4,
        {
            "queue": "research",
            "priority_class": "training-high",
            "node_selector": {"nvidia.com/gpu.product": "A100-SXM4-80GB"},
            "tolerations": TOLERATIONS,
            "active_deadline_seconds": 86400,
            "shm_size": "64Gi",
        },
    ),
    "1 GPU, no shm, secrets": (
        GPU_1,
        {"shm_size": None, "secret_env": {"GITHUB_TOKEN": "github/token"}, "service_account_name": "trainer"},
    ),
}


def _pod(launcher, hardware: HardwareSpec, env: dict | None = None, recipe_name: str = "tiny") -> TrainerPod:
    recipe = load_recipe(recipe_name)
    spec = JobSpec(
        task="dpo",
        recipe=recipe.model_copy(update={"hardware": hardware}),
        cache_dir="/cache",
        parent_model="m",
        output_dir="/out",
        adapter_dir="/adapter",
        pairs_file="/pairs.parquet",
    )
    run_id = "0123abcd-4567-89ab-cdef-0123456789ab"
    return launcher.trainer_pod(
        spec, env or {"DAGSTER_PIPES_CONTEXT": "e30=", "MLFLOW_RUN_ID": "abc"}, "iter-0001", run_id
    )


SHIPPED_GPU_RECIPES = ["qwen2.5-coder-1.5b-qlora", "qwen2.5-coder-7b-qlora", "qwen2.5-coder-7b-full-fsdp"]


@pytest.mark.parametrize("name", SHIPPED_GPU_RECIPES)
def test_shipped_gpu_recipes_render_valid_jobs_on_their_own_hardware(name):
    hardware = load_recipe(name).hardware
    gpus = hardware.gpus_per_node
    pytorch = PyTorchJobLauncher(image="trainer:1", api_url="http://unused")
    job = pytorch.render(dns_label("sft", "iter-0001", "0123abcd"), _pod(pytorch, hardware, recipe_name=name))
    assert_valid(job)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas.get("Worker", {}).get("replicas", 0) == hardware.nodes - 1 and job["spec"]["nprocPerNode"] == str(
        gpus
    )
    limits = replicas["Master"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == str(gpus) and limits["memory"] == hardware.memory
    train = TrainJobLauncher(image="trainer:1", api_url="http://unused")
    job = train.render("sft-iter-0001-0123abcd", _pod(train, hardware, recipe_name=name))
    assert_valid(job)
    assert job["spec"]["trainer"]["numNodes"] == hardware.nodes and job["spec"]["trainer"]["numProcPerNode"] == gpus


@pytest.mark.parametrize("case", CONFIGS)
def test_every_rendered_pytorchjob_is_valid(case):
    hardware, config = CONFIGS[case]
    launcher = PyTorchJobLauncher(image="trainer:1", api_url="http://unused", **config)
    job = launcher.render(dns_label("dpo", "iter-0001", "0123abcd", "f00"), _pod(launcher, hardware))
    assert_valid(job)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas.get("Worker", {}).get("replicas", 0) == hardware.nodes - 1
    assert job["spec"]["nprocPerNode"] == str(max(hardware.gpus_per_node, 1))
    pod = replicas["Master"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits.get("nvidia.com/gpu") == (str(hardware.gpus_per_node) if hardware.gpus_per_node else None)
    if config.get("queue"):
        assert pod["schedulerName"] == "volcano" and pod["priorityClassName"] == "training-high"
        assert job["spec"]["runPolicy"]["schedulingPolicy"] == {
            "queue": "research",
            "minAvailable": 5,
            "priorityClass": "training-high",
        }
        assert pod["tolerations"] == TOLERATIONS and pod["nodeSelector"] == config["node_selector"]
        assert pod["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}]
        assert pod["containers"][0]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "Running" and job["spec"]["runPolicy"]["backoffLimit"] == 0
    assert (
        job["metadata"]["labels"]["review-slm/iteration"]
        == "iter-0001"
        == replicas["Master"]["template"]["metadata"]["labels"]["review-slm/iteration"]
    )


@pytest.mark.parametrize("case", CONFIGS)
def test_every_rendered_trainjob_is_valid(case):
    hardware, config = CONFIGS[case]
    config = {k: v for k, v in config.items() if k != "priority_class"}
    launcher = TrainJobLauncher(image="trainer:1", api_url="http://unused", **config)
    job = launcher.render("dpo-iter-0001-0123abcd", _pod(launcher, hardware))
    assert_valid(job)
    trainer = job["spec"]["trainer"]
    assert job["spec"]["runtimeRef"] == {
        "name": "torch-distributed",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    assert trainer["numNodes"] == hardware.nodes and trainer["numProcPerNode"] == max(hardware.gpus_per_node, 1)
    assert trainer["command"][-2:] == ["-m", "review_slm.training.entrypoint"]


def test_trainjob_refuses_whole_secret_env_it_cannot_express():
    launcher = TrainJobLauncher(image="trainer:1", api_url="http://unused", env_from_secrets=["s3-credentials"])
    with pytest.raises(ValueError, match="secret_env"):
        launcher.render("x", _pod(launcher, CPU_1))


def test_secrets_never_appear_inlined_only_by_reference(monkeypatch):
    values = {
        "GITHUB_TOKEN": "ghp_supersecretvalue",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "MLFLOW_TRACKING_PASSWORD": "mlflow-pw",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    launcher = PyTorchJobLauncher(
        image="trainer:1",
        api_url="http://unused",
        env_from_secrets=["s3-credentials"],
        secret_env={"GITHUB_TOKEN": "github/token", "MLFLOW_TRACKING_PASSWORD": "mlflow/password"},
    )
    job = launcher.render("sft-x", _pod(launcher, GPU_5x4))
    text = json.dumps(job)
    assert not any(value in text for value in values.values())
    container = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs == {
        "GITHUB_TOKEN": {"name": "github", "key": "token"},
        "MLFLOW_TRACKING_PASSWORD": {"name": "mlflow", "key": "password"},
    }
    with pytest.raises(ValueError, match="GITHUB_TOKEN.*by reference"):
        _pod(launcher, CPU_1, env={"GITHUB_TOKEN": values["GITHUB_TOKEN"]})


def test_names_are_dns_labels_whatever_the_inputs():
    assert dns_label("generate", "ITER_0001", "EPHEMERAL", "abc") == "generate-iter-0001-ephemeral-abc"
    long = dns_label("sft", "x" * 80, "0123abcd", max_len=40)
    assert len(long) <= 40 and long != dns_label("sft", "x" * 81, "0123abcd", max_len=40)
    assert dns_label("9lives")[0].isalpha()


def test_with_a_message_bucket_launcher_and_trainer_both_use_s3(monkeypatch):
    from dagster_aws.pipes import PipesS3MessageReader
    from dagster_pipes import (
        DAGSTER_PIPES_CONTEXT_ENV_VAR,
        DAGSTER_PIPES_MESSAGES_ENV_VAR,
        PipesS3MessageWriter,
        encode_env_var,
    )

    from review_slm.training.distributed import _message_writer

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    launcher = PyTorchJobLauncher(
        image="trainer:1", api_url="http://unused", message_bucket="pipes", s3_endpoint_url="http://minio:9000"
    )
    assert isinstance(launcher.message_reader(), PipesS3MessageReader)
    monkeypatch.setenv(DAGSTER_PIPES_CONTEXT_ENV_VAR, encode_env_var({"data": {}}))
    monkeypatch.setenv(DAGSTER_PIPES_MESSAGES_ENV_VAR, encode_env_var({"bucket": "pipes", "key_prefix": "abc"}))
    assert isinstance(_message_writer(), PipesS3MessageWriter)
    monkeypatch.setenv(DAGSTER_PIPES_MESSAGES_ENV_VAR, encode_env_var({"stdio": "stderr"}))
    assert _message_writer() is None
