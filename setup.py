"""What pyproject.toml cannot say: the wheel carries content/ (the i18n catalogs, FAQ, plan, consent
texts, fonts, the example school.toml) inside the `bot` package, as `bot/content/`.

content/ stays at the top of the source tree, where schools and translators edit it and every path
in the docs names it; setuptools' package-data reaches only files inside a package, so a
non-editable `pip install .` used to install the code without it and `schoolbot` could not start.
bot/paths.py reads `bot/content/` when it is there (an installed wheel) and the tree's content/
otherwise (a checkout, an editable install). tests/test_packaging.py builds the wheel and starts
from it.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONTENT = Path(__file__).resolve().parent / "content"


class BuildWithContent(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree's content/ itself
        target = Path(self.build_lib) / "bot" / "content"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(CONTENT, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithContent})
