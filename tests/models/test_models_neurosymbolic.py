"""The neuro-symbolic workloads of the seed paper: NSCL, NS-DR and Neural Logic Machines.

Every zoo entry builds and runs on real tensors at small sizes and on meta tensors at
its default size; the symbolic pieces are checked against answers and counts worked
out by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from roofline.models import _ns_common, _nsdr_dynamics, nlm, nscl, nsdr

MODULES = (nscl, nsdr, nlm)
ENTRIES = {name: build for module in MODULES for name, build in module.ZOO.items()}

#: Small options per entry for the real-tensor runs, and the output shape expected.
SMALL = {
    "nscl": (dict(n_objects=4, height=64, width=96, question_length=7,
                  programs=tuple(nscl.NSCL_PROGRAMS)), (2, len(nscl.NSCL_PROGRAMS), 28)),
    "nsdr": (dict(frames=3, height=48, width=64, n_objects=3, rollout_steps=1,
                  question_length=7), (2, 4, 21)),
    "nlm": (dict(n_objects=5), (2, 5)),
    "nlm-path": (dict(n_objects=5), (2, 5)),
    "nlm-sort": (dict(n_objects=5), (2, 5 * 4)),
    "nlm-blocks": (dict(n_objects=4), (2, 5 * 4)),
}

#: Output shapes at the default sizes with batch 2.
DEFAULT_SHAPES = {
    "nscl": (2, 1, 28),
    "nsdr": (2, 4, 21),
    "nlm": (2, 50),
    "nlm-path": (2, 50),
    "nlm-sort": (2, 50 * 49),
    "nlm-blocks": (2, 51 * 50),
}


def test_zoo_names_and_docs():
    assert set(ENTRIES) == set(SMALL) == set(DEFAULT_SHAPES)
    for module in MODULES:
        assert module.__doc__ and len(module.__doc__) > 200
        for name, build in module.ZOO.items():
            assert name == name.lower() and "_" not in name and " " not in name
            assert build.__doc__, f"{name}: build function has no docstring"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_runs_on_real_tensors_small(name):
    options, shape = SMALL[name]
    torch.manual_seed(0)
    model, inputs = ENTRIES[name](batch=2, **options)
    assert not model.training
    with torch.no_grad():
        out = model(*inputs)
    assert tuple(out.shape) == shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(DEFAULT_SHAPES))
def test_runs_on_meta_at_default_size(name):
    with torch.device("meta"):
        model, inputs = ENTRIES[name](batch=2)
        with torch.no_grad():
            out = model(*inputs)
    assert out.device.type == "meta"
    assert tuple(out.shape) == DEFAULT_SHAPES[name]


def test_policies_are_distributions():
    for name in ("nlm-path", "nlm-sort", "nlm-blocks"):
        model, inputs = ENTRIES[name](batch=3, **SMALL[name][0])
        with torch.no_grad():
            out = model(*inputs)
        assert torch.allclose(out.sum(-1), torch.ones(3), atol=1e-5)


# --------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------


def test_box_pool_samples_bin_centres():
    # A feature map whose value is the x coordinate of the pixel centre (fraction of
    # the width): bilinear sampling returns the sample point's x exactly, and the
    # sample points are x0 + (k + 1/2) / s * (x1 - x0).
    h, w, s = 8, 16, 4
    xs = (torch.arange(w) + 0.5) / w
    features = xs.expand(1, 1, h, w).clone()
    boxes = torch.tensor([[[0.25, 0.25, 0.75, 0.75], [0.375, 0.125, 0.625, 0.875]]])
    pooled = _ns_common.BoxPool(s)(features, boxes)  # [1, 2, 1, s, s]
    assert pooled.shape == (1, 2, 1, s, s)
    for m, (x0, _, x1, _) in enumerate(boxes[0].tolist()):
        expected = torch.tensor([x0 + (k + 0.5) / s * (x1 - x0) for k in range(s)])
        assert torch.allclose(pooled[0, m, 0], expected.expand(s, s), atol=1e-6)


def test_union_boxes_of_every_ordered_pair():
    boxes = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.6, 0.9], [0.2, 0.3, 0.4, 0.5]]])
    union = _ns_common.union_boxes(boxes)
    assert union.shape == (1, 9, 4)
    assert union[0, 0 * 3 + 1].tolist() == pytest.approx([0.1, 0.1, 0.6, 0.9])
    assert union[0, 2 * 3 + 0].tolist() == pytest.approx([0.1, 0.2, 0.4, 0.5])
    assert union[0, 1 * 3 + 1].tolist() == pytest.approx(boxes[0, 1].tolist())


# --------------------------------------------------------------------------------------
# NSCL
# --------------------------------------------------------------------------------------


def _certain(concepts, values):
    """Concept probabilities [1, N, K] with object i certainly values[i] (N = len(values))."""
    probs = torch.zeros(1, len(values), len(concepts))
    for i, v in enumerate(values):
        probs[0, i, concepts.index(v)] = 1.0
    return probs


def _hard_world(n_objects, colors, shapes, materials, sizes, left_of):
    """A world with certain (0/1) concept probabilities; left_of[i][j]: i is left of j."""
    world = {}
    for attr, values in (("color", colors), ("shape", shapes), ("material", materials), ("size", sizes)):
        probs = _certain(_ns_common.CLEVR_ATTRIBUTES[attr], values)
        world[f"filter:{attr}"] = probs
        world[f"query:{attr}"] = probs
        world[f"embedding:{attr}"] = probs * 10 + 0.01  # same value -> cosine 1
    relate = torch.zeros(1, n_objects, n_objects, len(_ns_common.CLEVR_RELATIONS))
    relate[0, :, :, 0] = torch.tensor(left_of, dtype=torch.float32)
    relate[0, :, :, 1] = relate[0, :, :, 0].t()
    world["relate"] = relate
    return world


def test_nscl_executor_answers_by_hand():
    # Objects: 0 red large metal sphere, 1 blue small rubber cube, 2 green large metal
    # cube, 3 gray large rubber cylinder. Left-to-right order 1, 2, 0, 3.
    order = [1, 2, 0, 3]
    left_of = [[float(order.index(i) < order.index(j)) for j in range(4)] for i in range(4)]
    world = _hard_world(
        4,
        colors=["red", "blue", "green", "gray"],
        shapes=["sphere", "cube", "cube", "cylinder"],
        materials=["metal", "rubber", "metal", "rubber"],
        sizes=["large", "small", "large", "large"],
        left_of=left_of,
    )
    programs = {
        # cubes left of the red sphere: objects 1 and 2 -> 2
        "cubes_left": _ns_common.program(("scene",), ("filter", "red"), ("filter", "sphere"),
                                         ("relate", "left"), ("filter", "cube"), ("count",)),
        # metal things the same size as the cylinder (large, not itself): 0 and 2 -> 2
        "same_size_metal": _ns_common.program(("scene",), ("filter", "cylinder"), ("same", "size"),
                                              ("filter", "metal"), ("count",)),
        # 2 cubes left of the sphere vs 2 metal same-size things: greater -> no
        "compare": nscl.NSCL_PROGRAMS["compare_count"],
        # color of the thing right of the blue cube that is rubber: object 3 -> gray
        "query": _ns_common.program(("scene",), ("filter", "blue"), ("relate", "right"),
                                    ("filter", "rubber"), ("query", "color")),
        # a small metal thing? none -> no
        "exist": _ns_common.program(("scene",), ("filter", "small"), ("filter", "metal"), ("exist",)),
    }
    space = _ns_common.AnswerSpace(_ns_common.CLEVR_ATTRIBUTES)
    executor = nscl.NSCLExecutor(list(programs.values()), _ns_common.CLEVR_ATTRIBUTES, space)
    answers = executor(world)[0].argmax(-1).tolist()
    count0 = space.slots["count"][0]
    color0 = space.slots["color"][0]
    assert space.size == 28
    assert answers[0] == count0 + 2
    assert answers[1] == count0 + 2
    assert answers[2] == 1  # "no"
    assert answers[3] == color0 + _ns_common.CLEVR_ATTRIBUTES["color"].index("gray")
    assert answers[4] == 1  # "no"


def test_nscl_relation_features_cover_all_ordered_pairs():
    n = 5
    model, inputs = nscl.build_nscl(batch=2, n_objects=n, height=64, width=96, part="perception")
    seen = {}
    model.perception.relation_fc.register_forward_hook(lambda m, i, o: seen.update(rel=i[0].shape))
    model.perception.object_fc.register_forward_hook(lambda m, i, o: seen.update(obj=i[0].shape))
    with torch.no_grad():
        objects, relations = model(*inputs)
    assert seen["rel"] == (2 * n * n, 256 * 7 * 7)
    assert seen["obj"] == (2 * n, 256 * 7 * 7)
    assert objects.shape == (2, n, 256) and relations.shape == (2, n, n, 256)


def test_nscl_parts_have_their_own_submodules():
    for part, present in (("perception", "perception"), ("question_parser", "question_parser"),
                          ("reasoning", "executor")):
        model, inputs = nscl.build_nscl(batch=1, n_objects=3, height=32, width=48, part=part)
        names = {name.split(".")[0] for name, _ in model.named_modules() if name}
        assert present in names
        with torch.no_grad():
            model(*inputs)
    model, _ = nscl.build_nscl(batch=1)
    top = {name for name, _ in model.named_children()}
    assert top == {"perception", "question_parser", "concept_embedding", "executor"}
    with pytest.raises(ValueError, match="part"):
        nscl.build_nscl(part="everything")


def test_question_parser_shapes():
    parser = _ns_common.Seq2SeqParser(vocab_size=30, program_vocab=12, program_length=6, rnn="lstm").eval()
    with torch.no_grad():
        logits = parser(torch.randint(0, 30, (3, 9)))
    assert logits.shape == (3, 6, 12)


# --------------------------------------------------------------------------------------
# NS-DR
# --------------------------------------------------------------------------------------


def test_propnet_relation_encoder_runs_on_all_object_pairs():
    n, b = 3, 1
    torch.manual_seed(0)
    propnet = _nsdr_dynamics.PropagationNetwork().eval()
    seen = {}
    propnet.relation_encoder.conv1.register_forward_hook(lambda m, i, o: seen.update(rel=i[0].shape))
    propnet.particle_encoder.conv1.register_forward_hook(lambda m, i, o: seen.update(obj=i[0].shape))
    propnet.relation_propagator.register_forward_hook(lambda m, i, o: seen.update(prop=i[0].shape))
    states = torch.randn(b, n, 18, 24, 24)
    attrs = torch.rand(b, n, 5, 24, 24)
    relation_attrs = torch.randn(b, n * n, 9, 24, 24)
    with torch.no_grad():
        next_state, collision = propnet(states, attrs, relation_attrs)
    # 2 * (18 + 5) object channels + 3 * 3 relation channels = 55
    assert seen["rel"] == (b * n * n, 55, 24, 24)
    assert seen["obj"] == (b * n, 23, 24, 24)
    assert seen["prop"] == (b, n * n, 3 * 512)
    assert next_state.shape == (b, n, 6, 24, 24) and collision.shape == (b, n * n)

    # The three ways of moving rows between objects and relations agree.
    for aggregate in ("index", "sparse"):
        other = _nsdr_dynamics.PropagationNetwork(aggregate=aggregate).eval()
        other.load_state_dict(propnet.state_dict())
        with torch.no_grad():
            next_other, collision_other = other(states, attrs, relation_attrs)
        assert torch.allclose(next_state, next_other, atol=1e-4)
        assert torch.allclose(collision, collision_other, atol=1e-4)


def test_propnet_relation_encoder_conv_flops():
    # conv1 of the relation encoder: 55 -> 128 channels, 4 x 4 kernel, stride 2, on a
    # 24 x 24 map -> 12 x 12 outputs, for each of B * N^2 relations:
    # FLOPs = 2 * (B N^2) * 12 * 12 * 128 * 55 * 16.
    n, b = 3, 1
    encoder = _nsdr_dynamics.PropagationNetwork().relation_encoder
    counter = FlopCounterMode(display=False)
    with torch.device("meta"), counter:
        encoder.to("meta")(torch.empty(b * n * n, 55, 24, 24, device="meta"))
    conv1 = 2 * b * n * n * 12 * 12 * 128 * 55 * 16
    conv2 = 2 * b * n * n * 6 * 6 * 256 * 128 * 16
    conv3 = 2 * b * n * n * 3 * 3 * 384 * 256 * 16
    conv4 = 2 * b * n * n * 1 * 1 * 512 * 384 * 9
    assert counter.get_total_flops() == conv1 + conv2 + conv3 + conv4


def test_nsdr_counterfactual_removes_the_object():
    n = 3
    model, inputs = nsdr.build_nsdr(batch=1, frames=3, height=32, width=48, n_objects=n,
                                    rollout_steps=1, removed_object=2, part="dynamics_predictor")
    with torch.no_grad():
        future, counterfactual = model(*inputs)
    assert future.shape == counterfactual.shape == (1, 1, n, n)
    assert counterfactual[:, :, 2, :].abs().sum() == 0
    assert counterfactual[:, :, :, 2].abs().sum() == 0
    assert (future >= 0).all() and (future <= 1).all()


def test_nsdr_executor_answers_by_hand():
    # 3 objects: 0 sphere (blue), 1 cube (green), 2 red cylinder. Observed over 5
    # frames: the cylinder hits the sphere at t = 1, the sphere hits the cube at
    # t = 3. Responsible for the sphere-cube collision: the cylinder -> "red".
    n, t = 3, 5
    attrs = {"color": ["blue", "green", "red"], "material": ["metal", "rubber", "metal"],
             "shape": ["sphere", "cube", "cylinder"]}
    world = {}
    for attr, values in attrs.items():
        probs = _certain(nsdr.CLEVRER_ATTRIBUTES[attr], values)
        world[f"filter:{attr}"] = probs
        world[f"query:{attr}"] = probs
    observed = torch.zeros(1, t, n, n)
    observed[0, 1, 0, 2] = observed[0, 1, 2, 0] = 1.0
    observed[0, 3, 0, 1] = observed[0, 3, 1, 0] = 1.0
    world["collision:observed"] = observed
    predicted = torch.zeros(1, 2, n, n)
    predicted[0, 1, 0, 1] = predicted[0, 1, 1, 0] = 1.0  # sphere and cube collide again
    world["collision:predicted"] = predicted
    world["collision:counterfactual"] = torch.zeros(1, 2, n, n)  # not without the cylinder
    moving = torch.zeros(1, t, n)
    moving[0, -1, 0] = moving[0, -1, 2] = 1.0  # metal sphere and metal cylinder move at the end
    world["moving"] = moving
    count_collisions = _ns_common.program(("count_events", "observed"))
    executor = nsdr.NSDRExecutor(
        list(nsdr.NSDR_PROGRAMS.values()) + [count_collisions], nsdr.CLEVRER_ATTRIBUTES,
        _ns_common.AnswerSpace(nsdr.CLEVRER_ATTRIBUTES, max_count=5),
    )
    space = executor.answer_space
    answers = executor(world)[0].argmax(-1).tolist()
    assert space.size == 21
    assert answers[0] == space.slots["count"][0] + 2  # descriptive: 2 metal movers
    assert answers[1] == space.slots["color"][0] + nsdr.CLEVRER_ATTRIBUTES["color"].index("red")
    assert answers[2] == 0  # predictive: yes
    assert answers[3] == 1  # counterfactual: no
    assert answers[4] == space.slots["count"][0] + 2  # two collisions


def test_nsdr_parts_have_their_own_submodules():
    with torch.device("meta"):
        model, _ = nsdr.build_nsdr(batch=1)
    top = {name for name, _ in model.named_children()}
    assert top == {"frame_parser", "dynamics_predictor", "question_parser", "scene", "executor"}
    small = dict(frames=3, height=32, width=48, n_objects=3, rollout_steps=1, question_length=5)
    expected = {
        "frame_parser": [(1, 3, 3, 13), (1, 3, 3, 28, 28)],
        "dynamics_predictor": [(1, 1, 3, 3), (1, 1, 3, 3)],
        "question_parser": [(1, 4, 10, 48)],
        "executor": [(1, 4, 21)],
    }
    for part, shapes in expected.items():
        # The heavy parts run for real in the other tests; shapes are enough here.
        device = "meta" if part in ("frame_parser", "dynamics_predictor") else "cpu"
        with torch.device(device):
            model, inputs = nsdr.build_nsdr(batch=1, part=part, **small)
            with torch.no_grad():
                out = model(*inputs)
        out = out if isinstance(out, tuple) else (out,)
        assert [tuple(o.shape) for o in out] == shapes, part
        assert all(torch.isfinite(o).all() for o in out if o.device.type == "cpu")


def test_nsdr_sparse_option_refuses_meta():
    with torch.device("meta"), pytest.raises(ValueError, match="sparse"):
        nsdr.build_nsdr(aggregate="sparse")


# --------------------------------------------------------------------------------------
# NLM
# --------------------------------------------------------------------------------------


def test_nlm_permute_arity3_gives_six_times_the_channels():
    x = torch.randn(2, 4, 4, 4, 5)
    out = nlm.Permute(3)(x)
    assert out.shape == (2, 4, 4, 4, 6 * 5)
    # Slice k holds the k-th order of (i, j, k) in itertools.permutations order.
    assert torch.equal(out[..., :5], x)
    assert torch.equal(out[..., 5:10], x.permute(0, 1, 3, 2, 4))  # (i, k, j)
    assert torch.equal(out[..., 25:], x.permute(0, 3, 2, 1, 4))  # (k, j, i)
    assert nlm.Permute(2)(torch.randn(1, 3, 3, 7)).shape[-1] == 14
    assert nlm.Permute(1)(torch.randn(1, 3, 7)).shape[-1] == 7


def test_nlm_reduce_is_exists_and_forall_over_other_objects():
    torch.manual_seed(0)
    x = torch.rand(1, 4, 4, 2)
    out = nlm.Reduce(2, exclude_self=True)(x)
    assert out.shape == (1, 4, 4)
    for i in range(4):
        others = [j for j in range(4) if j != i]
        assert torch.allclose(out[0, i, :2], x[0, i, others].amax(0))
        assert torch.allclose(out[0, i, 2:], x[0, i, others].amin(0))
    # arity 3 -> 2: entry (i, j) reduces over k distinct from both i and j
    y = torch.rand(1, 4, 4, 4, 1)
    out3 = nlm.Reduce(3)(y)
    ks = [k for k in range(4) if k not in (0, 2)]
    assert torch.allclose(out3[0, 0, 2, 0], y[0, 0, 2, ks, 0].max())


def test_nlm_expand_broadcasts_a_new_object_dim():
    x = torch.randn(2, 3, 4)
    out = nlm.Expand(1)(x, 3)
    assert out.shape == (2, 3, 3, 4)
    assert torch.equal(out[:, :, 1], x)
    assert nlm.Expand(0)(torch.randn(2, 4), 5).shape == (2, 5, 4)


def test_pairs_without_self_drops_the_diagonal():
    x = torch.arange(2 * 5 * 5 * 3, dtype=torch.float32).view(2, 5, 5, 3)
    off_diagonal = ~torch.eye(5, dtype=torch.bool)
    expected = x[:, off_diagonal]  # boolean indexing is fine on real tensors in a test
    assert torch.equal(nlm.pairs_without_self(x), expected)


def _layer_linear_flops(batch, n, breadth, input_dims, attributes):
    """Linear FLOPs of one logic layer, from the channel bookkeeping.

    Arity r sees  c_{r-1} (expand) + c_r + 2 c_{r+1} (reduce: exists and forall)
    channels, times r! (permute), at B N^r positions; a Linear to `attributes`
    channels costs 2 * positions * in * out (multiply-add = 2 FLOPs, bias not counted).
    """
    total = 0
    for r in range(breadth + 1):
        channels = input_dims[r]
        if r > 0:
            channels += input_dims[r - 1]
        if r < breadth:
            channels += 2 * input_dims[r + 1]
        total += 2 * batch * n**r * channels * math.factorial(r) * attributes
    return total


def test_nlm_layer_linear_flops_closed_form():
    # Path task's first layer: breadth 3, inputs [0, 2, 2, 0], 8 outputs, N = 5, B = 1:
    #   r=0: 2*2 = 4 channels          -> 2 * 1   * 4  * 8 = 64
    #   r=1: 2 + 2*2 = 6               -> 2 * 5   * 6  * 8 = 480
    #   r=2: (2 + 2) * 2! = 8          -> 2 * 25  * 8  * 8 = 3200
    #   r=3: 2 * 3! = 12               -> 2 * 125 * 12 * 8 = 24000      total 27744
    layer = nlm.LogicLayer(3, [0, 2, 2, 0], attributes=8)
    assert layer.mlp_input_dims == [4, 6, 8, 12]
    n = 5
    inputs = [None, torch.rand(1, n, 2), torch.rand(1, n, n, 2), None]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = layer(inputs, n)
    assert counter.get_total_flops() == 27744 == _layer_linear_flops(1, n, 3, [0, 2, 2, 0], 8)
    assert [o.shape[-1] for o in out] == [8, 8, 8, 8]


def test_nlm_path_machine_flops_match_layer_formula():
    # Residual layers grow the channels: c' = c + 8 wherever arity r has an MLP.
    n, batch, depth, breadth, attributes = 6, 2, 5, 3, 8
    model, inputs = nlm.build_nlm_path(batch=batch, n_objects=n)
    expected, dims = 0, [0, 2, 2, 0]
    for _ in range(depth):
        expected += _layer_linear_flops(batch, n, breadth, dims, attributes)
        dims = [d + attributes for d in dims]
    expected += 2 * batch * n * dims[1] * 1  # policy head Linear(c_1, 1) over N nodes
    assert dims == [40, 42, 42, 40]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    assert counter.get_total_flops() == expected


def test_nlm_defaults_follow_the_release():
    path, _ = nlm.build_nlm_path()
    sort, _ = nlm.build_nlm_sort()
    blocks, (states,) = nlm.build_nlm_blocks()
    assert (len(path.nlm.layers), path.nlm.breadth) == (5, 3)
    assert (len(sort.nlm.layers), sort.nlm.breadth) == (3, 2)
    assert (len(blocks.nlm.layers), blocks.nlm.breadth) == (7, 2)
    assert states.shape == (1, 2 * 51, 4)  # 50 blocks + ground, two worlds
    with pytest.raises(ValueError, match="task"):
        nlm.build_nlm(task="chess")
