"""Registration engines. Optional ones are imported only when asked for."""

from __future__ import annotations

from ..errors import EyeAtlasError
from ..registration import RegistrationEngine

ENGINES = ("simpleitk", "ants")
#: The Python module each engine needs (an engine can run only where it is importable).
ENGINE_MODULES = {"simpleitk": "SimpleITK", "ants": "ants"}


def get_engine(name: str) -> RegistrationEngine:
    """The registration engine called ``name``; a clear error when it is unknown or not installed."""
    if name == "simpleitk":
        from .simpleitk_engine import SimpleITKEngine
        return SimpleITKEngine()
    if name == "ants":
        from .ants_engine import AntsEngine
        return AntsEngine()
    raise EyeAtlasError(f"unknown registration engine {name!r}; choose one of {', '.join(ENGINES)}")
