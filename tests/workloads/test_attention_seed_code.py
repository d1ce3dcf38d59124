"""The seeds' attention code, run as written, fails the way the claims catalogue says."""

from __future__ import annotations

from workloads.attention import run_seed_summed_local_global, run_seed_swa_pseudocode


def test_seed_swa_pseudocode_cannot_run_and_patched_is_wrong():
    report = run_seed_swa_pseudocode(n=200, d=8, window_size=32)
    assert not report.runs_as_written
    assert "split" in report.literal_error  # split([d, d, d]) of a d-wide tensor
    assert report.split_fixed_error is not None  # F.pad pads the feature dim
    assert report.rows_before_truncation == 13 * 32  # ceil(200 / 16) windows of 32 rows: ~2n
    assert report.misaligned_row_fraction > 0.5
    assert report.padded_key_weight > 0.1  # zero padding keys are not masked
    assert report.max_abs_err_vs_band > 0.1 and report.max_abs_err_vs_overlap > 0.1


def test_seed_summed_local_global_weights_sum_to_two():
    report = run_seed_summed_local_global(t=96, window=16, n_global=3)
    assert abs(report.weight_sum_min - 2) < 1e-5 and abs(report.weight_sum_max - 2) < 1e-5
    assert report.union_weight_sum_max_dev < 1e-5
    assert report.rel_err > 0.5
