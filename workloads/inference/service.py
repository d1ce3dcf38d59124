"""A real request loop on 127.0.0.1: the seed's thread-pool service vs one batching worker.

Seed 004 §3.1 gives this "async inference service" (FastAPI)::

    executor = ThreadPoolExecutor(max_workers=16)

    @app.post("/infer")
    async def infer(request: InferenceRequest):
        future = executor.submit(deepseek_model.generate, request.prompt)
        return {"task_id": future.id}

What it gets wrong:

* ``concurrent.futures.Future`` has no ``id`` attribute, so every request raises
  ``AttributeError`` after the work has been submitted — the model runs, the client gets an
  error, and since nothing keeps the future and there is no result endpoint, no result can ever
  be fetched. :func:`run_seed_handler` executes the handler's body as written and records this.
* Even with the id fixed, 16 threads on one accelerator do not run 16 models at once: the
  device executes one pass at a time, so each request is a batch of one and the passes queue
  behind each other. The fix is a request queue with *one* worker that batches.

Both designs are served here over the same transport — an asyncio TCP server on 127.0.0.1
speaking line-delimited JSON (``{"id", "prompt"}`` in, ``{"id", "output"}`` out), so
FastAPI is not needed — and differ only in the backend:

* :class:`ThreadPoolBackend` — the seed's design with its bug fixed (each request submitted to a
  ``ThreadPoolExecutor(16)`` as a batch of one, its result awaited and returned);
* :class:`BatchingBackend` — an ``asyncio.Queue`` drained by one worker that takes up to
  ``max_batch`` requests, waiting at most ``max_wait_s`` after the first, and runs them as one
  pass on a single worker thread.

The "device" is any :class:`Device`. :class:`SimulatedDevice` stands for one accelerator: a
lock (one pass at a time) held for ``a_s + b_s·B`` seconds of ``time.sleep`` (which releases the
GIL, as a CUDA launch-and-wait does), with ``a`` and ``b`` taken from a model's measured batch
curve (:mod:`workloads.inference.serving`). :func:`load_test` drives a server with a bounded
number of concurrent clients (closed loop) and returns per-request latencies.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

SEED_SOURCE = """\
future = executor.submit(deepseek_model.generate, request.prompt)
return {"task_id": future.id}
"""


class Device(Protocol):
    def run(self, prompts: Sequence[str]) -> list[str]: ...


class SimulatedDevice:
    """One accelerator: passes serialise on a lock and last ``a_s + b_s·B`` seconds."""

    def __init__(self, a_s: float, b_s: float) -> None:
        if a_s < 0 or b_s < 0:
            raise ValueError(f"need a_s({a_s}) >= 0 and b_s({b_s}) >= 0")
        self.a_s, self.b_s = a_s, b_s
        self._lock = threading.Lock()
        self.passes: list[int] = []  # batch size of every pass, in order

    def run(self, prompts: Sequence[str]) -> list[str]:
        with self._lock:
            time.sleep(self.a_s + self.b_s * len(prompts))
            self.passes.append(len(prompts))
        return [p[::-1] for p in prompts]  # a deterministic "generation"


def run_seed_handler(device: Device, prompt: str = "hello") -> dict[str, Any]:
    """Execute the seed's handler body as written; return what happened.

    Keys: ``error`` (the exception text, or None), ``submitted`` (the work reached the
    executor), ``result_retrievable`` (whether the response gives the caller any handle).
    """
    executor = ThreadPoolExecutor(max_workers=16)
    namespace = {"executor": executor, "deepseek_model": _Generate(device), "request": _Req(prompt)}
    body = "def infer():\n" + "".join(f"    {line}\n" for line in SEED_SOURCE.splitlines())
    exec(compile(body, "<seed 004 §3.1>", "exec"), namespace)  # noqa: S102 - the seed's code
    response, error = None, None
    try:
        response = namespace["infer"]()
    except AttributeError as exc:
        error = f"AttributeError: {exc}"
    executor.shutdown(wait=True)
    return {
        "error": error,
        "submitted": bool(getattr(device, "passes", [1])),
        "result_retrievable": response is not None and "task_id" in response,
    }


@dataclass
class _Req:
    prompt: str


class _Generate:
    def __init__(self, device: Device) -> None:
        self.device = device

    def generate(self, prompt: str) -> str:
        return self.device.run([prompt])[0]


# --- backends ---------------------------------------------------------------------------------


class ThreadPoolBackend:
    """The seed's design, bug fixed: one executor task (a batch of one) per request."""

    def __init__(self, device: Device, max_workers: int = 16) -> None:
        self.device = device
        self.pool = ThreadPoolExecutor(max_workers=max_workers)

    async def infer(self, prompt: str) -> str:
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self.pool, self.device.run, [prompt]))[0]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.pool.shutdown(wait=True)


class BatchingBackend:
    """A queue and one worker that runs up to ``max_batch`` requests per pass."""

    def __init__(self, device: Device, max_batch: int = 16, max_wait_s: float = 0.005) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"need max_batch({max_batch}) >= 1 and max_wait_s({max_wait_s}) >= 0")
        self.device, self.max_batch, self.max_wait_s = device, max_batch, max_wait_s
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        self.pool.shutdown(wait=True)

    async def infer(self, prompt: str) -> str:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((prompt, future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch:
                try:
                    timeout = max(deadline - loop.time(), 0.0)
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except TimeoutError:
                    break
            outputs = await loop.run_in_executor(self.pool, self.device.run, [p for p, _ in batch])
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)


# --- transport and load -----------------------------------------------------------------------


async def _handle(backend: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            request = json.loads(line)
            output = await backend.infer(request["prompt"])
            writer.write(json.dumps({"id": request["id"], "output": output}).encode() + b"\n")
            await writer.drain()
    finally:
        writer.close()


@dataclass(frozen=True)
class LoadResult:
    """Client-side latencies (seconds, request order per client) and the wall time."""

    latencies_s: tuple[float, ...]
    wall_s: float
    errors: int

    @property
    def throughput_rps(self) -> float:
        return len(self.latencies_s) / self.wall_s

    def summary(self) -> dict[str, float]:
        import numpy as np

        lat = np.array(self.latencies_s)
        return {
            "mean_s": float(lat.mean()),
            "p50_s": float(np.median(lat)),
            "p99_s": float(np.percentile(lat, 99)),
            "throughput_rps": self.throughput_rps,
            "errors": float(self.errors),
        }


async def _client(
    port: int, client: int, n: int, timeout_s: float, out: list, errors: list
) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout_s)
    try:
        for i in range(n):
            t0 = time.perf_counter()
            writer.write(
                json.dumps({"id": f"{client}-{i}", "prompt": f"p{client}.{i}"}).encode() + b"\n"
            )
            await writer.drain()
            reply = json.loads(await asyncio.wait_for(reader.readline(), timeout_s))
            if reply.get("output") != f"p{client}.{i}"[::-1]:
                errors.append(reply)
            out.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load_test(backend: Any, clients: int, per_client: int, timeout_s: float) -> LoadResult:
    await backend.start()
    server = await asyncio.start_server(
        lambda r, w: _handle(backend, r, w), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    latencies: list[float] = []
    errors: list = []
    try:
        t0 = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    _client(port, c, per_client, timeout_s, latencies, errors)
                    for c in range(clients)
                )
            ),
            timeout_s * per_client,
        )
        wall = time.perf_counter() - t0
    finally:
        server.close()
        await server.wait_closed()
        await backend.stop()
    return LoadResult(tuple(latencies), wall, len(errors))


def load_test(
    make_backend: Callable[[], Any], clients: int = 32, per_client: int = 8, timeout_s: float = 10.0
) -> LoadResult:
    """Serve on an ephemeral 127.0.0.1 port; ``clients`` closed-loop clients each send
    ``per_client`` requests one after another. Every wait has ``timeout_s``, so it never hangs."""
    if clients < 1 or per_client < 1:
        raise ValueError(f"need clients({clients}) >= 1 and per_client({per_client}) >= 1")
    return asyncio.run(_load_test(make_backend(), clients, per_client, timeout_s))
