"""EyeAtlasSegment engine: MR-Eye atlas registration, label transfer and eye-structure statistics.

Pure Python (numpy, SimpleITK; nibabel for NIfTI files); no Slicer or Qt imports anywhere in this package.
Internally every image is a ``SimpleITK.Image`` in ITK's LPS physical space (millimetres);
user-facing positions are RAS millimetres and are converted with :mod:`.geometry`.
"""

__version__ = "0.1.0"
