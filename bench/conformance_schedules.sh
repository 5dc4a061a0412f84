#!/usr/bin/env bash
# The example SDK bank (examples/sdk_bank.py) against the whole scenario catalogue in conformance
# mode, once per schedule: each schedule is inside the rules (first filing before the 16:00
# cutoff, replenishment in the central bank's 08:30-12:00 window, the overnight queue paid by
# 10:00), so each must pass with 0 failures: the catalogue tests the rules, not one bank's habits.
# One gateway and one bank per schedule (--shared-gateway: the runner resets the gateway before each
# scenario); tests/test_conformance.py runs the clock-edge scenarios with the same three schedules.
#
#   bench/conformance_schedules.sh                 # all three schedules, the whole catalogue
#   SCENARIOS="scenarios/edge-1529-in-the-days-clearing.yaml" bench/conformance_schedules.sh
#   WORLD_FLAGS="--division 990100 --division 990200" bench/conformance_schedules.sh  # a world of two divisions
#
# Exit 0 when every schedule passed every scenario it ran, 1 otherwise. The summary lists, per
# schedule, the scenarios run, failed, in error and skipped whole (with the reasons).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-conformance-schedules-out}
BANK_ID=bank-a BANK_CODE=999100000001
CLOCK_START=2025-12-01T00:00:00+08:00  # before every scenario's start (the year-end ones start 2025-12-30)
SCENARIOS=${SCENARIOS:-$(ls scenarios/*.yaml)}
SCHEDULES=${SCHEDULES:-"--filing 15:30 --replenish 08:30 --open 08:00;--filing 15:45 --replenish 09:45 --open 09:55;--filing 15:55 --replenish 08:45 --open 09:00"}

rm -rf "$OUT" && mkdir -p "$OUT"
# shellcheck disable=SC2086  # WORLD_FLAGS is a list of flags
tgw scenario world "$OUT/world" ${WORLD_FLAGS:-} >/dev/null
status=0
IFS=';' read -r -a schedules <<<"$SCHEDULES"
for i in "${!schedules[@]}"; do
  flags=${schedules[$i]}
  dir="$OUT/schedule-$i" && mkdir -p "$dir/reports"
  echo "$flags" >"$dir/flags"
  # one gateway and one bank for the whole catalogue: the runner resets the gateway before each
  # scenario (--shared-gateway) and the bank starts over on the new epoch
  mkfifo "$dir/ready"
  tgw up --participants "$OUT/world/participants.yaml" --certs "$OUT/world/keys" --db "$dir/gateway.db" \
    --http 127.0.0.1:0 --clock simulated --clock-start "$CLOCK_START" --ready-file "$dir/ready" \
    --log-level WARNING >"$dir/gateway.log" 2>&1 &
  gateway=$!
  url=$(timeout 60 cat "$dir/ready")
  # shellcheck disable=SC2086  # the schedule's flags are words
  python3 examples/sdk_bank.py --url "$url" --id "$BANK_ID" --bank-code "$BANK_CODE" \
    --key "$OUT/world/keys/$BANK_ID.key" --cert "$OUT/world/keys/$BANK_ID.pem" \
    --secrets "$OUT/world/secrets.json" --accounts "$OUT/world/accounts.yaml" $flags >"$dir/bank.log" 2>&1 &
  bank=$!
  # shellcheck disable=SC2086  # SCENARIOS is a list of files
  tgw scenario run $SCENARIOS --external "$BANK_ID" --url "$url" --world "$OUT/world" --shared-gateway --quiet \
    --junit "$dir/reports/junit-all.xml" || status=1
  kill "$bank" "$gateway" 2>/dev/null || true
  wait "$bank" "$gateway" 2>/dev/null || true
done

python3 - "$OUT" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
for d in sorted(pathlib.Path(sys.argv[1]).glob("schedule-*")):
    ran = failed = errors = 0
    skipped, bad = [], []
    for f in sorted((d / "reports").glob("junit-*.xml")):
        for suite in ET.parse(f).getroot().iter("testsuite"):
            ran += 1
            failed += int(suite.get("failures") or 0) > 0
            errors += int(suite.get("errors") or 0) > 0
            name = suite.get("name") or f.stem.removeprefix("junit-")
            if int(suite.get("failures") or 0) or int(suite.get("errors") or 0):
                bad.append(name)
            cases = list(suite.iter("testcase"))
            if cases and all(c.find("skipped") is not None for c in cases) and len(cases) == 1:
                skipped.append((name, (cases[0].find("skipped").get("message") or "")[:300]))
    print(f"{d.name} [{(d / 'flags').read_text().strip()}]: {ran} scenarios, {failed} failed, {errors} in error, "
          f"{len(skipped)} skipped whole" + (f"; failed or in error: {', '.join(bad)}" if bad else ""))
    for name, why in skipped:
        print(f"    skipped {name}: {why}")
PY
exit $status
