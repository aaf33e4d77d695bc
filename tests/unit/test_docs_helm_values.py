"""The Helm values table in docs/installing.md is the one generated from values.schema.json and
values.yaml, and the same doc gives the CRD upgrade command the upgrade test runs."""

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLING = (REPO_ROOT / "docs" / "installing.md").read_text()
_spec = importlib.util.spec_from_file_location("helm_values_table", REPO_ROOT / "hack" / "helm-values-table.py")
table_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table_script)


def test_installing_doc_values_table_is_generated_from_the_chart():
    start, end = table_script.START, table_script.END
    assert INSTALLING.count(start) == 1 and INSTALLING.count(end) == 1, "docs/installing.md lacks the helm-values markers"
    between = INSTALLING.split(start, 1)[1].split(end, 1)[0]
    assert between.strip() == table_script.table().strip(), \
        "regenerate the table: .venv/bin/python hack/helm-values-table.py"


def test_installing_doc_gives_the_tested_crd_upgrade_command():
    # the command tests/integration/test_crd_upgrade.py runs (UPGRADE_CRDS with <chart> = helm/thumbnailer)
    assert "helm show crds helm/thumbnailer | kubectl apply --server-side --force-conflicts -f -" in INSTALLING
