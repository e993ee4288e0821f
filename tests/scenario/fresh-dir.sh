#!/usr/bin/env bash
# fresh-dir.sh DIR COMMAND [ARGS...]: empties DIR (creates it), then runs
# COMMAND. For tests whose proxy options name a directory (--log-dir).
set -u
d=$1
shift
rm -rf -- "$d" && mkdir -p -- "$d" || exit 1
exec "$@"
