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

blocks = heads x ceil(q_len / q_split) x ceil(kv_len / kv_split), scores = heads x q_len x
kv_len, gemm_flops = 4 x scores x head_dim (the op's counted FLOPs without a mask), kv_bytes
= heads x kv_len x 2 x head_dim x 4. Under a causal mask (the op's FLOPs fall short of the
full product's) the i-th query block stops at key min(m + its rows, kv_len) (m = i x
q_split, top-left aligned), but ATen steps through the keys a whole key block at a time
(kvBlockSize = min(kvSplitSize, kvSize - n)) and masks the scores past the bound: the
block's products and scores run over min(ceil(bound / kv_split) x kv_split, kv_len) keys.
So a causal attention of at most KV_SPLIT keys costs what a full one does (measured here:
[1,12,256,64] 2995 us causal, 2948 us full; [1,12,1024,64] 0.75 of the full one's time,
6 of 8 key blocks). The five costs are fitted by least squares (relative errors, none below 0) on
the probe times a calibration took on shapes of its own (roofline.calibrate.sdpa); a
model's shapes are never part of the fit.

Everything works on numpy arrays of any shape (ops, or ops x points of a sweep).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from roofline.efficiency.attention import causal_mask
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


def causal_keys(q_len: np.ndarray, kv_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, kv_blocks) under a causal mask: the keys each query's products and scores
    run over, averaged over the queries, and the key blocks summed over the query blocks.
    Query block i (rows from m = i x q_split) is bounded at key min(m + rows, kv_len) and
    runs whole key blocks up to it: ceil(bound / KV_SPLIT) of them, over
    min(that x KV_SPLIT, kv_len) keys (module docstring)."""
    q_len, kv_len = np.broadcast_arrays(np.asarray(q_len, dtype=float), np.asarray(kv_len, dtype=float))
    split = q_split(q_len)
    q_blocks = np.ceil(q_len / split)
    key_rows, kv_blocks = np.zeros(q_len.shape), np.zeros(q_len.shape)
    for i in range(int(q_blocks.max(initial=0.0))):
        start = i * split
        rows = np.clip(q_len - start, 0.0, split)
        blocks = np.ceil(np.minimum(start + rows, kv_len) / KV_SPLIT)
        key_rows += rows * np.minimum(blocks * KV_SPLIT, kv_len)
        kv_blocks += np.where(rows > 0, blocks, 0.0)
    return key_rows / np.maximum(q_len, 1.0), kv_blocks


def sdpa_blocks(heads: np.ndarray, q_len: np.ndarray, kv_len: np.ndarray, head_dim: np.ndarray,
                causal: np.ndarray | bool = False) -> SdpaBlocks:
    """The blocks of attentions of ``heads`` x ``q_len`` queries over ``kv_len`` keys of
    ``head_dim`` elements, under a causal mask where ``causal``."""
    heads, q_len, kv_len, head_dim = (np.asarray(a, dtype=float) for a in (heads, q_len, kv_len, head_dim))
    causal = np.asarray(causal, dtype=bool)
    full_blocks = np.ceil(q_len / q_split(q_len)) * np.ceil(kv_len / KV_SPLIT)
    # the other calls walk one query block of one query: a single step of causal_keys' loop
    masked_keys, masked_blocks = causal_keys(np.where(causal, q_len, 1.0), kv_len)
    keys, blocks = np.where(causal, masked_keys, kv_len), np.where(causal, masked_blocks, full_blocks)
    scores = heads * q_len * keys
    return SdpaBlocks(blocks=heads * blocks, scores=scores, gemm_flops=4.0 * scores * head_dim,
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
        causal = valid & causal_mask(flops, attention)
        seconds = sdpa_costs(record.sdpa_times).seconds(sdpa_blocks(*(np.where(valid, a, 1.0) for a in
                                                                        (heads, q_len, kv_len, head_dim)), causal))
    return np.where(valid, seconds, np.nan)
