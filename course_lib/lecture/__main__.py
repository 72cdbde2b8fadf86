"""``python -m course_lib.lecture COMMAND``: the lecture edition's builders (README: Instructors)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.lecture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    executed = commands.add_parser("executed", help="run the chapters into build/executed/MODE")
    executed.add_argument("--mode", choices=("quick", "full"), default="full")
    executed.add_argument("--only", nargs="*", help="chapter prefixes, e.g. 07 08")
    executed.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    executed.add_argument("--jobs", type=int, default=1,
                          help="chapters run at once (quick mode only)")
    executed.add_argument("--force", action="store_true",
                          help="re-run even chapters whose code is unchanged (after a library change)")

    slides = commands.add_parser("slides", help="one offline reveal.js deck per chapter")
    slides.add_argument("--out", type=Path, default=Path("build/slides"))

    site = commands.add_parser("site", help="the offline course site (student + instructor)")
    site.add_argument("--out", type=Path, default=Path("build/site"))

    commands.add_parser("vendor", help="npm ci of site/vendor into build/vendor")

    markup = commands.add_parser("markup", help="give slide metadata to cells that have none")
    markup.add_argument("--check", action="store_true", help="only report what is missing")

    args = parser.parse_args(argv)
    if args.command == "executed":
        from nbclient.exceptions import CellExecutionError

        from course_lib.lecture import edition

        try:
            manifest = edition.build(args.mode, only=args.only, timeout=args.timeout,
                                     jobs=args.jobs, force=args.force)
        except CellExecutionError as error:  # nbclient's message holds the whole traceback
            print(f"a cell failed; the chapters before it were kept:\n...{str(error)[-1500:]}")
            return 1
        total = sum(record["seconds"] for record in manifest.values())
        print(f"{len(manifest)} chapters in build/executed/{args.mode}; "
              f"{total / 60:.1f} min of recorded run time")
    elif args.command == "slides":
        from course_lib.lecture import slides

        for deck, count in slides.build(args.out).items():
            print(f"{deck}: {count} slides")
    elif args.command == "site":
        from course_lib.lecture import site

        for build, pages in site.build(args.out).items():
            print(f"{build}: {pages} pages")
    elif args.command == "vendor":
        from course_lib.lecture import vendor

        print(f"vendored JavaScript in {vendor.install()}")
    elif args.command == "markup":
        from course_lib.lecture import edition
        from course_lib.lecture import markup as rules

        problems = []
        for path in edition.chapters():
            if not args.check:
                rules.mark_up(path)
            problems += rules.problems(path)
        print("\n".join(problems) or "every chapter is marked up for slides")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
