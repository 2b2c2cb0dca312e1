"""benchmarks/conv_algorithms.py: the algorithm read from a row's kernels, the held-out
rule and the command line, on small fake data (the shared measurements are not needed).
No timings or accuracies are asserted."""

import pandas as pd
import pytest

from . import load_benchmark


@pytest.fixture(scope="module")
def ca():
    return load_benchmark("conv_algorithms")


# Kernel lists as NeuSight's conv rows give them (abridged to the kernels' names).
@pytest.mark.parametrize("kernels, algorithm", [
    ((";void cudnn::winograd_nonfused::winogradforwarddata4x4<float, float>(...);volta_sgemm_64x64_nn;"
     "void cudnn::winograd_nonfused::winogradforwardoutput4x4<float, float>(...)"), "Winograd 4x4 non-fused"),
    (";cudnn_infer_volta_scudnn_winograd_128x128_ldg1_ldg4_relu_tile148t_nt_v1", "Winograd fused"),
    (";void cask_cudnn_infer::computeoffsetskernel<false, false>(...);cudnn_infer_volta_scudnn_128x128_relu_small_nn_v1",
     "implicit GEMM"),
    (";void implicit_convolve_sgemm<float, float, 128, 5, 5, 3, 3, 3, 1, false, false, true>(...)", "implicit GEMM"),
    ((";void flip_filter<float, float>(...);void fft2d_r2c_16x16<float>(...);ampere_gcgemm_64x64_tn;"
     "void fft2d_c2r_16x16<float, false>(...)"), "FFT"),
])
def test_algorithm_read_from_the_kernels(ca, kernels, algorithm):
    assert ca.algorithm_of(kernels) == algorithm


def fake_data(root, rows=10, **overrides):
    """A data folder with one GPU's conv rows: 3x3, stride 1, padding 1, small shapes."""
    (root / "labels").mkdir(parents=True)
    folder = root / "per_op" / "train" / "conv"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({
        "OPName": "conv", "Latency": [0.05 + 0.01 * i for i in range(rows)],
        "Kernels": ";volta_sgemm_64x64_nn;winograd_nonfused", "B": [1 + i % 3 for i in range(rows)],
        "Input_Channel": 8, "Output_Channel": 16, "Kernel_Szie": 3, "Input_Size": [8 + i for i in range(rows)],
        "Stride": 1, "Padding": 1,
    }).assign(**overrides)
    frame.to_csv(folder / "Tesla_V100-PCIE-32GB.csv.gz", index=False)
    return root


def test_every_fifth_row_is_held_out(ca, tmp_path):
    rows = ca.read_conv(fake_data(tmp_path), "Tesla_V100-PCIE-32GB")
    assert rows.index[rows["held_out"]].tolist() == [4, 9]
    assert rows["position"].tolist() == list(range(10))  # the harness drifts along the file
    assert rows["measured_s"].iloc[0] == pytest.approx(0.05e-3)  # the file has milliseconds


def test_the_command_prints_both_splits(ca, tmp_path, capsys):
    assert ca.main(["--data", str(fake_data(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "held out" in out and "Tesla_V100-PCIE-32GB" in out and "nn.Conv2d 3x3" in out


def test_rows_other_than_3x3_stride_1_are_refused(ca, tmp_path, capsys):
    assert ca.main(["--data", str(fake_data(tmp_path, Stride=2))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Tesla_V100-PCIE-32GB.csv.gz" in err and len(err.splitlines()) == 1


def test_the_drift_is_the_weighted_median_slope(ca):
    # Residuals (measured - offset - predicted) of 2, 4 and 9 us at positions 1, 2, 3
    # with measured 10, 10 and 30 us: slopes 2, 2 and 3 us a row, weights position /
    # measured = 0.1, 0.2 and 0.1 of 0.4 in all; half the weight (0.2) is reached within
    # the two slopes of 2 us: the drift is 2 us a row. The row at position 0 has no slope.
    rows = pd.DataFrame({"position": [0, 1, 2, 3], "measured_s": [5e-6, 10e-6, 10e-6, 30e-6]})
    predicted = [1e-6, 5e-6, 3e-6, 18e-6]
    assert ca.fit_drift(rows, predicted, offset_s=3e-6) == pytest.approx(2e-6)


def test_update_needs_fit(ca, tmp_path, capsys):
    assert ca.main(["--data", str(fake_data(tmp_path)), "--update"]) == 2
    assert "--update needs --fit" in capsys.readouterr().err


def test_a_missing_folder_is_one_line(ca, tmp_path, capsys):
    assert ca.main(["--data", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
