"""The README's commands are the contract with a newcomer; CI must run the same one."""

import re

from django.conf import settings


def test_ci_runs_the_readme_test_command_word_for_word():
    ci = (settings.BASE_DIR / ".ci" / "run").read_text()
    readme = (settings.BASE_DIR / "README.md").read_text()
    (command,) = re.findall(r"^TEST_COMMAND='(.+)'$", ci, re.MULTILINE)
    assert f"```sh\n{command}\n```" in readme


def test_every_setting_read_from_the_environment_is_documented():
    source = (settings.BASE_DIR / "countersign" / "settings.py").read_text()
    names = set(re.findall(r'env(?:bool|int|list|networks|seconds)?\("([A-Z_]+)"', source))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    documented = (settings.BASE_DIR / "docs" / "settings.md").read_text()
    example = (settings.BASE_DIR / ".env.example").read_text()
    assert names, "no settings found: the pattern is wrong"
    assert sorted(n for n in names if f"`{n}`" not in documented) == []
    assert sorted(n for n in names if f"{n}=" not in example) == []


def test_the_readme_states_the_data_access_policy_the_code_enforces():
    from countersign import access
    from countersign.roles import Role

    readme = (settings.BASE_DIR / "README.md").read_text()
    block = readme.split("<!-- access-policy -->")[1].split("<!-- /access-policy -->")[0]
    rows = [line.strip("|").split("|") for line in block.strip().splitlines()[2:]]
    stated = {cells[0].strip(): [c.strip() == "yes" for c in cells[1:]] for cells in rows}
    roles = [Role.OPERATOR, Role.SUPERVISOR, Role.OBSERVER, Role.AUDITOR]
    code = {label: [allowed[r] for r in roles] for label, allowed in access.table()}
    assert stated == code


def test_the_readme_state_diagram_is_the_workflow_table():
    from campaigns.states import state_diagram

    readme = (settings.BASE_DIR / "README.md").read_text()
    block = readme.split("<!-- state-diagram -->")[1].split("<!-- /state-diagram -->")[0]
    stated = block.strip().removeprefix("```mermaid").removesuffix("```").strip()
    assert stated == state_diagram(), "run `manage.py state_diagram` and paste it in README.md"


def test_ci_lints_with_ruff_before_it_runs_the_tests():
    ci = (settings.BASE_DIR / ".ci" / "run").read_text()
    lint = ci.index("\n.venv/bin/ruff check .\n")
    first_tests = ci.index('bash -c "$TEST_COMMAND"')
    assert lint < first_tests
    assert "set -euo pipefail" in ci  # so a lint failure stops CI


# --- the README is a front door -----------------------------------------------------------------

APPS = ("audit", "countersign", "roster", "campaigns", "web")


def _map_sections() -> dict[str, str]:
    """The README's map, by app: the rows of each app's table."""
    readme = (settings.BASE_DIR / "README.md").read_text()
    block = readme.split("<!-- map -->")[1].split("<!-- /map -->")[0]
    sections, app = {}, None
    for line in block.splitlines():
        header = re.match(r"^\| `(\w+)/`: ", line)
        if header and header[1] in APPS:
            app = header[1]
            sections[app] = ""
        elif app:
            sections[app] += line + "\n"
    return sections


def unmapped(app: str, section: str) -> list[str]:
    """The modules of `app` that its map section does not name: a module by its path inside
    the app (`workflow/door.py`, `templatetags/x.py`), a management command by its name."""
    missing = []
    for path in sorted((settings.BASE_DIR / app).rglob("*.py")):
        parts = path.relative_to(settings.BASE_DIR / app).parts
        if "migrations" in parts or path.name == "__init__.py":
            continue
        if parts[:2] == ("management", "commands"):
            named = f"`{path.stem}`" in section
        else:
            inside = "/".join(parts)
            named = f"`{inside}`" in section or (
                len(parts) > 1 and f"`{parts[0]}/`" in section and f"`{parts[-1]}`" in section)
        if not named:
            missing.append(f"{app}/{'/'.join(parts)}")
    return missing


def test_the_readme_map_names_every_module_of_every_app():
    sections = _map_sections()
    assert sorted(sections) == sorted(APPS)
    missing = [m for app in APPS for m in unmapped(app, sections[app])]
    assert missing == [], "modules the README's map does not name:\n" + "\n".join(missing)


def test_the_map_check_notices_a_module_left_out():
    sections = _map_sections()
    assert unmapped("campaigns", sections["campaigns"].replace("`dsn.py`", "`x.py`")) == [
        "campaigns/dsn.py"]
    assert unmapped("campaigns", sections["campaigns"].replace("`send_campaign`", "")) == [
        "campaigns/management/commands/send_campaign.py"]


def test_the_readme_is_a_front_door_that_links_only_inside_the_repository():
    readme = (settings.BASE_DIR / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "../" not in readme
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if not target.startswith("http"):
            assert (settings.BASE_DIR / target).exists(), target
    for doc in (settings.BASE_DIR / "docs").glob("*.md"):
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)#]+)", text):
            assert (doc.parent / target).resolve().exists(), f"{doc.name}: {target}"
