"""``mlgate`` / ``python -m mlgate``. ``mlgate hook ...`` goes straight to the stdlib-only
hook adapters (no click, no pydantic) so that hooks stay fast; everything else goes to the
click CLI."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["hook"]:
        from mlgate.lock import hook

        sys.exit(hook.main(args[1:]))
    from mlgate.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
