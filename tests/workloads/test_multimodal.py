"""Multimodal encoder: InfoNCE vs a per-example reference, retrieval metrics, the seed's code,
the collapsed solution of the seed's loss, and dynamic modality weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workloads.base import get
from workloads.multimodal import (
    ModalityFusion,
    Objective,
    infonce_loss,
    infonce_reference,
    make_paired_data,
    mean_offdiag_cosine,
    modality_weight_experiment,
    recall_at_k,
    run_seed_encoder,
    seed_cosine_loss,
    seed_modality_weight,
    train_contrastive,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_infonce_matches_reference():
    gen = torch.Generator().manual_seed(0)
    t = F.normalize(torch.randn(6, 5, generator=gen), dim=-1)
    i = F.normalize(torch.randn(6, 5, generator=gen), dim=-1)
    scale = torch.tensor(math.log(10.0))
    assert float(infonce_loss(t, i, scale)) == pytest.approx(
        float(infonce_reference(t, i, scale)), rel=1e-5
    )


def test_recall_and_collapse_metrics():
    x = torch.eye(4)
    assert recall_at_k(x, x, (1,)) == {"recall_at_1": 1.0}
    shuffled = x[[1, 0, 3, 2]]
    assert recall_at_k(x, shuffled, (1,)) == {"recall_at_1": 0.0}
    assert mean_offdiag_cosine(x) == 0.0
    const = F.normalize(torch.ones(5, 3), dim=-1)
    assert mean_offdiag_cosine(const) == pytest.approx(1.0)
    assert float(seed_cosine_loss(const, const)) == pytest.approx(0.0, abs=1e-6)


def test_seed_encoder_raises_at_construction():
    assert "before Module.__init__() call" in run_seed_encoder()


def test_training_retrieves_known_pairs():
    data = make_paired_data(24, 40, 4, noise=0.1)
    row = train_contrastive(
        Objective.INFONCE, steps=60, batch=32, n_eval=64, d_shared=16, data=data
    )
    assert row["recall_at_5"] > 0.5 > row["chance_recall_at_1"]


def test_modality_weights():
    assert seed_modality_weight("image") == 0.6 and seed_modality_weight("video") == 0.5
    gate = ModalityFusion((3, 5), 4, 2, learned=True)
    gate(torch.randn(7, 3), torch.randn(7, 5))
    torch.testing.assert_close(gate.last_weights_BM.sum(-1), torch.ones(7))
    rows = modality_weight_experiment(steps=40)
    table, learned = rows
    assert table["weight_std_across_inputs"] == 0.0
    assert learned["weight_std_across_inputs"] > 0.0
    assert table["seed_table_sum_with_default"] == pytest.approx(1.5)


def test_registered_case():
    case = get("multimodal-infonce").build("tiny", "cpu", "float32")
    torch.testing.assert_close(case.fn(), case.reference(), atol=case.atol, rtol=case.rtol)
