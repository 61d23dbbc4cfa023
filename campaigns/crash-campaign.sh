#!/usr/bin/env bash
# The long crash campaign (design §3 durability): every writable format killed at ROUNDS host
# writes (default 1000; half of them with the fatal write torn at a sector boundary), a differencing
# child of each format over a patterned parent killed at ROUNDS/2 writes, plus HALTS
# real halts of a child JVM, each followed by a read-write reopen, the flushed-data check and
# qemu-img check/compare. Prints the figures per format.
# Usage: campaigns/crash-campaign.sh [ROUNDS [HALTS [SEED [FORMATS]]]]   (FORMATS: e.g. vdi,qcow2; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1000}
halts=${2:-20}
seed=${3:-1}
formats=${4:-}
start=$(date +%s)
status=0
mvn -B -q -ntp -o -pl vdlib test -Dtest='CrashCampaignTest' -Dsurefire.failIfNoSpecifiedTests=false \
    -Dvdmount.crash.points="$rounds" -Dvdmount.crash.diffPoints="$((rounds / 2))" \
    -Dvdmount.crash.halts="$halts" -Dvdmount.crash.seed="$seed" \
    -Dvdmount.crash.formats="$formats" || status=$?
grep -ho 'crash campaign [^<]*' vdlib/target/surefire-reports/TEST-org.vdmount.vd.crash.CrashCampaignTest.xml \
    | sed 's/^crash campaign //' || true
grep -h -A1 '<failure' vdlib/target/surefire-reports/TEST-org.vdmount.vd.crash.CrashCampaignTest.xml | head -20 || true
echo "crash campaign: $(( $(date +%s) - start )) s, exit $status"
exit $status
