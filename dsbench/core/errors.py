"""User-facing errors: one mechanism turns them into one line on stderr and exit code 2.

Library code raises :class:`DsbenchError` (or a subclass) for anything the *user* can fix:
a bad flag value, a malformed scenario file, an unknown workload, a corrupt result file.
The CLI entry points wrap every command with :func:`run_cli`, which prints
``error: <message>`` with no traceback and exits 2. Programming errors (everything else)
keep their traceback, because those are ours to fix.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

EXIT_USAGE = 2


class DsbenchError(Exception):
    """An error the user can fix; its message says what is wrong and how to fix it."""


class ResultFileError(DsbenchError):
    """A stored record that cannot be read: corrupt JSON, unknown schema, missing field."""


def run_cli(group: click.Group, argv: list[str] | None = None) -> None:
    """Run a click group so that user errors become one line and exit code 2.

    Click's own usage errors already exit 2 with a short message; we add our project
    errors and the ``ValueError``/``KeyError`` subclasses that library validation raises
    (their messages name the offending values), and let Ctrl-C exit 130 quietly.

    In this (non-standalone) mode click returns the code of ``ctx.exit(n)`` instead of
    exiting, and returns a command's return value; both are honoured when they are an
    ``int``, so a command may ``return 1`` (e.g. "regression found") or call ``ctx.exit(1)``.
    """
    try:
        code = group.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted; what was already measured is stored", err=True)
        sys.exit(130)
    except DsbenchError as exc:
        fail(str(exc))
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        sys.exit(code)


def fail(message: str) -> None:
    """Print one ``error:`` line on stderr and exit 2."""
    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    click.echo(f"error: {first_line}", err=True)
    sys.exit(EXIT_USAGE)


def user_errors(*types: type[BaseException]) -> Callable:
    """Decorator for a command: re-raise the listed exception types as :class:`DsbenchError`.

    Used where a library validates input with ``ValueError`` (config dataclasses do), so that
    the command reports the message in one line instead of a traceback.
    """

    def wrap(fn: Callable) -> Callable:
        import functools

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except types as exc:  # noqa: B030 - tuple of types built by the caller
                raise DsbenchError(str(exc)) from exc

        return inner

    return wrap
