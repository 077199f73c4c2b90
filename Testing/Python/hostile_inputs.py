"""A corpus of hostile but realistic inputs to ``eye-atlas-segment run``, each with the exact outcome it must have.

Every case writes its input into a fresh :class:`Workspace` (a small valid image, a small valid atlas and an OUT_DIR
holding ``previous.txt``) and says what must happen:

- :class:`Refused`: run through the command line, the exit status and the one ``error:`` line (a regular
  expression); nothing in the workspace may change (no input overwritten, OUT_DIR as it was, no staging folder);
- :class:`Accepted`: loaded with ``load_image``, the exact list of warnings (regular expressions, in order).

All of them are decided before any registration, so the whole corpus runs in seconds. The faults that need a running
registration (Ctrl-C, SIGKILL, a full disk, an input deleted mid-run) are listed in ``FAULTS`` and run by
``test_hostile_inputs.py`` on the smallest synthetic subject.
"""

from __future__ import annotations

import builtins
import bz2
import collections
import gzip
import io
import lzma
import os
import pickle
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from helpers import write_dicom_series

# ------------------------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Refused:
    """The run fails with this exit status and its last stderr line matches ``message`` (a regex)."""

    message: str
    exit_status: int = 1


@dataclass(frozen=True)
class Accepted:
    """``load_image`` succeeds with exactly these warnings (regexes, in order); ``load_kwargs`` are passed to it."""

    warnings: tuple[str, ...] = ()
    load_kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # pickle, nifti, nrrd, metaimage, dicom, array, atlas, arguments, output
    make: Callable[[Workspace], list | Path]  # argv after the program name (Refused) or the input (Accepted)
    outcome: Refused | Accepted


# ------------------------------------------------------------------------------------------ workspace

SHAPE_IJK = (24, 26, 28)


def noise_volume(seed: int = 0, shape: tuple[int, ...] = SHAPE_IJK) -> np.ndarray:
    """A float32 volume with a distinct value in (almost) every voxel: passes every check on an MRI."""
    return np.random.default_rng(seed).normal(100.0, 20.0, shape).astype(np.float32)


class Workspace:
    """A folder with a valid image, a valid (tiny) atlas and an OUT_DIR that must survive every refusal."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "out"
        self.out.mkdir(parents=True)
        (self.out / "previous.txt").write_text("kept", encoding="utf-8")
        self.atlas = write_tiny_atlas(root / "atlas")
        self.image = self.nifti("good.nii.gz", noise_volume())
        self.cleanups: list[Callable[[], None]] = []

    def path(self, name: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, image: str | Path, *extra: object, atlas: str | Path | None = None,
            out: str | Path | None = None) -> list:
        """``run`` arguments for ``image`` with the workspace's atlas and OUT_DIR."""
        return ["run", str(image), "--atlas", str(atlas or self.atlas), "--out", str(out or self.out), "--quiet",
                *map(str, extra)]

    def nifti(self, name: str, array: np.ndarray, affine: np.ndarray = np.eye(4)) -> Path:
        path = self.path(name)
        nib.save(nib.Nifti1Image(array, affine), path)
        return path

    def pickle(self, name: str, payload: object, protocol: int = 4) -> Path:
        path = self.path(name)
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
        return path

    def raw(self, name: str, content: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(content)
        return path

    def npy(self, name: str, array: np.ndarray, keep: int | None = None) -> Path:
        """``array`` saved as .npy (object arrays with pickle), cut to its first ``keep`` bytes if given."""
        path = self.path(name)
        np.save(path, array, allow_pickle=array.dtype.hasobject)
        if keep is not None:
            path.write_bytes(path.read_bytes()[:keep])
        return path

    def itk(self, name: str, image: sitk.Image) -> Path:
        path = self.path(name)
        sitk.WriteImage(image, str(path))
        return path

    def folder(self, name: str, **files: str) -> Path:
        folder = self.path(name)
        folder.mkdir(exist_ok=True)
        for file_name, text in files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        return folder

    def tmpfs(self, name: str, size_kib: int, read_only: bool = False) -> Path:
        """A small tmpfs mounted at ``name`` (unmounted by the test); skips where mounting is not allowed."""
        import pytest

        mount_point = self.path(name)
        mount_point.mkdir()
        options = f"size={size_kib}k" + (",ro" if read_only else "")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
        self.cleanups.append(lambda: subprocess.run(["umount", "-l", str(mount_point)], capture_output=True))
        return mount_point


def write_tiny_atlas(root: Path, template: np.ndarray | None = None, labels: np.ndarray | bool | None = None) -> Path:
    """An atlas in the release layout (``root/combined``): a 20³ noise template, labels 0-9 in slabs along i
    (``labels=False``: no label file)."""
    folder = root / "combined"
    folder.mkdir(parents=True, exist_ok=True)
    shape = (20, 20, 20)
    template = noise_volume(1, shape) if template is None else template
    if labels is None:
        labels = np.repeat(np.arange(10, dtype=np.float64), 2)[:, None, None] * np.ones(shape)
    nib.save(nib.Nifti1Image(template, np.eye(4)), folder / "0_template.nii.gz")
    if labels is not False:
        nib.save(nib.Nifti1Image(labels, np.eye(4)), folder / "1_max_prob_map.nii.gz")
    return root


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _rgb_image() -> sitk.Image:
    return sitk.Compose(*[sitk.Image(list(SHAPE_IJK), sitk.sitkUInt8)] * 3)


def _dicom_volume(slices: int = 10, size: int = 16, origin_k_mm: float = 0.0) -> sitk.Image:
    image = sitk.GetImageFromArray(noise_volume(2, (slices, size, size)))
    image.SetSpacing((1.0, 1.0, 2.0))
    image.SetOrigin((0.0, 0.0, origin_k_mm))
    return image


# ---------------------------------------------------------------------------------- hostile writers


class _Reduces:
    """Pickles as ``function(*args)``: what a malicious pickle looks like."""

    def __init__(self, function: Callable, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


class _WithState:
    """Pickles like ``target`` but with another state (pickle's BUILD)."""

    def __init__(self, target: object, state: object) -> None:
        self.target, self.state = target, state

    def __reduce__(self):
        return self.target.__reduce__()[:2] + (self.state,)


def _marker(ws: Workspace) -> str:
    return str(ws.root / "MARKER")


def _code(ws: Workspace, function: Callable, *args: object) -> dict:
    return {"image": noise_volume(), "payload": _Reduces(function, *args)}


def _patched_nifti(ws: Workspace, name: str, array: np.ndarray = None, **fields: tuple) -> Path:
    """A .nii whose header bytes are overwritten: ``fields`` maps a header field to (struct format, values)."""
    offsets = {"dim": 40, "pixdim": 76, "scl_slope": 112, "qform_code": 252, "sform_code": 254, "srow": 280}
    path = ws.nifti(name, noise_volume() if array is None else array)
    header = bytearray(path.read_bytes())
    for key, (fmt, values) in fields.items():
        struct.pack_into(fmt, header, offsets[key], *values)
    path.write_bytes(bytes(header))
    return path


def _srow(*rows: tuple[float, float, float, float]) -> tuple[str, tuple[float, ...]]:
    return "<12f", tuple(v for row in rows for v in row)


def _metaimage(ws: Workspace, name: str, replace: tuple[str, str] | None = None, image: sitk.Image | None = None,
               header_name: str | None = None) -> Path:
    """A .mhd (+ .raw) written by ITK, its header then edited and optionally saved under another name."""
    path = ws.path(name)
    sitk.WriteImage(image if image is not None else sitk.GetImageFromArray(noise_volume()), str(path))
    if replace is None:
        return path
    header = path.read_text(encoding="utf-8").replace(*replace)
    target = ws.path(header_name) if header_name else path
    target.write_text(header, encoding="utf-8")
    return target


def _nrrd_header(ws: Workspace, name: str, data_file: str, sizes: str = "28 26 24",
                 directions: str = "(1,0,0) (0,1,0) (0,0,1)") -> Path:
    raw = ws.path("data/volume.raw")
    raw.write_bytes(noise_volume().tobytes())
    path = ws.path(name)
    path.write_text(f"NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior\nsizes: {sizes}\n"
                    f"space directions: {directions}\nendian: little\nencoding: raw\nspace origin: (0,0,0)\n"
                    f"data file: {data_file}\n", encoding="utf-8")
    return path


def _dicom(ws: Workspace, folder: str, *series: tuple[str, sitk.Image, int]) -> Path:
    for uid, image, first_index in series:
        write_dicom_series(image, ws.path(folder), uid, first_index=first_index)
    return ws.path(folder)


def _nnunet(ws: Workspace, shape_zyx: tuple[int, int, int], channels: int = 1, crop: bool = False,
            suffix: str = ".npz") -> Path:
    """An nnU-Net v1 case (data with a segmentation channel) and its properties; the array as the image."""
    raw_zyx = SHAPE_IJK[::-1]
    properties = collections.OrderedDict(
        original_size_of_raw_data=np.array(raw_zyx),
        list_of_data_files=[f"case_{n:04d}.nii.gz" for n in range(channels)],
        itk_origin=(10.0, -20.0, 5.0), itk_spacing=(0.8, 0.8, 2.0), itk_direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0),
        use_nonzero_mask_for_norm=collections.OrderedDict([(0, False)]))
    if crop:
        properties["crop_bbox"] = [[2, 2 + shape_zyx[0]], [3, 3 + shape_zyx[1]], [1, 1 + shape_zyx[2]]]
    data = np.concatenate([noise_volume(3, (channels, *shape_zyx)), np.zeros((1, *shape_zyx), np.float32)])
    path = ws.path(f"case{suffix}")
    if suffix == ".npz":
        np.savez_compressed(path, data=data)
    else:
        np.save(path, data)
    ws.pickle("case.pkl", properties)
    return path


def _joblib(ws: Workspace, name: str, payload: object, compress: object = 0) -> Path:
    import pytest

    joblib = pytest.importorskip("joblib")
    path = ws.path(name)
    joblib.dump(payload, path, compress=compress)
    return path


def _npy_header_only(ws: Workspace, name: str, shape: tuple[int, ...]) -> Path:
    path = ws.path(name)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
        handle.write(b"\0" * 64)
    return path


def _nested_tuple_key(depth: int) -> bytes:
    return b"\x80\x02}K\x01" + b"\x85" * depth + b"K\x02s."


def _memo_bomb(ws: Workspace) -> Path:
    row = [0.0] * 1000
    return ws.pickle("bomb.pkl", {"image": noise_volume(), "affine": [row] * 1000}, 2)


def _self_containing(ws: Workspace) -> Path:
    cycle: list = []
    cycle.append(cycle)
    return ws.pickle("cycle.pkl", {"image": noise_volume(), "affine": cycle})


def _object_state_pickle() -> bytes:
    honest = pickle.dumps(noise_volume(), protocol=2)
    return honest.replace(b"J\xff\xff\xff\xffK\x00t", b"J\xff\xff\xff\xffK?t")


def _stale_staging_then_bad_image(ws: Workspace) -> list:
    """A staging folder a killed run (pid that no longer exists) left beside OUT_DIR; this run, refused only when it
    reads the image (after OUT_DIR was checked), must still remove it."""
    import socket

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = ws.path(".out.partial-stale")
    stale.mkdir()
    (stale / ".eye-atlas-segment-staging").write_text(f"{socket.gethostname()} {dead.pid}\n", encoding="utf-8")
    (stale / "labels.nii.gz").write_bytes(b"half written")
    return ws.run(ws.raw("garbage.pkl", b"this is not a pickle at all"))


# ---------------------------------------------------------------------------------------------- cases

_NOTHING_RAN = r"Nothing from the file was executed"
_SHEAR = ((1.0, 0.5, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0))

CASES: tuple[Case, ...] = (
    # --- pickles: code, gadgets, bombs, bad structure
    Case("pickle_os_system_protocol0", "pickle",
         lambda ws: ws.run(ws.raw("evil.pkl", b"cos\nsystem\n(S'touch " + _marker(ws).encode() + b"'\ntR.")),
         Refused(rf"asks for '(os|posix)\.system'.*{_NOTHING_RAN}")),
    Case("pickle_os_system_protocol4", "pickle", lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, os.system, "true"))),
         Refused(r"asks for '(os|posix)\.system'")),
    Case("pickle_subprocess", "pickle",
         lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, subprocess.Popen, ["touch", _marker(ws)]))),
         Refused(r"asks for 'subprocess\.Popen'")),
    Case("pickle_eval", "pickle", lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, builtins.eval, "1"))),
         Refused(r"asks for 'builtins\.eval'")),
    Case("pickle_exec", "pickle", lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, builtins.exec, "1"))),
         Refused(r"asks for 'builtins\.exec'")),
    Case("pickle_import", "pickle", lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, builtins.__import__, "os"))),
         Refused(r"asks for 'builtins\.__import__'")),
    Case("pickle_getattr_gadget", "pickle",
         lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, getattr, _Reduces(os.system, "true"), "x"))),
         Refused(r"asks for 'builtins\.getattr'")),
    Case("pickle_numpy_load_gadget", "pickle", lambda ws: ws.run(ws.pickle("evil.pkl", _code(ws, np.load, "x.npy"))),
         Refused(r"asks for 'numpy\.load'")),
    Case("pickle_pandas_global", "pickle",
         lambda ws: ws.run(ws.raw("frame.pkl", b"\x80\x02cpandas.core.frame\nDataFrame\n)\x81.")),
         Refused(r"asks for 'pandas\.core\.frame\.DataFrame'")),
    Case("pickle_object_array", "pickle",
         lambda ws: ws.run(ws.pickle("objects.pkl", np.array([1, "x", None], dtype=object), 2)),
         Refused(r"dtype '\|O' that can hold Python objects")),
    Case("pickle_dtype_state_claims_objects", "pickle", lambda ws: ws.run(ws.raw("flags.pkl", _object_state_pickle())),
         Refused(r"gives the numpy dtype '<f4' a state numpy never writes")),
    Case("pickle_shared_numpy_dtype", "pickle",
         lambda ws: ws.run(ws.pickle("shared.pkl", _Reduces(np.dtype, "f8", False, False), 2)),
         Refused(r"calls 'numpy\.dtype' with arguments other than numpy's own")),
    Case("pickle_build_on_ordered_dict", "pickle",
         lambda ws: ws.run(ws.pickle("build.pkl", _WithState(collections.OrderedDict(), {"x": 1}), 2)),
         Refused(r"tries to set the state of a OrderedDict")),
    Case("pickle_persistent_id", "pickle", lambda ws: ws.run(ws.raw("persid.pkl", b"Pdisk:1\n.")),
         Refused(r"refers to objects outside the file \(persistent ids\)")),
    Case("pickle_extension_code", "pickle", lambda ws: ws.run(ws.raw("ext.pkl", b"\x80\x02\x82\x01.")),
         Refused(r"as a pickle \(truncated, corrupted or not a pickle file\): ValueError: unregistered extension")),
    Case("pickle_deep_tuple_key_1MB", "pickle", lambda ws: ws.run(ws.raw("deep.pkl", _nested_tuple_key(10**6))),
         Refused(r"nests tuples more than 64 levels deep")),
    Case("pickle_memo_bomb_affine", "pickle", lambda ws: ws.run(_memo_bomb(ws)),
         Refused(r"more than 1,000,000 elements \(counting each reference to a shared object\)")),
    Case("pickle_self_containing_list", "pickle", lambda ws: ws.run(_self_containing(ws)),
         Refused(r"or a container holds itself")),
    Case("pickle_huge_frame", "pickle",
         lambda ws: ws.run(ws.raw("frame.pkl", b"\x80\x04\x95" + (2**40).to_bytes(8, "little") + b".")),
         Refused(r"declares a 1099511627776-byte frame")),
    Case("pickle_huge_bytes_claim", "pickle",
         lambda ws: ws.run(ws.raw("claim.pkl", b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"abc")),
         Refused(r"the file ends before the pickle does \(truncated\?\)")),
    Case("pickle_truncated", "pickle",
         lambda ws: ws.run(ws.raw("cut.pkl", pickle.dumps({"image": noise_volume()})[:500])),
         Refused(r"the file ends before the pickle does")),
    Case("pickle_empty", "pickle", lambda ws: ws.run(ws.raw("empty.pkl", b"")), Refused(r"the file is empty")),
    Case("pickle_garbage", "pickle", lambda ws: ws.run(ws.raw("garbage.pkl", b"this is not a pickle at all")),
         Refused(r"\(truncated, corrupted or not a pickle file\)")),
    Case("pickle_lz4", "pickle", lambda ws: ws.run(ws.raw("frame.pkl", b"\x04\x22\x4d\x18" + b"\0" * 20)),
         Refused(r"it is LZ4-compressed")),
    Case("pickle_old_joblib_zfile", "pickle", lambda ws: ws.run(ws.raw("old.pkl", b"ZF0x00000000000000000")),
         Refused(r"joblib's compressed format from before version 0\.10")),
    Case("pickle_old_joblib_wrapper", "pickle",
         lambda ws: ws.run(ws.raw("old.pkl", b"\x80\x02cjoblib.numpy_pickle\nNDArrayWrapper\n)\x81.")),
         Refused(r"joblib's format from before version 0\.10")),
    Case("pickle_gzip_code", "pickle",
         lambda ws: ws.run(ws.raw("evil.pkl.gz", gzip.compress(pickle.dumps(_code(ws, os.system, "true"))))),
         Refused(r"asks for '(os|posix)\.system'")),
    Case("pickle_xz_object_array", "pickle",
         lambda ws: ws.run(ws.raw("obj.pkl.xz", lzma.compress(pickle.dumps(np.array([None], dtype=object))))),
         Refused(r"dtype '\|O'")),
    Case("pickle_joblib_code", "pickle", lambda ws: ws.run(_joblib(ws, "evil.joblib", _code(ws, os.system, "true"))),
         Refused(r"asks for '(os|posix)\.system'")),
    Case("pickle_joblib_object_array", "pickle",
         lambda ws: ws.run(_joblib(ws, "obj.joblib", np.array([1, "x"], dtype=object))), Refused(r"dtype '\|O'")),
    Case("pickle_list", "pickle", lambda ws: ws.run(ws.pickle("list.pkl", [noise_volume()])),
         Refused(r"holds a list; expected a numpy array")),
    Case("pickle_dict_without_image", "pickle", lambda ws: ws.run(ws.pickle("dict.pkl", {"volume": noise_volume()})),
         Refused(r"holds a dict without an image \(keys: 'volume'\)")),
    Case("pickle_huge_key_not_printed", "pickle", lambda ws: ws.run(ws.pickle("key.pkl", {"k" * 100_000: 1})),
         Refused(r"dict without an image \(keys: <str>\); expected")),
    Case("pickle_nnunet_properties_as_image", "pickle",
         lambda ws: ws.run(ws.pickle("case.pkl", {"itk_spacing": (1.0,) * 3, "itk_origin": (0.0,) * 3,
                                                  "itk_direction": (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)})),
         Refused(r"holds nnU-Net case properties, not an image: give the matching 'case\.npz' or 'case\.npy'")),
    Case("pickle_image_not_an_array", "pickle", lambda ws: ws.run(ws.pickle("img.pkl", {"image": [[[0.0]]]})),
         Refused(r"'image' is a list, not a numpy array")),
    Case("pickle_nan_affine", "pickle",
         lambda ws: ws.run(ws.pickle("nan.pkl", {"image": noise_volume(), "affine": np.full((4, 4), np.nan)})),
         Refused(r"'affine' holds values that are not finite numbers")),
    Case("pickle_long_affine_list", "pickle",
         lambda ws: ws.run(ws.pickle("long.pkl", {"image": noise_volume(), "affine": [[0.0] * 4] * 1000})),
         Refused(r"'affine' must be 4x4 numbers, got a list of 1000 items$")),
    Case("pickle_singular_affine", "pickle",
         lambda ws: ws.run(ws.pickle("sing.pkl", {"image": noise_volume(),
                                                  "affine": [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]})),
         Refused(r"has a singular voxel-to-world matrix")),
    Case("pickle_sheared_affine", "pickle",
         lambda ws: ws.run(ws.pickle("shear.pkl", {"image": noise_volume(), "affine": [*_SHEAR, (0, 0, 0, 1)]})),
         Refused(r"has sheared voxel axes: axes i and j meet at 63\.4°, not 90°")),
    Case("pickle_zero_spacing", "pickle",
         lambda ws: ws.run(ws.pickle("zero.pkl", {"image": noise_volume(), "spacing": (1.0, 0.0, 1.0)})),
         Refused(r"'spacing' must be three positive voxel sizes in mm, got 1, 0, 1")),
    Case("pickle_both_geometries", "pickle",
         lambda ws: ws.run(ws.pickle("both.pkl", {"image": noise_volume(), "affine": np.eye(4), "spacing": (1,) * 3})),
         Refused(r"gives both 'affine' and 'spacing'")),
    Case("pickle_bool_mask", "pickle", lambda ws: ws.run(ws.pickle("mask.pkl", noise_volume() > 100)),
         Refused(r"holds only 2 distinct values \(0, 1\): it looks like a mask or label map")),
    Case("pickle_gzip_accepted", "pickle",
         lambda ws: ws.raw("t1.pkl.gz", gzip.compress(pickle.dumps({"image": noise_volume(), "affine": np.eye(4)}))),
         Accepted()),
    Case("pickle_bz2_accepted", "pickle",
         lambda ws: ws.raw("t1.pkl.bz2", bz2.compress(pickle.dumps(noise_volume()))),
         Accepted((r"^no geometry in file: assumed 1 mm isotropic voxels and RAS orientation",))),
    Case("pickle_xz_accepted", "pickle",
         lambda ws: ws.raw("t1.pkl.xz", lzma.compress(pickle.dumps({"image": noise_volume(), "spacing": (1, 1, 2)}))),
         Accepted()),
    Case("pickle_zlib_by_magic_accepted", "pickle",
         lambda ws: ws.raw("t1.pkl", zlib.compress(pickle.dumps({"image": noise_volume(), "affine": np.eye(4)}))),
         Accepted()),
    Case("pickle_ordered_dict_accepted", "pickle",
         lambda ws: ws.pickle("od.pkl", collections.OrderedDict(image=noise_volume(), spacing=(1.0, 1.0, 2.0))),
         Accepted()),
    Case("joblib_plain_accepted", "pickle",
         lambda ws: _joblib(ws, "t1.joblib", {"image": noise_volume(), "affine": np.eye(4)}), Accepted()),
    Case("joblib_zlib_accepted", "pickle",
         lambda ws: _joblib(ws, "t1.joblib", {"image": np.asfortranarray(noise_volume()), "affine": np.eye(4)}, 3),
         Accepted()),
    Case("joblib_xz_accepted", "pickle",
         lambda ws: _joblib(ws, "t1.joblib", noise_volume().astype(">f4"), ("xz", 3)),
         Accepted((r"^no geometry in file",))),
    # --- nnU-Net and plain numpy arrays
    Case("nnunet_raw_npz_accepted", "array", lambda ws: _nnunet(ws, SHAPE_IJK[::-1]), Accepted()),
    Case("nnunet_cropped_npy_accepted", "array", lambda ws: _nnunet(ws, (20, 18, 16), crop=True, suffix=".npy"),
         Accepted((r"geometry from the nnU-Net properties 'case\.pkl'; the array is nnU-Net's crop",))),
    Case("nnunet_resampled_refused", "array", lambda ws: ws.run(_nnunet(ws, (12, 13, 14))),
         Refused(r"was resampled by nnU-Net's preprocessing.*Segment the raw image")),
    Case("nnunet_two_modalities_refused", "array", lambda ws: ws.run(_nnunet(ws, SHAPE_IJK[::-1], channels=2)),
         Refused(r"holds 2 nnU-Net image channels \(modalities\)")),
    Case("npy_object_dtype", "array", lambda ws: ws.run(ws.npy("obj.npy", np.empty(SHAPE_IJK, object))),
         Refused(r"is not a plain numeric \.npy array: it holds pickled Python objects")),
    Case("npy_header_claims_30000_cubed", "array", lambda ws: ws.run(_npy_header_only(ws, "huge.npy", (30000,) * 3)),
         Refused(r"claims 30000x30000x30000 voxels .* more than this computer's .* GiB of memory")),
    Case("npy_truncated", "array", lambda ws: ws.run(ws.npy("cut.npy", noise_volume(), keep=4000)),
         Refused(r"Could not read .*cut\.npy' as \.npy \(corrupt or truncated\?\)")),
    Case("npz_named_npy", "array",
         lambda ws: ws.run(ws.raw("arch.npy", _npz_bytes(image=noise_volume()))),
         Refused(r"is an \.npz archive, not a single \.npy array; rename it to \.npz")),
    Case("npz_without_image_key", "array",
         lambda ws: ws.run(ws.raw("two.npz", _npz_bytes(a=noise_volume(), b=noise_volume()))),
         Refused(r"holds 2 arrays \('a', 'b'\) and none is called image")),
    Case("npy_bool_mask", "array", lambda ws: ws.run(ws.npy("mask.npy", noise_volume() > 90)),
         Refused(r"holds only 2 distinct values \(0, 1\)")),
    Case("npy_2d", "array", lambda ws: ws.run(ws.npy("2d.npy", np.zeros((30, 30)))),
         Refused(r"is 2D \(shape \(30, 30\)\); a single 3D volume is needed")),
    Case("npy_structured", "array",
         lambda ws: ws.run(ws.npy("rgb.npy", np.zeros(SHAPE_IJK, [("r", "u1"), ("g", "u1")]))),
         Refused(r"has several values per voxel \(vector/RGB data")),
    Case("npy_text", "array", lambda ws: ws.run(ws.npy("text.npy", np.full(SHAPE_IJK, "a"))),
         Refused(r"which are not numbers \(object or text data\)")),
    Case("npy_spacing_accepted", "array", lambda ws: ws.npy("v.npy", noise_volume()),
         Accepted((r"used the given 0\.5x0\.5x2 mm voxels and PIR orientation$",),
                  {"spacing_mm": (0.5, 0.5, 2.0), "orientation": "PIR"})),
    # --- NIfTI
    Case("nifti_header_claims_30000_cubed", "nifti",
         lambda ws: ws.run(_patched_nifti(ws, "huge.nii", dim=("<8h", (3, 30000, 30000, 30000, 1, 1, 1, 1)))),
         Refused(r"claims 30000x30000x30000 voxels \(2\.7e\+13\).*the header is probably corrupt")),
    Case("nifti_pixdim_zero", "nifti",
         lambda ws: ws.run(_patched_nifti(ws, "pix0.nii", pixdim=("<4f", (1.0, 1.0, 0.0, 1.0)), sform_code=("<h", (0,)),
                                          qform_code=("<h", (1,)))),
         Refused(r"gives voxel size 0 mm along axis j \(pixdim\).*Re-convert the image")),
    Case("nifti_nan_sform", "nifti",
         lambda ws: ws.run(_patched_nifti(ws, "nan.nii", srow=_srow((np.nan, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0)),
                                          sform_code=("<h", (1,)))),
         Refused(r"voxel-to-world matrix \(affine\) with values that are not finite numbers")),
    Case("nifti_singular_sform", "nifti",
         lambda ws: ws.run(_patched_nifti(ws, "sing.nii", srow=_srow((1, 1, 0, 0), (0, 0, 0, 0), (0, 0, 1, 0)),
                                          sform_code=("<h", (1,)))),
         Refused(r"has a singular voxel-to-world matrix")),
    Case("nifti_sheared_sform", "nifti",
         lambda ws: ws.run(_patched_nifti(ws, "shear.nii", srow=_srow(*_SHEAR), sform_code=("<h", (1,)))),
         Refused(r"has sheared voxel axes: axes i and j meet at 63\.4°, not 90°.*Resample it")),
    Case("nifti_4d", "nifti", lambda ws: ws.run(ws.nifti("dwi.nii.gz", noise_volume(4, (*SHAPE_IJK, 2)))),
         Refused(r"contains 2 volumes \(4D\); select one 3D volume")),
    Case("nifti_2d", "nifti", lambda ws: ws.run(ws.nifti("slice.nii.gz", noise_volume(4, (30, 30)))),
         Refused(r"is 2D")),
    Case("nifti_truncated", "nifti",
         lambda ws: ws.run(ws.raw("cut.nii", ws.nifti("whole.nii", noise_volume()).read_bytes()[:3000])),
         Refused(r"Could not read .*cut\.nii' as NIfTI \(corrupt or truncated\?\)")),
    Case("nifti_garbage_gz", "nifti", lambda ws: ws.run(ws.raw("junk.nii.gz", b"\x1f\x8b garbage")),
         Refused(r"Could not read .*junk\.nii\.gz' as NIfTI")),
    Case("nifti_binary_mask", "nifti",
         lambda ws: ws.run(ws.nifti("mask.nii.gz", (noise_volume() > 100).astype(np.uint8))),
         Refused(r"holds only 2 distinct values \(0, 1\): it looks like a mask or label map, not an MRI")),
    Case("nifti_label_map", "nifti",
         lambda ws: ws.run(ws.nifti("labels_in.nii.gz", (np.arange(np.prod(SHAPE_IJK)) % 10).reshape(SHAPE_IJK)
                                    .astype(np.int16))),
         Refused(r"holds only 10 distinct values \(0, 1, 2, 3, 4, 5, \.\.\.\)")),
    Case("nifti_constant", "nifti", lambda ws: ws.run(ws.nifti("zeros.nii.gz", np.zeros(SHAPE_IJK, np.float32))),
         Refused(r"is 0: the image is empty")),
    Case("nifti_nan_voxels", "nifti",
         lambda ws: ws.run(ws.nifti("nan.nii.gz", np.where(noise_volume() > 110, np.nan, noise_volume()))),
         Refused(r"voxels that are not finite numbers \(NaN, infinity")),
    Case("nifti_scaling_overflows", "nifti",
         lambda ws: ws.run(_patched_nifti(ws, "over.nii", (noise_volume() * 100).astype(np.int16),
                                          scl_slope=("<2f", (1e38, 0.0)))),
         Refused(r"voxels that are not finite numbers")),
    Case("nifti_complex", "nifti", lambda ws: ws.run(ws.nifti("cplx.nii.gz", noise_volume().astype(np.complex64))),
         Refused(r"has complex-valued voxels; use the magnitude image")),
    Case("nifti_rgb", "nifti",
         lambda ws: ws.run(ws.nifti("rgb.nii.gz", np.zeros(SHAPE_IJK, [("R", "u1"), ("G", "u1"), ("B", "u1")]))),
         Refused(r"several values per voxel")),
    Case("nifti_too_small", "nifti", lambda ws: ws.run(ws.nifti("tiny.nii.gz", noise_volume(5, (3, 30, 30)))),
         Refused(r"is too small: axis i has only 3 voxels")),
    Case("nifti_newline_in_path", "nifti", lambda ws: ws.run(ws.nifti("bad\nname.nii.gz", np.zeros(SHAPE_IJK))),
         Refused(r"bad\\nname\.nii\.gz' is 0: the image is empty")),
    Case("nifti_spacing_option_for_a_file_with_geometry", "nifti", lambda ws: ws.run(ws.image, "--spacing", 1, 1, 1),
         Refused(r"stores its own voxel spacing and orientation; --spacing/--orientation are only for bare arrays")),
    Case("nifti_without_orientation_accepted", "nifti",
         lambda ws: _patched_nifti(ws, "nocodes.nii", sform_code=("<h", (0,)), qform_code=("<h", (0,))),
         Accepted((r"^NIfTI header has no orientation \(sform and qform codes are 0\)",))),
    # --- NRRD
    Case("nrrd_4d", "nrrd", lambda ws: ws.run(ws.itk("series.nrrd", sitk.Image([*SHAPE_IJK, 4], sitk.sitkFloat32))),
         Refused(r"contains 4 volumes \(4D\)")),
    Case("nhdr_data_file_outside", "nrrd", lambda ws: ws.run(_nrrd_header(ws, "hdr/t1.nhdr", "../data/volume.raw")),
         Refused(r"names a data file outside its own folder \('\.\./data/volume\.raw'\).*--allow-external-data")),
    Case("nhdr_data_file_missing", "nrrd", lambda ws: ws.run(_nrrd_header(ws, "t1.nhdr", "missing.raw")),
         Refused(r"names the data file 'missing\.raw', which does not exist")),
    Case("nhdr_claims_30000_cubed", "nrrd",
         lambda ws: ws.run(_nrrd_header(ws, "huge.nhdr", "data/volume.raw", sizes="30000 30000 30000")),
         Refused(r"claims 30000x30000x30000 voxels")),
    Case("nhdr_sheared", "nrrd",
         lambda ws: ws.run(_nrrd_header(ws, "shear.nhdr", "data/volume.raw", directions="(1,0,0) (0.5,1,0) (0,0,1)")),
         Refused(r"has sheared voxel axes: axes i and j meet at 63\.4°")),
    Case("nrrd_corrupt", "nrrd", lambda ws: ws.run(ws.raw("junk.nrrd", b"NRRD0004\nsizes: x y\n")),
         Refused(r"Could not read .*junk\.nrrd' \(nrrd\)")),
    Case("nrrd_vector", "nrrd", lambda ws: ws.run(ws.itk("rgb.nrrd", _rgb_image())),
         Refused(r"has 3 values per voxel \(vector/RGB or complex data\)")),
    Case("nhdr_data_file_outside_allowed", "nrrd", lambda ws: _nrrd_header(ws, "hdr/t1.nhdr", "../data/volume.raw"),
         Accepted((), {"allow_external_data": True})),
    # --- MetaImage
    Case("mhd_data_file_in_parent", "metaimage",
         lambda ws: ws.run(_metaimage(ws, "t1.mhd", ("ElementDataFile = t1.raw", "ElementDataFile = ../t1.raw"),
                                      header_name="sub/t1.mhd")),
         Refused(r"names a data file outside its own folder \('\.\./t1\.raw'\)")),
    Case("mhd_etc_passwd", "metaimage",
         lambda ws: ws.run(_metaimage(ws, "t1.mhd", ("ElementDataFile = t1.raw", "ElementDataFile = /etc/passwd"))),
         Refused(r"names a data file outside its own folder \('/etc/passwd'\)")),
    Case("mhd_list_with_outside_file", "metaimage",
         lambda ws: ws.run(_metaimage(ws, "t1.mhd", ("ElementDataFile = t1.raw", "ElementDataFile = LIST\nt1.raw\n"
                                                      "../../../etc/hostname"))),
         Refused(r"outside its own folder \('\.\./\.\./\.\./etc/hostname'\)")),
    Case("mhd_data_file_missing", "metaimage",
         lambda ws: ws.run(_metaimage(ws, "t1.mhd", ("ElementDataFile = t1.raw", "ElementDataFile = gone.raw"))),
         Refused(r"names the data file 'gone\.raw', which does not exist: copy it beside the header")),
    Case("mhd_claims_30000_cubed", "metaimage",
         lambda ws: ws.run(_metaimage(ws, "t1.mhd", ("DimSize = 28 26 24", "DimSize = 30000 30000 30000"))),
         Refused(r"claims 30000x30000x30000 voxels")),
    Case("mha_corrupt", "metaimage", lambda ws: ws.run(ws.raw("junk.mha", b"not a metaimage")),
         Refused(r"Could not read .*junk\.mha' \(metaimage\)")),
    Case("mha_vector", "metaimage", lambda ws: ws.run(ws.itk("rgb.mha", _rgb_image())),
         Refused(r"has 3 values per voxel")),
    Case("mhd_data_file_in_parent_allowed", "metaimage",
         lambda ws: _metaimage(ws, "t1.mhd", ("ElementDataFile = t1.raw", "ElementDataFile = ../t1.raw"),
                               header_name="sub/t1.mhd"),
         Accepted((), {"allow_external_data": True})),
    # --- DICOM
    Case("dicom_folder_without_series", "dicom", lambda ws: ws.run(ws.folder("dicom", **{"notes.txt": "none"})),
         Refused(r"No DICOM series found in folder")),
    Case("dicom_tie_between_largest_series", "dicom",
         lambda ws: ws.run(_dicom(ws, "dicom", ("1.2.3.100", _dicom_volume(), 0), ("1.2.3.200", _dicom_volume(), 0))),
         Refused(r"2 of them have 10 files each \(1\.2\.3\.100, 1\.2\.3\.200\), so none can be chosen.*own")),
    Case("dicom_two_grids_one_uid", "dicom",
         lambda ws: ws.run(_dicom(ws, "dicom", ("1.2.3.300", _dicom_volume(), 0),
                                  ("1.2.3.300", _dicom_volume(10, 20, 40.0), 10))),
         Refused(r"mixes slices of 2 grids \(slice sizes 16x16 and 20x20\): probably two acquisitions sharing one")),
    Case("dicom_missing_slice_accepted", "dicom",
         lambda ws: _dicom(ws, "dicom", ("1.2.3.400", _dicom_volume(5), 0),
                           ("1.2.3.400", _dicom_volume(6, 16, 12.0), 6)),
         Accepted((r"^the DICOM slices are unevenly spaced or some are missing",))),
    Case("dicom_two_series_largest_accepted", "dicom",
         lambda ws: _dicom(ws, "dicom", ("1.2.3.500", _dicom_volume(12), 0), ("1.2.3.600", _dicom_volume(9), 0)),
         Accepted((r"^folder holds 2 DICOM series; using 1\.2\.3\.500 \(12 files, the most\) "
                   r"and ignoring 1\.2\.3\.600",))),
    # --- atlas
    Case("atlas_is_a_file", "atlas", lambda ws: ws.run(ws.image, atlas=ws.image),
         Refused(r"--atlas must be a folder, but .*good\.nii\.gz is a file")),
    Case("atlas_missing", "atlas", lambda ws: ws.run(ws.image, atlas=ws.root / "nowhere"),
         Refused(r"atlas folder .*nowhere does not exist")),
    Case("atlas_empty_folder", "atlas", lambda ws: ws.run(ws.image, atlas=ws.folder("empty_atlas")),
         Refused(r"no MR-Eye atlas in .*empty_atlas: point --atlas at the release folder")),
    Case("atlas_half_nan_template", "atlas",
         lambda ws: ws.run(ws.image, atlas=write_tiny_atlas(ws.path("nan_atlas"), np.where(
             np.arange(8000).reshape(20, 20, 20) < 4000, np.nan, 1.0).astype(np.float32))),
         Refused(r"the atlas template .* has 4000 voxels \(50%\) that are not finite numbers.*fetch-atlas")),
    Case("atlas_fractional_labels", "atlas",
         lambda ws: ws.run(ws.image, atlas=write_tiny_atlas(ws.path("frac_atlas"), labels=np.full((20,) * 3, 2.5))),
         Refused(r"holds non-integer values; expected a maximum-probability map of labels 0-9")),
    Case("atlas_labels_out_of_range", "atlas",
         lambda ws: ws.run(ws.image, atlas=write_tiny_atlas(ws.path("range_atlas"), labels=np.full((20,) * 3, 12.0))),
         Refused(r"has labels outside 0-9")),
    Case("atlas_labels_on_another_grid", "atlas",
         lambda ws: ws.run(ws.image, atlas=write_tiny_atlas(ws.path("grid_atlas"), labels=np.zeros((20, 20, 19)))),
         Refused(r"is not on the template's voxel grid")),
    Case("atlas_without_labels", "atlas",
         lambda ws: ws.run(ws.image, atlas=write_tiny_atlas(ws.path("nolabel_atlas"), labels=False)),
         Refused(r"has no 1_max_prob_map\.nii\.gz or 1_max_prob_map\.npy")),
    Case("atlas_rgb_picture_as_labels", "atlas",
         lambda ws: ws.run(ws.image, atlas=write_tiny_atlas(ws.path("rgb_atlas"),
                                                            labels=np.zeros((20, 20, 20, 3), np.uint8))),
         Refused(r"is an RGB picture.*not a label map")),
    Case("atlas_sex_not_in_release", "atlas", lambda ws: ws.run(ws.image, "--sex", "female"),
         Refused(r"has no female/0_template\.nii\.gz; choose another sex")),
    # --- arguments: exit 2, before any work
    Case("argument_spacing_zero", "arguments", lambda ws: ws.run(ws.image, "--spacing", 0, 0, 0),
         Refused(r"argument --spacing: must be a positive size in mm, not '0'", 2)),
    Case("argument_spacing_nan", "arguments", lambda ws: ws.run(ws.image, "--spacing", "nan", 1, 1),
         Refused(r"argument --spacing: must be a finite number, not 'nan'", 2)),
    Case("argument_orientation_rrs", "arguments", lambda ws: ws.run(ws.image, "--orientation", "RRS"),
         Refused(r"argument --orientation: must be an axis code of 3 letters.*not 'RRS'", 2)),
    Case("argument_cnr_pair_unknown", "arguments", lambda ws: ws.run(ws.image, "--cnr-pair", "nonexistent:globe"),
         Refused(r"argument --cnr-pair: CNR pair 'nonexistent:globe' must be two different structures", 2)),
    Case("argument_cnr_pair_twice_the_same", "arguments", lambda ws: ws.run(ws.image, "--cnr-pair", "lens:lens"),
         Refused(r"argument --cnr-pair: CNR pair 'lens:lens' must be two different structures", 2)),
    Case("argument_channels_zero", "arguments", lambda ws: ws.run(ws.image, "--channels", 0),
         Refused(r"argument --channels: must be at least 1, not '0'", 2)),
    Case("argument_channels_without_sos", "arguments", lambda ws: ws.run(ws.image, "--channels", 8),
         Refused(r"--channels other than 1 needs --noise-model sos", 2)),
    Case("argument_right_centre_nan", "arguments", lambda ws: ws.run(ws.image, "--right-centre", "nan", 0, 0),
         Refused(r"argument --right-centre: must be a finite number, not 'nan'", 2)),
    Case("argument_left_centre_inf", "arguments", lambda ws: ws.run(ws.image, "--left-centre", 0, "inf", 0),
         Refused(r"argument --left-centre: must be a finite number, not 'inf'", 2)),
    Case("argument_min_roi_voxels_negative", "arguments", lambda ws: ws.run(ws.image, "--min-roi-voxels", -1),
         Refused(r"argument --min-roi-voxels: must be at least 0, not '-1'", 2)),
    Case("argument_erode_1000_mm", "arguments", lambda ws: ws.run(ws.image, "--erode-mm", 1000),
         Refused(r"argument --erode-mm: must be 0-10 mm .*not '1000'", 2)),
    Case("argument_erode_negative", "arguments", lambda ws: ws.run(ws.image, "--erode-mm", -1),
         Refused(r"argument --erode-mm: must be 0-10 mm", 2)),
    Case("argument_roi_method_without_roi", "arguments", lambda ws: ws.run(ws.image, "--noise-method", "roi"),
         Refused(r"the roi noise method needs an air ROI \(--noise-roi MASK\)", 2)),
    Case("argument_difference_without_repeat", "arguments",
         lambda ws: ws.run(ws.image, "--noise-method", "difference"),
         Refused(r"the difference noise method needs a second identical acquisition", 2)),
    Case("argument_atlas_missing", "arguments", lambda ws: ["run", str(ws.image), "--out", str(ws.out)],
         Refused(r"the following arguments are required: --atlas", 2)),
    Case("argument_unknown_sex", "arguments", lambda ws: ws.run(ws.image, "--sex", "unknown"),
         Refused(r"argument --sex: invalid choice: 'unknown'", 2)),
    # --- OUT_DIR and inputs, checked before any work
    Case("output_replaces_the_input", "output",
         lambda ws: ws.run(shutil.copy(ws.image, ws.out / "labels.nii.gz"), out=ws.out),
         Refused(r"writing labels\.nii\.gz into .*out would replace the input .*labels\.nii\.gz: "
                 r"choose another --out")),
    Case("output_replaces_the_noise_roi", "output",
         lambda ws: ws.run(ws.image, "--noise-roi", ws.nifti("out/labels.nii.gz", (noise_volume() > 100) * 1.0)),
         Refused(r"writing labels\.nii\.gz into .* would replace the input")),
    Case("output_replaces_the_repeat", "output",
         lambda ws: ws.run(ws.image, "--repeat", ws.nifti("out/labels.nii.gz", noise_volume(7))),
         Refused(r"writing labels\.nii\.gz into .* would replace the input")),
    Case("output_folder_links_to_the_inputs_folder", "output",
         lambda ws: ws.run(ws.nifti("scans/labels.nii.gz", noise_volume(8)),
                           out=(lambda link: (link.symlink_to(ws.root / "scans"), link)[1])(ws.root / "results")),
         Refused(r"writing labels\.nii\.gz into .*scans would replace the input")),
    Case("output_is_a_file", "output", lambda ws: ws.run(ws.image, out=ws.image),
         Refused(r"--out .*good\.nii\.gz is a file, not a folder")),
    Case("output_below_a_file", "output", lambda ws: ws.run(ws.image, out=ws.image / "results"),
         Refused(r"cannot create .*results: .*good\.nii\.gz is a file, not a folder")),
    Case("output_on_a_read_only_file_system", "output",
         lambda ws: ws.run(ws.image, out=ws.tmpfs("ro", 1024, read_only=True) / "results"),
         Refused(r"cannot write the results: .*ro is on a read-only file system; choose another --out folder")),
    Case("output_on_a_nearly_full_disk", "output", lambda ws: ws.run(ws.image, out=ws.tmpfs("small", 512) / "results"),
         Refused(r"only 0\.5 MB free on the disk holding .*results; a run needs 20 MB")),
    Case("output_stale_staging_removed", "output", _stale_staging_then_bad_image,
         Refused(r"garbage\.pkl")),
    Case("input_missing", "output", lambda ws: ws.run(ws.root / "missing.nii.gz"),
         Refused(r"Image not found: '.*missing\.nii\.gz'")),
    Case("input_repeat_missing", "output", lambda ws: ws.run(ws.image, "--repeat", ws.root / "gone.nii.gz"),
         Refused(r"--repeat file not found: '.*gone\.nii\.gz'")),
)

#: Faults during a running registration, run by ``test_hostile_inputs.py`` (slow).
FAULTS = ("sigint_during_the_bspline", "sigkill_while_writing_then_the_next_run_cleans_up",
          "disk_fills_while_writing", "input_deleted_mid_run")
