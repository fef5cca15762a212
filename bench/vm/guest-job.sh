# shellcheck shell=sh
# guest-job.sh: guest half of bench/vm/raw-and-qga.sh (runs under tests/vm/lib.sh).
#  1. qemu-ga on org.qemu.guest_agent.0 when that port exists (VM_QGA=1 guest).
#  2. tests/vm/jobs/ferryd-serve.sh, appended by the host, with `--max-chunk 4M --chunk-size 4M`
#     (so the host's --chunk-size decides in both directions). The host drives everything through
#     its commands (vmf_ctl in tests/vm/ferry-lib.sh): "cpu" around each ferry transfer, and
#     "raw in|out" for the raw port's rounds, which stop ferryd while dd owns the port.
QGA=/dev/virtio-ports/org.qemu.guest_agent.0

if [ -e "$QGA" ]; then
	qemu-ga -m virtio-serial -p "$QGA" -f /tmp/qga.pid -t /tmp &
fi
set -- --max-chunk 4M --chunk-size 4M
# ... tests/vm/jobs/ferryd-serve.sh follows (appended by raw-and-qga.sh).
