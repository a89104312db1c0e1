from transformers import AutoModelForCausalLM, AutoTokenizer

from review_slm.core.recipe import load_recipe
from review_slm.training.chat import EOS_TOKEN, PAD_TOKEN
from review_slm.training.tiny_model import ensure_tiny_model


def test_tiny_model_is_built_once_and_tokenizer_survives_reload(model_cache):
    spec = load_recipe("tiny").tiny_model
    path = ensure_tiny_model(spec, model_cache)
    assert ensure_tiny_model(spec, model_cache) == path  # cached
    tok = AutoTokenizer.from_pretrained(path)
    assert type(tok).__name__ == "Qwen2Tokenizer"
    text = 'func main() {\n\tgo worker(ctx) // naïve → 修正\n}\n{"findings": []}'
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < len(text.encode()) / 2  # the BPE learned real merges from the corpus
    assert tok.eos_token == EOS_TOKEN and tok.pad_token == PAD_TOKEN and tok.pad_token_id != tok.eos_token_id
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": '{"findings": []}'},
    ]
    out = tok.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(masked) == '{"findings": []}<|im_end|>'
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == "qwen2" and model.config.eos_token_id == tok.eos_token_id
