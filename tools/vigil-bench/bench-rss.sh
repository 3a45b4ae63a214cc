#!/usr/bin/env bash
# bench-rss.sh PID[,PID...] CMD... - a server's memory while CMD runs: CMD
# is a vigil-bench run printing one JSON object (download, for `make
# bench`'s memory row). Before CMD, each PID's peak resident set (VmHWM) is
# reset (`echo 5 > /proc/PID/clear_refs`, Linux >= 4.0, our own processes)
# and its VmRSS read: the idle figure. While CMD runs, the VmRSS of the
# PIDs is summed every 50 ms; after it, their VmHWM are summed. Prints
# CMD's JSON object with these members added, in KiB:
#   rss_idle_kib    the PIDs' VmRSS before CMD
#   rss_peak_kib    the larger of the largest sampled sum and the sum of the
#                   VmHWM after CMD (with one PID: its peak between any two
#                   samples too)
#   rss_growth_kib  rss_peak_kib - rss_idle_kib
#   rss_samples     how many samples were taken; rss_hwm_reset: whether
#                   every peak could be reset (if not, a peak from before
#                   CMD may be counted: the figures say so)
# and exits with CMD's status (2 on bad usage or a PID that is gone).
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: bench-rss.sh PID[,PID...] CMD..." >&2; exit 2; }
exec python3 - "$@" <<'PY'
import json, subprocess, sys, time

pids = [p for p in sys.argv[1].split(",") if p]
cmd = sys.argv[2:]

def status(pid, field):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    return 0

def total(field):
    return sum(status(p, field) for p in pids)

try:
    reset = True
    for p in pids:
        try:
            with open("/proc/%s/clear_refs" % p, "w") as f:
                f.write("5")
        except OSError:
            reset = False
    idle = total("VmRSS")
except (OSError, ValueError):
    print("bench-rss.sh: no such process among %s" % ",".join(pids), file=sys.stderr)
    sys.exit(2)

run = subprocess.Popen(cmd, stdout=subprocess.PIPE)
peak, samples = idle, 0
while run.poll() is None:
    try:
        peak = max(peak, total("VmRSS"))
        samples += 1
    except (OSError, ValueError):  # a server gone: CMD will say what it saw
        break
    time.sleep(0.05)
out = run.communicate()[0].decode()
try:
    peak = max(peak, total("VmHWM"))
except (OSError, ValueError):
    pass
try:
    result = json.loads(out)
except ValueError:
    sys.stdout.write(out)
    sys.exit(run.returncode)
result.update(rss_idle_kib=idle, rss_peak_kib=peak, rss_growth_kib=peak - idle,
              rss_samples=samples, rss_hwm_reset=reset)
print(json.dumps(result))
sys.exit(run.returncode)
PY
