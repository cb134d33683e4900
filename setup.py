"""Bundles the repository's ``recipes/`` and ``hub/`` folders into wheels as
``topdown_zoo/_bundled/{recipes,hub}`` so that an installed package loads its shipped weights
offline (an editable install reads them from the checkout; see ``topdown_zoo/paths.py``)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithBundledFiles(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "topdown_zoo" / "_bundled"
        for folder in ("recipes", "hub"):
            source = ROOT / folder
            if source.is_dir():
                shutil.copytree(source, target / folder, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithBundledFiles})
