"""roofline.hardware's checks on spec files: every bad file (missing or unknown fields,
wrong types, figures no device has, bad units, broken YAML) is refused with one
HardwareSpecError line that names the file and the field.
"""

import copy
from pathlib import Path

import pytest
import yaml

from roofline.errors import HardwareSpecError
from roofline.hardware import load_hardware


def base_spec() -> dict:
    """A valid spec written out by hand (A100-like), for the bad-file tests to break."""
    return {
        "name": "test-gpu",
        "display_name": "Test GPU",
        "kind": "gpu",
        "vendor": "nvidia",
        "source": "hand-written test fixture",
        "peak_flops": {
            "matrix": {"tf32": "156 TFLOP/s", "bf16": "312 TFLOP/s", "int8": "624 TOP/s"},
            "vector": {"fp32": "19.5 TFLOP/s"},
        },
        "memory": {
            "l2": {"bandwidth": "5.4 TB/s", "capacity": "40 MB"},
            "dram": {"bandwidth": "2.039 TB/s", "capacity": "80 GB"},
        },
        "links": {"host": "64 GB/s", "peer": "600 GB/s"},
        "overhead": {"per_op": "4 us"},
        "efficiency": {"matrix": 0.8, "vector": 0.7, "memory": 0.85},
    }


def write(tmp_path, data, name="bad.yaml") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_error(path) -> str:
    with pytest.raises(HardwareSpecError) as info:
        load_hardware(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message  # names the file
    assert "\n" not in message and "Traceback" not in message
    return message


def test_base_spec_is_valid(tmp_path):
    spec = load_hardware(write(tmp_path, base_spec(), "ok.yaml"))
    assert spec.peak_flops("bf16", "matrix") == 312e12
    assert spec.peak_flops("fp32", "matrix") == 19.5e12
    # a path given as a str works too
    assert load_hardware(str(tmp_path / "ok.yaml")) == spec


def test_missing_field(tmp_path):
    data = base_spec()
    del data["memory"]["dram"]["bandwidth"]
    message = load_error(write(tmp_path, data))
    assert "memory.dram.bandwidth: missing required field" in message


def test_missing_top_level_field(tmp_path):
    data = base_spec()
    del data["source"]
    assert "source: missing required field" in load_error(write(tmp_path, data))


def test_wrong_type(tmp_path):
    data = base_spec()
    data["efficiency"]["matrix"] = "high"
    message = load_error(write(tmp_path, data))
    assert 'efficiency.matrix: expected a number, got "high"' in message


def test_wrong_type_mapping(tmp_path):
    data = base_spec()
    data["memory"] = ["l2", "dram"]
    assert "memory: expected a mapping, got a list" in load_error(write(tmp_path, data))


def test_wrong_kind(tmp_path):
    data = base_spec()
    data["kind"] = "tpu"
    assert "kind: expected 'gpu' or 'cpu'" in load_error(write(tmp_path, data))


def test_unknown_dtype(tmp_path):
    data = base_spec()
    data["peak_flops"]["matrix"]["bf61"] = "312 TFLOP/s"
    message = load_error(write(tmp_path, data))
    assert "peak_flops.matrix.bf61: unknown dtype key" in message
    assert "bf16" in message  # says what is expected


def test_unknown_key(tmp_path):
    data = base_spec()
    data["memory"]["dram"]["latency"] = "500 ns"
    message = load_error(write(tmp_path, data))
    assert "memory.dram.latency: unknown key" in message
    assert "bandwidth, capacity" in message


def test_unknown_top_level_key(tmp_path):
    data = base_spec()
    data["tdp"] = "400 W"
    assert "tdp: unknown key" in load_error(write(tmp_path, data))


def test_unknown_memory_level(tmp_path):
    data = base_spec()
    data["memory"] = {"l2": data["memory"]["l2"], "hbm": data["memory"]["dram"]}
    message = load_error(write(tmp_path, data))
    assert "memory.hbm: unknown memory level" in message


def test_dram_must_be_last_and_a_cache_present(tmp_path):
    data = base_spec()
    data["memory"] = {"dram": data["memory"]["dram"], "l2": data["memory"]["l2"]}
    assert "memory.dram: must be the last level" in load_error(write(tmp_path, data))
    data = base_spec()
    del data["memory"]["l2"]
    assert "memory: expected dram and at least one cache level" in load_error(
        write(tmp_path, data)
    )


def test_missing_vector_fp32(tmp_path):
    data = base_spec()
    data["peak_flops"]["vector"] = {"fp64": "9.7 TFLOP/s"}
    assert "peak_flops.vector.fp32: missing" in load_error(write(tmp_path, data))


@pytest.mark.parametrize(
    "field, value",
    [
        ("memory.dram.capacity", 0),
        ("memory.dram.capacity", "-80 GB"),
        ("peak_flops.vector.fp32", "0 TFLOP/s"),
        ("overhead.per_op", -1),
    ],
)
def test_non_positive(tmp_path, field, value):
    data = base_spec()
    *parents, leaf = field.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value
    message = load_error(write(tmp_path, data))
    assert f"{field}: expected" in message and "positive" in message


@pytest.mark.parametrize("value", [0, 1.5, -0.1])
def test_efficiency_out_of_range(tmp_path, value):
    data = base_spec()
    data["efficiency"]["memory"] = value
    message = load_error(write(tmp_path, data))
    assert "efficiency.memory: expected a fraction in (0, 1]" in message


def test_bandwidth_above_100_tb_s(tmp_path):
    data = base_spec()
    data["memory"]["l2"]["bandwidth"] = "5400 TB/s"  # a 1000x slip
    message = load_error(write(tmp_path, data))
    assert "memory.l2.bandwidth: 5400 TB/s is above 100 TB/s" in message


def test_link_bandwidth_above_100_tb_s(tmp_path):
    data = base_spec()
    data["links"]["peer"] = "600 TB/s"
    assert "links.peer: 600 TB/s is above 100 TB/s" in load_error(write(tmp_path, data))


def test_peak_above_20_pflop_s(tmp_path):
    data = base_spec()
    data["peak_flops"]["vector"]["fp32"] = "19500 PFLOP/s"
    message = load_error(write(tmp_path, data))
    assert "peak_flops.vector.fp32:" in message and "above 20000 TFLOP/s" in message


def test_sparse_looking_bf16_peak(tmp_path):
    data = base_spec()
    data["peak_flops"]["matrix"]["bf16"] = "624 TFLOP/s"  # A100's 2:4-sparse figure
    message = load_error(write(tmp_path, data))
    # 624 / 156 = 4.00x tf32
    assert "peak_flops.matrix.bf16: 624 TFLOP/s is 4.00x the tf32 peak" in message
    assert "sparse" in message


def test_sparse_looking_int8_peak(tmp_path):
    data = base_spec()
    data["peak_flops"]["matrix"]["int8"] = "1248 TOP/s"  # 4x bf16, no fp8 to excuse it
    message = load_error(write(tmp_path, data))
    assert "peak_flops.matrix.int8:" in message and "4.00x the fp16/bf16 peak" in message


def test_sparse_looking_fp8_peak(tmp_path):
    data = base_spec()
    data["peak_flops"]["matrix"]["fp8"] = "1248 TFLOP/s"
    message = load_error(write(tmp_path, data))
    assert "peak_flops.matrix.fp8:" in message and "4.00x the fp16/bf16 peak" in message


def test_ridge_above_2000(tmp_path):
    data = base_spec()
    data["memory"]["dram"]["bandwidth"] = "100 GB/s"  # 624e12 / 100e9 = 6240 FLOP/byte
    message = load_error(write(tmp_path, data))
    assert "peak_flops.matrix.int8: ridge point 6240 FLOP/byte" in message


def test_levels_must_grow_in_capacity_and_not_in_bandwidth(tmp_path):
    data = base_spec()
    data["memory"]["l2"]["capacity"] = "100 GB"
    assert "memory.dram.capacity: 80 GB is not larger than memory.l2.capacity" in load_error(
        write(tmp_path, data)
    )
    data = base_spec()
    data["memory"]["l2"]["bandwidth"] = "1 TB/s"
    assert "memory.dram.bandwidth: 2.039 TB/s is higher than memory.l2.bandwidth" in load_error(
        write(tmp_path, data)
    )


def test_overhead_above_1_ms(tmp_path):
    data = base_spec()
    data["overhead"]["per_op"] = "4 ms"  # a us/ms slip
    assert "overhead.per_op: 4 ms is above 1 ms" in load_error(write(tmp_path, data))


def test_bad_unit(tmp_path):
    data = base_spec()
    data["memory"]["dram"]["bandwidth"] = "fast"
    message = load_error(write(tmp_path, data))
    assert message == (
        f'{tmp_path / "bad.yaml"}: memory.dram.bandwidth: expected a bandwidth such as '
        '"3.35 TB/s", got "fast"'
    )


def test_unit_of_wrong_kind(tmp_path):
    data = base_spec()
    data["peak_flops"]["matrix"]["bf16"] = "312 TB/s"
    message = load_error(write(tmp_path, data))
    assert "peak_flops.matrix.bf16: expected a FLOP rate" in message
    assert "which is a bandwidth" in message


def test_bits_where_bytes_meant_are_converted(tmp_path):
    data = base_spec()
    data["links"]["host"] = "512 Gb/s"  # bits: 64 GB/s
    assert load_hardware(write(tmp_path, data)).host_link_bw == 64e9


def test_null_peer_link(tmp_path):
    data = base_spec()
    data["links"]["peer"] = None
    assert load_hardware(write(tmp_path, data)).peer_link_bw is None
    data["links"]["peer"] = False  # YAML "no"
    assert "links.peer: expected a bandwidth" in load_error(write(tmp_path, data))


def test_yaml_syntax_error(tmp_path):
    path = write(tmp_path, "name: test-gpu\npeak_flops: {matrix: [\n")
    message = load_error(path)
    assert "YAML syntax error" in message and "line " in message


def test_duplicate_key(tmp_path):
    path = write(tmp_path, "name: a\nname: b\n")
    message = load_error(path)
    assert "line 2" in message and "duplicate key 'name'" in message


def test_empty_file(tmp_path):
    message = load_error(write(tmp_path, ""))
    assert "empty file" in message and "name" in message


def test_non_mapping_top_level(tmp_path):
    message = load_error(write(tmp_path, "- h100\n- a100\n"))
    assert "expected a mapping" in message and "at the top level, got a list" in message


def test_missing_file(tmp_path):
    message = load_error(tmp_path / "nope.yaml")
    assert "no such file" in message


def test_several_problems_in_one_line(tmp_path):
    data = base_spec()
    data["memory"]["dram"]["bandwidth"] = "fast"
    data["overhead"]["per_op"] = "soon"
    message = load_error(write(tmp_path, data))
    assert "memory.dram.bandwidth:" in message and "overhead.per_op:" in message


def test_packaged_specs_unchanged_by_bad_loads(tmp_path):
    data = copy.deepcopy(base_spec())
    data["name"] = "h100-sxm"
    data["kind"] = "tpu"
    with pytest.raises(HardwareSpecError):
        load_hardware(write(tmp_path, data, "h100-sxm.yaml"))
    assert load_hardware("h100-sxm").peak_flops("bf16", "matrix") == 989e12
