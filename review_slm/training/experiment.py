"""Small learning experiments on the student, in this process and without Dagster.

`bench/collapse_cure.py` and the tests that must fail when learning breaks train, generate and
score through these helpers. They run the very method modules the training entrypoint runs (SFT,
DPO/ORPO, generation), with the job spec the assets would send; only the Pipes channel is replaced
by a local logger, since nothing here reports to Dagster.
"""

from __future__ import annotations

import random
from pathlib import Path

from review_slm.core import tables
from review_slm.core.lazy import NO_ISSUES
from review_slm.core.metrics import EvalMetrics, metrics_by_set
from review_slm.core.prompts import student_messages
from review_slm.core.recipe import Recipe
from review_slm.training.distributed import RankLocalPipes
from review_slm.training.job_spec import GenerateRequest, JobSpec, Task, TrainerOutputs


def write_rows(path: Path, rows: list[dict], schema) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tables.write_parquet(path, rows, schema)
    return str(path)


def run_task(spec: JobSpec) -> dict:
    from review_slm.training.methods import TASKS
    from review_slm.training.models import set_cpu_threads

    set_cpu_threads(spec.recipe.hardware.cpu_threads)
    return TASKS[spec.task](spec, RankLocalPipes(spec.extras()), None, None)


def sft(recipe: Recipe, parent: str, train_rows: list[dict], out_dir: Path, cache_dir: Path) -> tuple[str, dict]:
    """SFT of `parent` on gold rows; returns (policy folder, trainer summary)."""
    spec = JobSpec(
        task="sft",
        recipe=recipe,
        cache_dir=str(cache_dir),
        parent_model=parent,
        output_dir=str(out_dir),
        train_file=write_rows(out_dir / "train.parquet", train_rows, tables.GOLD),
    )
    return str(out_dir / TrainerOutputs.SFT_ADAPTER), run_task(spec)


def prefer(
    recipe: Recipe, parent: str, policy_dir: str, pairs: list[dict], out_dir: Path, cache_dir: Path
) -> tuple[str, dict]:
    """The recipe's preference method (DPO or ORPO) on the SFT policy; returns (merged model folder, summary)."""
    pairs_file = write_rows(out_dir / "pairs.parquet", pairs, tables.PAIRS)
    return _after_sft(recipe.preference_method, recipe, parent, policy_dir, out_dir, cache_dir, pairs_file=pairs_file)


def grpo(
    recipe: Recipe, parent: str, policy_dir: str, rows: list[dict], out_dir: Path, cache_dir: Path
) -> tuple[str, dict]:
    """GRPO (the recipe's `grpo` section) on the SFT policy with gold rows as prompts; returns (merged model folder,
    summary)."""
    train_file = write_rows(out_dir / "train.parquet", rows, tables.GOLD)
    return _after_sft("grpo", recipe, parent, policy_dir, out_dir, cache_dir, train_file=train_file)


def _after_sft(
    task: Task,
    recipe: Recipe,
    parent: str,
    policy_dir: str,
    out_dir: Path,
    cache_dir: Path,
    pairs_file: str | None = None,
    train_file: str | None = None,
) -> tuple[str, dict]:
    """A stage on the SFT policy (DPO, ORPO, GRPO) with its data file; returns (merged model folder, summary)."""
    spec = JobSpec(
        task=task,
        recipe=recipe,
        cache_dir=str(cache_dir),
        parent_model=parent,
        output_dir=str(out_dir),
        adapter_dir=policy_dir,
        pairs_file=pairs_file,
        train_file=train_file,
    )
    return str(out_dir / TrainerOutputs.MERGED_MODEL), run_task(spec)


def answers(
    recipe: Recipe, model: str, rows: list[dict], work_dir: Path, cache_dir: Path, adapter: str | None = None
) -> dict[str, str]:
    """Greedy answers of `model` (plus `adapter`, for a LoRA policy) to the student prompts of `rows`, by id."""
    prompts = [{"id": r["id"], "messages": student_messages(r["path"], r["language"], r["diff_hunk"])} for r in rows]
    out = work_dir / "answers.parquet"
    request = GenerateRequest(
        name="model",
        model=model,
        adapter=adapter,
        output_file=str(out),
        prompts_file=write_rows(work_dir / "prompts.parquet", prompts, tables.PROMPTS),
    )
    run_task(JobSpec(task="generate", recipe=recipe, cache_dir=str(cache_dir), generate=[request]))
    return {a["id"]: a["answer"] for a in tables.read_parquet(out)}


def evaluate(recipe: Recipe, model: str, items: list[dict], work_dir: Path, cache_dir: Path) -> dict[str, EvalMetrics]:
    """The project's metrics of `model` on evaluation items (see core/eval_sets.py), overall and per set."""
    return metrics_by_set(items, answers(recipe, model, items, work_dir, cache_dir))


def poisoned_copy(rows: list[dict], lazy_share: float, seed: int = 0) -> list[dict]:
    """A copy of gold rows in which `lazy_share` of all rows answer "No issues found.": rows that have
    findings are made lazy at random until the share is reached. This is the collapse a careless
    teacher, or a dataset full of "LGTM", teaches a student."""
    buggy = [i for i, r in enumerate(rows) if r["review"]["findings"]]
    already_lazy = len(rows) - len(buggy)
    wanted = min(len(buggy), max(0, round(lazy_share * len(rows)) - already_lazy))
    chosen = set(random.Random(seed).sample(buggy, wanted))
    return [
        {**r, "review": NO_ISSUES.model_dump(mode="json"), "lazy": True} if i in chosen else r
        for i, r in enumerate(rows)
    ]
