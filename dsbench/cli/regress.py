"""``dsbench compare``, ``dsbench regress`` and ``dsbench history``: regression checks.

Thin commands over :mod:`dsbench.regress.compare`, :mod:`dsbench.regress.suite` and
:mod:`dsbench.regress.history`. Exit codes, the same for ``compare`` and ``regress``:

- 0 — compared, no regression;
- 1 — a regression (significant and beyond the factor), a moved deterministic output, or a
  changed verdict;
- 2 — cannot compare: no matching baseline, records timed on another machine without
  ``--allow-other-machine``, an unreadable file, a bad option. The reason is one line on
  stderr; 2 never means "regression".
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from dsbench.core.errors import DsbenchError

FORMATS = ("table", "markdown", "json")
_SHOWN = ("regression", "improvement", "moved", "verdict-changed", "value-changed", "unstable")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _ratio(c) -> str:
    if c.ratio is None:
        return "—"
    text = f"{c.ratio:.3f}x"
    if c.ci_low is not None:
        text += f" [{c.ci_low:.3f}, {c.ci_high:.3f}]"
    return text


def _p(c) -> str:
    return "—" if c.p_value is None else f"{c.p_value:.2g}"


HEADER = ("status", "record", "metric", "baseline", "new", "ratio", "p", "note")


def change_rows(changes, verbose: bool) -> list[tuple[str, ...]]:
    """Rows for the table: everything not unchanged (everything with ``verbose``)."""
    rows = []
    for c in changes:
        if not verbose and c.status.value not in _SHOWN:
            continue
        label = f"{c.kind} {c.name}{short_params(c.params)}"
        label = label if len(label) <= 60 else label[:57] + "..."
        unit = f" {c.unit}" if c.unit and c.unit != "1" else ""
        rows.append(
            (
                c.status.value,
                label,
                c.metric,
                _fmt(c.baseline) + unit,
                _fmt(c.new) + unit,
                _ratio(c),
                _p(c),
                c.note,
            )
        )
    return rows


def short_params(params_json: str) -> str:
    """``{"size": "cpu", "n": 512}`` -> `` (size=cpu, n=512)``; nested values are left out."""
    params = json.loads(params_json)
    parts = [f"{k}={v}" for k, v in params.items() if not isinstance(v, dict | list)]
    return f" ({', '.join(parts)})" if parts else ""


def render(rows: list[tuple[str, ...]], fmt: str) -> str:
    if not rows:
        return ""
    if fmt == "markdown":
        esc = [tuple(str(x).replace("|", "\\|") for x in r) for r in rows]
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    fmt_row = "  ".join(f"{{:{w}s}}" for w in widths)
    return "\n".join(fmt_row.format(*r).rstrip() for r in [HEADER, *rows])


def summary_line(comparison) -> str:
    from collections import Counter

    counts = Counter(c.status.value for c in comparison.changes)
    parts = [f"{n} {s}" for s, n in sorted(counts.items())]
    extra = []
    if comparison.unmatched:
        extra.append(f"{len(comparison.unmatched)} new record(s) without baseline")
    if comparison.baseline_only:
        extra.append(f"{len(comparison.baseline_only)} baseline record(s) not in NEW")
    if comparison.other_machine:
        extra.append(f"{len(comparison.other_machine)} from another machine (not compared)")
    return f"{len(comparison.changes)} metrics compared: " + ", ".join(parts + extra)


def settings_options(fn):
    """The options shared by compare and regress that build a :class:`Settings`."""
    options = [
        click.option(
            "--factor",
            type=click.FloatRange(min=1.0),
            default=1.10,
            show_default=True,
            help="a timed change must also exceed this ratio to count (1.10 = 10%)",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
            default=0.01,
            show_default=True,
            help="significance level of the test",
        ),
        click.option(
            "--test",
            type=click.Choice(["mannwhitney", "bootstrap"]),
            default="mannwhitney",
            show_default=True,
            help="Mann–Whitney U on the samples, or a bootstrap interval on the ratio of medians",
        ),
        click.option(
            "--rtol",
            type=click.FloatRange(min=0),
            default=1e-6,
            show_default=True,
            help="relative tolerance for deterministic (simulator, analytic) outputs",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default="table",
            show_default=True,
        ),
        click.option("-v", "--verbose", is_flag=True, help="also list unchanged metrics"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _settings(factor, alpha, test, rtol, allow_other_machine=False):
    from dsbench.regress.compare import Settings

    return Settings(
        factor=factor,
        alpha=alpha,
        test=test,
        rtol=rtol,
        allow_other_machine=allow_other_machine,
    )


def run_records(path: Path) -> Path:
    """A ``dsbench verify`` run folder holds its records in ``records/`` (next to state.json)."""
    if path.is_dir() and (path / "state.json").exists() and (path / "records").is_dir():
        return path / "records"
    return path


@click.command()
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--allow-other-machine",
    is_flag=True,
    help="compare timings even when the machine fingerprints differ",
)
@settings_options
def compare(
    baseline: Path,
    new: Path,
    allow_other_machine: bool,
    factor: float,
    alpha: float,
    test: str,
    rtol: float,
    fmt: str,
    verbose: bool,
) -> int:
    """Compare the records in NEW against BASELINE (files or folders; a `dsbench verify`
    run folder compares its verdicts and evidence).

    Records match by kind, name, parameters and, for timings, machine fingerprint. Exit 0:
    no regression; 1: a regression, a moved simulator/analytic output or a changed verdict;
    2: nothing could be compared (the reason is printed).
    """
    from dsbench.core import results
    from dsbench.regress.compare import compare as run_compare

    base = [r for _, r in results.load_records([run_records(baseline)])]
    fresh = [r for _, r in results.load_records([run_records(new)])]
    if not base:
        raise DsbenchError(f"{baseline}: holds no records")
    if not fresh:
        raise DsbenchError(f"{new}: holds no records")
    comparison = run_compare(base, fresh, _settings(factor, alpha, test, rtol, allow_other_machine))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "exit_code": comparison.exit_code(),
                    "changes": [c.to_json() for c in comparison.changes],
                    "unmatched": list(comparison.unmatched),
                    "other_machine": list(comparison.other_machine),
                    "baseline_only": list(comparison.baseline_only),
                },
                indent=1,
            )
        )
    else:
        table = render(change_rows(comparison.changes, verbose), fmt)
        if table:
            click.echo(table)
        click.echo(summary_line(comparison))
    code = comparison.exit_code()
    if code == 2:
        click.echo(f"error: cannot compare: {comparison.why_not_comparable()}", err=True)
    return code


@click.command()
@click.option(
    "--suite",
    type=click.Choice(["quick", "full"]),
    default="quick",
    show_default=True,
    help="quick: 3 timed workloads + 5 scenarios + 20 analytic and simulator checks; full adds more",
)
@click.option(
    "--part",
    type=click.Choice(["all", "timed", "deterministic"]),
    default="all",
    show_default=True,
    help="deterministic = simulator scenarios and analytic checks only (machine-independent)",
)
@click.option("--update", is_flag=True, help="write the new results as the baselines")
@click.option(
    "--baselines",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/baselines"),
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/regress"),
    show_default=True,
    help="every new record is also stored here (for `dsbench history`)",
)
@settings_options
def regress(
    suite: str,
    part: str,
    update: bool,
    baselines: Path,
    out: Path,
    factor: float,
    alpha: float,
    test: str,
    rtol: float,
    fmt: str,
    verbose: bool,
) -> int:
    """Run the fixed regression suite and compare it with the committed baselines.

    Timed results are compared with results/baselines/<machine fingerprint>/, simulator and
    analytic outputs with results/baselines/deterministic/. A benchmark whose own spread
    exceeds 10% is reported unstable, not gated. --update records new baselines on purpose.
    Exit codes as for `dsbench compare`.
    """
    from dsbench.core import environment, results
    from dsbench.core.progress import track
    from dsbench.regress.suite import exit_code, run_suite

    settings = _settings(factor, alpha, test, rtol)
    done = []
    for item_result in run_suite(
        suite, part, baselines, update, settings, track, lambda r: results.save(r, out)
    ):
        done.append(item_result)
    if update:
        where = sorted({str(p) for p in _baseline_dirs(done, baselines)})
        click.echo(
            f"wrote {sum(len(r.records) for r in done)} baseline record(s) to {', '.join(where)}"
        )
        return 0
    changes = [c for r in done if r.comparison for c in r.comparison.changes]
    table = render(change_rows(changes, verbose), fmt) if fmt != "json" else ""
    if fmt == "json":
        click.echo(json.dumps([_item_json(r) for r in done], indent=1))
    elif table:
        click.echo(table)
    missing = [r.item.label for r in done if r.missing_baseline]
    if fmt != "json":
        click.echo(item_summary(done, missing))
    code = exit_code(done)
    if code == 2:
        timed = any(r.item.timed for r in done if r.missing_baseline)
        where = (
            f"for this machine ({environment.fingerprint(environment.capture())})"
            if timed
            else f"in {baselines / 'deterministic'}"
        )
        click.echo(
            f"error: cannot compare {len(missing)} item(s) (e.g. {missing[0]}): no baseline "
            f"{where}; record them with `dsbench regress --update`",
            err=True,
        )
    return code


def item_summary(done, missing: list[str]) -> str:
    """``N items: a ok, b unstable (not gated), c failing, d without baseline``."""
    passed = [r for r in done if r.comparison and r.comparison.exit_code() == 0]
    unstable = [
        r for r in passed if any(c.status.value == "unstable" for c in r.comparison.changes)
    ]
    failing = len(done) - len(passed) - len(missing)
    return (
        f"{len(done)} items: {len(passed) - len(unstable)} ok, {len(unstable)} unstable "
        f"(not gated), {failing} failing, {len(missing)} without baseline"
    )


def _baseline_dirs(done, root: Path):
    from dsbench.regress.suite import baseline_folder

    return (baseline_folder(r, root) for item in done for r in item.records)


def _item_json(r) -> dict:
    return {
        "item": r.item.label,
        "baseline": not r.missing_baseline,
        "exit_code": r.comparison.exit_code() if r.comparison else 2,
        "changes": [c.to_json() for c in r.comparison.changes] if r.comparison else [],
    }


@click.command()
@click.argument("name")
@click.argument("metric", required=False)
@click.option(
    "--results",
    "paths",
    type=click.Path(path_type=Path),
    multiple=True,
    default=[Path("results")],
    show_default=True,
    help="record files or folders to search (repeatable)",
)
@click.option(
    "--alpha", type=click.FloatRange(min=0, max=1, min_open=True), default=0.01, show_default=True
)
@click.option(
    "--min-step",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="smallest relative step reported (0.05 = 5%)",
)
@click.option("--json", "as_json", is_flag=True, help="print the series as JSON records")
def history(
    name: str,
    metric: str | None,
    paths: tuple[Path, ...],
    alpha: float,
    min_step: float,
    as_json: bool,
) -> None:
    """Show METRIC of benchmark NAME across stored runs and where its level stepped.

    METRIC defaults to `time` (the median of each run's samples). Only runs with the newest
    run's parameters and machine are one series. Change points come from circular binary
    segmentation with a Welch t-test (see dsbench.regress.history).
    """
    import warnings

    from dsbench.core import results
    from dsbench.regress.history import annotate, change_points, latest_group, series

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreadable files are skipped, not fatal here
        records = results.load_records(paths, errors="warn")
    frame, others = latest_group(series(records, name, metric))
    points = change_points(frame["value"].tolist(), alpha=alpha, min_step=min_step)
    frame = annotate(frame, points)
    if as_json:
        click.echo(json.dumps(frame.to_dict(orient="records"), indent=1, default=float))
        return
    unit = frame["unit"].iloc[0]
    starts = {c.index: c for c in points}
    click.echo(
        f"{name} {frame['metric'].iloc[0]} ({unit}), {len(frame)} runs, params {frame['params'].iloc[0]}"
    )
    for i, row in frame.iterrows():
        mark = ""
        if i in starts:
            c = starts[i]
            mark = f"  <- step {c.ratio:.3f}x (p={c.p_value:.1e})"
        click.echo(f"{i:4d}  {row['timestamp'][:19]}  {row['value']:.4g}{mark}")
    if points:
        first = points[0]
        click.echo(
            f"first step at run {first.index} ({frame['timestamp'].iloc[first.index][:19]}): "
            f"{first.before:.4g} -> {first.after:.4g} {unit} ({first.ratio:.3f}x)"
        )
    else:
        click.echo("no change point")
    if others:
        click.echo(f"({others} other series with other parameters or machines not shown)")
