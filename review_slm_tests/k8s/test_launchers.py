"""PyTorchJob / TrainJob launchers end to end: the real kubernetes client, the API server stand-in, a fake operator.

Each test materializes a one-asset graph whose asset calls `launcher.launch`, exactly as the training
assets do, while a scenario plays the operator and the kubelet for the job the launcher creates.
"""

from __future__ import annotations

import signal
import threading
import time

import dagster as dg
import pytest

from review_slm.core.recipe import load_recipe
from review_slm.resources.kubeflow import PyTorchJobLauncher, TrainJobLauncher
from review_slm.resources.launcher import TrainerCrashed, TrainerFailed, TrainerNeverStarted, TrainerReport
from review_slm.training.job_spec import JobSpec
from review_slm_tests.k8s.fake_kubeflow import JobRun, fake_kubeflow, running, terminated, unschedulable, waiting
from review_slm_tests.resources.k8s_apiserver_standin import k8s_api  # noqa: F401  (fixture)

FAST = {
    "namespace": "training",
    "image": "registry.example/review-slm-trainer:1",
    "watch_timeout_s": 1,
    "log_drain_timeout_s": 5,
    "pending_timeout_s": 30,
    "image_pull_grace_s": 0,
}


def _spec(nodes: int = 2, gpus: int = 0) -> JobSpec:
    recipe = load_recipe("tiny")
    hardware = recipe.hardware.model_copy(
        update={"nodes": nodes, "gpus_per_node": gpus, "accelerator": "cuda" if gpus else "cpu"}
    )
    return JobSpec(
        task="sft",
        recipe=recipe.model_copy(update={"hardware": hardware}),
        cache_dir="/cache",
        parent_model="builtin:tiny-qwen2",
        output_dir="s3://bucket/.scratch/iter-0001/sft_adapter",
        train_file="s3://bucket/iterations/iter-0001/gold_set/train.parquet",
    )


def _run_logs(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(entry.user_message for entry in instance.all_logs(run_id))


def _succeed(run: JobRun) -> None:
    run.create_pods()
    run.condition("Created")
    time.sleep(0.2)
    run.set_pods(running(run.container))
    run.condition("Created", "Running")
    assert run.run_trainer("ok") == 0
    run.set_pods(terminated("Succeeded", "Completed", 0, run.container))
    run.condition("Created", "Succeeded" if run.kind == "PyTorchJob" else "Complete")


def _launch(k8s_api, launcher_cls, scenario, spec: dict | None = None, **config):
    launcher = launcher_cls(api_url=k8s_api.url, **{**FAST, **config})
    caught: list = []
    instance = dg.DagsterInstance.ephemeral()

    @dg.asset
    def trained(context) -> dg.MaterializeResult:
        try:
            caught.append(launcher.launch(context, spec or _spec(), {"MLFLOW_RUN_ID": "run-123"}))
        except BaseException as err:
            caught.append(err)
            raise
        return dg.MaterializeResult(metadata={"launched": True})

    plural = "pytorchjobs" if launcher_cls is PyTorchJobLauncher else "trainjobs"
    with fake_kubeflow(k8s_api.state, plural, scenario):
        result = dg.materialize([trained], instance=instance, raise_on_error=False)
    return caught[-1], _run_logs(instance, result.run_id), result


def _deleted(k8s_api, plural: str) -> list[dict]:
    return [q for m, path, q in k8s_api.state.requests if m == "DELETE" and f"/{plural}/" in path]


def test_pytorchjob_success_returns_the_reported_metadata_and_streams_the_log(k8s_api):
    outcome, logs, result = _launch(k8s_api, PyTorchJobLauncher, _succeed)
    assert result.success, logs
    assert outcome == TrainerReport({"train_loss": 0.25, "task": "sft", "steps": 4})
    assert "plain stdout line from sft" in logs  # a plain log line of the master pod
    assert "training sft" in logs  # a Pipes log message
    assert "Running" in logs and "-> Running" in logs  # condition and pod phase transitions
    job = k8s_api.state.objects("pytorchjobs")[0]  # kept after success: its TTL cleans it up
    assert job["metadata"]["labels"]["review-slm/task"] == "sft"
    assert not _deleted(k8s_api, "pytorchjobs")


def test_oomkilled_master_maps_to_a_trainer_oom_and_deletes_the_job(k8s_api):
    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.set_pods(running())
        run.condition("Created", "Running")
        run.state.append_log(run.master, "loading model\nstep 1", run.namespace)
        run.set_pods(terminated("Failed", "OOMKilled", 137))
        run.condition("Created", "Failed", reason="PyTorchJobFailed", message="master-0 exited with code 137")

    outcome, logs, result = _launch(k8s_api, PyTorchJobLauncher, scenario)
    assert not result.success
    assert isinstance(outcome, TrainerFailed) and outcome.kind == "oom" and outcome.details["source"] == "kernel"
    assert "OOMKilled" in str(outcome) and "step 1" in logs
    assert k8s_api.state.objects("pytorchjobs") == [] and k8s_api.state.objects("pods", "training") == []
    assert _deleted(k8s_api, "pytorchjobs")[0]["propagationPolicy"] == "Foreground"


def test_a_failure_the_trainer_reports_over_pipes_wins_over_the_pod_reason(k8s_api):
    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.set_pods(running())
        run.condition("Created", "Running")
        run.run_trainer("cuda-oom")
        run.set_pods(terminated("Failed", "Error", 1))
        run.condition("Created", "Failed")

    outcome, _, _ = _launch(k8s_api, PyTorchJobLauncher, scenario)
    assert isinstance(outcome, TrainerFailed) and outcome.kind == "oom" and outcome.details["step"] == 3


def test_image_pull_backoff_fails_fast_with_the_reason(k8s_api):
    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.condition("Created")
        run.set_pods(waiting("ImagePullBackOff", 'Back-off pulling image "registry.example/review-slm-trainer:1"'))

    outcome, _, _ = _launch(k8s_api, PyTorchJobLauncher, scenario)
    assert isinstance(outcome, TrainerNeverStarted) and "ImagePullBackOff" in str(outcome)
    assert k8s_api.state.objects("pytorchjobs") == []


@pytest.mark.parametrize("how", ["pod condition", "scheduler event"])
def test_pods_pending_past_the_timeout_fail_clearly_and_delete_the_job(k8s_api, how):
    message = "0/5 nodes are available: 5 Insufficient nvidia.com/gpu."

    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.condition("Created")
        if how == "pod condition":
            run.set_pods(unschedulable(message))
        else:
            run.state.add_event(run.master, "FailedScheduling", message, run.namespace)

    started = time.monotonic()
    outcome, _, _ = _launch(
        k8s_api, PyTorchJobLauncher, scenario, spec=_spec(nodes=2, gpus=4), pending_timeout_s=1.5, queue="gpu"
    )
    assert isinstance(outcome, TrainerNeverStarted)
    assert "nothing schedules" in str(outcome) and message in str(outcome) and "Volcano queue" in str(outcome)
    assert time.monotonic() - started < 10
    assert k8s_api.state.objects("pytorchjobs") == [] and k8s_api.state.objects("pods", "training") == []


def test_cancelling_the_run_during_the_watch_deletes_the_job(k8s_api):
    # Python leaves SIGINT ignored when it starts with it ignored (a background job, `timeout`, some CI
    # runners): install the interrupting handler for this test, or the signal below would be lost.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.set_pods(running())
        run.condition("Created", "Running")
        time.sleep(0.5)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # what Dagster's run termination delivers

    try:
        outcome, logs, result = _launch(k8s_api, PyTorchJobLauncher, scenario)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert isinstance(outcome, (KeyboardInterrupt, dg.DagsterExecutionInterruptedError)), outcome
    assert k8s_api.state.objects("pytorchjobs") == [] and k8s_api.state.objects("pods", "training") == []
    assert _deleted(k8s_api, "pytorchjobs")


def test_the_job_completes_although_the_api_server_drops_the_watch_and_forgets_versions(k8s_api):
    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.condition("Created")
        time.sleep(0.3)
        run.state.drop_watches()  # the stream breaks mid-flight: resume from the last resourceVersion
        run.set_pods(running())
        run.condition("Created", "Running")
        time.sleep(0.3)
        run.state.expire_resource_versions()  # ... and that version is gone: 410, list again
        run.state.drop_watches()
        time.sleep(0.3)
        assert run.run_trainer("ok") == 0
        run.set_pods(terminated("Succeeded", "Completed", 0))
        run.condition("Created", "Succeeded")

    outcome, logs, result = _launch(k8s_api, PyTorchJobLauncher, scenario)
    assert result.success, logs
    assert outcome.metadata["train_loss"] == 0.25
    watches = [q for m, p, q in k8s_api.state.requests if m == "GET" and p.endswith("/pytorchjobs") and q.get("watch")]
    lists = [
        q for m, p, q in k8s_api.state.requests if m == "GET" and p.endswith("/pytorchjobs") and not q.get("watch")
    ]
    assert len(watches) >= 3 and len(lists) >= 2, (watches, lists)


def test_trainjob_success(k8s_api):
    outcome, logs, result = _launch(k8s_api, TrainJobLauncher, _succeed, spec=_spec(nodes=3))
    assert result.success, logs
    assert outcome.metadata["task"] == "sft" and "plain stdout line from sft" in logs
    assert len(k8s_api.state.objects("pods", "training")) == 3


def test_trainjob_failure_names_the_pod_reason(k8s_api):
    def scenario(run: JobRun) -> None:
        run.create_pods()
        run.set_pods(running("node"))
        run.condition("Created")
        run.set_pods(terminated("Failed", "Error", 2, "node"))
        run.condition("Failed", reason="JobFailed", message="jobset failed")

    outcome, _, _ = _launch(k8s_api, TrainJobLauncher, scenario, spec=_spec(nodes=1))
    assert isinstance(outcome, TrainerCrashed) and "exit code 2" in str(outcome) and "Error" in str(outcome)
    assert k8s_api.state.objects("trainjobs") == []
