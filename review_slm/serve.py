"""`make serve`: serve the champion over the OpenAI-compatible API with an existing server.

    python -m review_slm.serve [--model DIR] [--host 127.0.0.1] [--port 8000] [--server auto|transformers|vllm]

`auto` picks vLLM when it is installed and a CUDA GPU is visible, else `transformers serve`
(`pip install -e '.[serve]'`). Either way `review-slm review --endpoint http://HOST:PORT FILE.diff`
works against it as against KServe. The process execs the server, so Ctrl-C / SIGTERM stop it.

`transformers serve` pins the model given on its command line, and its `GET /v1/models` lists the
models of the Hugging Face cache instead; it is started with an empty cache folder of its own so the
listing is empty and clients send no model name (the pinned model answers), rather than a name
from an unrelated cache that the pinned server would refuse.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from review_slm import settings


def server_command(kind: str, model_dir: Path, host: str, port: int, bin_dir: Path) -> list[str]:
    where = [str(model_dir), "--host", host, "--port", str(port)]
    if kind == "vllm":
        return [str(bin_dir / "vllm"), "serve", *where, "--served-model-name", "review-slm"]
    return [str(bin_dir / "transformers"), "serve", *where, "--device", "auto"]


def cpu_thread_env(env: dict[str, str]) -> dict[str, str]:
    """OMP_NUM_THREADS from the recipe's `hardware.cpu_threads` (1 for `tiny`), unless it is already set.

    Measured with bench/review_latency.py (2 shared cores, load ~3.6, tiny model, 64 tokens a hunk): with
    torch's default of one thread per core, 13-31 ms per generated token (~0.9-2.0 s a hunk); with one
    thread, 0.9-2.2 ms (~0.06-0.14 s). The tiny model's ops are too small to split, and two threads on
    busy cores wait for each other at every op: the "0.08 or 1.0 s per hunk" flip between server starts.
    """
    from review_slm.core.recipe import load_recipe

    threads = load_recipe(settings.recipe_name()).hardware.cpu_threads
    if threads is None or "OMP_NUM_THREADS" in env:
        return {}
    return {"OMP_NUM_THREADS": str(threads)}


def pick_server(requested: str) -> str:
    if requested != "auto":
        return requested
    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "transformers"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="review-slm-serve", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=str(settings.home() / "serving" / "champion"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", choices=["auto", "transformers", "vllm"], default="auto")
    args = parser.parse_args(argv)
    model_dir = Path(args.model)
    if not (model_dir / "config.json").exists():
        print(f"no model at {model_dir}: run an iteration first (`make run`) or pass --model", file=sys.stderr)
        return 2
    kind = pick_server(args.server)
    bin_dir = Path(sys.executable).parent
    if kind == "transformers":
        from transformers.utils.import_utils import is_serve_available

        if not is_serve_available():
            print("transformers serve needs its extras: pip install -e '.[serve]'", file=sys.stderr)
            return 2
    elif shutil.which("vllm", path=str(bin_dir)) is None:
        print("vllm is not installed in this environment", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if kind == "transformers":
        cache = settings.home() / "serving" / "empty-hub-cache"
        cache.mkdir(parents=True, exist_ok=True)
        env["HF_HUB_CACHE"] = str(cache)
        env.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: nothing to download
        env.update(cpu_thread_env(env))
    command = server_command(kind, model_dir, args.host, args.port, bin_dir)
    print(
        f"serving {model_dir} with {kind} at http://{args.host}:{args.port} (OpenAI-compatible: /v1/chat/completions)",
        flush=True,
    )
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
