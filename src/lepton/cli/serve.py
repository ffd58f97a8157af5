"""``lepton serve`` and ``lepton loadtest``."""

from __future__ import annotations

from typing import Annotated

import typer

from lepton.cli.common import RayOpt
from lepton.errors import UserError


def _stopped(removed: bool) -> str:
    return "removed the Lepton deployment" if removed else "no Lepton deployment on this cluster"


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        models: Annotated[
            list[str] | None,
            typer.Argument(
                help="Models to serve: a path to an .onnx file, a stored NAME, NAME:recommended, NAME:base, "
                "a generative model (a .gguf file, an ONNX Runtime GenAI folder or an OpenVINO IR folder with its "
                "tokenizer), or NAME=REF to choose the served name."
            ),
        ] = None,
        example: Annotated[
            str | None,
            typer.Option(
                help="Serve a bundled example (minilm: its recommended variant when a run exists, else the base; "
                "smollm2: the SmolLM2-135M-Instruct GGUF, a generative model)"
            ),
        ] = None,
        host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
        workers: Annotated[int, typer.Option(help="Server processes (each loads every model)")] = 1,
        max_batch_size: Annotated[
            int | None, typer.Option(help="Rows per batch (default: the navigator's choice, else 32)")
        ] = None,
        max_delay_ms: Annotated[
            float | None,
            typer.Option(help="Fixed batching window: wait up to this long for a batch to fill (default: never wait)"),
        ] = None,
        slo: Annotated[
            str | None,
            typer.Option(
                help="Adaptive batching towards a latency target, written as for lepton optimize: 'p95<=20ms', "
                "'p99.9<=0.1s', 'mean<=5ms', 'p95<=20ms@8'. Batches are sized so that their run time and wait "
                "stay within the bound, whatever the statistic (a percentile or the mean); '@N' (the batch size "
                "the SLO was measured at) caps batches at N rows"
            ),
        ] = None,
        instances: Annotated[
            int | None,
            typer.Option(
                help="Sessions per model that run batches side by side, each with its share of the threads; with "
                "more than one, a session with all the threads still answers requests that arrive alone "
                "(default: one per core up to 4, ONNX Runtime and OpenVINO, when memory allows)"
            ),
        ] = None,
        max_queue: Annotated[int, typer.Option(help="Queued rows per model before answering 429")] = 256,
        max_connections: Annotated[
            int, typer.Option(help="Open connections or requests in flight before answering 503 at once")
        ] = 2048,
        keep_alive: Annotated[
            float, typer.Option(help="Seconds an idle keep-alive connection stays open (above client pool expiries)")
        ] = 75.0,
        timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds (queue wait included)")] = 30.0,
        max_body_bytes: Annotated[int, typer.Option(help="Request body limit (413 above it)")] = 16 * 1024 * 1024,
        shadow_rate: Annotated[
            float,
            typer.Option(help="Fraction of requests also run through the reference model (live fidelity)"),
        ] = 0.0,
        drift: Annotated[
            bool, typer.Option("--drift", help="Watch live inputs and outputs against the model's evaluation data")
        ] = False,
        drift_data: Annotated[
            str | None, typer.Option(help="With --drift: the reference data (default: the model's own)")
        ] = None,
        drift_window: Annotated[int, typer.Option(help="With --drift: live rows per judged window")] = 500,
        token: Annotated[
            str | None,
            typer.Option(help="Bearer token for the admin routes (default: LEPTON_TOKEN; without one they are off)"),
        ] = None,
        price_per_hour: Annotated[float | None, typer.Option(help="USD per hour of this machine (live cost)")] = None,
        instance: Annotated[str | None, typer.Option(help="Price catalog instance type of this machine")] = None,
        engine: Annotated[
            str | None,
            typer.Option(
                help="Engine that runs the models (default: the engine each model's optimize run recommended, "
                "else onnxruntime)"
            ),
        ] = None,
        max_streams: Annotated[
            int, typer.Option(help="Generative models: streams generated at once (continuous batching)")
        ] = 16,
        stream_queue: Annotated[
            int, typer.Option(help="Generative models: requests waiting for a free stream before answering 429")
        ] = 64,
        kv_cache_gb: Annotated[
            float, typer.Option(help="Generative models: KV cache size in GB (OpenVINO GenAI rounds up to whole GB)")
        ] = 1.0,
        log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
        candidate: Annotated[
            str | None,
            typer.Option(
                help="Gated rollout: a variant to test beside the served model (NAME:recommended, a stored name, a "
                "path; SERVED=REF to name the model it would replace). A sequential test on its agreement with the "
                "served model promotes it through --steps or rolls it back; `lepton rollout NAME` shows the history"
            ),
        ] = None,
        shadow: Annotated[
            bool,
            typer.Option("--shadow", help="With --candidate: also send requests to it; its answer is never returned"),
        ] = False,
        sample: Annotated[
            str | None, typer.Option(help="With --shadow: the share of requests shadowed, e.g. 10% (default: all)")
        ] = None,
        canary: Annotated[
            str | None,
            typer.Option(help="With --candidate: the share of live requests it answers while it is tested, e.g. 5%"),
        ] = None,
        steps: Annotated[
            str, typer.Option(help="With --candidate: the shares it ramps through once promoted")
        ] = "5%,25%,50%,100%",
        step_requests: Annotated[
            int, typer.Option(help="With --candidate: clean candidate answers that each ramp step holds for")
        ] = 50,
        min_samples: Annotated[
            int, typer.Option(help="With --candidate: compared requests before the test may decide")
        ] = 50,
        max_drop: Annotated[
            float | None,
            typer.Option(
                help="With --candidate: a request agrees when the candidate's fidelity to the served answer drops "
                "by at most this (the navigator's rule; default: the --max-drop of the optimize run that chose the "
                "candidate, else 0.01)"
            ),
        ] = None,
        latency_bound: Annotated[
            float | None,
            typer.Option(
                help="With --candidate: roll it back when its p95 exceeds this many ms (default: 1.5x the served "
                "model's p95 on the same traffic)"
            ),
        ] = None,
        capture: Annotated[
            str | None,
            typer.Option(
                help="Keep this share of requests (inputs, served output, latency, arrival) in the store, e.g. 1%; "
                "rotating: the newest --capture-max-rows per model"
            ),
        ] = None,
        capture_max_rows: Annotated[int, typer.Option(help="With --capture: requests kept per model")] = 10_000,
        capture_max_mb: Annotated[float, typer.Option(help="With --capture: MB of tensors kept per model")] = 256.0,
        ray: RayOpt = None,
        qps: Annotated[
            float | None,
            typer.Option(
                help="With --ray: the target load in requests/s; replicas are sized from it and the capacity per "
                "replica lepton optimize measured (default: the optimize run's --qps)"
            ),
        ] = None,
        status: Annotated[
            bool, typer.Option("--status", help="With --ray: show the deployment's replicas and health")
        ] = False,
        stop: Annotated[bool, typer.Option("--stop", help="With --ray: remove the deployment")] = False,
    ) -> None:
        """Serve models over HTTP: Open Inference Protocol v2, simple JSON, OpenAI embeddings, OpenAI completions and
        chat (generative models, streaming), /dashboard; with
        --ray, as a Ray Serve deployment sized for --qps."""
        from dataclasses import replace

        from lepton.api import serve_on_ray
        from lepton.resolve import resolve_served
        from lepton.serve.app import serve
        from lepton.serve.config import config_from_flags
        from lepton.serve.generation import GenerativeSpec
        from lepton.settings import env_token, offline_hub

        offline_hub()
        refs = list(models or [])
        cfg = config_from_flags(
            models=refs,
            host=host,
            port=port,
            workers=workers,
            engine=engine,
            max_batch_size=max_batch_size,
            max_delay_ms=max_delay_ms,
            slo=slo,
            instances=instances,
            max_queue=max_queue,
            max_connections=max_connections,
            keep_alive=keep_alive,
            timeout=timeout,
            max_body_bytes=max_body_bytes,
            shadow_rate=shadow_rate,
            drift=drift,
            drift_data=drift_data,
            drift_window=drift_window,
            token=token or env_token(),
            price_per_hour=price_per_hour,
            instance=instance,
            log_level=log_level,
            max_streams=max_streams,
            stream_queue=stream_queue,
            kv_cache_gb=kv_cache_gb,
            candidate=candidate,
            shadow=shadow,
            sample=sample,
            canary=canary,
            steps=steps,
            step_requests=step_requests,
            min_samples=min_samples,
            max_drop=max_drop,
            latency_bound=latency_bound,
            capture=capture,
            capture_max_rows=capture_max_rows,
            capture_max_mb=capture_max_mb,
        )
        if ray or status or stop or qps is not None:
            out = serve_on_ray(cfg, example=example, ray=ray, qps=qps, status=status, stop=stop)
            for line in out.lines() if not isinstance(out, bool) else [_stopped(out)]:
                typer.echo(line)
            return
        if not refs and not example:
            raise UserError(
                "lepton serve: name at least one MODEL (a path to an .onnx or .gguf file, or a stored name), "
                "or --example minilm (or smollm2)"
            )
        resolved = resolve_served(refs, example, engine)
        if workers > 1 and any(isinstance(r, GenerativeSpec) for _, r in resolved):
            raise UserError("--workers: a generative model is served by one process (one engine batches its streams)")
        if candidate:  # a ref that resolves to nothing is a mistake to report now, not at the server's start
            from lepton.serve.config import split_candidate
            from lepton.serve.refs import resolve_ref

            try:
                resolve_ref(split_candidate(candidate)[1])
            except UserError as e:
                raise UserError(f"--candidate {candidate}: {e}") from None
        if workers > 1:  # worker processes resolve again from the refs (the example is stored by now)
            cfg = replace(cfg, models=tuple(([example] if example else []) + refs))
        names = ", ".join(r.name for _, r in resolved)
        typer.echo(f"lepton serve: http://{host}:{port}  models: {names}  dashboard: http://{host}:{port}/dashboard")
        serve(cfg, resolved)

    @app.command("loadtest")
    def loadtest_cmd(
        url: Annotated[str, typer.Argument(help="Server URL, e.g. http://127.0.0.1:8000")],
        model: Annotated[str | None, typer.Option(help="Model name (default: the only one loaded)")] = None,
        requests: Annotated[int, typer.Option(help="Number of requests to send")] = 500,
        concurrency: Annotated[int, typer.Option(help="Requests in flight at once")] = 8,
        protocol: Annotated[str, typer.Option(help="v2 | v2-binary | simple | embeddings")] = "v2",
        seq_len: Annotated[int, typer.Option(help="Length of symbolic dims in synthesized inputs")] = 128,
        rows: Annotated[int, typer.Option(help="Rows per request")] = 1,
        timeout: Annotated[float, typer.Option(help="Per-request timeout, seconds")] = 60.0,
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    ) -> None:
        """Send a fixed number of requests at a chosen concurrency; report throughput and latency."""
        import json

        from lepton.serve.loadtest import LoadSpec, run_loadtest

        spec = LoadSpec(
            url=url,
            model=model,
            requests=requests,
            concurrency=concurrency,
            protocol=protocol,
            seq_len=seq_len,
            rows=rows,
            timeout_s=timeout,
        )
        result = run_loadtest(spec)
        if json_out:
            typer.echo(json.dumps(result.to_json(), indent=2))
        else:
            typer.echo(result.summary())
