"""Build the `builtin:tiny-qwen2` base: a BPE tokenizer trained on the bundled corpus and a
random-weight Qwen2 model, cached by content hash so every process reuses the same one.

Nothing is downloaded. The tokenizer uses exactly Qwen2's pipeline (NFC, the split regex, byte
level), because transformers 5 rebuilds that pipeline when it loads a `qwen2` tokenizer: any
other pre-tokenizer would give different token ids after a reload.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import STUDENT_SYSTEM_PROMPT, TEACHER_SYSTEM_PROMPT, render_review
from review_slm.core.recipe import TinyModelSpec
from review_slm.core.schema import Category, Finding, Review, Severity

BUILTIN_TINY = "builtin:tiny-qwen2"
TOKENIZER_VERSION = "2"  # 2: trained on the student's answer format too
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


# Evaluation items of languages the default does not review (REVIEW_SLM_LANGUAGES opts in): kept out of
# the tokenizer's corpus, so adding them did not rebuild the embedded default's model, whose learning
# was tuned and measured with this tokenizer (built with them, the learning test's student fell from
# validity >= 0.5 to 0.25). Byte-level BPE still encodes their text.
_NOT_IN_TOKENIZER = frozenset({"bug_suite_more_languages.jsonl"})


def _corpus_files() -> list[Path]:
    root = resources.files("review_slm.data")
    return sorted(
        Path(str(p))
        for p in root.rglob("*")  # type: ignore[attr-defined]
        if p.is_file() and p.suffix in (".json", ".jsonl") and p.name not in _NOT_IN_TOKENIZER
    )


def corpus_texts() -> Iterator[str]:
    """Diff hunks and comments of the bundled data, plus the prompt and review vocabulary."""
    yield STUDENT_SYSTEM_PROMPT
    yield TEACHER_SYSTEM_PROMPT
    for _ in range(ANSWER_WEIGHT):
        yield from answer_texts()
    for path in _corpus_files():
        text = path.read_text(encoding="utf-8")
        rows = (
            json.loads(text)
            if path.suffix == ".json"
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
        for row in rows if isinstance(rows, list) else [rows]:
            # The supplement's reviewed-and-passed rows (real code, no comment) stay out, like the other-language
            # items above: the embedded model's learning was tuned with the tokenizer built without them.
            if not (isinstance(row, dict) and row.get("clean") is True):
                yield from _strings(row)


# How many times the answer vocabulary counts against the bundled corpus (~2,000 texts of code and
# comments): enough for BPE to give the answer's structure (`"}]}`, `", "`, the enums) tokens of their own.
# Split into single characters, `"`, `}`, `]`, `}` made the student end its answer after the first `}`.
ANSWER_WEIGHT = 20


def answer_texts() -> Iterator[str]:
    """The student's answers as it will write them: one per severity x category, two findings, and none."""

    def finding(i: int, sev: Severity, cat: Category) -> Finding:
        return Finding(
            path="a",
            line=10 + i,
            severity=sev,
            category=cat,
            comment="This is wrong.",
            suggestion="fix()" if i % 2 else "",
        )

    for i, (sev, cat) in enumerate((s, c) for s in Severity for c in Category):
        one = finding(i, sev, cat)
        yield render_review(Review(findings=[one], summary=f"{sev.value.capitalize()} {cat.value} issue"))
        yield render_review(Review(findings=[one, finding(i + 1, sev, cat)], summary="Two issues."))
    yield render_review(NO_ISSUES)


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def cache_key(spec: TinyModelSpec) -> str:
    h = hashlib.sha256(TOKENIZER_VERSION.encode() + spec.model_dump_json().encode())
    for text in answer_texts():  # the answer format is part of what the tokenizer learns
        h.update(text.encode())
    for path in _corpus_files():
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def train_tokenizer(vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    from review_slm.training.chat import CHAT_TEMPLATE, EOS_TOKEN, PAD_TOKEN

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_texts(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        # pairs, as the tokenizers library's JSON holds them (transformers' annotation says strings; both work)
        merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]],  # pyright: ignore[reportArgumentType]
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(spec: TinyModelSpec, out_dir: Path) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(spec.vocab_size)
    torch.manual_seed(spec.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        # one token in, one id out (the annotation also covers a list of tokens)
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),  # pyright: ignore[reportArgumentType]
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def ensure_tiny_model(spec: TinyModelSpec, cache_dir: Path) -> Path:
    """Return the cached model folder, building it atomically (temp dir + rename) when missing."""
    target = cache_dir / f"tiny-qwen2-{cache_key(spec)}"
    if (target / "config.json").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        build_tiny_model(spec, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
