"""What a long run reports through: progress and cancellation callbacks (one definition for every layer)."""

from __future__ import annotations

from typing import Callable

#: Called with the fraction done (0–1) and a short message for the status line.
ProgressCallback = Callable[[float, str], None]
#: Returns True once the user has asked to stop; checked between steps.
CancelCheck = Callable[[], bool]
