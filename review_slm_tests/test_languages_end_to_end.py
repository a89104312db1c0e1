"""Languages are configuration: Rust, Java and TypeScript review comments mined from GitHub (the local
stand-in, through real PyGithub) reach the gold set when REVIEW_SLM_LANGUAGES names them, and are
`unsupported_language` under the default (go, python, yaml). The data assets run for real (no training)."""

import dagster as dg
import pytest

from review_slm import definitions, settings
from review_slm.gold.assets import gold_set
from review_slm.ingest.assets import hf_supplement, mined_reviews
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.review_source import GitHubReviewSource
from review_slm.resources.teacher import HumanCommentTeacher
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm_tests.resources.github_standin import GitHubState, comment, make_handler, multi_language_comments
from review_slm_tests.servers import serve


@pytest.fixture
def github():
    state = GitHubState()
    state.comments[1] = comment(1, "2026-01-01T00:00:00Z")  # a Go comment, reviewed whatever the setting
    state.comments.update(multi_language_comments(first_id=100))
    with serve(make_handler(state)) as url:
        yield url


def _gold_languages(home, github, model_cache, fast_recipe_path) -> tuple[dict, dict[str, str]]:
    resources = definitions.local_resources()
    resources.update(
        teacher=HumanCommentTeacher(),
        recipe=TrainingRecipe(name=str(fast_recipe_path), cache_dir=str(model_cache)),
        review_source=GitHubReviewSource(
            token="test-token",
            api_url=github,
            repos=["o/r"],
            per_page=10,
            backoff_factor=0,
            seconds_between_requests=0,
            languages=list(settings.languages()),  # what definitions passes: the configured languages
        ),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("iteration", ["iter-0001"])
        result = dg.materialize(
            [mined_reviews, hf_supplement, gold_set],
            partition_key="iter-0001",
            instance=instance,
            resources=resources,
            run_config={"ops": {"gold_set": {"config": {"min_test_rows": 1}}}},
        )
    assert result.success
    (mined,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "mined_reviews"]
    layout = iteration(LocalArtifactStore(root=str(home / "artifacts")), "iter-0001")
    rows = [r for split in ("train", "val", "test") for r in layout.store.read_table(layout.gold_split(split))]
    mined_meta = {k: v.value for k, v in mined.materialization.metadata.items()}
    return mined_meta, {r["path"]: r["language"] for r in rows if r["source"] == "github"}


def test_rust_java_typescript_comments_reach_the_gold_set_when_configured(
    home, github, model_cache, fast_recipe_path, monkeypatch
):
    monkeypatch.setenv("REVIEW_SLM_LANGUAGES", "go,python,yaml,rust,java,typescript")
    mined, gold = _gold_languages(home, github, model_cache, fast_recipe_path)
    assert gold == {
        "pkg/f1.go": "go",
        "src/server/handler.rs": "rust",
        "src/main/java/com/acme/Report.java": "java",
        "web/src/api/orders.ts": "typescript",
    }
    assert mined["skipped_unsupported_language"] == 1  # the C++ comment: no setting reviews C++


def test_default_languages_skip_rust_java_typescript(home, github, model_cache, fast_recipe_path, monkeypatch):
    monkeypatch.delenv("REVIEW_SLM_LANGUAGES", raising=False)
    mined, gold = _gold_languages(home, github, model_cache, fast_recipe_path)
    assert gold == {"pkg/f1.go": "go"}
    assert mined["skipped_unsupported_language"] == 4
