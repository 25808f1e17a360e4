"""``Client`` and ``AsyncClient`` stay mirrored: the async source, read as sync code, is the sync
source, method for method (compared as syntax trees, so line wrapping and the wording of strings
do not count). A change to one client that is not made to the other fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "sdk" / "flux_restful_client"
# The async spellings and their sync twins (httpcore's unasync rules, plus ours).
RULES = [
    (r"\basync def\b", "def"),
    (r"\bawait\s+", ""),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bAsyncClient\b", "Client"),
    (r"\bAsyncWebhooks\b", "Webhooks"),
    (r"\bAsyncFluxRestfulClient\b", "FluxRestfulClient"),
    (r"\b_async_client\b", "_client"),
    (r"\bAsyncBaseTransport\b", "BaseTransport"),
    (r"\banyio\.sleep\b", "time.sleep"),
    (r"\baiter_(text|lines)\b", r"iter_\1"),
    (r"\baread\b", "read"),
    (r"\baclose\b", "close"),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
]


class _Canonical(ast.NodeTransformer):
    """Drop what may differ (strings, docstrings); ``for x in it: yield x`` is ``yield from``."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant("") if isinstance(node.value, str) else node

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        body = node.body
        if (
            len(body) == 1
            and not node.orelse
            and isinstance(node.target, ast.Name)
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Yield)
            and isinstance(body[0].value.value, ast.Name)
            and body[0].value.value.id == node.target.id
        ):
            return ast.Expr(ast.YieldFrom(node.iter))
        return node


def _methods(source: str, cls: str) -> dict[str, str]:
    tree = _Canonical().visit(ast.parse(source))
    (klass,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    return {
        n.name: ast.dump(n)
        for n in klass.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }


@pytest.mark.parametrize(
    ("sync_module", "async_module", "classes"),
    [
        ("_client.py", "_async_client.py", ("Client", "Webhooks")),
        ("_upstream.py", "_async_upstream.py", ("FluxRestfulClient",)),
    ],
)
def test_the_async_client_is_the_sync_client_awaited(
    sync_module: str, async_module: str, classes: tuple[str, ...]
) -> None:
    sync_source = (SDK / sync_module).read_text()
    async_source = (SDK / async_module).read_text()
    for pattern, replacement in RULES:  # both: annotations name both transports
        sync_source = re.sub(pattern, replacement, sync_source)
        async_source = re.sub(pattern, replacement, async_source)
    for name in classes:
        ours, theirs = _methods(sync_source, name), _methods(async_source, name)
        assert sorted(ours) == sorted(theirs)
        differ = sorted(n for n in ours if ours[n] != theirs[n])
        assert differ == [], f"{name} and its async twin differ in: {', '.join(differ)}"
