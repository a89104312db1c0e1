"""What a generation trainer imports: its task's stack only (each trainer process pays its imports again)."""

import subprocess
import sys

# The entrypoint's own imports, then the generate task's module, as `main` does for `task: generate`.
GENERATE = """
import sys
from review_slm.training import distributed, entrypoint, io, job_spec, models
from review_slm.training.failure import TrainingFailure
from review_slm.training.methods import TASKS
import review_slm.training.methods.generate
print(sorted(m for m in ("trl", "peft", "datasets", "mlflow", "transformers.trainer") if m in sys.modules))
"""


def test_a_generation_trainer_imports_neither_trl_peft_nor_mlflow():
    seen = subprocess.run([sys.executable, "-c", GENERATE], capture_output=True, text=True, check=True).stdout
    assert seen.strip() == "[]"


def test_every_method_is_registered_and_loads_on_its_first_call():
    from review_slm.training.methods import TASKS

    assert set(TASKS) == {"sft", "dpo", "orpo", "grpo", "generate"}
