"""Fetch a model folder for in-process review from the MLflow registry or S3 (the GitHub Action's `model` input).

    python -m review_slm.reviewer.fetch_model models:/review-slm-reviewer@champion DEST   (with MLFLOW_TRACKING_URI)
    python -m review_slm.reviewer.fetch_model s3://bucket/prefix/model DEST                (AWS credentials; for MinIO
                                                                                   MLFLOW_S3_ENDPOINT_URL)

Prints the folder to pass as `review-slm review --model`. Both go through MLflow's artifact client
(`mlflow-skinny`, in the `model` extra), which resolves `models:/NAME@ALIAS` through the registry and
reads `s3://` with boto3. A registered champion is an MLflow `transformers` model (`deployed_endpoint`):
weights in `model/`, tokenizer in `components/tokenizer/`; they are joined into one Hugging Face folder.
A folder on S3 is one already.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class FetchError(RuntimeError):
    """The model could not be fetched, or what was fetched is not a model folder."""


def model_folder(root: Path, uri: str) -> Path:
    """The Hugging Face folder (config.json, weights, tokenizer) inside what MLflow downloaded."""
    if (root / "config.json").exists():
        return root
    weights, tokenizer = root / "model", root / "components" / "tokenizer"
    if not (weights / "config.json").exists():
        raise FetchError(f"{uri}: no config.json at its top or in model/ (is it a review-slm model?)")
    if tokenizer.is_dir():
        for path in tokenizer.iterdir():
            if path.is_file() and not (weights / path.name).exists():
                shutil.copy2(path, weights / path.name)
    return weights


def fetch(uri: str, dest: Path) -> Path:
    if not uri.startswith(("models:/", "s3://")):
        raise FetchError(f"{uri}: expected models:/NAME@ALIAS (or models:/NAME/VERSION) or s3://bucket/prefix")
    import mlflow.artifacts

    dest.mkdir(parents=True, exist_ok=True)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest))
    except Exception as err:  # registry, network and boto3 errors come as many types; each means "not fetched"
        raise FetchError(f"{uri}: {type(err).__name__}: {err}") from err
    return model_folder(Path(local), uri)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(fetch(args[0], Path(args[1])))
    except FetchError as err:
        print(f"review-slm: cannot fetch the model: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
