"""Print the requirements of the Qt-free core: the project's dependencies minus Qt, the
platform's distributed mode (extra ``scale``), plus the test tools. Used by scripts/check to
build the environment that proves the core needs no Qt."""

import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
QT = ("pyside6", "shiboken6")
deps = [d for d in project["dependencies"] if not d.lower().startswith(QT)]
dev = [
    d
    for d in project["optional-dependencies"]["dev"]
    if d.split(">")[0].split("=")[0] in ("pytest", "pytest-timeout", "hypothesis", "scikit-image")
]
# the platform's distributed mode is core code too (refplatform/pg*.py, s3blobs.py)
scale = project["optional-dependencies"]["scale"]
print(" ".join(deps + scale + dev))
