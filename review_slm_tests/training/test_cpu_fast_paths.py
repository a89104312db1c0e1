"""The CPU fast paths of the tiny student compute what they replace: the LM head from the full logits
against TRL's fused head, and one causal SDPA call per packed example against the masked square."""

import copy

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM
from trl.trainer.utils import add_fused_lm_head

from review_slm.training import packed_attention
from review_slm.training.lm_head import DPO_OUTPUTS, dense_lm_head
from review_slm_tests.training.test_methods import _trainer

FIELDS = ("log_probs", "entropy", "mean_logits", "log_sum_sq_probs")


def _model(attn: str = "sdpa") -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        use_cache=False,
    )
    config._attn_implementation = attn
    return Qwen2ForCausalLM(config)


def _packed_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two rows of 64 tokens: 3 examples, then 2 examples and a padded tail (position ids 0, like packing.py)."""
    ids = torch.randint(0, 96, (2, 64), generator=torch.Generator().manual_seed(1))
    positions = torch.zeros(2, 64, dtype=torch.long)
    for row, lengths in enumerate(((20, 30, 14), (25, 31))):
        start = 0
        for n in lengths:
            positions[row, start : start + n] = torch.arange(n)
            start += n
    labels = ids.masked_fill(positions == 0, -100)
    labels[1, 56:] = -100  # the padded tail
    return ids, positions, labels


def test_dense_lm_head_gives_trls_fused_outputs_and_gradients():
    fused, dense = _model(), _model()
    outputs = (*DPO_OUTPUTS, "log_sum_sq_probs")
    add_fused_lm_head(fused, outputs=outputs)
    add_fused_lm_head(dense, outputs=outputs)
    dense_lm_head(dense, outputs)
    ids, positions, labels = _packed_batch()
    results = []
    for model in (fused, dense):
        out = model(input_ids=ids, position_ids=positions, labels=labels, fused_lm_head=True, num_items_in_batch=50)
        (out.loss + 0.1 * out.entropy.sum()).backward()  # the entropy keeps its gradient, as TRL's does
        results.append(out)
    a, b = results
    assert torch.allclose(a.loss, b.loss, atol=1e-5)
    for field in FIELDS:
        assert torch.allclose(getattr(a, field), getattr(b, field), atol=1e-4), field
    assert torch.equal(a.is_top1, b.is_top1) and torch.equal(a.label_mask, b.label_mask)
    assert (b.log_probs[~b.label_mask] == 0).all()
    for p, q in zip(fused.parameters(), dense.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)
    # Without `fused_lm_head` the forward is the model's own: logits, for generation.
    assert torch.equal(fused(input_ids=ids[:, :9]).logits, dense(input_ids=ids[:, :9]).logits)


def test_packed_attention_matches_the_block_diagonal_mask():
    masked = _model("sdpa").train()
    packed = copy.deepcopy(masked)
    packed.set_attn_implementation(packed_attention.register())
    ids, positions, labels = _packed_batch()
    logits = []
    for model in (masked, packed):
        out = model(input_ids=ids, position_ids=positions, labels=labels)
        out.loss.backward()
        logits.append(out.logits)
    real = labels != -100
    assert torch.allclose(logits[0][real], logits[1][real], atol=1e-5)
    for p, q in zip(masked.parameters(), packed.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)


def test_a_left_padded_generation_batch_keeps_transformers_sdpa():
    plain = _model("sdpa").eval()
    packed = copy.deepcopy(plain)
    packed.set_attn_implementation(packed_attention.register())
    ids = torch.randint(0, 96, (2, 12), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, :5] = 0
    kwargs = {"attention_mask": mask, "max_new_tokens": 6, "do_sample": False, "pad_token_id": 0, "use_cache": True}
    assert torch.equal(plain.generate(input_ids=ids, **kwargs), packed.generate(input_ids=ids, **kwargs))


@pytest.mark.parametrize(
    ("positions", "starts", "is_packed"),
    [
        ([0, 1, 2, 0, 1, 0, 0, 0], [0, 3, 5], True),  # two examples, then a padded tail of 3
        ([0, 1, 2, 3, 0, 1, 2, 3], [0, 4], True),
        ([0, 1, 2, 3, 4, 5, 6, 7], [0], False),  # one example: nothing to split
        ([1, 1, 1, 0, 1, 2, 3, 4], None, False),  # left padding of a generation batch: never split
    ],
)
def test_example_starts_and_what_counts_as_packed(positions, starts, is_packed):
    tensor = torch.tensor([positions])
    if starts is not None:
        assert packed_attention.example_starts(tensor) == [starts]
    assert packed_attention.is_packed(tensor) is is_packed


def _dense_head(trainer) -> bool:
    model = trainer.model.get_base_model()  # the test recipe trains LoRA: TRL patches the base model's forward
    return model.forward.__code__.co_filename.endswith("lm_head.py")


def test_the_sft_trainer_takes_the_fast_paths_only_when_the_recipe_asks(harness, tmp_path):
    (tmp_path / "fast").mkdir()
    (tmp_path / "unpacked").mkdir()
    off = _trainer(harness, tmp_path, **{"sft.packing": True, "hardware.cpu_fast_paths": False})  # tiny turns them on
    assert off.model.config._attn_implementation == "sdpa"
    assert not _dense_head(off)
    fast = _trainer(harness, tmp_path / "fast", **{"sft.packing": True, "hardware.cpu_fast_paths": True})
    assert fast.model.config._attn_implementation == packed_attention.NAME
    assert _dense_head(fast)
    unpacked = _trainer(harness, tmp_path / "unpacked", **{"sft.packing": False, "hardware.cpu_fast_paths": True})
    assert unpacked.model.config._attn_implementation == "sdpa"
