"""``lepton.Client``: a small httpx client for a Lepton server (or any Open Inference Protocol v2 server).

from lepton.client import Client
with Client("http://127.0.0.1:8000") as c:
    c.health()                                   # {"live": True, "ready": True}
    c.predict("tiny", {"x": [[0.1, 0.2, 0.3, 0.4]]})   # {"y": array([[...]])}
    c.embed(["A man is eating food."], model="minilm")  # array of shape (1, 384)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from lepton import wire
from lepton.errors import ServeError, UserError


class Client:
    """Talk to a running server: ``health``, ``models``, ``predict`` (v2 binary), ``embed`` (OpenAI route)."""

    def __init__(self, url: str, *, timeout: float = 60.0, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        self._meta: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self._http.request(method, path, **kw)
        except httpx.ConnectError as e:
            raise UserError(f"cannot connect to {self.url} ({e}); is the server running?") from None
        if r.status_code >= 400:
            try:
                err = r.json().get("error")
                msg = err.get("message") if isinstance(err, dict) else err
            except ValueError:
                msg = r.text
            raise ServeError(f"{method} {path}: {r.status_code}: {msg}", r.status_code)
        return r

    def _metadata(self, model: str) -> dict[str, Any]:
        if model not in self._meta:
            self._meta[model] = self._request("GET", f"/v2/models/{model}").json()
        return self._meta[model]

    # -- the API --------------------------------------------------------------------------------
    def health(self) -> dict[str, bool]:
        live = self._http.get("/v2/health/live").status_code == 200
        ready = self._http.get("/v2/health/ready").status_code == 200
        return {"live": live, "ready": ready}

    def models(self) -> list[str]:
        return [m["id"] for m in self._request("GET", "/v1/models").json()["data"]]

    def predict(self, model: str, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run ``model`` on named inputs (arrays or nested lists, batch first) over v2 binary tensors (JSON when
        an input is text, which has no binary form)."""
        meta = self._metadata(model)
        dtypes = {t["name"]: wire.V2_TO_NUMPY.get(t["datatype"]) for t in meta["inputs"]}
        arrays = {}
        for name, value in inputs.items():
            dt = dtypes.get(name)
            arrays[name] = np.asarray(value, dtype=None if dt in (None, "str") else dt)
        binary = not any(a.dtype.kind in "OUS" for a in arrays.values())
        body, headers = wire.encode_request(
            arrays,
            binary=binary,
            binary_output=True,
            datatypes={n: "BYTES" for n, a in arrays.items() if a.dtype.kind in "OUS"},
        )
        r = self._request("POST", f"/v2/models/{model}/infer", content=body, headers=headers)
        return wire.decode_response(r.content, r.headers.get(wire.HEADER_LENGTH))

    def embed(self, texts: str | Sequence[str], *, model: str) -> np.ndarray:
        """Embeddings of ``texts`` through ``/v1/embeddings``: an array [len(texts), dim]."""
        body = {
            "model": model,
            "input": [texts] if isinstance(texts, str) else list(texts),
            "encoding_format": "float",
        }
        data = self._request("POST", "/v1/embeddings", json=body).json()["data"]
        return np.asarray([d["embedding"] for d in sorted(data, key=lambda d: d["index"])], dtype=np.float32)
