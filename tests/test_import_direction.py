"""The import arrows point one way:

    web -> campaigns -> roster -> countersign -> audit

An app may import the apps to its right, never one to its left: audit imports no app of
ours; countersign (users, roles, access, settings) imports only audit; roster imports
countersign and audit; campaigns imports roster and below; web, the site on top, imports
them all. Every .py file is read with `ast`, so an import inside a function counts as much
as one at the top, and so does a module named in include("...") or import_module("...").
Migrations are checked too. INSTALLED_APPS's strings are settings, not imports.
"""

import ast
import textwrap
from pathlib import Path

from django.conf import settings

LAYERS = ("web", "campaigns", "roster", "countersign", "audit")  # each imports only rightward
IMPORTS_BY_NAME = {"include", "import_module", "__import__"}  # calls that import a string


def _imports(tree: ast.AST):
    """(line, text, module) for each import in the tree, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module  # `from . import x` stays in its own package
        elif (isinstance(node, ast.Call) and node.args
              and getattr(node.func, "id", getattr(node.func, "attr", "")) in IMPORTS_BY_NAME
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def wrong_way(app: str, source: str, filename: str) -> list[str]:
    """The imports in `source` (a file of `app`) that point at an app `app` may not import."""
    may_import = set(LAYERS[LAYERS.index(app):])
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    found = []
    for line, module in _imports(tree):
        target = module.split(".")[0]
        if target in LAYERS and target not in may_import:
            found.append(f"{filename}:{line}: {lines[line - 1].strip()}  "
                         f"({app} may not import {target})")
    return found


def test_no_import_points_the_wrong_way():
    root = Path(settings.BASE_DIR)
    found = []
    for app in LAYERS:
        for path in sorted((root / app).rglob("*.py")):
            name = str(path.relative_to(root))
            found += wrong_way(app, path.read_text(encoding="utf-8"), name)
    assert found == [], "imports that point the wrong way:\n" + "\n".join(found)


def test_every_app_of_ours_has_its_place_in_the_layers():
    ours = {app.split(".")[0] for app in settings.INSTALLED_APPS
            if (Path(settings.BASE_DIR) / app.split(".")[0]).is_dir()}
    assert ours == set(LAYERS)


def test_the_check_finds_a_wrong_import_at_any_depth():
    source = textwrap.dedent("""\
        import django.db
        from audit.chain import csv_cell
        from . import selectors
        from countersign.roles import Role
        def view(request):
            import campaigns.models as models
            return include('web.urls')
        class Page:
            def get(self):
                from roster import importer
                return import_module('audit.chain')
        """)
    assert wrong_way("audit", source, "audit/x.py") == [
        "audit/x.py:4: from countersign.roles import Role  (audit may not import countersign)",
        "audit/x.py:6: import campaigns.models as models  (audit may not import campaigns)",
        "audit/x.py:7: return include('web.urls')  (audit may not import web)",
        "audit/x.py:10: from roster import importer  (audit may not import roster)",
    ]
    assert wrong_way("web", source, "web/x.py") == []
    assert wrong_way("roster", source, "roster/x.py") == [
        "roster/x.py:6: import campaigns.models as models  (roster may not import campaigns)",
        "roster/x.py:7: return include('web.urls')  (roster may not import web)",
    ]


# --- inside each app: no two files import each other, however far round -----------------------

def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(tree: ast.AST):
    """Every module an import names, at any depth: `from campaigns import models` names
    campaigns.models (and campaigns), `import campaigns.sender` campaigns.sender."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def circles(sources: dict[str, str]) -> list[list[str]]:
    """The circles among modules (name -> source): every group of modules that import each
    other, directly or round several (an import inside a function counts: it only hides
    the circle). Each circle is given as the modules in it, sorted."""
    graph = {name: set() for name in sources}
    for name, source in sources.items():
        for module in _imported_modules(ast.parse(source)):
            target = next((m for m in (module, module.rpartition(".")[0]) if m in graph), None)
            if target and target != name:
                graph[name].add(target)
    index, low, stack, found = {}, {}, [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_files_of_an_app_import_each_other_in_a_circle():
    root = Path(settings.BASE_DIR)
    found = []
    for app in LAYERS:
        sources = {_module_of(path, root): path.read_text(encoding="utf-8")
                   for path in sorted((root / app).rglob("*.py")) if "migrations" not in
                   path.parts}
        found += [" -> ".join(group) for group in circles(sources)]
    assert found == [], "files importing each other in a circle:\n" + "\n".join(found)


def test_a_circle_held_open_by_an_import_inside_a_function_is_found():
    sources = {
        "campaigns.workflow": "from campaigns import models\n",
        "campaigns.models": "def hash():\n    from campaigns.sender import x\n",
        "campaigns.sender": "import campaigns.workflow\n",
        "campaigns.mail": "",
    }
    assert circles(sources) == [["campaigns.models", "campaigns.sender", "campaigns.workflow"]]


# --- no module grows past about 500 lines (issue 25) ---------------------------------------------
# A module that long holds more than one thing: split it where its parts stop calling each
# other. Migrations are generated; settings are a list of settings.
MAX_MODULE_LINES = 510


def modules_too_long(root: Path, limit: int = MAX_MODULE_LINES) -> list[str]:
    return [f"{path.relative_to(root)}: {lines} lines" for app in LAYERS
            for path in sorted((root / app).rglob("*.py")) if "/migrations/" not in str(path)
            and (lines := len(path.read_text(encoding="utf-8").splitlines())) > limit]


def test_no_module_of_ours_is_over_about_500_lines():
    assert modules_too_long(Path(settings.BASE_DIR)) == []


def test_the_length_check_finds_a_long_module(tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "knot.py").write_text("x = 1\n" * 511, encoding="utf-8")
    (tmp_path / "campaigns" / "small.py").write_text("x = 1\n" * 510, encoding="utf-8")
    assert modules_too_long(tmp_path) == ["campaigns/knot.py: 511 lines"]
