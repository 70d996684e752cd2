"""Every verb of the ``posekit`` command answers ``--help``; errors are one line."""

import subprocess
import sys

import pytest

from posekit import cli

VERBS = [[], ["data"], ["data", "inspect"], ["data", "convert"], ["data", "show"], ["eval"],
         ["train"], ["eval-model"], ["predict"], ["models"]]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v) or "posekit")
def test_help_for_every_verb(verb, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([*verb, "--help"])
    assert e.value.code == 0
    assert "usage: posekit" in capsys.readouterr().out


def test_console_script_and_error_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = subprocess.run([sys.executable, "-m", "posekit.cli", "data", "inspect", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.json" in lines[0], out.stderr


def test_help_does_not_import_torch():
    code = "import sys; from posekit import cli; cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_output_piped_into_head_is_not_an_error():
    """``posekit models | head -1``: the reader closing the pipe early is no error and no traceback."""
    out = subprocess.run(f"{sys.executable} -m posekit.cli models | head -1", shell=True, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.startswith("Models:") and "Error" not in out.stderr, out.stderr
