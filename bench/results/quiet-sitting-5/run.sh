#!/bin/bash
# quiet sitting: before=/tmp/base-start, after=/tmp/after (git archive of final main)
set -u
OUT=${OUT:-/tmp/sit/out}; mkdir -p $OUT
PY=/work/main/.venv/bin/python
sim() { # tree tag n
  (cd $1 && PYTHONPATH=$1 $PY -m bench.simbench --vouchers $3 --floor-seconds 3 > $OUT/sim-$2.json 2> $OUT/sim-$2.txt)
  echo "$(date +%T) load $(cut -d' ' -f1 /proc/loadavg) $2: $(tail -c 600 $OUT/sim-$2.json | tr -d '\n' | head -c 400)" >> $OUT/log
}
for i in 1 2 3; do
  if [ $((i % 2)) = 1 ]; then sim /tmp/base-start before-$i 10000; sim /tmp/after after-$i 10000;
  else sim /tmp/after after-$i 10000; sim /tmp/base-start before-$i 10000; fi
done
sim /tmp/base-start before-30k 30000; sim /tmp/after after-30k 30000
sim /tmp/after after-1k 1000
sim /tmp/base-start before-100k 100000
sim /tmp/after after-100k 100000
(cd /tmp/after && PYTHONPATH=/tmp/after /work/main/.venv/bin/tgw bench --latency --rate 0.3x,0.45x --workers 0 --seconds 10 --repeat 3 --compare-src /tmp/base-start -o $OUT/latency.json > $OUT/latency.txt 2>&1)
echo "$(date +%T) done" >> $OUT/log
