"""A real photo for demos, from a registry package: scikit-image's astronaut portrait.

``skimage/data/astronaut.png`` (Eileen Collins, NASA, public domain) ships inside the
scikit-image wheel. :func:`fetch_demo_image` downloads that wheel with pip's own client
(``pip download scikit-image --no-deps``, no install) and extracts just the picture, once:

    python -m posekit.demo [CACHE_DIR]          # prints the photo's path
    posekit predict "$(python -m posekit.demo)"
    posekit data sample --out sample/           # the photo with its person annotated, and more

``python -m posekit.demo`` prints the path on stdout, or one error line on stderr and exits 1
when pip cannot fetch the wheel (no traceback, so that ``$(...)`` in a shell stays readable).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from posekit.errors import PosekitError

__all__ = ["fetch_demo_image", "DEMO_MEMBER"]

log = logging.getLogger(__name__)

DEMO_MEMBER = "skimage/data/astronaut.png"


def _default_cache() -> Path:
    env = os.environ.get("POSEKIT_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "posekit") / "demo"


def fetch_demo_image(cache_dir: str | Path | None = None) -> Path:
    """Path of ``astronaut.png`` in ``cache_dir`` (default ``~/.cache/posekit/demo``),
    downloading the scikit-image wheel with pip the first time. Raises PosekitError when pip
    cannot fetch the wheel or the wheel lacks the picture."""
    cache = Path(cache_dir) if cache_dir is not None else _default_cache()
    target = cache / "astronaut.png"
    if target.is_file():
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PosekitError(f"cannot create the demo cache folder {cache} ({e.strerror or e}); "
                           "set POSEKIT_CACHE to a writable folder") from None
    with tempfile.TemporaryDirectory(prefix="posekit-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "scikit-image", "--no-deps",
               "--only-binary=:all:", "--disable-pip-version-check", "-q", "-d", tmp]
        log.info("downloading the scikit-image wheel for its astronaut photo: %s", " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PosekitError(f"pip download scikit-image failed: {e}") from None
        wheels = sorted(Path(tmp).glob("scikit_image-*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise PosekitError(f"pip download scikit-image failed (exit {proc.returncode}): {tail}")
        try:
            with zipfile.ZipFile(wheels[0]) as z:
                data = z.read(DEMO_MEMBER)
        except (KeyError, zipfile.BadZipFile) as e:
            raise PosekitError(f"{wheels[0].name}: no {DEMO_MEMBER} ({e})") from None
    fd, part = tempfile.mkstemp(prefix=".astronaut-", dir=cache)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(part, 0o644)
    os.replace(part, target)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m posekit.demo [CACHE_DIR]``: print the photo's path; exit code 0, or 1 with
    one line on stderr when it cannot be had."""
    args = sys.argv[1:] if argv is None else argv
    try:
        print(fetch_demo_image(args[0] if args else None))
    except PosekitError as e:
        print(f"posekit.demo: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
