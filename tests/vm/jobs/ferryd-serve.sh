# shellcheck shell=sh
# ferryd-serve.sh [FERRYD_ARG...]: the guest half of the ferry VM tests, bench and demo.
#
# Runs `ferryd --listen serial:/dev/virtio-ports/org.ferry.0 --root /data FERRYD_ARG...` (its log
# in /tmp/ferryd.log, printed as "ferryd.log: ..." at the end) and prints "job: ferryd listening"
# once it waits for hosts. Then it obeys commands the host sends through ferry itself: a pushed
# file /data/.ctl.N whose first line is "VERB ARG...". Command N's output goes to the console as
# lines "@N ...", closed by "@N end RC" (host side: vmf_ctl in tests/vm/ferry-lib.sh).
#   ls DIR...            `ls -la` of each DIR (ferryd's temporary files are .ferry-*.tmp)
#   sums FILE...         sha256sum of each FILE (relative to /data)
#   cpu                  ferryd's CPU ticks and I/O syscall counts (see below)
#   runtime              "runtime MINFLT NS": ferryd's minor page faults and its threads' CPU ns
#   restart ARG...       restart ferryd with the job's FERRYD_ARGs and these ARGs (e.g. --no-io-uring)
#   use PROG ARG...      restart with /bin/PROG and these ARGs (after the job's) from now on: another
#                        build or other options, for A/B benchmarks (lib.sh's VM_BINS adds programs)
#   strace on DIR|off    on: `strace -c -f -p` ferryd, with a strace pushed into /data/DIR with
#                        its shared libraries and loader (DIR/ld.so); off: stop it, print its table
#   perf on DIR|off      on: `perf record -a -g` of the whole guest, with a perf pushed into
#                        /data/DIR as for strace; perf off [COMM]: stop it, print `perf report`
#                        by command, then COMM's (ferryd's) by symbol (the guest kernel's own)
#   tmpfs DIR SIZE       mount a SIZE tmpfs on /data/DIR (a small, fillable destination)
#   log                  ferryd's log so far
#   port                 the port's debugfs state (bytes_received/sent/discarded, host_connected)
#   raw in|out FILE N [hash]
#                        the raw port, no ferry, for a same-run baseline: ferryd stops, then
#                        `dd bs=1M` copies N bytes from the port to /data/FILE (in; answers "ok" on
#                        the port) or from /data/FILE to the port (out), and ferryd starts again.
#                        hash: bench/hashcopy (/bin/hashcopy) instead of dd, the same blocks with
#                        ferry's chunk digest of each (the floor of a copy that verifies).
#                        The host drives the other end (tests/vm/portio.py send / recv --linger 0)
#                        once the console says "raw: ready N" (N: the command). Prints
#                        "raw UTIME STIME BUSY IDLE" (dd's clock ticks, the guest's busy and idle
#                        ticks over the copy) and, for in, "sha256 HEX".
#   stop                 end: ferryd gets SIGTERM, its log is printed, the guest powers off
# `cpu` prints "cpu UTIME STIME SYSCR SYSCW RCHAR WCHAR BUSY IDLE VCSW NVCSW": ferryd's user/system
# time in clock ticks (USER_HZ, 100/s), its read/write syscalls and bytes (/proc/PID/io), the whole
# guest's busy and idle ticks (/proc/stat), and the voluntary/involuntary context switches of
# ferryd's live threads. Differences between two calls describe a transfer.
# The job ends by itself after JOB_SECS (600) without a stop, or when ferryd dies.
P=/dev/virtio-ports/org.ferry.0
base_args="$*"
prog=ferryd
prog_args=
exec 4>&1 # the console, for lines a command prints while it runs (its output is collected)
# nap SECS: sleep without a fork (a read that times out on a FIFO nobody writes). The command loop
# polls all the time, also while a transfer runs: a forked usleep 50 times a second took a quarter
# of the single vCPU from ferryd (perf in bench/vm), and none from a raw copy, which runs inside a
# command while the loop waits for it.
mkfifo /tmp/nap
exec 6<>/tmp/nap
# shellcheck disable=SC3045 # busybox ash has read -t
nap() { read -r -t "$1" _ <&6; }

# start_ferryd ARG...: ferryd with the job's arguments and ARGs; waits until it listens.
start_ferryd() {
	before=$(grep -c 'listening on' /tmp/ferryd.log 2>/dev/null)
	# shellcheck disable=SC2086 # base_args: the job's words
	# shellcheck disable=SC2086 # prog_args: words
	"$prog" --listen "serial:$P" --root /data $base_args $prog_args "$@" 2>>/tmp/ferryd.log &
	pid=$!
	i=0
	while [ "$(grep -c 'listening on' /tmp/ferryd.log)" = "${before:-0}" ]; do
		kill -0 "$pid" 2>/dev/null || { echo "job: ferryd died"; return 1; }
		i=$((i + 1))
		[ "$i" -gt 500 ] && { echo "job: ferryd does not listen after 10 s"; return 1; }
		nap 0.02
	done
	echo "job: ferryd listening (pid $pid)"
}
start_ferryd || { sed 's/^/ferryd.log: /' /tmp/ferryd.log; exit 1; }

# host_connected: hc=1 or 0, from the port's debugfs state; no fork (it runs in polling loops).
port_dbg=/sys/kernel/debug/virtio-ports/$(basename "$(readlink -f "$P")")
host_connected() {
	hc=
	while read -r k v; do
		[ "$k" = host_connected: ] && hc=$v
	done <"$port_dbg"
	[ -n "$hc" ]
}

# guest_ticks: the whole guest's busy and idle ticks so far (/proc/stat "cpu": user nice system
# idle iowait irq softirq).
guest_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat
}

# raw in|out FILE N: see the header.  dd is this shell's only child between the two readings of
# its children's times (ferryd was waited for before), so their difference is dd's CPU.
# host_gone: wait (10 s at most) until the host that delivered this command has gone. The command
# file appears before ferryd sends that host its verdict: stopping ferryd sooner fails the push.
host_gone() {
	i=0
	while host_connected && [ "$hc" != 0 ]; do
		i=$((i + 1))
		[ "$i" -gt 1000 ] && { echo "the command's host stays connected"; return 1; }
		nap 0.01
	done
}

raw() {
	# The host connects again only after "raw: ready", so nothing of the command's session can
	# land in the raw stream.
	host_gone || return 1
	kill "$pid" && wait "$pid"
	exec 3<>"$P"
	echo "raw: ready $n" >&4
	i=0
	# (A write while no host is connected waits for one; a read returns EOF at once.)
	while [ "$1" = in ] && host_connected && [ "$hc" != 1 ]; do
		i=$((i + 1))
		[ "$i" -gt 3000 ] && { echo "raw: no host within 30 s"; return 1; }
		nap 0.01
	done
	c0="$(cut -d' ' -f16,17 /proc/$$/stat) $(guest_ticks)"
	if [ "$1" = in ] && [ "${4:-}" = hash ]; then
		hashcopy - "/data/$2" "$3" <&3 2>/dev/null
	elif [ "$1" = in ]; then
		dd bs=1M iflag=count_bytes,fullblock count="$3" of="/data/$2" <&3 2>/dev/null
	elif [ "${4:-}" = hash ]; then
		hashcopy "/data/$2" - >&3 2>/dev/null
	else
		dd bs=1M if="/data/$2" >&3 2>/dev/null
	fi
	c1="$(cut -d' ' -f16,17 /proc/$$/stat) $(guest_ticks)"
	[ "$1" = in ] && echo ok >&3
	# Close only once the host has what we wrote: it acks (or closes, and the read sees EOF).
	dd bs=1 count=1 <&3 >/dev/null 2>&1
	exec 3<&-
	echo "$c0 $c1" | awk '{ print "raw", $5 - $1, $6 - $2, $7 - $3, $8 - $4 }'
	[ "$1" = in ] && echo "sha256 $(sha256sum <"/data/$2" | cut -d' ' -f1)"
	start_ferryd
}

ctl() { # N VERB ARG...
	n=$1 verb=$2
	shift 2
	case "$verb" in
	ls) for d in "$@"; do ls -la "/data/$d"; done ;;
	sums) for f in "$@"; do sha256sum "/data/$f"; done ;;
	rm) for f in "$@"; do rm -f "/data/$f"; done ;;
	cpu)
		# shellcheck disable=SC2046 # the numbers, one word each
		set -- $(cut -d' ' -f14,15 "/proc/$pid/stat") \
			$(sed -n 's/^\(syscr\|syscw\|rchar\|wchar\): //p' "/proc/$pid/io" | tr '\n' ' ')
		# /proc/PID/io lists rchar wchar syscr syscw: print them as syscr syscw rchar wchar.
		# /proc/stat "cpu": user nice system idle iowait irq softirq ...
		echo "cpu $1 $2 $5 $6 $3 $4 $(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)" \
			"$(cat /proc/"$pid"/task/*/status | awk '/^voluntary_ctxt/ { v += $2 } /^nonvoluntary_ctxt/ { n += $2 } END { print v, n }')"
		;;
	runtime)
		# ferryd's minor page faults (/proc/PID/stat) and its threads' CPU time in ns (schedstat:
		# the scheduler's own clock, where /proc/PID/stat counts 10 ms ticks)
		echo "runtime $(cut -d' ' -f10 "/proc/$pid/stat") $(cat /proc/"$pid"/task/*/schedstat | awk '{ t += $1 } END { printf "%d", t }')"
		;;
	restart)
		kill "$pid" && wait "$pid"
		start_ferryd "$@"
		;;
	use)
		command -v "$1" >/dev/null || { echo "no program $1 in the guest"; return 1; }
		host_gone || return 1
		kill "$pid" && wait "$pid"
		prog=$1
		shift
		prog_args="$*"
		start_ferryd
		;;
	strace)
		if [ "$1" = on ]; then
			d=/data/$2
			chmod +x "$d/ld.so" "$d/strace"
			"$d/ld.so" --library-path "$d" "$d/strace" -c -f -p "$pid" -o /tmp/strace.out &
			strace_pid=$!
			sleep 1 # attached
		else
			kill -INT "$strace_pid" && wait "$strace_pid"
			cat /tmp/strace.out
		fi
		;;
	perf)
		if [ "$1" = on ]; then
			d=/data/$2
			perf_dir=$d
			chmod +x "$d/ld.so" "$d/perf"
			"$d/ld.so" --library-path "$d" "$d/perf" record -q -a -g -o /tmp/perf.data >/tmp/perf.log 2>&1 &
			perf_pid=$!
			sleep 1 # recording
		else
			kill -INT "$perf_pid" && wait "$perf_pid"
			rep() {
				"$perf_dir/ld.so" --library-path "$perf_dir" "$perf_dir/perf" report -i /tmp/perf.data \
					--stdio --no-children "$@" 2>/dev/null | grep -v '^#\|^$'
			}
			echo "by command, of all samples:"
			rep --sort comm -g none --percent-limit 0.5 | head -n 20
			echo "${2:-ferryd} by object, then by symbol, of its samples:"
			rep --comms "${2:-ferryd}" --percentage relative --sort dso -g none | head -n 8
			rep --comms "${2:-ferryd}" --percentage relative --sort dso,sym -g none --percent-limit 0.3 | head -n 80
			echo "${2:-ferryd}'s kernel symbols over 2%, by caller:"
			rep --comms "${2:-ferryd}" --percentage relative --sort sym --dsos '[kernel.kallsyms]' \
				-g caller,0.5,callee,function,percent --percent-limit 2 --max-stack 12 | head -n 150
		fi
		;;
	tmpfs) mkdir -p "/data/$1" && mount -t tmpfs -o "size=$2" "ferry-$1" "/data/$1" ;;
	log) cat /tmp/ferryd.log ;;
	port) cat "$port_dbg" ;;
	raw) raw "$@" ;;
	stop) stop=1 ;;
	*) echo "unknown command: $verb"; false ;;
	esac
}

stop=0
t=0
while [ "$stop" = 0 ] && [ "$t" -lt 30000 ]; do
	kill -0 "$pid" 2>/dev/null || { echo "job: ferryd exited"; break; }
	for f in /data/.ctl.*; do
		[ -f "$f" ] || continue
		n=${f##*.}
		cmd=$(head -n 1 "$f")
		rm -f "$f"
		# shellcheck disable=SC2086 # the command's words
		ctl "$n" $cmd >/tmp/ctl.out 2>&1
		rc=$?
		sed "s/^/@$n /" /tmp/ctl.out
		echo "@$n end $rc"
	done
	nap 0.02
	t=$((t + 1))
done

rc=0
if kill "$pid" 2>/dev/null; then
	wait "$pid" || rc=$?
else
	rc=1
fi
sed 's/^/ferryd.log: /' /tmp/ferryd.log
echo "job: ferryd exit $rc"
[ "$stop" = 1 ] && [ "$rc" = 0 ]
