"""``dsbench verify``: run the claim checks, store the verdicts, write the report."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option(
    "--quick/--full",
    "quick",
    default=True,
    help="quick: sizes that finish in minutes on a laptop CPU (default); full: larger "
    "sizes, may take hours",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="ID",
    help="check only this claim id (repeatable); the report still lists every claim",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/verify"),
    show_default=True,
    help="run folder: evidence and verdict records, state.json, report.md/html",
)
@click.option("--force", is_flag=True, help="re-run checks that already finished in --out")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print one JSON list (an object per claim) instead of the summary",
)
@click.option("--list", "list_ids", is_flag=True, help="list claim ids and whether a check exists")
def verify(
    quick: bool, only: tuple[str, ...], out: Path, force: bool, as_json: bool, list_ids: bool
) -> None:
    """Judge the seeds' claims with measurements, simulations and formulas.

    Every claim gets a verdict: supported, partly, contradicted, impossible, needs-gpu,
    needs-data, vague, unchecked (no check yet) or error (the check raised). Interrupted
    runs resume: finished checks are not re-run unless --force.
    """
    from dsbench.claims.catalogue import load_catalogue
    from dsbench.claims.engine import select_claims
    from dsbench.claims.engine import verify as run_verify
    from dsbench.claims.registry import checks_by_claim
    from dsbench.core.progress import track
    from dsbench.report.markdown import write_report

    if list_ids:
        registry = checks_by_claim()
        for claim in load_catalogue():
            click.echo(
                f"{claim.id:44s} {'check' if claim.id in registry else '-':6s} {claim.kind.value}"
            )
        return
    mode = "quick" if quick else "full"
    select_claims(only)  # unknown ids fail before anything runs
    rows = run_verify(out, mode, only or None, force, track=track)
    report_rows = run_verify(out, mode, run=False) if only else rows
    md, page = write_report(report_rows, out, mode)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=1, ensure_ascii=False))
        return
    click.echo(summarise(rows))
    click.echo(f"report: {md}\n        {page}")


def summarise(rows) -> str:
    """Counts per verdict, then one line per claim that is contradicted, impossible or an error."""
    from collections import Counter

    from dsbench.claims.verdicts import SEVERITY

    counts = Counter(r.outcome.verdict for r in rows)
    lines = [f"{len(rows)} claims: " + ", ".join(f"{counts[v]} {v}" for v in SEVERITY if counts[v])]
    for r in rows:
        if r.outcome.verdict.value in ("impossible", "contradicted", "error") or len(rows) <= 5:
            lines.append(f"  {r.claim.id}: {r.outcome.verdict} — {r.outcome.explanation}")
    return "\n".join(lines)
