"""Static checks of the rule files: every job declares its GPU need, and it matches what its
script does (a script that asks for a device may run on a GPU, so its rule must say gpu=1)."""

from __future__ import annotations

import re

from conftest import ROOT

RULES = ROOT / "workflow" / "rules"


def _rule_blocks() -> dict[str, str]:
    blocks = {}
    for path in sorted(RULES.glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule )", path.read_text()):
            if block.startswith("rule "):
                blocks[block.split()[1].rstrip(":")] = block
    return blocks


def test_every_job_declares_its_gpu_need_and_gpu_jobs_are_the_device_users():
    blocks = {name: b for name, b in _rule_blocks().items() if "script:" in b}
    assert len(blocks) > 20
    for name, block in blocks.items():
        declared = re.search(r"gpu=(\d+|config\[\"pretrain\"\]\[\"gpus\"\])", block)
        assert declared, f"rule {name} declares no gpu resource"
        script = re.search(r'script:\s*"\.\./scripts/([a-z_0-9]+\.py)"', block).group(1)
        text = (ROOT / "workflow" / "scripts" / script).read_text()
        uses_device = "job_device(" in text or "job_devices(" in text
        gpus = 1 if declared.group(1).startswith("config") else int(declared.group(1))  # pretrain.gpus >= 1
        assert gpus == int(uses_device), f"rule {name}: gpu={declared.group(1)}, script {script}"
