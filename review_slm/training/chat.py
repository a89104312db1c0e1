"""One chat template for every student: Qwen2.5's ChatML layout plus `{% generation %}` tags.

Qwen's own template has no generation tags, so TRL's assistant-only loss cannot find the
assistant tokens; this template renders the same text for system/user/assistant turns and adds
the tags. EOS is `<|im_end|>` (what ends an assistant turn) and PAD is `<|endoftext|>`, so the
model learns to stop and padding is never mistaken for an end of turn.
"""

from __future__ import annotations

from importlib import resources

CHAT_TEMPLATE = (resources.files("review_slm.training") / "chat_template.jinja").read_text()
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"


def prepare_tokenizer(tokenizer):
    tokenizer.chat_template = CHAT_TEMPLATE
    if tokenizer.eos_token != EOS_TOKEN and EOS_TOKEN in tokenizer.get_vocab():
        tokenizer.eos_token = EOS_TOKEN
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        tokenizer.pad_token = PAD_TOKEN
    tokenizer.padding_side = "left"  # generation pads on the left; TRL collators pad explicitly
    return tokenizer
