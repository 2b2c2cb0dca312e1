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
    program,
    random_boxes,
)

#: CLEVRER's object attributes (all objects have the same size).
CLEVRER_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"),
    "material": ("rubber", "metal"),
    "shape": ("cube", "sphere", "cylinder"),
}
#: Attributes the release's dynamics model reads as input maps (material, shape).
DYNAMICS_ATTRIBUTES = ("material", "shape")

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
STATE_DIM = 6  # [mask, x, y, r, g, b] per frame (release: state_dim)
RELATION_DIM = 3  # [collision, dx, dy] per frame (release: relation_dim)
COLLISION_RADIUS = 0.08  # centre distance (fraction of the frame) counted as contact
COLLISION_SHARPNESS = 0.02


def not_self(n: int, like: torch.Tensor) -> torch.Tensor:
    """[N, N] float mask, 0 on the diagonal."""
    return 1.0 - torch.eye(n, dtype=like.dtype, device=like.device)


def pairwise_contact(positions: torch.Tensor, off_diagonal: torch.Tensor | None = None) -> torch.Tensor:
    """Soft contact from centre distances: [..., N, 2] -> [..., N, N], zero diagonal."""
    diff = positions.unsqueeze(-2) - positions.unsqueeze(-3)
    distance = diff.pow(2).sum(-1).add(1e-12).sqrt()
    contact = torch.sigmoid((COLLISION_RADIUS - distance) / COLLISION_SHARPNESS)
    if off_diagonal is None:
        off_diagonal = not_self(positions.shape[-2], contact)
    return contact * off_diagonal


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


class CropEncoder(nn.Module):
    """Four convs on a 24 x 24 map: 24 -> 12 -> 6 -> 3 -> 1 (release's encoders)."""

    def __init__(self, in_channels: int, hidden: int = 128, out_channels: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 4, 2, 1)
        self.conv2 = nn.Conv2d(hidden, hidden * 2, 4, 2, 1)
        self.conv3 = nn.Conv2d(hidden * 2, hidden * 3, 4, 2, 1)
        self.conv4 = nn.Conv2d(hidden * 3, out_channels, 3, 1, 0)
        self.act = nn.LeakyReLU()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x1 = self.act(self.conv1(x))
        x2 = self.act(self.conv2(x1))
        x3 = self.act(self.conv3(x2))
        x4 = self.act(self.conv4(x3))
        return [x1, x2, x3, x4]


class StateDecoder(nn.Module):
    """Transposed convs with encoder skips: effect [M, 512] -> next state [M, 6, 24, 24]."""

    def __init__(self, effect_dim: int = 512, hidden: int = 128, out_channels: int = STATE_DIM) -> None:
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(effect_dim * 2, hidden * 3, 3, 1, 0)
        self.deconv2 = nn.ConvTranspose2d(hidden * 3 * 2, hidden * 2, 4, 2, 1)
        self.deconv3 = nn.ConvTranspose2d(hidden * 2 * 2, hidden, 4, 2, 1)
        self.deconv4 = nn.ConvTranspose2d(hidden * 2, out_channels, 4, 2, 1)
        self.act = nn.LeakyReLU()

    def forward(self, effect: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = effect[..., None, None]
        x = self.act(self.deconv1(torch.cat([x, skips[3]], 1)))
        x = self.act(self.deconv2(torch.cat([x, skips[2]], 1)))
        x = self.act(self.deconv3(torch.cat([x, skips[1]], 1)))
        return self.deconv4(torch.cat([x, skips[0]], 1))


class PropagationNetwork(nn.Module):
    """One PropNet prediction step over N objects and their N^2 ordered relations.

    forward(states [B, N, 18, 24, 24], attrs [B, N, 5, 24, 24], relation_attrs
    [B, N*N, 9, 24, 24]) -> next state [B, N, 6, 24, 24], collision logits [B, N*N].
    """

    def __init__(self, n_his: int = 2, n_attr: int = 5, hidden: int = 128, effect_dim: int = 512,
                 pstep: int = 2, aggregate: str = "dense") -> None:
        super().__init__()
        if aggregate not in ("dense", "index", "sparse"):
            raise ValueError(
                f"nsdr: option aggregate must be 'dense', 'index' or 'sparse', got {aggregate!r}"
            )
        self.aggregate = aggregate
        self.pstep = pstep
        state_channels = STATE_DIM * (n_his + 1)
        relation_channels = RELATION_DIM * (n_his + 1)
        self.particle_encoder = CropEncoder(state_channels + n_attr, hidden, effect_dim)
        relation_in = 2 * (state_channels + n_attr) + relation_channels
        self.relation_encoder = CropEncoder(relation_in, hidden, effect_dim)
        self.relation_propagator = nn.Linear(3 * effect_dim, effect_dim)
        self.particle_propagator = nn.Linear(2 * effect_dim, effect_dim)
        self.particle_predictor = StateDecoder(effect_dim, hidden)
        self.relation_predictor = nn.Sequential(
            nn.Linear(effect_dim, effect_dim), nn.ReLU(),
            nn.Linear(effect_dim, effect_dim), nn.ReLU(),
            nn.Linear(effect_dim, 1),
        )

    # Gather object rows for every relation and scatter relation rows back to objects.
    @staticmethod
    def incidence(n: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Receiver / sender incidence matrices [N, N*N]; relation r = i * N + j, i receives."""
        eye = torch.eye(n, dtype=like.dtype, device=like.device)
        receiver = eye.repeat_interleave(n, dim=1)  # [N, N*N]: (i, i*N + j) = 1
        sender = eye.repeat(1, n)  # [N, N*N]: (j, i*N + j) = 1
        return receiver, sender

    def gather(self, objects: torch.Tensor, which: str, n: int, matrices) -> torch.Tensor:
        """objects [B, N, F] -> per relation [B, N*N, F] (receiver or sender side)."""
        b = objects.shape[0]
        if self.aggregate == "index":
            index = torch.arange(n * n, device=objects.device)
            index = index // n if which == "receiver" else index % n
            return objects.index_select(1, index)
        matrix = matrices[0] if which == "receiver" else matrices[1]
        if self.aggregate == "sparse":
            flat = objects.transpose(0, 1).reshape(n, -1)  # [N, B*F]
            out = torch.sparse.mm(matrix.t().to_sparse(), flat)
            return out.reshape(n * n, b, -1).transpose(0, 1)
        return torch.matmul(matrix.t(), objects)

    def scatter_to_receivers(self, relations: torch.Tensor, n: int, matrices) -> torch.Tensor:
        """relations [B, N*N, F] -> summed effect per receiving object [B, N, F]."""
        b, _, f = relations.shape
        if self.aggregate == "index":
            index = torch.arange(n * n, device=relations.device) // n
            return relations.new_zeros(b, n, f).index_add(1, index, relations)
        if self.aggregate == "sparse":
            flat = relations.transpose(0, 1).reshape(n * n, -1)
            out = torch.sparse.mm(matrices[0].to_sparse(), flat)
            return out.reshape(n, b, f).transpose(0, 1)
        return torch.matmul(matrices[0], relations)

    def forward(self, states, attrs, relation_attrs, matrices=None):
        b, n = states.shape[:2]
        if matrices is None:  # a rollout passes them in, built once
            matrices = self.incidence(n, states)
        crop = states.shape[-1]
        objects = torch.cat([attrs, states], dim=2)  # [B, N, 23, s, s]
        per_object = objects.flatten(2)
        receiver = self.gather(per_object, "receiver", n, matrices).view(b, n * n, -1, crop, crop)
        sender = self.gather(per_object, "sender", n, matrices).view(b, n * n, -1, crop, crop)
        particle_code = self.particle_encoder(objects.flatten(0, 1))
        relation_input = torch.cat([receiver, sender, relation_attrs], dim=2).flatten(0, 1)
        relation_code = self.relation_encoder(relation_input)[-1].view(b, n * n, -1)

        particle_base = particle_code[-1].view(b, n, -1)
        effect = torch.zeros_like(particle_base)
        for _ in range(self.pstep):
            effect_r = self.gather(effect, "receiver", n, matrices)
            effect_s = self.gather(effect, "sender", n, matrices)
            relation_effect = F.relu(
                self.relation_propagator(torch.cat([relation_code, effect_r, effect_s], dim=-1))
            )
            incoming = self.scatter_to_receivers(relation_effect, n, matrices)
            effect = F.relu(self.particle_propagator(torch.cat([particle_base, incoming], dim=-1)) + effect)

        next_state = self.particle_predictor(effect.flatten(0, 1), particle_code)
        collision = self.relation_predictor(relation_effect).squeeze(-1)  # [B, N*N]
        return next_state.view(b, n, STATE_DIM, crop, crop), collision


class DynamicsPredictor(nn.Module):
    """Builds PropNet's per-object crops from the parsed frames and rolls it out."""

    def __init__(self, n_his: int = 2, crop: int = 24, steps: int = 10, aggregate: str = "dense") -> None:
        super().__init__()
        self.n_his = n_his
        self.steps = steps
        self.rgb_pool = BoxPool(crop)
        self.crop = crop
        n_attr = sum(len(CLEVRER_ATTRIBUTES[a]) for a in DYNAMICS_ATTRIBUTES)
        self.propnet = PropagationNetwork(n_his, n_attr, aggregate=aggregate)

    def initial_state(self, frames, boxes, mask_logits, attribute_probs):
        """Last n_his + 1 frames -> states [B, N, 18, s, s], attrs [B, N, 5, s, s], centres."""
        b, t, n = boxes.shape[:3]
        s = self.crop
        rgb = self.rgb_pool(frames.flatten(0, 1), boxes.flatten(0, 1)).view(b, t, n, 3, s, s)
        mask = torch.sigmoid(
            F.interpolate(mask_logits.flatten(0, 2).unsqueeze(1), size=(s, s), mode="bilinear",
                          align_corners=False)
        ).view(b, t, n, 1, s, s)
        centres = (boxes[..., :2] + boxes[..., 2:]) * 0.5  # [B, T, N, 2] in [0, 1]
        position = (centres * 2.0 - 1.0)[..., None, None].expand(b, t, n, 2, s, s)
        per_frame = torch.cat([mask, position, rgb], dim=3)  # [B, T, N, 6, s, s]
        states = per_frame.transpose(1, 2).reshape(b, n, t * STATE_DIM, s, s)
        attrs = attribute_probs[..., None, None].expand(b, n, attribute_probs.shape[-1], s, s)
        return states, attrs, centres

    def relation_maps(self, centres: torch.Tensor, contact: torch.Tensor) -> torch.Tensor:
        """centres [B, T, N, 2], contact [B, T, N, N] -> [B, N*N, 3T, s, s]."""
        b, t, n = centres.shape[:3]
        s = self.crop
        offset = centres.unsqueeze(3) - centres.unsqueeze(2)  # [B, T, N(recv), N(send), 2]
        per_frame = torch.cat([contact.unsqueeze(-1) - 0.5, offset], dim=-1)  # [B, T, N, N, 3]
        per_frame = per_frame.permute(0, 2, 3, 1, 4).reshape(b, n * n, t * RELATION_DIM)
        return per_frame[..., None, None].expand(b, n * n, t * RELATION_DIM, s, s)

    def rollout(self, states, attrs, centres, contact, steps):
        """Roll PropNet forward; returns centres [B, S, N, 2] and collisions [B, S, N, N]."""
        b, t, n = centres.shape[:3]
        predicted_centres, predicted_collisions = [], []
        matrices = self.propnet.incidence(n, states)
        off_diagonal = not_self(n, states)
        for _ in range(steps):
            relation_attrs = self.relation_maps(centres, contact)
            next_state, collision_logits = self.propnet(states, attrs, relation_attrs, matrices)
            delta = next_state[:, :, 1:3].mean(dim=(-2, -1)) * 0.5  # map offset -> [0, 1] units
            new_centre = centres[:, -1] + delta  # [B, N, 2]
            position = (new_centre * 2.0 - 1.0)[..., None, None].expand_as(next_state[:, :, 1:3])
            new_frame = torch.cat([next_state[:, :, :1], position, next_state[:, :, 3:]], dim=2)
            states = torch.cat([states[:, :, STATE_DIM:], new_frame], dim=2)
            collision = torch.sigmoid(collision_logits).view(b, n, n)
            collision = torch.maximum(collision, pairwise_contact(new_centre, off_diagonal))
            centres = torch.cat([centres[:, 1:], new_centre.unsqueeze(1)], dim=1)
            contact = torch.cat([contact[:, 1:], collision.unsqueeze(1)], dim=1)
            predicted_centres.append(new_centre)
            predicted_collisions.append(collision)
        return torch.stack(predicted_centres, 1), torch.stack(predicted_collisions, 1)

    def forward(self, frames, boxes, mask_logits, attribute_probs, removed_object: int | None = None,
                counterfactual_steps: int = 0):
        """Predict from the last frames; optionally re-simulate without one object.

        frames [B, T, 3, H, W], boxes [B, T, N, 4], mask_logits [B, T, N, 28, 28],
        attribute_probs [B, N, 5] -> future collisions [B, S, N, N] and, when
        ``removed_object`` is given, counterfactual collisions [B, S, N, N] (zero rows
        and columns for the removed object).
        """
        h = self.n_his + 1
        n = boxes.shape[2]
        last = slice(boxes.shape[1] - h, boxes.shape[1])
        states, attrs, centres = self.initial_state(
            frames[:, last], boxes[:, last], mask_logits[:, last], attribute_probs
        )
        contact = pairwise_contact(centres)
        _, future = self.rollout(states, attrs, centres, contact, self.steps)
        if removed_object is None:
            return future, None

        kept = torch.arange(n - 1, device=boxes.device)
        keep = kept + (kept >= removed_object).long()  # every index but removed_object
        first = slice(0, h)
        states, attrs, centres = self.initial_state(
            frames[:, first], boxes[:, first].index_select(2, keep),
            mask_logits[:, first].index_select(2, keep), attribute_probs.index_select(1, keep),
        )
        contact = pairwise_contact(centres)
        _, counterfactual = self.rollout(states, attrs, centres, contact, counterfactual_steps)
        # Put the N-1 objects back in their slots so the executor sees N x N matrices.
        b, s = counterfactual.shape[:2]
        rows = counterfactual.new_zeros(b, s, n - 1, n).index_copy(3, keep, counterfactual)
        full = counterfactual.new_zeros(b, s, n, n).index_copy(2, keep, rows)
        return future, full


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
            b, q, length = question.shape
            return self.question_parser(question.reshape(b * q, length)).unflatten(0, (b, q))
        if self.part == "dynamics_predictor":
            frames, boxes, mask_logits, dyn_attr = inputs
            return self.dynamics_predictor(frames, boxes, mask_logits, dyn_attr,
                                           self.removed_object, self.counterfactual_steps)
        if self.part == "executor":
            attribute_logits, boxes, future, counterfactual = inputs
            return self.answer(self.scene(attribute_logits, boxes), future, counterfactual)

        frames, boxes, question = inputs
        b, q, length = question.shape
        attribute_logits, mask_logits = self.frame_parser(frames, boxes)
        scene = self.scene(attribute_logits, boxes)
        future, counterfactual = self.dynamics(frames, boxes, mask_logits, scene["dynamics_attributes"])
        # Programs are fixed at build time; the parser runs as part of the workload.
        self.question_parser(question.reshape(b * q, length))
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
