#!/usr/bin/env bash
# The long fuzzing campaign: every parser fuzz target (Jazzer @FuzzTest) fuzzed in its own JVM,
# ROUNDS times (default 6) for its maxDuration (10 s, set on the annotations; CI's ./test fuzzes
# each target one round through the Maven profile "fuzz"). Each round starts from the corpus the
# rounds before grew (.cifuzz-corpus), so 6 rounds are one 60 s campaign per target.
# A finding fails its run and Jazzer writes the input as crash-* into the target's
# src/test/resources/.../<Class>Inputs/<target>/ directory, where `mvn test` replays it from then
# on (a regression input): fix the parser and commit the input.
# Usage: [ROUNDS=N] campaigns/fuzz.sh [TARGET_FILTER]   (e.g. "qcow2" or "PartitionFuzzTest")
set -uo pipefail
cd "$(dirname "$0")/.."
filter=${1:-}
rounds=${ROUNDS:-6}
targets=(
  "vdlib FormatFuzzTest vdi" "vdlib FormatFuzzTest vhd" "vdlib FormatFuzzTest vhdx"
  "vdlib FormatFuzzTest vmdkSparse" "vdlib FormatFuzzTest vmdkDescriptor" "vdlib FormatFuzzTest qcow2"
  "vdlib FormatFuzzTest qed" "vdlib FormatFuzzTest qcow" "vdlib FormatFuzzTest rawSplit"
  "vdlib FormatFuzzTest dmg" "vdlib FormatFuzzTest ewf" "vdlib FormatFuzzTest parallels"
  "vdlib FormatFuzzTest parallelsBundle" "vdlib FormatFuzzTest luks" "vdlib FormatFuzzTest chain" "vdlib CodecFuzzTest adc" "vdlib CodecFuzzTest lzfse"
  "partitions PartitionFuzzTest mbr" "partitions PartitionFuzzTest gpt" "partitions PartitionFuzzTest apm"
  "mount NbdFuzzTest connection")
logs=$(mktemp -d)
failed=0
for t in "${targets[@]}"; do
  read -r module class method <<<"$t"
  [[ -n $filter && $t != *"$filter"* ]] && continue
  log="$logs/$class-$method.log"
  : >"$log"
  rc=0 total=0
  for ((r = 1; r <= rounds && rc == 0; r++)); do
    # -am: mount needs the reactor's vd and partitions (never installed); they have no such test
    JAZZER_FUZZ=1 mvn -B -q -ntp -o -pl "$module" -am test -Dtest="$class#$method" \
        -Dsurefire.failIfNoSpecifiedTests=false -Dsurefire.useFile=false >>"$log" 2>&1
    rc=$?
    n=$(grep -ho 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*')
    total=$((total + ${n:-0}))
  done
  runs="$total runs in $((r - 1)) rounds"
  cov=$(grep -ho 'DONE *cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  if [[ $rc -ne 0 ]]; then
    failed=1
    echo "$class#$method: FINDING or failure (exit $rc), ${runs:-no stats}; log $log"
    grep -h -m3 'Exception\|Error\|finding' "$log" | head -3
  else
    echo "$class#$method: ${runs:-no stats} (coverage ${cov:-?} edges)"
  fi
done
rm -rf vdlib/.cifuzz-corpus partitions/.cifuzz-corpus mount/.cifuzz-corpus
exit $failed
