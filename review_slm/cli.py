"""`review-slm`: start iterations and review diffs with the deployed champion.

    review-slm iteration next       add the next `iteration` partition key and print it
    review-slm iteration list       list the iteration keys
    review-slm review FILE.diff     review a diff with the champion; prints the JSON review
    review-slm review FILE.diff --endpoint URL   ... with the champion served by KServe / vLLM / `make serve`
    review-slm review --pr OWNER/REPO#N [--post]  review a pull request (GITHUB_TOKEN), optionally post the review
    review-slm review ... --format json|markdown|sarif|rdjson

Exit codes of `review`: `review-slm review --help` (the table in review_slm/reviewer/review_input.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from review_slm import settings

SEVERITIES = ("critical", "high", "medium", "low", "info")
NAMED_ON_STDERR = 20  # unreviewed hunks named on stderr; the review lists every one


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
    from review_slm.core.iterations import next_iteration_key
    from review_slm.partitions import iteration_partitions

    instance = _instance()
    name = iteration_partitions.name
    assert name is not None  # a named DynamicPartitionsDefinition
    keys = list(instance.get_dynamic_partitions(name))
    if args.action == "list":
        print("\n".join(keys))
        return 0
    key = next_iteration_key(keys)
    instance.add_dynamic_partitions(name, [key])
    print(key)
    return 0


def review_diff(
    diff_text: str,
    answer,
    max_hunk_lines: int = 200,
    progress=None,
    batch: int = 16,
    *,
    min_severity: str = "info",
    max_hunks: int = 400,
    tokens=None,
) -> dict:
    """Review every hunk of a diff in a reviewed language (REVIEW_SLM_LANGUAGES; default Go / Python / Kubernetes
    YAML); findings of all hunks in one review.

    `answer(prompts)` turns `[{"id", "messages"}]` into `[{"id", "answer"}]`: a local model folder
    (`LocalModel`) or an OpenAI-compatible endpoint such as the KServe/vLLM champion (`endpoint_answerer`).
    A hunk longer than `max_hunk_lines` (or than the model's token budget, `tokens`) is reviewed in windows, so every
    line is read; hunks after the first `max_hunks` are listed in `not_reviewed`. `progress(message)` hears about
    every `batch` hunks.
    """
    from review_slm.reviewer.review_input import parse_input

    return review_parsed(
        parse_input(diff_text),
        answer,
        max_hunk_lines,
        progress,
        batch,
        min_severity=min_severity,
        max_hunks=max_hunks,
        tokens=tokens,
    )


def review_parsed(
    parsed, answer, max_hunk_lines: int, progress=None, batch: int = 16, *, min_severity: str, max_hunks: int, tokens
) -> dict:
    """`review_diff` on a diff already parsed (`review_input.parse_input`)."""
    from review_slm.reviewer.hunk_review import review_result, review_units

    plan = reviewable_units(parsed, max_hunk_lines, tokens)
    windowed = [f"{u.path} ({u.window.split('/')[1]})" for u in plan.hunks if u.window.startswith("1/")]
    if progress and windowed:
        more = f" and {len(windowed) - 5} more" if len(windowed) > 5 else ""
        progress(f"{len(windowed)} long hunk(s) reviewed in windows: {', '.join(windowed[:5])}{more}")
    placed, not_reviewed, reviewed = review_units(plan.hunks, answer, min_severity, max_hunks, progress, batch)
    return review_result(placed, reviewed, plan.skipped, not_reviewed)


def reviewable_units(parsed, max_hunk_lines: int, tokens=None):
    # The languages reviewed are configuration: read here, at the edge, and passed down.
    """The review units of a parsed diff (`core.pr_review.plan_units`), or an InputError when there is none."""
    from review_slm.reviewer.pr_review import HunkPlan, plan_units
    from review_slm.reviewer.review_input import NO_HUNKS, InputError

    plan = plan_units(
        parsed.hunks, max_hunk_lines, settings.languages(), tokens, HunkPlan(skipped=list(parsed.skipped))
    )
    if not plan.hunks:
        files = ", ".join(f"{s['path']} ({s['reason']})" for s in plan.skipped)
        raise InputError(NO_HUNKS, f"no hunk to review (files: {files})")
    return plan


@contextlib.contextmanager
def quiet_libraries(verbose: bool):
    """Keep the model stack's noise (bitsandbytes' optional-kernel warning, transformers' warnings and loading bars)
    off the user's stderr unless --verbose; restored afterwards, so a caller in the same process keeps its settings."""
    if verbose:
        yield
        return
    noisy = [logging.getLogger(name) for name in ("bitsandbytes", "transformers", "huggingface_hub", "accelerate")]
    levels = [logger.level for logger in noisy]
    for logger in noisy:
        logger.setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        for logger, level in zip(noisy, levels):
            logger.setLevel(level)


class LocalModel:
    """The champion (or --model) folder as an answerer: loaded once, on the first prompts, after the input was
    checked; its tokenizer also measures prompts, so a long hunk is windowed to fit the model's context."""

    def __init__(self, model_dir: Path, max_new_tokens: int | None = None, verbose: bool = False):
        self.model_dir, self.verbose = model_dir, verbose
        self._max_new_tokens = max_new_tokens
        self._tokenizer = self._model = None

    @property
    def max_new_tokens(self) -> int:
        from review_slm.core.recipe import load_recipe

        return self._max_new_tokens or load_recipe(settings.recipe_name()).generation.max_new_tokens

    def tokenizer(self):
        if self._tokenizer is None:
            with quiet_libraries(self.verbose):
                from review_slm.training.models import load_tokenizer

                self._tokenizer = load_tokenizer(str(self.model_dir))
        return self._tokenizer

    def __call__(self, prompts: list[dict]) -> list[dict]:
        from review_slm.core.recipe import load_recipe

        with quiet_libraries(self.verbose):
            from review_slm.training.methods.generate import generate_answers
            from review_slm.training.models import load_model

            tokenizer = self.tokenizer()
            if self._model is None:
                self._model = load_model(str(self.model_dir), for_training=False).eval()
            batch = load_recipe(settings.recipe_name()).generation.batch_size
            return generate_answers(self._model, tokenizer, prompts, self.max_new_tokens, batch)

    def token_budget(self):
        """The prompt's room for diff lines: the context the model was trained on (the recipe's SFT length, at most
        its position embeddings) less the answer's tokens and the rest of the prompt, with a 5% margin."""
        import json

        from review_slm.core.prompts import student_messages
        from review_slm.core.recipe import load_recipe
        from review_slm.reviewer.pr_review import TokenBudget

        tokenizer = self.tokenizer()
        config = json.loads((self.model_dir / "config.json").read_text())
        context = min(config.get("max_position_embeddings") or 2048, load_recipe(settings.recipe_name()).sft.max_length)

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

        def budget_for(path: str, language: str) -> int:
            messages = student_messages(path, language, "@@ -99999,99 +99999,99 @@")
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return int((context - self.max_new_tokens - count(prompt)) * 0.95)

        def line_costs(lines: list[str]) -> list[int]:
            # As the prompt shows a line: its new-file number (up to 6 digits) before it, a newline after it.
            encoded = tokenizer([f"999999 {raw}\n" for raw in lines], add_special_tokens=False)["input_ids"]
            return [len(ids) for ids in encoded]

        return TokenBudget(line_costs, budget_for)


def local_answerer(model_dir: Path, max_new_tokens: int | None = None) -> LocalModel:
    """A model folder as an answerer (the name bench/review_latency.py imports)."""
    return LocalModel(model_dir, max_new_tokens)


def endpoint_answerer(
    base_url: str, model: str | None, max_new_tokens: int | None = None, timeout: float | None = None
):
    """`timeout`: seconds the whole review may take, from now (every request, retry and wait of every batch)."""
    from review_slm.core.recipe import load_recipe
    from review_slm.reviewer.endpoint_client import Deadline, chat_answers, served_models

    deadline = Deadline(timeout)

    def answer(prompts: list[dict]) -> list[dict]:
        # vLLM lists the served model first, then loaded adapters; `make serve` (transformers) lists none: no name is
        # sent.
        name = model or next(iter(served_models(base_url, deadline=deadline)), None)
        tokens = max_new_tokens or load_recipe(settings.recipe_name()).generation.max_new_tokens
        return chat_answers(base_url, name, prompts, tokens, deadline=deadline)

    return answer


def model_folder(args: argparse.Namespace) -> Path | None:
    """The local model folder to review with (checked: it has a config.json), or None."""
    model_dir = Path(args.model) if args.model else settings.home() / "serving" / "champion"
    return model_dir if (model_dir / "config.json").is_file() else None


def _check_pr(args: argparse.Namespace) -> tuple[str, int, str]:
    """(repo, number, token) of `--pr`, checked before anything is fetched or a model is loaded."""
    from review_slm.reviewer.github_pulls import parse_pr_ref

    try:
        repo, number = parse_pr_ref(args.pr)
    except ValueError as err:
        raise UsageError(f"--pr: {err}") from None
    token = settings.github_token()
    if not token:
        raise UsageError("--pr needs GITHUB_TOKEN in the environment (a token that may read the pull request)")
    return repo, number, token


class UsageError(Exception):
    pass


def _review_pr(args: argparse.Namespace, pr: tuple[str, int, str], answerer, tokens, progress) -> dict:
    from review_slm.reviewer.github_pulls import GitHubPullRequests
    from review_slm.reviewer.pr_command import PrOptions, review_pull_request

    repo, number, token = pr
    client = GitHubPullRequests(token, settings.github_api_url(), reviewer_login=args.reviewer_login or None)
    options = PrOptions(
        post=args.post,
        min_severity=args.min_severity,
        max_hunk_lines=args.max_hunk_lines,
        max_files=args.max_files,
        max_hunks=args.max_hunks,
        languages=settings.languages(),
        tokens=tokens,
    )
    review = review_pull_request(client, repo, number, answerer, options, progress)
    if "posted" in review:
        progress(f"posted: {review['posted']}")
    return review


def _check_input(args: argparse.Namespace):
    """Everything about the command line, the model and the input that can be wrong, checked in that order before
    the model stack (torch, transformers) is imported: (the PR or the parsed diff, the model folder or None for an
    endpoint)."""
    from review_slm.reviewer.review_input import NO_MODEL, InputError, parse_input, read_diff

    if bool(args.diff) == bool(args.pr):
        raise UsageError("pass a diff file (or -) or --pr OWNER/REPO#N, not both")
    if args.post and not args.pr:
        raise UsageError("--post needs --pr")
    for name in ("max_hunks", "max_hunk_lines", "max_bytes", "max_files"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    pr = _check_pr(args) if args.pr else None
    model_dir = None if args.endpoint else model_folder(args)
    if not args.endpoint and model_dir is None:
        where = args.model or settings.home() / "serving" / "champion"
        raise InputError(
            NO_MODEL, f"no model at {where}: run an iteration first (`make run`), pass --model, or --endpoint URL"
        )
    if model_dir is not None and (problem := missing_extra("model", "torch", "transformers")):
        raise InputError(
            NO_MODEL, f"in-process review needs the model stack ({problem}), or review with --endpoint URL"
        )
    if pr:
        return pr, model_dir
    # The input last: a large diff takes a moment to parse (7 MB: about 2 s), every other check is instant.
    source = parse_input(read_diff(args.diff, args.max_bytes), "standard input" if args.diff == "-" else args.diff)
    reviewable_units(source, args.max_hunk_lines)  # no reviewable hunk: said now, not after loading a model
    return source, model_dir


def _verdict(review: dict, args: argparse.Namespace, progress) -> int:
    """The exit code of a review that ran: --fail-on first (a definite answer), then an incomplete review."""
    from review_slm.reviewer.pr_review import at_least
    from review_slm.reviewer.review_input import FINDINGS_AT_FAIL_ON, INCOMPLETE, REVIEWED

    if args.fail_on:
        severe = [f for f in review["findings"] + review["outside_diff"] if at_least(f["severity"], args.fail_on)]
        if severe:
            where = ", ".join(f"{f['path']}:{f['line']} ({f['severity']})" for f in severe)
            progress(f"{len(severe)} finding(s) at or above --fail-on {args.fail_on}: {where}")
            return FINDINGS_AT_FAIL_ON
    incomplete = review["invalid_answers"] + review["not_reviewed"]
    if len(incomplete) > NAMED_ON_STDERR:
        progress(f"{len(incomplete) - NAMED_ON_STDERR} more hunk(s) not reviewed than named below: see the review")
    for unit in incomplete[:NAMED_ON_STDERR]:
        why = unit.get("reason") or f"the answer was not a valid review: {unit['error']}"
        window = f" (window {unit['window']})" if unit.get("window") else ""
        progress(f"not reviewed: {unit['path']} lines {unit['lines']}{window}: {why}")
    if incomplete and not args.allow_incomplete:
        progress(f"{len(incomplete)} hunk(s) not reviewed: the review is incomplete (--allow-incomplete accepts it)")
        return INCOMPLETE
    return REVIEWED


def cmd_review(args: argparse.Namespace) -> int:
    from review_slm.reviewer.review_input import USAGE, InputError

    def progress(message: str) -> None:
        print(f"review-slm: {message}", file=sys.stderr, flush=True)

    try:
        source, model_dir = _check_input(args)
    except UsageError as err:
        progress(str(err))
        return USAGE
    except InputError as err:
        progress(str(err))
        return err.code
    # Only now the heavy part: the endpoint client or the model stack, GitHub.
    from review_slm.reviewer.endpoint_client import EndpointError
    from review_slm.reviewer.github_pulls import PullRequestError, PullRequestTooLarge
    from review_slm.reviewer.review_formats import render
    from review_slm.reviewer.review_input import ENDPOINT_FAILED, GITHUB_FAILED, TOO_LARGE

    if args.endpoint:
        answerer = endpoint_answerer(args.endpoint, args.served_model, args.max_new_tokens, args.timeout)
        tokens = None
    else:
        assert model_dir is not None  # _check_input: no endpoint means a model folder
        answerer = LocalModel(model_dir, args.max_new_tokens, args.verbose)
        tokens = answerer.token_budget()
    try:
        if args.pr:
            assert isinstance(source, tuple)  # _check_input: --pr gives (repo, number, head)
            review = _review_pr(args, source, answerer, tokens, progress)
        else:
            review = review_parsed(
                source,
                answerer,
                args.max_hunk_lines,
                progress,
                min_severity=args.min_severity,
                max_hunks=args.max_hunks,
                tokens=tokens,
            )
    except InputError as err:
        progress(str(err))
        return err.code
    except EndpointError as err:
        progress(f"the endpoint did not answer: {err}")
        return ENDPOINT_FAILED
    except PullRequestError as err:
        progress(str(err))
        return TOO_LARGE if isinstance(err, PullRequestTooLarge) else GITHUB_FAILED
    print(render(review, args.format))
    return _verdict(review, args, progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="review-slm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    it = sub.add_parser("iteration", help="manage iteration partition keys")
    it.add_argument("action", choices=["next", "list"])
    it.set_defaults(func=cmd_iteration)
    from review_slm.reviewer.review_input import exit_code_table

    rv = sub.add_parser(
        "review",
        help="review a unified diff with the champion model",
        description="Review a unified diff (a file, or - for stdin) or a pull request (--pr) with the champion.",
        epilog=f"exit codes:\n{exit_code_table()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        choices=SEVERITIES,
        help="drop findings below this severity (default info: keep all)",
    )
    rv.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        type=str.lower,
        help="exit 12 when a finding is at least this severe (default: never)",
    )
    rv.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 (not 11) when a hunk's answer was not a valid review or hunks were over --max-hunks; the review "
        "still lists them (invalid_answers, not_reviewed)",
    )
    rv.add_argument(
        "--format", default="json", choices=["json", "markdown", "sarif", "rdjson"], help="output format (default json)"
    )
    rv.add_argument(
        "--max-files", type=int, default=300, help="with --pr: refuse a pull request changing more files (exit 7)"
    )
    rv.add_argument(
        "--max-hunks",
        type=int,
        default=400,
        help="review at most this many hunks (windows of a long hunk count one each); the rest are listed in "
        "not_reviewed and the exit is 11 (default 400)",
    )
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
        "--max-hunk-lines",
        type=int,
        default=200,
        help="review a longer hunk in windows of at most this many lines (default 200); with a local model a window "
        "also fits the model's context in its tokens, with room for the answer",
    )
    rv.add_argument(
        "--verbose", action="store_true", help="let the model stack's warnings and loading bars through to stderr"
    )
    rv.set_defaults(func=cmd_review)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
