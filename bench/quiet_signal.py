"""Does the student's choice to stay quiet depend on the hunk? The AUC of its own score, and a preference step that a
global switch cannot win.

Reads what `bench/collapse_cure.py --work-dir W` kept. For each model ((a), (b), (c) and any `--model NAME=PATH`)
it scores the empty review teacher-forced (`quiet_threshold.continuation_logprobs`) on the gold train and validation
splits and on the evaluation items (and on its two parts, the test split and the bug suite), and prints the AUC,
clean over buggy, of the log-probability of the tokens after the summary: where "No issues found." followed by
findings and the empty review part, so the decision to speak. 0.5: the answer does not depend on the hunk. Clean
accuracy >= 0.5 at a no-issues rate <= 0.2 on buggy diffs asks of the score at least 0.5 true positives at 0.2 false
ones: for a binormal score, AUC >= 0.72 and a threshold placed exactly.

With `--balanced NAME` it first reruns the preference step from (b) (the recipe's method, with `--beta`,
`--rpo-alpha`, `--steps`, `--lr` overriding the recipe's) on pairs balanced per prompt similarity: every clean
training prompt's pairs (chosen: the empty review) and, for each, the pairs of its nearest buggy training prompt
(token Jaccard of the hunks, the same language first) whose rejected side is the empty review, plus
`--extra-lazy` more buggy prompts. A global shift of the decision then gains as much on one side as it loses on
the other; only the hunk can lower the loss. The model is evaluated like collapse_cure's (c) and scored like the
others, and the bench ends with its line

    balanced <NAME>: cure <no-issues rate on buggy>, validity <..>, clean accuracy <..>

    .venv/bin/python bench/quiet_signal.py --work-dir W [--balanced NAME --rpo-alpha 0 --steps 40 ...]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import results
from quiet_threshold import after_summary_tokens, auc, continuation_logprobs, kept_model, load_scorer, open_work

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _tokens(row: dict) -> set[str]:
    return set(re.findall(r"\w+", row["diff_hunk"]))


def nearest_buggy(clean: list[dict], buggy: list[dict]) -> list[dict]:
    """For each clean row in turn, the most similar buggy row not yet taken (token Jaccard of the hunks; the same
    language when one is left), so both sides have as many prompts and look alike."""
    taken: set[str] = set()
    out = []
    for row in clean:
        mine = _tokens(row)
        left = [b for b in buggy if b["id"] not in taken]
        same = [b for b in left if b["language"] == row["language"]] or left
        if not same:
            break
        best = max(same, key=lambda b: len(mine & _tokens(b)) / max(1, len(mine | _tokens(b))))
        taken.add(best["id"])
        out.append(best)
    return out


def balanced_pairs(train: list[dict], answers: dict[str, str], extra_lazy: int = 0) -> list[dict]:
    """The clean prompts' pairs (chosen: the empty review) and their nearest buggy prompts' pairs whose rejected side
    is the empty review (`synthetic_lazy`, or the model's own lazy answer), plus `extra_lazy` more buggy prompts."""
    from review_slm.core.pairing import LAZY_ANSWER, build_preference_pairs

    clean = [r for r in train if r.get("clean") and not r["review"]["findings"]]
    buggy = [r for r in train if r["review"]["findings"]]
    near = nearest_buggy(clean, buggy)
    taken = {r["id"] for r in near}
    extra = [r for r in buggy if r["id"] not in taken][:extra_lazy]
    clean_ids = {r["id"] for r in clean}
    # One call over both sides: synthetic_noise borrows its invented findings from the buggy rows it is given.
    outcome = build_preference_pairs(sorted(clean + near + extra, key=lambda r: r["id"]), answers)
    return [p for p in outcome.pairs if p["id"] in clean_ids or p["rejected"][0]["content"] == LAZY_ANSWER]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", required=True, type=Path, help="collapse_cure.py's --work-dir")
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="another model to score")
    parser.add_argument("--balanced", default=None, metavar="NAME", help="rerun the preference step, balanced")
    parser.add_argument("--beta", type=float, default=None)
    parser.add_argument("--rpo-alpha", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--extra-lazy", type=int, default=0, help="buggy prompts beyond one per clean prompt")
    results.add_json_option(parser)
    args = parser.parse_args()

    from review_slm.core import tables
    from review_slm.core.metrics import metrics_by_set
    from review_slm.core.pairing import LAZY_ANSWER
    from review_slm.core.prompts import student_messages
    from review_slm.training import experiment

    work = args.work_dir
    recipe, train, val, items = open_work(work, args.recipe)
    sets = {"train": train, "val": val, "evaluation": items}
    sets.update({part: [i for i in items if i["set"] == part] for part in ("test", "bug_suite")})  # its two parts
    models = {stage: kept_model(work, stage) for stage in ("a", "b", "c")}
    models.update({name: Path(path) for name, path in (kv.split("=", 1) for kv in args.model)})

    line = None
    if args.balanced:
        overrides = {"beta": args.beta, "rpo_alpha": args.rpo_alpha, "max_steps": args.steps, "learning_rate": args.lr}
        dpo = recipe.dpo.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        recipe = recipe.model_copy(update={"dpo": dpo})
        policy_b = str(models["b"])
        answers = {a["id"]: a["answer"] for a in tables.read_parquet(work / "b-train" / "answers.parquet")}
        missing = [r for r in train if r["id"] not in answers]
        if missing:
            answers.update(experiment.answers(recipe, policy_b, missing, work / "b-train-rest", work / "cache"))
        pairs = balanced_pairs(train, answers, args.extra_lazy)
        empty_chosen = sum(p["chosen"][0]["content"] == LAZY_ANSWER for p in pairs)
        print(
            f"balanced {args.balanced}: {len(pairs)} pairs, chosen the empty review in {empty_chosen}, rejected it in "
            f"{sum(p['rejected'][0]['content'] == LAZY_ANSWER for p in pairs)}; dpo {dpo.model_dump()}",
            flush=True,
        )
        out = work / f"c-{args.balanced}"
        model, _ = experiment.prefer(recipe, recipe.base_model, policy_b, pairs, out, work / "cache")
        m = experiment.evaluate(recipe, model, sets["evaluation"], work / f"eval-c-{args.balanced}", work / "cache")
        m = m["all"]
        line = (
            f"balanced {args.balanced}: cure {m.no_issues_rate_on_buggy:.2f}, validity {m.format_validity:.2f}, "
            f"clean accuracy {m.clean_accuracy:.2f}"
        )
        models[args.balanced] = Path(model)

    empty = LAZY_ANSWER
    rows_out = []
    for name, path in models.items():
        model, tokenizer = load_scorer(path)
        tail = after_summary_tokens(tokenizer, empty)
        row: dict[str, object] = {"model": name}
        for set_name, rows in sets.items():
            prompts = [student_messages(r["path"], r["language"], r["diff_hunk"]) for r in rows]
            scores = [sum(lp[-tail:]) for lp in continuation_logprobs(model, tokenizer, prompts, [empty] * len(rows))]
            clean = [s for s, r in zip(scores, rows) if not r["review"]["findings"]]
            buggy = [s for s, r in zip(scores, rows) if r["review"]["findings"]]
            row[f"auc_{set_name}"] = round(auc(clean, buggy), 3)
            if set_name == "evaluation":
                row["spread_nats"] = round(max(scores) - min(scores), 3)
        kept = work / f"eval-{'c-' + name if name == args.balanced else name}" / "answers.parquet"
        if kept.exists():
            said = {a["id"]: a["answer"] for a in tables.read_parquet(kept)}
            m = metrics_by_set(sets["evaluation"], said)["all"]
            row.update(
                no_issues_on_buggy=round(m.no_issues_rate_on_buggy, 3), clean_accuracy=round(m.clean_accuracy, 3)
            )
        rows_out.append(row)
        print(
            f"({name}) {path}: AUC clean > buggy of the decision to speak: train {row['auc_train']:.3f}, val "
            f"{row['auc_val']:.3f}, evaluation {row['auc_evaluation']:.3f} (test split {row['auc_test']:.3f}, "
            f"bug suite {row['auc_bug_suite']:.3f}; spread {row['spread_nats']:.3f} nats)",
            flush=True,
        )
    if line:
        print(line)
    summary = {"work_dir": str(work), "balanced": args.balanced, "line": line}
    results.write(args.json, results.results("quiet_signal", {"decision AUC": rows_out}, summary))


if __name__ == "__main__":
    sys.exit(main())
