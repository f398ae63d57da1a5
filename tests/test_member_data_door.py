"""One door to member data (issue 19): roster/member_data.py is the only code that reads or
writes members' names, addresses and extra columns (Member.personal) and an upload's checked
rows (RosterUpload.checked_rows / preview_rows). This test reads every module and template
of the apps and fails, naming file and line, on any other code that touches them: an
attribute, a lookup or keyword, a string (raw SQL, a values_list field), a call that would
read every field at once (values() with no field, model_to_dict, serializers)."""

import ast
import re
from pathlib import Path

from django.conf import settings

DOOR = "roster/member_data.py"
APPS = ("countersign", "audit", "roster", "campaigns", "web")
FIELDS = ("personal", "checked_rows", "preview_rows")
ALTERNATIVES = "|".join(FIELDS)
WORD = re.compile(rf"\b(?:{ALTERNATIVES})\b")
LOOKUP = re.compile(rf"(?:^|__)(?:{ALTERNATIVES})(?:__|$)")
EVERY_FIELD = {"model_to_dict", "serialize"}


def _docstrings(tree) -> set[int]:
    """ids of the string constants that are docstrings or bare string statements."""
    return {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}


def reads_outside_the_door(source: str, filename: str) -> list[str]:
    tree = ast.parse(source, filename)
    skip = _docstrings(tree)
    lines = source.splitlines()
    found = []

    def flag(node, why):
        found.append(f"{filename}:{node.lineno}: {lines[node.lineno - 1].strip()}  ({why})")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in FIELDS:
            flag(node, f"reads .{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg and LOOKUP.search(node.arg):
            flag(node.value, f"lookup {node.arg}=")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip and WORD.search(node.value)):
            flag(node, "names the field in a string (SQL, a field list)")
        elif isinstance(node, ast.Call) and _reads_every_field(node):
            flag(node, f"{ast.unparse(node.func).rpartition('.')[2]}() reads every field")
    return found


def _reads_every_field(call: ast.Call) -> bool:
    """values() / values_list() with no field named (a queryset's every column), or a
    helper that copies every field of a model instance."""
    name = getattr(call.func, "attr", getattr(call.func, "id", ""))
    if name in ("values", "values_list") and isinstance(call.func, ast.Attribute):
        receiver = ast.unparse(call.func.value)  # a queryset, not a dict's values()
        return (not call.args and not call.keywords
                and any(word in receiver for word in ("objects", "members", "Member")))
    return name in EVERY_FIELD


def _template_reads(text: str, filename: str) -> list[str]:
    return [f"{filename}:{number}: {line.strip()}  (reads member data in a template)"
            for number, line in enumerate(text.splitlines(), 1)
            if re.search(rf"\.(?:{ALTERNATIVES})\b", line)]


def test_nothing_but_the_door_touches_member_data():
    root = Path(settings.BASE_DIR)
    found = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            name = str(path.relative_to(root))
            if name == DOOR or "/migrations/" in name:
                continue
            found += reads_outside_the_door(path.read_text(encoding="utf-8"), name)
    for path in sorted((root / "templates").rglob("*.html")):
        found += _template_reads(path.read_text(encoding="utf-8"),
                                 str(path.relative_to(root)))
    assert found == [], "member data read outside roster/member_data.py:\n" + "\n".join(found)


def test_a_read_planted_outside_the_door_is_named_with_its_file_and_line():
    planted = '''
def leak(member, upload, cursor):
    """Docstrings may say personal; code may not."""
    name = member.personal["name"]
    rows = Member.objects.filter(personal__email__icontains="@").values_list("pk")
    cursor.execute("SELECT personal FROM roster_member")
    checked = upload.checked_rows
    everything = Member.objects.values()
    return model_to_dict(member)
'''
    found = reads_outside_the_door(planted, "campaigns/leak.py")
    found.sort(key=lambda line: int(line.split(":")[1]))
    assert [line.split(":")[1] for line in found] == ["4", "5", "6", "7", "8", "9"]
    assert found[0].startswith("campaigns/leak.py:4: name = member.personal")
    assert _template_reads("<td>{{ m.personal.email }}</td>", "templates/x.html") == [
        "templates/x.html:1: <td>{{ m.personal.email }}</td>  (reads member data in a template)"]


def test_the_door_itself_is_where_the_fields_are_read():
    source = (Path(settings.BASE_DIR) / DOOR).read_text(encoding="utf-8")
    assert len(reads_outside_the_door(source, DOOR)) > 5  # the scanner sees the real reads
