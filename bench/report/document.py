"""A tiny document model rendered twice: Markdown (report.md) and self-contained HTML
(report.html). Writing both from the same blocks keeps them saying the same thing.

Text may use ``**bold**`` and ``code``; nothing else is interpreted. In HTML every figure is
embedded as a base64 PNG ``data:`` URI, so the file can be forwarded alone; the Markdown links
the PNG files in the run folder.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Alert:
    """Something the reader must act on; rendered as a highlighted line."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """Cells already formatted as text (see ``format_frame``), so both renderings agree."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Figure:
    png: Path
    svg: Path
    caption: str


Block = Heading | Paragraph | Alert | Bullets | Table | Figure


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


# --- Markdown ---------------------------------------------------------------------------------


def render_markdown(document: Document, *, relative_to: Path) -> str:
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        if isinstance(block, Heading):
            lines += ["#" * (block.level + 1) + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Alert):
            lines += [f"> **Warning:** {block.text}", ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines += _markdown_table(block.frame) + [""]
        elif isinstance(block, Figure):
            png = _relative(block.png, relative_to)
            svg = _relative(block.svg, relative_to)
            lines += [f"![{block.caption}]({png})", "", f"*{block.caption}* ([SVG]({svg}))", ""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return [header, rule, *rows]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ccc; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
code { background: #f4f4f4; padding: 0 .2em; }
.warning { background: #fff3cd; border-left: 4px solid #e0a800; padding: .5em .8em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-style: italic; color: #555; }
"""


def render_html(document: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(document.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_inline(document.title)}</h1>",
    ]
    for block in document.blocks:
        if isinstance(block, Heading):
            level = min(6, block.level + 1)
            parts.append(f"<h{level}>{_inline(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Alert):
            parts.append(f'<p class="warning"><strong>Warning:</strong> {_inline(block.text)}</p>')
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
            parts.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            parts.append(_html_table(block.frame))
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png.read_bytes()).decode("ascii")
            caption = _inline(block.caption)
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" '
                f'alt="{html.escape(block.caption)}"><figcaption>{caption}</figcaption></figure>'
            )
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_inline(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return _BOLD.sub(r"<strong>\1</strong>", escaped)


def bullets(items: Sequence[str]) -> Bullets:
    return Bullets(tuple(items))
