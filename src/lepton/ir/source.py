"""Where an artifact came from (``Artifact.source``): one typed record per way in, told apart by ``kind``.

``meta.json`` keeps the same JSON as before (``{"kind": "hf", "path": ..., "max_length": 256, ...}``); folders
written by older versions still load: unknown keys are ignored, and a source without a known ``kind`` reads as
None. What a later stage needs from the source is recorded here at intake, so it works on any machine the
artifact is shipped to (``fuse-transformer`` reads the model type, heads and hidden size from ``HfSource``,
not from the original model folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, JsonValue, TypeAdapter, ValidationError

from lepton.contract import Contract


class OnnxSource(Contract):
    """An ONNX file (``path``: where it was imported from) or an in-memory ``onnx.ModelProto`` (no path)."""

    kind: Literal["onnx"] = "onnx"
    path: str | None = None


class HfSource(Contract):
    """A Hugging Face encoder folder, exported to ONNX at intake; its config's figures are kept here."""

    kind: Literal["hf"] = "hf"
    path: str | None = None  # the folder (PyTorch eager rebuilds the encoder from it where it still exists)
    max_length: int | None = Field(  # the most tokens it takes (older records: max_seq_length)
        default=None, validation_alias=AliasChoices("max_length", "max_seq_length")
    )
    model_type: str | None = None  # config.json's model_type (bert, mpnet, ...)
    num_heads: int = 0  # attention heads (0: not recorded)
    hidden_size: int = 0  # (0: not recorded)


class TorchSource(Contract):
    """A ``torch.nn.Module`` given from Python."""

    kind: Literal["torch"] = "torch"
    class_name: str | None = Field(default=None, alias="class")


class SklearnSource(Contract):
    """A fitted scikit-learn estimator or pipeline."""

    kind: Literal["sklearn"] = "sklearn"
    class_name: str | None = Field(default=None, alias="class")


class TrainSource(Contract):
    """A network ``lepton train`` trained; the train run (same artifact id) keeps the rest of the record."""

    kind: Literal["train"] = "train"
    recipe: str
    architecture: str = ""
    params: dict[str, JsonValue] = Field(default_factory=dict)  # the chosen hyper-parameters
    metrics: dict[str, float] = Field(default_factory=dict)  # headline test metrics of the PyTorch model
    classes: tuple[str, ...] = ()
    seed: int = 0


class CausalLmSource(Contract):
    """A causal language model (a GGUF file, or a Hugging Face folder with a ``...ForCausalLM`` architecture);
    its config's figures are kept here, and ``gguf`` names the GGUF it was dequantized from (None: a folder)."""

    kind: Literal["causal-lm"] = "causal-lm"
    path: str | None = None  # the GGUF file or the folder it was imported from
    gguf: str | None = None  # the GGUF file (OpenVINO GenAI reads it directly; the ``openvino-gguf`` pass)
    architecture: str = ""  # config.json's architectures[0] (LlamaForCausalLM)
    model_type: str = ""
    num_layers: int = 0
    hidden_size: int = 0
    num_heads: int = 0
    num_kv_heads: int = 0
    vocab_size: int = 0
    context_length: int = 0
    chat_template: bool = False  # a chat template is kept with the tokenizer


Source = Annotated[
    OnnxSource | HfSource | TorchSource | SklearnSource | TrainSource | CausalLmSource,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Source] = TypeAdapter(Source)
KINDS = ("onnx", "hf", "torch", "sklearn", "train", "causal-lm")


def source_from_json(data: Mapping[str, Any] | Source | None) -> Source | None:
    """The typed source of a ``meta.json`` (None for ``{}`` or a kind this version does not know)."""
    if data is None or isinstance(
        data, OnnxSource | HfSource | TorchSource | SklearnSource | TrainSource | CausalLmSource
    ):
        return data
    if not isinstance(data, Mapping) or data.get("kind") not in KINDS:
        return None
    try:
        return _ADAPTER.validate_python(dict(data))
    except ValidationError:
        return None  # a record too damaged to read says nothing about where the model came from


def source_json(source: Source | None) -> dict[str, Any]:
    """The JSON ``meta.json`` and the run records carry (``{}``: not recorded)."""
    return source.to_json() if source is not None else {}
