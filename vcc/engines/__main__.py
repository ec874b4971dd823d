"""python -m vcc.engines start|stop|env NAME: see vcc/engines/__init__.py."""

from __future__ import annotations

import argparse
import re
import shlex
import sys

from . import EngineError, Instance, environment, start, stop
from . import __doc__ as engines_doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vcc.engines", description=engines_doc)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("action", choices=["start", "stop", "env"])
    add("name", help="the instance, in var/NAME/ (bin/run's: dev, bin/test's: test)")
    add("--owner", type=int, help="pid of the process the servers serve (default: the parent)")
    add("--ephemeral", action="store_true", help="for tests: fsync off, Redis keeps nothing")
    add("--postgres", action="store_true", help="start PostgreSQL (default: both)")
    add("--redis", action="store_true", help="start Redis (default: both)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9-]*", args.name):
        parser.error("NAME: lower-case letters, digits and dashes")
    instance = Instance(args.name)
    both = not (args.postgres or args.redis)
    try:
        if args.action == "start":
            start(
                instance,
                postgres=both or args.postgres,
                redis=both or args.redis,
                ephemeral=args.ephemeral,
                owner=args.owner,
            )
        elif args.action == "stop":
            stop(instance)
        else:
            for name, value in environment(instance).items():
                print(f"export {name}={shlex.quote(value)}")
    except EngineError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
