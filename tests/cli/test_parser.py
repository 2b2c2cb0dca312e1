"""roofline/cli/parser.py: one parser per subcommand, each bound to its cmd_* function,
and argument errors as exit status 2 with one line on stderr."""

from __future__ import annotations

import pytest

from roofline.cli import EXIT_USER_ERROR, build_parser, commands, main
from roofline.cli.parser import SUBCOMMANDS

#: argv -> the command it runs.
COMMANDS = {
    ("analyze", "gcn"): commands.cmd_analyze,
    ("sweep", "gcn", "--hw", "t4"): commands.cmd_sweep,
    ("validate", "gcn", "--hw", "t4"): commands.cmd_validate,
    ("calibrate", "--out", "x.yaml"): commands.cmd_calibrate,
    ("fit-kernels", "--measurements", "d", "--gpu", "g", "--hw", "t4", "--out", "x.yaml"): commands.cmd_fit_kernels,
    ("plan", "gpt2", "--hw", "8xh100-sxm", "--global-batch", "8"): commands.cmd_plan,
    ("llm", "llama-tiny", "--hw", "h100-sxm"): commands.cmd_llm,
    ("hw", "list"): commands.cmd_hw_list,
    ("hw", "show", "t4"): commands.cmd_hw_show,
    ("zoo",): commands.cmd_zoo,
}


@pytest.mark.parametrize("argv", list(COMMANDS), ids=" ".join)
def test_each_subcommand_runs_its_command(argv):
    args = build_parser().parse_args(list(argv))
    assert args.run is COMMANDS[argv]


def test_one_function_per_subcommand():
    assert len(SUBCOMMANDS) == len({argv[0] for argv in COMMANDS})


def test_defaults_and_repeatable_options():
    args = build_parser().parse_args(["analyze", "gcn", "-o", "a=1", "--option", "b=x"])
    assert args.hw == "h100-sxm" and args.top == 10 and args.option == ["a=1", "b=x"]
    args = build_parser().parse_args(["plan", "gpt2", "--hw", "8xh100-sxm", "--global-batch", "8"])
    assert args.optimizer == "adamw" and args.microbatch_overhead == "0 us" and not args.no_overlap


@pytest.mark.parametrize("argv", [[], ["nope"], ["sweep", "gcn"], ["validate", "gcn", "--method", "x", "--hw", "t4"], ["hw"]])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("roofline")][-1].count("error:") == 1
