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
    names = set(re.findall(r'env(?:bool|int|list|networks)?\("([A-Z_]+)"', source))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    readme = (settings.BASE_DIR / "README.md").read_text()
    example = (settings.BASE_DIR / ".env.example").read_text()
    assert names, "no settings found: the pattern is wrong"
    assert sorted(n for n in names if f"`{n}`" not in readme) == []
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
