"""Checks of notebook 03 (the CNN block, paper 3.2.1-3.2.2): parameter counts and gradient flow.

References are recomputed with the kit: the blocks and models of :mod:`fer_kit.model` are
built and counted by Keras, and :func:`fer_kit.model.gradient_flow.gradient_flow` is re-run with
the grading seed and depth (it is deterministic on a CPU). Exercises 2 and 4 depend on the preset (the
last feature map's size decides what the head sees): their references are built for the grading preset
and for ``paper``.
"""

from __future__ import annotations

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import Check, CheckContext, CheckFailed, expect_mapping_close, reference

BLOCK_PAIRS = ((8, 16), (16, 16), (3, 8))
"""The (c_in, c_out) pairs exercise 1 evaluates ``block_parameters`` on."""
HEADS = ("flatten", "gap")
"""The heads exercise 4 compares."""


@reference
def _block_parameters(c_in: int, c_out: int) -> int:
    from fer_kit.model import CNNBlock

    block = CNNBlock(c_out)
    block.build((None, 4, 8, 8, c_in))
    return int(block.count_params())


@reference
def _model_parameters(preset: str, head: str) -> dict[str, int]:
    """``{"total", "global_fc"}`` parameters of MC-DCN (7 classes) for ``preset`` with ``head``."""
    import keras

    from fer_kit.model import build_model

    model = build_model("mcdcn", preset, num_classes=7, head=head)
    counts = {"total": int(model.count_params()), "global_fc": int(model.get_layer("global_fc").count_params())}
    del model
    keras.backend.clear_session()
    return counts


def _fc_parameters(preset: str) -> int:
    from fer_kit.model import DEFAULT_HEAD

    return _model_parameters(preset, DEFAULT_HEAD)["global_fc"]


def head_reference(presets: list[str]) -> dict[str, dict[str, float]]:
    """Exercise 4: per preset, MC-DCN's parameters with each head and the fraction the ``gap`` head saves."""
    reference = {}
    for name in presets:
        counts = {head: _model_parameters(name, head)["total"] for head in HEADS}
        reference[name] = {**counts, "saved": 1 - counts["gap"] / counts["flatten"]}
    return reference


@reference
def _growth_per_block(depth: int, seed: int) -> dict[str, float]:
    from fer_kit.model.gradient_flow import BLOCK_KINDS, gradient_flow

    flows = [gradient_flow(kind, depth=depth, seed=seed) for kind in BLOCK_KINDS]
    return {flow.kind: float((flow.norms[0] / flow.norms[-1]) ** (1.0 / (flow.depth - 1))) for flow in flows}


def check_block_parameters(ctx: CheckContext) -> str:
    want = {f"{c_in}->{c_out}": _block_parameters(c_in, c_out) for c_in, c_out in BLOCK_PAIRS}
    return expect_mapping_close(ctx.value("exercise_1_block_params"), want, "exercise_1_block_params",
                                rtol=0, atol=0.5)


def check_fc_parameters(ctx: CheckContext) -> str:
    names = dict.fromkeys([ctx.parameters["preset"], "paper"])
    want = {name: _fc_parameters(name) for name in names}
    return expect_mapping_close(ctx.value("exercise_2_fc_params"), want, "exercise_2_fc_params", rtol=0, atol=0.5)


def check_growth(ctx: CheckContext) -> str:
    want = _growth_per_block(int(ctx.parameters["depth"]), int(ctx.parameters["seed"]))
    return expect_mapping_close(ctx.value("exercise_3_growth_per_block"), want, "exercise_3_growth_per_block",
                                rtol=1e-3)


def check_heads(ctx: CheckContext) -> str:
    answer = ctx.value("exercise_4_head_parameters")
    want = head_reference(list(dict.fromkeys([ctx.parameters["preset"], "paper"])))
    parts = (({name: {head: row[head] for head in HEADS} for name, row in want.items()}, 0.5),  # counts: exact
             ({name: {"saved": row["saved"]} for name, row in want.items()}, 1e-6))             # fractions
    total = sum(len(row) for row in want.values())
    wrong, messages = 0.0, []
    for part, atol in parts:
        try:
            expect_mapping_close(answer, part, "exercise_4_head_parameters", rtol=0, atol=atol)
        except CheckFailed as failure:
            wrong += (1 - failure.credit) * sum(len(row) for row in part.values())
            messages.append(str(failure))
    if messages:
        raise CheckFailed("; ".join(messages), credit=1 - wrong / total)
    return f"`exercise_4_head_parameters`: all {total} values right"


ASSIGNMENT = Assignment(
    name="03_cnn_blocks",
    title="The CNN block: plain vs pre-activation residual 3D blocks",
    parameters={"preset": "tiny", "seed": 0, "depth": 20},
    checks=(
        Check("ex1_block_params", 2, "block_parameters(c_in, c_out) for 8->16, 16->16, 3->8 equals Keras' count",
              check_block_parameters, ("exercise_1_block_params",)),
        Check("ex2_fc_params", 3, "parameters of the first fully connected layer, paper and grading preset",
              check_fc_parameters, ("exercise_2_fc_params",)),
        Check("ex3_growth", 3, "gradient growth per block g for plain, preact and residual stacks",
              check_growth, ("exercise_3_growth_per_block",)),
        Check("ex4_heads", 2, "MC-DCN's parameters with a flatten and a global-average head, and what the average "
              "saves, paper and grading preset", check_heads, ("exercise_4_head_parameters",)),
    ),
)
