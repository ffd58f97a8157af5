"""Causal language models: a GGUF file or a Hugging Face folder in, an artifact of format ``hf-causal`` out.

The baseline and the quality reference is the PyTorch model in float32: a GGUF is dequantized by transformers
(``gguf`` + ``accelerate``) and saved with ``save_pretrained`` (which refuses a GGUF-loaded model, so the model is
rebuilt from its config without ``quantization_config`` first). Every variant is a folder its runtime opens by
path, with the tokenizer and chat template beside the weights:

``hf-causal`` (the baseline; ``transformers.AutoModelForCausalLM.from_pretrained(folder)``)
    ``config.json``, ``generation_config.json``, ``model.safetensors``, ``tokenizer.json``,
    ``tokenizer_config.json``, ``chat_template.jinja``, ``meta.json``
``genai-onnx`` (ONNX Runtime GenAI; ``onnxruntime_genai.Model(folder)``, ``og.Tokenizer(model)``)
    ``genai_config.json``, ``model.onnx`` (+ ``model.onnx.data``), ``tokenizer.json``, ``tokenizer_config.json``,
    ``chat_template.jinja`` (``genai_config.json``'s ``search`` holds the defaults), ``meta.json``
``openvino-genai`` (OpenVINO GenAI; ``openvino_genai.LLMPipeline(folder, "CPU")`` or
    ``ContinuousBatchingPipeline(folder, SchedulerConfig(), "CPU")``)
    ``openvino_model.xml``/``.bin`` (stateful, KV cache inside), ``openvino_tokenizer.xml``/``.bin``,
    ``openvino_detokenizer.xml``/``.bin`` (the chat template is in the tokenizer's rt_info), plus the Hugging
    Face tokenizer files, ``meta.json``

``meta.json``'s ``task`` is ``text-generation`` and ``format`` one of the three above; ``lm_folder_kind(path)``
tells them apart for a server that loads a stored variant by path.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import IntakeError, first_line
from lepton.fileio import publish_dir, sha256_of
from lepton.ir.artifact import MODEL_FILES
from lepton.ir.signature import Signature, TensorSpec
from lepton.ir.source import CausalLmSource
from lepton.settings import corpus_cache, offline_hub

if TYPE_CHECKING:
    from lepton.ir.intake import Built

TASK = "text-generation"
WEIGHTS = MODEL_FILES["hf-causal"]
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
# What a Hugging Face causal-LM folder keeps besides its weights (copied as they are).
_KEPT = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)
FILES = {"tokenizer": "tokenizer.json", "tokenizer_config": "tokenizer_config.json"}


def lm_signature(vocab_size: int) -> Signature:
    """Token ids in, next-token logits out (what ``Session.run`` of a generation session maps)."""
    return Signature(
        inputs=(TensorSpec("input_ids", "int64", ("batch", "sequence")),),
        outputs=(TensorSpec("logits", "float32", ("batch", "sequence", vocab_size)),),
    )


def is_causal_lm_folder(path: Path) -> bool:
    """Whether ``path`` holds a Hugging Face config naming a causal-LM architecture (``LlamaForCausalLM``)."""
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        archs = json.loads(cfg.read_text()).get("architectures") or []
    except (OSError, ValueError):
        return False
    return any(isinstance(a, str) and a.endswith(_CAUSAL_SUFFIXES) for a in archs)


def lm_folder_kind(path: Path) -> str | None:
    """The format of a causal-LM variant folder (``hf-causal``, ``genai-onnx``, ``openvino-genai``), or None."""
    for fmt in ("genai-onnx", "openvino-genai", "hf-causal"):
        if (path / MODEL_FILES[fmt]).is_file():
            return fmt
    return None


def _source(config: Any, path: Path, gguf: Path | None, chat_template: bool) -> CausalLmSource:
    def figure(*names: str) -> int:
        for n in names:
            v = getattr(config, n, None)
            if isinstance(v, int):
                return v
        return 0

    return CausalLmSource(
        path=str(path.resolve()),
        gguf=str(gguf.resolve()) if gguf else None,
        architecture=(config.architectures or [""])[0],
        model_type=str(config.model_type),
        num_layers=figure("num_hidden_layers", "n_layer"),
        hidden_size=figure("hidden_size", "n_embd"),
        num_heads=figure("num_attention_heads", "n_head"),
        num_kv_heads=figure("num_key_value_heads", "num_attention_heads"),
        vocab_size=figure("vocab_size"),
        context_length=figure("max_position_embeddings", "n_positions"),
        chat_template=chat_template,
    )


def gguf_intake(path: Path, workdir: Path) -> Built:
    """Dequantize a GGUF to a float32 PyTorch model and save it (with tokenizer and chat template) in ``workdir``.

    The dequantized folder is kept in the corpus cache under the GGUF's content hash (``settings.corpus_cache``),
    so importing the same file into another store copies it instead of dequantizing again (~20-70 s on 2 cores).
    """
    from transformers import AutoConfig

    cached = corpus_cache() / "gguf-dequantized" / sha256_of(path)[:16]
    if not (cached / _DONE).is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=".staged-", dir=cached.parent))
        try:
            _dequantize(path, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        (staged / _DONE).write_text(str(path.resolve()))
        shutil.rmtree(cached, ignore_errors=True)  # a copy left incomplete by a killed process
        publish_dir(staged, cached)  # False: another process cached the same file first
    for f in cached.iterdir():
        if f.is_file() and f.name != _DONE:
            shutil.copy2(f, workdir / f.name)
    config = AutoConfig.from_pretrained(workdir)
    return _built(config, path, path, workdir, (workdir / "chat_template.jinja").is_file())


_DONE = ".complete"


def _dequantize(path: Path, workdir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lepton.ir.hf import _quiet_transformers

    offline_hub()
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except Exception as e:
        raise IntakeError(
            f"transformers cannot read the GGUF {path.name} ({first_line(e, 200)}); give a GGUF of an architecture "
            "transformers dequantizes (llama, mistral, qwen2, gemma3, ...), or a Hugging Face folder"
        ) from None
    # save_pretrained refuses a model loaded from a GGUF: rebuild it from a config without quantization_config
    cfg = loaded.config.to_dict()
    cfg.pop("quantization_config", None)
    config = type(loaded.config).from_dict(cfg)
    with torch.device("meta"):
        model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict(), assign=True)
    model.save_pretrained(workdir)
    tokenizer.save_pretrained(workdir)


def folder_intake(path: Path, workdir: Path) -> Built:
    """Copy a Hugging Face causal-LM folder (safetensors weights, tokenizer, chat template) into ``workdir``."""
    from transformers import AutoConfig

    offline_hub()
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        found = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
        raise IntakeError(
            f"{path} has a causal-LM config.json but no .safetensors weights (found: {found}); save the model "
            "with save_pretrained(safe_serialization=True)"
        )
    if not (path / "tokenizer.json").is_file():
        raise IntakeError(f"{path} has no tokenizer.json; save the tokenizer beside the model (save_pretrained)")
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as e:
        raise IntakeError(f"{path}/config.json is not a Hugging Face config ({first_line(e, 200)})") from None
    if len(weights) > 1 or (path / "model.safetensors.index.json").exists():
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        model.save_pretrained(workdir)  # one file: the folder's model file is model.safetensors
    else:
        shutil.copy2(weights[0], workdir / WEIGHTS)
    for name in _KEPT:
        if (path / name).is_file() and not (workdir / name).exists():
            shutil.copy2(path / name, workdir / name)
    tok_cfg = path / "tokenizer_config.json"
    has_template = (path / "chat_template.jinja").is_file() or (
        tok_cfg.is_file() and "chat_template" in json.loads(tok_cfg.read_text())
    )
    return _built(config, path, None, workdir, has_template)


def _built(config: Any, path: Path, gguf: Path | None, workdir: Path, has_template: bool) -> Built:
    from lepton.ir.intake import Built

    source = _source(config, path, gguf, has_template)
    files = {k: v for k, v in FILES.items() if (workdir / v).is_file()}
    if (workdir / "chat_template.jinja").is_file():
        files["chat_template"] = "chat_template.jinja"
    return Built(lm_signature(source.vocab_size), TASK, source, files=files, format="hf-causal")


# The GGUF architectures OpenVINO GenAI's own reader builds a model from (openvino-genai 2026.4,
# gguf_utils/gguf_modeling.cpp); any other stops it with "Unsupported model architecture" (Gemma-3's ``gemma3``).
OPENVINO_GGUF_ARCHITECTURES = ("llama", "qwen2", "qwen3")
# GGUF value types by size in bytes (8 is a string, 9 an array): enough to step over the metadata before the key.
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_architecture(path: Path) -> str | None:
    """A GGUF's ``general.architecture`` read from its header (the first key by convention), without parsing
    the rest: ``gguf.GGUFReader`` reads every field, a 262k-token vocabulary included, which takes a minute here.
    None when the file is no GGUF or has no such key."""
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                return None
            _version, _tensors, kv_count = struct.unpack("<IQQ", f.read(20))
            for _ in range(kv_count):
                key = _gguf_string(f)
                (kind,) = struct.unpack("<I", f.read(4))
                if key == "general.architecture" and kind == 8:
                    return _gguf_string(f)
                _skip_gguf_value(f, kind)
    except (OSError, struct.error, UnicodeDecodeError, KeyError):
        return None
    return None


def _gguf_string(f: Any) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return str(f.read(n).decode("utf-8"))


def _skip_gguf_value(f: Any, kind: int) -> None:
    if kind == 8:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(n, 1)
    elif kind == 9:
        sub, count = struct.unpack("<IQ", f.read(12))
        if sub in _GGUF_SIZES:
            f.seek(_GGUF_SIZES[sub] * count, 1)
        else:
            for _ in range(count):
                _skip_gguf_value(f, sub)
    else:
        f.seek(_GGUF_SIZES[kind], 1)


def openvino_gguf_refusal(path: Path) -> str | None:
    """Why OpenVINO GenAI cannot read the GGUF at ``path`` (its architecture is none its reader builds), or None."""
    arch = gguf_architecture(path)
    if arch is None or arch in OPENVINO_GGUF_ARCHITECTURES:
        return None
    return f"OpenVINO GenAI reads GGUF files of architecture {', '.join(OPENVINO_GGUF_ARCHITECTURES)}, not {arch!r}"


def prepended_bos(folder: Path) -> int | None:
    """The token id the folder's Hugging Face tokenizer puts before every text (``tokenizer.json``'s post-processor
    template starting with a special token: Gemma's ``<bos>``), or None. ONNX Runtime GenAI's tokenizer leaves it
    out for Gemma-3, and Gemma without its BOS continues a prompt with other tokens than the reference's."""
    try:
        post = json.loads((folder / "tokenizer.json").read_text()).get("post_processor") or {}
        first = (post.get("single") or [{}])[0].get("SpecialToken", {}).get("id")
        ids = post.get("special_tokens", {}).get(first, {}).get("ids") if first else None
    except (OSError, ValueError, AttributeError, IndexError):
        return None
    return int(ids[0]) if post.get("type") == "TemplateProcessing" and ids else None


def load_tokenizer(folder: Path) -> Any:
    """The Hugging Face tokenizer saved in a causal-LM variant folder."""
    from transformers import AutoTokenizer

    offline_hub()
    return AutoTokenizer.from_pretrained(folder)
