"""The single-process sections of ``dsbench bench parallel``: ``tiers``, ``offload``, ``datapath``.

``tiers``: a Zipf trace through the device/host/disk store against all-on-device, host-only
and disk-only. ``offload``: layer-wise parameter swap with and without prefetch against
resident layers; host Adam against device Adam; host embedding against device embedding.
``datapath``: ``np.memmap`` samples/s against in-RAM on a file larger than a memory budget;
the split feature / post-processing pipeline, overlapped against serial. Without a GPU the
"device" is the CPU, and each record says so through its ``device`` parameter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dsbench.bench.parallel_common import BenchConfig, _record, _timed, ab_compare
from dsbench.core.results import Metric, Record

# --- memory tiers ----------------------------------------------------------------------------------


def bench_tiers(cfg: BenchConfig) -> Iterator[Record]:
    import torch

    from workloads.training.tiers import Tier, TieredStore, seed_gpu_growth, top_k_mass, zipf_trace

    keys, value_bytes, accesses = (256, 4096, 2000) if cfg.quick else (4096, 65536, 40000)
    s, device_keys, host_keys = 1.1, keys // 20, keys // 4
    g = torch.Generator().manual_seed(0)
    values = {k: torch.randn(value_bytes // 4, generator=g) for k in range(keys)}
    trace = zipf_trace(keys, accesses, s=s, seed=0)
    total = keys * value_bytes
    layouts = {  # (device bytes, host bytes)
        "tiered": (device_keys * value_bytes, host_keys * value_bytes),
        "all_device": (total, 0),
        "host_only": (0, host_keys * value_bytes),
        "disk_only": (0, 0),
    }
    metrics: dict[str, Any] = {}
    for label, (dev_b, host_b) in layouts.items():
        with TieredStore(dev_b, host_b, cfg.device) as store:
            for k, v in values.items():
                store.put(k, v)
            for k in trace:  # the cold pass: hit rates and bytes from an empty cache
                store.get(int(k))
            st = store.stats
            for tier in Tier:
                metrics[f"{label}_hit_rate_{tier.value}"] = (100 * st.hit_rate(tier), "%")
            metrics[f"{label}_bytes_moved"] = (float(sum(st.moved_bytes.values())), "B")
            steady = _timed(lambda store=store: [store.get(int(k)) for k in trace[:200]], cfg)
            metrics[f"{label}_fetch_time"] = Metric(
                steady.median_s / 200, "s", tuple(x / 200 for x in steady.samples_s)
            )
    dict_time = _timed(lambda: [values[int(k)] for k in trace[:200]], cfg)
    metrics["plain_dict_fetch_time"] = (dict_time.median_s / 200, "s")
    metrics["oracle_device_hit_rate"] = (100 * top_k_mass(keys, device_keys, s), "%")
    growth = seed_gpu_growth(trace, values)
    metrics["seed_gpu_tier_bytes"] = (float(growth[-1]), "B")
    metrics["tiered_device_budget_bytes"] = (float(device_keys * value_bytes), "B")
    yield _record(
        cfg,
        "parallel-memory-tiers",
        {"keys": keys, "value_bytes": value_bytes, "accesses": accesses, "zipf_s": s},
        metrics,
        note="hit rates and bytes from a cold replay; fetch times from steady replays",
    )


# --- offload ---------------------------------------------------------------------------------------


def _lm_stack(cfg: BenchConfig):
    import torch
    from torch import nn

    from workloads.lm.config import LMConfig
    from workloads.lm.model import Block

    c, layers, b, t = (128, 4, 1, 32) if cfg.quick else (1024, 8, 1, 128)
    torch.manual_seed(0)
    lm_cfg = LMConfig(block_size=t, n_layers=layers, n_heads=4, d_model=c, d_ff=4 * c)
    stack = nn.ModuleList(Block(lm_cfg, i) for i in range(layers)).to(cfg.device).eval()
    return stack, torch.randn(b, t, c, device=cfg.device)


def bench_offload(cfg: BenchConfig) -> Iterator[Record]:
    yield from bench_swap(cfg)
    yield bench_host_adam(cfg)
    yield bench_host_embedding(cfg)


def bench_swap(cfg: BenchConfig) -> Iterator[Record]:
    import copy

    import torch

    from workloads.training.offload import OffloadedLayers, param_bytes

    dev = cfg.device
    stack, x = _lm_stack(cfg)
    c, layers = x.shape[-1], len(stack)

    def resident():
        with torch.no_grad():
            y = x
            for layer in stack:
                y = layer(y)
            return y

    metrics: dict[str, Any] = {}
    for prefetch in (True, False):
        off = OffloadedLayers(copy.deepcopy(stack).cpu(), dev, prefetch=prefetch)
        with torch.no_grad():
            err = (off(x) - resident()).abs().max().item()
        label = "prefetch" if prefetch else "no_prefetch"
        metrics.update(ab_compare(resident, lambda off=off: _no_grad(off, x), cfg, label))
        metrics[f"peak_param_bytes_{label}"] = (float(off.peak_resident_bytes), "B")
        metrics[f"moved_bytes_per_forward_{label}"] = (float(param_bytes(stack)), "B")
        metrics[f"max_abs_err_{label}"] = (err, "1")
    metrics["resident_param_bytes"] = (float(param_bytes(stack)), "B")
    yield _record(
        cfg,
        "parallel-offload-swap",
        {"d_model": c, "layers": layers},
        metrics,
        note="A = all resident, B = offloaded; ratio = time B / time A (the slowdown); "
        "peak_param_bytes_* is the smallest device budget each offloaded run fits in, while "
        "the resident run needs resident_param_bytes",
    )


def _no_grad(module, x):
    import torch

    with torch.no_grad():
        return module(x)


def bench_host_adam(cfg: BenchConfig) -> Record:
    import copy

    import torch

    from workloads.training.offload import HostAdam

    stack, x = _lm_stack(cfg)

    a, bmod = copy.deepcopy(stack).train(), copy.deepcopy(stack).train()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-4)
    opt_b = HostAdam(bmod.parameters(), lr=1e-4)

    def step(model, opt):
        opt.zero_grad()
        y = x
        for layer in model:
            y = layer(y)
        y.square().mean().backward()
        opt.step()

    for _ in range(3):  # same steps from the same start: the updates must agree
        step(a, opt_a)
        step(bmod, opt_b)
    pairs = zip(a.parameters(), bmod.parameters(), strict=True)
    err = max((p - q).abs().max().item() for p, q in pairs)
    n = sum(p.numel() for p in a.parameters())
    ab = ab_compare(lambda: step(a, opt_a), lambda: step(bmod, opt_b), cfg, "adam")
    return _record(
        cfg,
        "parallel-host-adam",
        {"params": n},
        {
            **ab,
            "device_bytes_resident": (float(16 * n), "B"),
            "device_bytes_offloaded": (float(8 * n), "B"),
            "budget_needing_offload": (float(12 * n), "B"),
            "max_abs_param_err_after_3_steps": (err, "1"),
        },
        note="A = device Adam, B = host Adam; budget_needing_offload: 12 B/param fits "
        "weights+grads (8 B) but not weights+grads+Adam moments (16 B)",
    )


def bench_host_embedding(cfg: BenchConfig) -> Record:
    import torch
    from torch import nn

    from workloads.training.offload import HostEmbedding

    vocab, c, b, t = (8000, 128, 4, 64) if cfg.quick else (128000, 1024, 8, 512)
    torch.manual_seed(0)
    emb = nn.Embedding(vocab, c).to(cfg.device)
    host = HostEmbedding(emb, cfg.device)
    idx = torch.randint(0, vocab, (b, t), device=cfg.device)

    def fwd_bwd(module):
        module.zero_grad(set_to_none=False)
        module(idx).sum().backward()

    ab = ab_compare(lambda: fwd_bwd(emb), lambda: fwd_bwd(host), cfg, "embedding")
    return _record(
        cfg,
        "parallel-host-embedding",
        {"vocab": vocab, "d_model": c, "batch": b, "seq": t},
        {
            **ab,
            "device_bytes_saved": (float(vocab * c * 4), "B"),
            "copied_bytes_per_step": (float(2 * b * t * c * 4), "B"),
        },
        note="A = embedding on the device, B = table on the host; fwd+bwd",
    )


# --- data path ---------------------------------------------------------------------------------------


def bench_datapath(cfg: BenchConfig) -> Iterator[Record]:
    yield bench_mmap(cfg)
    yield bench_pipeline(cfg)


def bench_mmap(cfg: BenchConfig, workdir: Path | None = None) -> Record:
    import tempfile

    from workloads.training import datapath as D

    tokens, seq, batch = (1 << 21, 1024, 8) if cfg.quick else (1 << 28, 2048, 16)
    budget = (2 * tokens) // 4  # the loader may use a quarter of the file's size
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = D.write_token_file(Path(tmp) / "train.bin", tokens)
        try:
            D.InRAMTokens(path, seq, budget_bytes=budget)
            refused = False
        except D.MemoryBudgetError:
            refused = True
        mm = D.MmapTokens(path, seq)
        starts = D.random_starts(len(mm), 16 * batch, seed=1)
        cold_supported = mm.drop_page_cache()
        t0 = time.perf_counter()
        for i in range(0, len(starts), batch):
            mm.batch(starts[i : i + batch])
        cold_s = (time.perf_counter() - t0) / (len(starts) // batch)
        ram = D.InRAMTokens(path, seq)  # ignores the budget: the baseline the budget forbids
        ab = ab_compare(lambda: ram.batch(starts[:batch]), lambda: mm.batch(starts[:batch]), cfg,
                        "ram_vs_mmap")  # fmt: skip
    return _record(
        cfg,
        "parallel-mmap-tokens",
        {
            "tokens": tokens,
            "seq": seq,
            "batch": batch,
            "file_bytes": 2 * tokens,
            "memory_budget_bytes": budget,
        },  # fmt: skip
        {
            "samples_per_s_mmap_cold": (batch / cold_s, "samples/s"),
            "samples_per_s_mmap_warm": (batch / ab["ram_vs_mmap_time_b"].value, "samples/s"),
            "samples_per_s_in_ram": (batch / ab["ram_vs_mmap_time_a"].value, "samples/s"),
            **ab,
            "in_ram_refused_over_budget": (float(refused), "bool"),
        },
        note="the file is larger than the configured memory budget, not than this machine's RAM",
        cold_cache_dropped=cold_supported,
    )


def bench_pipeline(cfg: BenchConfig) -> Record:
    import torch

    from workloads.training import datapath as D

    n, b, img, width, rounds = (6, 16, 32, 8, 1000) if cfg.quick else (32, 64, 64, 16, 1000)
    net = D.feature_net(width=width).to(cfg.device)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(b, 3, img, img, generator=g) for _ in range(n)]
    feats = [D.extract(net, x, cfg.device) for x in batches]
    t_feat = _timed(lambda: [D.extract(net, x, cfg.device) for x in batches], cfg)
    t_post = _timed(lambda: [D.post_process(f, rounds) for f in feats], cfg)
    ab = ab_compare(
        lambda: D.run_serial(net, batches, cfg.device, rounds),
        lambda: D.run_overlapped(net, batches, cfg.device, rounds),
        cfg,
        "serial_vs_overlapped",
    )
    serial_s, over_s = (
        ab["serial_vs_overlapped_time_a"].value,
        ab["serial_vs_overlapped_time_b"].value,
    )
    same = D.run_serial(net, batches, cfg.device, rounds) == D.run_overlapped(
        net, batches, cfg.device, rounds
    )
    images = n * b
    return _record(
        cfg,
        "parallel-split-pipeline",
        {"batches": n, "batch": b, "image": img, "rounds": rounds},
        {
            "images_per_s_serial": (images / serial_s, "images/s"),
            "images_per_s_overlapped": (images / over_s, "images/s"),
            "speedup": (serial_s / over_s, "x"),
            **ab,
            "overlap_bound": (D.overlap_bound(t_feat.median_s, t_post.median_s), "x"),
            "post_over_feature_time": (t_post.median_s / t_feat.median_s, "1"),
            "results_equal": (float(same), "bool"),
        },
    )
