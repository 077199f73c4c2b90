"""Registration engines: one registry by name. Optional engines are imported only when asked for; the Slicer
module adds its own (BRAINSFit, Elastix) with ``register_engine``."""

from __future__ import annotations

from typing import Callable

from ..errors import EyeAtlasError
from ..registration import RegistrationEngine

#: The engine package's own engines (the command line's choices).
ENGINES = ("simpleitk", "ants")
#: The Python module each engine needs (an engine can run only where it is importable).
ENGINE_MODULES = {"simpleitk": "SimpleITK", "ants": "ants"}


def _simpleitk() -> RegistrationEngine:
    from .simpleitk_engine import SimpleITKEngine
    return SimpleITKEngine()


def _ants() -> RegistrationEngine:
    from .ants_engine import AntsEngine
    return AntsEngine()


_FACTORIES: dict[str, Callable[[], RegistrationEngine]] = {"simpleitk": _simpleitk, "ants": _ants}


def register_engine(name: str, factory: Callable[[], RegistrationEngine], module: str) -> None:
    """Add (or replace) the engine ``name``: ``get_engine(name)`` returns ``factory()``; it needs Python ``module``."""
    _FACTORIES[name] = factory
    ENGINE_MODULES[name] = module


def engine_names() -> tuple[str, ...]:
    """Every registered engine, the package's own first."""
    return tuple(_FACTORIES)


def get_engine(name: str) -> RegistrationEngine:
    """The registration engine called ``name``; a clear error when it is unknown or not installed."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise EyeAtlasError(f"unknown registration engine {name!r}; choose one of {', '.join(_FACTORIES)}")
    return factory()
