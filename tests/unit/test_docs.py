"""The documentation cannot drift from the code.

Every ```python block of ``docs/*.md`` and of ``README.md`` is one of:

- **included** from an example program: its lines are only pymdownx.snippets includes,
  ``--8<-- "docs/examples/NAME.py"`` or ``--8<-- "docs/examples/NAME.py:SECTION"``. The
  file and the section must exist, and the example must be run by a test: a
  ``test_*.py`` example is collected by pytest itself (``testpaths``), any other is
  imported by a test module under ``tests/``.
- **run**: marked by ``<!-- test: run -->`` on the line before the fence. The blocks of a
  page are executed here, in order, in one namespace, against the fake service (see
  :func:`test_runnable_blocks_run`).
- **compiled**: marked ``<!-- test: compile -->``, or unmarked. It must compile (top-level
  ``await`` allowed), every name it imports from ``myreports_async`` must exist, and so
  must each method it calls on a client or fake service, with the keyword arguments it
  passes; likewise for calls of classes imported from ``myreports_async``.

On the pages of :data:`EXECUTED_PAGES` a block must be included or run: a block that
is neither fails. Every run and compiled block gets the static checks too.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import attrs
import pytest

import myreports_async
from myreports_async import MyReportsClient, RetryPolicy
from myreports_async.testing import FakeServer, FakeService

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"

EXECUTED_PAGES = frozenset(
    {
        "docs/index.md",
        "docs/quickstart.md",
        "docs/pagination.md",
        "docs/retries.md",
        "docs/errors.md",
        "docs/testing.md",
        "docs/fastapi.md",
        "docs/pipeline.md",
        "docs/accounts.md",
        "docs/customers.md",
        "docs/pbx.md",
        "docs/charges-and-writes.md",
        "docs/reference.md",
        "docs/changelog.md",
        "README.md",
    }
)
"""Pages whose python blocks must all be executed (run here, or included from a tested
example); the other pages' blocks are at least compiled and checked."""

PYTHON_LANGS = frozenset({"python", "py", "python3"})
UNSUPPORTED_LANGS = frozenset({"pycon", "pytb"})  # neither runnable nor included here

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<mode>\S+)\s*-->\s*$")
INCLUDE = re.compile(r'^\s*-{1,2}8<-{1,2}\s+"(?P<spec>[^"]+)"\s*$')
SECTION = "--8<-- [{}:{}]"

RUN_TIMEOUT = 30.0
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01)


# -- reading the pages ---------------------------------------------------------------------


@attrs.frozen
class Block:
    page: str  # the page's path from the repository root, e.g. "docs/index.md"
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    mode: str | None  # "run", "compile", or None (unmarked)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def includes(self) -> list[str] | None:
        """The included specs when the block only includes snippets, else None."""
        lines = [line for line in self.source.splitlines() if line.strip()]
        matches = [INCLUDE.match(line) for line in lines]
        if not lines or not all(matches):
            return None
        return [m.group("spec") for m in matches if m]


def pages() -> list[Path]:
    """The site's pages, and the README."""
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def blocks_of(page: Path) -> Iterator[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        info = opening.group("info").strip()
        lang = info.split()[0].lstrip("{.").rstrip("}").lower() if info else ""
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if (
                closing is not None
                and closing.group("fence")[0] == fence[0]
                and len(closing.group("fence")) >= len(fence)
                and not closing.group("info").strip()
            ):
                break
            text = lines[end]
            body.append(text[len(indent) :] if text.startswith(indent) else text.lstrip())
            end += 1
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(previous)
        yield Block(
            page=page_name(page),
            line=index + 1,
            lang=lang,
            source="\n".join(body) + "\n",
            mode=marker.group("mode") if marker else None,
        )
        index = end + 1


def python_blocks() -> list[Block]:
    return [
        block
        for page in pages()
        for block in blocks_of(page)
        if block.lang in PYTHON_LANGS | UNSUPPORTED_LANGS
    ]


def ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


ALL_BLOCKS = python_blocks()
INCLUDED = [block for block in ALL_BLOCKS if block.includes is not None]
CHECKED = [block for block in ALL_BLOCKS if block.includes is None]
RUN_PAGES = sorted({block.page for block in ALL_BLOCKS if block.mode == "run"})


# -- (b) every block is included, run or at least checked ---------------------------------


def test_the_docs_have_python_blocks() -> None:
    # Guards the parser: if it found nothing, every other test here would pass vacuously.
    assert len(INCLUDED) >= 10
    assert len(RUN_PAGES) >= 5


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=ids(ALL_BLOCKS))
def test_every_python_block_is_included_run_or_checked(block: Block) -> None:
    assert block.lang not in UNSUPPORTED_LANGS, (
        f"{block.where}: a ```{block.lang} block cannot be tested; write it as a "
        "```python block that runs, or include it from a tested example"
    )
    assert block.mode in (None, "run", "compile"), (
        f"{block.where}: unknown marker <!-- test: {block.mode} --> (run or compile)"
    )
    if block.includes is not None:
        assert block.mode is None, f"{block.where}: an included block needs no marker"
    elif block.page in EXECUTED_PAGES:
        assert block.mode == "run", (
            f"{block.where}: every python block of {block.page} must be executed: mark it "
            "<!-- test: run --> (it then runs against the fake service), or include it "
            'from a tested example with --8<-- "docs/examples/NAME.py:SECTION"'
        )


# -- included examples ---------------------------------------------------------------------


def example_is_tested(example: Path) -> bool:
    """A test_*.py example is collected by pytest; another is imported by a test module."""
    if example.name.startswith("test_"):
        pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        testpaths = re.search(r"^testpaths\s*=\s*\[(.*?)\]", pyproject, re.M | re.S)
        return testpaths is not None and '"docs/examples"' in testpaths.group(1)
    imports = re.compile(rf"^\s*(import {example.stem}\b|from {example.stem} import)", re.M)
    return any(
        imports.search(test.read_text(encoding="utf-8"))
        for test in (ROOT / "tests").rglob("test_*.py")
    )


def snippet_specs() -> list[tuple[str, str]]:
    """(page, spec) of every snippet include of every page, in code blocks or not."""
    found = []
    for page in pages():
        for line in page.read_text(encoding="utf-8").splitlines():
            match = INCLUDE.match(line)
            if match:
                found.append((page_name(page), match.group("spec")))
    return found


@pytest.mark.parametrize(("page", "spec"), snippet_specs())
def test_included_snippets_exist(page: str, spec: str) -> None:
    path, _, section = spec.partition(":")
    target = ROOT / path
    assert target.is_file(), f"{page} includes {path}, which does not exist"
    if section:
        text = target.read_text(encoding="utf-8")
        for edge in ("start", "end"):
            marker = SECTION.format(edge, section)
            assert text.count(marker) == 1, f"{path} needs one '{marker}' for {page}"


@pytest.mark.parametrize("block", INCLUDED, ids=ids(INCLUDED))
def test_included_python_comes_from_a_tested_example(block: Block) -> None:
    for spec in block.includes or []:
        path = (ROOT / spec.partition(":")[0]).resolve()
        assert path.parent == EXAMPLES, f"{block.where}: include examples from docs/examples/"
        assert example_is_tested(path), f"{block.where}: no test runs {path.name}"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_program_is_tested(example: Path) -> None:
    assert example_is_tested(example), (
        f"docs/examples/{example.name} is run by no test: name it test_*.py, or import it "
        "from a test module under tests/"
    )


# -- static checks: compile, imports, methods and keyword arguments -------------------------

#: Names that the docs use for objects of these classes, when a block does not bind them.
KNOWN_OBJECTS: dict[str, type] = {
    "client": MyReportsClient,
    "myreports_client": MyReportsClient,
    "service": FakeService,
    "myreports_service": FakeService,
    "server": FakeServer,
    "myreports_server": FakeServer,
}


def compile_block(block: Block) -> Any:
    return compile(
        block.source,
        block.where,
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )


def imported_objects(tree: ast.AST, where: str) -> dict[str, object]:
    """Local name -> object for every ``from myreports_async... import`` of the block,
    failing on a name that does not exist."""
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "myreports_async":
                    importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "myreports_async":
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name == "*":
                    continue
                if not hasattr(module, alias.name):
                    # a submodule, e.g. ``from myreports_async import testing``
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        pytest.fail(f"{where}: {node.module} has no {alias.name!r}")
                found[alias.asname or alias.name] = getattr(module, alias.name, None)
    return found


def bound_names(tree: ast.AST) -> dict[str, ast.AST | None]:
    """Names the block binds, with the value bound when it is a plain call."""
    bound: dict[str, ast.AST | None] = {}

    def targets(node: ast.AST, value: ast.AST | None) -> None:
        for name in ast.walk(node):
            if isinstance(name, ast.Name):
                bound[name.id] = value

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target, node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets(node.target, node.value)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets(node.optional_vars, node.context_expr)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            targets(node.target, None)
        elif isinstance(node, ast.arg):
            bound[node.arg] = None
    return bound


def check_call(where: str, what: str, target: object, call: ast.Call) -> None:
    keywords = [k.arg for k in call.keywords if k.arg is not None]
    if not keywords or not callable(target):
        return
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [k for k in keywords if k not in parameters]
    assert not unknown, f"{where}: {what}() takes no keyword argument {unknown}"


def static_check(block: Block) -> None:
    compile_block(block)  # SyntaxError fails the test with the block's position
    tree = ast.parse(block.source)
    imported = imported_objects(tree, block.where)
    bound = bound_names(tree)
    objects: dict[str, object] = {}
    for name, known in KNOWN_OBJECTS.items():
        if name not in bound:
            objects[name] = known
        else:  # bound here: checked only when built by a known call, e.g. FakeService(...)
            value = bound[name]
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                made = imported.get(value.func.id)
                if isinstance(made, type):
                    objects[name] = made
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in imported and func.id not in bound:
            check_call(block.where, func.id, imported[func.id], node)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in objects:
                target = objects[owner]
            elif owner in imported and owner not in bound:
                target = imported[owner]
            else:
                continue
            name = getattr(target, "__name__", owner)
            assert hasattr(target, func.attr), f"{block.where}: {name} has no {func.attr!r}"
            check_call(block.where, f"{name}.{func.attr}", getattr(target, func.attr), node)


@pytest.mark.parametrize("block", CHECKED, ids=ids(CHECKED))
def test_python_blocks_compile_and_name_what_exists(block: Block) -> None:
    if block.lang in UNSUPPORTED_LANGS:
        pytest.skip("reported by test_every_python_block_is_included_run_or_checked")
    static_check(block)


def test_the_static_check_catches_drift() -> None:
    def check(source: str) -> None:
        static_check(Block("docs/x.md", 1, "python", source, None))

    check("async for invoice in client.iter_invoices(page_size=10):\n    pass\n")
    with pytest.raises(AssertionError, match="no 'iter_all'"):
        check("await client.iter_all()\n")
    with pytest.raises(AssertionError, match="no keyword argument"):
        check("client.iter_invoices(pagesize=10)\n")
    with pytest.raises(AssertionError, match="no keyword argument"):
        check("from myreports_async import RetryPolicy\nRetryPolicy(attempts=3)\n")
    with pytest.raises(pytest.fail.Exception, match="no 'Paginator'"):
        check("from myreports_async import Paginator\n")
    # A name the block binds to something else is not taken for a MyReportsClient.
    check("import httpx\nclient = httpx.AsyncClient()\nclient.whatever()\n")


# -- run blocks ----------------------------------------------------------------------------


def docs_client_class(base_url: str) -> type[MyReportsClient]:
    """A MyReportsClient that sends a regional client (no ``base_url``) to the fake
    service, with the fake's token in place of a token string: the docs show real
    usage, the test runs it offline. A token provider is kept (the fake accepts
    ``MYREPORTS_TOKEN``, which the test sets)."""

    class DocsClient(MyReportsClient):
        def __init__(
            self, auth: Any, *, region: str = "na", base_url: str | None = None, **kw: Any
        ) -> None:
            if base_url is None:
                MyReportsClient(auth, region=region)  # still validates the arguments
                base_url = fake_url
                if isinstance(auth, str):  # "<access token>": the fake's token instead
                    auth = "test-token"
            kw.setdefault("retry", FAST)
            super().__init__(auth, base_url=base_url, **kw)

    fake_url = base_url
    DocsClient.__name__ = DocsClient.__qualname__ = "MyReportsClient"
    return DocsClient


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    code = compile_block(block)
    if code.co_flags & inspect.CO_COROUTINE:  # top-level await: run it on this loop
        coroutine = eval(code, namespace)  # noqa: S307 (the docs' own code, compiled above)
        await asyncio.wait_for(coroutine, RUN_TIMEOUT)
    else:  # plain code may call asyncio.run(): give it a thread, and so a loop, of its own
        await asyncio.wait_for(asyncio.to_thread(exec, code, namespace), RUN_TIMEOUT)


@pytest.mark.parametrize("page", RUN_PAGES)
async def test_runnable_blocks_run(
    page: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The page's run blocks, in order, in one namespace, like a reader typing them.

    The namespace starts with ``client``: an open client for a fake service of 250
    invoices. ``MYREPORTS_TOKEN`` is set, the working directory is a temporary one, and
    a ``MyReportsClient`` built for a region talks to the fake service instead.
    """
    blocks = [b for b in ALL_BLOCKS if b.page == page and b.mode == "run"]
    service = FakeService(250)
    async with FakeServer(service) as server:
        monkeypatch.setattr(myreports_async, "MyReportsClient", docs_client_class(server.url))
        monkeypatch.setenv("MYREPORTS_TOKEN", "test-token")
        monkeypatch.delenv("MYREPORTS_BASE_URL", raising=False)
        monkeypatch.delenv("MYREPORTS_REGION", raising=False)
        monkeypatch.chdir(tmp_path)
        async with MyReportsClient("test-token", base_url=server.url, retry=FAST) as client:
            namespace: dict[str, Any] = {"__name__": "__docs__", "client": client}
            for block in blocks:
                try:
                    await run_block(block, namespace)
                except Exception as exc:  # noqa: BLE001 (reported with the block's place)
                    pytest.fail(f"{block.where} raised {exc!r}\n{block.source}", pytrace=True)


# -- the site ------------------------------------------------------------------------------


def test_reference_documents_every_public_name() -> None:
    import myreports_async.testing as testing

    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: (\S+)\s*$", reference, re.M))
    expected = {f"myreports_async.{n}" for n in myreports_async.__all__ if n != "__version__"}
    expected |= {f"myreports_async.testing.{n}" for n in testing.__all__}
    missing = sorted(expected - documented)
    assert not missing, f"docs/reference.md lacks '::: NAME' for {missing}"


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^\s*-\s*[^:\n]+:\s*(\S+\.md)\s*$", config, re.M)
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md"))


@pytest.mark.skipif(find_spec("mkdocs") is None, reason="the docs extra is not installed")
def test_the_site_builds_without_a_warning(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
