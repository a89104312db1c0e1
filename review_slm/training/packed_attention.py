"""SDPA over packed rows, one causal call per example instead of one masked call per row.

A packed SFT row (packing.py) holds several examples told apart by position ids that restart at 0.
transformers then hands SDPA a block-diagonal (length x length) mask, and with an explicit mask the
CPU flash kernel computes every block of the square: at 1,024 tokens and ~2 examples a row that was
~30 % of a tiny-student SFT step, most of it on blocks the mask throws away. Here each example runs
its own `is_causal` SDPA call, which skips the upper triangle too: the same softmax over the same
keys (float rounding aside), on Σ lᵢ²/2 instead of length² scores. Anything that is not a packed
full-sequence batch (generation, padded DPO batches, a KV cache) goes to transformers' own SDPA.

Used by SFT when the recipe sets `hardware.cpu_fast_paths`. Registered as the attention implementation
`sdpa_packed` (transformers' AttentionInterface, with SDPA's mask function), so a model takes it with
`set_attn_implementation("sdpa_packed")`; the name is not saved with the model.
"""

from __future__ import annotations

NAME = "sdpa_packed"


def example_starts(position_ids) -> list[list[int]]:
    """Per row, the index where each example starts (position id 0). The padded tail of a row (position
    ids 0 after the last example, see packing.py) is one span: its outputs carry no label."""
    starts = []
    for row in position_ids.tolist():
        last_real = max((i for i, p in enumerate(row) if p != 0), default=0)
        row_starts = [i for i, p in enumerate(row[: last_real + 1]) if p == 0] or [0]
        if last_real + 1 < len(row):
            row_starts.append(last_real + 1)
        starts.append(row_starts)
    return starts


def is_packed(position_ids) -> bool:
    """Rows of whole examples: every position id restarts at 0 or follows the previous one, and some restart.
    (A left-padded generation batch is not: its padding holds position 1 repeated.)"""
    later, earlier = position_ids[..., 1:], position_ids[..., :-1]
    restarts = later == 0
    return bool(restarts.any()) and bool((restarts | (later == earlier + 1)).all())


def sdpa_packed_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    q_len = query.shape[2]
    packed = (
        position_ids is not None
        and q_len > 1
        and key.shape[2] == q_len
        and position_ids.shape[-1] == q_len
        and not kwargs.get("output_attentions")
        and getattr(module, "is_causal", True)
        and is_packed(position_ids)
    )
    if not packed:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    rows = []
    assert position_ids is not None  # `packed` says so
    for b, starts in enumerate(example_starts(position_ids.expand(query.shape[0], -1))):
        bounds = [*starts, q_len]
        rows.append(
            torch.cat(
                [
                    torch.nn.functional.scaled_dot_product_attention(
                        query[b : b + 1, :, s:e],
                        key[b : b + 1, :, s:e],
                        value[b : b + 1, :, s:e],
                        dropout_p=dropout,
                        scale=scaling,
                        is_causal=True,
                    )
                    for s, e in zip(bounds[:-1], bounds[1:], strict=True)
                ],
                dim=2,
            )
        )
    return torch.cat(rows, dim=0).transpose(1, 2).contiguous(), None


def register() -> str:
    """Make `sdpa_packed` loadable (idempotent); returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, sdpa_packed_attention)
    if NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
