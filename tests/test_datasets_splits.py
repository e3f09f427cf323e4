"""Subject-independent splits and k-fold: no person on both sides; the random protocol says it leaks."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from fer_kit.datasets.splits import describe_split, split, subject_kfold, subject_overlap
from fer_kit.labels import EMOTIONS


def make_index(subjects: int = 10, per_label: int = 2, uneven: bool = False) -> pd.DataFrame:
    rows = []
    for s in range(subjects):
        for label in EMOTIONS:
            for k in range(per_label + (s % 3 if uneven else 0)):
                rows.append({"source": f"/data/p{s}/{label}_{k}.mp4", "label": label, "subject": f"p{s}", "dataset": "x"})
    return pd.DataFrame(rows)


def test_subject_split_is_identity_disjoint_and_near_the_requested_share() -> None:
    index = make_index(subjects=10, uneven=True)
    train, test = split(index, test_size=0.2, seed=3)
    assert subject_overlap(train, test) == set()
    assert len(train) + len(test) == len(index)
    assert abs(len(test) / len(index) - 0.2) < 0.08
    assert set(test.label) == set(EMOTIONS) and set(train.label) == set(EMOTIONS)
    assert train.attrs["protocol"] == "subject" and not train.attrs["leaks_identities"]
    assert test.attrs["test_subjects"] == sorted(set(test.subject))


def test_subject_split_is_deterministic_for_a_seed() -> None:
    index = make_index(subjects=12)
    first = split(index, seed=1)[1]
    assert first.equals(split(index, seed=1)[1])
    assert any(not first.equals(split(index, seed=s)[1]) for s in range(2, 8))


def test_two_subjects_give_one_each_and_one_subject_is_refused() -> None:
    train, test = split(make_index(subjects=2), test_size=0.2)
    assert train.subject.nunique() == 1 and test.subject.nunique() == 1
    with pytest.raises(ValueError, match="--protocol random"):
        split(make_index(subjects=1))


def test_random_protocol_is_stratified_and_labelled_as_leaking() -> None:
    index = make_index(subjects=4, per_label=5)
    with pytest.warns(UserWarning, match="same people appear in training and test"):
        train, test = split(index, protocol="random", test_size=0.2, seed=0)
    assert train.attrs["leaks_identities"] and test.attrs["protocol"] == "random"
    assert subject_overlap(train, test)  # the leak the warning is about
    assert test.label.value_counts().to_dict() == {label: 4 for label in EMOTIONS}
    assert "WARNING" in describe_split(train, test)


def test_subject_kfold_puts_every_subject_in_exactly_one_test_fold() -> None:
    index = make_index(subjects=11, uneven=True)
    folds = subject_kfold(index, k=5, seed=0)
    assert len(folds) == 5
    seen: list[str] = []
    for train, test in folds:
        assert subject_overlap(train, test) == set()
        assert len(train) + len(test) == len(index)
        seen += sorted(set(test.subject))
    assert sorted(seen) == sorted(set(index.subject))
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 2 * 7 * 4  # at most about one subject's clips apart
    with pytest.raises(ValueError, match="at least 12 subjects"):
        subject_kfold(index, k=12)


def test_bad_arguments() -> None:
    index = make_index(subjects=3)
    with pytest.raises(ValueError, match="unknown protocol"):
        split(index, protocol="person")
    with pytest.raises(ValueError, match="between 0 and 1"):
        split(index, test_size=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split(index)  # the subject protocol does not warn
