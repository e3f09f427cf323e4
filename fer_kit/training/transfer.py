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
(``*_logits``) when the classes differ; that layer keeps its fresh initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras

from fer_kit.errors import ModelFileError


@dataclass
class TransferReport:
    """What :func:`transfer_weights` did: layers copied, and layers left as initialised (with why)."""

    source: str
    copied: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "copied": len(self.copied), "kept": self.kept}


def load_source_model(source: str | Path) -> keras.Model:
    """The model of a run folder (its ``model.keras``) or of a ``.keras`` file; ``ModelFileError`` otherwise."""
    from fer_kit.training.runfolder import locate_model

    model_path, _ = locate_model(source)
    try:
        return keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # Keras raises many kinds of errors for a bad file
        raise ModelFileError(f"cannot load the model to start from ({type(error).__name__}: {error})",
                             model_path) from error


def transfer_weights(model: keras.Model, source: str | Path | keras.Model) -> TransferReport:
    """Copy into ``model`` the weights of every layer of ``source`` with the same name and shapes (module doc).

    ``source`` is a model, a run folder or a ``.keras`` file. ``ModelFileError`` when no layer at
    all matches (a source of another kind or preset), since the run would silently start from
    scratch.
    """
    source_model = source if isinstance(source, keras.Model) else load_source_model(source)
    report = TransferReport(str(getattr(source, "name", source)) if isinstance(source, keras.Model) else str(source))
    by_name = {layer.name: layer for layer in source_model.layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        old = by_name.get(layer.name)
        if old is None:
            report.kept[layer.name] = "not in the source"
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
