"""Batch segmentation over one image or a folder, in Slicer or in plain Python with ``slicer-core``.

    Slicer --no-main-window --python-script <module folder>/EyeAtlasSegmentMRML/batch.py \\
        IMAGE_OR_FOLDER --atlas ATLAS_DIR --out OUT_DIR [--sex ...] [--eye ...] [--engine ...]

Each image gets OUT_DIR/<image name>/ with the engine's files (``outputs.OUTPUT_FILES``: labels.nii.gz, stats.csv,
cnr.csv, biometry.csv, report.json, report.html; qc.png with matplotlib) plus ``segmentation.seg.nrrd`` (named,
coded segments for Slicer). One line per image is printed; the exit
status is 1 when any image failed (the others are still processed), 2 for wrong arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script (Slicer --python-script): make the packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from EyeAtlasSegmentLib.cli import add_input_options, add_run_options, options_from_args  # noqa: E402
from EyeAtlasSegmentLib.engines import engine_names  # noqa: E402
from EyeAtlasSegmentLib.errors import EyeAtlasError, one_line_reason  # noqa: E402
from EyeAtlasSegmentLib.image_io import SUPPORTED_SUFFIXES, load_image  # noqa: E402
from EyeAtlasSegmentLib.outputs import write_outputs  # noqa: E402
from EyeAtlasSegmentLib.pipeline import run_pipeline  # noqa: E402
from EyeAtlasSegmentLib.structures import EYES  # noqa: E402
from EyeAtlasSegmentMRML.headless import ensure_scene, inside_slicer_application, node_ids, remove_nodes_except  # noqa: E402
from EyeAtlasSegmentMRML.python_requirements import ensure_requirements, requirement_files  # noqa: E402
from EyeAtlasSegmentMRML.slicer_cli_engines import register_slicer_engines  # noqa: E402

SEGMENTATION_FILE = "segmentation.seg.nrrd"


def find_images(path: Path) -> list[Path]:
    """``path`` itself if it is an image file or a DICOM folder; else the images and DICOM folders inside it."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise EyeAtlasError(f"input not found: '{path}'")
    if _is_dicom_folder(path):
        return [path]
    found = sorted(p for p in path.iterdir()
                   if (p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES)) or
                   (p.is_dir() and _is_dicom_folder(p)))
    if not found:
        raise EyeAtlasError(f"no image found in '{path}' (looked for {', '.join(SUPPORTED_SUFFIXES)} files "
                            f"and DICOM folders)")
    return found


def _is_dicom_folder(path: Path) -> bool:
    return any(p.suffix.lower() == ".dcm" for p in path.iterdir() if p.is_file())


def output_name(image: Path) -> str:
    """Output folder name of an image: its file name without the image suffix."""
    name = image.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def segment_one(image: Path, atlas: Path, out_dir: Path, args: argparse.Namespace) -> Path:
    """Segment one image into ``out_dir`` (all files or none); the scene is left as it was."""
    import slicer

    from EyeAtlasSegmentMRML.segmentation_nodes import segmentation_from_labels
    from EyeAtlasSegmentMRML.volume_nodes import add_volume_node

    scene = ensure_scene()
    before = node_ids(scene)
    try:
        options = options_from_args(args)
        result = run_pipeline(load_image(image, options.spacing_mm, options.orientation), atlas, options)
        # The segmentation file needs a node on the image's grid; the engine ran on the file's own image.
        volume = add_volume_node(scene, result.image.image, output_name(image))
        segmentation = segmentation_from_labels(scene, result.labels, volume, [e for e in EYES if e in result.eyes],
                                                f"{output_name(image)} eyes")

        def write_segmentation(path: Path) -> None:
            storage = slicer.vtkMRMLSegmentationStorageNode()
            storage.SetFileName(str(path))
            if not storage.WriteData(segmentation):
                raise EyeAtlasError(f"could not write {path.name}")

        write_outputs(result, out_dir, {SEGMENTATION_FILE: write_segmentation})
        return out_dir
    finally:
        remove_nodes_except(scene, before)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="EyeAtlasSegment batch", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="an image file, a DICOM folder, or a folder of them")
    add_input_options(parser, "output folder; one subfolder per image")
    register_slicer_engines()  # inside Slicer: BRAINSFit and Elastix
    add_run_options(parser, engine_names())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # nibabel etc. into Slicer's Python, without asking (Resources/requirements*.txt)
        if inside_slicer_application():
            ensure_requirements(requirement_files(args.engine), prompt=False)
        images = find_images(args.input)
    except EyeAtlasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failures = 0
    for image in images:
        try:
            out_dir = segment_one(image, args.atlas, args.out / output_name(image), args)
            print(f"ok: {image} -> {out_dir}", flush=True)
        except Exception as exc:  # one bad image must not stop a cohort run; its reason is one line
            failures += 1
            print(f"error: {image}: {one_line_reason(exc)}", file=sys.stderr, flush=True)
    print(f"{len(images) - failures} of {len(images)} images segmented", flush=True)
    return 1 if failures else 0


def _exit(status: int) -> None:
    """Leave with ``status``: through Slicer's own exit inside the application, else ``sys.exit``."""
    if inside_slicer_application():
        import slicer

        slicer.util.exit(status)
    else:
        sys.exit(status)


if __name__ == "__main__":
    try:
        exit_status = main()
    except SystemExit as stop:  # wrong arguments (argparse): the status must also reach Slicer's exit code
        exit_status = stop.code if isinstance(stop.code, int) else 1
    _exit(exit_status)
