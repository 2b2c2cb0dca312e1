"""CPU scaled-dot-product attention: ATen's flash kernel timed by its blocks, at costs
calibrate measured (roofline.calibrate.sdpa, measured.sdpa_times).

aten._scaled_dot_product_flash_attention_for_cpu (FlashAttentionKernel.cpp) never forms
the whole score matrix. It splits each head's queries into blocks of q_split rows (32
below 192 queries, 64 below 768, 256 from there) and its keys into blocks of up to
KV_SPLIT, and for every (query block, key block) runs two small products through
cpublas (Q K^T: q_split x kv_split x head_dim; P V: q_split x head_dim x kv_split) and
an exp/max/sum pass over the block's scores, after allocating its buffers once per call.
Its time is then five physical terms, each with one cost calibrate measures:

    seconds = call_s                       (dispatch, buffers, the parallel loop's setup)
            + blocks x block_s             (two cpublas calls and the rescale per block)
            + scores x score_s             (exp, running max and sum per score)
            + gemm_flops / gemm_flops_per_s (the two products at a small-GEMM rate)
            + kv_bytes / kv_bytes_per_s    (K and V read once, fp32, from where a forward
                                            leaves them: a decode call's products are
                                            matrix-vector ones, bound by these bytes)

blocks = heads x ceil(q_len / q_split) x ceil(keys / kv_split), scores = heads x q_len x
keys, gemm_flops = 4 x scores x head_dim (the op's counted FLOPs without a mask), kv_bytes
= heads x kv_len x 2 x head_dim x 4, where keys is the keys a query block's products run
over: all kv_len, or under a causal mask (the op's FLOPs fall short of the full product's)
min((i + 1) x q_split, kv_len) for the i-th block, ATen's bound, averaged over the
blocks. The five costs are fitted by least squares (relative errors, none below 0) on
the probe times a calibration took on shapes of its own (roofline.calibrate.sdpa); a
model's shapes are never part of the fit.

Everything works on numpy arrays of any shape (ops, or ops x points of a sweep).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from roofline.efficiency.cpu import cpu_record
from roofline.hardware import CalibrationRecord, SdpaTime

__all__ = ["ATTENTION_COLUMNS", "FP32_BYTES", "KV_SPLIT", "MIN_PROBES", "SDPA_OP", "SdpaBlocks", "SdpaCosts",
           "causal_keys", "fit_sdpa_costs", "q_split", "sdpa_blocks", "sdpa_costs", "sdpa_s"]

#: Columns of an ops frame holding a fused attention's heads (batch x heads), query and
#: key lengths and head size (NaN for other ops; roofline.count.registry.AttentionShape).
ATTENTION_COLUMNS: tuple[str, ...] = ("attn_heads", "attn_q", "attn_kv", "attn_dim")
#: The CPU kernel this model describes.
SDPA_OP = "aten._scaled_dot_product_flash_attention_for_cpu"
#: Keys per block of ATen's CPU flash kernel, at every query length.
KV_SPLIT = 512
#: Bytes per element of the probes and of the attentions this model times.
FP32_BYTES = 4


def q_split(q_len: np.ndarray) -> np.ndarray:
    """Queries per block of ATen's CPU flash kernel: 256 from 768 queries, 64 from 192,
    32 below, never more than the queries there are."""
    q_len = np.asarray(q_len, dtype=float)
    return np.minimum(np.where(q_len >= 768, 256.0, np.where(q_len >= 192, 64.0, 32.0)), np.maximum(q_len, 1.0))


@dataclass(frozen=True)
class SdpaBlocks:
    """Per call (arrays that broadcast): ``blocks`` (query block, key block) steps,
    ``scores`` computed, ``gemm_flops`` (FLOP) of the two products and ``kv_bytes`` (B)
    of K and V at 4 bytes an element."""

    blocks: np.ndarray
    scores: np.ndarray
    gemm_flops: np.ndarray
    kv_bytes: np.ndarray


def causal_keys(q_len: np.ndarray, kv_len: np.ndarray) -> np.ndarray:
    """Keys a query block's products run over under a causal mask, averaged over the
    blocks: block i (of ceil(q_len / q_split)) runs over min((i + 1) x q_split, kv_len)."""
    q_len, kv_len = np.asarray(q_len, dtype=float), np.asarray(kv_len, dtype=float)
    split = q_split(q_len)
    q_blocks = np.ceil(q_len / split)
    rising = np.minimum(q_blocks, np.floor(kv_len / split))  # blocks still below kv_len
    return (split * rising * (rising + 1) / 2 + (q_blocks - rising) * kv_len) / q_blocks


def sdpa_blocks(heads: np.ndarray, q_len: np.ndarray, kv_len: np.ndarray, head_dim: np.ndarray,
                causal: np.ndarray | bool = False) -> SdpaBlocks:
    """The blocks of attentions of ``heads`` x ``q_len`` queries over ``kv_len`` keys of
    ``head_dim`` elements, under a causal mask where ``causal``."""
    heads, q_len, kv_len, head_dim = (np.asarray(a, dtype=float) for a in (heads, q_len, kv_len, head_dim))
    keys = np.where(causal, causal_keys(q_len, kv_len), kv_len)
    q_blocks = np.ceil(q_len / q_split(q_len))
    kv_blocks = np.ceil(keys / np.minimum(KV_SPLIT, np.maximum(kv_len, 1.0)))
    scores = heads * q_len * keys
    return SdpaBlocks(blocks=heads * q_blocks * kv_blocks, scores=scores, gemm_flops=4.0 * scores * head_dim,
                      kv_bytes=heads * kv_len * 2.0 * head_dim * FP32_BYTES)


@dataclass(frozen=True)
class SdpaCosts:
    """The five costs of the block model (module docstring): ``call_s``, ``block_s`` and
    ``score_s`` (s), ``gemm_flops_per_s`` (FLOP/s) and ``kv_bytes_per_s`` (B/s; inf: the
    probes left no time to K and V's bytes); ``fit_error``: the largest relative error
    of the fit on the probes it was fitted on."""

    call_s: float
    block_s: float
    score_s: float
    gemm_flops_per_s: float
    kv_bytes_per_s: float
    fit_error: float = 0.0

    def seconds(self, blocks: SdpaBlocks) -> np.ndarray:
        """Seconds of calls of ``blocks`` (dispatch included)."""
        return (self.call_s + blocks.blocks * self.block_s + blocks.scores * self.score_s
                + blocks.gemm_flops / self.gemm_flops_per_s + blocks.kv_bytes / self.kv_bytes_per_s)


def _terms(blocks: SdpaBlocks) -> np.ndarray:
    """(probes, 5) design matrix: per call, per block, per score, per FLOP, per K/V byte."""
    return np.column_stack([np.ones_like(blocks.blocks), blocks.blocks, blocks.scores, blocks.gemm_flops,
                            blocks.kv_bytes])


#: Probes a fit needs (as many as the model has costs), and the products' rate's column.
MIN_PROBES = 5
_RATE = 3


def fit_sdpa_costs(probes: tuple[SdpaTime, ...]) -> SdpaCosts:
    """The SdpaCosts whose model best matches the probe ``seconds`` in relative terms
    (least squares on time / measured, no cost below 0: a term that would come out
    negative is dropped and the rest refitted; the products' rate is always kept).
    Needs at least MIN_PROBES probes."""
    if len(probes) < MIN_PROBES:
        raise ValueError(f"measured.sdpa_times: expected at least {MIN_PROBES} probes to fit the block model's "
                         f"costs, got {len(probes)}")
    blocks = sdpa_blocks(*(np.array([getattr(p, name) for p in probes], dtype=float)
                           for name in ("heads", "q_len", "kv_len", "head_dim")))
    seconds = np.array([p.seconds for p in probes], dtype=float)
    design = _terms(blocks) / seconds[:, None]
    scale = np.maximum(design.max(axis=0), 1e-300)  # columns of similar size for the solver
    active = list(range(design.shape[1]))
    while True:
        solution, *_ = np.linalg.lstsq(design[:, active] / scale[active], np.ones(len(seconds)), rcond=None)
        coef = np.zeros(design.shape[1])
        coef[active] = solution / scale[active]
        negative = [i for i in active if coef[i] < 0 and i != _RATE]
        if not negative:
            break
        active.remove(min(negative, key=lambda i: coef[i] * scale[i]))
    with np.errstate(divide="ignore"):
        flops_per_s, bytes_per_s = (float(1.0 / c) if c > 0 else np.inf for c in coef[3:])
    costs = SdpaCosts(float(coef[0]), float(coef[1]), float(coef[2]), flops_per_s, bytes_per_s)
    error = float(np.max(np.abs(costs.seconds(blocks) / seconds - 1.0)))
    return dataclasses.replace(costs, fit_error=error)


@lru_cache(maxsize=16)
def sdpa_costs(probes: tuple[SdpaTime, ...]) -> SdpaCosts:
    """fit_sdpa_costs, once per distinct set of probes (a spec's record is immutable)."""
    return fit_sdpa_costs(probes)


def sdpa_s(attention: tuple[np.ndarray, ...], flops: np.ndarray, applies: np.ndarray,
           record: CalibrationRecord | None) -> np.ndarray:
    """Seconds (dispatch included) of ATen's CPU flash attention per op at the costs
    ``record.sdpa_times`` gives; NaN where it does not apply: no probes (a GPU, a
    datasheet spec, an older calibration), ``applies`` False, or no attention shape.
    ``attention``: (heads, q_len, kv_len, head_dim) arrays (ATTENTION_COLUMNS), ``flops``
    the op's counted FLOP (fewer than the full product's: a causal mask)."""
    heads, q_len, kv_len, head_dim = (np.asarray(a, dtype=float) for a in attention)
    shape = np.broadcast_shapes(heads.shape, np.shape(flops), np.shape(applies))
    if record is None or not record.sdpa_times or not cpu_record(record):
        return np.full(shape, np.nan)
    valid = np.asarray(applies, dtype=bool) & np.isfinite(heads * q_len * kv_len * head_dim) & (heads * q_len * kv_len * head_dim > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a causal mask leaves fewer pairs than the full product's: the counted FLOPs say so
        causal = valid & (np.asarray(flops, dtype=float) < 0.999 * 4.0 * heads * q_len * kv_len * head_dim)
        seconds = sdpa_costs(record.sdpa_times).seconds(sdpa_blocks(*(np.where(valid, a, 1.0) for a in
                                                                        (heads, q_len, kv_len, head_dim)), causal))
    return np.where(valid, seconds, np.nan)
