"""Memory-bound kernels: the time to stream bytes through a memory level.

A kernel that moves B bytes does not reach the level's bandwidth at once: it pays a
fixed start-up (the first requests' round trip, the kernel's ramp to full occupancy and
its tail) before the bytes stream at the sustained rate, and no kernel is shorter than
the device's minimum kernel time. So

    memory_s = max(min_kernel_s, latency_s + bytes / (efficiency x bandwidth))

which is the latency-bandwidth (Little's law) view: half the sustained bandwidth is
reached once a kernel moves latency_s x bandwidth bytes. Measured element-wise kernels
on an A100 (NeuSight's per-op data) follow it: 26 us flat up to ~30 MB, then
13 us + bytes / 1.32 TB/s.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stream_time_s", "half_bandwidth_bytes"]


def stream_time_s(nbytes: np.ndarray, bandwidth: np.ndarray | float, *, efficiency: float = 1.0,
                  latency_s: float = 0.0) -> np.ndarray:
    """Seconds to move ``nbytes`` (B) at ``bandwidth`` (B/s) reached with ``efficiency``,
    after a fixed ``latency_s`` start-up; 0 bytes take 0 s (no traffic, no start-up)."""
    nbytes = np.asarray(nbytes, dtype=float)
    stream = nbytes / (efficiency * np.asarray(bandwidth, dtype=float))
    return np.where(nbytes > 0, latency_s + stream, 0.0)


def half_bandwidth_bytes(bandwidth: float, latency_s: float, efficiency: float = 1.0) -> float:
    """Bytes a kernel must move to average half its sustained bandwidth (B)."""
    return latency_s * efficiency * bandwidth
