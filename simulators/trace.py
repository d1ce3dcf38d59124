"""Chrome trace-event JSON (opens in Perfetto / chrome://tracing) from simulated events.

Format: the Trace Event Format's complete events (``"ph": "X"``) with microsecond ``ts``
and ``dur``; one thread per pipeline stage, named by ``thread_name`` metadata events.
"""

from __future__ import annotations


def chrome_trace(
    events: list[tuple[int, str, str, float, float]], iteration_s: float, iterations: int, name: str
) -> dict:
    """Trace dict for ``iterations`` back-to-back copies of one iteration's events.

    events: (stage, name, category, start_s, duration_s) tuples.
    """
    stages = sorted({e[0] for e in events})
    out: list[dict] = [
        {
            "name": "process_name",
            "ph": "M",
            "pid": 0,
            "args": {"name": f"{name}: data-parallel replica 0"},
        }
    ]
    out += [
        {
            "name": "thread_name",
            "ph": "M",
            "pid": 0,
            "tid": s,
            "args": {"name": f"pipeline stage {s}"},
        }
        for s in stages
    ]
    for it in range(iterations):
        offset = it * iteration_s
        for stage, ev_name, cat, start, dur in events:
            out.append(
                {
                    "name": ev_name,
                    "cat": cat,
                    "ph": "X",
                    "pid": 0,
                    "tid": stage,
                    "ts": (offset + start) * 1e6,
                    "dur": dur * 1e6,
                    "args": {"iteration": it},
                }
            )
    return {"traceEvents": out, "displayTimeUnit": "ms"}
