"""Progress of a cohort on the terminal: a bar with ETA and counts, or one plain line per image (``--quiet``, for
logs), and the final summary line."""

from __future__ import annotations

import sys
from typing import TextIO

from .tasks import STATUSES, Outcome


class CohortProgress:
    """Counts outcomes and shows them as they arrive."""

    def __init__(self, total: int, quiet: bool, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.quiet = quiet
        self.stream = stream
        self.counts = dict.fromkeys(STATUSES, 0)
        self._bar = None
        if not quiet:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="image", file=stream, dynamic_ncols=True, smoothing=0.1,
                             desc="cohort")
            self._bar.set_postfix_str(self._counts_text())

    def _counts_text(self) -> str:
        c = self.counts
        return f"done {c['done']}, failed {c['failed'] + c['failed_before']}, skipped {c['skipped']}"

    def update(self, outcome: Outcome) -> None:
        """Count one finished image and show it."""
        self.counts[outcome.status] += 1
        finished = sum(self.counts.values())
        if self._bar is None:
            line = f"[{finished}/{self.total}] {outcome.status.replace('_', ' ')} {outcome.key}"
            line += f": {outcome.reason}" if outcome.reason else ""
            line += f" ({outcome.seconds:.0f} s)" if outcome.status == "done" else ""
            print(line, file=self.stream, flush=True)
            return
        if outcome.status in ("failed", "failed_before"):
            self._bar.write(f"failed {outcome.key}: {outcome.reason}", file=self.stream)
        self._bar.set_postfix_str(self._counts_text(), refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def summary(self, seconds: float) -> str:
        """The final line: how many images were segmented, failed and skipped, and how long it took."""
        c = self.counts
        parts = [f"{c['done']} segmented", f"{c['failed']} failed"]
        if c["failed_before"]:
            parts.append(f"{c['failed_before']} failed before (not retried; --retry-failed redoes them)")
        parts.append(f"{c['skipped']} skipped (already complete)")
        return f"cohort: {self.total} images: {', '.join(parts)}, in {_duration(seconds)}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
