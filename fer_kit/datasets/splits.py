"""Train / test splits of a dataset index: subject-independent by default (paper 4.2, made honest).

The paper splits its clips 80/20 at random. Every corpus it uses has few people (SAVEE:
four actors), so a random split puts the same faces in training and test and measures
partly how well the network remembers people. The kit's default protocol is
**subject-independent**: whole subjects go to the test side, so no person appears on
both. The random protocol stays available for comparison with the paper, labelled as
leaking identities (``df.attrs["leaks_identities"] = True`` and a warning).

Any table with a ``subject`` column works (a dataset index, a cache index); a ``label``
column, when present, is used to keep every class on both sides where possible.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from fer_kit.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

PROTOCOLS = ("subject", "random")
RANDOM_WARNING = (
    "random split (the paper's 80/20 protocol): the same people appear in training and test, "
    "so test accuracy is optimistic; use protocol='subject' for identity-disjoint results"
)


def _labelled(train: pd.DataFrame, test: pd.DataFrame, protocol: str, extra: dict | None = None):
    leaks = protocol == "random"
    for part, name in ((train, "train"), (test, "test")):
        part.attrs.update(
            protocol=protocol,
            part=name,
            leaks_identities=leaks,
            note=RANDOM_WARNING if leaks else "subject-independent: no person is in both train and test",
            **(extra or {}),
        )
    return train, test


def subject_overlap(train: pd.DataFrame, test: pd.DataFrame) -> set[str]:
    """Subjects present in both tables (empty for a subject-independent split)."""
    return set(map(str, train["subject"])) & set(map(str, test["subject"]))


def _subject_rows(index: pd.DataFrame) -> dict[str, np.ndarray]:
    if "subject" not in index.columns:
        raise UsageError("the index has no 'subject' column; a subject split needs one")
    groups = index.groupby(index["subject"].astype(str), sort=True).indices
    return {subject: np.asarray(rows) for subject, rows in groups.items()}


def _subject_split(index: pd.DataFrame, test_size: float, seed: int, tries: int = 200):
    groups = _subject_rows(index)
    subjects = sorted(groups)
    if len(subjects) < 2:
        raise UsageError(
            f"a subject-independent split needs at least 2 subjects, the index has {len(subjects)} "
            f"({', '.join(subjects)}); add identities (e.g. synthetic clips from a folder of faces) "
            "or use the random protocol (--protocol random), which leaks identities"
        )
    labels = index["label"].astype(str).to_numpy() if "label" in index.columns else None
    all_labels = set(labels) if labels is not None else set()
    target = test_size * len(index)
    rng = np.random.default_rng(seed)
    best, best_score = None, np.inf
    for _ in range(tries):
        order = rng.permutation(len(subjects))
        chosen, count = [], 0
        for position in order[:-1]:  # leave at least one subject for training
            size = len(groups[subjects[position]])
            if chosen and abs(count + size - target) > abs(count - target):
                continue
            chosen.append(position)
            count += size
            if count >= target:
                break
        mask = np.zeros(len(index), bool)
        for position in chosen:
            mask[groups[subjects[position]]] = True
        score = abs(mask.mean() - test_size)
        if labels is not None:
            score += 0.5 * (len(all_labels - set(labels[mask])) + len(all_labels - set(labels[~mask])))
        if score < best_score - 1e-12:
            best, best_score = mask, score
    return best


def _random_split(index: pd.DataFrame, test_size: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(index), bool)
    strata = index["label"].astype(str).to_numpy() if "label" in index.columns else np.zeros(len(index), str)
    for value in sorted(set(strata)):
        rows = np.flatnonzero(strata == value)
        n_test = int(round(test_size * len(rows)))
        if len(rows) >= 2:
            n_test = min(max(n_test, 1), len(rows) - 1)
        mask[rng.permutation(rows)[:n_test]] = True
    return mask


def split(
    index: pd.DataFrame, protocol: str = "subject", test_size: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` of ``index``.

    ``protocol="subject"`` (default): whole subjects go to the test side, chosen so the
    test share is as close to ``test_size`` as the subjects' sizes allow and every label
    appears on both sides when possible (many random subject subsets are tried; the
    ``seed`` picks them). ``protocol="random"``: a label-stratified random split of the
    rows (paper 4.2), which leaks identities and warns so.
    """
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if not 0.0 < test_size < 1.0:
        raise UsageError(f"test_size must be between 0 and 1, not {test_size}")
    if len(index) < 2:
        raise UsageError(f"cannot split {len(index)} row(s)")
    if protocol == "random":
        warnings.warn(RANDOM_WARNING, UserWarning, stacklevel=2)
        mask = _random_split(index, test_size, seed)
    else:
        mask = _subject_split(index, test_size, seed)
    train = index[~mask].reset_index(drop=True)
    test = index[mask].reset_index(drop=True)
    extra = {"test_subjects": sorted(set(map(str, test["subject"])))} if "subject" in index.columns else {}
    return _labelled(train, test, protocol, extra)


def subject_kfold(index: pd.DataFrame, k: int = 5, seed: int = 0) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``k`` subject-disjoint ``(train, test)`` folds; every subject is in exactly one test fold.

    Subjects are dealt, largest first (ties in a ``seed``-random order), to the fold with
    the fewest rows so far, which balances the folds' sizes.
    """
    groups = _subject_rows(index)
    if k < 2:
        raise UsageError("k must be at least 2")
    if k > len(groups):
        raise UsageError(f"{k} folds need at least {k} subjects; the index has {len(groups)}")
    rng = np.random.default_rng(seed)
    subjects = sorted(groups)
    order = sorted(rng.permutation(len(subjects)), key=lambda i: -len(groups[subjects[i]]))
    folds: list[list[str]] = [[] for _ in range(k)]
    sizes = np.zeros(k, int)
    for i in order:
        target = int(np.argmin(sizes))
        folds[target].append(subjects[i])
        sizes[target] += len(groups[subjects[i]])
    result = []
    subject_column = index["subject"].astype(str)
    for number, members in enumerate(folds):
        mask = subject_column.isin(members).to_numpy()
        train = index[~mask].reset_index(drop=True)
        test = index[mask].reset_index(drop=True)
        result.append(_labelled(train, test, "subject", {"fold": number, "k": k, "test_subjects": sorted(members)}))
    return result


def describe_split(train: pd.DataFrame, test: pd.DataFrame) -> str:
    """One paragraph: sizes, subjects per side, overlap, and the leak warning for random splits."""
    overlap = subject_overlap(train, test) if "subject" in train.columns else set()
    lines = [
        f"train: {len(train)} clips, {train['subject'].nunique() if 'subject' in train else '?'} subjects; "
        f"test: {len(test)} clips, {test['subject'].nunique() if 'subject' in test else '?'} subjects; "
        f"subjects in both: {len(overlap)}"
    ]
    if train.attrs.get("leaks_identities") or overlap:
        lines.append("WARNING: " + RANDOM_WARNING)
    return "\n".join(lines)
