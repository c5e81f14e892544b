"""A griffe extension for the API reference: reST habits of the docstrings, in Markdown.

The package's docstrings follow the Google style that mkdocstrings reads, with two reST
habits that Markdown would show raw:

- roles such as ``:class:`~myreports_async.MyReportsClient``` and ``:meth:`close```,
  which become code spans (``MyReportsClient``, ``close``);
- literal blocks introduced by ``::``. ``Example::`` becomes an "Example" admonition
  holding a fenced code block; any other ``text::`` becomes ``text:`` followed by a
  fenced block. A block that parses as Python is highlighted as Python, else as text.

Loaded by mkdocs.yml (``extensions: [docs/_griffe_rst.py:RestToMarkdown]``); it changes
only what the site shows, never the package.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

import griffe

__all__ = ["RestToMarkdown", "rest_to_markdown"]

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj|const):`(?P<target>[^`]+)`")
_LITERAL_INTRO = re.compile(r"^(?P<indent>[ \t]*)(?P<text>.*\S)::[ \t]*$")


def _role(match: re.Match[str]) -> str:
    target = match.group("target")
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def _language(code: str) -> str:
    try:
        ast.parse(code)
    except SyntaxError:
        return "text"
    return "python"


def rest_to_markdown(text: str) -> str:
    """Rewrite reST roles and ``::`` literal blocks of one docstring as Markdown."""
    lines = _ROLE.sub(_role, text).splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        intro = _LITERAL_INTRO.match(lines[index])
        if intro is None:
            out.append(lines[index])
            index += 1
            continue
        indent = intro.group("indent")
        # The literal block: the blank lines, then every line indented deeper than the
        # intro (or blank), up to the first line that is not.
        end = index + 1
        while end < len(lines) and not lines[end].strip():
            end += 1
        block: list[str] = []
        while end < len(lines) and (not lines[end].strip() or _indent_of(lines[end]) > len(indent)):
            block.append(lines[end])
            end += 1
        while block and not block[-1].strip():
            block.pop()
            end -= 1
        if not block:
            out.append(lines[index])
            index += 1
            continue
        code = textwrap.dedent("\n".join(block))
        fence = ["```" + _language(code), *code.splitlines(), "```"]
        if intro.group("text") == "Example":
            # A Google-style section: the title, then its content indented below it.
            inner = indent + "    "
            out.append(f"{indent}Example:")
            out.extend(inner + line if line else "" for line in fence)
        else:
            out.append(f"{indent}{intro.group('text')}:")
            out.append("")
            out.extend(indent + line if line else "" for line in fence)
        index = end
    return "\n".join(out)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


class RestToMarkdown(griffe.Extension):
    """Rewrites each docstring as griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rest_to_markdown(obj.docstring.value)
