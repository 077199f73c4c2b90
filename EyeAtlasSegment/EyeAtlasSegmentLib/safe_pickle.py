"""Load pickles that may only contain plain data and numeric numpy arrays.

A pickle is a small program: unpickling runs whatever callables it names. :func:`load_pickle_safely` admits
only the few numpy constructors that numeric arrays, numpy scalars and dtypes need (protocols 0-5), each
wrapped so that it only accepts the arguments numpy itself writes, plus ``collections.OrderedDict`` (nnU-Net
properties) and joblib's array wrapper (``joblib.dump`` files, whose array bytes follow the pickle stream; read
here without joblib). Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) is refused
with :class:`~.errors.UnsafePickleError` before it is called, and so is any attempt to set the state (pickle's
BUILD) of anything but a numeric array or dtype written exactly as numpy writes it.

The file may be compressed (gzip, bz2, xz/lzma, zlib as joblib writes it; detected by its first bytes). Bounds
keep a hostile file from exhausting the machine: ``MAX_PICKLE_BYTES`` of (decompressed) stream, tuples nested
at most ``MAX_NESTING`` deep while loading (a deeply nested dict key would crash the interpreter when hashed),
and at most ``MAX_ELEMENTS`` elements and ``MAX_NESTING`` levels in the loaded value, counting a shared
(memoised) object each time it is referred to. Error messages name types and sizes, never a value.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import importlib
import io
import lzma
import pickle
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from .errors import InputImageError, UnsafePickleError

#: dtype kinds a pickled array or scalar may have: bool, signed/unsigned integer, float, complex.
NUMERIC_DTYPE_KINDS = "biufc"
#: Largest pickle stream read, after decompression (a 512³ float64 volume is 1 GiB).
MAX_PICKLE_BYTES = 4 * 2**30
#: Deepest nesting of containers (an image dict with its geometry needs 3).
MAX_NESTING = 64
#: Most container elements in the loaded value, a shared object counted at each reference (memo bombs).
MAX_ELEMENTS = 1_000_000
#: Most pickle opcodes executed (an element costs one to three; about 6 s of work at this bound).
MAX_OPCODES = MAX_ELEMENTS
#: Largest protocol-4 frame; Python writes frames of about 64 KiB and large data outside them.
MAX_FRAME_BYTES = 16 * 2**20
_READ_CHUNK_BYTES = 16 * 2**20


# ------------------------------------------------------------------------------------- admitted globals


def _numpy_core_function(submodule: str, name: str) -> Callable[..., Any]:
    """``numpy._core.<submodule>.<name>`` (numpy >= 1.26), falling back to ``numpy.core`` (older numpy)."""
    try:
        module = importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:
        module = importlib.import_module(f"numpy.core.{submodule}")
    return getattr(module, name)


class _AdmittedCallable:
    """An allow-listed callable handed to the pickle in place of the global it names."""

    __slots__ = ("qualified_name", "_function")

    def __init__(self, qualified_name: str, function: Callable[..., Any]) -> None:
        self.qualified_name = qualified_name
        self._function = function

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)


def _require_numeric_dtype(dtype: Any, requested_by: str) -> None:
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"it calls '{requested_by}' with a {type(dtype).__name__} instead of a numpy dtype")
    if dtype.kind not in NUMERIC_DTYPE_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype:
        raise UnsafePickleError(
            f"it contains a numpy array or scalar of dtype '{dtype.str}' that can hold Python objects or "
            "structures; only numeric dtypes are accepted (object, string and structured arrays can carry "
            "arbitrary Python objects)"
        )


def _refuse_ndarray_call(*args: Any) -> None:
    raise UnsafePickleError("it calls 'numpy.ndarray' directly; it may only name the type of a pickled array")


_NDARRAY_SUBTYPE = _AdmittedCallable("numpy.ndarray", _refuse_ndarray_call)
_reconstruct = _numpy_core_function("multiarray", "_reconstruct")
_scalar = _numpy_core_function("multiarray", "scalar")
_frombuffer = _numpy_core_function("numeric", "_frombuffer")


def _safe_reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    """``_reconstruct`` for plain ``numpy.ndarray`` only (no subclasses); the dtype must be numeric."""
    if subtype is not _NDARRAY_SUBTYPE:
        raise UnsafePickleError(f"it asks '_reconstruct' to build a {_kind(subtype)} instead of a plain numpy array")
    if shape != (0,) or typecode != b"b":
        raise UnsafePickleError("it calls '_reconstruct' with arguments other than numpy's own")
    return _reconstruct(np.ndarray, shape, typecode)


def _safe_dtype(spec: Any, align: Any, copy: Any) -> np.dtype:
    """``numpy.dtype`` from a type-code string as numpy pickles it (a private copy), numeric kinds only."""
    if not isinstance(spec, str) or len(spec) > 8 or align is not False or copy is not True:
        raise UnsafePickleError("it calls 'numpy.dtype' with arguments other than numpy's own (code, False, True)")
    dtype = np.dtype(spec, align, copy)
    _require_numeric_dtype(dtype, "numpy.dtype")
    return dtype


def _safe_scalar(dtype: Any, data: Any) -> np.generic:
    """numpy scalar of a numeric dtype from its raw bytes."""
    _require_numeric_dtype(dtype, "scalar")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError("it calls 'scalar' with data that is not the scalar's bytes")
    return _scalar(dtype, data)


def _safe_frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """Protocol-5 array from an in-band buffer; numeric dtype, C or Fortran order."""
    _require_numeric_dtype(dtype, "_frombuffer")
    if not isinstance(buffer, (bytes, bytearray)) or order not in ("C", "F") or not _is_shape(shape):
        raise UnsafePickleError("it calls '_frombuffer' with arguments other than numpy's own")
    return _frombuffer(buffer, dtype, shape, order)


def _safe_latin1_encode(text: Any, encoding: Any) -> bytes:
    """``_codecs.encode(str, 'latin1')``: how protocol-2 pickles store raw bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError("it calls '_codecs.encode' with arguments other than (text, 'latin1')")
    return text.encode("latin1")


def _empty_ordered_dict(*args: Any) -> collections.OrderedDict:
    """``collections.OrderedDict()`` as pickle writes it: no arguments, the items follow as SETITEMS."""
    if args:
        raise UnsafePickleError("it calls 'collections.OrderedDict' with arguments; pickle itself passes none")
    return collections.OrderedDict()


class _JoblibArrayWrapper:
    """Stands in for ``joblib.numpy_pickle.NumpyArrayWrapper``: its state says how the array bytes after it look."""


#: joblib's formats from before version 0.10 keep arrays in separate files or compress each one on its own.
_OLD_JOBLIB_WRAPPERS = {("joblib.numpy_pickle", "NDArrayWrapper"), ("joblib.numpy_pickle", "ZNDArrayWrapper"),
                        ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
                        ("joblib.numpy_pickle_compat", "ZNDArrayWrapper")}


def _admitted_globals() -> dict[tuple[str, str], Any]:
    admitted: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _NDARRAY_SUBTYPE,
        ("numpy", "dtype"): _AdmittedCallable("numpy.dtype", _safe_dtype),
        ("_codecs", "encode"): _AdmittedCallable("_codecs.encode", _safe_latin1_encode),
        ("collections", "OrderedDict"): _AdmittedCallable("collections.OrderedDict", _empty_ordered_dict),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"): _JoblibArrayWrapper,
    }
    for core in ("numpy.core", "numpy._core"):
        for submodule, name, function in (
            ("multiarray", "_reconstruct", _safe_reconstruct),
            ("multiarray", "scalar", _safe_scalar),
            ("numeric", "_frombuffer", _safe_frombuffer),
        ):
            module = f"{core}.{submodule}"
            admitted[(module, name)] = _AdmittedCallable(f"{module}.{name}", function)
    return admitted


_ADMITTED_GLOBALS = _admitted_globals()


# ------------------------------------------------------------------------------------------ unpickler


def _kind(value: Any) -> str:
    """A short description of a value for messages: its type, never its content."""
    if isinstance(value, _AdmittedCallable):
        return f"'{value.qualified_name}'"
    return type(value).__name__


def _is_shape(shape: Any) -> bool:
    return (isinstance(shape, tuple) and len(shape) <= 32
            and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape))


def _element_count(shape: tuple) -> int:
    count = 1
    for n in shape:
        count *= int(n)
    return count


def _check_dtype_state(dtype: np.dtype, state: Any) -> None:
    """A dtype's pickled state must be the one numpy writes for it (only the byte order may differ)."""
    expected = dtype.__reduce__()[2]
    byte_orders = ("<", ">") if expected[1] in ("<", ">") else (expected[1],)
    if not (isinstance(state, tuple) and len(state) == len(expected) and state[0] == expected[0]
            and isinstance(state[1], str) and state[1] in byte_orders
            and all(type(a) is type(b) and a == b for a, b in zip(state[2:], expected[2:]))):
        raise UnsafePickleError(
            f"it gives the numpy dtype '{dtype.str}' a state numpy never writes (it could make the dtype claim "
            "to hold Python objects)"
        )


def _check_array_state(state: Any) -> None:
    """An array's pickled state: (1, shape, numeric dtype, is_fortran, raw bytes of exactly that size)."""
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1 and _is_shape(state[1])
            and isinstance(state[3], bool)):
        raise UnsafePickleError("it gives a numpy array a state numpy never writes")
    _require_numeric_dtype(state[2], "ndarray.__setstate__")
    if not isinstance(state[4], (bytes, bytearray)) or len(state[4]) != _element_count(state[1]) * state[2].itemsize:
        raise UnsafePickleError("it gives a numpy array data that is not its raw bytes")


class _RestrictedUnpickler(pickle._Unpickler):  # the Python unpickler: its BUILD can be checked (the C one's not)
    """Unpickler whose only reachable globals are the admitted ones above, with bounded nesting and size."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self._opcodes = 0
        self._tuple_depth: dict[int, int] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _OLD_JOBLIB_WRAPPERS:
            raise UnsafePickleError(f"it is in joblib's format from before version 0.10 ('{module}.{name}'); "
                                    "load it with joblib and re-save it with a current joblib or as NIfTI")
        try:
            return _ADMITTED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"it asks for '{module}.{name}', which is not plain numpy array data") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it refers to objects outside the file (persistent ids)")

    # -- bounded nesting: a tuple's depth is known when it is built, before it can be hashed as a key
    def _tuple(self, items: list) -> tuple:
        built = tuple(items)
        depth = 1 + max((self._tuple_depth.get(id(item), 1) for item in built if type(item) is tuple), default=0)
        if depth > MAX_NESTING:
            raise UnsafePickleError(f"it nests tuples more than {MAX_NESTING} levels deep")
        self._tuple_depth[id(built)] = depth
        return built

    def _load_tuple(self) -> None:
        items = self.pop_mark()  # before looking up self.append: popping the mark replaces the stack
        self.append(self._tuple(items))

    def _load_empty_tuple(self) -> None:
        self.append(())

    def _load_tuple_n(self, n: int) -> None:
        self.stack[-n:] = [self._tuple(self.stack[-n:])]

    def _load_frame(self) -> None:
        frame_size = int.from_bytes(self.read(8), "little")
        if frame_size > MAX_FRAME_BYTES:
            raise UnsafePickleError(f"it declares a {frame_size}-byte frame; Python writes frames of about 64 KiB")
        self._unframer.load_frame(frame_size)

    def _load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, np.dtype):
            _check_dtype_state(target, state)
            target.__setstate__(state)
            _require_numeric_dtype(target, "numpy.dtype")
        elif type(target) is np.ndarray:
            _check_array_state(state)
            target.__setstate__(state)
        elif type(target) is _JoblibArrayWrapper:
            self.stack[-1] = self._read_joblib_array(state)
        else:
            raise UnsafePickleError(f"it tries to set the state of a {_kind(target)}")

    def _read_joblib_array(self, state: Any) -> np.ndarray:
        """The array joblib wrote right after its wrapper: optional alignment padding, then the raw bytes."""
        keys = {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
        if not (isinstance(state, dict) and {"subclass", "shape", "order", "dtype"} <= set(state) <= keys
                and state["subclass"] is _NDARRAY_SUBTYPE and _is_shape(state["shape"])
                and state["order"] in ("C", "F")):
            raise UnsafePickleError("it holds a joblib array description joblib never writes")
        dtype, shape = state["dtype"], tuple(int(n) for n in state["shape"])
        _require_numeric_dtype(dtype, "joblib NumpyArrayWrapper")
        frame = self._unframer.current_frame
        if frame is not None and frame.tell() != len(frame.getbuffer()):
            raise UnsafePickleError("its joblib array data starts inside a pickle frame, which joblib never writes")
        read = self._file_read
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = read(1)
            if len(padding) != 1 or len(read(padding[0])) != padding[0]:
                raise EOFError("the file ends inside a joblib array")
        count = _element_count(shape)
        data = _read_exactly(read, count * dtype.itemsize)
        array = np.frombuffer(data, dtype=dtype, count=count)
        return array.reshape(shape[::-1]).T if state["order"] == "F" else array.reshape(shape)

    dispatch[pickle.TUPLE[0]] = _load_tuple
    dispatch[pickle.EMPTY_TUPLE[0]] = _load_empty_tuple
    dispatch[pickle.TUPLE1[0]] = lambda self: self._load_tuple_n(1)
    dispatch[pickle.TUPLE2[0]] = lambda self: self._load_tuple_n(2)
    dispatch[pickle.TUPLE3[0]] = lambda self: self._load_tuple_n(3)
    dispatch[pickle.FRAME[0]] = _load_frame
    dispatch[pickle.BUILD[0]] = _load_build


def _counted(handler: Callable[[_RestrictedUnpickler], None]) -> Callable[[_RestrictedUnpickler], None]:
    """``handler`` preceded by a check of the number of opcodes executed."""
    def counted(unpickler: _RestrictedUnpickler) -> None:
        unpickler._opcodes += 1
        if unpickler._opcodes > MAX_OPCODES:
            raise UnsafePickleError(f"it has more than {MAX_OPCODES:,} pickle instructions (an image needs a few "
                                    "dozen)")
        handler(unpickler)
    return counted


_RestrictedUnpickler.dispatch = {code: _counted(handler) for code, handler in _RestrictedUnpickler.dispatch.items()}


def _read_exactly(read: Callable[[int], bytes], n_bytes: int) -> bytearray:
    """``n_bytes`` from ``read`` in chunks, so memory follows what the file really holds, not what it claims."""
    if n_bytes > MAX_PICKLE_BYTES:
        raise UnsafePickleError(f"it declares an array of {n_bytes / 2**30:.1f} GiB, more than the "
                                f"{MAX_PICKLE_BYTES / 2**30:.0f} GiB accepted")
    data = bytearray()
    while len(data) < n_bytes:
        chunk = read(min(_READ_CHUNK_BYTES, n_bytes - len(data)))
        if not chunk:
            raise EOFError("the file ends inside an array")
        data += chunk
    return data


def _check_plain_data(value: object) -> None:
    """The loaded value is a tree of plain containers and admitted leaves within the size and depth bounds."""
    containers = (dict, list, tuple, set, frozenset)
    leaves = (str, bytes, bytearray, int, float, complex, type(None), np.ndarray, np.generic, np.dtype)
    pending = [(value, 1)]
    elements = 0
    while pending:
        item, depth = pending.pop()
        if isinstance(item, leaves):
            continue
        if not isinstance(item, containers):
            raise UnsafePickleError(f"it leaves an incomplete {_kind(item)} (e.g. a joblib array without its data)")
        if depth > MAX_NESTING:
            raise UnsafePickleError(f"it nests containers more than {MAX_NESTING} levels deep, or a container "
                                    "holds itself")
        elements += len(item)
        if elements > MAX_ELEMENTS:
            raise UnsafePickleError(f"it holds more than {MAX_ELEMENTS:,} elements (counting each reference to a "
                                    "shared object); an image file needs a few dozen")
        children = item.items() if isinstance(item, dict) else ((child,) for child in item)
        pending.extend((child, depth + 1) for pair in children for child in pair)


# ------------------------------------------------------------------------------------------ compression


class _ZlibReader(io.RawIOBase):
    """A raw zlib stream (joblib's default compression) as a readable file."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._decompressor = zlib.decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._decompressor.eof:
            compressed = self._decompressor.unconsumed_tail or self._raw.read(65536)
            if not compressed:
                raise EOFError("the compressed stream ends early (truncated file)")
            out = self._decompressor.decompress(compressed, len(buffer))
            if out:
                buffer[:len(out)] = out
                return len(out)
        return 0


def _is_zlib_header(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


#: (description, test on the first bytes, opener) of the compressed formats accepted.
_COMPRESSIONS: tuple[tuple[str, Callable[[bytes], bool], Callable[[BinaryIO], BinaryIO]], ...] = (
    ("gzip", lambda head: head.startswith(b"\x1f\x8b"), lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    ("bz2", lambda head: head.startswith(b"BZh"), lambda raw: bz2.BZ2File(raw, mode="rb")),
    ("xz", lambda head: head.startswith(b"\xfd7zXZ\x00"), lambda raw: lzma.LZMAFile(raw, mode="rb")),
    ("lzma", lambda head: head.startswith(b"\x5d\x00\x00"), lambda raw: lzma.LZMAFile(raw, mode="rb")),
    ("zlib", _is_zlib_header, lambda raw: io.BufferedReader(_ZlibReader(raw))),
)
#: Formats recognised only to say why they are refused.
_REFUSED_CONTAINERS = {b"\x04\x22\x4d\x18": "LZ4-compressed (re-save it with gzip, xz or no compression)",
                       b"ZF": "in joblib's compressed format from before version 0.10 (re-save it with a current "
                              "joblib or as NIfTI)"}


class _BoundedReader:
    """``read``/``readline`` of a stream that refuses to deliver more than ``MAX_PICKLE_BYTES``."""

    def __init__(self, stream: BinaryIO, compression: str) -> None:
        self._stream = stream
        self._compression = compression
        self._delivered = 0

    def _allowance(self, wanted: int) -> int:
        if self._delivered > MAX_PICKLE_BYTES:
            what = f"decompresses ({self._compression}) to" if self._compression else "is"
            raise UnsafePickleError(f"it {what} more than {MAX_PICKLE_BYTES / 2**30:.0f} GiB; an image file is far "
                                    "smaller")
        remaining = MAX_PICKLE_BYTES - self._delivered + 1
        return remaining if wanted is None or wanted < 0 else min(wanted, remaining)

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(self._allowance(n))
        self._delivered += len(data)
        self._allowance(0)
        return data

    def readline(self) -> bytes:
        line = self._stream.readline(self._allowance(-1))
        self._delivered += len(line)
        self._allowance(0)
        return line


def _open_pickle_stream(raw: BinaryIO) -> _BoundedReader:
    """The pickle stream of an open file, decompressed when its first bytes name a compression."""
    head = raw.read(6)
    raw.seek(0)
    for prefix, reason in _REFUSED_CONTAINERS.items():
        if head.startswith(prefix):
            raise UnsafePickleError(f"it is {reason}")
    for name, matches, opener in _COMPRESSIONS:
        if matches(head):
            return _BoundedReader(opener(raw), name)
    return _BoundedReader(raw, "")


# ------------------------------------------------------------------------------------------ entry point


def load_pickle_safely(path: str | Path) -> object:
    """Unpickle ``path`` admitting only plain containers, numbers, strings and numeric numpy arrays/scalars.

    The file may be a plain or compressed (gzip, bz2, xz, lzma, zlib) pickle, or a ``joblib.dump`` file.
    Raises :class:`UnsafePickleError` (nothing from the file is executed) for anything else or beyond the
    bounds, and :class:`InputImageError` when the file is not a readable pickle.
    """
    path = Path(path)
    try:
        with path.open("rb") as raw:
            value = _RestrictedUnpickler(_open_pickle_stream(raw)).load()
        _check_plain_data(value)
        return value
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"Refused to load pickle '{path}': {exc}. Nothing from the file was executed; "
            "save the image as NIfTI or .npy, or pickle only numpy arrays and plain numbers/lists/dicts."
        ) from None
    except MemoryError:
        raise InputImageError(f"'{path}' needs more memory than this computer has to load; if it really is an "
                              "image, save it as NIfTI") from None
    except EOFError:
        what = "the file is empty" if path.stat().st_size == 0 else "the file ends before the pickle does (truncated?)"
        raise InputImageError(f"Could not read '{path}' as a pickle: {what}; copy or export it again") from None
    except Exception as exc:  # noqa: BLE001 - any failure of a corrupt stream is reported the same way
        reason = " ".join(str(exc).split())[:200] or "no details"
        raise InputImageError(
            f"Could not read '{path}' as a pickle (truncated, corrupted or not a pickle file): "
            f"{type(exc).__name__}: {reason}"
        ) from None
