#!/usr/bin/env bash
# fuzz.sh PKG TARGET FUZZTIME: fuzz one target for FUZZTIME.
#
# Go 1.26's fuzz coordinator can end a clean run with a bare "context
# deadline exceeded" when -fuzztime expires while a worker is busy
# (golang/go#75804, fixed in Go 1.27). That is not a finding: a finding
# always writes its input under testdata/fuzz. So such a run passes once the
# target's corpus replays clean; anything else fails, and prints what the
# fuzz worker processes wrote (Go itself discards it).
set -uo pipefail
pkg=$1 target=$2 fuzztime=$3
go=${GO:-go}
log=$(mktemp)
export CSPSYNC_FUZZ_LOG_DIR
CSPSYNC_FUZZ_LOG_DIR=$(mktemp -d)
trap 'rm -rf "$log" "$CSPSYNC_FUZZ_LOG_DIR"' EXIT

echo "fuzzing $target in $pkg for $fuzztime"
if "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
  exit 0
fi
if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
  echo "fuzz.sh: $target ended with Go's fuzz-deadline race (golang/go#75804), no input written; replaying its corpus"
  exec "$go" test -count=1 -run "^${target}\$" "$pkg"
fi
for w in "$CSPSYNC_FUZZ_LOG_DIR"/worker-*.log; do
  [ -s "$w" ] || continue
  echo "fuzz.sh: output of fuzz worker $(basename "$w" .log):"
  tail -n 60 "$w"
done
exit 1
