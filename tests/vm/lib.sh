# shellcheck shell=bash
# tests/vm/lib.sh: boot throwaway QEMU guests for ferry's tests and benchmarks.
#
#   . tests/vm/lib.sh
#   vm_require_qemu                 # exit 77 (skip) when qemu-system-x86_64 cannot start at all
#   vm_build                        # tests/vm/mkguest.sh into $VM_OUT (cached)
#   trap vm_cleanup EXIT
#   vm_start JOB.sh [ARG...]        # boot in the background; the guest runs `sh JOB.sh ARG...`
#   vm_wait_ready                   # guest printed "ferry-vm: ready" (sets VM_BOOT_SECS)
#   ... talk to $VM_DIR/ferry.sock (guest: /dev/virtio-ports/org.ferry.0) ...
#   vm_wait_for 'REGEX' [SECS]      # a console line matches (extended regex)
#   vm_wait_exit [SECS]             # QEMU exited; returns the job's exit status
#   vm_console                      # the guest console so far (\r stripped)
#
# The guest (see guest-init.sh) loads the virtio/vsock modules, makes /dev/virtio-ports/<name>,
# mounts a tmpfs on /data (and /tmp), runs the job handed over through fw_cfg (opt/ferry/job) with
# stdout/stderr on the console, prints "ferry-vm: job exit N" and powers off, so QEMU exits.
#
# Environment (all optional):
#   VM_OUT          guest build dir                      [$FERRY_ROOT/build/vm/guest]
#   FERRY_VM_CACHE  downloaded .debs                     [$FERRY_ROOT/build/vm-cache]
#   VM_FERRYD       static ferryd for /bin/ferryd        [build/ferryd, else a stand-in script]
#   VM_FERRY        static ferry for /bin/ferry          [build/ferry.static when it exists]
#   VM_BINS         more static programs for /bin, space-separated; NAME.static becomes /bin/NAME
#                                                        [build/bench/probe.static when it exists]
#   VM_QGA=1        boot the qemu-guest-agent variant with a second port org.qemu.guest_agent.0
#                   on $VM_DIR/qga.sock (vm_build then builds that variant too)
#   VM_MEM          guest RAM in MiB                     [512]
#   VM_DATA_SIZE    size of the guest's /data tmpfs      [60%]
#   VM_ACCEL        QEMU accelerator                     [tcg; KVM here does not boot stock kernels]
#   VM_BOOT_TIMEOUT seconds vm_wait_ready waits          [30]
#   VM_DISK         a raw disk image, attached as virtio-blk (/dev/vda in the guest, whose /init then
#                   loads virtio_blk and ext4; the job mounts it). Not created here: for ext4,
#                   `truncate -s 2G IMG && mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 IMG`
#                   (a lazy init would zero inode tables in the guest's background while it runs)
#   VM_DISK_CACHE   QEMU cache mode of that disk         [none: O_DIRECT on the host, guest flushes
#                                                          reach the host's disk]
#   VM_APPEND       extra kernel command line words (e.g. psi=1)
#   VM_EXTRA_ARGS   extra QEMU arguments, word-split
#   VM_KEEP=1       vm_cleanup keeps $VM_DIR (it is also kept when the caller's status is non-zero)
# Set by vm_start: VM_DIR (run dir: ferry.sock, qga.sock, console.log, qemu.log, job.sh), VM_PID.

FERRY_ROOT=${FERRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_OUT=${VM_OUT:-$FERRY_ROOT/build/vm/guest}
FERRY_VM_CACHE=${FERRY_VM_CACHE:-$FERRY_ROOT/build/vm-cache}
export FERRY_VM_CACHE
VM_MEM=${VM_MEM:-512}
VM_DATA_SIZE=${VM_DATA_SIZE:-60%}
VM_ACCEL=${VM_ACCEL:-tcg}
VM_QGA=${VM_QGA:-0}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-30}
VM_DIR=${VM_DIR:-}
VM_PID=
VM_START_T=
VM_BOOT_SECS=

vm_log() { echo "vm: $*" >&2; }

# vm_now: seconds since the epoch with microseconds (bash 5's EPOCHREALTIME).
vm_now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
vm_elapsed() { awk -v a="$1" -v b="$(vm_now)" 'BEGIN { printf "%.2f", b - a }'; }

vm_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# Skip (exit 77) when QEMU is missing or cannot start a machine at all.
vm_require_qemu() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		vm_skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
	local err
	if ! err=$(echo quit | timeout 20 qemu-system-x86_64 -nodefaults -display none \
		-machine none -accel "$VM_ACCEL" -monitor stdio 2>&1 >/dev/null); then
		vm_skip "qemu-system-x86_64 -accel $VM_ACCEL cannot start: ${err:-timed out}"
	fi
}

# Build (or reuse) the guest in $VM_OUT.
vm_build() {
	local ferryd=${VM_FERRYD:-} ferry=${VM_FERRY:-} qga=()
	if [[ -z "$ferryd" ]]; then
		if [[ -x "$FERRY_ROOT/build/ferryd" ]]; then
			ferryd=$FERRY_ROOT/build/ferryd
		else
			# Stand-in until ferryd exists; its content is fixed so the cache stays valid.
			mkdir -p "$VM_OUT"
			ferryd=$VM_OUT/ferryd.standin
			printf '#!/bin/sh\necho "ferryd: stand-in (build/ferryd was not built)" >&2\nexit 1\n' \
				>"$ferryd"
		fi
	fi
	if [[ -z "$ferry" && -x "$FERRY_ROOT/build/ferry.static" ]]; then
		ferry=$FERRY_ROOT/build/ferry.static
	fi
	[[ "$VM_QGA" == 1 ]] && qga=(--qga)
	local bins=${VM_BINS-} b extra=()
	if [[ -z "${VM_BINS+x}" && -x "$FERRY_ROOT/build/bench/probe.static" ]]; then
		bins=$FERRY_ROOT/build/bench/probe.static
	fi
	for b in $bins; do extra+=(--bin "$b"); done
	"$VM_LIB_DIR/mkguest.sh" "${qga[@]}" ${extra[@]+"${extra[@]}"} "$VM_OUT" "$ferryd" ${ferry:+"$ferry"}
}

# Quote for the guest's sh: 'a'\''b'
vm_shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# vm_start JOB.sh [ARG...]: boot in the background. The job runs as `sh JOB.sh ARG...`.
vm_start() {
	local job=$1 a initrd nports=1 kernel=${VM_KERNEL:-$VM_OUT/kernel}
	shift
	[[ -f "$job" ]] || { vm_log "no job script: $job"; return 1; }
	[[ -e "$kernel" && -f "$VM_OUT/initrd.img" ]] || { vm_log "no guest in $VM_OUT: vm_build first"; return 1; }
	if [[ -z "$VM_DIR" ]]; then
		mkdir -p "$FERRY_ROOT/build/vm"
		VM_DIR=$(mktemp -d "$FERRY_ROOT/build/vm/run.XXXXXX")
	fi
	mkdir -p "$VM_DIR"
	rm -f "$VM_DIR/ferry.sock" "$VM_DIR/qga.sock" "$VM_DIR/console.log"
	{
		printf 'set --'
		for a in "$@"; do printf ' %s' "$(vm_shquote "$a")"; done
		printf '\ncd /data\n'
		cat "$job"
	} >"$VM_DIR/job.sh"

	# shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
	local args=(
		-nodefaults -display none -no-reboot
		-accel "$VM_ACCEL" -m "$VM_MEM"
		-kernel "$kernel"
		-serial "file:$VM_DIR/console.log"
		-fw_cfg "name=opt/ferry/job,file=$VM_DIR/job.sh"
		-device virtio-serial-pci,id=vser0
		-chardev "socket,id=ferry0,path=$VM_DIR/ferry.sock,server=on,wait=off"
		-device virtserialport,bus=vser0.0,chardev=ferry0,name=org.ferry.0
	)
	initrd=$VM_OUT/initrd.img
	if [[ "$VM_QGA" == 1 ]]; then
		initrd=$VM_OUT/initrd-qga.img
		[[ -f "$initrd" ]] || { vm_log "no $initrd: VM_QGA=1 vm_build first"; return 1; }
		# shellcheck disable=SC2054
		args+=(
			-chardev "socket,id=qga0,path=$VM_DIR/qga.sock,server=on,wait=off"
			-device virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0
		)
		nports=2
	fi
	local append="console=ttyS0 quiet panic=-1 no_timer_check ferry.ports=$nports ferry.data=$VM_DATA_SIZE"
	if [[ -n "${VM_DISK:-}" ]]; then
		[[ -f "$VM_DISK" ]] || { vm_log "VM_DISK: no such file: $VM_DISK"; return 1; }
		# shellcheck disable=SC2054
		args+=(
			-drive "file=$VM_DISK,if=none,format=raw,id=d0,cache=${VM_DISK_CACHE:-none}"
			-device virtio-blk-pci,drive=d0
		)
		append+=" ferry.disk=1"
	fi
	[[ -z "${VM_APPEND:-}" ]] || append+=" $VM_APPEND"
	args+=(-initrd "$initrd" -append "$append")
	# shellcheck disable=SC2206 # word splitting is the point
	[[ -z "${VM_EXTRA_ARGS:-}" ]] || args+=($VM_EXTRA_ARGS)

	VM_START_T=$(vm_now)
	qemu-system-x86_64 "${args[@]}" </dev/null >"$VM_DIR/qemu.log" 2>&1 &
	VM_PID=$!
	echo "$VM_PID" >"$VM_DIR/qemu.pid"
}

vm_running() { [[ -n "$VM_PID" ]] && kill -0 "$VM_PID" 2>/dev/null; }

vm_console() { [[ -f "$VM_DIR/console.log" ]] && tr -d '\r' <"$VM_DIR/console.log"; }

vm_dump() {
	{
		echo "--- guest console ($VM_DIR/console.log), last lines ---"
		vm_console | tail -n 30
		if [[ -s "$VM_DIR/qemu.log" ]]; then
			echo "--- qemu ---"
			tail -n 10 "$VM_DIR/qemu.log"
		fi
		echo "---"
	} >&2
}

# vm_wait_for REGEX [SECS]: wait until a console line matches. Fails early when the guest died.
vm_wait_for() {
	local re=$1 secs=${2:-30} t0
	t0=$(vm_now)
	while :; do
		if vm_console | grep -qE -- "$re"; then return 0; fi
		if vm_console | grep -qE -- '^ferry-vm: FATAL|Kernel panic'; then
			vm_log "guest failed while waiting for /$re/"
			vm_dump
			return 1
		fi
		if ! vm_running; then
			vm_console | grep -qE -- "$re" && return 0
			vm_log "QEMU exited while waiting for /$re/"
			vm_dump
			return 1
		fi
		if awk -v e="$(vm_elapsed "$t0")" -v s="$secs" 'BEGIN { exit !(e >= s) }'; then
			vm_log "timed out after ${secs}s waiting for /$re/"
			vm_dump
			return 1
		fi
		sleep 0.02
	done
}

vm_wait_ready() {
	vm_wait_for '^ferry-vm: ready' "${1:-$VM_BOOT_TIMEOUT}" || return 1
	VM_BOOT_SECS=$(vm_elapsed "$VM_START_T")
}

# vm_wait_exit [SECS]: wait for QEMU to exit (the job ended and the guest powered off);
# return the job's exit status, or 124 on timeout, 125 when the guest never reported one.
vm_wait_exit() {
	local secs=${1:-60} t0 rc
	t0=$(vm_now)
	while vm_running; do
		if awk -v e="$(vm_elapsed "$t0")" -v s="$secs" 'BEGIN { exit !(e >= s) }'; then
			vm_log "timed out after ${secs}s waiting for the guest to power off"
			vm_dump
			vm_stop
			return 124
		fi
		sleep 0.05
	done
	wait "$VM_PID" 2>/dev/null || true
	VM_PID=
	rc=$(vm_console | sed -n 's/^ferry-vm: job exit \([0-9]*\)$/\1/p' | tail -n 1)
	if [[ -z "$rc" ]]; then
		vm_log "guest stopped without reporting a job exit status"
		vm_dump
		return 125
	fi
	return "$rc"
}

# vm_stop: kill QEMU if it still runs (TERM, then KILL after 3 s).
vm_stop() {
	local _
	if vm_running; then
		kill -TERM "$VM_PID" 2>/dev/null || true
		for _ in $(seq 60); do
			vm_running || break
			sleep 0.05
		done
		if vm_running; then kill -KILL "$VM_PID" 2>/dev/null || true; fi
	fi
	[[ -z "$VM_PID" ]] || wait "$VM_PID" 2>/dev/null || true
	VM_PID=
}

# vm_cleanup [STATUS]: for `trap vm_cleanup EXIT`. Stops QEMU; removes $VM_DIR unless VM_KEEP=1
# or the status ($? of the trap by default) is non-zero, in which case it says where it is.
vm_cleanup() {
	local rc=${1:-$?}
	vm_stop
	if [[ -n "$VM_DIR" && -d "$VM_DIR" ]]; then
		if [[ "${VM_KEEP:-0}" == 1 || ("$rc" != 0 && "$rc" != 77) ]]; then
			vm_log "kept $VM_DIR"
		else
			rm -rf "$VM_DIR"
		fi
	fi
	return "$rc"
}

# vm_probe_kernel OUTDIR NAME: does OUTDIR/NAME boot to "ready"? (mkguest.sh's PVH check)
vm_probe_kernel() {
	(
		VM_OUT=$1 VM_KERNEL=$1/$2 VM_QGA=0 VM_DISK='' VM_PID=
		VM_DIR=$(mktemp -d "$1/.probe.XXXXXX")
		trap 'vm_stop; cp "$VM_DIR/console.log" "$VM_OUT/probe-'"$2"'.log" 2>/dev/null; rm -rf "$VM_DIR"' EXIT
		echo 'exit 0' >"$VM_DIR/probe.sh"
		vm_start "$VM_DIR/probe.sh" && vm_wait_ready 40 2>/dev/null && vm_wait_exit 20 &&
			vm_log "probe: $2 boots in ${VM_BOOT_SECS}s"
	)
}
