"""One CLI vocabulary (issue 15): help text, -q / -v, option names, messages."""

import re

import pytest
from typer.testing import CliRunner

from wrt.cli.app import app

runner = CliRunner()
COMMANDS = ["partials", "inspect", "check", "sens", "report", "train", "demo", "bench"]


def _help(command: str) -> str:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_bool_type_and_upper_case_arguments(command):
    text = _help(command)
    assert "<bool>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    # every argument in the usage line is upper case
    words = usage.split("[OPTIONS]", 1)[1].split()
    assert all(w.strip("[]").isupper() for w in words), usage


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_quiet_and_verbose(command):
    text = _help(command)
    assert "--quiet" in text and "-q" in text
    assert "--verbose" in text and "-v" in text


def test_quiet_and_verbose_together_are_refused():
    result = runner.invoke(app, ["inspect", "m.pt", "-q", "-v"])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_brackets_in_help_are_shown_as_written():
    assert "pip install 'wrt[ray]'" in re.sub(r"\s*│\s*", " ", _help("partials"))
