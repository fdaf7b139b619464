"""The ``nnequiv`` command group and its command registry.

Each subcommand lives in its own module ``nnequiv.cli.<name>`` exposing a
``click.Command`` called ``command``; add the module name to
:data:`COMMAND_MODULES` to attach it.  Modules are imported only when a command
is run or listed, and must keep their top level cheap (import numpy, onnx,
torch ... inside the command function) so ``nnequiv --help`` stays fast.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

import click

from .. import __version__
from .errors import run_guarded

__all__ = ["COMMAND_MODULES", "NnequivGroup", "main"]

# module names under nnequiv.cli; the command name is the module name with "_" -> "-"
COMMAND_MODULES: tuple[str, ...] = ("info", "check", "verify", "report", "compress")


def _command_name(module: str) -> str:
    return module.replace("_", "-")


class NnequivGroup(click.Group):
    """A click group with lazily imported commands and nnequiv's exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *map(_command_name, COMMAND_MODULES)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        modules = {_command_name(m): m for m in COMMAND_MODULES}
        if cmd_name not in modules:
            return None
        command = import_module(f"{__package__}.{modules[cmd_name]}").command
        self.add_command(command, cmd_name)
        return command

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        parent = super()
        code = run_guarded(lambda: parent.main(args, prog_name or "nnequiv", complete_var,
                                               standalone_mode=False, **extra))
        sys.exit(code)


@click.group(cls=NnequivGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="nnequiv",
                      message="%(prog)s %(version)s")
def main() -> None:
    """Prove that a compressed neural network computes the same function as the original.

    Exit codes: 0 equivalent / success, 1 not equivalent, 2 unknown,
    3 input or usage error, 4 internal error.
    """
