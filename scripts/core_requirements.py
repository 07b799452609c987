"""Print the requirements of the Qt-free core: the project's dependencies minus Qt, plus the
test tools. Used by scripts/check to build the environment that proves the core needs no Qt."""

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
print(" ".join(deps + dev))
