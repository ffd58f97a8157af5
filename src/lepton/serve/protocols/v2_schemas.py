"""The Open Inference Protocol v2's schemas in ``/openapi.json`` (KServe ``inference_rest.yaml``), with Triton's
binary tensor data extension (``parameters.binary_data_size`` in place of ``data``)."""

from __future__ import annotations

from typing import Any

TENSOR_DATA: dict[str, Any] = {
    "description": "the values, flat in row-major order or nested like the shape",
    "type": "array",
    "items": {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"type": "array"}]},
}
PARAMETERS = {"type": "object", "description": "extension parameters (binary_data_size, binary_data, ...)"}
TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "TensorMetadata": {
        **TENSOR,
        "properties": {
            **TENSOR["properties"],
            "parameters": {
                "type": "object",
                "description": "index_rows: an index input's values look up a table of this many rows (0..rows-1)",
                "properties": {"index_rows": {"type": "integer", "minimum": 1}},
            },
        },
        "description": "a tensor of the model; -1 marks a dim of any size",
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
        },
    },
    "ModelConfig": {
        "type": "object",
        "description": "Triton's model configuration, plus the runtime settings the server runs the model with",
        "required": ["name", "platform", "max_batch_size", "input", "output", "dynamic_batching"],
        "properties": {
            "name": {"type": "string"},
            "platform": {"type": "string"},
            "backend": {"type": "string"},
            "version_policy": {"type": "object"},
            "max_batch_size": {"type": "integer", "description": "0: the model has a fixed batch dim"},
            "input": {"type": "array", "items": {"type": "object"}},
            "output": {"type": "array", "items": {"type": "object"}},
            "dynamic_batching": {"type": "object"},
            "runtime": {"type": "object"},
        },
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "description": "echoed in the response"},
            "parameters": PARAMETERS,
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        **TENSOR["properties"],
                        "parameters": PARAMETERS,
                        "data": TENSOR_DATA,
                    },
                    "description": "'data', or parameters.binary_data_size with the bytes after the JSON header",
                },
            },
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "parameters": PARAMETERS},
                },
            },
        },
        "example": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]},
    },
    "InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": PARAMETERS,
            "outputs": {
                "type": "array",
                "items": {
                    **TENSOR,
                    "properties": {**TENSOR["properties"], "parameters": PARAMETERS, "data": TENSOR_DATA},
                },
            },
        },
    },
    "RepositoryIndex": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "version", "state"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "state": {"type": "string"},
                "ref": {"type": "string"},
            },
        },
    },
    "ModelState": {
        "type": "object",
        "required": ["name", "state"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "state": {"type": "string", "enum": ["READY", "UNAVAILABLE"]},
        },
    },
    "LoadRequest": {
        "type": "object",
        "properties": {
            "parameters": {
                "type": "object",
                "properties": {
                    "ref": {"type": "string", "minLength": 1, "description": "a path to an .onnx file or a stored name"}
                },
            }
        },
        "example": {"parameters": {"ref": "dense"}},
    },
}
