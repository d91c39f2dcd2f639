"""The command line's own behaviour: global options accepted before and after the subcommand."""

from __future__ import annotations

import pytest

from hepml_coffea.cli import build_parser, main


@pytest.mark.parametrize(
    ("argv", "quiet", "debug"),
    [
        ("-q run ana --fileset f.json --out o", True, False),
        ("run ana --fileset f.json --out o -q", True, False),
        ("run ana --fileset f.json --out o --quiet --debug", True, True),
        ("--debug run ana --fileset f.json --out o", False, True),
        ("run ana --fileset f.json --out o", False, False),
        ("plot DIR -q", True, False),
    ],
)
def test_global_options_anywhere(argv: str, quiet: bool, debug: bool) -> None:
    args = build_parser().parse_args(argv.split())
    assert (args.quiet, args.debug) == (quiet, debug)


def test_quiet_after_subcommand_reaches_the_step(tmp_path, capsys) -> None:
    """`-q` after the subcommand is not refused; the step then fails on the missing fileset."""
    rc = main(
        [
            "run",
            "ttbar_ljets",
            "--fileset",
            str(tmp_path / "nope.json"),
            "--out",
            str(tmp_path / "o"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "nope.json" in err
    assert len(err.strip().splitlines()) == 1
