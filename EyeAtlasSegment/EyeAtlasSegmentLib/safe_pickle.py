"""Load pickles that may only contain plain data and numeric numpy arrays.

A pickle is a small program: unpickling runs whatever callables it names. :func:`load_pickle_safely`
admits only the few numpy constructors that numeric arrays, numpy scalars and dtypes need (protocols 2-5),
each wrapped so that it only accepts the arguments numpy itself writes. Any other global (``os.system``,
``builtins.eval``, ``subprocess.Popen``, ``collections.OrderedDict``, ...) is refused with
:class:`~.errors.UnsafePickleError` before it is called. Plain containers, strings and numbers come from
pickle opcodes and need no globals.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputImageError, UnsafePickleError

#: dtype kinds a pickled array or scalar may have: bool, signed/unsigned integer, float, complex.
NUMERIC_DTYPE_KINDS = "biufc"


def _numpy_core_function(submodule: str, name: str) -> Callable[..., Any]:
    """``numpy._core.<submodule>.<name>`` (numpy >= 1.26), falling back to ``numpy.core`` (older numpy)."""
    try:
        module = importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:
        module = importlib.import_module(f"numpy.core.{submodule}")
    return getattr(module, name)


class _AdmittedCallable:
    """An allow-listed callable handed to the pickle; it refuses pickle's BUILD so it cannot be altered."""

    __slots__ = ("_qualified_name", "_function")

    def __init__(self, qualified_name: str, function: Callable[..., Any]) -> None:
        self._qualified_name = qualified_name
        self._function = function

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"it tries to modify '{self._qualified_name}'")

    def __repr__(self) -> str:
        return f"<admitted {self._qualified_name}>"


def _require_numeric_dtype(dtype: Any, requested_by: str) -> None:
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"it calls '{requested_by}' with {type(dtype).__name__!r} instead of a numpy dtype")
    if dtype.kind not in NUMERIC_DTYPE_KINDS:
        raise UnsafePickleError(
            f"it contains a numpy array or scalar of dtype '{dtype}'; only numeric dtypes are accepted "
            "(object, string and structured arrays can carry arbitrary Python objects)"
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
        raise UnsafePickleError(f"it asks '_reconstruct' to build a {subtype!r} instead of a plain numpy array")
    array = _reconstruct(np.ndarray, shape, typecode)
    _require_numeric_dtype(array.dtype, "_reconstruct")
    return array


def _safe_dtype(spec: Any, align: Any, copy: Any) -> np.dtype:
    """``numpy.dtype`` from a type-code string (as numpy pickles it), numeric kinds only."""
    if not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise UnsafePickleError(f"it calls 'numpy.dtype' with unexpected arguments {(spec, align, copy)!r}")
    dtype = np.dtype(spec, align, copy)
    _require_numeric_dtype(dtype, "numpy.dtype")
    return dtype


def _safe_scalar(dtype: Any, data: Any) -> np.generic:
    """numpy scalar of a numeric dtype from its raw bytes."""
    _require_numeric_dtype(dtype, "scalar")
    if not isinstance(data, bytes):
        raise UnsafePickleError("it calls 'scalar' with non-bytes data")
    return _scalar(dtype, data)


def _safe_frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """Protocol-5 array from an in-band buffer; numeric dtype, C or Fortran order."""
    _require_numeric_dtype(dtype, "_frombuffer")
    if not isinstance(buffer, (bytes, bytearray)) or order not in ("C", "F"):
        raise UnsafePickleError("it calls '_frombuffer' with unexpected arguments")
    return _frombuffer(buffer, dtype, shape, order)


def _safe_latin1_encode(text: Any, encoding: Any) -> bytes:
    """``_codecs.encode(str, 'latin1')``: how protocol-2 pickles store raw bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError("it calls '_codecs.encode' with arguments other than (text, 'latin1')")
    return text.encode("latin1")


def _admitted_globals() -> dict[tuple[str, str], _AdmittedCallable]:
    admitted: dict[tuple[str, str], _AdmittedCallable] = {
        ("numpy", "ndarray"): _NDARRAY_SUBTYPE,
        ("numpy", "dtype"): _AdmittedCallable("numpy.dtype", _safe_dtype),
        ("_codecs", "encode"): _AdmittedCallable("_codecs.encode", _safe_latin1_encode),
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


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose only reachable globals are the wrapped numpy constructors above."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ADMITTED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"it asks for '{module}.{name}', which is not plain numpy array data") from None


def load_pickle_safely(path: str | Path) -> object:
    """Unpickle ``path`` admitting only plain containers, numbers, strings and numeric numpy arrays/scalars.

    Raises :class:`UnsafePickleError` (nothing from the file is executed) for anything else, and
    :class:`InputImageError` when the file is not a readable pickle.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            return _NumpyOnlyUnpickler(stream).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"Refused to load pickle '{path}': {exc}. Nothing from the file was executed; "
            "save the image as NIfTI or .npy, or pickle only numpy arrays and plain numbers/lists/dicts."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure of a corrupt stream is reported the same way
        raise InputImageError(
            f"Could not read '{path}' as a pickle (truncated, corrupted or not a pickle file): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
