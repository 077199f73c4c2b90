"""safe_pickle: numeric numpy pickles load intact; anything that would run code is refused unexecuted."""

from __future__ import annotations

import builtins
import codecs
import collections
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

from EyeAtlasSegmentLib.errors import InputImageError, UnsafePickleError
from EyeAtlasSegmentLib.safe_pickle import load_pickle_safely


class _Reduces:
    """Pickles as ``function(*args)``: what a malicious pickle looks like."""

    def __init__(self, function, *args) -> None:
        self.function = function
        self.args = args

    def __reduce__(self):
        return self.function, self.args


def _write_pickle(path: Path, obj: object, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _volume_ijk(dtype: str, order: str) -> np.ndarray:
    """Non-symmetric 5x6x7 volume whose value encodes its index: v[i, j, k] = i + 5 j + 30 k (mod 256)."""
    i, j, k = np.meshgrid(np.arange(5), np.arange(6), np.arange(7), indexing="ij")
    volume = ((i + 5 * j + 30 * k) % 256).astype(dtype)
    return np.asfortranarray(volume) if order == "F" else np.ascontiguousarray(volume)


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("as_dict", [False, True])
def test_numpy_array_round_trip(tmp_path, protocol, dtype, order, as_dict):
    volume = _volume_ijk(dtype, order)
    metadata = {"spacing": [0.5, 0.5, 2.0], "name": "t1", "scale": np.float64(0.25)}
    payload = {"image": volume, **metadata} if as_dict else volume
    loaded = load_pickle_safely(_write_pickle(tmp_path / "v.pkl", payload, protocol))
    array = loaded["image"] if as_dict else loaded
    assert isinstance(array, np.ndarray) and array.dtype == np.dtype(dtype) and array.shape == (5, 6, 7)
    np.testing.assert_array_equal(array, volume)
    assert array[4, 0, 0] == 4 and array[0, 5, 0] == 25 and array[0, 0, 6] == 180  # [i, j, k] indexing kept
    if as_dict:
        assert loaded["spacing"] == [0.5, 0.5, 2.0] and loaded["name"] == "t1"
        assert loaded["scale"] == np.float64(0.25) and isinstance(loaded["scale"], np.float64)


def test_plain_containers_and_dtypes(tmp_path):
    payload = {"t": (1, 2.5, None, True), "b": b"\x00\xff", "dtype": np.dtype("int16"), "nested": [{"x": -3}]}
    assert load_pickle_safely(_write_pickle(tmp_path / "p.pkl", payload, 2)) == payload


_ATTACKS = {
    "os.system": (lambda marker: _Reduces(os.system, f"touch {marker}"), r"(posix|nt)\.system"),
    "eval": (lambda marker: _Reduces(builtins.eval, f"open({str(marker)!r}, 'w')"), r"builtins\.eval"),
    "subprocess": (lambda marker: _Reduces(subprocess.Popen, ["touch", str(marker)]), r"subprocess\.Popen"),
    "getattr": (lambda marker: _Reduces(getattr, _Reduces(os.system, f"touch {marker}"), "x"), r"builtins\.getattr"),
}


@pytest.mark.parametrize("attack", list(_ATTACKS))
def test_code_execution_is_refused(tmp_path, attack):
    make_payload, requested = _ATTACKS[attack]
    marker = tmp_path / "MARKER"
    path = _write_pickle(tmp_path / "evil.pkl", {"image": np.zeros(3), "payload": make_payload(marker)})
    with pytest.raises(UnsafePickleError, match=rf"evil\.pkl.*'{requested}'.*Nothing from the file was executed"):
        load_pickle_safely(path)
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    path = _write_pickle(tmp_path / "od.pkl", collections.OrderedDict(image=np.zeros(3)))
    with pytest.raises(UnsafePickleError, match=r"'collections\.OrderedDict'"):
        load_pickle_safely(path)


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize(
    "array",
    [np.array([1, "x", None], dtype=object), np.zeros(3, dtype=[("r", "u1"), ("g", "u1")]), np.array(["ab"])],
    ids=["object", "structured", "text"],
)
def test_non_numeric_arrays_are_refused(tmp_path, protocol, array):
    with pytest.raises(UnsafePickleError, match="only numeric dtypes are accepted"):
        load_pickle_safely(_write_pickle(tmp_path / "obj.pkl", array, protocol))


def test_reconstruct_refuses_other_subtypes(tmp_path):
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    path = _write_pickle(tmp_path / "sub.pkl", _Reduces(reconstruct, np.dtype, (0,), b"b"))
    with pytest.raises(UnsafePickleError, match="instead of a plain numpy array"):
        load_pickle_safely(path)


def test_ndarray_cannot_be_called_directly(tmp_path):
    path = _write_pickle(tmp_path / "direct.pkl", _Reduces(np.ndarray, (3,), "O"))
    with pytest.raises(UnsafePickleError, match="calls 'numpy.ndarray' directly"):
        load_pickle_safely(path)


def test_codecs_encode_only_latin1_text(tmp_path):
    path = _write_pickle(tmp_path / "enc.pkl", _Reduces(codecs.encode, "abc", "rot13"))
    with pytest.raises(UnsafePickleError, match=r"_codecs\.encode"):
        load_pickle_safely(path)


@pytest.mark.parametrize(
    "content",
    [pickle.dumps(np.arange(100.0))[:60], b"this is not a pickle", b""],
    ids=["truncated", "garbage", "empty"],
)
def test_corrupt_file_is_input_error(tmp_path, content):
    path = tmp_path / "broken.pkl"
    path.write_bytes(content)
    with pytest.raises(InputImageError, match=r"Could not read '.*broken\.pkl' as a pickle \(truncated, corrupted"):
        load_pickle_safely(path)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputImageError, match="missing.pkl"):
        load_pickle_safely(tmp_path / "missing.pkl")
