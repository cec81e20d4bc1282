"""The two writers of a list of blocks: markdown with linked figures, and one self-contained
HTML page (inline CSS, figures embedded as base64 data URIs, no external resources).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

from drp.report.blocks import Block, Code, Gallery, Heading, Image, Para, Table, slug


def _inline_html(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _md_cell(x: object) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block], out_dir: Path) -> str:
    """Markdown with figures linked relative to ``out_dir``."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            cols = [str(c) for c in b.frame.columns]
            lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
            lines.append("|" + "|".join("---" for _ in cols) + "|")
            for row in b.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
            lines.append("")
        elif isinstance(b, (Image, Gallery)):
            for im in b.images if isinstance(b, Gallery) else [b]:
                rel = im.path.relative_to(out_dir).as_posix()
                lines.append(f"![{im.alt}]({rel})")
                if im.caption:
                    lines += ["", f"*{im.caption}*"]
                lines.append("")
        elif isinstance(b, Code):
            lines += [f"```{b.lang}", b.text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.helps, td.faithful { background: #d9f0d3; }
td.equivalent { background: #dbe6f4; }
td.hurts, td.decorative { background: #f8d0cc; }
td.noev, td.insufficient { background: #eeeeee; }
img { max-width: 100%; }
figure { margin: .5em 0 1.5em; }
figcaption { font-size: 13px; color: #444; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { width: 360px; margin: 0; border: 1px solid #ddd; padding: 6px; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
code { background: #f3f3f3; padding: 0 3px; }
"""


# verdict → the CSS class of its table cell in the stylesheet above
VERDICT_CLASS = {
    "helps": "helps",
    "hurts": "hurts",
    "equivalent": "equivalent",
    "inconclusive": "noev",
    "faithful": "faithful",
    "anti-faithful": "decorative",
    "unclear": "noev",
}


def _figure_html(im: Image) -> str:
    data = base64.b64encode(im.path.read_bytes()).decode("ascii")
    cap = f"<figcaption>{_inline_html(im.caption)}</figcaption>" if im.caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(im.alt)}">{cap}</figure>'


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, images as data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = slug(b.text.lower())
            parts.append(f'<h{b.level} id="{anchor}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.frame.columns)
            rows = []
            for i, row in enumerate(b.frame.itertuples(index=False)):
                cells = []
                for col, v in zip(b.frame.columns, row, strict=True):
                    cls = b.classes.get((i, str(col)))
                    attr = f' class="{cls}"' if cls else ""
                    cells.append(f"<td{attr}>{_inline_html(str(v))}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        elif isinstance(b, Image):
            parts.append(_figure_html(b))
        elif isinstance(b, Gallery):
            parts.append(
                '<div class="gallery">' + "".join(_figure_html(i) for i in b.images) + "</div>"
            )
        elif isinstance(b, Code):
            parts.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
