"""Checks of notebook 04 (training MC-DCN with the weighted dual loss; paper 3.2.3 eqs. 7-8, 4.1, Figure 6).

Exercise 1 is recomputed with NumPy on the notebook's seeded batch (eq. 7 cross-entropy, eq. 8
weighting). Exercise 2 is compared with the learning rates :mod:`fer_kit.training.train` actually used and
logged in the main run's history (recorded as ``main_history``). Exercise 3 follows from the
notebook's own timing of the paper preset (``paper_cost``), a measurement of the machine it ran on.
Exercise 4 (eq. 8 without the fused term) is recomputed by evaluating, with :func:`fer_kit.evaluate.evaluate_run`,
the solution run's two training runs with the main run's settings, ``fused_weight`` 1 and 0, found in its
work folder by their settings (:func:`fer_kit.grading.checks.find_run`); every student's work folder is a
copy of it, so a student who asks :func:`fer_kit.course.ensure_run` for the same settings gets these runs.
"""

from __future__ import annotations

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import (
    Check,
    CheckContext,
    CheckFailed,
    as_array,
    expect_close,
    expect_mapping_close,
    find_run,
    reference,
)

WEIGHTS = (1.0, 0.5, 0.25)
"""(w_f, lambda_1, lambda_2) of exercise 1."""
SAVEE_TRAIN_CLIPS, PAPER_EPOCHS = 384, 50
FUSED_WEIGHTS = {"with_fused": 1.0, "without_fused": 0.0}
"""Exercise 4's two runs: eq. 8 with the kit's fused term and as the paper writes it."""


def dual_loss_reference(seed: int) -> float:
    """Eq. 8 on the notebook's batch: seeded logits (fused, global, local) x 5 clips x 7 classes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(3, 5, 7))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    labels = rng.integers(0, 7, size=5)
    rows = np.arange(len(labels))
    return float(sum(w * -np.log(p[rows, labels]).mean() for w, p in zip(WEIGHTS, probabilities, strict=True)))


def check_dual_loss(ctx: CheckContext) -> str:
    return expect_close(ctx.number("exercise_1_dual_loss"), dual_loss_reference(int(ctx.parameters["seed"])),
                        "exercise_1_dual_loss", rtol=1e-5)


def _logged_rates(ctx: CheckContext) -> list[float]:
    for source in (ctx.results, ctx.reference):
        history = source.get("main_history")
        rates = history.get("learning_rate") if isinstance(history, dict) else None
        if isinstance(rates, list) and rates and all(isinstance(r, (int, float)) for r in rates):
            return [float(r) for r in rates]
    raise CheckFailed("the main run's history (`main_history`) with its learning rates was not recorded")


def check_learning_rates(ctx: CheckContext) -> str:
    answer = as_array(ctx.value("exercise_2_learning_rates"), "exercise_2_learning_rates",
                      (int(ctx.parameters["epochs"]),))
    logged = _logged_rates(ctx)
    return expect_close(answer[: len(logged)], logged, "exercise_2_learning_rates", rtol=1e-3, atol=1e-7)


def check_paper_hours(ctx: CheckContext) -> str:
    cost = ctx.value("paper_cost")
    seconds = cost.get("seconds_per_clip") if isinstance(cost, dict) else None
    answer = ctx.value("exercise_3_paper_hours")
    if seconds is None:
        if answer is not None:
            raise CheckFailed("the paper preset was not timed, so `exercise_3_paper_hours` should be None")
        return "no timing, no estimate: right"
    want = PAPER_EPOCHS * SAVEE_TRAIN_CLIPS * float(seconds) / 3600
    return expect_close(answer, want, "exercise_3_paper_hours", rtol=1e-3)


@reference
def _test_scores(run_dir: str) -> dict[str, float]:
    from fer_kit.evaluate import evaluate_run

    metrics = evaluate_run(run_dir, write=False, plots=False)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def main_run_settings(parameters: dict) -> dict:
    """The training settings of the notebook's main run (the middle entry of ``lambdas``), as in its config.json."""
    lambdas = parameters["lambdas"]
    lambda_global, lambda_local = lambdas[len(lambdas) // 2]
    return {"model": "mcdcn", "preset": parameters["preset"], "epochs": int(parameters["epochs"]),
            "seed": int(parameters["seed"]), "protocol": parameters["protocol"],
            "batch_size": int(parameters["batch_size"]), "lambda_global": float(lambda_global),
            "lambda_local": float(lambda_local), "recipe": "paper"}


def check_fused_term(ctx: CheckContext) -> str:
    settings = main_run_settings(dict(ctx.parameters))
    want = {label: _test_scores(str(find_run(ctx.work_dir, **settings, fused_weight=weight)))
            for label, weight in FUSED_WEIGHTS.items()}
    return expect_mapping_close(ctx.value("exercise_4_fused_term"), want, "exercise_4_fused_term",
                                rtol=0, atol=2e-4)  # the kit rounds to 4 decimals


ASSIGNMENT = Assignment(
    name="04_dual_network_training",
    title="Training MC-DCN: two streams, one weighted loss",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "epochs": 8, "seed": 0, "per_class": 10,
                "protocol": "random", "batch_size": 8, "lambdas": [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]],
                "paper_cost_clips": 1},
    solution_run=True,
    checks=(
        Check("ex1_dual_loss", 2, "the weighted dual loss of eq. 8 on the seeded batch", check_dual_loss,
              ("exercise_1_dual_loss",)),
        Check("ex2_learning_rates", 3, "the learning rate at the end of each epoch, as the trainer logged it",
              check_learning_rates, ("exercise_2_learning_rates",)),
        Check("ex3_paper_hours", 2, "hours to train the paper preset 50 epochs on SAVEE here", check_paper_hours,
              ("exercise_3_paper_hours",)),
        Check("ex4_fused_term", 3, "test accuracy and macro-F1 of the main run with and without eq. 8's fused term",
              check_fused_term, ("exercise_4_fused_term",)),
    ),
)
