"""Calibrated abstention, measured offline: does answering the empty review when the student's own log-probability
of it exceeds a threshold give clean accuracy without the collapse?

Reads what `bench/collapse_cure.py --work-dir W` kept (the models, the gold set in W/home, the greedy answers on the
evaluation items) and, for one model (default (c), the preference step), scores each prompt's empty review
("No issues found.", no findings, then end of turn) teacher-forced: one forward pass per prompt, batched. Two scores:

- `empty`: the summed log-probability of the empty review;
- `findings_part`: the same, of its tokens after the summary (`, "findings": []}` and end of turn) only;
- `ratio`: its mean per-token log-probability minus that of the model's own greedy answer (length-normalised).

The threshold tau is chosen on calibration rows the preference step never saw, never on the test split or the bug
suite: the gold validation split, and the gold train rows past the preference step's prompts (seen by SFT, with
the poisoned labels of (b)); tau is the lowest value whose quiet rate on the calibration's buggy rows is at most
`--max-quiet` (the cure target), so it maximises clean accuracy under that bound. Prints AUCs, the trade-off
curve on the evaluation items, and for each calibration and score the line

    collapse <b> -> cure <no-issues on buggy, thresholded>, validity <..>, clean accuracy <..>

    .venv/bin/python bench/quiet_threshold.py --work-dir W [--stage c] [--scorer a] [--max-quiet 0.2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import results

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def continuation_logprobs(model, tokenizer, prompts: list[list[dict]], answers: list[str], batch_size: int = 16):
    """Per-token log-probabilities of each answer (then end of turn) after its chat prompt, teacher-forced.

    Right-padded batches, so positions need no correction; hand-written because TRL's DPO log-prob helper needs
    a trainer around it."""
    import torch

    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    out: list[list[float]] = []
    for start in range(0, len(prompts), batch_size):
        seqs, spans = [], []
        for messages, answer in zip(prompts[start : start + batch_size], answers[start : start + batch_size]):
            head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            p = tokenizer(head, add_special_tokens=False).input_ids
            a = tokenizer(answer, add_special_tokens=False).input_ids + [eos]
            seqs.append(p + a)
            spans.append((len(p), len(p) + len(a)))
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for i, (a, b) in enumerate(spans):
            targets = ids[i, a:b].to(model.device)
            out.append(logp[i, a - 1 : b - 1].gather(-1, targets[:, None])[:, 0].tolist())
    return out


def after_summary_tokens(tokenizer, empty: str) -> int:
    """How many tokens of the empty review (end of turn included) follow its summary: `, "findings": []}`."""
    from review_slm.core.lazy import NO_ISSUES

    ids = tokenizer(empty, add_special_tokens=False).input_ids
    summary_end = empty.index(NO_ISSUES.summary) + len(NO_ISSUES.summary)
    in_summary = next(n for n in range(len(ids) + 1) if len(tokenizer.decode(ids[:n])) >= summary_end)
    return len(ids) + 1 - in_summary


def kept_gold(work: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """A collapse_cure work dir's gold train split (by id), validation split and evaluation items."""
    from collapse_cure import gold_splits_in

    from review_slm.core.languages import DEFAULT_LANGUAGES
    from review_slm.evaluate.eval_sets import eval_items

    gold = gold_splits_in(work / "home", ("train", "val", "test"))
    return sorted(gold["train"], key=lambda r: r["id"]), gold["val"], eval_items(gold["test"], DEFAULT_LANGUAGES)


def open_work(work: Path, recipe_name: str):
    """The recipe (its CPU threads set) and a collapse_cure work dir's train split, validation split and items."""
    import transformers

    from review_slm.core.recipe import load_recipe
    from review_slm.training.models import set_cpu_threads

    transformers.logging.set_verbosity_error()
    recipe = load_recipe(recipe_name)
    set_cpu_threads(recipe.hardware.cpu_threads)
    return recipe, *kept_gold(work)


def load_scorer(path: Path | str):
    """A kept model and its tokenizer, for teacher-forced scoring."""
    from review_slm.training.models import load_model, load_tokenizer

    return load_model(str(path), for_training=False).eval(), load_tokenizer(str(path))


def kept_model(work: Path, stage: str) -> Path:
    """Where collapse_cure keeps the model of stage a, b (SFT folders) or c (the merged preference model)."""
    from review_slm.training.job_spec import TrainerOutputs

    return work / stage / (TrainerOutputs.MERGED_MODEL if stage == "c" else TrainerOutputs.SFT_ADAPTER)


def auc(pos: list[float], neg: list[float]) -> float:
    """P(score of a clean row > score of a buggy row), ties half (Mann-Whitney). Hand-written: four lines, where
    scipy or scikit-learn would be a dependency for one statistic."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def calibrated_tau(clean: list[float], buggy: list[float], max_quiet: float) -> float:
    """The lowest tau (among the calibration scores) whose quiet rate on buggy rows is at most `max_quiet`."""
    for tau in sorted(set(clean + buggy)) + [float("inf")]:
        if sum(s > tau for s in buggy) <= max_quiet * len(buggy):
            return tau
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", required=True, type=Path, help="collapse_cure.py's --work-dir")
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--stage", default="c", choices=("a", "b", "c"), help="the model whose answers are kept")
    parser.add_argument(
        "--scorer",
        default=None,
        choices=("a", "b", "c"),
        help="the model that scores the empty review (default: --stage); e.g. (a), the uncollapsed SFT model, "
        "as the DPO reference of a pipeline that runs the preference step from it",
    )
    parser.add_argument("--max-quiet", type=float, default=0.2, help="no-issues rate on buggy rows allowed")
    results.add_json_option(parser)
    args = parser.parse_args()

    from review_slm.core import tables
    from review_slm.core.lazy import NO_ISSUES
    from review_slm.core.metrics import metrics_by_set
    from review_slm.core.prompts import render_review, student_messages
    from review_slm.training import experiment

    work = args.work_dir
    recipe, train, val, items = open_work(work, args.recipe)
    calibration = {
        "val": val,
        "train_past_pairs": train[recipe.generation.max_prompts :],
    }
    calibration["val+train_past_pairs"] = calibration["val"] + calibration["train_past_pairs"]
    model_dir = str(kept_model(work, args.stage))
    scorer = args.scorer or args.stage
    scorer_dir = str(kept_model(work, scorer))
    greedy = {a["id"]: a["answer"] for a in tables.read_parquet(work / f"eval-{args.stage}" / "answers.parquet")}
    cal_rows = calibration["val+train_past_pairs"]
    greedy_cal = experiment.answers(recipe, model_dir, cal_rows, work / f"quiet-cal-{args.stage}", work / "cache")

    model, tokenizer = load_scorer(scorer_dir)
    empty = render_review(NO_ISSUES)
    # The tokens after the summary: where the empty review and the summary "No issues found." followed by findings part.
    after_summary = after_summary_tokens(tokenizer, empty)

    def scores(rows: list[dict], answers: dict[str, str]) -> dict[str, dict[str, float]]:
        prompts = [student_messages(r["path"], r["language"], r["diff_hunk"]) for r in rows]
        e = continuation_logprobs(model, tokenizer, prompts, [empty] * len(rows))
        g = continuation_logprobs(model, tokenizer, prompts, [answers[r["id"]] for r in rows])
        return {
            r["id"]: {
                "empty": sum(ei),
                "findings_part": sum(ei[-after_summary:]),
                "ratio": sum(ei) / len(ei) - sum(gi) / len(gi),
            }
            for r, ei, gi in zip(rows, e, g)
        }

    eval_scores = scores(items, greedy)
    cal_scores = scores(cal_rows, greedy_cal)

    def is_clean(row: dict) -> bool:
        return not row["review"]["findings"]

    def split(rows, sc, kind):
        return [sc[r["id"]][kind] for r in rows if is_clean(r)], [sc[r["id"]][kind] for r in rows if not is_clean(r)]

    def thresholded(kind: str, tau: float):
        said = {i["id"]: empty if eval_scores[i["id"]][kind] > tau else greedy[i["id"]] for i in items}
        return metrics_by_set(items, said)["all"]

    collapse = metrics_by_set(
        items, {a["id"]: a["answer"] for a in tables.read_parquet(work / "eval-b" / "answers.parquet")}
    )["all"].no_issues_rate_on_buggy
    base = metrics_by_set(items, greedy)["all"]
    n_clean = sum(is_clean(i) for i in items)
    print(
        f"answers of ({args.stage}) {model_dir}, scored by ({scorer}); evaluation items {len(items)} "
        f"({n_clean} clean); calibration: "
        + ", ".join(
            f"{k} {len(v)} ({sum(is_clean(r) for r in v)} clean)" for k, v in calibration.items() if "+" not in k
        )
    )
    print(
        f"greedy, no threshold: cure {base.no_issues_rate_on_buggy:.2f}, validity {base.format_validity:.2f}, "
        f"clean accuracy {base.clean_accuracy:.2f}"
    )
    rows_out: list[dict] = []
    for kind in ("empty", "findings_part", "ratio"):
        ev_c, ev_b = split(items, eval_scores, kind)
        print(f"\nscore `{kind}`: AUC clean>buggy on evaluation {auc(ev_c, ev_b):.2f}", end="")
        for name, rows in calibration.items():
            c, b = split(rows, cal_scores, kind)
            print(f", on {name} {auc(c, b):.2f}", end="")
        print(
            f"\n  evaluation clean {min(ev_c):.3f}..{max(ev_c):.3f}, buggy {min(ev_b):.3f}..{max(ev_b):.3f}; "
            "trade-off on the evaluation items (quiet on buggy -> clean accuracy):"
        )
        curve = [thresholded(kind, tau - 1e-9) for tau in sorted(set(ev_c + ev_b))]
        print(
            "  " + ", ".join(dict.fromkeys(f"{m.no_issues_rate_on_buggy:.2f}->{m.clean_accuracy:.2f}" for m in curve))
        )
        best = max((m for m in curve if m.no_issues_rate_on_buggy <= args.max_quiet), key=lambda m: m.clean_accuracy)
        print(
            f"  best tau chosen on the evaluation items themselves (an upper bound, not a result): cure "
            f"{best.no_issues_rate_on_buggy:.2f}, clean accuracy {best.clean_accuracy:.2f}"
        )
        for name, rows in calibration.items():
            c, b = split(rows, cal_scores, kind)
            tau = calibrated_tau(c, b, args.max_quiet)
            m = thresholded(kind, tau)
            rows_out.append(
                {
                    "score": kind,
                    "calibration": name,
                    "auc_calibration": round(auc(c, b), 3),
                    "auc_evaluation": round(auc(ev_c, ev_b), 3),
                    "tau": round(tau, 4),
                    "cure": m.no_issues_rate_on_buggy,
                    "validity": m.format_validity,
                    "clean_accuracy": m.clean_accuracy,
                }
            )
            print(
                f"  tau from {name} ({kind} > {tau:.3f}): collapse {collapse:.2f} -> cure "
                f"{m.no_issues_rate_on_buggy:.2f}, validity {m.format_validity:.2f}, clean accuracy "
                f"{m.clean_accuracy:.2f}"
            )

    summary = {"stage": args.stage, "scorer": scorer, "max_quiet": args.max_quiet, "collapse_b": collapse}
    results.write(args.json, results.results("quiet_threshold", {"thresholded": rows_out}, summary))


if __name__ == "__main__":
    sys.exit(main())
