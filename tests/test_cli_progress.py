"""The transient status line never writes to a pipe (CI logs, --json consumers, CliRunner)."""

from nnequiv.cli.progress import TransientStatus


def test_status_line_is_silent_when_stderr_is_not_a_terminal(capsys):
    with TransientStatus(enabled=True, after=0.0) as status:
        status.update("branch and bound: 10 regions")
        status.update("branch and bound: 20 regions")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert not status.enabled
