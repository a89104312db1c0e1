"""Kubeflow training jobs (PyTorchJob, TrainJob) as Dagster Pipes launchers: manifests, watches, pod logs, diagnosis."""

from review_slm.resources.kubeflow.launchers import KubeflowLauncher, PyTorchJobLauncher, TrainJobLauncher

__all__ = ["KubeflowLauncher", "PyTorchJobLauncher", "TrainJobLauncher"]
