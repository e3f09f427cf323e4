"""Checks of notebook 03 (the CNN block, paper 3.2.1-3.2.2): parameter counts and gradient flow.

Every exercise is a function the hidden tests call in the student's kernel (:mod:`fer_kit.grading.hidden`)
on inputs the notebook does not use; references are counted by Keras on the kit's own layers:

1. ``block_parameters(c_in, c_out, k)`` for hidden channel counts and kernel sizes, against a built
   :class:`fer_kit.model.CNNBlock`;
2. ``fc_parameters(last, units)`` for hidden last feature maps and widths, against a built
   ``keras.layers.Dense`` on the flattened map;
3. ``growth_per_block(norms)`` on hidden gradient-norm profiles: ``(norms[0] / norms[-1]) ** (1 / (D - 1))``;
4. ``gap_parameters(name, num_classes)`` for the ``tiny`` and ``lite`` presets and hidden class counts,
   against :func:`fer_kit.model.build_model` with ``head="gap"``.
"""

from __future__ import annotations

from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import Check, CheckContext, reference
from fer_kit.grading.hidden import Case, HiddenTest, close, equal


@reference
def _block_parameters(c_in: int, c_out: int, k: int = 3) -> int:
    from fer_kit.model import CNNBlock

    block = CNNBlock(c_out, kernel_size=k)
    block.build((None, 4, 8, 8, c_in))
    return int(block.count_params())


@reference
def _dense_parameters(inputs: int, units: int) -> int:
    import keras

    layer = keras.layers.Dense(units)
    layer.build((None, inputs))
    return int(layer.count_params())


@reference
def _gap_parameters(preset: str, num_classes: int) -> int:
    """Parameters of MC-DCN for ``preset`` with ``num_classes`` outputs and the global-average head."""
    import keras

    from fer_kit.model import build_model

    model = build_model("mcdcn", preset, num_classes=num_classes, head="gap")
    count = int(model.count_params())
    del model
    keras.backend.clear_session()
    return count


def _block_reference(ctx: CheckContext, c_in: int, c_out: int, k: int = 3) -> int:
    return _block_parameters(int(c_in), int(c_out), int(k))


def _block_cases(rng: Any, parameters: dict) -> list[Case]:
    c_in, c_out, same = (int(rng.integers(2, 65)) for _ in range(3))
    c_out = c_out + 1 if c_out == c_in else c_out
    return [Case((c_in, c_out)), Case((same, same)), Case((c_out, c_in), {"k": int(rng.choice([1, 5]))})]


def _fc_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for _ in range(3):
        side = int(rng.integers(1, 8))
        last = {"stage": "stage5", "frames": int(rng.integers(1, 4)), "height": side, "width": side,
                "channels": int(rng.choice([16, 32, 64, 128, 256, 512]))}
        cases.append(Case((last, int(rng.choice([64, 128, 256, 512, 1024, 4096]))), label="hidden feature map"))
    return cases


def _fc_reference(ctx: CheckContext, last: dict, units: int) -> int:
    return _dense_parameters(int(last["frames"] * last["height"] * last["width"] * last["channels"]), int(units))


def _norm_cases(rng: Any, parameters: dict) -> list[Case]:
    import numpy as np

    cases = []
    for _ in range(3):
        depth = int(rng.integers(5, 40))
        growth = rng.uniform(0.7, 1.5)
        norms = growth ** np.arange(depth)[::-1] * np.exp(rng.normal(0.0, 0.1, depth)) * rng.uniform(1e-3, 10)
        cases.append(Case((norms,), label="hidden gradient profile"))
    return cases


def _growth(ctx: CheckContext, norms: Any) -> float:
    import numpy as np

    norms = np.asarray(norms, dtype=np.float64)
    return float((norms[0] / norms[-1]) ** (1.0 / (len(norms) - 1)))


def _gap_cases(rng: Any, parameters: dict) -> list[Case]:
    counts = rng.choice([n for n in range(2, 13) if n != 7], size=2, replace=False)
    return [Case((name, int(n)), label="hidden model") for name, n in zip(("tiny", "lite"), counts, strict=True)]


def _gap_reference(ctx: CheckContext, preset: str, num_classes: int) -> int:
    return _gap_parameters(str(preset), int(num_classes))


ASSIGNMENT = Assignment(
    name="03_cnn_blocks",
    title="The CNN block: plain vs pre-activation residual 3D blocks",
    parameters={"preset": "tiny", "seed": 0, "depth": 20},
    checks=(
        Check("ex1_block_params", 2, "block_parameters(c_in, c_out, k) equals Keras' count of a CNNBlock", None,
              ("exercise_1_block_params",),
              hidden=HiddenTest("block_parameters", _block_cases, _block_reference, equal(), seconds=30,
                                what="hidden block")),
        Check("ex2_fc_params", 3, "fc_parameters(last, units): weights and biases of the first fully connected layer",
              None, ("exercise_2_fc_params",),
              hidden=HiddenTest("fc_parameters", _fc_cases, _fc_reference, equal(), seconds=10)),
        Check("ex3_growth", 3, "growth_per_block(norms): the gradient growth per block g", None,
              ("exercise_3_growth_per_block",),
              hidden=HiddenTest("growth_per_block", _norm_cases, _growth, close(rtol=1e-6), seconds=10)),
        Check("ex4_heads", 2, "gap_parameters(name, num_classes): MC-DCN's parameters with a global-average head",
              None, ("exercise_4_head_parameters",),
              hidden=HiddenTest("gap_parameters", _gap_cases, _gap_reference, equal(),
                                seconds=120)),
    ),
)
