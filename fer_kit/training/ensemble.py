"""An ensemble of runs that differ only in their seed, averaged into one model (our option, ``TrainConfig.members``).

A network trained on a couple of hundred clips lands somewhere different with every seed
(the initial weights where the run starts from scratch, the classifier's where it starts
from pretrained weights, the order of the clips, the augmentation): on the shared CK+
sequences the same fold scores a few points apart from one seed to the next. Averaging the
class probabilities of ``N`` such runs (a deep ensemble, Lakshminarayanan et al. 2017)
keeps what they agree on. It costs ``N`` trainings; the paper trains one network.

:func:`train_members` trains member ``i`` as an ordinary run (seed ``seed + i``) on the
split of the ensemble's own ``split.json``, so every member sees the same training
subjects and none sees the test subjects, then joins the members into one Keras model
(:func:`average_models`) with MC-DCN's outputs, each the mean of the members' outputs. So
``evaluate``, ``predict`` and ``cv`` use an ensemble run like any other run::

    RUN/config.json, split.json    as for one run (``members`` in the config)
    RUN/members/00/ ...            one complete run folder per member (seed, seed + 1, ...)
    RUN/model.keras                the averaged model
    RUN/history.csv, history.json  the members' mean per epoch
    RUN/summary.json               as for one run, plus ``members``

An interrupted ensemble resumes: finished members are kept, the interrupted one resumes
after its last finished epoch.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import keras
import pandas as pd

from fer_kit.errors import UsageError
from fer_kit.training.config import TrainConfig

MEMBERS_DIR = "members"


def member_folder(run: Path, index: int) -> Path:
    """The run folder of member ``index`` of the ensemble ``run``."""
    return Path(run) / MEMBERS_DIR / f"{index:02d}"


def member_config(config: TrainConfig, index: int) -> TrainConfig:
    """Member ``index``'s config: the ensemble's, with seed ``seed + index``, one member and its own folder."""
    return replace(config, members=1, seed=config.seed + index, out=str(member_folder(Path(config.out), index)))


def average_models(models: Sequence[keras.Model], name: str) -> keras.Model:
    """One model whose every output is the mean of the same output of ``models`` (same inputs and outputs)."""
    first = models[0]
    inputs = {key: keras.Input(tensor.shape[1:], name=key) for key, tensor in first.input.items()}
    outputs = []
    for index, model in enumerate(models):
        model.name = f"member_{index:02d}"  # nested models need distinct names
        outputs.append(model(inputs))
    averaged = {
        key: keras.layers.Average(dtype="float32", name=key)([out[key] for out in outputs]) for key in first.output
    }
    return keras.Model(inputs, averaged, name=name)


def mean_history(runs: Sequence[Path]) -> pd.DataFrame:
    """The members' ``history.csv`` averaged epoch by epoch (numeric columns)."""
    from fer_kit.training.runfolder import read_history

    histories = [read_history(run) for run in runs]
    joined = pd.concat(histories).apply(pd.to_numeric, errors="coerce")
    return joined.groupby("epoch", sort=True).mean().reset_index()


def train_members(config: TrainConfig, callbacks: Sequence[keras.callbacks.Callback] = (),
                  verbose: int | str = "auto") -> Path:
    """Train ``config.members`` runs and join them into the ensemble run ``config.out`` (module doc)."""
    import fer_kit.training.train as fit
    from fer_kit.training.runfolder import _check_existing, save_model_atomic, write_json

    if config.distribute == "multiworker":
        raise UsageError("an ensemble (members > 1) trains on one machine; use --distribute auto, mirrored or none")
    run = Path(config.out)
    if _check_existing(run, config):
        return run
    run.mkdir(parents=True, exist_ok=True)
    clips, train_set, _, record = fit._split_clips(run, config)
    fit._write_run_record(run, config, clips.classes, train_set, record)
    folders = []
    for index in range(config.members):
        folder = member_folder(run, index)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "split.json").is_file():  # the member reads the ensemble's split instead of drawing one
            shutil.copyfile(run / "split.json", folder / "split.json")
        folders.append(fit.train(member_config(config, index), callbacks, verbose))
    models = [keras.saving.load_model(folder / "model.keras", compile=False) for folder in folders]
    model = average_models(models, name=f"{config.model}_ensemble")
    save_model_atomic(model, run / "model.keras")
    history = mean_history(folders)
    history.to_csv(run / "history.csv", index=False)
    history = fit._write_history(run)
    write_json(run / "summary.json", _summary(config, clips.classes, model, history, folders))
    return run


def _summary(config: TrainConfig, classes: Sequence[str], model: keras.Model, history: pd.DataFrame,
             folders: Sequence[Path]) -> dict:
    """``summary.json`` of the ensemble: the members' own summaries, summed or listed."""
    import fer_kit.training.train as fit
    from fer_kit.training.runfolder import read_json

    members = [read_json(folder / "summary.json") for folder in folders]
    return {
        **fit.model_facts(config, classes, model, history),
        "best_epoch": members[0].get("best_epoch"),
        "member_best_epochs": [member.get("best_epoch") for member in members],
        "stopped_early": any(member.get("stopped_early") for member in members),
        "members": len(members),
        "member_seeds": [config.seed + index for index in range(len(members))],
        "train_clips": members[0].get("train_clips"),
        "val_clips": members[0].get("val_clips"),
        "pipeline": members[0].get("pipeline"),
        "devices": members[0].get("devices"),
        "seconds_this_session": round(sum(member.get("seconds_this_session") or 0 for member in members), 2),
        "init": members[0].get("init"),
    }
