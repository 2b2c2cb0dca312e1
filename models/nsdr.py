"""NS-DR: Neuro-Symbolic Dynamic Reasoning on CLEVRER (Yi et al., ICLR 2020).

One of the three neuro-symbolic workloads profiled by the seed paper (Susskind et al.,
2021). Four parts, each a named submodule:

``frame_parser`` (neural; Mask R-CNN stand-in)
    A ResNet-50 C4 trunk (3, 4, 6 bottleneck blocks; 1024 channels at stride 16, the
    Mask R-CNN C4 backbone) over every frame, a 1 x 1 conv to 256 channels, then per
    object and frame: 7 x 7 box pooling (grid_sample RoIAlign stand-in) into Mask
    R-CNN's two-fc box head (256 * 49 -> 1024 -> 1024) and an attribute classifier
    (8 colors + 2 materials + 3 shapes), and 14 x 14 box pooling into a mask head
    (two 3 x 3 convs of 256, a 2x transposed conv, a 1 x 1 conv: 28 x 28 mask logits).
    Detections are given as tracked boxes [B, T, N, 4]. Default 32 frames of
    240 x 320 (CLEVRER videos are 128 frames of 320 x 480; NS-DR's dynamics model
    reads every 5th frame, about 25; options frames / height / width).

``dynamics_predictor`` (neural; PropNet, Li et al. 2019, as in the NS-DR release)
    Each object's state is a 24 x 24 crop (the release's bbox_size) with, for each of
    the last n_his + 1 = 3 frames, [mask, x, y, r, g, b] channels (18), plus 5
    attribute maps (material, shape); each of the n_obj^2 ordered relations gets both
    objects' maps plus [collision, dx, dy] per frame (2 * 23 + 9 = 55 channels).
    Particle and relation encoders are 4-layer CNNs (128, 256, 384 channels, then
    nf_effect = 512), pstep = 2 propagation steps of a relation propagator
    (Linear 3 * 512 -> 512 over n_obj^2 relations) and a residual particle propagator
    (Linear 2 * 512 -> 512); incoming relation effects reach objects through the
    dense objects x relations incidence matrix (the release's Rr.mm; options
    "index" for index_select / index_add, "sparse" for torch.sparse on real tensors).
    A transposed-conv decoder with skip connections predicts the next state and an
    MLP (512, 512, 1) the collision of every relation. Rolled out 10 steps for
    prediction (CLEVRER holds out about 2 s = 51 frames past the video end, at the
    release's frame_offset 5) and, for the counterfactual question, re-simulated
    with one object removed (fixed at build time) for the same number of steps.

``question_parser`` (neural)
    NS-VQA style attention seq2seq: word embedding 300, bidirectional LSTM encoder of
    256, LSTM-cell decoder with attention, 10 program tokens; 22-token questions over
    a vocabulary of 100.

``scene`` and ``executor`` (symbolic)
    ``scene`` turns the parsed video into the symbolic dynamic scene: per-object
    attribute distributions (frame-averaged), motion from box-centre differences and
    observed collision events from pairwise centre distances. ``executor`` runs
    fixed programs, one per CLEVRER question type (``NSDR_PROGRAMS``), as soft tensor
    ops over that scene and the dynamics model's collision predictions (future and
    counterfactual): attribute and motion filters, collision events, cause finding
    with a running max over time (cummax), count / exist / query. Answers fill a
    21-way vocabulary (yes / no, counts 0..5, 8 colors, 2 materials, 3 shapes).

Inputs: frames [B, T, 3, H, W] float32, boxes [B, T, N, 4] float32 (N = 6 objects),
question [B, 4, 22] int64. Output: answer logits [B, 4, 21].
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from roofline.models._ns_common import (
    AnswerSpace,
    BoxPool,
    ResNetBackbone,
    Seq2SeqParser,
    SoftProgramExecutor,
    Step,
    check_part,
    parse_questions,
    program,
    random_boxes,
)
from roofline.models._nsdr_dynamics import (
    CLEVRER_ATTRIBUTES,
    DYNAMICS_ATTRIBUTES,
    DynamicsPredictor,
    pairwise_contact,
)

#: One program per CLEVRER question type.
NSDR_PROGRAMS: dict[str, tuple[Step, ...]] = {
    # descriptive: "How many metal objects are moving when the video ends?"
    "descriptive": program(
        ("scene",),
        ("filter", "metal"),
        ("filter_moving", "end"),
        ("count",),
    ),
    # explanatory: "What color is the object responsible for the collision between
    # the sphere and the cube?"
    "explanatory": program(
        ("scene",),
        ("filter", "sphere"),
        ("scene",),
        ("filter", "cube"),
        ("collision_between", "observed", (1, 3)),
        ("filter_cause", None, (4, 1, 3)),
        ("query", "color"),
    ),
    # predictive: "Will the sphere collide with the cube?"
    "predictive": program(
        ("scene",),
        ("filter", "sphere"),
        ("scene",),
        ("filter", "cube"),
        ("collision_between", "predicted", (1, 3)),
        ("exist_event",),
    ),
    # counterfactual: "Without the removed object, will the sphere collide with the cube?"
    "counterfactual": program(
        ("scene",),
        ("filter", "sphere"),
        ("scene",),
        ("filter", "cube"),
        ("collision_between", "counterfactual", (1, 3)),
        ("exist_event",),
    ),
}

PARTS = ("all", "frame_parser", "dynamics_predictor", "question_parser", "executor")
# part "executor" holds both the ``scene`` builder and the ``executor``.

# --------------------------------------------------------------------------------------
# Frame parser
# --------------------------------------------------------------------------------------


class FrameParser(nn.Module):
    """Per-frame Mask R-CNN stand-in: trunk, box head + attributes, mask head."""

    def __init__(self, feature_dim: int = 256, head_dim: int = 1024) -> None:
        super().__init__()
        self.backbone = ResNetBackbone("bottleneck", (3, 4, 6))  # 1024 channels, stride 16
        self.reduce = nn.Conv2d(self.backbone.out_channels, feature_dim, 1)
        self.box_pool = BoxPool(7)
        self.box_head = nn.Sequential(
            nn.Linear(feature_dim * 49, head_dim), nn.ReLU(inplace=True),
            nn.Linear(head_dim, head_dim), nn.ReLU(inplace=True),
        )
        self.attribute_head = nn.Linear(head_dim, sum(len(v) for v in CLEVRER_ATTRIBUTES.values()))
        self.mask_pool = BoxPool(14)
        self.mask_head = nn.Sequential(
            nn.Conv2d(feature_dim, feature_dim, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(feature_dim, feature_dim, 3, padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(feature_dim, feature_dim, 2, stride=2), nn.ReLU(inplace=True),
            nn.Conv2d(feature_dim, 1, 1),
        )

    def forward(self, frames: torch.Tensor, boxes: torch.Tensor):
        b, t = frames.shape[:2]
        n = boxes.shape[2]
        features = F.relu(self.reduce(self.backbone(frames.flatten(0, 1))))  # [B*T, C, h, w]
        flat_boxes = boxes.flatten(0, 1)  # [B*T, N, 4]
        pooled = self.box_pool(features, flat_boxes).flatten(2)  # [B*T, N, C*49]
        attribute_logits = self.attribute_head(self.box_head(pooled)).view(b, t, n, -1)
        mask_roi = self.mask_pool(features, flat_boxes).flatten(0, 1)  # [B*T*N, C, 14, 14]
        mask_logits = self.mask_head(mask_roi).view(b, t, n, 28, 28)
        return attribute_logits, mask_logits


# --------------------------------------------------------------------------------------
# Dynamics predictor (PropNet)
# --------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------
# Executor
# --------------------------------------------------------------------------------------


class NSDRExecutor(SoftProgramExecutor):
    """Soft executor with CLEVRER's motion and event ops.

    Extra world entries: ``moving`` [B, T, N], ``collision:<source>`` [B, T', N, N]
    for source in observed / predicted / counterfactual.
    Extra ops: filter_moving <start|end|any>, filter_collide <source>,
    collision_between <source> (two masks -> event over time), filter_cause
    (event, mask, mask -> objects colliding with either earlier), exist_event,
    count_events <source>.
    """

    def op_filter_moving(self, world, inputs, arg):
        moving = world["moving"]
        picked = {"start": moving[:, 0], "end": moving[:, -1], "any": moving.amax(dim=1)}
        if arg not in picked:
            raise ValueError(f"filter_moving: arg must be start, end or any, got {arg!r}")
        return ("mask", torch.minimum(inputs[0][1], picked[arg]))

    @staticmethod
    def _collisions(world, arg):
        key = f"collision:{arg}"
        if key not in world:
            known = sorted(k.split(":", 1)[1] for k in world if k.startswith("collision:"))
            raise ValueError(f"unknown collision source {arg!r}; this scene has {known}")
        return world[key]

    def op_filter_collide(self, world, inputs, arg):
        collisions = self._collisions(world, arg)  # [B, T, N, N]
        mask = inputs[0][1][:, None, :, None]
        return ("mask", torch.minimum(mask, collisions).amax(dim=(1, 2)))

    def op_collision_between(self, world, inputs, arg):
        collisions = self._collisions(world, arg)
        first = inputs[0][1][:, None, :, None]
        second = inputs[1][1][:, None, None, :]
        event = torch.minimum(torch.minimum(first, second), collisions).amax(dim=(2, 3))
        return ("event", event)  # [B, T]

    def op_filter_cause(self, world, inputs, arg):
        event = inputs[0][1]  # [B, T]
        involved = torch.maximum(inputs[1][1], inputs[2][1])  # [B, N]
        collisions = world["collision:observed"]
        contact = torch.minimum(involved[:, None, :, None], collisions).amax(dim=2)  # [B, T, N]
        seen = torch.cummax(contact, dim=1).values
        before = torch.cat([torch.zeros_like(seen[:, :1]), seen[:, :-1]], dim=1)
        cause = torch.minimum(event.unsqueeze(-1), before).amax(dim=1)
        return ("mask", cause * (1.0 - involved))

    def op_exist_event(self, world, inputs, arg):
        return ("bool", inputs[0][1].amax(dim=-1))

    def op_count_events(self, world, inputs, arg):
        collisions = self._collisions(world, arg)
        n = collisions.shape[-1]
        upper = torch.ones(n, n, dtype=collisions.dtype, device=collisions.device).triu(1)
        return ("count", (collisions * upper).sum(dim=(1, 2, 3)))


class DynamicScene(nn.Module):
    """The symbolic scene from the parsed video (no parameters).

    forward(attribute_logits [B, T, N, 13], boxes [B, T, N, 4]) -> dict with, per
    attribute, ``filter:`` / ``query:`` distributions [B, N, K] (softmax of the
    frame-averaged classifier logits), ``moving`` [B, T, N] (speed of the box
    centre), ``collision:observed`` [B, T, N, N] (pairwise centre distances) and
    ``dynamics_attributes`` [B, N, 5] (material and shape, the dynamics model's input).
    """

    def forward(self, attribute_logits: torch.Tensor, boxes: torch.Tensor) -> dict[str, torch.Tensor]:
        mean_logits = attribute_logits.mean(dim=1)
        sizes = [len(v) for v in CLEVRER_ATTRIBUTES.values()]
        groups = torch.split(mean_logits, sizes, dim=-1)
        world: dict[str, torch.Tensor] = {}
        for attr, logits in zip(CLEVRER_ATTRIBUTES, groups):
            probs = torch.softmax(logits, dim=-1)
            world[f"filter:{attr}"] = probs
            world[f"query:{attr}"] = probs
        world["dynamics_attributes"] = torch.cat(
            [world[f"filter:{a}"] for a in DYNAMICS_ATTRIBUTES], dim=-1
        )
        centres = (boxes[..., :2] + boxes[..., 2:]) * 0.5  # [B, T, N, 2]
        speed = (centres[:, 1:] - centres[:, :-1]).pow(2).sum(-1).add(1e-12).sqrt()
        speed = torch.cat([speed[:, :1], speed], dim=1)
        world["moving"] = torch.sigmoid((speed - 0.005) / 0.002)
        world["collision:observed"] = pairwise_contact(centres)
        return world


class NSDR(nn.Module):
    """The whole NS-DR pipeline or one of its parts (see the module docstring)."""

    def __init__(self, programs: Sequence[Sequence[Step]], part: str = "all", rollout_steps: int = 10,
                 counterfactual_steps: int = 10, removed_object: int = 0, aggregate: str = "dense",
                 vocab_size: int = 100, program_length: int = 10, rnn: str = "lstm") -> None:
        super().__init__()
        check_part("nsdr", part, PARTS)
        self.part = part
        self.removed_object = removed_object
        self.counterfactual_steps = counterfactual_steps
        self.uses_counterfactual = any(
            step.arg == "counterfactual" for prog in programs for step in prog
        )
        if part in ("all", "frame_parser"):
            self.frame_parser = FrameParser()
        if part in ("all", "dynamics_predictor"):
            self.dynamics_predictor = DynamicsPredictor(steps=rollout_steps, aggregate=aggregate)
        if part in ("all", "question_parser"):
            self.question_parser = Seq2SeqParser(vocab_size, 300, 256, 48, program_length, rnn)
        if part in ("all", "executor"):
            self.scene = DynamicScene()
            answers = AnswerSpace(CLEVRER_ATTRIBUTES, max_count=5)
            self.executor = NSDRExecutor(programs, CLEVRER_ATTRIBUTES, answers)

    def dynamics(self, frames, boxes, mask_logits, attribute_probs):
        removed = self.removed_object if self.uses_counterfactual else None
        return self.dynamics_predictor(frames, boxes, mask_logits, attribute_probs, removed,
                                       self.counterfactual_steps)

    def answer(self, scene, future, counterfactual):
        world = dict(scene)
        world["collision:predicted"] = future
        if counterfactual is not None:
            world["collision:counterfactual"] = counterfactual
        return self.executor(world)

    def forward(self, *inputs):
        if self.part == "frame_parser":
            return self.frame_parser(*inputs)
        if self.part == "question_parser":
            (question,) = inputs
            return parse_questions(self.question_parser, question).unflatten(0, question.shape[:2])
        if self.part == "dynamics_predictor":
            frames, boxes, mask_logits, dyn_attr = inputs
            return self.dynamics_predictor(frames, boxes, mask_logits, dyn_attr,
                                           self.removed_object, self.counterfactual_steps)
        if self.part == "executor":
            attribute_logits, boxes, future, counterfactual = inputs
            return self.answer(self.scene(attribute_logits, boxes), future, counterfactual)

        frames, boxes, question = inputs
        attribute_logits, mask_logits = self.frame_parser(frames, boxes)
        scene = self.scene(attribute_logits, boxes)
        future, counterfactual = self.dynamics(frames, boxes, mask_logits, scene["dynamics_attributes"])
        # Programs are fixed at build time; the parser runs as part of the workload.
        parse_questions(self.question_parser, question)
        return self.answer(scene, future, counterfactual)


def _tracked_boxes(batch: int, frames: int, n_objects: int) -> torch.Tensor:
    """Boxes [B, T, N, 4] that drift linearly from a random start (tensor ops only)."""
    start = random_boxes(batch, 1, n_objects, min_size=0.08, max_size=0.15)
    velocity = (torch.rand(batch, 1, n_objects, 2) - 0.5) * (0.4 / max(frames, 1))
    time = torch.arange(frames, dtype=start.dtype).view(1, frames, 1, 1)
    shift = (velocity * time).repeat(1, 1, 1, 2)
    return (start + shift).clamp(0.0, 1.0)


def build_nsdr(batch: int = 1, *, frames: int = 32, height: int = 240, width: int = 320,
               n_objects: int = 6, rollout_steps: int = 10, counterfactual_steps: int | None = None,
               removed_object: int = 0, aggregate: str = "dense", question_length: int = 22,
               vocab_size: int = 100, program_length: int = 10, rnn: str = "lstm",
               programs: Sequence[str | Sequence[Step]] = tuple(NSDR_PROGRAMS), part: str = "all"):
    """NS-DR on CLEVRER. Returns ``(model, inputs)``.

    Options: frames (32), height x width (240 x 320), n_objects (6), rollout_steps
    (10 PropNet steps into the future), counterfactual_steps (defaults to
    rollout_steps), removed_object (index of the object the counterfactual removes,
    0), aggregate ("dense" incidence-matrix products, "index" index_select /
    index_add, or "sparse" torch.sparse products; sparse needs real tensors),
    question_length (22), vocab_size (100), program_length (10), rnn ("lstm" or
    "gru" for the question parser), programs (names from ``NSDR_PROGRAMS`` or lists of
    ``Step``; default all four question types), part: "all" (frames, boxes, question
    -> answers [B, Q, 21]), "frame_parser" (frames, boxes -> attribute logits
    [B, T, N, 13], mask logits [B, T, N, 28, 28]), "dynamics_predictor" (frames,
    boxes, mask logits, attribute maps [B, N, 5] -> future and counterfactual
    collisions [B, S, N, N]), "question_parser" or "executor".
    """
    if frames < 3:
        raise ValueError(f"nsdr: option frames must be at least 3 (the dynamics history), got {frames}")
    if n_objects < 2:
        raise ValueError(f"nsdr: option n_objects must be at least 2, got {n_objects}")
    if not 0 <= removed_object < n_objects:
        raise ValueError(f"nsdr: option removed_object must be in [0, {n_objects}), got {removed_object}")
    if aggregate == "sparse" and torch.empty(0).device.type == "meta":
        raise ValueError(
            "nsdr: option aggregate='sparse' needs real tensors (PyTorch has no sparse meta kernels)"
        )
    resolved = [NSDR_PROGRAMS[p] if isinstance(p, str) else tuple(p) for p in programs]
    if counterfactual_steps is None:
        counterfactual_steps = rollout_steps
    model = NSDR(resolved, part, rollout_steps, counterfactual_steps, removed_object, aggregate,
                 vocab_size, program_length, rnn).eval()
    video = torch.randn(batch, frames, 3, height, width)
    boxes = _tracked_boxes(batch, frames, n_objects)
    question = torch.randint(0, vocab_size, (batch, len(resolved), question_length))
    if part == "frame_parser":
        return model, (video, boxes)
    if part == "question_parser":
        return model, (question,)
    if part == "dynamics_predictor":
        mask_logits = torch.randn(batch, frames, n_objects, 28, 28)
        return model, (video, boxes, mask_logits, torch.rand(batch, n_objects, 5))
    if part == "executor":
        attribute_logits = torch.randn(batch, frames, n_objects, 13)
        future = torch.rand(batch, rollout_steps, n_objects, n_objects)
        counterfactual = torch.rand(batch, counterfactual_steps, n_objects, n_objects)
        return model, (attribute_logits, boxes, future, counterfactual)
    return model, (video, boxes, question)


ZOO = {"nsdr": build_nsdr}