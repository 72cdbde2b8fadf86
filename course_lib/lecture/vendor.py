"""The JavaScript the decks and the site load, copied from the npm packages of ``make vendor``.

``site/vendor/package.json`` pins reveal.js, MathJax 3, RequireJS and the Jupyter widgets
HTML manager; ``make vendor`` installs them with ``npm ci`` into ``build/vendor`` (ignored by
git). ``copy_into`` copies what a page needs next to it, so a deck or the site opened from
disk, or served from 127.0.0.1, never asks a CDN for anything.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from course_lib.lecture.edition import ROOT

PACKAGE = ROOT / "site" / "vendor"
NODE_MODULES = ROOT / "build" / "vendor" / "node_modules"
# What each page loads, relative to node_modules, and what of it to leave out.
PARTS = {
    "reveal.js": ("reveal.js", ("*.map", "*.esm.js", "markdown", "highlight", "search", "zoom")),
    "mathjax": ("mathjax/es5", ("sre", "*-full*", "*svg*", "mml-*", "*.map")),
    "require.js": ("requirejs/require.js", ()),
    "html-manager": ("@jupyter-widgets/html-manager/dist", ("*.map", "index.js", "embed.js")),
}


class VendorMissing(RuntimeError):
    pass


def copy_into(destination: Path, parts=tuple(PARTS)) -> Path:
    """Copy ``parts`` of the vendored JavaScript into ``destination``; return it."""
    for name in parts:
        source, ignored = PARTS[name]
        path = NODE_MODULES / source
        if not path.exists():
            raise VendorMissing(f"{path} is missing: run `make vendor` (npm ci of "
                                "site/vendor/package.json into build/vendor) first")
        target = destination / name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(*ignored))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return destination


def install(force: bool = False) -> Path:
    """``npm ci`` of ``site/vendor`` into ``build/vendor`` unless it is there and current."""
    folder = NODE_MODULES.parent
    stamp = NODE_MODULES / ".package-lock.json"  # npm writes it last
    lock = PACKAGE / "package-lock.json"
    if not force and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return NODE_MODULES
    if shutil.which("npm") is None:
        raise VendorMissing("npm is not installed: install Node.js (e.g. `apt-get install "
                            "nodejs npm`), then run `make vendor`")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(PACKAGE / name, folder / name)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                   check=True)
    return NODE_MODULES
