"""``posekit predict`` on a folder with broken files mixed in: every good image gets results, the
broken ones are listed, and memory stays flat from 20 to 200 images.

    python benchmarks/predict_folder_memory.py                          # 20 and 200 images, fast pipeline
    python benchmarks/predict_folder_memory.py --sizes 20 --model movenet-thunder
    python benchmarks/predict_folder_memory.py --threads 1 --keep /tmp/folders

For each size N the script builds a folder in a temp dir: N - 3 good JPEGs made from the demo
photo (scikit-image's astronaut, ``posekit.demo.fetch_demo_image``: flipped, shifted, rescaled
to 384-1024 px, brightness varied, so no two are alike) and three broken files mixed in among
them: a zero-byte ``.jpg``, a truncated ``.jpg`` and a text file named ``.png``. It then runs
``posekit predict FOLDER --model M --out OUT`` as a fresh child process (one per size) and
prints: inputs, exit code, good images with at least one pose in results.json, result entries,
the failures the command listed (and whether they are exactly the broken files), wall time and
the child's peak RSS (``ru_maxrss`` from ``os.wait4`` of that child alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from posekit.demo import fetch_demo_image
from posekit.io import read_image, write_image

BROKEN = ("zero_bytes.jpg", "truncated.jpg", "text.png")


def make_folder(folder: Path, n: int, photo: np.ndarray, seed: int = 0) -> list[str]:
    """``n`` files in ``folder``: ``n - 3`` good JPEG variants of ``photo`` and the three
    :data:`BROKEN` files placed among them (by sorted name); returns the good names."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    good = []
    for i in range(n - len(BROKEN)):
        img = np.ascontiguousarray(photo[:, ::-1]) if rng.random() < 0.5 else photo
        side = int(rng.integers(384, 1025))
        scale = side / max(img.shape[:2])
        dx, dy = rng.uniform(-0.1, 0.1, size=2) * side
        A = np.array([[scale, 0, dx], [0, scale, dy]], np.float32)
        img = cv2.warpAffine(img, A, (side, side), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img.astype(np.float32) * rng.uniform(0.75, 1.25), 0, 255).astype(np.uint8)
        name = f"img_{i:04d}.jpg"
        write_image(folder / name, img)
        good.append(name)
    # broken files named to sort among the good ones: after the first, in the middle, at the end
    slots = [1, len(good) // 2, len(good) - 1]
    whole = (folder / good[0]).read_bytes()
    for name, slot in zip(BROKEN, slots):
        path = folder / f"img_{slot:04d}_{name}"
        if name == "zero_bytes.jpg":
            path.write_bytes(b"")
        elif name == "truncated.jpg":
            path.write_bytes(whole[: len(whole) // 3])
        else:
            path.write_text("this is a text file, not a picture\n")
    return good


def run_predict(folder: Path, out: Path, model: str, threads: int | None) -> dict:
    """Run ``posekit predict`` on ``folder`` in a fresh child; its exit code, wall time, peak
    RSS (MB) and stdout/stderr."""
    cmd = [sys.executable, "-c", "import sys; from posekit.cli import main; sys.exit(main())",
           "predict", str(folder), "--model", model, "--out", str(out)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se)
        _, status, usage = os.wait4(proc.pid, 0)     # this child's own rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        so.seek(0)
        se.seek(0)
        return {"code": proc.returncode, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
                "stdout": so.read().decode(errors="replace"), "stderr": se.read().decode(errors="replace")}


def failures_listed(stderr: str) -> list[str]:
    """The lines under ``N input(s) failed:`` in posekit predict's stderr."""
    if "input(s) failed:" not in stderr:
        return []
    tail = stderr.split("input(s) failed:", 1)[1]
    return [ln.strip() for ln in tail.splitlines() if ln.startswith("  ")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 200], help="folder sizes (default 20 200)")
    ap.add_argument("--model", default="multipose-320",
                    help="pipeline (default multipose-320, the fast mode; posekit models lists them)")
    ap.add_argument("--threads", type=int, default=None, help="passed to posekit predict --threads")
    ap.add_argument("--keep", default=None, metavar="DIR", help="build the folders here and keep them")
    args = ap.parse_args()

    photo = read_image(fetch_demo_image())
    print(f"# posekit predict FOLDER --model {args.model}" + (f" --threads {args.threads}" if args.threads else "")
          + f"; folders of the demo photo's variants with {len(BROKEN)} broken files; "
          f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cpus")
    print("| images | inputs | exit | good images with poses | result entries | failures listed "
          "| exactly the broken files | wall s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="posekit-folder-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        details = []
        for n in args.sizes:
            folder, out = root / f"in_{n}", root / f"out_{n}"
            good = make_folder(folder, n, photo)
            r = run_predict(folder, out, args.model, args.threads)
            res_path = out / "results.json"
            results = json.loads(res_path.read_text()) if res_path.is_file() else []
            with_poses = {e["file_name"] for e in results}
            listed = failures_listed(r["stderr"])
            exact = sorted(Path(ln.split(":", 1)[0]).name for ln in listed) == sorted(
                p.name for p in folder.iterdir() if p.name.split("_", 2)[-1] in BROKEN)
            print(f"| {n} | {len(list(folder.iterdir()))} | {r['code']} | {len(with_poses & set(good))} of "
                  f"{len(good)} | {len(results)} | {len(listed)} | {'yes' if exact else 'NO'} "
                  f"| {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} |")
            details.append((n, r, listed))
        for n, r, listed in details:
            print(f"\n## {n} images: summary line and the failures listed")
            print("\n".join(r["stdout"].strip().splitlines()[:1]))
            for ln in listed:
                print(f"  {ln}")


if __name__ == "__main__":
    main()
