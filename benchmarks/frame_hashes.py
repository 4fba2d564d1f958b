"""Print a short hash of every decoded video frame, one per line, to compare two exports.

    python benchmarks/frame_hashes.py OUT.mkv > after.hashes
    diff /work/baseline/chaplin_before.hashes after.hashes && echo identical

Each line is the first 16 hex digits of the SHA-256 of the frame's planes, concatenated as
PyAV hands them out (line padding included), so two files with the same pictures in the
same pixel format give the same lines.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys

import av

logger = logging.getLogger(__name__)


def frame_hashes(path: str) -> list[str]:
    """The 16-digit hash of each video frame of ``path``, in decoding order."""
    out = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            digest = hashlib.sha256(b"".join(bytes(p) for p in frame.planes)).hexdigest()
            out.append(digest[:16])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    args = parser.parse_args(argv)
    for line in frame_hashes(args.video):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
