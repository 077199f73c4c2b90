"""safe_pickle: numeric numpy pickles load intact; anything that would run code is refused unexecuted."""

from __future__ import annotations

import builtins
import bz2
import codecs
import collections
import gzip
import lzma
import os
import pickle
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from EyeAtlasSegmentLib import safe_pickle
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
    path = _write_pickle(tmp_path / "counter.pkl", collections.Counter(image=3))
    with pytest.raises(UnsafePickleError, match=r"'collections\.Counter'"):
        load_pickle_safely(path)


def test_ordered_dicts_and_numpy_scalars_load_as_nnunet_writes_them(tmp_path):
    properties = collections.OrderedDict(itk_spacing=(0.5, 0.5, 2.0), itk_origin=(-10.0, 20.0, 5.0),
                                         itk_direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
                                         use_nonzero_mask_for_norm=collections.OrderedDict([(0, False)]),
                                         original_size_of_raw_data=np.array([30, 40, 50]), n=np.int64(3))
    loaded = load_pickle_safely(_write_pickle(tmp_path / "case.pkl", properties, 4))
    assert isinstance(loaded, collections.OrderedDict) and list(loaded) == list(properties)
    assert loaded["use_nonzero_mask_for_norm"] == {0: False} and loaded["n"] == 3
    np.testing.assert_array_equal(loaded["original_size_of_raw_data"], [30, 40, 50])


def test_ordered_dict_with_arguments_is_refused(tmp_path):
    path = _write_pickle(tmp_path / "od.pkl", _Reduces(collections.OrderedDict, [("a", 1)]))
    with pytest.raises(UnsafePickleError, match="OrderedDict' with arguments"):
        load_pickle_safely(path)


_COMPRESSORS = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress, "zlib": zlib.compress,
                "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE)}


@pytest.mark.parametrize("compression", list(_COMPRESSORS))
def test_compressed_pickles_are_recognised_by_their_first_bytes(tmp_path, compression):
    volume = _volume_ijk("int16", "F")
    path = tmp_path / "volume.pkl"  # no telling suffix: the magic bytes decide
    path.write_bytes(_COMPRESSORS[compression](pickle.dumps({"image": volume, "spacing": (1.0, 1.0, 2.0)})))
    loaded = load_pickle_safely(path)
    np.testing.assert_array_equal(loaded["image"], volume)
    assert loaded["spacing"] == (1.0, 1.0, 2.0)


@pytest.mark.parametrize("compression", list(_COMPRESSORS))
def test_compressed_code_is_still_refused(tmp_path, compression):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(_COMPRESSORS[compression](pickle.dumps(_Reduces(os.system, f"touch {marker}"))))
    with pytest.raises(UnsafePickleError, match=r"system'.*Nothing from the file was executed"):
        load_pickle_safely(path)
    assert not marker.exists()


def test_a_truncated_compressed_pickle_is_an_input_error(tmp_path):
    path = tmp_path / "cut.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(np.arange(1000.0)))[:200])
    with pytest.raises(InputImageError, match=r"cut\.pkl\.gz"):
        load_pickle_safely(path)


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)],
                         ids=["plain", "zlib", "gzip", "bz2", "xz", "lzma"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_joblib_dump_files_load_without_joblib_code(tmp_path, compress, order):
    joblib = pytest.importorskip("joblib")
    volume = _volume_ijk("float32", order)
    path = tmp_path / "volume.joblib"
    joblib.dump({"image": volume, "affine": np.eye(4), "scale": np.float32(2.0), "big_endian": volume.astype(">i2")},
                path, compress=compress)
    loaded = load_pickle_safely(path)
    np.testing.assert_array_equal(loaded["image"], volume)
    np.testing.assert_array_equal(loaded["big_endian"], volume.astype(np.int16))
    np.testing.assert_array_equal(loaded["affine"], np.eye(4))
    assert loaded["scale"] == np.float32(2.0)


def test_joblib_object_arrays_and_code_are_refused(tmp_path):
    joblib = pytest.importorskip("joblib")
    marker = tmp_path / "MARKER"
    joblib.dump(np.array([1, "x", None], dtype=object), tmp_path / "objects.joblib")
    with pytest.raises(UnsafePickleError, match="dtype '|O'"):
        load_pickle_safely(tmp_path / "objects.joblib")
    joblib.dump({"image": np.zeros(3), "payload": _Reduces(os.system, f"touch {marker}")}, tmp_path / "evil.joblib")
    with pytest.raises(UnsafePickleError, match=r"system'"):
        load_pickle_safely(tmp_path / "evil.joblib")
    assert not marker.exists()


def test_a_truncated_joblib_file_is_an_input_error(tmp_path):
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "cut.joblib"
    joblib.dump(np.arange(10000.0), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(InputImageError, match="ends before the pickle does"):
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
    [(pickle.dumps(np.arange(100.0))[:60], "ends before the pickle does"),
     (b"this is not a pickle", r"\(truncated, corrupted or not a pickle file\)"), (b"", "the file is empty")],
    ids=["truncated", "garbage", "empty"],
)
def test_corrupt_file_is_input_error(tmp_path, content):
    content, reason = content
    path = tmp_path / "broken.pkl"
    path.write_bytes(content)
    with pytest.raises(InputImageError, match=rf"Could not read '.*broken\.pkl' as a pickle.*{reason}"):
        load_pickle_safely(path)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputImageError, match="missing.pkl"):
        load_pickle_safely(tmp_path / "missing.pkl")


def test_a_dtype_state_claiming_objects_is_refused(tmp_path):
    """numpy writes a numeric dtype's state with flags 0; flags 63 would make float64 hold object pointers."""
    honest = pickle.dumps(np.zeros(3), protocol=2)
    assert honest.count(b"J\xff\xff\xff\xffK\x00t") == 1
    path = tmp_path / "flags.pkl"
    path.write_bytes(honest.replace(b"J\xff\xff\xff\xffK\x00t", b"J\xff\xff\xff\xffK?t"))
    with pytest.raises(UnsafePickleError, match="dtype '<f8' a state numpy never writes"):
        load_pickle_safely(path)


def test_numpy_dtype_must_be_a_private_copy(tmp_path):
    """dtype(code, False, False) is numpy's shared descriptor: setting its state would change it for everyone."""
    path = _write_pickle(tmp_path / "shared.pkl", _Reduces(np.dtype, "f8", False, False), 2)
    with pytest.raises(UnsafePickleError, match=r"numpy\.dtype' with arguments other than numpy's own"):
        load_pickle_safely(path)
    assert np.dtype("f8").byteorder == "="


class _WithState:
    def __init__(self, target, state) -> None:
        self.target, self.state = target, state

    def __reduce__(self):
        return self.target.__reduce__()[:2] + (self.state,)


def test_state_can_only_be_set_on_numeric_arrays_and_dtypes(tmp_path):
    path = _write_pickle(tmp_path / "build.pkl", _WithState(collections.OrderedDict(), {"x": 1}), 2)
    with pytest.raises(UnsafePickleError, match="set the state of a OrderedDict"):
        load_pickle_safely(path)


def test_an_array_state_with_the_wrong_data_size_is_refused(tmp_path):
    array = np.zeros(4)
    state = list(array.__reduce__()[2])
    state[4] = state[4][:8]
    path = _write_pickle(tmp_path / "short.pkl", _WithState(array, tuple(state)), 2)
    with pytest.raises(UnsafePickleError, match="data that is not its raw bytes"):
        load_pickle_safely(path)


def _nested_tuple_key_pickle(depth: int) -> bytes:
    """{((((1,),),)...): 2} with the key nested ``depth`` deep: one TUPLE1 opcode per level."""
    return b"\x80\x02}K\x01" + b"\x85" * depth + b"K\x02s."


def test_a_deep_dict_key_is_refused_before_it_is_hashed(tmp_path):
    """Hashing a tuple nested 10^6 deep overflows the C stack (SIGSEGV); the nesting is refused as it is built."""
    path = tmp_path / "deep.pkl"
    path.write_bytes(_nested_tuple_key_pickle(10**6))
    assert path.stat().st_size > 10**6
    with pytest.raises(UnsafePickleError, match=f"nests tuples more than {safe_pickle.MAX_NESTING} levels deep"):
        load_pickle_safely(path)
    path.write_bytes(_nested_tuple_key_pickle(safe_pickle.MAX_NESTING - 1))
    assert len(load_pickle_safely(path)) == 1


def test_a_memo_bomb_is_refused_with_a_short_message(tmp_path):
    """A 15 KB pickle whose affine refers to one list a million times: refused on the count, value never printed."""
    row = [0.0] * 1000
    path = _write_pickle(tmp_path / "bomb.pkl", {"image": np.zeros((8, 8, 8)), "affine": [row] * 1000}, 2)
    assert path.stat().st_size < 20_000
    with pytest.raises(UnsafePickleError, match="more than 1,000,000 elements") as refused:
        load_pickle_safely(path)
    assert len(str(refused.value)) < 400


def test_a_self_containing_list_is_refused(tmp_path):
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(UnsafePickleError, match="holds itself"):
        load_pickle_safely(_write_pickle(tmp_path / "cycle.pkl", {"image": cycle}))


def test_the_opcode_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_pickle, "MAX_OPCODES", 1000)
    path = tmp_path / "many.pkl"
    path.write_bytes(b"\x80\x02" + b"N0" * 600 + b"N.")
    with pytest.raises(UnsafePickleError, match="more than 1,000 pickle instructions"):
        load_pickle_safely(path)


def test_the_decompressed_size_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_pickle, "MAX_PICKLE_BYTES", 100_000)
    path = tmp_path / "bomb.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(np.zeros(200_000, dtype=np.uint8))))
    assert path.stat().st_size < 2_000
    with pytest.raises(UnsafePickleError, match=r"decompresses \(gzip\) to more than"):
        load_pickle_safely(path)


def test_a_huge_frame_is_refused(tmp_path):
    path = tmp_path / "frame.pkl"
    path.write_bytes(b"\x80\x04\x95" + (2**40).to_bytes(8, "little") + b".")
    with pytest.raises(UnsafePickleError, match="frame"):
        load_pickle_safely(path)
