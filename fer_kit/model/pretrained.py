"""Weights the kit ships: its networks pretrained on synthetic expression clips of many faces (our choice).

A corpus like CK+ (202 sequences of 77 people) is little to learn both what an expression
does to a face and how a new face looks. The kit's synthetic clips
(:mod:`fer_kit.datasets.synthetic`, ``fer-kit data synth --faces DIR``) teach the first with
hundreds of identities: each face photo is animated through the action units of every
emotion, neutral first, then the apex, as in CK+'s sequences. ``data_scripts/pretrain.py``
animates face photos of the iBUG 300-W set, caches the clips with the ``lite`` preset and
trains each network on them with the ``kit`` recipe: MC-DCN on 672 HELEN and AFW faces with
the detector's landmarks, through CK+'s seven emotions (9,100 clips; contempt is the
generator's one-sided prototype R12A+R14A), so its classifier too is kept on CK+; C3D, the
frame CNN and the landmark network on 480 HELEN faces through the six others (2,880 clips).
README, *Table 3 on real faces*, gives what each pretraining did on unseen CK+ subjects. The
weights are stored here as float16 ``.npz`` files (one array per weight, ``LAYER/INDEX``, plus
a JSON ``meta`` record of how they were made: :func:`pretrained_meta`).

``fer-kit train`` and ``fer-kit cv`` start from them by default (``TrainConfig.init="auto"``,
the ``kit`` recipe's setting) where the kit ships weights for the model and preset; the
classifier is copied too when the corpus has the same classes, and starts fresh otherwise
(:mod:`fer_kit.training.transfer`).
``--init none`` (and the ``paper`` recipe) trains from scratch, as the paper does.
HELEN and AFW are Flickr photos under the 300-W terms, for non-commercial research and teaching
only, and so are these weights (as the 68-point landmark model the kit uses).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fer_kit.errors import ModelFileError
from fer_kit.model.mcdcn import DEFAULT_HEAD

PRETRAINED_DIR = Path(__file__).with_name("pretrained")
SOURCE = "synthetic"
"""The name of the shipped pretraining (``init="auto"`` picks it; ``init="synthetic"`` asks for it)."""


def pretrained_path(kind: str, preset: str) -> Path:
    """Where the shipped weights of network ``kind`` at ``preset`` are (or would be)."""
    return PRETRAINED_DIR / f"{kind}-{preset}-{SOURCE}.npz"


def has_pretrained(kind: str, preset: str) -> bool:
    """Whether the kit ships weights for network ``kind`` at ``preset``."""
    return pretrained_path(kind, preset).is_file()


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a weights file; ``ModelFileError`` naming it when it cannot be read."""
    import zipfile
    import zlib

    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            arrays = {name: archive[name] for name in archive.files if name != "meta"}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise ModelFileError(f"cannot read the pretrained weights ({type(error).__name__}: {error})", path) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("classes"), list) or not meta["classes"]:
        raise ModelFileError("cannot read the pretrained weights (their record names no classes)", path)
    return meta, arrays


BUILD_DEFAULTS = {"head": DEFAULT_HEAD, "face_standardization": "frame", "local_standardization": None}
"""The network options (``build_model``'s) the shipped weights were trained with, where their record names none."""


def pretrained_build(meta: dict) -> dict:
    """The network options the weights of record ``meta`` were trained with (``head`` and the standardizations)."""
    return normalized_build(meta.get("build"))


def normalized_build(build: dict | None) -> dict:
    """``build`` (``head``, ``face_standardization``, ``local_standardization``) with the defaults filled in."""
    given = {k: v for k, v in (build or {}).items() if v is not None or k == "local_standardization"}
    return {**BUILD_DEFAULTS, **given}


def pretrained_meta(kind: str, preset: str) -> dict:
    """The record stored with the shipped weights: classes, data, recipe, held-out accuracy."""
    return _read(pretrained_path(kind, preset))[0]


def save_pretrained(model, path: str | Path, meta: dict) -> Path:
    """Write ``model``'s weights as float16 arrays ``LAYER/INDEX`` plus ``meta`` (JSON) to ``path`` (``.npz``)."""
    from fer_kit.atomic import atomic_path

    arrays = {
        f"{layer.name}/{index}": np.asarray(weight, np.float16)
        for layer in model.layers for index, weight in enumerate(layer.get_weights())
    }
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    return path


def load_pretrained(kind: str, preset: str) -> tuple:
    """``(model, meta)``: network ``kind`` at ``preset`` built for the classes of its shipped weights, the weights set.

    ``ModelFileError`` naming the file when the kit ships none for it or the file does not fit the network.
    """
    from fer_kit.model import build_model

    path = pretrained_path(kind, preset)
    if not path.is_file():
        raise ModelFileError(f"the kit ships no pretrained weights for {kind} at preset {preset}", path)
    meta, arrays = _read(path)
    model = build_model(kind, preset, len(meta["classes"]))
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        stored = [arrays.get(f"{layer.name}/{index}") for index in range(len(weights))]
        if any(s is None or s.shape != w.shape for s, w in zip(stored, weights, strict=True)):
            raise ModelFileError(f"the shipped weights do not fit layer {layer.name!r} of {kind} {preset}", path)
        layer.set_weights([s.astype(w.dtype) for s, w in zip(stored, weights, strict=True)])
    return model, meta
