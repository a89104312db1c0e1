"""`review-slm`: start iterations and review diffs with the deployed champion.

    review-slm iteration next       add the next `iteration` partition key and print it
    review-slm iteration list       list the iteration keys
    review-slm review FILE.diff     review a diff with the champion; prints the JSON review
    review-slm review FILE.diff --endpoint URL   ... with the champion served by KServe / vLLM / `make serve`
    review-slm review --pr OWNER/REPO#N [--post]  review a pull request (GITHUB_TOKEN), optionally post the review
    review-slm review ... --format json|markdown|sarif|rdjson

Exit codes of `review` (review_slm/review_input.py): 0 reviewed, 2 no model, 3 endpoint failed,
4 input missing or unreadable, 5 binary or not UTF-8, 6 no reviewable hunk, 7 over --max-bytes
(or a pull request over --max-files / --max-hunks), 8 GitHub refused or failed (nothing was posted).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from review_slm import settings


def _instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()


def missing_extra(extra: str, *modules: str) -> str | None:
    """What to install when one of `modules` is absent (the light install has no model or platform stack)."""
    import importlib.util

    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except ModuleNotFoundError:
            return True

    missing = [m for m in modules if absent(m)]
    return f"{', '.join(missing)} not installed: pip install 'review-slm[{extra}]'" if missing else None


def cmd_iteration(args: argparse.Namespace) -> int:
    if problem := missing_extra("platform", "dagster"):
        print(f"review-slm iteration needs the platform ({problem}; `make run` installs it)", file=sys.stderr)
        return 1
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
    from review_slm.core.hunk_review import answer_hunks
    from review_slm.core.languages import detect_language
    from review_slm.review_input import NO_HUNKS, Hunk, InputError, truncate

    parsed = split_unified_diff(diff_text)
    if not parsed:
        raise InputError(
            NO_HUNKS, "no unified-diff hunk (@@ ... @@) in the input: pass the output of `git diff` or a .patch file"
        )
    hunks = [Hunk(p, detect_language(p, h), *truncate(h, max_hunk_lines)) for p, h in parsed]
    skipped = sorted({h.path for h in hunks if h.language is None})
    hunks = [h for h in hunks if h.language is not None]
    if not hunks:
        from review_slm.core.languages import describe_languages
        from review_slm.settings import languages

        raise InputError(NO_HUNKS, f"no {describe_languages(languages())} hunk to review (files: {', '.join(skipped)})")
    findings, summaries, invalid = [], [], []
    for h, (review, error, raw) in zip(hunks, answer_hunks(hunks, answer, progress, batch)):
        if review is None:
            # Shown, not hidden: a model that answers in prose should be visible to its user.
            invalid.append({"path": h.path, "error": error, "answer": raw[:200]})
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
        return generate_answers(
            model, tokenizer, prompts, max_new_tokens or recipe.generation.max_new_tokens, recipe.generation.batch_size
        )

    return answer


def endpoint_answerer(
    base_url: str, model: str | None, max_new_tokens: int | None = None, timeout: float | None = None
):
    """`timeout`: seconds the whole review may take, from now (every request, retry and wait of every batch)."""
    from review_slm.clients.openai_endpoint import Deadline, chat_answers, served_models
    from review_slm.core.recipe import load_recipe

    deadline = Deadline(timeout)

    def answer(prompts: list[dict]) -> list[dict]:
        # vLLM lists the served model first, then loaded adapters; `make serve` (transformers) lists none: no name is
        # sent.
        name = model or next(iter(served_models(base_url, deadline=deadline)), None)
        tokens = max_new_tokens or load_recipe(settings.recipe_name()).generation.max_new_tokens
        return chat_answers(base_url, name, prompts, tokens, deadline=deadline)

    return answer


def _answerer(args: argparse.Namespace):
    """The model to review with: the endpoint, or a local folder (None when there is none)."""
    if args.endpoint:
        return endpoint_answerer(args.endpoint, args.served_model, args.max_new_tokens, args.timeout)
    model_dir = Path(args.model) if args.model else settings.home() / "serving" / "champion"
    if not (model_dir / "config.json").exists():
        print(
            f"no model at {model_dir}: run an iteration first (`make run`), pass --model, or --endpoint URL",
            file=sys.stderr,
        )
        return None
    if problem := missing_extra("model", "torch", "transformers"):
        print(f"in-process review needs the model stack ({problem}), or review with --endpoint URL", file=sys.stderr)
        return None
    return local_answerer(model_dir, args.max_new_tokens)


def _review_pr(args: argparse.Namespace, answerer, progress) -> dict:
    from review_slm.pr_command import PrOptions, review_pull_request
    from review_slm.resources.github_pulls import GitHubPullRequests, parse_pr_ref

    repo, number = parse_pr_ref(args.pr)
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        raise ValueError("--pr needs GITHUB_TOKEN in the environment")
    client = GitHubPullRequests(
        token, os.environ.get("GITHUB_API_URL", "https://api.github.com"), reviewer_login=args.reviewer_login or None
    )
    options = PrOptions(
        post=args.post,
        min_severity=args.min_severity,
        max_hunk_lines=args.max_hunk_lines,
        max_files=args.max_files,
        max_hunks=args.max_hunks,
    )
    review = review_pull_request(client, repo, number, answerer, options, progress)
    if "posted" in review:
        progress(f"posted: {review['posted']}")
    return review


def cmd_review(args: argparse.Namespace) -> int:
    from review_slm.clients.openai_endpoint import EndpointError
    from review_slm.core.pr_review import at_least
    from review_slm.core.review_formats import render
    from review_slm.resources.github_pulls import PullRequestError, PullRequestTooLarge
    from review_slm.review_input import ENDPOINT_FAILED, GITHUB_FAILED, NO_MODEL, TOO_LARGE, InputError, read_diff

    def progress(message: str) -> None:
        print(f"review-slm: {message}", file=sys.stderr, flush=True)

    if bool(args.diff) == bool(args.pr):
        print("review-slm: pass a diff file (or -) or --pr OWNER/REPO#N, not both", file=sys.stderr)
        return 1
    if args.post and not args.pr:
        print("review-slm: --post needs --pr", file=sys.stderr)
        return 1
    try:
        text = None if args.pr else read_diff(args.diff, args.max_bytes)
        answerer = _answerer(args)
        if answerer is None:
            return NO_MODEL
        if args.pr:
            review = _review_pr(args, answerer, progress)
        else:
            review = review_diff(text, answerer, args.max_hunk_lines, progress)
            review["findings"] = [f for f in review["findings"] if at_least(f["severity"], args.min_severity)]
    except InputError as err:
        print(f"review-slm: {err}", file=sys.stderr)
        return err.code
    except EndpointError as err:
        print(f"the endpoint did not answer: {err}", file=sys.stderr)
        return ENDPOINT_FAILED
    except PullRequestError as err:
        print(f"review-slm: {err}", file=sys.stderr)
        return TOO_LARGE if isinstance(err, PullRequestTooLarge) else GITHUB_FAILED
    except ValueError as err:
        print(f"review-slm: {err}", file=sys.stderr)
        return 1
    for cut in review.get("truncated_hunks", []):
        progress(
            f"{cut['path']}: a hunk was cut to its first {args.max_hunk_lines} lines ({cut['lines_cut']} lines not "
            f"reviewed)"
        )
    print(render(review, args.format))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="review-slm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    it = sub.add_parser("iteration", help="manage iteration partition keys")
    it.add_argument("action", choices=["next", "list"])
    it.set_defaults(func=cmd_iteration)
    rv = sub.add_parser("review", help="review a unified diff with the champion model")
    rv.add_argument("diff", nargs="?", help="path to a .diff/.patch file, or - for stdin")
    rv.add_argument("--pr", help="review a pull request, OWNER/REPO#N (GITHUB_TOKEN; GITHUB_API_URL for Enterprise)")
    rv.add_argument(
        "--post",
        action="store_true",
        help="with --pr: post the review on the pull request (one review per head commit)",
    )
    rv.add_argument(
        "--reviewer-login",
        default=os.environ.get("REVIEW_SLM_BOT_LOGIN"),
        help="with --pr: only this login's earlier reviews count as ours "
        "(default: $REVIEW_SLM_BOT_LOGIN, else any review with our marker)",
    )
    rv.add_argument(
        "--min-severity",
        default="info",
        choices=["critical", "high", "medium", "low", "info"],
        help="drop findings below this severity (default info: keep all)",
    )
    rv.add_argument(
        "--format", default="json", choices=["json", "markdown", "sarif", "rdjson"], help="output format (default json)"
    )
    rv.add_argument(
        "--max-files", type=int, default=300, help="with --pr: refuse a pull request changing more files (exit 7)"
    )
    rv.add_argument("--max-hunks", type=int, default=400, help="with --pr: refuse more hunks to review (exit 7)")
    rv.add_argument("--model", help="model folder (default: $REVIEW_SLM_HOME/serving/champion)")
    rv.add_argument(
        "--endpoint",
        default=os.environ.get("REVIEW_SLM_ENDPOINT"),
        help="OpenAI-compatible base URL of a served champion, e.g. the KServe InferenceService's URL "
        "(default: $REVIEW_SLM_ENDPOINT); OPENAI_API_KEY is sent as a bearer token if set",
    )
    rv.add_argument("--served-model", help="model name at the endpoint (default: the first of GET /v1/models)")
    rv.add_argument(
        "--timeout",
        type=float,
        default=os.environ.get("REVIEW_SLM_TIMEOUT") or "900",  # a string default goes through `type` too
        help="with --endpoint: seconds the whole review may take, retries of 429/5xx answers included (exit 3 "
        "when they run out; default $REVIEW_SLM_TIMEOUT, else 900)",
    )
    rv.add_argument("--max-new-tokens", type=int, default=None)
    rv.add_argument("--max-bytes", type=int, default=2_000_000, help="refuse a larger input (exit 7; default 2 MB)")
    rv.add_argument(
        "--max-hunk-lines", type=int, default=200, help="review only the first lines of a longer hunk (default 200)"
    )
    rv.set_defaults(func=cmd_review)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
