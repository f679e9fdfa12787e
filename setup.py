"""Which packages the distribution holds; everything else (metadata, dependencies, package data) is in
pyproject.toml. midi_rae and its subpackages are found; midi_rae.assets is the top-level assets/ folder."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["midi_rae", "midi_rae.*"]) + ["midi_rae.assets"],
      package_dir={"midi_rae.assets": "assets"})
