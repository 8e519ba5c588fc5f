"""pt-BR is the default language: every user-facing string must have a Portuguese translation.

Source strings are written in English (which therefore is complete by construction); this test
re-extracts the strings from a copy of the code and checks that the committed pt_BR catalogue
translates every one of them, with nothing fuzzy and nothing missing.
"""

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def parse_po(path: Path) -> dict[tuple[str, str], dict]:
    """Minimal .po reader: {(msgctxt, msgid): {"msgstr": [...], "fuzzy": bool}}."""
    entries: dict[tuple[str, str], dict] = {}
    current: dict = {}
    key = None

    def flush() -> None:
        if "msgid" in current:
            entries[(current.get("msgctxt", ""), current["msgid"])] = {
                "msgstr": current.get("msgstr", []),
                "fuzzy": current.get("fuzzy", False),
            }

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            flush()
            current, key = {}, None
            continue
        if line.startswith("#,") and "fuzzy" in line:
            current["fuzzy"] = True
            continue
        if line.startswith("#"):
            continue
        m = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+"(.*)"$', line)
        if m:
            key = m.group(1)
            value = bytes(m.group(2), "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
            if key.startswith("msgstr"):
                current.setdefault("msgstr", []).append(value)
            else:
                current[key] = value
        elif line.startswith('"') and key:
            value = bytes(line[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
            if key.startswith("msgstr"):
                current["msgstr"][-1] += value
            else:
                current[key] += value
    flush()
    entries.pop(("", ""), None)  # header
    return entries


def test_pt_br_catalogue_translates_every_string_and_is_compiled(tmp_path):
    work = tmp_path / "src"
    shutil.copytree(
        ROOT,
        work,
        ignore=shutil.ignore_patterns(".venv", "var", ".git", "bench", "__pycache__", "node_modules", "staticfiles"),
    )
    (work / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po").unlink(missing_ok=True)
    env = {"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "posvenda.settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "pt_BR", "--no-obsolete", "--no-location"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    extracted = set(parse_po(work / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"))
    committed = parse_po(PO)

    missing = sorted(k[1] for k in extracted - set(committed))
    assert not missing, f"{len(missing)} strings have no pt_BR entry (run `make messages`), e.g. {missing[:10]}"
    untranslated = sorted(k[1] for k in extracted if not all(committed[k]["msgstr"]) or committed[k]["fuzzy"])
    assert not untranslated, f"{len(untranslated)} pt_BR strings are empty or fuzzy, e.g. {untranslated[:10]}"
    with MO.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    stale = [
        k[1]
        for k in extracted
        if not k[0]
        and not committed[k]["fuzzy"]
        and len(committed[k]["msgstr"]) == 1
        and compiled.gettext(k[1]) != committed[k]["msgstr"][0]
    ]
    assert not stale, f"django.mo is older than django.po (run `make messages`), e.g. {stale[:5]}"
