"""The train / validation / test split of a run (paper 4.2's 8:2, by subject by default)."""

from __future__ import annotations

import pandas as pd

from fer_kit.errors import DatasetLayoutError
from fer_kit.training.clipset import ClipSet
from fer_kit.training.config import TrainConfig


def _subject_split(rows: pd.DataFrame, protocol: str, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from fer_kit.datasets.splits import split

    return split(rows, protocol=protocol, test_size=test_size, seed=seed)


def make_split(
    clips: ClipSet, config: TrainConfig, test_clips: ClipSet | None = None
) -> tuple[ClipSet, ClipSet, ClipSet, dict]:
    """``(train, validation, test, record)``: the split of paper 4.2 (8:2), by subject by default."""
    if test_clips is not None:
        train_rows, test_rows = clips.rows, test_clips.rows
    elif config.test_subjects is not None:
        held_out = clips.rows["subject"].astype(str).isin(config.test_subjects)
        train_rows, test_rows = clips.rows[~held_out], clips.rows[held_out]
        if len(test_rows) == 0:
            raise DatasetLayoutError("none of the given test subjects has clips in this cache", clips.cache_dir)
    else:
        train_rows, test_rows = _subject_split(clips.rows, config.protocol, config.test_size, config.seed)
    n_subjects = train_rows["subject"].nunique()
    carve = config.val_size > 0 and (n_subjects >= 3 if config.protocol == "subject" else len(train_rows) >= 10)
    if config.val_size == 0:
        val_rows = train_rows.iloc[:0]
        validation_from = "none"
    elif carve:
        train_rows, val_rows = _subject_split(train_rows, config.protocol, config.val_size, config.seed + 1)
        validation_from = "train"
    else:
        val_rows = test_rows
        validation_from = "test"
    train = clips.subset(train_rows)
    test = (test_clips or clips).subset(test_rows)
    val = (test_clips or clips).subset(val_rows) if validation_from == "test" else clips.subset(val_rows)
    if len(train) == 0:
        raise DatasetLayoutError("the split left no training clips", clips.cache_dir)
    record = {
        "protocol": config.protocol,
        "seed": config.seed,
        "classes": list(clips.classes),
        "validation_from": validation_from,
        "train_cache": str(clips.cache_dir),
        "test_cache": str(test.cache_dir),
        "train_subjects": train.subjects,
        "val_subjects": val.subjects,
        "test_subjects": test.subjects,
        "counts": {
            name: {"clips": len(part), "per_class": _per_class(part)}
            for name, part in (("train", train), ("val", val), ("test", test))
        },
        "train_paths": list(train.rows["path"]),
        "val_paths": list(val.rows["path"]),
        "test_paths": list(test.rows["path"]),
        "dropped": clips.dropped,
    }
    return train, val, test, record


def _per_class(part: ClipSet) -> dict[str, int]:
    counts = part.rows["label"].value_counts()
    return {name: int(counts.get(name, 0)) for name in part.classes}
