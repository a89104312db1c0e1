"""Fault injection: a TEST-ONLY switch that makes a training run fail the way real runs fail.

Set `REVIEW_SLM_FAULT` in the trainer's environment (tests do; nothing in the product sets it) to a
comma-separated list of faults, each optionally limited to one task (`sft:`, `dpo:`, `orpo:`, `grpo:`):

- `oom>N`     raise `torch.OutOfMemoryError` on the first step while the micro-batch is above N
              (so the halve-and-retry path runs until the micro-batch is N or less);
- `nan@K`     fill the input embeddings with NaN before step K: the loss becomes NaN for real;
- `spike@K`   scale the input embeddings by 1000 before step K: a real loss spike;
- `kill@K`    SIGKILL this process right after step K of a run that did not resume (a preempted
              pod); the retry resumes from the last checkpoint and is not killed again.

Example: `REVIEW_SLM_FAULT="sft:kill@3"`. Unset, this module installs nothing.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass

from transformers import TrainerCallback

ENV_VAR = "REVIEW_SLM_FAULT"
_FAULT = re.compile(r"^(?:(?P<task>[a-z]+):)?(?:(?P<kind>kill|nan|spike)@(?P<step>\d+)|oom>(?P<above>\d+))$")


@dataclass(frozen=True)
class Fault:
    kind: str
    value: int
    task: str | None = None


def parse_faults(text: str) -> list[Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        m = _FAULT.match(item)
        if not m:
            raise ValueError(f"{ENV_VAR}: cannot parse {item!r}; expected [task:]oom>N, nan@K, spike@K or kill@K")
        if m["above"] is not None:
            faults.append(Fault("oom", int(m["above"]), m["task"]))
        else:
            faults.append(Fault(m["kind"], int(m["step"]), m["task"]))
    return faults


def injected_faults(task: str) -> list[Fault]:
    return [f for f in parse_faults(os.environ.get(ENV_VAR, "")) if f.task in (None, task)]


class FaultInjector(TrainerCallback):
    def __init__(self, faults: list[Fault], resumed: bool):
        self.faults = faults
        self.resumed = resumed

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        import torch

        step = state.global_step + 1  # the step about to run
        for fault in self.faults:
            if fault.kind == "oom" and args.per_device_train_batch_size > fault.value:
                raise torch.OutOfMemoryError(
                    f"injected out of memory at micro-batch {args.per_device_train_batch_size} (fault "
                    f"oom>{fault.value})"
                )
            if fault.kind in ("nan", "spike") and step == fault.value and model is not None:
                embeddings = model.get_input_embeddings().weight
                with torch.no_grad():
                    embeddings.fill_(float("nan")) if fault.kind == "nan" else embeddings.mul_(1000.0)

    def on_step_end(self, args, state, control, **kwargs):
        for fault in self.faults:
            if fault.kind == "kill" and state.global_step == fault.value and not self.resumed:
                os.kill(os.getpid(), signal.SIGKILL)


def fault_callbacks(task: str, resumed: bool) -> list[TrainerCallback]:
    faults = injected_faults(task)
    return [FaultInjector(faults, resumed)] if faults else []
