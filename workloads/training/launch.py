"""Starting ``torch.distributed`` jobs: spawned gloo ranks on 127.0.0.1, or ``torchrun``.

Two ways in, one job signature ``job(rank, world_size, *args) -> result``:

* :func:`spawn` starts ``world_size`` fresh Python processes (the ``spawn`` start method, so no
  forked torch state), each joining a process group over TCP on 127.0.0.1 at a free port, runs
  the job and sends its picklable result back through a queue. Gloo on CPU is the default
  (tests and ``dsbench bench parallel``); NCCL needs one GPU per rank.
* ``torchrun --nproc-per-node N -m workloads.training.launch JOB`` (``JOB``: ``suite``, ``tp``
  or ``ddp``) runs a job under torchrun, which sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/
  ``MASTER_PORT``/``LOCAL_RANK`` (the only environment variables read, and only here); the
  backend is NCCL when CUDA is available, else gloo. Rank 0 prints the result as JSON.

A rank that raises sends its traceback back; :func:`spawn` re-raises it in the parent as a
:class:`RankError` naming the rank, so a failing distributed test shows the real error.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

Backend = Literal["gloo", "nccl"]


class RankError(RuntimeError):
    """A rank of a spawned job raised; the message carries the rank and its traceback."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it; races are rare on one host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def init_rank(rank: int, world_size: int, backend: Backend, init_method: str, timeout_s: float):
    """Join the default process group; pin one thread (ranks share the CPU) or one GPU."""
    import torch
    import torch.distributed as dist

    if backend == "nccl":
        torch.cuda.set_device(rank % max(torch.cuda.device_count(), 1))
    else:
        torch.set_num_threads(1)
    dist.init_process_group(
        backend,
        init_method=init_method,
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )


def _child(rank, world_size, backend, init_method, timeout_s, job, args, queue) -> None:
    import torch.distributed as dist

    try:
        init_rank(rank, world_size, backend, init_method, timeout_s)
        result = job(rank, world_size, *args)
        queue.put((rank, True, result))
    except BaseException:  # noqa: BLE001 - the traceback goes back to the parent
        queue.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def spawn(
    job: Callable[..., Any],
    args: tuple = (),
    world_size: int = 2,
    backend: Backend = "gloo",
    timeout_s: float = 120.0,
) -> list[Any]:
    """Run ``job(rank, world_size, *args)`` on ``world_size`` new processes; results by rank.

    ``job`` must be a module-level function (it is pickled). Raises :class:`RankError` when a
    rank fails or does not answer within ``timeout_s``.
    """
    import queue as queue_mod

    import torch.multiprocessing as mp

    if world_size < 1:
        raise ValueError(f"world_size({world_size}) must be >= 1")
    ctx = mp.get_context("spawn")
    results: Any = ctx.Queue()
    init_method = f"tcp://127.0.0.1:{free_port()}"
    procs = [
        ctx.Process(
            target=_child,
            args=(r, world_size, backend, init_method, timeout_s, job, args, results),
            daemon=True,
        )
        for r in range(world_size)
    ]
    for p in procs:
        p.start()
    out: dict[int, Any] = {}
    try:
        for _ in range(world_size):
            rank, ok, value = results.get(timeout=timeout_s)
            if not ok:
                raise RankError(f"rank {rank} of {world_size} failed:\n{value}")
            out[rank] = value
    except queue_mod.Empty as exc:
        raise RankError(f"no answer from {world_size - len(out)} rank(s) in {timeout_s}s") from exc
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return [out[r] for r in range(world_size)]


def suite_job(rank: int, world: int, device: str = "cpu", steps: int = 30) -> dict[str, Any]:
    """Every correctness job in one process group (one start-up, which is the cost)."""
    from workloads.training import data_parallel, parallel

    return {
        "tp": parallel.tp_job(rank, world, device),
        "seed": parallel.seed_code_job(rank, world, device),
        "ddp": data_parallel.ddp_job(rank, world, device),
        "compression": data_parallel.compression_job(rank, world, steps=steps, device=device),
    }


def _torchrun_main(argv: list[str]) -> int:
    """Entry under torchrun: run a named job with the launcher's rank and world size."""
    import torch

    from workloads.training import data_parallel, parallel

    jobs = {"suite": suite_job, "tp": parallel.tp_job, "ddp": data_parallel.ddp_job}
    if len(argv) != 1 or argv[0] not in jobs:
        print(f"usage: torchrun ... -m workloads.training.launch {{{','.join(jobs)}}}")
        return 2
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    backend: Backend = "nccl" if torch.cuda.is_available() else "gloo"
    init_rank(rank, world, backend, "env://", 300.0)
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if backend == "nccl" else "cpu"
    result = jobs[argv[0]](rank, world, device)
    if rank == 0:
        print(json.dumps(result, indent=1, default=str))
    torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(_torchrun_main(sys.argv[1:]))
