"""What pyproject.toml cannot say: the wheel carries content/ (the i18n catalogs, FAQ, plan, consent
texts, fonts, the example school.toml) inside the `bot` package, as `bot/content/`.

content/ stays at the top of the source tree, where schools and translators edit it and every path
in the docs names it; setuptools' package-data reaches only files inside a package, so a
non-editable `pip install .` used to install the code without it and `schoolbot` could not start.
bot/paths.py reads `bot/content/` when it is there (an installed wheel) and the tree's content/
otherwise (a checkout, an editable install). The MAX Bot API schema the fake MAX server checks
every request against (vendored in tests/data/max with its licence) goes along the same way, as
`bot/fakemax/data/`: `schoolbot sandbox --max` runs the fake. tests/test_packaging.py builds the
wheel and starts from it.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CONTENT = ROOT / "content"
MAX_SCHEMA = ROOT / "tests" / "data" / "max"


class BuildWithContent(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree's content/ itself
        target = Path(self.build_lib) / "bot" / "content"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(CONTENT, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        schema = Path(self.build_lib) / "bot" / "fakemax" / "data"
        shutil.rmtree(schema, ignore_errors=True)
        shutil.copytree(MAX_SCHEMA, schema)


setup(cmdclass={"build_py": BuildWithContent})
