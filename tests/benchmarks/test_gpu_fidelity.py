"""benchmarks/gpu_fidelity.py: the kernels it builds, batched against isolated analysis,
the published-error parser, the plain roofline and the command line, on small fake data
(the shared measurements are not needed). No timings are asserted."""

import gzip
from pathlib import Path

import pandas as pd
import pytest

from . import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gf():
    return load_benchmark("gpu_fidelity")


def working_ops(analysis):
    ops = analysis.ops
    return ops[ops["flops"].fillna(0) + ops["bytes"].fillna(0) > 0]


@pytest.mark.parametrize(
    "op, shape, aten, flops",
    [
        ("linear", (2, 3, 50, 7), "aten.addmm", 2 * 2 * 3 * 50 * 7),
        ("bmm", (2, 3, 5, 7), "aten.bmm", 2 * 2 * 3 * 5 * 7),
        # 3x3 input, 4x4 kernel, padding 1: a 2x2 output
        ("conv", (1, 3, 8, 4, 3, 1, 1), "aten.convolution", 2 * 1 * 8 * (2 * 2) * 3 * (4 * 4)),
    ],
)
def test_matmul_and_conv_kernels_do_their_multiply_adds(gf, op, shape, aten, flops):
    spec = gf.load_spec("t4")
    ops = working_ops(gf.analyze_shapes([(op, shape)], spec))
    assert ops["op"].tolist() == [aten]
    assert flops <= ops["flops"].iloc[0] <= flops * 1.01  # a linear's bias adds B*M*K (1% here)


@pytest.mark.parametrize("op", ["add", "mul", "div", "pow"])
def test_binary_element_wise_reads_two_tensors(gf, op):
    ops = working_ops(gf.analyze_shapes([(op, (64, 128))], gf.load_spec("t4")))
    assert len(ops) == 1 and ops["bytes"].iloc[0] == 3 * 64 * 128 * 4  # two fp32 in, one out


@pytest.mark.parametrize("op", ["addu", "mulu", "divu", "powu", "gelu", "relu", "tanh", "softmax"])
def test_one_tensor_ops_read_one_tensor(gf, op):
    ops = working_ops(gf.analyze_shapes([(op, (64, 128))], gf.load_spec("t4")))
    assert len(ops) == 1 and ops["bytes"].iloc[0] == 2 * 64 * 128 * 4


def test_every_measured_op_has_a_builder(gf):
    for kind, ops in gf.OP_KINDS.items():
        for op in ops:
            shape = (1, 2, 3, 3, 5, 1, 0) if kind == "conv" else (2, 3, 4, 5)[: len(gf.SHAPE_COLUMNS[kind])]
            gf.build_op(op, shape)


def test_batched_prediction_equals_each_kernel_analysed_alone(gf):
    spec = gf.load_spec("a100-pcie")
    keys = [("linear", (1, 64, 256, 512)), ("bmm", (4, 32, 16, 8)), ("ln", (128, 1024)), ("addu", (3, 7))]
    batched = gf.predict_chunk(keys, {"a100-pcie": spec}).set_index(["op", "shape"])
    for key in keys:
        alone = gf.per_shape(gf.analyze_shapes([key], spec), 1)["predicted_s"].iloc[0]
        assert batched.loc[key, "predicted_s"] == pytest.approx(alone, rel=1e-12)


def test_plain_roofline_is_bytes_over_datasheet_bandwidth(gf):
    spec = gf.load_spec("t4")
    analysis = gf.analyze_shapes([("relu", (1 << 14, 1 << 10))], spec)
    plain = gf.per_shape(analysis.with_hw(gf.plain_spec(spec)), 1)["predicted_s"].iloc[0]
    assert plain == pytest.approx(2 * (1 << 24) * 4 / spec.dram.bandwidth)
    model = gf.per_shape(analysis.with_hw(spec), 1)["predicted_s"].iloc[0]
    assert model == pytest.approx(plain / spec.efficiency.memory + spec.overhead_s)


PUBLISHED = """\
Tesla_T4
Model,BERT-Large,,GPT2-Large,
Batch,8,16,4,8
Roofline,40.2,44.1,48.1,
NeuSight,35.3,32.5,4.4,

NVIDIA_L4
Model,BERT-Large,,GPT2-Large,
Batch,8,16,4,8
NeuSight,14.6,20.4,11.0,10.3
"""


def test_published_errors_are_read_per_gpu_model_and_batch(gf, tmp_path):
    (tmp_path / "published_errors").mkdir()
    (tmp_path / "published_errors" / "nvidia_inf.csv").write_text(PUBLISHED)
    table = gf.load_published(tmp_path).set_index(["gpu", "model", "batch", "method"])["error"]
    assert table[("Tesla_T4", "BERT-Large", 16, "NeuSight")] == pytest.approx(0.325)
    assert table[("Tesla_T4", "GPT2-Large", 4, "Roofline")] == pytest.approx(0.481)
    assert ("Tesla_T4", "GPT2-Large", 8, "NeuSight") not in table.index  # blank: not published
    assert table[("NVIDIA_L4", "GPT2-Large", 8, "NeuSight")] == pytest.approx(0.103)


def fake_data(root: Path) -> Path:
    """A gpu-measurements folder with a few element-wise rows on a T4 and no models."""
    data = root / "neusight"
    (data / "per_op" / "test").mkdir(parents=True)
    (data / "labels" / "Tesla_T4").mkdir(parents=True)
    rows = pd.DataFrame({"OPName": ["add", "relu"], "Latency": [0.5, 0.3], "Device": ["Tesla T4"] * 2,
                         "B": [16384, 8192], "H": [1024, 2048]})
    with gzip.open(data / "per_op" / "test" / "elem.csv.gz", "wt") as handle:
        rows.to_csv(handle, index=False)
    return root


def test_a_run_on_fake_data_writes_the_report(gf, tmp_path):
    data = fake_data(tmp_path / "measurements")
    out = tmp_path / "report.md"
    assert gf.main(["--data", str(data), "--gpus", "t4", "--no-models", "--write", str(out)]) == 0
    text = out.read_text()
    assert "**With the efficiency stage.**" in text and "| Tesla_T4 | elem | 2 |" in text
    assert "Rows used: all 2 (2 test, 0 train)" in text


@pytest.mark.parametrize("argv", [["--data", "{missing}"], ["--data", "{empty}"], ["--gpus", "h100"],
                                  ["--ops", "matmul"], ["--limit", "0"]])
def test_bad_arguments_are_one_line_and_exit_code_2(gf, tmp_path, capsys, argv):
    (tmp_path / "empty").mkdir()
    data = ["--data", str(fake_data(tmp_path / "ok"))] if argv[0] != "--data" else []
    argv = [a.format(missing=tmp_path / "missing", empty=tmp_path / "empty") for a in argv]
    assert gf.main(argv + data + ["--no-models"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpu_fidelity: ") and err.count("\n") == 1


def test_single_kernels_are_compared_as_the_harness_timed_them(gf):
    """A row predicted at 5 us on a GPU whose harness adds 13 us and never takes less
    than 27 us is compared at 27 us; one predicted at 100 us at 113 us."""
    import pandas as pd

    harness = gf.harness_table(["NVIDIA_A100-PCIE-40GB"])
    if not harness:
        pytest.skip("benchmarks/neusight_harness.json not fitted")
    offset, floor = harness["NVIDIA_A100-PCIE-40GB"]
    rows = pd.DataFrame({"gpu": ["NVIDIA_A100-PCIE-40GB"] * 2, "predicted_s": [5e-6, 100e-6]})
    timed = gf.timed_by_harness(rows)
    assert timed[0] == max(floor, offset + 5e-6) and timed[1] == max(floor, offset + 100e-6)
    assert 5e-6 < offset < 50e-6 and offset < floor < 100e-6  # microseconds, as the data shows


def test_conv_rows_carry_the_harness_drift_along_their_file(gf):
    """A conv row 1000 rows into its file is timed with drift_s_per_row x 1000 more than
    the harness offset; the first row and rows of other kinds get none."""
    import json

    import pandas as pd

    if not gf.CONV_HARNESS_FILE.exists():
        pytest.skip("benchmarks/neusight_conv_harness.json not fitted")
    slope = json.loads(gf.CONV_HARNESS_FILE.read_text())["gpus"]["Tesla_V100-PCIE-32GB"]["drift_s_per_row"]
    assert 1e-9 < slope < 1e-6  # tens of nanoseconds a row: about 60 us over a 1000-row file
    rows = pd.DataFrame({"gpu": ["Tesla_V100-PCIE-32GB"] * 3, "kind": ["conv", "conv", "linear"],
                         "position": [0, 1000, 1000]})
    assert gf.conv_drift(rows).tolist() == [0.0, slope * 1000, 0.0]
