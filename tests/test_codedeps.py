"""Rules list as inputs the library modules that compute their results, found by following
imports: support modules (logging, files, config messages) and other methods' modules are left out."""

from __future__ import annotations

import json

from conftest import ROOT

from advinfo.plan.codedeps import (
    BUILDER_MODULES,
    SUPPORT,
    ZOO_MODULES,
    is_support,
    library_files,
    method_modules,
    module_name,
    other_builders,
    other_methods,
    other_model_kinds,
)
from advinfo.training.methods import METHODS

SCRIPTS, PKG = ROOT / "workflow" / "scripts", ROOT / "src" / "advinfo"


def modules(script: str, skip=()) -> set[str]:
    return {module_name(p, PKG) for p in library_files(SCRIPTS / f"{script}.py", PKG, skip)}


def test_imports_are_followed_transitively_and_only_within_the_package(tmp_path):
    pkg = tmp_path / "advinfo"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "import numpy\nfrom advinfo.b import helper\n",
        "b.py": "from advinfo import c\n\ndef helper():\n    import advinfo.d  # a local import counts too\n",
        "c.py": "from advinfo.a import something  # a cycle\n",
        "d.py": "from advinfo.sub.g import z\n",
        "logs.py": "from advinfo.e import x  # support: followed, not listed\n",
        "e.py": "",
        "skipped.py": "from advinfo.f import y  # skipped: neither listed nor followed\n",
        "f.py": "",
        "unused.py": "",
        "sub/__init__.py": "",
        "sub/g.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    script = tmp_path / "job.py"
    script.write_text("import os\nfrom advinfo.a import run\nfrom advinfo import logs, skipped\n")
    found = {module_name(p, pkg) for p in library_files(script, pkg, skip=("skipped",))}
    assert found == {"a", "b", "c", "d", "e", "sub.g"}


def test_package_inits_are_support_but_the_discovering_registry():
    assert is_support("__init__") and is_support("report.tables.__init__") and is_support("plan.grid")
    assert not is_support("training.methods.__init__") and not is_support("training.loop")


def test_the_methods_registry_counts_as_importing_every_method_file():
    assert {f"training.methods.{m}" for m in ("standard", "pgd", "trades", "arat", "wcmi")} <= modules("pretrain")


def test_pretraining_lists_training_and_its_own_method_but_no_support_module():
    pgd = modules("pretrain", other_methods("pgd"))
    assert {"training.pretrain", "training.loop", "robust.attacks", "nets.models", "datasets.images"} <= pgd
    assert {"training.methods.base", "training.methods.pgd", "training.augment", "training.schedule"} <= pgd
    others = {"training.methods.trades", "training.methods.arat", "training.methods.wcmi", "information.mutual_info"}
    others |= {"nets.probe", "nets.features", "datasets.synthetic", "datasets.readers"}
    assert not pgd & SUPPORT and not pgd & others
    assert "training.methods.trades" in modules("pretrain", other_methods("trades"))
    assert "training.methods.arat" in modules("pretrain", other_methods("arat"))
    wcmi = {"training.methods.wcmi", "information.mutual_info", "nets.probe", "nets.features"}
    assert wcmi <= modules("pretrain", other_methods("wcmi"))
    assert "training.methods.pgd" not in modules("pretrain", other_methods("standard"))


def test_training_does_not_rerun_on_evaluation_attacks_or_config_checks():
    """The spine is cut: training reaches the accuracy helper, not the evaluation attacks, the
    gradient-masking checks or the plan's checks."""
    pgd = modules("pretrain", other_methods("pgd"))
    assert "robust.accuracy" in pgd and not pgd & {"robust.evaluation", "robust.masking", "robust.curves"}


def test_every_method_has_its_own_module():
    assert list(method_modules()) == list(METHODS)
    for name, cls in METHODS.items():
        assert cls.__module__ == f"advinfo.{method_modules()[name]}", name


def test_expensive_jobs_ignore_logs_files_messages_and_probes():
    assert modules("reference_features", ZOO_MODULES) == {"datasets.images", "nets.features", "nets.models", "sampling"}
    transfer = modules("transfer", other_methods("standard"))
    assert {"nets.features", "nets.probe", "transfer.finetune", "training.loop", "nets.models"} <= transfer
    assert not transfer & {"training.methods.arat", "training.methods.trades", "information.mutual_info", *SUPPORT}


def test_only_a_zoo_models_jobs_rerun_on_the_zoo_network():
    """The model-file format builds a RobustBench network for zoo models only: their jobs list it
    (and the import's file checks), the others' do not."""
    for script in ("evaluate_robustness", "fisher_input", "invert", "transfer", "weight_posterior"):
        assert {"nets.zoo", "nets.imported"} <= modules(script, other_model_kinds(zoo=True)), script
        assert not {"nets.zoo", "nets.imported"} & modules(script, other_model_kinds(zoo=False)), script


def test_a_dataset_lists_only_its_own_builder():
    def builders(kind: str) -> set[str]:
        return modules("prepare_dataset", (*other_builders(kind), "datasets.images"))

    assert builders("generated") == {"datasets.builders", "datasets.synthetic"}
    assert builders("folder") == {"datasets.builders", "datasets.readers"}
    assert builders("embedded") == {"datasets.builders"}
    assert set(BUILDER_MODULES) == {"generated", "embedded", "torchvision", "folder"}


def test_tables_still_rerun_on_table_code():
    assert modules("transfer_table") == {"report.tables.transfer", "report.tables.render", "report.intervals"}
    assert {"report.tables.comparison", "report.tables.render", "report.intervals"} <= modules("method_comparison")
    assert modules("plot_tsne") == {"report.figures.information", "report.figures.shared"}
    assert {"report.claims", "report.landing", "report.intervals"} <= modules("claims")


def test_robustness_jobs_do_not_rerun_on_table_code():
    """The masking checks' names and thresholds (masking) reach the evaluation jobs; how tables
    render them (tables, intervals) does not."""
    evaluate = modules("evaluate_robustness")
    assert {"robust.curves", "robust.evaluation", "robust.attacks", "robust.masking"} <= evaluate
    assert not {"report.tables.render", "report.tables.pretraining", "report.intervals"} & evaluate


# Where each module of the flat layout went (the sub-packages issue): an edit to the old module is
# an edit to any of these.
FLAT_MODULE = {
    "plan.schema": "schema", "plan.catalog": "catalog", "plan.checks": "config", "plan.preflight": "preflight",
    "plan.grid": "grid", "plan.names": "grid", "plan.attack_specs": "grid", "plan.codedeps": "codedeps",
    "plan.hyperparameters": "train_config", "plan.methods": "train_config",
    "datasets.images": "data", "datasets.builders": "builders", "datasets.synthetic": "synthetic",
    "datasets.readers": "vision_data", "nets.models": "models", "nets.imported": "imported",
    "nets.checkpoint": "checkpoint", "robust.attacks": "attacks", "robust.evaluation": "evaluation",
    "robust.masking": "masking", "robust.curves": "robustness", "robust.accuracy": "robustness",
    "information.fisher": "fisher", "information.posterior": "posterior", "information.mutual_info": "mutual_info",
    "information.inversion": "inversion", "information.inversion_store": "inversion_file",
    "information.tsne": "embedding", "nets.features": "features", "nets.probe": "probe",
    "transfer.task2vec": "task2vec", "transfer.distance": "distance", "transfer.gap": "transfer_gap",
    "training.loop": "train", "training.pretrain": "pretrain", "transfer.finetune": "finetune",
    "training.augment": "augment", "training.schedule": "schedule", "training.resume": "resume",
    "training.methods.__init__": "methods", "training.methods.base": "method", "training.methods.standard": "method",
    "training.methods.pgd": "method", "training.methods.trades": "trades", "training.methods.arat": "arat",
    "training.methods.wcmi": "wcmi", "report.claims": "claims",
    "report.intervals": "intervals", "report.landing": "overview", "report.tables.comparison": "comparison",
    "report.tables.render": "tables", "report.tables.pretraining": "tables", "report.tables.transfer": "tables",
    "report.tables.distance": "tables", "report.tables.inversion": "tables", "report.figures.shared": "plots",
    "report.figures.information": "plots", "report.figures.inversion": "plots", "report.figures.distance": "plots",
    "report.figures.comparison": "plots",
    "report.history": "history",
    # job logic that was in the invert and transfer scripts, whose edits reran those rules then too
    "information.inversion_job": "(script)", "transfer.transfer_job": "(script)",
}  # fmt: skip


def test_the_same_edits_plan_the_same_reruns_as_before_the_sub_packages():
    """Per rule, the modules whose edit reruns it, named as in the flat layout, are those that did
    before (tests/data/codedeps_before_subpackages.json), but for two refinements: cutting the spine
    (pretraining no longer reruns for an edit to the evaluation attacks or the masking checks), and
    the tables split by stage (only the pretraining tables and the claims read the masking checks'
    names). No rule reruns for an edit that did not rerun it before."""
    before = json.loads((ROOT / "tests" / "data" / "codedeps_before_subpackages.json").read_text())
    variants = {f"pretrain[{m}]": ("pretrain", other_methods(m)) for m in METHODS}
    variants |= {
        f"prepare_dataset[{k}]": ("prepare_dataset", (*other_builders(k), "datasets.images")) for k in BUILDER_MODULES
    }
    variants["transfer[skip]"] = ("transfer", other_methods("standard"))
    by_stage = {"distance_table", "inversion_table", "method_comparison", "transfer_table"}
    for key, old in before.items():
        script, skip = variants.get(key, (key, ()))
        skip = (*skip, *other_model_kinds(zoo=False))  # the flat layout had no zoo models
        now = {FLAT_MODULE.get(m, m) for m in modules(script, skip)} - {"(script)"}
        expected = set(old)
        if key == "pretrain" or key.startswith("pretrain["):
            expected -= {"evaluation", "masking"}
        if key in by_stage:
            expected -= {"masking"}
        assert now == expected, key
