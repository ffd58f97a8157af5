"""Training: data preparation -> training (PyTorch recipes: classify, forecast, finetune) -> evaluation
against simple baselines -> export to an ONNX Artifact that carries its held-out test split.

``lepton train`` (``lepton.cli.train``) and ``lepton.train(...)`` (``lepton.api.train``) are its faces.
"""
