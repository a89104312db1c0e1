"""bench/gpu_train.py: the tiny config trains on CPU and reports figures; the 1.5B config has the real shape."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from review_slm.core.recipe import load_recipe

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_train.py"


@pytest.fixture(scope="module")
def gpu_train():
    # bench/ is a folder of scripts, not a package: load the file itself.
    spec = importlib.util.spec_from_file_location("gpu_train", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_config_trains_and_reports_positive_figures(gpu_train, tmp_path, capsys):
    import torch

    out = tmp_path / "figures.json"
    returned = gpu_train.main(
        [
            "--config",
            "tiny",
            "--steps",
            "3",
            "--warmup-steps",
            "1",
            "--seq-len",
            "64",
            "--micro-batch",
            "2",
            "--json",
            str(out),
        ]
    )
    figures = json.loads(out.read_text())
    assert figures == json.loads(json.dumps(returned))
    assert figures["steps"] == 3 and figures["tokens"] == 3 * 2 * 64
    for key in ("tokens_per_s", "seconds", "peak_memory_gib", "params", "trainable_params", "flops_per_token"):
        assert figures[key] > 0, key
    assert figures["trainable_params"] < figures["params"]  # LoRA: the base is frozen
    assert figures["flops_per_token"] == 4 * figures["params"]  # cost.py's LoRA rule
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"gpu_train: tiny (\S+) (\d+) tok/s, peak ([\d.]+) GiB, MFU (\S+)", last)
    assert match, last
    assert match[1] == figures["mode"] and float(match[2]) > 0 and float(match[3]) > 0
    if not torch.cuda.is_available():
        assert figures["mode"] == "lora-fp32-cpu" and not figures["loaded_in_4bit"]
        assert figures["mfu"] is None and match[4] == "n/a"


def test_qwen25_coder_config_has_the_published_parameter_count(gpu_train):
    config = gpu_train.qwen2_config("qwen2.5-coder-1.5b")
    params = gpu_train.param_count(config)
    embedding = config.vocab_size * config.hidden_size  # tied with the LM head: counted once
    assert params == pytest.approx(1.54e9, rel=0.02)
    assert params - embedding == pytest.approx(1.31e9, rel=0.02)
    # The recipe's cost estimate uses the same N the bench's MFU does.
    assert params / 1e9 == pytest.approx(load_recipe("qwen2.5-coder-1.5b-qlora").base_model_params_b, rel=0.01)
    assert config.rope_parameters["rope_theta"] == 1e6 and config.num_key_value_heads == 2


def test_peak_tflops_by_gpu_name(gpu_train):
    assert gpu_train.peak_tflops_for("NVIDIA H200") == 989
    assert gpu_train.peak_tflops_for("NVIDIA H100 80GB HBM3") == 989
    assert gpu_train.peak_tflops_for("NVIDIA H100 PCIe") == 756
    assert gpu_train.peak_tflops_for("NVIDIA A100-SXM4-80GB") == 312
    assert gpu_train.peak_tflops_for("NVIDIA L4") == 121
    assert gpu_train.peak_tflops_for("NVIDIA GeForce RTX 4090") is None
