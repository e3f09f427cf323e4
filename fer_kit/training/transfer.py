"""Start a run from another run's weights: pretraining, then fine-tuning (``TrainConfig.init``).

A small expression corpus (CK+: 202 sequences of 77 people) is little to learn both what
an expression looks like and how it moves. A model first trained on another labelled set,
for example thousands of expression photos as static clips (:mod:`fer_kit.datasets.photos`),
already knows the first; fine-tuning on the videos then starts from those weights. This is
our choice for small corpora, not a step of the paper.

:func:`transfer_weights` copies, layer by layer, every weight of the source model whose layer
has the same name and whose weights have the same shapes in the new model. The models the
kit builds name their layers after their place in the network (``global_block3``,
``local_fc``), so a source of the same kind and preset fills everything but the classifier
(``*logits``) when the classes differ: that layer keeps its fresh initialisation, also when only
the names or the order of the classes differ (a source whose classes are known: a run folder's
``config.json``, the kit's shipped weights).

``init="auto"`` (the ``kit`` recipe) starts from the weights the kit ships for the model and
preset (:mod:`fer_kit.model.pretrained`: pretrained on synthetic clips of many faces), and
from scratch where it ships none; ``"none"`` always starts from scratch (:func:`init_source`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras

from fer_kit.errors import ModelFileError, UsageError


@dataclass
class TransferReport:
    """What :func:`transfer_weights` did: layers copied, and layers left as initialised (with why)."""

    source: str
    copied: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "copied": len(self.copied), "kept": self.kept}


NO_INIT = "none"
AUTO_INIT = "auto"


def load_source_model(source: str | Path) -> tuple[keras.Model, tuple[str, ...] | None]:
    """``(model, classes)`` of a run folder (its ``model.keras`` and ``config.json``) or of a ``.keras`` file.

    ``classes`` is ``None`` when no ``config.json`` names them; ``ModelFileError`` when nothing loads.
    """
    import json

    from fer_kit.training.runfolder import locate_model

    model_path, run_dir = locate_model(source)
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # Keras raises many kinds of errors for a bad file
        raise ModelFileError(f"cannot load the model to start from ({type(error).__name__}: {error})",
                             model_path) from error
    classes = None
    if run_dir is not None:
        try:
            classes = tuple(json.loads((run_dir / "config.json").read_text()).get("classes") or ()) or None
        except (OSError, ValueError):
            classes = None
    return model, classes


def init_source(
    init: str | None, kind: str, preset: str, build: dict | None = None
) -> tuple[str | Path | keras.Model | None, tuple | None, str]:
    """What ``TrainConfig.init`` starts a run from: ``(source, its classes, its description)``.

    ``None`` or ``"none"``: nothing (from scratch). ``"auto"``: the kit's shipped weights for
    ``kind`` at ``preset`` where there are some (:mod:`fer_kit.model.pretrained`) and they were
    trained with the network options ``build`` asks for (``head``, ``face_standardization``,
    ``local_standardization``; the weights of a stream fed differently standardized clips would
    start it wrong), else nothing. ``"synthetic"``: those weights, and a ``UsageError`` where they
    do not exist or do not fit. Anything else is a run folder or ``.keras`` file.
    """
    from fer_kit.model.pretrained import (
        SOURCE,
        has_pretrained,
        load_pretrained,
        normalized_build,
        pretrained_build,
        pretrained_path,
    )

    if init in (None, NO_INIT) or (init == AUTO_INIT and not has_pretrained(kind, preset)):
        return None, None, NO_INIT
    if init not in (AUTO_INIT, SOURCE):
        return init, None, str(init)
    if not has_pretrained(kind, preset):
        raise UsageError(f"--init {SOURCE}: the kit ships no pretrained weights for {kind} at preset {preset}")
    model, meta = load_pretrained(kind, preset)
    trained_with = pretrained_build(meta)
    asked = trained_with if kind == "landmarks" else normalized_build(build)  # the landmark network has no such options
    if asked != trained_with:
        if init == AUTO_INIT:
            return None, None, NO_INIT
        differ = ", ".join(f"{k}={trained_with[k]!r}" for k in trained_with if asked[k] != trained_with[k])
        raise UsageError(f"--init {SOURCE}: the kit's {kind} {preset} weights were trained with {differ}")
    return model, tuple(meta["classes"]), f"kit: {pretrained_path(kind, preset).name}"



def transfer_weights(model: keras.Model, source: str | Path | keras.Model, classes=None,
                     source_classes=None) -> TransferReport:
    """Copy into ``model`` the weights of every layer of ``source`` with the same name and shapes (module doc).

    ``source`` is a model, a run folder or a ``.keras`` file. With ``classes`` (the new run's) and
    the source's classes known (``source_classes``, or a run folder's ``config.json``) and different,
    the classifier layers (names ending in ``logits``) stay fresh. ``ModelFileError`` when no layer
    at all matches (a source of another kind or preset), since the run would silently start from
    scratch.
    """
    if isinstance(source, keras.Model):
        source_model = source
    else:
        source_model, read_classes = load_source_model(source)
        source_classes = source_classes or read_classes
    fresh_classifier = classes is not None and source_classes is not None and tuple(classes) != tuple(source_classes)
    report = TransferReport(str(getattr(source, "name", source)) if isinstance(source, keras.Model) else str(source))
    by_name = {layer.name: layer for layer in source_model.layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        old = by_name.get(layer.name)
        if old is None:
            report.kept[layer.name] = "not in the source"
            continue
        if fresh_classifier and layer.name.endswith("logits"):
            report.kept[layer.name] = "a classifier of other classes in the source"
            continue
        new_shapes = [tuple(w.shape) for w in layer.weights]
        old_shapes = [tuple(w.shape) for w in old.weights]
        if new_shapes != old_shapes:
            report.kept[layer.name] = f"shapes differ ({old_shapes} in the source)"
            continue
        layer.set_weights(old.get_weights())
        report.copied.append(layer.name)
    if not report.copied:
        raise ModelFileError(
            f"no layer of the model to start from matches this {model.name} (another model kind or preset?)",
            report.source,
        )
    return report
