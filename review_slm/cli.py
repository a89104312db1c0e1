"""`review-slm`: start iterations and review diffs with the deployed champion.

    review-slm iteration next       add the next `iteration` partition key and print it
    review-slm iteration list       list the iteration keys
    review-slm review FILE.diff     review a diff with the champion; prints the JSON review
    review-slm review FILE.diff --endpoint URL   ... with the champion served by KServe / vLLM

Exit codes of `review` (review_slm/review_input.py): 0 reviewed, 2 no model, 3 endpoint failed,
4 input missing or unreadable, 5 binary or not UTF-8, 6 no reviewable hunk, 7 over --max-bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from review_slm import settings


def _instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()


def cmd_iteration(args: argparse.Namespace) -> int:
    from review_slm.assets.partitions import iteration_partitions
    from review_slm.core.iterations import next_iteration_key

    instance = _instance()
    keys = list(instance.get_dynamic_partitions(iteration_partitions.name))
    if args.action == "list":
        print("\n".join(keys))
        return 0
    key = next_iteration_key(keys)
    instance.add_dynamic_partitions(iteration_partitions.name, [key])
    print(key)
    return 0


def review_diff(diff_text: str, answer, max_hunk_lines: int = 200, progress=None, batch: int = 16) -> dict:
    """Review every hunk of a diff in a reviewed language (REVIEW_SLM_LANGUAGES; default Go / Python / Kubernetes
    YAML); findings of all hunks in one review.

    `answer(prompts)` turns `[{"id", "messages"}]` into `[{"id", "answer"}]`: a local model folder
    (`local_answerer`) or an OpenAI-compatible endpoint such as the KServe/vLLM champion (`endpoint_answerer`).
    A hunk longer than `max_hunk_lines` is reviewed on its first lines (reported in `truncated_hunks`);
    `progress(message)` hears about every `batch` hunks.
    """
    from review_slm.core.diff_hunks import split_unified_diff
    from review_slm.core.languages import detect_language
    from review_slm.core.prompts import parse_review, student_messages
    from review_slm.review_input import NO_HUNKS, Hunk, InputError, truncate

    parsed = split_unified_diff(diff_text)
    if not parsed:
        raise InputError(NO_HUNKS, "no unified-diff hunk (@@ ... @@) in the input: pass the output of `git diff` or a .patch file")
    hunks = [Hunk(p, detect_language(p, h), *truncate(h, max_hunk_lines)) for p, h in parsed]
    skipped = sorted({h.path for h in hunks if h.language is None})
    hunks = [h for h in hunks if h.language is not None]
    if not hunks:
        from review_slm.core.languages import describe_languages
        from review_slm.settings import languages

        raise InputError(NO_HUNKS, f"no {describe_languages(languages())} hunk to review (files: {', '.join(skipped)})")
    prompts = [{"id": str(i), "messages": student_messages(h.path, h.language, h.text)} for i, h in enumerate(hunks)]
    answers = []
    for start in range(0, len(prompts), batch):
        if progress and len(prompts) > batch:
            progress(f"reviewing hunks {start + 1}-{min(start + batch, len(prompts))} of {len(prompts)}")
        answers += answer(prompts[start:start + batch])
    findings, summaries, invalid = [], [], []
    for item in sorted(answers, key=lambda a: int(a["id"])):
        review, error = parse_review(item["answer"], hunk_path=hunks[int(item["id"])].path)
        if review is None:
            # Shown, not hidden: a model that answers in prose should be visible to its user.
            invalid.append({"path": hunks[int(item["id"])].path, "error": error, "answer": item["answer"][:200]})
            continue
        findings.extend(f.model_dump(mode="json") for f in review.findings)
        summaries.append(review.summary)
    return {
        "findings": findings,
        "summary": " ".join(s for s in summaries if s) or ("No issues found." if not invalid else ""),
        "hunks_reviewed": len(hunks),
        "invalid_answers": invalid,
        "files_skipped": skipped,
        "truncated_hunks": [{"path": h.path, "lines_cut": h.truncated_lines} for h in hunks if h.truncated_lines],
    }


def local_answerer(model_dir: Path, max_new_tokens: int | None = None):
    from review_slm.core.recipe import load_recipe
    from review_slm.training.methods.generate import generate_answers
    from review_slm.training.models import load_model, load_tokenizer

    def answer(prompts: list[dict]) -> list[dict]:
        recipe = load_recipe(settings.recipe_name())
        tokenizer = load_tokenizer(str(model_dir))
        model = load_model(str(model_dir), for_training=False).eval()
        return generate_answers(model, tokenizer, prompts, max_new_tokens or recipe.generation.max_new_tokens, recipe.generation.batch_size)

    return answer


def endpoint_answerer(base_url: str, model: str | None, max_new_tokens: int | None = None):
    from review_slm.core.recipe import load_recipe
    from review_slm.resources.openai_endpoint import chat_answers, served_models

    def answer(prompts: list[dict]) -> list[dict]:
        name = model or served_models(base_url)[0]  # vLLM lists the served model first, then loaded adapters
        tokens = max_new_tokens or load_recipe(settings.recipe_name()).generation.max_new_tokens
        return chat_answers(base_url, name, prompts, tokens)

    return answer


def cmd_review(args: argparse.Namespace) -> int:
    from review_slm.resources.openai_endpoint import EndpointError
    from review_slm.review_input import ENDPOINT_FAILED, NO_MODEL, InputError, read_diff

    def progress(message: str) -> None:
        print(f"review-slm: {message}", file=sys.stderr, flush=True)

    try:
        text = read_diff(args.diff, args.max_bytes)
        if args.endpoint:
            answerer = endpoint_answerer(args.endpoint, args.served_model, args.max_new_tokens)
        else:
            model_dir = Path(args.model) if args.model else settings.home() / "serving" / "champion"
            if not (model_dir / "config.json").exists():
                print(f"no model at {model_dir}: run an iteration first (`make run`), pass --model, or --endpoint URL", file=sys.stderr)
                return NO_MODEL
            answerer = local_answerer(model_dir, args.max_new_tokens)
        review = review_diff(text, answerer, args.max_hunk_lines, progress)
    except InputError as err:
        print(f"review-slm: {err}", file=sys.stderr)
        return err.code
    except EndpointError as err:
        print(f"the endpoint did not answer: {err}", file=sys.stderr)
        return ENDPOINT_FAILED
    for cut in review["truncated_hunks"]:
        progress(f"{cut['path']}: a hunk was cut to its first {args.max_hunk_lines} lines ({cut['lines_cut']} lines not reviewed)")
    print(json.dumps(review, indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="review-slm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    it = sub.add_parser("iteration", help="manage iteration partition keys")
    it.add_argument("action", choices=["next", "list"])
    it.set_defaults(func=cmd_iteration)
    rv = sub.add_parser("review", help="review a unified diff with the champion model")
    rv.add_argument("diff", help="path to a .diff/.patch file, or - for stdin")
    rv.add_argument("--model", help="model folder (default: $REVIEW_SLM_HOME/serving/champion)")
    rv.add_argument("--endpoint", default=os.environ.get("REVIEW_SLM_ENDPOINT"),
                    help="OpenAI-compatible base URL of a served champion, e.g. the KServe InferenceService's URL "
                    "(default: $REVIEW_SLM_ENDPOINT); OPENAI_API_KEY is sent as a bearer token if set")
    rv.add_argument("--served-model", help="model name at the endpoint (default: the first of GET /v1/models)")
    rv.add_argument("--max-new-tokens", type=int, default=None)
    rv.add_argument("--max-bytes", type=int, default=2_000_000, help="refuse a larger input (exit 7; default 2 MB)")
    rv.add_argument("--max-hunk-lines", type=int, default=200, help="review only the first lines of a longer hunk (default 200)")
    rv.set_defaults(func=cmd_review)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
