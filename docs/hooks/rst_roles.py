"""pgzoo's docstrings as Markdown: the few reStructuredText habits they use, rewritten.

- ``:class:`~pgzoo.x.Name```, ``:func:``, ``:meth:``, ``:mod:``, ``:attr:``, ``:data:`` become code spans
  (the last dotted part with ``~``, the whole path without);
- a paragraph ending in ``::`` (a literal block follows, indented) ends in ``:``; the indented block
  is already a Markdown code block.

Used by the algorithm pages (:mod:`pages`) and, as a Griffe extension, by mkdocstrings for the API
reference (``extensions: - docs/hooks/rst_roles.py:RstRoles`` in ``mkdocs.yml``).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def _role(m: re.Match[str]) -> str:
    target = m.group(2)
    return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"


def markdown_from_docstring(text: str) -> str:
    """A docstring (already dedented or not) as Markdown."""
    text = textwrap.dedent(text.expandtabs()).strip("\n")
    first, _, rest = text.partition("\n")
    text = first.strip() + ("\n" + textwrap.dedent(rest) if rest else "")
    text = ROLE.sub(_role, text)
    text = re.sub(r"(\S)::\n", r"\1:\n", text)
    text = re.sub(r"^::\n", "\n", text, flags=re.M)
    return text


class RstRoles(griffe.Extension):
    """Rewrites every docstring mkdocstrings renders (see :func:`markdown_from_docstring`)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_from_docstring(obj.docstring.value)
