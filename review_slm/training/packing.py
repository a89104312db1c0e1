"""Packed rows for attention kernels without variable-length support (SDPA, eager).

TRL's BFD packing always goes padding-free: every micro-batch is flattened into ONE sequence and the
examples are told apart by their position ids. FlashAttention's varlen kernels make that cheap; SDPA
instead gets a (rows x max_length)^2 block mask, so attention cost grows with the square of the whole
micro-batch. This collator keeps each packed row a row of its own: position ids restart at every
example (transformers turns them into a per-row block-diagonal causal mask when there is no attention
mask), the short tail of a row is padding with label -100, and the first token of every example gets
no label, so nothing is learned across an example boundary.
"""

from __future__ import annotations


class RowPackedCollator:
    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict]) -> dict:
        import torch
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        width = max(len(e["input_ids"]) for e in examples)
        positions = DataCollatorForLanguageModeling.get_position_ids_from_packed_seq_lengths(
            [e["seq_lengths"] for e in examples]
        )
        input_ids = torch.full((len(examples), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        position_ids = torch.zeros((len(examples), width), dtype=torch.long)
        for row, (example, pos) in enumerate(zip(examples, positions)):
            n = len(example["input_ids"])
            input_ids[row, :n] = torch.tensor(example["input_ids"])
            labels[row, :n] = torch.tensor(example.get("labels", example["input_ids"]))
            position_ids[row, :n] = pos
        labels[position_ids == 0] = -100  # an example's first token is not predicted from the previous example
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}
