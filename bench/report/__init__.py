"""The capacity report users forward, and the comparison of two runs.

- ``write_report(run_dir)`` writes ``report.md``, a self-contained ``report.html`` and the
  figures (PNG and SVG) into a run folder; ``stagebench report RUN_DIR`` calls it.
- ``bench.report.compare`` says how two runs differ, per mode and metric, in words.

Modules: ``rundata`` (a run folder read back), ``capacity`` (volume size and input-mode rules,
pure), ``whatif`` (the timeline model's what-ifs), ``plots``, ``document`` (Markdown and HTML),
``build`` (the sections), ``compare``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(
    run_dir: Path, *, model_profile: str | None = None, progress: Any = False
) -> list[Path]:
    """Write the capacity report of ``run_dir``; return the files written (see ``build``).
    ``progress`` (a ``bench.progress.Progress``) shows a live line of the report's steps."""
    from bench.report.build import write_report as _write_report

    return _write_report(run_dir, model_profile=model_profile, progress=progress)


__all__ = ["write_report"]
