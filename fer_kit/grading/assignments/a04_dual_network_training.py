"""Checks of notebook 04 (training MC-DCN with the weighted dual loss; paper 3.2.3 eqs. 7-8, 4.1, Figure 6).

Every exercise is a function the hidden tests call in the student's kernel (:mod:`fer_kit.grading.hidden`):

1. ``dual_loss(probabilities, labels, fused_weight, lambda_global, lambda_local)`` on hidden batches
   (sizes, classes and weights of their own), against eq. 7's cross-entropy and eq. 8's sum in NumPy;
2. ``learning_rates(epochs, schedule, start, end)`` for hidden schedules, against the schedule the kit's
   trainer builds (:func:`fer_kit.training.optim.learning_rate`, one step per epoch);
3. ``paper_hours(seconds_per_clip, epochs, clips)`` for hidden timings (None for no timing);
4. ``eq8_run(fused_weight)`` for ``fused_weight`` 1 and 0: it must return the training run of the main
   run's settings with that fused weight, which the check finds in the solution run's work folder by
   those settings (:func:`fer_kit.grading.checks.find_run`; every student's work folder is a copy of it, so
   :func:`fer_kit.course.ensure_run` with the same settings returns that run without training).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from fer_kit.grading.assignment import Assignment
from fer_kit.grading.checks import Check, CheckContext, find_run, reference
from fer_kit.grading.hidden import Case, HiddenTest, Verdict, close, optional

WEIGHTS = (1.0, 0.5, 0.25)
"""(w_f, lambda_1, lambda_2) of the notebook's own batch in exercise 1."""
SAVEE_TRAIN_CLIPS, PAPER_EPOCHS = 384, 50
FUSED_WEIGHTS = {"with_fused": 1.0, "without_fused": 0.0}
"""Exercise 4's two runs: eq. 8 with the kit's fused term and as the paper writes it."""


def dual_loss_reference(probabilities: Any, labels: Any, fused_weight: float = 1.0, lambda_global: float = 0.5,
                        lambda_local: float = 0.25) -> float:
    """Eq. 8: the weighted sum of eq. 7's mean cross-entropies of the (fused, global, local) probabilities."""
    import numpy as np

    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    weights = (fused_weight, lambda_global, lambda_local)
    return float(sum(w * -np.log(p[rows, labels]).mean() for w, p in zip(weights, probabilities, strict=True)))


def _batch_cases(rng: Any, parameters: dict) -> list[Case]:
    import numpy as np

    cases = []
    for _ in range(3):
        clips, classes = int(rng.integers(2, 12)), int(rng.integers(3, 9))
        logits = rng.normal(size=(3, clips, classes)) * rng.uniform(0.5, 3.0)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
        weights = {"fused_weight": float(rng.choice([0.0, 1.0, rng.uniform(0, 2)])),
                   "lambda_global": float(rng.uniform(0, 1)), "lambda_local": float(rng.uniform(0, 1))}
        cases.append(Case((probabilities, rng.integers(0, classes, clips)), weights, label="hidden batch"))
    return cases


@reference
def schedule_rates(epochs: int, schedule: str, start: float, end: float) -> tuple[float, ...]:
    """The learning rate at the end of each epoch as the kit's trainer schedules it (one step per epoch)."""
    import numpy as np

    from fer_kit.training.config import TrainConfig
    from fer_kit.training.optim import learning_rate

    config = TrainConfig(cache="", out="", lr_schedule=schedule, learning_rate=start, final_learning_rate=end)
    rate = learning_rate(config, epochs)
    return tuple(float(rate) if isinstance(rate, (int, float)) else float(np.asarray(rate(step)))
                 for step in range(1, epochs + 1))


def _schedule_cases(rng: Any, parameters: dict) -> list[Case]:
    cases = []
    for schedule in rng.permutation(["exponential", "cosine", "constant"]):
        start = float(10 ** rng.uniform(-3, -1))
        cases.append(Case((int(rng.integers(3, 40)), str(schedule), start, start * float(10 ** rng.uniform(-3, -1))),
                          label="hidden schedule"))
    return cases


def _hours_cases(rng: Any, parameters: dict) -> list[Case]:
    seconds = [float(rng.uniform(0.1, 30)) for _ in range(2)]
    return [Case((seconds[0],)), Case((seconds[1], int(rng.integers(5, 200)), int(rng.integers(50, 5000)))),
            Case((None,))]


def _hours(ctx: CheckContext, seconds_per_clip: float | None, epochs: int = PAPER_EPOCHS,
           clips: int = SAVEE_TRAIN_CLIPS) -> float | None:
    return None if seconds_per_clip is None else epochs * clips * float(seconds_per_clip) / 3600


def main_run_settings(parameters: dict) -> dict:
    """The training settings of the notebook's main run (the middle entry of ``lambdas``), as in its config.json."""
    lambdas = parameters["lambdas"]
    lambda_global, lambda_local = lambdas[len(lambdas) // 2]
    return {"model": "mcdcn", "preset": parameters["preset"], "epochs": int(parameters["epochs"]),
            "seed": int(parameters["seed"]), "protocol": parameters["protocol"],
            "batch_size": int(parameters["batch_size"]), "lambda_global": float(lambda_global),
            "lambda_local": float(lambda_local), "recipe": parameters.get("recipe", "paper"),
            "local_standardization": parameters.get("local_standardization")}


def _weight_cases(rng: Any, parameters: dict) -> list[Case]:
    return [Case((float(weight),), label="fused weight") for weight in rng.permutation(list(FUSED_WEIGHTS.values()))]


def _run_name(ctx: CheckContext, fused_weight: float) -> str:
    return find_run(ctx.work_dir, **main_run_settings(dict(ctx.parameters)), fused_weight=fused_weight).name


def same_run(got: Any, want: str) -> Verdict:
    """The returned run folder (a path, inside the student's work folder) is the reference run."""
    if not isinstance(got, str) or not got:
        return Verdict(0.0, f"returned {type(got).__name__}, not the path of a run folder", want)
    if PurePosixPath(got).name != want:
        return Verdict(0.0, f"returned the run {PurePosixPath(got).name!r}, not the one with the main run's "
                            "settings and this fused_weight", want)
    return Verdict(1.0)


def _loss_reference(ctx: CheckContext, probabilities: Any, labels: Any, **weights: float) -> float:
    return dual_loss_reference(probabilities, labels, **weights)


def _schedule_reference(ctx: CheckContext, epochs: int, schedule: str, start: float, end: float) -> tuple:
    return schedule_rates(int(epochs), str(schedule), float(start), float(end))


ASSIGNMENT = Assignment(
    name="04_dual_network_training",
    title="Training MC-DCN: two streams, one weighted loss",
    parameters={"dataset": "synthetic", "data_dir": None, "preset": "tiny", "epochs": 8, "seed": 0, "per_class": 10,
                "protocol": "random", "recipe": "paper", "local_standardization": None, "batch_size": 8,
                "lambdas": [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]], "fused_weights": list(FUSED_WEIGHTS.values()),
                "paper_cost_clips": 1},
    solution_run=True,
    checks=(
        Check("ex1_dual_loss", 2, "dual_loss(probabilities, labels, ...): the weighted dual loss of eq. 8", None,
              ("exercise_1_dual_loss",),
              hidden=HiddenTest("dual_loss", _batch_cases, _loss_reference,
                                close(rtol=1e-6), seconds=5)),
        Check("ex2_learning_rates", 3, "learning_rates(epochs, schedule, start, end): the rate at the end of each "
              "epoch, as the kit's trainer schedules it", None, ("exercise_2_learning_rates",),
              hidden=HiddenTest("learning_rates", _schedule_cases, _schedule_reference,
                                close(rtol=1e-4, atol=1e-12), seconds=5)),
        Check("ex3_paper_hours", 2, "paper_hours(seconds_per_clip, epochs, clips): hours of training", None,
              ("exercise_3_paper_hours",),
              hidden=HiddenTest("paper_hours", _hours_cases, _hours, optional(close(rtol=1e-9)), seconds=5,
                                what="hidden timing")),
        Check("ex4_fused_term", 3, "eq8_run(fused_weight): the main run's settings with and without eq. 8's fused "
              "term", None, ("exercise_4_fused_term",),
              hidden=HiddenTest("eq8_run", _weight_cases, _run_name, same_run, seconds=300)),
    ),
)
