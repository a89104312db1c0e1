import pytest

from review_slm.core.diff_hunks import last_new_line, split_unified_diff
from review_slm.core.iterations import next_iteration_key
from review_slm.core.languages import DEFAULT_LANGUAGES, detect_language
from review_slm.core.recipe import RecipeError, load_recipe


def test_shipped_recipes_load():
    tiny, real = load_recipe("tiny"), load_recipe("qwen2.5-coder-1.5b-qlora")
    assert tiny.base_model == "builtin:tiny-qwen2" and tiny.tiny_model is not None
    assert real.base_model == "Qwen/Qwen2.5-Coder-1.5B-Instruct" and real.quantization.load_in_4bit
    qlora_7b, full_7b = load_recipe("qwen2.5-coder-7b-qlora"), load_recipe("qwen2.5-coder-7b-full-fsdp")
    assert qlora_7b.base_model == full_7b.base_model == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert qlora_7b.quantization.load_in_4bit and qlora_7b.hardware.sharding == "none"
    assert qlora_7b.sft.effective_batch == real.sft.effective_batch == 32  # extends the 1.5B recipe, same batch
    assert full_7b.finetuning == "full" and not full_7b.quantization.load_in_4bit
    assert (full_7b.hardware.sharding, full_7b.hardware.nodes, full_7b.hardware.gpus_per_node) == ("fsdp", 2, 8)


def test_recipe_typo_names_file_and_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: x\nversion: 1\nbase_model: m\nsft:\n  learning_rat: 0.1\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(str(path))
    assert str(path) in str(err.value) and "sft.learning_rat" in str(err.value) and "unknown key" in str(err.value)
    path.write_text("name: x\nversion: 1\nbase_model: m\nlora:\n  r: many\n")
    with pytest.raises(RecipeError, match="lora.r"):
        load_recipe(str(path))
    with pytest.raises(RecipeError, match="unknown recipe"):
        load_recipe("no-such-recipe")


def test_iteration_keys_sort_numerically():
    assert next_iteration_key([]) == "iter-0001"
    assert next_iteration_key(["iter-0009", "iter-0010", "other"]) == "iter-0011"


def test_language_detection():
    assert (
        detect_language("a/b.go", "", DEFAULT_LANGUAGES) == "go"
        and detect_language("x.py", "", DEFAULT_LANGUAGES) == "python"
    )
    assert detect_language("charts/x/templates/dep.yaml", "", DEFAULT_LANGUAGES) == "yaml"
    assert detect_language("ci/config.yml", "+apiVersion: apps/v1\n+kind: Deployment", DEFAULT_LANGUAGES) == "yaml"
    assert detect_language(".github/workflows/ci.yml", "+on: push", DEFAULT_LANGUAGES) is None
    assert detect_language("main.rs", "", DEFAULT_LANGUAGES) is None


def test_split_unified_diff_and_line_arithmetic():
    diff = (
        "diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -1,2 +1,3 @@\n x\n+y\n z\n@@ -10,1 +11,2 @@\n q\n+r\n"
        "--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    )
    hunks = split_unified_diff(diff)
    assert [p for p, _ in hunks] == ["a.go", "a.go"]
    assert last_new_line(hunks[0][1]) == 3 and last_new_line(hunks[1][1]) == 12


def test_recipe_methods_and_their_constraints(tmp_path):
    path = tmp_path / "full.yaml"
    path.write_text("name: x\nversion: 1\nbase_model: m\nmethod: sft+orpo\nfinetuning: full\n")
    recipe = load_recipe(str(path))
    assert recipe.preference_method == "orpo" and recipe.finetuning == "full"
    path.write_text("name: x\nversion: 1\nbase_model: m\nfinetuning: full\nquantization:\n  load_in_4bit: true\n")
    with pytest.raises(RecipeError, match="cannot train 4-bit weights"):
        load_recipe(str(path))
    path.write_text("name: x\nversion: 1\nbase_model: m\nmethod: sft+ppo\n")
    with pytest.raises(RecipeError, match="key 'method'"):
        load_recipe(str(path))
    path.write_text("name: x\nversion: 1\nbase_model: m\nresilience:\n  spike_factr: 3\n")
    with pytest.raises(RecipeError, match="resilience.spike_factr"):
        load_recipe(str(path))


def test_cost_estimate_uses_the_finetuning_mode():
    from review_slm.core.cost import estimate_training_cost, mfu

    lora = load_recipe("qwen2.5-coder-1.5b-qlora")
    full = lora.model_copy(
        update={"finetuning": "full", "quantization": lora.quantization.model_copy(update={"load_in_4bit": False})}
    )
    tokens = 8_000_000
    est = estimate_training_cost(lora, tokens)
    assert est.flops == 4 * 1.54e9 * tokens * lora.sft.epochs
    assert estimate_training_cost(full, tokens).flops == 1.5 * est.flops
    assert est.gpu_hours == round(est.flops / (312e12 * 0.35) / 3600, 4) and est.cost_usd == round(
        est.gpu_hours * 2.5, 2
    )
    assert mfu(1e9, False, 1000, 1.0) == 4e12 / 1e12
