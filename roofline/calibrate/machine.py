"""Facts about this machine that calibrate() records: cache levels (Linux sysfs), CPU
name and vendor, physical memory, load average. Each returns a safe "unknown" (an empty
list, NaN, None) where the operating system does not say.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from roofline.calibrate.bench import KiB, MiB
from roofline.calibrate.fit import caches_from_plateaus

__all__ = ["CacheLevel", "cpu_caches", "cpu_isa", "cpu_name_and_vendor", "device_facts", "last_cache_bytes", "load_average",
           "physical_memory"]

#: /proc/cpuinfo flags of matrix and half-precision extensions that change PyTorch's CPU
#: GEMM speed tenfold (bf16 GEMMs through AVX-512 BF16 or AMX, or emulated without).
_MATRIX_FLAGS = ("avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


@dataclass(frozen=True)
class CacheLevel:
    """One data/unified cache level as the OS describes it."""

    level: int
    size_bytes: int  # one instance
    instances: int  # instances the threads can use
    capacity: int  # size_bytes x instances: what the threads together can hold


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    for suffix, factor in (("K", KiB), ("M", MiB), ("G", 2**30)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(text)


def cpu_caches(threads: int | None = None, root: str | Path = "/sys/devices/system/cpu",
               cpus: list[int] | None = None) -> list[CacheLevel]:
    """Data and unified cache levels from Linux sysfs, for ``threads`` threads (default:
    torch's) on ``cpus`` (default: the CPUs this process may use); [] where sysfs says
    nothing (other systems). A level's capacity is one instance's size times the number
    of distinct instances among those CPUs, at most one per thread."""
    root = Path(root)
    if cpus is None:
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = list(range(os.cpu_count() or 1))
    threads = threads or torch.get_num_threads()
    found: dict[int, dict[str, int]] = {}  # level -> shared_cpu_list -> size
    for cpu in cpus:
        for index in sorted((root / f"cpu{cpu}" / "cache").glob("index*")):
            try:
                kind = (index / "type").read_text().strip()
                level = int((index / "level").read_text())
                size = _parse_size((index / "size").read_text())
                shared = (index / "shared_cpu_list").read_text().strip()
            except (OSError, ValueError):
                continue
            if kind in ("Data", "Unified"):
                found.setdefault(level, {})[shared] = size
    levels = []
    for level in sorted(found):
        sizes = found[level]
        size = max(sizes.values())
        instances = min(len(sizes), max(threads, 1))
        levels.append(CacheLevel(level, size, instances, size * instances))
    return levels


def cpu_name_and_vendor() -> tuple[str, str]:
    """The CPU's model name and vendor ("amd", "intel", "arm", ...) from /proc/cpuinfo,
    else what the platform module says."""
    name, vendor = None, "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and value and name is None:
                name = value
            elif key == "vendor_id" and value and vendor == "unknown":
                vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(value, value.lower())
    except OSError:
        pass
    if vendor == "unknown" and platform.machine().lower() in ("arm64", "aarch64"):
        vendor = "arm"
    return name or platform.processor() or platform.machine() or "CPU", vendor


def cpu_isa(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The instruction sets PyTorch's CPU kernels use here: ATen's dispatch capability
    ("DEFAULT", "AVX2", "AVX512", ...) and, in parentheses, the matrix extensions the CPU
    lists (``_MATRIX_FLAGS``). Two machines whose CPUs report the same model name (a
    virtual machine's "AMD EPYC" on hosts of different generations) differ here."""
    capability = torch.backends.cpu.get_cpu_capability()
    try:
        line = next((ln for ln in Path(cpuinfo).read_text().splitlines() if ln.startswith("flags")), "")
    except OSError:
        line = ""
    flags = set(line.partition(":")[2].split())
    extras = [flag for flag in _MATRIX_FLAGS if flag in flags]
    return capability + (f" ({', '.join(extras)})" if extras else "")


def load_average() -> float | None:
    """The 1-minute load average (runnable threads), None where the OS does not say."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def physical_memory() -> float:
    """Physical memory in bytes, NaN where the OS does not say."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return math.nan


def last_cache_bytes(kind: str) -> float:
    """The last cache's capacity (bytes), which a flush must overwrite: L2 on a GPU, the
    largest level the OS lists on a CPU (64 MiB where it says nothing)."""
    if kind == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        return float(getattr(props, "L2_cache_size", 0) or 64 * MiB)
    return float(max((c.capacity for c in cpu_caches()), default=64 * MiB))


def device_facts(kind: str, plateaus: list[tuple[float, float, float]],
                 notes: list[str]) -> tuple[list[tuple[str, float]], float, str, str]:
    """(caches [(name, bytes)], DRAM bytes, device name, vendor): from the device or OS
    where it says, else from the curve's plateaus (with a note saying so)."""
    if kind == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        caches = [("l2", float(getattr(props, "L2_cache_size", 0) or 0))]
        caches = [c for c in caches if c[1] > 0] or caches_from_plateaus(plateaus)
        vendor = "amd" if getattr(torch.version, "hip", None) else "nvidia"
        return caches, float(props.total_memory), props.name, vendor
    os_caches = [c for c in cpu_caches() if c.level >= 2]
    caches = [(f"l{c.level}", float(c.capacity)) for c in os_caches] or caches_from_plateaus(plateaus)
    if not os_caches:
        notes.append("cache capacities from the bandwidth curve's plateaus (the OS did not say)")
    dram_capacity = physical_memory()
    if not math.isfinite(dram_capacity):
        dram_capacity = 16e9
        notes.append("DRAM capacity unknown to the OS: 16 GB assumed")
    name, vendor = cpu_name_and_vendor()
    return caches, dram_capacity, name, vendor
