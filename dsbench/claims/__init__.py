"""The claims the seed documents make, as data, and (later) the checks that judge them.

The catalogue (``catalogue.toml``, loaded by :mod:`dsbench.claims.catalogue`) holds every
claim with its id, seed, section, text, kind, planned check, prior and figures. Claim ids
are permanent public API. Importing this package is cheap: it pulls in no torch.
"""

from dsbench.claims.catalogue import (
    CatalogueError,
    Claim,
    Figure,
    Kind,
    PriorClass,
    Relation,
    Unit,
    UnknownClaimError,
    claims_by_seed,
    get_claim,
    load_catalogue,
    parse_catalogue,
)

__all__ = [
    "CatalogueError",
    "Claim",
    "Figure",
    "Kind",
    "PriorClass",
    "Relation",
    "Unit",
    "UnknownClaimError",
    "claims_by_seed",
    "get_claim",
    "load_catalogue",
    "parse_catalogue",
]
