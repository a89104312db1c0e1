"""Several human comments on one hunk: how many the embedded default has, and how many reach the gold set.

Materializes `mined_reviews`, `hf_supplement` and `gold_set` (the assets' own code, teacher off: the human
comments are structured by rules) on the bundled snapshot and supplement in a throw-away home, then prints:
- how many mined comments share a hunk with another comment: the same hunk text, or hunks of the same
  repository, file and hunk header of which one is a line prefix of the other (GitHub's `diff_hunk` ends at
  the commented line, so two comments on lines 40 and 45 of one change carry hunks of different lengths);
- the gold set's kept rows, the findings they carry, and the rows quarantined as (near) duplicates or merged;
- the seconds `gold_set` took.

    .venv/bin/python bench/hunk_comments.py [--hunk-comments change identical separate] [--json PATH]

`--hunk-comments` runs `gold_set` once per mode (`GoldSetConfig.hunk_comments`; default: the recipe's).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import results


def shared_hunks(raw: list[dict]) -> tuple[int, int, int]:
    """(root comments on a line, comments sharing an identical hunk, comments sharing a hunk or a prefix of one)."""
    roots = [c for c in raw if not c.get("in_reply_to_id") and c.get("line") is not None and c.get("diff_hunk")]
    exact = Counter((c["path"], c["diff_hunk"]) for c in roots)
    same_text = sum(n for n in exact.values() if n > 1)
    families: dict[tuple[str, str], list[list[str]]] = {}
    for c in roots:
        families.setdefault((c["path"], c["diff_hunk"].splitlines()[0]), []).append(c["diff_hunk"].splitlines())
    in_family = 0
    for hunks in families.values():
        for lines in hunks:
            related = sum(
                1 for other in hunks if other[: len(lines)] == lines or lines[: len(other)] == other
            )  # itself included
            in_family += related > 1
    return len(roots), same_text, in_family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hunk-comments", nargs="*", default=[""], choices=["", "change", "identical", "separate"])
    results.add_json_option(parser)
    args = parser.parse_args()
    snapshot = json.loads((resources.files("review_slm.data.github_snapshot") / "kubeflow__trainer.json").read_text())
    roots, same_text, in_family = shared_hunks(snapshot)
    print(f"bundled snapshot: {len(snapshot)} comments, {roots} root comments on a line")
    print(f"  sharing an identical hunk: {same_text}; sharing a hunk or a line prefix of one: {in_family}")
    rows = []
    for mode in args.hunk_comments:
        print(f"hunk_comments: {mode or 'the recipe default'}")
        rows.append({"hunk_comments": mode or "recipe default", **measure(mode)})
    summary = {"comments": len(snapshot), "root_comments_on_a_line": roots, "sharing_identical_hunk": same_text}
    summary["sharing_hunk_or_prefix"] = in_family
    results.write(args.json, results.results("hunk_comments", {"gold set per hunk_comments mode": rows}, summary))


def measure(mode: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-hunks-") as tmp:
        os.environ["REVIEW_SLM_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("GITHUB_TOKEN", None)
        os.environ.pop("REVIEW_SLM_HF_DATASET", None)
        import dagster as dg

        from review_slm import definitions
        from review_slm.gold.assets import gold_set
        from review_slm.ingest.assets import hf_supplement, mined_reviews
        from review_slm.resources.artifact_layout import SPLITS, iteration
        from review_slm.resources.teacher import HumanCommentTeacher

        res = definitions.local_resources()
        res["teacher"] = HumanCommentTeacher()
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("iteration", ["iter-0001"])
            dg.materialize([mined_reviews, hf_supplement], partition_key="iter-0001", instance=instance, resources=res)
            started = time.perf_counter()
            result = dg.materialize(
                [gold_set],
                partition_key="iter-0001",
                instance=instance,
                resources=res,
                run_config={"ops": {"gold_set": {"config": {"hunk_comments": mode}}}},
            )
            seconds = time.perf_counter() - started
        (event,) = result.get_asset_materialization_events()
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        layout = iteration(res["artifacts"], "iter-0001")
        rows = [r for split in SPLITS for r in res["artifacts"].read_table(layout.gold_split(split))]
        mined = [r for r in rows if r["source"] == "github"]
        findings = sum(len(r["review"]["findings"]) for r in mined)
    print(
        f"gold set: rows in {meta['rows_in']}, kept {meta['rows_kept']}, quarantined {meta['rows_quarantined']} "
        f"(near_duplicate {meta.get('quarantined_near_duplicate', 0)}, "
        f"duplicate {meta.get('quarantined_duplicate', 0)}, "
        f"merged_into_hunk {meta.get('quarantined_merged_into_hunk', 0)})"
    )
    print(
        f"  mined rows written to the splits: {len(mined)} carrying {findings} findings; "
        f"multi_comment_examples {meta.get('multi_comment_examples', '-')}, comments_merged "
        f"{meta.get('comments_merged', '-')}"
    )
    reasons = {k.removeprefix("quarantined_"): v for k, v in meta.items() if k.startswith("quarantined_")}
    print(f"  quarantined by reason: {reasons}; rows token-counted {meta['rows_token_counted']}")
    print(
        f"  splits train/val/test {meta['train_rows']}/{meta['val_rows']}/{meta['test_rows']}, lazy share "
        f"{meta['lazy_share']}, secrets redacted {meta['secrets_redacted']}, train tokens {meta['train_tokens']}"
    )
    print(f"gold_set materialization: {seconds:.1f} s (Dagster run included)")
    return {
        "rows_in": meta["rows_in"],
        "kept": meta["rows_kept"],
        "quarantined": meta["rows_quarantined"],
        "mined_examples": len(mined),
        "mined_findings": findings,
        "merged": meta.get("quarantined_merged_into_hunk", 0),
        "near_duplicate": meta.get("quarantined_near_duplicate", 0),
        "train/val/test": f"{meta['train_rows']}/{meta['val_rows']}/{meta['test_rows']}",
        "train_tokens": meta["train_tokens"],
    }


if __name__ == "__main__":
    main()
