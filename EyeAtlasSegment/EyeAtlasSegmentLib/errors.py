"""Exceptions with messages a clinician or MR physicist can act on."""

import re


class EyeAtlasError(Exception):
    """Base class: any failure the command line reports as a one-line reason."""


class InputImageError(EyeAtlasError):
    """The patient image cannot be read or is not a usable 3D image."""


class UnsafePickleError(InputImageError):
    """A pickle file asked to build an object that is not plain data; nothing from it was executed."""


class AtlasError(EyeAtlasError):
    """The atlas folder is missing files or its files are inconsistent."""


class EyeNotFoundError(EyeAtlasError):
    """An eye could not be located in the image (e.g. outside the field of view)."""


class GridMismatchError(EyeAtlasError, ValueError):
    """A second image (repeat, noise ROI) is not on the patient image's voxel grid."""


class RegistrationError(EyeAtlasError):
    """Registration of the atlas to the patient failed or gave an implausible result."""


class OutputError(EyeAtlasError):
    """OUT_DIR cannot be written, or writing it would replace an input; nothing was written."""


class Cancelled(EyeAtlasError):
    """The user cancelled the run."""


def single_line(text: str) -> str:
    """``text`` on one line: line breaks and other control characters (e.g. in a file name) shown escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def without_object_addresses(text: str) -> str:
    """``text`` without the C++ object addresses ITK prints, e.g. " (0x55d0c1a2b3c0)"."""
    return re.sub(r"\s*\(0x[0-9a-fA-F]+\)", "", text)


def library_reason(source: "BaseException | str") -> str:
    """The reason an imaging library (ITK, Elastix, a Slicer CLI) gave, from its exception or error text: the last
    non-empty line, object addresses removed; the exception's type when it said nothing."""
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    if not lines:
        return type(source).__name__ if isinstance(source, BaseException) else "no error text"
    return without_object_addresses(lines[-1])


def one_line_reason(exc: BaseException) -> str:
    """What the user is told about a failure, on one line: our own message, the system's (with its type), or
    "internal error (Type): last line" for anything unexpected, never a traceback."""
    if isinstance(exc, EyeAtlasError):
        return single_line(str(exc))
    if isinstance(exc, MemoryError):
        return "the computer ran out of memory: close other programs, or crop or downsample the image"
    if isinstance(exc, (OSError, ValueError)):
        return single_line(f"{type(exc).__name__}: {exc}")
    reason = library_reason(exc) if str(exc).strip() else "no message"
    return single_line(f"internal error ({type(exc).__name__}): {reason}")
