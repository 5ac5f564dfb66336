"""TextEncoder with the real bundled all-MiniLM-L6-v2: correctness and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnnrec.text import TextEncoder, TextError, default_model_path
from gnnrec.text.encoder import detect_pooling, pool

from .conftest import model_copy

TEXTS = ["Heat (1995). Genres: Action, Crime", "a", "Toy Story 2 (1999). Genres: Animation",
         "omnigrid 60mm rotary cutter. arts crafts sewing sewing quilting rotary cutters",
         "When Harry Met Sally... (1989). Genres: Comedy, Romance", "pen", "Alien (1979)"]


def test_default_model_is_the_bundled_minilm(encoder):
    assert (default_model_path() / "model.safetensors").is_file()
    assert encoder.pooling == "mean" and encoder.dim == 384
    assert "all-MiniLM-L6-v2" in encoder.model_id


def test_batched_sorted_encoding_equals_one_by_one(encoder):
    batched = encoder.encode(TEXTS, batch_size=3, progress=False)
    single = np.stack([encoder.encode([t], progress=False)[0] for t in TEXTS])
    assert batched.dtype == np.float32 and batched.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batched, single, atol=2e-5)   # padding never leaks into the mean
    assert encoder.last_stats.n == 1 and encoder.last_stats.tokens > 0


def test_matches_sentence_transformers_reference(encoder):
    """First coordinates of SentenceTransformer(all-MiniLM-L6-v2).encode(normalize_embeddings=True)
    for the same text (sentence-transformers 6.2.0, computed once on this CPU)."""
    ref = {"Heat (1995). Genres: Action, Crime":
           [-0.078734, -0.001901, -0.046905, 0.051635, 0.074664]}
    for text, head in ref.items():
        np.testing.assert_allclose(encoder.encode([text], progress=False)[0, :5], head, atol=1e-5)


def test_empty_strings_give_zero_rows(encoder):
    out = encoder.encode(["", "   \t", "Heat"], progress=False)
    assert encoder.last_stats.empty == 2
    assert not out[:2].any() and abs(np.linalg.norm(out[2]) - 1) < 1e-5
    assert encoder.encode([], progress=False).shape == (0, 384)
    assert not encoder.encode([""], progress=False).any()


def test_very_long_texts_are_truncated_and_counted(encoder):
    long_a = "alpha beta gamma " * 2000              # ~6000 tokens
    long_b = "alpha beta gamma " * 3000
    out = encoder.encode([long_a, "Heat", long_b], progress=False)
    assert encoder.last_stats.truncated == 2
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)   # both cut to the same 64 tokens
    lengths, truncated = encoder.token_lengths(["Heat", long_a])
    assert lengths.tolist() == [3, 64] and truncated.tolist() == [False, True]


def test_non_utf8_bytes_are_replaced_and_counted(encoder):
    out = encoder.encode([b"caf\xe9 au lait", "caf\u00e9 au lait".encode(), "caf\udce9"],
                         progress=False)
    assert encoder.last_stats.invalid_utf8 == 2
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_model_folder_without_tokenizer_files(tmp_path):
    folder = model_copy(tmp_path / "m", skip=("tokenizer.json", "vocab.txt",
                                              "tokenizer_config.json", "special_tokens_map.json"))
    with pytest.raises(TextError, match="no tokenizer files"):
        TextEncoder(folder)


def test_model_folder_without_weights_or_config(tmp_path):
    with pytest.raises(TextError, match="no weight file"):
        TextEncoder(model_copy(tmp_path / "w", skip=("model.safetensors",)))
    with pytest.raises(TextError, match="no config.json"):
        TextEncoder(model_copy(tmp_path / "c", skip=("config.json",)))


def test_unreachable_hub_model_says_how_to_pass_a_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(TextError, match="not a local folder.*--model DIR"):
        TextEncoder("sentence-transformers/all-mpnet-base-v2")


def test_pooling_follows_folder_config(tmp_path):
    assert detect_pooling(default_model_path()) == "mean"
    folder = model_copy(tmp_path / "m")
    cfg_path = folder / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    cfg_path.write_text(json.dumps(cfg))
    assert detect_pooling(folder) == "cls"
    cfg_path.write_text(json.dumps({"pooling_mode": "lasttoken"}))
    assert detect_pooling(folder) == "last"
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(
        modules + [{"idx": 3, "name": "3", "path": "3_Dense",
                    "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(TextError, match="Dense"):
        detect_pooling(folder)
    (folder / "modules.json").unlink()
    assert detect_pooling(folder) == "mean"                     # BERT encoder
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen3",
                                                    "architectures": ["Qwen3ForCausalLM"]}))
    assert detect_pooling(folder) == "last"                     # decoder LLM


def test_pool_modes_respect_padding_side():
    h = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(pool(h, right, "mean")[0], h[0, :2].mean(0))
    assert torch.equal(pool(h, right, "cls")[0], h[0, 0])
    assert torch.equal(pool(h, left, "cls")[0], h[0, 2])
    assert torch.equal(pool(h, right, "last")[0], h[0, 1])
    assert torch.equal(pool(h, left, "last")[0], h[0, 3])
    assert torch.equal(pool(h, right, "last")[1], h[1, 3])
    assert torch.equal(pool(-h, right, "max")[0], -h[0, 0])   # max ignores padded rows


def test_max_length_is_capped_at_the_model_positions():
    assert TextEncoder(max_length=100_000).max_length == 512      # MiniLM has 512 positions
    with pytest.raises(TextError, match="max_length"):
        TextEncoder(max_length=1)


def _tiny_decoder(folder):
    """A 2-layer random GPT-2 with a word-level tokenizer: a causal model folder, offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    words = "[UNK] </s> the a heat alien toy story pen office art crafts".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                            eos_token="</s>").save_pretrained(folder)
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=len(words), n_positions=32, n_embd=16, n_layer=2,
                         n_head=2)).save_pretrained(folder)
    return folder


def test_decoder_model_uses_exact_last_token_pooling(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    folder = _tiny_decoder(tmp_path / "gpt")
    enc = TextEncoder(folder, device="cpu")
    assert enc.pooling == "last"
    texts = ["the heat", "a toy story pen office", "alien", "art crafts the a heat alien"]
    batched = enc.encode(texts, batch_size=4, progress=False)
    model, tok = AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    for text, row in zip(texts, batched):
        with torch.no_grad():
            h = model(**tok(text, return_tensors="pt")).last_hidden_state[0, -1]
        np.testing.assert_allclose(row, (h / h.norm()).numpy(), atol=1e-5)
