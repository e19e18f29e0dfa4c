"""The install leaves a user's torch alone: no extra pins an exact torch version.

Users bring their own (CUDA) torch; an exact pin in the package metadata would
force pip to replace it. The platform's pin belongs in the install commands.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
OWN_MODEL_EXAMPLE = ROOT / "docs" / "examples" / "explain_own_model.py"
# "torch==2.13.0", "torch ===2.13", "torch~=2.1.0" (also fixes a patch range).
EXACT = re.compile(r"^\s*torch\s*(\[[^\]]*\])?\s*(===?|~=)", re.IGNORECASE)


def _torch_pins(requirements):
    return [r for r in requirements if EXACT.match(r)]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_no_extra_of_the_checkout_pins_torch():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    assert _torch_pins(project["dependencies"]) == []
    for name, requirements in extras.items():
        assert _torch_pins(requirements) == [], f"extra {name!r} pins torch exactly"
    torch_requirements = [r for reqs in extras.values() for r in reqs if r.startswith("torch")]
    assert torch_requirements and all(">=" in r for r in torch_requirements)
    assert any(r.startswith("peft") for r in extras["diffusion"])
    assert any(r.startswith("bitsandbytes") for r in extras["bitsandbytes"])
    # bitsandbytes pulls CUDA libraries: never in the extras everyone installs.
    for name in ("diffusion", "test", "docs", "benchmarks"):
        assert not any(r.startswith("bitsandbytes") for r in extras.get(name, []))


def test_installed_metadata_pins_no_torch():
    try:
        dist = metadata.distribution("sklearn-depict")
    except metadata.PackageNotFoundError:
        pytest.skip("sklearn-depict is not installed")
    direct_url = dist.read_text("direct_url.json")
    source = json.loads(direct_url).get("url", "") if direct_url else ""
    # An editable install leaves an .egg-info in the checkout, which comes first
    # on sys.path under pytest: that metadata was built from this pyproject too.
    here = Path(str(dist.locate_file(""))).resolve() == ROOT.resolve()
    if not here and source.removeprefix("file://").rstrip("/") != str(ROOT):
        # The metadata of another checkout (or of an older wheel) says nothing
        # about this one; CI installs the checkout itself (pip install -e).
        pytest.skip(f"the installed sklearn-depict comes from {source or 'a wheel'}")
    requirements = dist.requires or []
    assert _torch_pins(requirements) == []
    assert any(r.startswith("torch") and "extra ==" in r for r in requirements)


def test_install_command_pins_torch_first():
    script = (ROOT / "scripts" / "test.sh").read_text()
    pin = script.index('pip install -q "torch==2.13.0"')
    assert pin < script.index("pip install -q -e")


def test_the_check_catches_pins():
    assert _torch_pins(["torch==2.13.0", "torch ===2.1", "torch~=2.1.0", "Torch[cuda]==2"]) == [
        "torch==2.13.0", "torch ===2.1", "torch~=2.1.0", "Torch[cuda]==2",
    ]  # fmt: skip
    assert _torch_pins(["torch>=2.1", "torchvision==0.1", "torch>=2.1,<3"]) == []


def test_the_skorch_extra_installs_what_the_example_needs():
    skorch = _pyproject()["project"]["optional-dependencies"]["skorch"]
    assert any(re.fullmatch(r"skorch\s*>=\s*1(\.\d+)*", r) for r in skorch)
    # skorch does not require torch itself; the extra brings a range, never a pin.
    assert any(r.startswith("torch>=") for r in skorch) and _torch_pins(skorch) == []
    page = (ROOT / "docs" / "own_model.rst").read_text()
    assert 'pip install "sklearn-depict[skorch]"' in page


def test_the_example_skips_its_skorch_section_without_skorch(tmp_path):
    # The section as the example has it, from its heading on, with skorch
    # made unimportable: its guard must print why and stop cleanly.
    source = OWN_MODEL_EXAMPLE.read_text()
    section = source[source.index("# --- 5."):]
    code = "import sys\nsys.modules['skorch'] = None  # import skorch now fails\n" + section
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Section 5 skipped" in done.stdout
    assert 'pip install "sklearn-depict[skorch]"' in done.stdout
