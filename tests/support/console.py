"""What the command line prints for bad input: one `convbench: error: ...` line naming the value,
no traceback, nothing on stdout. Every command's bad-input tests check it through here."""


def one_error_line(capsys) -> str:
    """The one error line the last command printed (and that it printed nothing else)."""
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("convbench: error: "), captured.err
    return lines[0]


def one_line_error(err: str, *named: str) -> None:
    """`err` is one error line that names each of `named`."""
    assert err.startswith("convbench: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in named:
        assert text in err, (text, err)
