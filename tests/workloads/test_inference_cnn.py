"""The digits stand-in: the bundled data split, the CNN's shapes, training and evaluation."""

from __future__ import annotations

import pytest
import torch

from workloads.inference.cnn import (
    CNNTrainConfig,
    DigitsCNN,
    bn_l1_penalty,
    conv_flops,
    evaluate_cnn,
    load_digits_split,
    train_cnn,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Training small tensors on an oversubscribed 2-core machine is far faster on one thread."""
    from workloads.inference.zoo import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def data():
    return load_digits_split()


def test_split_is_stratified_deterministic_and_disjoint(data):
    assert data.x_train.shape[1:] == (1, 8, 8)
    assert data.x_train.shape[0] + data.x_test.shape[0] == 1797
    assert float(data.x_train.min()) >= 0 and float(data.x_train.max()) <= 1
    counts = torch.bincount(data.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # 20% of ~180 per class
    again = load_digits_split()
    assert torch.equal(again.y_test, data.y_test)


def test_cnn_shapes_and_flops():
    model = DigitsCNN((4, 8, 16))
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    # 2·(4·1·9·64 + 8·4·9·64 + 16·8·9·16) + 2·16·10
    assert conv_flops((4, 8, 16)) == 2 * (2304 + 18432 + 18432) + 320


def test_short_training_learns_and_l1_shrinks_gammas(data):
    torch.manual_seed(0)
    small = DigitsCNN((4, 8, 16))
    before = evaluate_cnn(small, data)["accuracy"]
    train_cnn(small, data, CNNTrainConfig(epochs=2, lr=1e-2))
    after = evaluate_cnn(small, data)
    assert after["accuracy"] > max(0.6, before + 0.3)
    torch.manual_seed(0)
    slim = train_cnn(DigitsCNN((4, 8, 16)), data, CNNTrainConfig(epochs=2, lr=1e-2, bn_l1=5e-2))
    assert float(bn_l1_penalty(slim).detach()) < float(bn_l1_penalty(small).detach())


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="widths"):
        DigitsCNN(())
    with pytest.raises(ValueError, match="lr"):
        CNNTrainConfig(lr=0)
