"""The kit's one label vocabulary (paper section 1: Ekman's six basic emotions plus neutral)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)
"""The seven classes of SAVEE (paper 2.1), in the order of the paper's confusion matrices."""

EXTRA_EMOTIONS: tuple[str, ...] = ("contempt",)
"""Labels some corpora add (CK+); kept in the index, dropped or mapped by the user."""


def label_to_index(label: str, classes: tuple[str, ...] = EMOTIONS) -> int:
    """Position of ``label`` in ``classes``; ``ValueError`` naming the label if absent."""
    try:
        return classes.index(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(classes)}") from None
