#!/usr/bin/env bash
# Smoke-test a built FlowChroma Studio bundle (packaging/flowchroma.spec):
#   1. flowchroma-gui --smoke-test VIDEO, offscreen: the window opens the film, shows its
#      first frame and a colorized preview, prints "smoke test passed" and exits 0;
#   2. flowchroma info VIDEO;
#   3. flowchroma colorize VIDEO -o OUT.mkv --end 8, and OUT.mkv is a readable film.
#
# usage: packaging/smoke_test.sh [BUNDLE] [VIDEO]
#   BUNDLE  the built folder (default: dist/flowchroma-studio)
#   VIDEO   the film to use; without one a 2-second grey test video is made, with ffmpeg
#           if it is on PATH, else with PyAV from $PYTHON (default: python3, so run this
#           with the build venv active)
# environment:
#   SMOKE_TIMEOUT=600   seconds each step may take
#   SMOKE_SKIP_GUI=1    skip step 1 (a build whose app has no --smoke-test option)
#
# The test never touches the user's settings, logs or caches, and runs with the hub
# offline and an empty backbone cache, so it proves the bundle carries its own weights.
set -euo pipefail

bundle=${1:-dist/flowchroma-studio}
video=${2:-}
python=${PYTHON:-python3}
limit=${SMOKE_TIMEOUT:-600}

die() {
    echo "smoke test FAILED: $*" >&2
    exit 1
}
step() { echo "==> $*"; }

[[ -d $bundle ]] || die "no bundle folder $bundle (build it: pyinstaller packaging/flowchroma.spec)"
for exe in flowchroma-gui flowchroma; do
    [[ -x $bundle/$exe ]] || die "$bundle/$exe is missing or not executable"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowchroma-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache XDG_STATE_HOME=$tmp/state
export FLOWCHROMA_CACHE_DIR=$tmp/cache/flowchroma
export HF_HUB_OFFLINE=1

if [[ -z $video ]]; then
    video=$tmp/test.mp4
    if command -v ffmpeg >/dev/null; then
        step "making a test video with ffmpeg"
        ffmpeg -v error -f lavfi -i testsrc2=size=320x240:rate=24 -t 2 \
            -vf hue=s=0 -c:v mpeg4 -q:v 3 -pix_fmt yuv420p "$video"
    else
        step "making a test video with PyAV ($python)"
        "$python" - "$video" <<'EOF' || die "could not make a test video: install ffmpeg, or run with the build venv active (PyAV and numpy)"
import sys

import av
import numpy as np

y, x = np.mgrid[0:240, 0:320]
with av.open(sys.argv[1], "w") as out:
    stream = out.add_stream("mpeg4", rate=24)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    for i in range(48):
        grey = ((x + 4 * i) % 256 * 0.7 + y * 0.3).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(grey, format="gray")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
EOF
    fi
fi
[[ -f $video ]] || die "no video file $video"

run() {  # run NAME CMD...: time a step, keep its output, fail with its tail
    local name=$1 start=$SECONDS rc=0
    shift
    timeout "$limit" "$@" >"$tmp/$name.log" 2>&1 || rc=$?
    cat "$tmp/$name.log"
    if ((rc == 124)); then
        die "$name: no result within ${limit}s"
    elif ((rc != 0)); then
        die "$name: exit status $rc"
    fi
    echo "    ($name: $((SECONDS - start)) s)"
}

if [[ ${SMOKE_SKIP_GUI:-0} == 1 ]]; then
    step "GUI skipped (SMOKE_SKIP_GUI=1)"
else
    step "flowchroma-gui --smoke-test $video (offscreen)"
    QT_QPA_PLATFORM=offscreen run gui "$bundle/flowchroma-gui" --smoke-test "$video"
    grep -q '^smoke test passed' "$tmp/gui.log" || die "gui: exit 0 but no 'smoke test passed' line"
fi

step "flowchroma info $video"
run info "$bundle/flowchroma" info "$video"

step "flowchroma colorize $video --end 8"
run colorize "$bundle/flowchroma" colorize "$video" -o "$tmp/out.mkv" --end 8 --quiet
[[ -s $tmp/out.mkv ]] || die "colorize: exit 0 but $tmp/out.mkv is missing or empty"
run output "$bundle/flowchroma" info "$tmp/out.mkv"

echo "smoke test passed: $bundle"
