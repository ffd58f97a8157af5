"""A model that refuses its inputs: ONNX Runtime's many-line error as one line naming the node, and the
user-facing error that says what to do (give real inputs with ``--data``)."""

from __future__ import annotations

import re

from lepton.engines.base import RuntimeConfig, open_session
from lepton.errors import EngineError, UserError
from lepton.ir.artifact import Artifact
from lepton.measure.workload import Workload

_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)' Status Message: ")
_PREFIX = re.compile(r"^\s*\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
_ADVICE = re.compile(r"\s*Please fix either the inputs/outputs or the model\.?")


def run_failure(error: BaseException) -> str:
    """The reason a run failed, in one line: ``node 'emb' (Gather): indices element out of data bounds ...``.

    ONNX Runtime nests the message of a node inside a subgraph (If, Loop) in its parent's: the innermost
    node is the one that failed.
    """
    text = str(error)
    nodes = list(_NODE.finditer(text))
    if nodes:
        last = nodes[-1]
        op, name = last.group(1), last.group(2)
        message = text[last.end() :]
        where = f"node {name!r} ({op})" if name else f"a {op} node"
    else:
        where, message = "", _PREFIX.sub("", text)
    message = " ".join(_ADVICE.sub("", message).split()) or type(error).__name__
    return f"{where}: {message}" if where else message


def _related(workload: Workload, reason: str) -> str:
    """The provenance of the input the failing node reads, when the message names a node we traced to."""
    node = re.match(r"node '([^']*)'", reason)
    if not node:
        return ""
    hits = [p for p in workload.provenance.values() if f"'{node.group(1)}'" in p]
    return f" ({hits[0]})" if hits else ""


def inputs_rejected(error: BaseException, workload: Workload, names: list[str]) -> UserError:
    """The UserError for a model that fails on the workload: where, ONNX Runtime's words, and what to do."""
    reason = run_failure(error.__cause__ or error) if isinstance(error, EngineError) else run_failure(error)
    example = ", ".join(names)
    if workload.source == "synthesized":
        return UserError(
            f"the model fails on synthesized inputs at {reason}{_related(workload, reason)}; "
            f"give real inputs with --data FILE (.npz with one array per input: {example})"
        )
    return UserError(
        f"the model fails on the data from {workload.source} at {reason}; "
        f"check that each array matches its input ({example}) in shape, dtype and value range"
    )


def check_runs(artifact: Artifact, workload: Workload, engine: str = "onnxruntime", batch_size: int = 1) -> None:
    """Run one batch of ``workload`` through ``artifact``; a UserError (see ``inputs_rejected``) if it fails.

    Cheap (one small batch): call it before anything is measured or written, so a model that cannot run on
    these inputs stops with one line instead of failing every candidate.
    """
    session = open_session(engine, artifact, RuntimeConfig())
    try:
        session.run(workload.batch(min(batch_size, workload.n_rows)))
    except Exception as e:  # noqa: BLE001  every engine raises its own types
        raise inputs_rejected(e, workload, artifact.signature.input_names) from None
    finally:
        session.close()
