"""NS-DR's dynamics predictor (PropNet, Li et al. 2019, as in the NS-DR release) and the
CLEVRER objects it reads: their attribute vocabulary, per-frame state and relation
channels, and soft contact from centre distances (nsdr.py's module docstring describes
the model; nsdr.py builds the rest of the pipeline around this part).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._ns_common import BoxPool  # the RoIAlign stand-in the frame parser uses too

#: CLEVRER's object attributes (all objects have the same size).
CLEVRER_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"),
    "material": ("rubber", "metal"),
    "shape": ("cube", "sphere", "cylinder"),
}
#: Attributes the release's dynamics model reads as input maps (material, shape).
DYNAMICS_ATTRIBUTES = ("material", "shape")

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
        b, _, n = centres.shape[:3]
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
