"""Rules list as inputs exactly the library modules their scripts run, found by following imports."""

from __future__ import annotations

from conftest import ROOT

from advinfo.codedeps import library_files


def test_imports_are_followed_transitively_and_only_within_the_package(tmp_path):
    pkg = tmp_path / "advinfo"
    pkg.mkdir()
    files = {
        "__init__.py": "",
        "a.py": "import numpy\nfrom advinfo.b import helper\n",
        "b.py": "from advinfo import c\n\ndef helper():\n    import advinfo.d  # a local import counts too\n",
        "c.py": "from advinfo.a import something  # a cycle\n",
        "d.py": "",
        "unused.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    script = tmp_path / "job.py"
    script.write_text("import os\nfrom advinfo.a import run\n")
    found = {p.name for p in library_files(script, pkg)}
    assert found == {"__init__.py", "a.py", "b.py", "c.py", "d.py"}


def test_real_scripts_get_their_indirect_dependencies():
    scripts = ROOT / "workflow" / "scripts"
    pkg = ROOT / "src" / "advinfo"
    pretrain = {p.name for p in library_files(scripts / "pretrain.py", pkg)}
    assert {"pretrain.py", "train.py", "attacks.py", "models.py", "data.py", "synthetic.py"} <= pretrain
    table = {p.name for p in library_files(scripts / "transfer_table.py", pkg)}
    assert "tables.py" in table and "train.py" not in table
