"""Pieces shared by the neuro-symbolic workloads (nscl.py, nsdr.py).

Nothing here is a zoo entry (there is no ZOO dict): it holds the plain building blocks
the seed paper's neuro-symbolic workloads have in common, written so every part runs
as ordinary aten ops with fixed shapes (and so also on meta tensors):

- ResNet stages (basic and bottleneck blocks) used as the image / frame backbone;
- box pooling: a RoIAlign stand-in built from ``grid_sample`` (one bilinear sample per
  output bin), taking boxes as a float tensor so the box coordinates are data while
  the shapes stay fixed;
- a seq2seq question parser (bidirectional RNN encoder, RNN-cell decoder with
  dot-product attention, greedy decoding for a fixed number of steps);
- a soft program executor: a symbolic program is a FIXED list of ``Step`` s given at
  build time and every step runs as differentiable tensor ops over object masks in
  [0, 1] (min / max for AND / OR, sum for count, max for exist, mask-weighted
  distributions for query, sigmoids of differences for numeric comparison);
- the answer vocabulary: every program's result is written into fixed slots of one
  answer logit vector, so a set of questions gives a ``[batch, questions, answers]``
  tensor whatever the questions' answer types are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resnet import Bottleneck  # the ResNet-50 block, shared with the standard zoo

# --------------------------------------------------------------------------------------
# ResNet stages
# --------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetBackbone(nn.Module):
    """A ResNet trunk: 7x7/2 stem, 3x3/2 max pool, then ``len(layers)`` stages.

    ``layers`` gives the blocks per stage (ResNet-34: 3, 4, 6, 3; ResNet-50: the same
    with bottleneck blocks). Fewer stages give a C4-style trunk (stride 16), as
    detectors and NSCL use. Output channels: ``out_channels``.
    """

    def __init__(self, block: str = "basic", layers: Sequence[int] = (3, 4, 6),
                 base_width: int = 64) -> None:
        super().__init__()
        block_cls = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.stem = nn.Sequential(
            nn.Conv2d(3, base_width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        in_channels = base_width
        stages = []
        for index, n_blocks in enumerate(layers):
            channels = base_width * 2**index
            stride = 1 if index == 0 else 2
            blocks = []
            for block_index in range(n_blocks):
                blocks.append(block_cls(in_channels, channels, stride if block_index == 0 else 1))
                in_channels = channels * block_cls.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_channels
        self.stride = 4 * 2 ** (len(layers) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


# --------------------------------------------------------------------------------------
# Boxes and box pooling (RoIAlign stand-in)
# --------------------------------------------------------------------------------------


def random_boxes(*leading: int, min_size: float = 0.1, max_size: float = 0.3) -> torch.Tensor:
    """Random boxes ``[*leading, 4]`` as (x0, y0, x1, y1) fractions of the image.

    Made with tensor ops only (works on the current default device, meta included).
    """
    corner = torch.rand(*leading, 2) * (1.0 - max_size)
    size = min_size + (max_size - min_size) * torch.rand(*leading, 2)
    return torch.cat([corner, corner + size], dim=-1)


def union_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Smallest box around each ordered pair: ``[B, N, 4] -> [B, N * N, 4]``."""
    b, n, _ = boxes.shape
    first = boxes.unsqueeze(2).expand(b, n, n, 4)
    second = boxes.unsqueeze(1).expand(b, n, n, 4)
    low = torch.minimum(first[..., :2], second[..., :2])
    high = torch.maximum(first[..., 2:], second[..., 2:])
    return torch.cat([low, high], dim=-1).reshape(b, n * n, 4)


def box_sampling_grid(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """``grid_sample`` grid for ``size x size`` bin centres inside each box.

    boxes ``[B, M, 4]`` (fractions) -> grid ``[B, M * size, size, 2]`` in [-1, 1],
    so one ``grid_sample`` call pools every box of an image.
    """
    b, m, _ = boxes.shape
    steps = (torch.arange(size, dtype=boxes.dtype, device=boxes.device) + 0.5) / size
    x0, y0, x1, y1 = boxes.unbind(-1)
    xs = x0.unsqueeze(-1) + (x1 - x0).unsqueeze(-1) * steps  # [B, M, size]
    ys = y0.unsqueeze(-1) + (y1 - y0).unsqueeze(-1) * steps
    grid = torch.stack(
        [xs.unsqueeze(2).expand(b, m, size, size), ys.unsqueeze(3).expand(b, m, size, size)],
        dim=-1,
    )
    return (grid * 2.0 - 1.0).reshape(b, m * size, size, 2)


class BoxPool(nn.Module):
    """RoIAlign stand-in: bilinear sampling of a feature map at box bin centres.

    ``forward(features [B, C, H, W], boxes [B, M, 4]) -> [B, M, C, size, size]``.
    Mask R-CNN's RoIAlign averages 2x2 bilinear samples per bin; this takes one (the
    bin centre), which keeps the op a single ``grid_sampler_2d`` over all boxes.
    """

    def __init__(self, size: int = 7) -> None:
        super().__init__()
        self.size = size

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        b, c = features.shape[:2]
        m = boxes.shape[1]
        grid = box_sampling_grid(boxes, self.size)
        pooled = F.grid_sample(features, grid, mode="bilinear", align_corners=False)
        # [B, C, M * s, s] -> [B, M, C, s, s]
        return pooled.reshape(b, c, m, self.size, self.size).permute(0, 2, 1, 3, 4)


# --------------------------------------------------------------------------------------
# Seq2seq question parser
# --------------------------------------------------------------------------------------


class Seq2SeqParser(nn.Module):
    """Attention seq2seq semantic parser: question tokens -> program token logits.

    Encoder: word embedding + bidirectional GRU/LSTM. Decoder: an RNN cell fed the
    embedding of its previous (greedy, argmax) output token, dot-product attention
    over the encoder states, a tanh output projection and a linear classifier over
    the program vocabulary. Runs a fixed ``program_length`` decoding steps (no early
    stop), so shapes never depend on values.

    forward(question [B, L] int64) -> logits [B, program_length, program_vocab].
    """

    def __init__(self, vocab_size: int = 100, embedding_dim: int = 300, hidden_dim: int = 256,
                 program_vocab: int = 48, program_length: int = 10, rnn: str = "gru") -> None:
        super().__init__()
        if rnn not in ("gru", "lstm"):
            raise ValueError(f"Seq2SeqParser: rnn must be 'gru' or 'lstm', got {rnn!r}")
        self.rnn = rnn
        self.program_length = program_length
        rnn_cls = nn.GRU if rnn == "gru" else nn.LSTM
        cell_cls = nn.GRUCell if rnn == "gru" else nn.LSTMCell
        self.word_embedding = nn.Embedding(vocab_size, embedding_dim)
        self.encoder = rnn_cls(embedding_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden_dim, hidden_dim)
        self.program_embedding = nn.Embedding(program_vocab, embedding_dim)
        self.decoder = cell_cls(embedding_dim, hidden_dim)
        self.attention_key = nn.Linear(2 * hidden_dim, hidden_dim, bias=False)
        self.attention_out = nn.Linear(hidden_dim + 2 * hidden_dim, hidden_dim)
        self.classifier = nn.Linear(hidden_dim, program_vocab)

    def forward(self, question: torch.Tensor) -> torch.Tensor:
        words = self.word_embedding(question)  # [B, L, E]
        encoded, final = self.encoder(words)  # [B, L, 2H]
        final_h = final[0] if self.rnn == "lstm" else final  # [2, B, H]
        hidden = torch.tanh(self.bridge(torch.cat([final_h[0], final_h[1]], dim=-1)))
        cell = torch.zeros_like(hidden)
        keys = self.attention_key(encoded)  # [B, L, H]
        token = torch.zeros_like(question[:, 0])  # <start> token id 0
        logits = []
        for _ in range(self.program_length):
            step_in = self.program_embedding(token)
            if self.rnn == "lstm":
                hidden, cell = self.decoder(step_in, (hidden, cell))
            else:
                hidden = self.decoder(step_in, hidden)
            scores = torch.bmm(keys, hidden.unsqueeze(-1)).squeeze(-1)  # [B, L]
            weights = torch.softmax(scores, dim=-1)
            context = torch.bmm(weights.unsqueeze(1), encoded).squeeze(1)  # [B, 2H]
            out = torch.tanh(self.attention_out(torch.cat([hidden, context], dim=-1)))
            step_logits = self.classifier(out)
            logits.append(step_logits)
            token = step_logits.argmax(dim=-1)
        return torch.stack(logits, dim=1)


def parse_questions(parser: Seq2SeqParser, question: torch.Tensor) -> torch.Tensor:
    """Questions [B, Q, L] (token ids) through ``parser`` as one batch of B * Q:
    program logits [B * Q, program_length, program_vocab]."""
    b, q, length = question.shape
    return parser(question.reshape(b * q, length))


# --------------------------------------------------------------------------------------
# Concepts, answers and soft program execution
# --------------------------------------------------------------------------------------

#: CLEVR's attribute concepts (Johnson et al., 2017).
CLEVR_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"),
    "shape": ("cube", "sphere", "cylinder"),
    "material": ("rubber", "metal"),
    "size": ("small", "large"),
}

#: CLEVR's spatial relation concepts.
CLEVR_RELATIONS: tuple[str, ...] = ("left", "right", "front", "behind")


@dataclass(frozen=True)
class Step:
    """One step of a symbolic program.

    op: the operation name; inputs: indices of earlier steps whose results it reads
    (empty means "the previous step", except for ops that take none, like ``scene``);
    arg: a concept, relation or attribute name, or None.
    """

    op: str
    arg: str | None = None
    inputs: tuple[int, ...] = ()


def program(*steps: tuple) -> tuple[Step, ...]:
    """Build a program from tuples ``(op,)``, ``(op, arg)`` or ``(op, arg, inputs)``."""
    out = []
    for item in steps:
        if isinstance(item, Step):
            out.append(item)
        else:
            op, arg, inputs = tuple(item) + (None, ())[len(item) - 1:]
            out.append(Step(op, arg, tuple(inputs)))
    return tuple(out)


@dataclass(frozen=True)
class AnswerSpace:
    """The answer vocabulary as named slot ranges of one logit vector.

    Slots: yes/no, counts 0..max_count, then each attribute's concepts.
    """

    attributes: Mapping[str, tuple[str, ...]]
    max_count: int = 10
    slots: dict[str, tuple[int, int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        slots = {"bool": (0, 2), "count": (2, 3 + self.max_count)}
        start = 3 + self.max_count
        for name, concepts in self.attributes.items():
            slots[name] = (start, start + len(concepts))
            start += len(concepts)
        object.__setattr__(self, "slots", slots)

    @property
    def size(self) -> int:
        return max(end for _, end in self.slots.values())


#: Logit given to answer slots that a question's answer type cannot take.
_NOT_AN_ANSWER = -1.0e4
_EPS = 1.0e-6


class SoftProgramExecutor(nn.Module):
    """Runs fixed symbolic programs as soft tensor ops over a scene description.

    The scene (``world``) is a dict of tensors built by the neural parts:
      ``"filter:<attr>"``  [B, N, K]  probability each object has each concept,
      ``"query:<attr>"``   [B, N, K]  per-object distribution over the concepts,
      plus whatever a subclass' extra ops read (relations, events, ...).

    Objects masks are [B, N] in [0, 1]. Ops (a subclass may add more by defining
    ``op_<name>(world, inputs, arg)``):
      scene                  all objects (ones)
      filter <concept>       min(mask, P(concept))
      intersect / union      elementwise min / max of two masks
      count                  sum of the mask                      -> number
      exist                  max of the mask                      -> boolean
      query <attr>           mask-weighted mean of the per-object distributions -> attr
      query_equal <attr>     P(two objects share <attr>) = <q_a, q_b>     -> boolean
      equal / greater / less sigmoid of the difference of two numbers -> boolean
    The last step's result is written to its answer slots; the other slots get a
    large negative logit. ``forward(world) -> [B, n_programs, answer_space.size]``.
    """

    def __init__(self, programs: Sequence[Sequence[Step]], attributes: Mapping[str, tuple[str, ...]],
                 answer_space: AnswerSpace, temperature: float = 0.25) -> None:
        super().__init__()
        self.programs = [tuple(p) for p in programs]
        self.attributes = dict(attributes)
        self.answer_space = answer_space
        self.temperature = temperature
        self._concept_index = {
            concept: (attr, k)
            for attr, concepts in self.attributes.items()
            for k, concept in enumerate(concepts)
        }
        for index, prog in enumerate(self.programs):
            self._check(index, prog)

    # -- validation ------------------------------------------------------------------
    def _check(self, index: int, prog: Sequence[Step]) -> None:
        if not prog:
            raise ValueError(f"program {index}: empty")
        for position, step in enumerate(prog):
            if not hasattr(self, f"op_{step.op}"):
                raise ValueError(f"program {index} step {position}: unknown op {step.op!r}")
            for ref in step.inputs:
                if not 0 <= ref < position:
                    raise ValueError(
                        f"program {index} step {position}: input {ref} must name an earlier step"
                    )

    def concept(self, name: str | None) -> tuple[str, int]:
        if name not in self._concept_index:
            raise ValueError(f"unknown concept {name!r}; known: {sorted(self._concept_index)}")
        return self._concept_index[name]

    # -- generic ops -------------------------------------------------------------------
    def op_scene(self, world, inputs, arg):
        first = next(iter(self.attributes))
        return ("mask", torch.ones_like(world[f"filter:{first}"][..., 0]))

    def op_filter(self, world, inputs, arg):
        attr, k = self.concept(arg)
        return ("mask", torch.minimum(inputs[0][1], world[f"filter:{attr}"][..., k]))

    def op_intersect(self, world, inputs, arg):
        return ("mask", torch.minimum(inputs[0][1], inputs[1][1]))

    def op_union(self, world, inputs, arg):
        return ("mask", torch.maximum(inputs[0][1], inputs[1][1]))

    def op_count(self, world, inputs, arg):
        return ("count", inputs[0][1].sum(dim=-1))

    def op_exist(self, world, inputs, arg):
        return ("bool", inputs[0][1].amax(dim=-1))

    def _query_distribution(self, world, mask, attr):
        weights = mask / (mask.sum(dim=-1, keepdim=True) + _EPS)
        return torch.einsum("bn,bnk->bk", weights, world[f"query:{attr}"])

    def op_query(self, world, inputs, arg):
        if arg not in self.attributes:
            raise ValueError(f"query: unknown attribute {arg!r}")
        return (arg, self._query_distribution(world, inputs[0][1], arg))

    def op_query_equal(self, world, inputs, arg):
        first = self._query_distribution(world, inputs[0][1], arg)
        second = self._query_distribution(world, inputs[1][1], arg)
        return ("bool", (first * second).sum(dim=-1))

    def op_equal(self, world, inputs, arg):
        diff = inputs[0][1] - inputs[1][1]
        return ("bool", torch.sigmoid((0.5 - diff.abs()) / self.temperature))

    def op_greater(self, world, inputs, arg):
        diff = inputs[0][1] - inputs[1][1]
        return ("bool", torch.sigmoid((diff - 0.5) / self.temperature))

    def op_less(self, world, inputs, arg):
        diff = inputs[1][1] - inputs[0][1]
        return ("bool", torch.sigmoid((diff - 0.5) / self.temperature))

    # -- running -----------------------------------------------------------------------
    def run(self, world: Mapping[str, torch.Tensor], prog: Sequence[Step]):
        results: list[tuple[str, torch.Tensor]] = []
        for position, step in enumerate(prog):
            if step.inputs:
                inputs = [results[ref] for ref in step.inputs]
            elif results:
                inputs = [results[-1]]
            else:
                inputs = []
            results.append(getattr(self, f"op_{step.op}")(world, inputs, step.arg))
        return results[-1]

    def to_answer_logits(self, kind: str, value: torch.Tensor) -> torch.Tensor:
        space = self.answer_space
        batch = value.shape[0]
        parts = []
        for slot, (start, end) in space.slots.items():
            width = end - start
            if slot != kind:
                parts.append(value.new_full((batch, width), _NOT_AN_ANSWER))
            elif kind == "bool":
                p = value.clamp(_EPS, 1.0 - _EPS)
                parts.append(torch.stack([p.log(), (1.0 - p).log()], dim=-1))
            elif kind == "count":
                levels = torch.arange(width, dtype=value.dtype, device=value.device)
                parts.append(-((value.unsqueeze(-1) - levels) ** 2))
            else:
                parts.append(value.clamp_min(_EPS).log())
        if kind not in space.slots:
            raise ValueError(f"a program ends in a {kind!r}, which is not an answer type")
        return torch.cat(parts, dim=-1)

    def forward(self, world: Mapping[str, torch.Tensor]) -> torch.Tensor:
        answers = [self.to_answer_logits(*self.run(world, prog)) for prog in self.programs]
        return torch.stack(answers, dim=1)


def concept_probabilities(embedding: torch.Tensor, concepts: torch.Tensor, margin: float = 0.2,
                          temperature: float = 0.1) -> torch.Tensor:
    """NSCL-style concept quantisation: (cos(embedding, concept) - margin) / temperature.

    embedding [..., D], concepts [K, D] -> logits [..., K] (one GEMM after L2 norms).
    """
    return (F.normalize(embedding, dim=-1) @ F.normalize(concepts, dim=-1).t() - margin) / temperature


def check_part(name: str, part: str, parts: Sequence[str]) -> None:
    if part not in parts:
        raise ValueError(f"{name}: option part must be one of {list(parts)}, got {part!r}")


__all__ = [
    "AnswerSpace", "BasicBlock", "Bottleneck", "BoxPool", "CLEVR_ATTRIBUTES", "CLEVR_RELATIONS",
    "ResNetBackbone", "Seq2SeqParser", "SoftProgramExecutor", "Step", "box_sampling_grid",
    "check_part", "concept_probabilities", "parse_questions", "program", "random_boxes", "union_boxes",
]
