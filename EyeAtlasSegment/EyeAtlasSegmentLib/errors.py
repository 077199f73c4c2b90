"""Exceptions with messages a clinician or MR physicist can act on."""


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


class Cancelled(EyeAtlasError):
    """The user cancelled the run."""
