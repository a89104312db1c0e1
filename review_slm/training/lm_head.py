"""TRL's fused LM head, computed from the full logits on CPU.

TRL 1.16's SFT and DPO trainers patch the model's forward with a fused LM head (`add_fused_lm_head`)
that never materialises the (batch, length, vocabulary) logits: right for a large vocabulary on a
GPU, where Triton kernels fold each tile. Without Triton (CPU) it folds every tile with a dozen
torch ops over (tokens x vocabulary) floats, and the backward recomputes the projection and does it
again: on the tiny student (vocabulary 2,048, 2 x 1,024 tokens a step) the head took about half of
an SFT step. Its logits are 16 MiB a micro-batch, so on CPU `dense_lm_head` computes them once with
the model's own forward and `log_softmax`, and returns the same `FusedCausalLMOutput` (same fields,
zero where the label is -100, same loss normalisation). Mathematically the same values; float
rounding differs in the last bits. TRL exposes no switch for this, hence a wrapper around the
forward it patched (the same mechanism TRL uses).

SFT and DPO take it only with the recipe's `hardware.cpu_fast_paths`: a recipe can carry the rounding into
another result (the tiny recipe at rpo_alpha 2: iteration-1 validity 0.90 -> 0.36; it turns them on at
rpo_alpha 30; docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import types

# What each trainer asks `add_fused_lm_head` for (trl/trainer/sft_trainer.py, dpo_trainer.py in TRL 1.16).
SFT_OUTPUTS = ("log_probs", "entropy", "is_top1")
DPO_OUTPUTS = ("log_probs", "entropy", "mean_logits", "is_top1")
REFERENCE_OUTPUTS = ("log_probs",)


def dense_lm_head(model, outputs: tuple[str, ...] = ("log_probs",)) -> None:
    """Serve `model(..., labels=..., fused_lm_head=True)` from the full logits. `model` already has TRL's
    fused head (its `forward(fused_lm_head=False)` is the original forward); MoE router outputs keep it."""
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    fused_forward = model.forward

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head or kwargs.get("output_router_logits"):
            return fused_forward(
                *args,
                fused_lm_head=fused_lm_head,
                labels=labels,
                shift_labels=shift_labels,
                num_items_in_batch=num_items_in_batch,
                **kwargs,
            )
        kwargs["use_cache"] = False
        logits = fused_forward(*args, **kwargs).logits  # no labels: the original forward computes no loss
        if shift_labels is None:
            assert labels is not None, "TRL's fused head is called with labels or shift_labels"
            logits, labels = logits[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        labels = labels.to(logits.device)
        mask = labels != -100
        logits = logits.float()
        log_p = torch.log_softmax(logits, dim=-1)
        log_probs = log_p.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1).masked_fill(~mask, 0.0)
        entropy = log_sum_sq_probs = mean_logits = is_top1 = None
        if "entropy" in outputs:
            entropy = -(log_p.exp() * log_p).sum(-1).masked_fill(~mask, 0.0)
        with torch.no_grad():
            if "log_sum_sq_probs" in outputs:
                log_sum_sq_probs = torch.logsumexp(2 * log_p, dim=-1).masked_fill(~mask, 0.0)
            if "mean_logits" in outputs:
                mean_logits = logits.mean(-1).masked_fill(~mask, 0.0)
            if "is_top1" in outputs:  # argmax takes the first maximum, as TRL's kernel counts ties
                is_top1 = (logits.argmax(-1) == labels) & mask
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / denominator,
            log_probs=log_probs,
            entropy=entropy,
            log_sum_sq_probs=log_sum_sq_probs,
            mean_logits=mean_logits,
            is_top1=is_top1,
            label_mask=mask,
        )

    model.forward = types.MethodType(forward, model)


def use_dense_lm_head(trainer, outputs: tuple[str, ...]) -> None:
    """On CPU, replace the fused head TRL gave the trainer's policy (and its reference model, if it holds one)."""
    from accelerate.utils import is_peft_model

    from review_slm.training.models import device

    if device() != "cpu":
        return
    model = trainer.model.get_base_model() if is_peft_model(trainer.model) else trainer.model
    dense_lm_head(model, outputs)
    if getattr(trainer, "ref_model", None) is not None:
        dense_lm_head(trainer.ref_model, REFERENCE_OUTPUTS)
