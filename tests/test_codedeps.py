"""Rules list as inputs the library modules that compute their results, found by following
imports: support modules (logging, files, config messages) and other methods' modules are left out."""

from __future__ import annotations

from conftest import ROOT

from advinfo.codedeps import (
    BUILDER_MODULES,
    METHOD_MODULES,
    SUPPORT,
    library_files,
    other_builders,
    other_methods,
)
from advinfo.methods import METHODS

SCRIPTS, PKG = ROOT / "workflow" / "scripts", ROOT / "src" / "advinfo"


def stems(script: str, skip=()) -> set[str]:
    return {p.stem for p in library_files(SCRIPTS / f"{script}.py", PKG, skip)}


def test_imports_are_followed_transitively_and_only_within_the_package(tmp_path):
    pkg = tmp_path / "advinfo"
    pkg.mkdir()
    files = {
        "__init__.py": "",
        "a.py": "import numpy\nfrom advinfo.b import helper\n",
        "b.py": "from advinfo import c\n\ndef helper():\n    import advinfo.d  # a local import counts too\n",
        "c.py": "from advinfo.a import something  # a cycle\n",
        "d.py": "",
        "logs.py": "from advinfo.e import x  # support: followed, not listed\n",
        "e.py": "",
        "skipped.py": "from advinfo.f import y  # skipped: neither listed nor followed\n",
        "f.py": "",
        "unused.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    script = tmp_path / "job.py"
    script.write_text("import os\nfrom advinfo.a import run\nfrom advinfo import logs, skipped\n")
    found = {p.name for p in library_files(script, pkg, skip=("skipped",))}
    assert found == {"a.py", "b.py", "c.py", "d.py", "e.py"}


def test_pretraining_lists_training_and_its_own_method_but_no_support_module():
    pgd = stems("pretrain", other_methods("pgd"))
    assert {"pretrain", "train", "attacks", "models", "data", "sampling"} <= pgd
    assert {"method", "methods", "augment", "schedule", "resume"} <= pgd
    others = {"trades", "arat", "wcmi", "mutual_info", "probe", "features", "synthetic", "vision_data"}
    assert not pgd & SUPPORT and not pgd & others
    assert "trades" in stems("pretrain", other_methods("trades"))
    assert "arat" in stems("pretrain", other_methods("arat"))
    assert {"wcmi", "mutual_info", "probe", "features"} <= stems("pretrain", other_methods("wcmi"))
    assert not set(other_methods("standard")) & pgd


def test_every_method_with_a_module_of_its_own_names_it():
    """A method defined outside the shared advinfo.method is skipped for the other methods' models."""
    assert set(METHOD_MODULES) <= set(METHODS)
    for name, cls in METHODS.items():
        module = cls.__module__.removeprefix("advinfo.")
        assert module == "method" or module in METHOD_MODULES.get(name, ()), name


def test_expensive_jobs_ignore_logs_files_messages_and_probes():
    assert stems("reference_features") == {"data", "features", "models", "sampling"}
    transfer = stems("transfer", set(other_methods("standard")) - {"probe", "features"})
    assert {"features", "probe", "finetune", "train", "attacks", "models"} <= transfer
    assert not transfer & {"arat", "trades", "wcmi", "mutual_info", *SUPPORT}


def test_a_dataset_lists_only_its_own_builder():
    assert stems("prepare_dataset", (*other_builders("generated"), "data")) == {"builders", "synthetic"}
    assert stems("prepare_dataset", (*other_builders("folder"), "data")) == {"builders", "vision_data"}
    assert stems("prepare_dataset", (*other_builders("embedded"), "data")) == {"builders"}
    assert set(BUILDER_MODULES) == {"generated", "embedded", "torchvision", "folder"}


def test_tables_still_rerun_on_table_code():
    assert stems("transfer_table") == {"tables", "intervals", "masking"}
    assert {"comparison", "tables", "intervals"} <= stems("method_comparison")
    assert {"claims", "overview", "intervals"} <= stems("claims")


def test_robustness_jobs_do_not_rerun_on_table_code():
    """The masking checks' names and thresholds (masking) reach the evaluation jobs; how tables
    render them (tables, intervals) does not."""
    assert {"robustness", "evaluation", "attacks", "masking"} <= stems("evaluate_robustness")
    assert not {"tables", "intervals"} & stems("evaluate_robustness")
