"""roofline.calibrate: the quick calibration writes a spec that loads; the curve fitting
and cache discovery on hand-made inputs; the working-set level choice it opts into."""

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from roofline.calibrate import (
    calibrate,
    cpu_caches,
    find_plateaus,
    fit_fresh_write,
    fit_levels,
    write_calibrated_spec,
)
from roofline.cli import main
from roofline.errors import RooflineError
from roofline.hardware import CalibrationRecord, Efficiency, FreshWrite, HardwareSpec, MemoryLevel, load_hardware
from roofline.predict import WORKING_SET, default_level, fresh_write_s, predict_frame


THREADS_BEFORE = torch.get_num_threads()


@pytest.fixture(scope="module")
def quick():
    # One thread: on a shared machine a multi-threaded op waits for a descheduled worker.
    return calibrate(quick=True, threads=1)


def test_quick_calibration_writes_a_spec_that_loads(quick, tmp_path):
    path = tmp_path / "local-test.yaml"
    spec = write_calibrated_spec(quick, path)
    again = load_hardware(path)
    assert again == spec
    assert spec.name == "local-test" and spec.kind == "cpu"
    assert spec.memory[-1].name == "dram" and len(spec.memory) >= 2
    bandwidths = [level.bandwidth for level in spec.memory]
    assert bandwidths == sorted(bandwidths, reverse=True)
    assert all(0 < bw < 100e12 for bw in bandwidths)
    assert 0 < spec.overhead_s < 1e-3
    assert spec.matrix_flops["fp32"] > 0 and spec.vector_flops["fp32"] > 0
    assert 0 < spec.efficiency.matrix <= 1
    measured = spec.measured
    assert measured.tool == "roofline calibrate" and measured.mode == "quick"
    assert measured.threads == 1 and measured.memory_level == WORKING_SET
    assert measured.date[:4].isdigit() and measured.bandwidth_curve
    # every suite op and short-loop family (kernel variants such as amax@outer included)
    # carries the aten ops it stands for, resolved at calibration time
    assert {row.op for row in measured.op_suite} | {cost.op for cost in measured.loop_costs} == \
        {suite_op.name for suite_op in measured.op_suite_ops}
    assert dict((s.name, s.aten_ops) for s in measured.op_suite_ops)["exp"] == ("aten.exp", "aten.exp_")
    assert default_level(spec) == WORKING_SET
    # few-row linear layers on a cold weight, at the quick mode's rows (1 and 4)
    assert [(r.depth, r.rows) for r in measured.gemm_rows] == [(512, 1), (512, 4), (4096, 1), (4096, 4)]
    assert all(0 < r.flops_per_s <= spec.matrix_flops["fp32"] * 1.5 for r in measured.gemm_rows)
    assert measured.isa and measured.isa.startswith(torch.backends.cpu.get_cpu_capability())
    # quick mode's convolutions: depthwise 3x3 at strides 1 and 2 over 3 sizes (9 taps each),
    # grouped 3x3 of 4 and 32 channels per group (reductions 36 and 288) at 2 planes
    points = sorted((r.kind, r.stride, r.reduction) for r in measured.conv_rates)
    assert points == [("depthwise", 1, 9)] * 3 + [("depthwise", 2, 9)] * 3 + [("grouped", 1, 36)] * 2 + [("grouped", 1, 288)] * 2
    assert all(0 < r.flops_per_s <= spec.matrix_flops["fp32"] * 1.5 for r in measured.conv_rates)
    # quick mode's flash attention calls: two decodes, four self-attentions (heads, q_len, kv_len, head_dim)
    assert [(r.heads, r.q_len, r.kv_len, r.head_dim) for r in measured.sdpa_times] == [
        (12, 1, 512, 64), (4, 1, 2048, 128), (4, 32, 32, 64), (8, 160, 160, 64), (4, 256, 256, 64), (2, 1024, 1024, 64)]
    # each no faster than its two products (4 x heads x q_len x kv_len x head_dim FLOP) at 1.5x the peak
    assert all(r.seconds >= 4 * r.heads * r.q_len * r.kv_len * r.head_dim / (1.5 * spec.matrix_flops["fp32"])
               for r in measured.sdpa_times)
    assert "quick mode" in spec.source
    if quick.load_average is not None:  # the OS says (Linux): recorded with the figures
        assert measured.load_average == round(quick.load_average, 2)


def test_quick_calibration_is_quick_and_restores_threads(quick):
    assert quick.duration_s < 60  # seconds on an idle core; the suite's machine is shared
    assert quick.threads == 1
    assert torch.get_num_threads() == THREADS_BEFORE  # calibrate(threads=1) put it back
    assert set(quick.curve["kernel"]) == {"add", "add_out"}
    assert quick.curve["working_set_bytes"].min() == 2**14


def test_cli_calibrate(tmp_path, capsys):
    out = tmp_path / "cli-cpu.yaml"
    assert main(["calibrate", "--quick", "--threads", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote" in text and "Memory levels" in text
    assert load_hardware(out).name == "cli-cpu"


def test_calibrate_rejects_bad_arguments():
    with pytest.raises(RooflineError, match="not supported"):
        calibrate("mps", quick=True)
    with pytest.raises(RooflineError, match="threads"):
        calibrate(quick=True, threads=0)
    with pytest.raises(RooflineError, match="rounds must be >= 1, got 0"):
        calibrate(quick=True, rounds=0)
    if not torch.cuda.is_available():
        with pytest.raises(RooflineError, match="CUDA is not available"):
            calibrate("cuda", quick=True)


def test_rounds_interleave_every_probe_that_many_times(monkeypatch):
    import roofline.calibrate as package

    seen = []
    original = package.interleaved_rounds

    def counting(probes, keys, rounds):
        calls = {name: 0 for name in probes}

        def counted(name):
            def run():
                calls[name] += 1
                return probes[name]()
            return run

        out = original({name: counted(name) for name in probes}, keys, rounds)
        seen.append(calls)
        return out

    monkeypatch.setattr(package, "interleaved_rounds", counting)
    result = calibrate(quick=True, threads=1, rounds=2)
    # two groups of probes (overheads; curve, peaks and suites), each probe run twice
    assert len(seen) == 2 and all(count == 2 for calls in seen for count in calls.values())
    assert {"overhead", "curve", "gemm", "efficiency"} <= {name for calls in seen for name in calls}
    assert result.rounds == 2 and "quick mode, 2 rounds, 1 threads" in result.to_spec().source


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_quick_calibration(tmp_path):
    result = calibrate("cuda", quick=True)
    spec = write_calibrated_spec(result, tmp_path / "local-gpu.yaml")
    assert spec.kind == "gpu" and spec.memory[0].name == "l2"
    assert {"tf32", "bf16", "fp16"} <= set(spec.matrix_flops)
    assert spec.host_link_bw > 0


# ------------------------------------------------------------------ curve fitting


def test_find_plateaus_by_hand():
    sizes = [1, 2, 4, 8, 16, 32, 64, 128]
    bws = [100, 100, 98, 50, 49, 51, 10, 10]
    assert find_plateaus(sizes, bws) == [(1, 4, 100), (8, 32, 50), (64, 128, 10)]
    # one low point is an outlier, not a level
    assert find_plateaus([1, 2, 4, 8, 16], [100, 100, 40, 100, 100]) == [(1, 16, 100)]
    assert find_plateaus([], []) == []


def test_fit_levels_by_hand():
    curve = pd.DataFrame(
        {
            "working_set_bytes": [2**k for k in range(16, 30)],
            # 64K..512K in l2 (1 MiB), 2M..8M in l3 (32 MiB), >= 128M in dram
            "bandwidth": [200, 180, 160, 150, 120, 90, 60, 50, 40, 30, 20, 10, 12, 11],
        }
    )
    levels = fit_levels(curve, [("l2", 2**20), ("l3", 2**25)], dram_capacity=1e10)
    assert list(levels["level"]) == ["l2", "l3", "dram"]
    assert list(levels["capacity"]) == [2**20, 2**25, 1e10]
    # l2: points up to 512 KiB -> median(200, 180, 160, 150) = 170
    # l3: points in (2 MiB, 16 MiB] -> 4M, 8M, 16M: median(60, 50, 40) = 50
    # dram: points >= 128 MiB -> 128M, 256M, 512M: median(10, 12, 11) = 11
    assert list(levels["bandwidth"]) == [170, 50, 11]
    assert list(levels["points"]) == [4, 3, 3]


def test_fit_levels_raises_an_inner_level_below_an_outer_one():
    curve = pd.DataFrame({"working_set_bytes": [2**17, 2**22, 2**28], "bandwidth": [5.0, 80.0, 10.0]})
    levels = fit_levels(curve, [("l2", 2**20), ("l3", 2**25)], dram_capacity=1e10)
    assert list(levels["bandwidth"]) == [80.0, 80.0, 10.0]


def _fake_sysfs(root: Path, cpus: int, caches: list[tuple[int, str, str, str]]) -> None:
    """caches: (level, type, size, shared_cpu_list template with {cpu})."""
    for cpu in range(cpus):
        for i, (level, kind, size, shared) in enumerate(caches):
            d = root / f"cpu{cpu}" / "cache" / f"index{i}"
            d.mkdir(parents=True)
            (d / "level").write_text(f"{level}\n")
            (d / "type").write_text(f"{kind}\n")
            (d / "size").write_text(f"{size}\n")
            (d / "shared_cpu_list").write_text(shared.format(cpu=cpu) + "\n")


def test_cpu_caches_from_a_sysfs_tree(tmp_path):
    _fake_sysfs(tmp_path, 4, [(1, "Data", "48K", "{cpu}"), (1, "Instruction", "32K", "{cpu}"),
                              (2, "Unified", "2048K", "{cpu}"), (3, "Unified", "32M", "0-3")])
    four = cpu_caches(threads=4, root=tmp_path, cpus=[0, 1, 2, 3])
    assert [(c.level, c.size_bytes, c.instances, c.capacity) for c in four] == [
        (1, 48 * 1024, 4, 4 * 48 * 1024), (2, 2 * 2**20, 4, 8 * 2**20), (3, 32 * 2**20, 1, 32 * 2**20)]
    two = cpu_caches(threads=2, root=tmp_path, cpus=[0, 1, 2, 3])
    assert [c.capacity for c in two] == [2 * 48 * 1024, 4 * 2**20, 32 * 2**20]
    assert cpu_caches(threads=2, root=tmp_path / "nothing", cpus=[0]) == []


# ------------------------------------------------------------------ working-set level choice


def _spec(measured):
    return HardwareSpec(
        name="toy", display_name="toy", kind="cpu", vendor="x", source="test",
        matrix_flops={}, vector_flops={"fp32": 1e12},
        memory=(MemoryLevel("l2", 100e9, 1e6), MemoryLevel("l3", 50e9, 32e6), MemoryLevel("dram", 10e9, 1e10)),
        host_link_bw=10e9, peer_link_bw=None, overhead_s=0.0,
        efficiency=Efficiency(1.0, 1.0, 1.0), measured=measured)


def _ops(nbytes):
    n = len(nbytes)
    return pd.DataFrame({"flops": [0.0] * n, "bytes": nbytes, "unit": ["vector"] * n, "dtype": ["fp32"] * n,
                         "category": ["Element-wise"] * n, "traffic": ["memory"] * n, "supported": [True] * n})


def test_working_set_level_choice_by_hand():
    nbytes = [0.5e6, 1e6, 2e6, 32e6, 1e9]
    calibrated = predict_frame(_ops(nbytes), _spec(CalibrationRecord(memory_level=WORKING_SET)))
    # 0.5 MB and 1 MB fit l2 (<= 1 MB), 2 MB and 32 MB fit l3, 1 GB goes to dram
    assert list(calibrated["bandwidth"]) == [100e9, 100e9, 50e9, 50e9, 10e9]
    assert list(calibrated["predicted_s"]) == pytest.approx([0.5e6 / 100e9, 1e6 / 100e9, 2e6 / 50e9, 32e6 / 50e9, 1e9 / 10e9])
    datasheet = predict_frame(_ops(nbytes), _spec(None))  # no opt-in: everything from DRAM
    assert list(datasheet["bandwidth"]) == [10e9] * 5
    explicit = predict_frame(_ops(nbytes), _spec(None), level=WORKING_SET)
    assert list(explicit["bandwidth"]) == list(calibrated["bandwidth"])


def test_views_cost_what_the_calibration_measured():
    ops = _ops([0.0, 4e3])
    ops.loc[0, "unit"] = "none"  # a view: no work
    datasheet = predict_frame(ops, _spec(None))
    assert datasheet.loc[0, "predicted_s"] == 0.0 and datasheet.loc[0, "bound"] == "none"
    calibrated = predict_frame(ops, _spec(CalibrationRecord(view_overhead_s=1.5e-6)))
    assert calibrated.loc[0, "predicted_s"] == pytest.approx(1.5e-6) and calibrated.loc[0, "bound"] == "none"
    assert calibrated.loc[1, "predicted_s"] == pytest.approx(4e3 / 10e9)  # 4 kB from DRAM, overhead 0


def test_quick_calibration_measures_view_overhead(quick):
    spec = quick.to_spec()
    assert 0 < spec.measured.view_overhead_s < 1e-4
    # A module call is Python: more than a bare function call (~0.05 us), far less than
    # an op's dispatch on a tensor of a million elements.
    assert 5e-8 < spec.measured.module_call_s < 1e-4
    assert set(quick.suite["bound"]) <= {"compute", "memory"} and len(quick.suite) >= 10
    assert 0.05 <= spec.efficiency.vector <= 1 and 0.05 <= spec.efficiency.memory <= 1


def test_fit_fresh_write_by_hand():
    # Working sets 12, 24, 48, 96 MB; reused-buffer adds run 1, 2, 4, 8 ms (12 GB/s); the
    # fresh-output adds cost the same up to 24 MB, then 2 ms more at 48 MB and 4 ms more
    # at 96 MB (outputs of 16 and 32 MB): 8 GB/s of page faults from 16 MB outputs up.
    sizes = [12e6, 24e6, 48e6, 96e6]
    reuse = [1e-3, 2e-3, 4e-3, 8e-3]
    fresh = [1e-3, 2e-3, 6e-3, 12e-3]
    rows = [(k, s, s, t, s / t, True) for s, t in zip(sizes, reuse) for k in ["add_out"]]
    rows += [("add", s, s, t, s / t, True) for s, t in zip(sizes, fresh)]
    curve = pd.DataFrame(rows, columns=["kernel", "working_set_bytes", "bytes", "seconds", "bandwidth", "resolved"])
    fit = fit_fresh_write(curve)
    assert fit["min_bytes"] == pytest.approx(16e6)
    assert fit["bandwidth"] == pytest.approx(8e9)  # 16 MB / 2 ms and 32 MB / 4 ms
    same = curve.copy()
    same.loc[same["kernel"] == "add", "seconds"] = reuse
    same["bandwidth"] = same["bytes"] / same["seconds"]
    assert fit_fresh_write(same) is None  # fresh outputs cost nothing extra: no term


def test_fresh_write_cost_by_hand():
    ops = _ops([3e6, 96e6, 96e6])
    ops["bytes_written"] = [1e6, 32e6, 32e6]
    ops["op"] = ["aten.add", "aten.add", "aten.add_"]
    spec = _spec(CalibrationRecord(fresh_write=FreshWrite(min_bytes=16e6, bandwidth=8e9)))
    extra = fresh_write_s(ops, spec)
    assert list(extra) == pytest.approx([0.0, 32e6 / 8e9, 0.0])  # small output; in place
    predicted = predict_frame(ops, spec)
    assert predicted.loc[1, "predicted_s"] == pytest.approx(96e6 / 10e9 + 32e6 / 8e9)
    assert list(fresh_write_s(ops, _spec(None))) == [0.0, 0.0, 0.0]


def test_cpu_isa_names_the_matrix_extensions_from_cpuinfo(tmp_path):
    from roofline.calibrate.machine import cpu_isa

    capability = torch.backends.cpu.get_cpu_capability()
    genoa = tmp_path / "genoa"
    genoa.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 fma\n")
    older = tmp_path / "older"
    older.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma\n")
    assert cpu_isa(genoa) == f"{capability} (avx512_bf16)"
    assert cpu_isa(older) == capability
    assert cpu_isa(tmp_path / "missing") == capability


def test_fit_levels_lowers_a_cache_to_where_the_curve_falls():
    # A last-level cache the OS calls 32 MiB that streams at 60 GB/s only up to 12 MB
    # (a virtual machine's share), then 20 and 18 GB/s, DRAM 15 GB/s.
    sizes = [1e6, 2e6, 4e6, 8e6, 12e6, 16e6, 24e6, 32e6, 64e6, 128e6, 256e6]
    bws = [60e9, 60e9, 60e9, 60e9, 60e9, 20e9, 18e9, 16e9, 15e9, 15e9, 15e9]
    curve = pd.DataFrame({"working_set_bytes": sizes, "bandwidth": bws})
    levels = fit_levels(curve, [("l2", 512e3), ("l3", 2**25)], dram_capacity=1e10)
    # l3 at the OS's capacity: points in (1 MB, 16 MiB] -> 2, 4, 8, 12, 16 MB: median 60 GB/s;
    # DRAM: points >= 128 MiB -> 256 MB: 15 GB/s. The curve crosses sqrt(60 x 15) = 30 GB/s
    # between 12 MB (60) and 16 MB (20), log-log: 12 MB x (16/12)^(ln(60/30) / ln(60/20)).
    knee = 12e6 * (16 / 12) ** (math.log(2) / math.log(3))  # 14.39 MB
    assert levels["capacity"].iloc[1] == pytest.approx(knee)
    # Refitted there: l3 over (1 MB, 7.19 MB] -> 2, 4 MB: 60 GB/s; DRAM over sizes >= 4 x
    # 14.39 MB -> 64, 128, 256 MB: 15 GB/s. l2 (512 kB) has no point of its own below
    # 256 kB: the nearest to half its capacity (1 MB, 60 GB/s); the next level is no step
    # down from it, so it keeps the OS's capacity.
    assert list(levels["capacity"]) == [512e3, pytest.approx(knee), 1e10]
    assert list(levels["bandwidth"]) == [60e9, 60e9, 15e9]
    # A cache whose curve falls only past the OS's capacity keeps that capacity.
    late = pd.DataFrame({"working_set_bytes": sizes, "bandwidth": [60e9] * 8 + [15e9] * 3})
    assert fit_levels(late, [("l2", 512e3), ("l3", 2**25)], 1e10)["capacity"].iloc[1] == 2**25


def test_fallback_efficiencies_leave_out_own_rate_families():
    from roofline.calibrate.fit import fallback_efficiencies

    # At the largest size: three streaming families (memory-bound: 0.6, 0.7, 0.8), one
    # compute-bound norm (0.9), and two transcendental ones the counts call memory-bound
    # (0.1, 0.05: their kernels' cost per element, not a stream's).
    names = ["add", "mul", "cat", "layer_norm", "tanh", "log"]
    bounds = ["memory", "memory", "memory", "compute", "memory", "memory"]
    curves = pd.DataFrame({"op": names, "dispatch_s": 1e-6, "efficiency": [0.6, 0.7, 0.8, 0.9, 0.1, 0.05]})
    suite = pd.DataFrame({"op": names, "elements": 2**20, "bound": bounds, "fraction": 0.5})
    # Without them the memory median is that of 0.6, 0.7, 0.8: 0.7; with them that of
    # 0.05, 0.1, 0.6, 0.7, 0.8: 0.6. The compute median is the norm's 0.9 either way.
    assert fallback_efficiencies(curves, suite, ("tanh", "log")) == (pytest.approx(0.7), pytest.approx(0.9))
    assert fallback_efficiencies(curves, suite) == (pytest.approx(0.6), pytest.approx(0.9))
