"""NSCL: the Neuro-Symbolic Concept Learner (Mao et al., ICLR 2019) on CLEVR.

One of the three neuro-symbolic workloads profiled by the seed paper (Susskind et al.,
2021, "Neuro-Symbolic AI: an emerging class of AI workloads and their
characterization"). Three parts, each a named submodule so a per-module breakdown
separates the neural and the symbolic work:

``perception`` (neural, image parser)
    A ResNet-34 trunk cut after its third stage (3, 4, 6 basic blocks; 256 channels
    at stride 16), as NSCL's released visual module does, on a 3 x 256 x 384 CLEVR
    image (NSCL resizes CLEVR's 480 x 320 images to 256 x 384). Mask R-CNN's object
    proposals are given as input boxes ([B, N, 4] fractions; N = 10 objects, CLEVR
    scenes hold 3 to 10). Object features: 7 x 7 box pooling (a grid_sample RoIAlign
    stand-in) of the feature map fused with pooled whole-image context by a 1 x 1 conv,
    then a Linear 256 * 49 -> 256. Relation features, one per ordered object pair
    (N^2 of them): box pooling of a 384-channel relation map over each pair's union
    box, concatenated with both objects' pooled features (384 + 2 * 256 channels),
    fused by a 1 x 1 conv to 256 and a Linear 256 * 49 -> 256. Channel sizes follow
    NSCL's scene-graph module (feature 256, pool 7, relation map 256 // 2 * 3).

``concept_embedding`` (neural, visual-semantic space)
    One linear operator per attribute (color, shape, material, size) maps an object
    feature into a 64-d attribute space and one maps pair features into a 64-d
    relation space (NSCL's concept embedding size); concept vectors live there, and
    P(object has concept) = sigmoid((cos(u_a(o), v_c) - 0.2) / 0.1).

``question_parser`` (neural, semantic parser)
    Seq2seq with attention: word embedding 300, bidirectional GRU encoder with 256
    hidden units, GRU-cell decoder with dot-product attention, greedily decoding a
    10-token program; questions of 22 tokens (a typical CLEVR question length) over
    a vocabulary of 100 (CLEVR's question vocabulary has fewer than 100 words).

``executor`` (symbolic)
    A fixed program per question (given at build time, see ``NSCL_PROGRAMS``) run as
    soft tensor ops: filter (min of mask and concept probability), relate (max over
    objects of min(mask, relation probability), an N x N relation matrix per
    relation concept), same-attribute (cosine between objects' attribute embeddings),
    intersect / union (min / max), count (sum), exist (max), query (mask-weighted
    softmax over an attribute's concepts), numeric comparisons (sigmoid of the
    difference). Answers fill CLEVR's 28-way answer vocabulary (yes / no, 0..10,
    15 attribute values).

Inputs: image [B, 3, 256, 384] float32, boxes [B, 10, 4] float32, question
[B, Q, 22] int64 (Q = number of programs). Output: answer logits [B, Q, 28].
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from roofline.models._ns_common import (
    CLEVR_ATTRIBUTES,
    CLEVR_RELATIONS,
    AnswerSpace,
    BoxPool,
    ResNetBackbone,
    Seq2SeqParser,
    SoftProgramExecutor,
    Step,
    check_part,
    concept_probabilities,
    parse_questions,
    program,
    random_boxes,
    union_boxes,
)

#: Named CLEVR-style programs. The default is a 12-step compare-integer question:
#: "Are there more cubes left of the red sphere than metal things that are the same
#: size as the cylinder?"
NSCL_PROGRAMS: dict[str, tuple[Step, ...]] = {
    "compare_count": program(
        ("scene",),
        ("filter", "red"),
        ("filter", "sphere"),
        ("relate", "left"),
        ("filter", "cube"),
        ("count",),
        ("scene",),
        ("filter", "cylinder"),
        ("same", "size"),
        ("filter", "metal"),
        ("count",),
        ("greater", None, (5, 10)),
    ),
    # "What color is the large rubber thing behind the green cube?"
    "query_color": program(
        ("scene",),
        ("filter", "green"),
        ("filter", "cube"),
        ("relate", "behind"),
        ("filter", "large"),
        ("filter", "rubber"),
        ("query", "color"),
    ),
    # "Is there a cylinder in front of the small metal thing or a yellow sphere?"
    "exist_or": program(
        ("scene",),
        ("filter", "small"),
        ("filter", "metal"),
        ("relate", "front"),
        ("filter", "cylinder"),
        ("scene",),
        ("filter", "yellow"),
        ("filter", "sphere"),
        ("union", None, (4, 7)),
        ("exist",),
    ),
    # "Does the big cube have the same material as the thing right of the gray sphere?"
    "query_equal": program(
        ("scene",),
        ("filter", "large"),
        ("filter", "cube"),
        ("scene",),
        ("filter", "gray"),
        ("filter", "sphere"),
        ("relate", "right"),
        ("query_equal", "material", (2, 6)),
    ),
    # "How many things are both blue and right of the brown cylinder?"
    "count_and": program(
        ("scene",),
        ("filter", "brown"),
        ("filter", "cylinder"),
        ("relate", "right"),
        ("scene",),
        ("filter", "blue"),
        ("intersect", None, (3, 5)),
        ("count",),
    ),
}

PARTS = ("all", "perception", "question_parser", "reasoning")


class ScenePerception(nn.Module):
    """Image parser: ResNet-34 C4 trunk + box-pooled object and pair features."""

    def __init__(self, feature_dim: int = 256, pool_size: int = 7) -> None:
        super().__init__()
        self.backbone = ResNetBackbone("basic", (3, 4, 6))  # 256 channels, stride 16
        channels = self.backbone.out_channels
        relation_channels = channels // 2 * 3
        self.box_pool = BoxPool(pool_size)
        self.context_extract = nn.Conv2d(channels, channels, 1)
        self.object_fuse = nn.Conv2d(2 * channels, feature_dim, 1)
        self.object_fc = nn.Linear(feature_dim * pool_size**2, feature_dim)
        self.relation_extract = nn.Conv2d(channels, relation_channels, 1)
        self.relation_fuse = nn.Conv2d(relation_channels + 2 * feature_dim, feature_dim, 1)
        self.relation_fc = nn.Linear(feature_dim * pool_size**2, feature_dim)
        whole_image = torch.cat([torch.zeros(2), torch.ones(2)])  # (x0, y0, x1, y1)
        self.register_buffer("whole_image", whole_image, persistent=False)

    def forward(self, image: torch.Tensor, boxes: torch.Tensor):
        b, n, _ = boxes.shape
        s = self.box_pool.size
        features = self.backbone(image)  # [B, 256, H/16, W/16]

        # Objects: own box pooled, with whole-image context pooled the same way.
        context = self.context_extract(features)
        context_roi = self.box_pool(context, self.whole_image.expand(b, 1, 4))  # [B, 1, C, s, s]
        object_roi = self.box_pool(features, boxes)  # [B, N, C, s, s]
        fused = torch.cat([object_roi, context_roi.expand_as(object_roi)], dim=2)
        fused = F.relu(self.object_fuse(fused.flatten(0, 1)))  # [B*N, D, s, s]
        objects = self.object_fc(fused.flatten(1)).view(b, n, -1)  # [B, N, D]

        # Relations: every ordered pair's union box plus both objects' pooled maps.
        relation_map = self.relation_extract(features)
        pair_roi = self.box_pool(relation_map, union_boxes(boxes))  # [B, N*N, C', s, s]
        per_object = fused.view(b, n, -1, s, s)
        d = per_object.shape[2]
        subject = per_object.unsqueeze(2).expand(b, n, n, d, s, s).reshape(b, n * n, d, s, s)
        obj = per_object.unsqueeze(1).expand(b, n, n, d, s, s).reshape(b, n * n, d, s, s)
        pairs = torch.cat([pair_roi, subject, obj], dim=2).flatten(0, 1)
        pairs = F.relu(self.relation_fuse(pairs))  # [B*N*N, D, s, s]
        relations = self.relation_fc(pairs.flatten(1)).view(b, n, n, -1)  # [B, N, N, D]
        return objects, relations


class ConceptEmbedding(nn.Module):
    """Visual-semantic space: attribute / relation operators and concept vectors."""

    def __init__(self, feature_dim: int = 256, embedding_dim: int = 64) -> None:
        super().__init__()
        self.attributes = dict(CLEVR_ATTRIBUTES)
        self.attribute_operators = nn.ModuleDict(
            {a: nn.Linear(feature_dim, embedding_dim) for a in self.attributes}
        )
        self.attribute_concepts = nn.ParameterDict(
            {a: nn.Parameter(torch.randn(len(c), embedding_dim)) for a, c in self.attributes.items()}
        )
        self.relation_operator = nn.Linear(feature_dim, embedding_dim)
        self.relation_concepts = nn.Parameter(torch.randn(len(CLEVR_RELATIONS), embedding_dim))

    def forward(self, objects: torch.Tensor, relations: torch.Tensor) -> dict[str, torch.Tensor]:
        world: dict[str, torch.Tensor] = {}
        for attr, operator in self.attribute_operators.items():
            embedded = operator(objects)  # [B, N, 64]
            logits = concept_probabilities(embedded, self.attribute_concepts[attr])
            world[f"embedding:{attr}"] = embedded
            world[f"filter:{attr}"] = torch.sigmoid(logits)
            world[f"query:{attr}"] = torch.softmax(logits, dim=-1)
        relation_logits = concept_probabilities(
            self.relation_operator(relations), self.relation_concepts
        )
        world["relate"] = torch.sigmoid(relation_logits)  # [B, N, N, R]
        return world


class NSCLExecutor(SoftProgramExecutor):
    """Soft executor with CLEVR's relational ops (relate, same) added."""

    def op_relate(self, world, inputs, arg):
        if arg not in CLEVR_RELATIONS:
            raise ValueError(f"relate: unknown relation {arg!r}; known: {CLEVR_RELATIONS}")
        # relation[b, i, j] = P(object i is <arg> of object j); "left of the mask":
        # out[i] = max_j min(mask[j], relation[i, j]).
        relation = world["relate"][..., CLEVR_RELATIONS.index(arg)]
        mask = inputs[0][1]
        return ("mask", torch.minimum(mask.unsqueeze(1), relation).amax(dim=2))

    def op_same(self, world, inputs, arg):
        embedded = F.normalize(world[f"embedding:{arg}"], dim=-1)
        similar = torch.sigmoid((torch.bmm(embedded, embedded.transpose(1, 2)) - 0.9) / 0.05)
        n = similar.shape[-1]
        not_self = 1.0 - torch.eye(n, dtype=similar.dtype, device=similar.device)
        mask = inputs[0][1]
        same = torch.minimum(mask.unsqueeze(-1), similar * not_self).amax(dim=1)
        return ("mask", same)


class NSCL(nn.Module):
    """The whole pipeline or one part of it (see the module docstring)."""

    def __init__(self, programs: Sequence[Sequence[Step]], part: str = "all",
                 vocab_size: int = 100, program_vocab: int = 48, program_length: int = 10) -> None:
        super().__init__()
        check_part("nscl", part, PARTS)
        self.part = part
        if part in ("all", "perception"):
            self.perception = ScenePerception()
        if part in ("all", "question_parser"):
            self.question_parser = Seq2SeqParser(vocab_size, 300, 256, program_vocab, program_length, "gru")
        if part in ("all", "reasoning"):
            self.concept_embedding = ConceptEmbedding()
            self.executor = NSCLExecutor(programs, CLEVR_ATTRIBUTES, AnswerSpace(CLEVR_ATTRIBUTES))

    def reason(self, objects: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        return self.executor(self.concept_embedding(objects, relations))

    def forward(self, *inputs: torch.Tensor):
        if self.part == "perception":
            return self.perception(*inputs)
        if self.part == "question_parser":
            (question,) = inputs
            return parse_questions(self.question_parser, question).unflatten(0, question.shape[:2])
        if self.part == "reasoning":
            return self.reason(*inputs)
        image, boxes, question = inputs
        objects, relations = self.perception(image, boxes)
        # The programs run are fixed at build time; the parser's decoded programs are
        # computed (the workload) but not interpreted, so shapes never depend on them.
        parse_questions(self.question_parser, question)
        return self.reason(objects, relations)


def build_nscl(batch: int = 1, *, n_objects: int = 10, height: int = 256, width: int = 384,
               question_length: int = 22, vocab_size: int = 100, program_length: int = 10,
               programs: Sequence[str | Sequence[Step]] = ("compare_count",),
               part: str = "all"):
    """NSCL on CLEVR. Returns ``(model, inputs)``.

    Options: n_objects (10), height x width of the image (256 x 384), question_length
    (22 tokens), vocab_size (100 words), program_length (10 decoded tokens), programs
    (names from ``NSCL_PROGRAMS`` or lists of ``Step``; one question per program;
    default ``("compare_count",)``), part: "all" (image, boxes, question -> answers
    [B, Q, 28]), "perception" (image, boxes -> object features [B, N, 256] and pair
    features [B, N, N, 256]), "question_parser" (question -> program logits
    [B, Q, program_length, 48]) or "reasoning" (object and pair features -> answers).
    """
    resolved = [NSCL_PROGRAMS[p] if isinstance(p, str) else tuple(p) for p in programs]
    model = NSCL(resolved, part, vocab_size=vocab_size, program_length=program_length).eval()
    n_questions = len(resolved)
    image = torch.randn(batch, 3, height, width)
    boxes = random_boxes(batch, n_objects)
    question = torch.randint(0, vocab_size, (batch, n_questions, question_length))
    if part == "perception":
        return model, (image, boxes)
    if part == "question_parser":
        return model, (question,)
    if part == "reasoning":
        return model, (torch.randn(batch, n_objects, 256), torch.randn(batch, n_objects, n_objects, 256))
    return model, (image, boxes, question)


ZOO = {"nscl": build_nscl}
