"""The `synthempathy` command. The pipeline itself runs through `dvc repro`;
this covers what happens around it (releases)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .release import RELEASE_CORPUS, release
from .stage import entry_point


@entry_point
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="synthempathy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser(
        "release", help="tag the current corpus as a release: card, SFT export, git tag, dvc push",
        description="Write release/ (corpus, SFT export, dataset card), dvc push, commit and tag corpus-vVERSION. "
                    "Refuses a dirty tree, a stale pipeline or an existing tag.",
    )
    rel.add_argument("version", help="MAJOR.MINOR.PATCH, e.g. 0.3.0 (tag: corpus-v0.3.0)")
    rel.add_argument("-r", "--remote", help="DVC remote to push to (default: the project's default remote)")
    args = parser.parse_args(argv)
    tag = release(args.version, remote=args.remote)
    print(f"released {tag}: {RELEASE_CORPUS} and the pipeline's data pushed to the DVC remote. "
          "Publish the tag with: git push --follow-tags", file=sys.stderr)


if __name__ == "__main__":
    main()
