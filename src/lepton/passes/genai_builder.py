"""ONNX Runtime GenAI's model builder, run as ``python -m lepton.passes.genai_builder ARGS`` (the builder's own
arguments), with one compatibility fix for the pinned transformers.

The builder in onnxruntime-genai 0.18.0 reads a Gemma-3 config in the form transformers 4 wrote it: a flat
``rope_parameters`` (``rope_type``, ``rope_theta``) and ``rope_local_base_freq`` for the sliding-window layers.
transformers 5 loads every Gemma-3 config with ``rope_parameters`` keyed by layer type
(``{"full_attention": {...}, "sliding_attention": {...}}``), so the builder stops at ``KeyError: 'rope_type'`` —
and had it gone on, it would have taken 10000 as the global theta (it looks for ``config.rope_theta``, which
transformers 5 no longer sets) instead of Gemma-3's 1e6. Before the builder's Gemma-3 class reads the config,
``_flatten_gemma3_rope`` gives it the older form from the same figures; every other architecture is untouched.
The fix lives in this child process only: the builder's module is never changed for anyone else.
"""

from __future__ import annotations

import runpy
from typing import Any

BUILDER = "onnxruntime_genai.models.builder"


def _flatten_gemma3_rope(config: Any) -> None:
    """The per-layer-type ``rope_parameters`` of transformers 5 in the flat form the builder reads."""
    rope = getattr(config, "rope_parameters", None)
    if not isinstance(rope, dict) or "rope_type" in rope:
        return
    full, local = rope.get("full_attention"), rope.get("sliding_attention")
    if not isinstance(full, dict) or not isinstance(local, dict):
        return
    config.rope_parameters = dict(full)
    config.rope_theta = full["rope_theta"]
    config.rope_local_base_freq = local["rope_theta"]


def patch_gemma3() -> None:
    """Make the builder's Gemma-3 class flatten the config first thing (``make_config_init`` runs before the base
    class reads ``rope_theta`` and ``rope_parameters``); its Gemma-4 subclass reads the nested form itself."""
    import onnxruntime_genai.models  # noqa: F401  (puts its folder on sys.path: the builder imports `builders`)
    from builders.gemma import Gemma3Model, Gemma4Model  # the module objects builder.py uses

    original = Gemma3Model.make_config_init

    def make_config_init(self: Any, config: Any) -> None:
        if not isinstance(self, Gemma4Model):
            _flatten_gemma3_rope(config)
        original(self, config)

    Gemma3Model.make_config_init = make_config_init


def main() -> None:
    patch_gemma3()
    runpy.run_module(BUILDER, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
