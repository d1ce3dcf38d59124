"""The packaged claims catalogue: faithful to claims.md, validated, and cheap to import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dsbench.claims import (
    CatalogueError,
    Claim,
    Kind,
    PriorClass,
    UnknownClaimError,
    claims_by_seed,
    get_claim,
    load_catalogue,
)
from dsbench.core.errors import DsbenchError

# The Markdown source of the catalogue sits in shared/ beside the checkout.
CLAIMS_MD = Path(__file__).resolve().parents[3] / "shared" / "claims.md"
SEED_HEADING = re.compile(r"^## (\d{3}_[0-9a-f]{16}\.txt) — ")
MARKDOWN_COLUMNS = ("id", "section", "claim", "kind", "how_to_check", "prior")


def parse_claims_markdown(text: str) -> list[dict[str, str]]:
    """Rows of the per-seed tables: a ``## <seed file> — title`` heading, then a table.

    Cells never contain a ``|`` (the source has none), so a row splits on it directly.
    """
    rows: list[dict[str, str]] = []
    seed = None
    for line in text.splitlines():
        if line.startswith("## "):
            match = SEED_HEADING.match(line)
            seed = match.group(1) if match else None
        elif seed is not None and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if cells[0] == "id" or set(cells[0]) <= {"-"}:
                continue  # header row or the |---| separator
            assert len(cells) == len(MARKDOWN_COLUMNS), f"malformed row: {line}"
            rows.append({"seed": seed, **dict(zip(MARKDOWN_COLUMNS, cells, strict=True))})
    return rows


@pytest.fixture(scope="module")
def markdown_rows() -> list[dict[str, str]]:
    if not CLAIMS_MD.is_file():
        pytest.skip(
            f"shared/claims.md is not beside the checkout (looked for {CLAIMS_MD.name} "
            "in the shared/ folder next to the repository)"
        )
    return parse_claims_markdown(CLAIMS_MD.read_text(encoding="utf-8"))


def test_catalogue_matches_claims_markdown(markdown_rows):
    claims = load_catalogue()
    assert [c.id for c in claims] == [row["id"] for row in markdown_rows]
    for claim, row in zip(claims, markdown_rows, strict=True):
        mine = {
            "seed": claim.seed,
            "section": claim.section,
            "claim": claim.claim,
            "kind": claim.kind.value,
            "how_to_check": claim.how_to_check,
            "prior": claim.prior,
        }
        assert mine == {key: row[key] for key in mine}, claim.id


def test_catalogue_covers_five_seeds_in_order():
    grouped = claims_by_seed()
    assert [seed[:3] for seed in grouped] == ["000", "001", "002", "003", "004"]
    assert sum(len(claims) for claims in grouped.values()) == len(load_catalogue())
    assert all(c.id.startswith(seed[:3] + "-") for seed, cs in grouped.items() for c in cs)


def test_every_figure_text_occurs_in_its_claim():
    claims = load_catalogue()
    assert sum(len(c.figures) for c in claims) > 100
    for claim in claims:
        for figure in claim.figures:
            assert figure.text in claim.claim, (claim.id, figure.text)


def test_prior_class_is_the_leading_word_of_the_prior():
    for claim in load_catalogue():
        assert claim.prior.startswith(claim.prior_class.value), claim.id
        assert isinstance(claim.kind, Kind) and isinstance(claim.prior_class, PriorClass)


def test_catalogue_is_cached_and_frozen():
    claims = load_catalogue()
    assert load_catalogue() is claims
    with pytest.raises(AttributeError):
        claims[0].claim = "edited"  # type: ignore[misc]


def test_get_claim_returns_the_catalogue_entry():
    claim = get_claim("000-swa-98pct-accuracy")
    assert isinstance(claim, Claim)
    assert claim.section == "2.1" and claim.kind is Kind.QUALITY
    assert [(f.value, f.unit.value, f.text) for f in claim.figures] == [(98.0, "%", "98%")]


def test_get_claim_unknown_id_names_it_and_the_list_command():
    with pytest.raises(KeyError) as info:
        get_claim("000-no-such-claim")
    assert isinstance(info.value, UnknownClaimError)
    assert isinstance(info.value, DsbenchError)
    assert str(info.value) == (
        "unknown claim id '000-no-such-claim'; run `dsbench verify --list` to see the ids"
    )


def test_importing_claims_does_not_import_torch():
    code = "import sys, dsbench.claims; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- validation of malformed files -------------------------------------------------------

VALID = """\
[[claims]]
id = "000-demo-40pct"
seed = "000_8c181ba133d359c5.txt"
section = "1.2"
claim = "Demo raises throughput by 40%."
kind = "simulate"
how_to_check = "Simulate it."
prior = "dubious: no baseline."
prior_class = "dubious"
figures = [
  { quantity = "throughput increase", value = 40, unit = "%", relation = "=", text = "40%" },
]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_fixture_loads(tmp_path):
    (claim,) = load_catalogue(write(tmp_path, VALID))
    assert claim.id == "000-demo-40pct" and claim.figures[0].value == 40.0


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('kind = "simulate"', 'kind = "simulation"', "'kind'"),
        ('prior_class = "dubious"', 'prior_class = "maybe"', "'prior_class'"),
        ('prior_class = "dubious"', 'prior_class = "plausible"', "'prior_class'"),
        ('unit = "%"', 'unit = "percent"', "'figures[0].unit'"),
        ('relation = "="', 'relation = "=="', "'figures[0].relation'"),
        ('text = "40%"', 'text = "45%"', "'figures[0].text'"),
        ("value = 40", 'value = "40"', "'figures[0].value'"),
        ('text = "40%" }', 'text = "40%", note = "x" }', "'figures[0].note'"),
        ('how_to_check = "Simulate it."\n', "", "'how_to_check'"),
        ('section = "1.2"', "section = 1.2", "'section'"),
        ('claim = "Demo raises throughput by 40%."', 'claim = "  "', "'claim'"),
        ('prior_class = "dubious"', 'prior_class = "dubious"\nverdict = "x"', "'verdict'"),
        ('seed = "000_', 'seed = "001_', "'id'"),
    ],
)
def test_malformed_claim_names_the_id_and_the_field(tmp_path, old, new, named):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert "claim '000-demo-40pct'" in str(info.value)
    assert named in str(info.value)


def test_duplicate_id_is_rejected(tmp_path):
    with pytest.raises(CatalogueError, match=r"claim '000-demo-40pct': field 'id': duplicate"):
        load_catalogue(write(tmp_path, VALID + "\n" + VALID))


def test_claim_without_id_is_named_by_position(tmp_path):
    text = VALID + "\n" + VALID.replace('id = "000-demo-40pct"\n', "")
    with pytest.raises(CatalogueError, match=r"claim #2: missing field 'id'"):
        load_catalogue(write(tmp_path, text))


def test_invalid_toml_and_wrong_top_level_are_catalogue_errors(tmp_path):
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(write(tmp_path, VALID.replace("figures = [", "figures = [[")))
    with pytest.raises(CatalogueError, match="top level"):
        load_catalogue(write(tmp_path, 'title = "claims"\n' + VALID))
    assert issubclass(CatalogueError, ValueError)
