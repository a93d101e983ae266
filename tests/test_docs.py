"""The README stays a short how-to and the guides under docs/ build as a site without a warning."""

import re
import subprocess
import sys

from conftest import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_guides_build_with_mkdocs_strict(tmp_path):
    """Strict: a broken link or anchor, or a page left out of mkdocs.yml's nav, fails the build."""
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site/chat/index.html").is_file()


def test_the_readme_is_a_short_how_to_whose_links_all_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert readme.index("## Set up") < readme.index("```bash\npython3.11 -m venv")  # the two commands open it
    targets = set(LINK.findall(readme))
    assert "docs/calibration.md" in targets and "benchmarks/README.md" in targets
    assert [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()] == []
    assert not re.search(r"\d+ (?:passed|min \d+ s)", readme)  # timings live in benchmarks/SUITE.md
