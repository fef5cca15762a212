#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make install / make uninstall into a DESTDIR: every file where it belongs
# with its mode, and nothing else; the man pages render without a warning and
# name every option --help names; the bash completion loads, completes
# subcommands, options (all that --help names) and --domain names from
# virsh; the units parse (systemd-analyze verify), are sandboxed, and allow
# every system call ferryd makes in a real push and pull; uninstall leaves
# no file behind.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$FERRY" ] && [ -x "$FERRYD" ] || fail "$FERRY and $FERRYD must be built first"
command -v make >/dev/null || skip "make is not installed"

D=$T/dest
# The binaries are taken as built (-o): this test installs, it does not build
# (a sanitizer build dir holds binaries `make install` would not remake).
make_in_tree() {
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -C "$FERRY_SRC" \
		-o "$BUILD/ferry" -o "$BUILD/ferryd" BUILD="$BUILD" "$@"
}

# The files make install lays out under PREFIX, with their modes.
expected() {
	local p=${1#/}
	cat <<-EOF
		755 $p/bin/ferry
		755 $p/sbin/ferryd
		644 $p/share/man/man1/ferry.1
		644 $p/share/man/man8/ferryd.8
		644 $p/lib/systemd/system/ferryd.service
		644 $p/lib/systemd/system/ferryd-vsock.service
		644 $p/lib/udev/rules.d/60-ferryd.rules
		644 $p/share/bash-completion/completions/ferry
		644 $p/share/bash-completion/completions/ferryd
	EOF
}
listing() { (cd "$1" && find . \( -type f -o -type l \) -printf '%m %P\n' | LC_ALL=C sort); }

make_in_tree install DESTDIR="$D" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; fail "make install failed"; }
check_eq "installed files (mode path)" "$(listing "$D")" "$(expected /usr/local | LC_ALL=C sort)"
find "$D" -type d ! -perm 755 | grep -q . && fail "directories not 0755: $(find "$D" -type d ! -perm 755)"
cmp -s "$FERRY" "$D/usr/local/bin/ferry" || fail "installed ferry differs from $FERRY"
cmp -s "$FERRYD" "$D/usr/local/sbin/ferryd" || fail "installed ferryd differs from $FERRYD"
"$D/usr/local/bin/ferry" --version | grep -q '^ferry ' || fail "installed ferry does not run"
"$D/usr/local/sbin/ferryd" --version | grep -q '^ferryd ' || fail "installed ferryd does not run"
UNITS=$D/usr/local/lib/systemd/system
grep -qx 'ExecStart=/usr/local/sbin/ferryd --listen serial:/dev/virtio-ports/org.ferry.0 --root /var/lib/ferry $FERRYD_OPTS' \
	"$UNITS/ferryd.service" || fail "ferryd.service: ExecStart does not name /usr/local/sbin/ferryd: $(grep ExecStart= "$UNITS/ferryd.service")"
grep -q '@[A-Z]*@' "$UNITS"/*.service && fail "a placeholder left in an installed unit: $(grep '@[A-Z]*@' "$UNITS"/*.service)"

# PREFIX moves everything, and the units follow it.
make_in_tree install DESTDIR="$T/dest-usr" PREFIX=/usr >"$T/install-usr.log" 2>&1 || { cat "$T/install-usr.log" >&2; fail "make install PREFIX=/usr failed"; }
check_eq "installed files with PREFIX=/usr" "$(listing "$T/dest-usr")" "$(expected /usr | LC_ALL=C sort)"
grep -q '^ExecStart=/usr/sbin/ferryd ' "$T/dest-usr/usr/lib/systemd/system/ferryd-vsock.service" ||
	fail "PREFIX=/usr: ferryd-vsock.service does not start /usr/sbin/ferryd"

# ---- man pages
# options_of < HELP_TEXT: the long options a --help text lists (the lines
# that start with one: not those its prose mentions), one per line.
options_of() {
	sed -nE 's/^ +(-[a-zA-Z], )?(--[a-z][a-z0-9-]+).*/\2/p' | LC_ALL=C sort -u
}
man_text() { LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$1" 2>"$T/man.err"; }
check_man() { # PAGE HELP_TEXT...
	local page=$1 text tags o s missing=
	shift
	text=$(man_text "$page") || fail "man -l $page failed: $(cat "$T/man.err")"
	[ ! -s "$T/man.err" ] || fail "man --warnings -l $page warns: $(cat "$T/man.err")"
	groff -man -Tutf8 -ww -z "$page" 2>"$T/groff.err" || fail "groff failed on $page"
	[ ! -s "$T/groff.err" ] || fail "groff -ww warns on $page: $(cat "$T/groff.err")"
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' 'SEE ALSO'; do
		grep -q "^$s\$" <<<"$text" || fail "$page has no $s section"
	done
	# Every option --help names is described: it heads an item (a tag line,
	# indented 7 and starting with '-'), not only mentioned in passing.
	tags=$(grep -E '^ {7}-' <<<"$text")
	for o in $(printf '%s\n' "$@" | options_of); do
		grep -qE -- "(^|[ ,])$o([ ,=]|\$)" <<<"$tags" || missing="$missing $o"
	done
	[ -z "$missing" ] || fail "$page does not describe:$missing"
}
command -v man >/dev/null && command -v groff >/dev/null || skip "man and groff are needed (apt-get install man-db groff-base)"
# ferry's subcommands, as its --help lists them.
COMMANDS=$("$FERRY" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }')
[ -n "$COMMANDS" ] && grep -qx push <<<"$COMMANDS" || fail "no Commands: in ferry --help"
helps=()
for cmd in $COMMANDS; do
	helps+=("$("$FERRY" "$cmd" --help)")
	man_text "$D/usr/local/share/man/man1/ferry.1" | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | grep -q "ferry $cmd" ||
		fail "ferry.1's synopsis lacks 'ferry $cmd'"
done
check_man "$D/usr/local/share/man/man1/ferry.1" "${helps[@]}"
check_man "$D/usr/local/share/man/man8/ferryd.8" "$("$FERRYD" --help)"
# Installed where man looks for them, and the version on them is the program's.
check_eq "man -w ferry" "$(MANPATH=$D/usr/local/share/man man -w ferry)" "$D/usr/local/share/man/man1/ferry.1"
check_eq "man -w 8 ferryd" "$(MANPATH=$D/usr/local/share/man man -w 8 ferryd)" "$D/usr/local/share/man/man8/ferryd.8"
version=$("$FERRY" --version | awk '{print $2}')
for page in man/ferry.1 man/ferryd.8; do
	grep -q "^\.TH [A-Z]* [18] [0-9-]* \"ferry $version\"" "$FERRY_SRC/$page" || fail "$page: .TH does not say ferry $version"
done

# ---- bash completion
COMPDIR=$D/usr/local/share/bash-completion/completions
BASH_COMPLETION=/usr/share/bash-completion/bash_completion
# complete_words WITH_LIB FILE WORD...: the candidates the completion offers
# for the last WORD, one per line; WITH_LIB=1 loads bash-completion first
# (as a login shell does), 0 leaves it out (the script's own fallback).
complete_words() {
	local lib=$1 file=$2
	shift 2
	bash --norc --noprofile -c '
		lib=$1 file=$2
		shift 2
		if [ "$lib" = 1 ]; then . '"$BASH_COMPLETION"' || exit 1; fi
		. "$file" || exit 1
		spec=$(complete -p "${1##*/}") || exit 1
		fn=$(sed -n "s/.*-F \([^ ]*\) .*/\1/p" <<<"$spec")
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete "$lib" "$file" "$@"
}
# A virsh that knows three domains, to see --domain complete from it.
mkdir -p "$T/fakebin"
cat >"$T/fakebin/virsh" <<'EOF'
#!/bin/sh
echo "$*" >>"${0%/*}/virsh.args"
printf 'web-1\nweb-2\ndb\n'
EOF
chmod +x "$T/fakebin/virsh"

# A PATH without virsh: the few programs the completion and this test run.
NOVIRSH_PATH=$T/novirsh
mkdir -p "$NOVIRSH_PATH"
for _c in bash sed timeout grep cat sort tr; do
	ln -s "$(command -v "$_c")" "$NOVIRSH_PATH/$_c"
done

check_completion() {
	local lib=$1 got o missing
	complete_words "$lib" "$COMPDIR/ferry" ferry pu >"$T/c" || fail "ferry completion does not load (lib=$lib)"
	check_eq "complete 'ferry pu' (lib=$lib)" "$(sort "$T/c" | tr '\n' ' ')" "pull push "
	complete_words "$lib" "$COMPDIR/ferry" ferry '' >"$T/c"
	for cmd in $COMMANDS; do
		grep -qx "$cmd" "$T/c" || fail "'ferry <TAB>' lacks $cmd (lib=$lib)"
	done
	check_eq "complete 'ferry push --no-r' (lib=$lib)" "$(complete_words "$lib" "$COMPDIR/ferry" ferry push --no-r)" "--no-resume"
	check_eq "complete 'ferry pull --fr' (lib=$lib)" "$(complete_words "$lib" "$COMPDIR/ferry" ferry pull --fr)" "--from"
	check_eq "complete 'ferry push --via s' (lib=$lib)" "$(complete_words "$lib" "$COMPDIR/ferry" ferry push --via s)" "serial"
	check_eq "complete 'ferry setup --ap' (lib=$lib)" "$(complete_words "$lib" "$COMPDIR/ferry" ferry setup --ap)" "--apply"
	got=$(PATH=$T/fakebin:$PATH complete_words "$lib" "$COMPDIR/ferry" ferry push -c test:///default --domain web | sort | tr '\n' ' ')
	check_eq "complete 'ferry push --domain web' from virsh (lib=$lib)" "$got" "web-1 web-2 "
	grep -q -- '-c test:///default list --name' "$T/fakebin/virsh.args" || fail "virsh was not asked with the -c URI on the line: $(cat "$T/fakebin/virsh.args")"
	# Without virsh, --domain completes nothing (and says nothing).
	got=$(PATH=$NOVIRSH_PATH complete_words "$lib" "$COMPDIR/ferry" ferry push --domain w 2>&1 | grep -v '^$' || true)
	check_eq "complete --domain without virsh (lib=$lib)" "$got" ""
	check_eq "complete 'ferryd --io-class i' (lib=$lib)" "$(complete_words "$lib" "$COMPDIR/ferryd" ferryd --io-class i)" "idle"
	check_eq "complete 'ferryd --max-s' (lib=$lib)" "$(complete_words "$lib" "$COMPDIR/ferryd" ferryd --max-s)" "--max-sessions"
	# Every option --help names completes.
	for cmd in $COMMANDS; do
		complete_words "$lib" "$COMPDIR/ferry" ferry "$cmd" -- >"$T/c"
		missing=
		for o in $("$FERRY" "$cmd" --help | options_of); do
			grep -qx -- "$o" "$T/c" || missing="$missing $o"
		done
		[ -z "$missing" ] || fail "'ferry $cmd --<TAB>' lacks:$missing (lib=$lib)"
	done
	complete_words "$lib" "$COMPDIR/ferryd" ferryd -- >"$T/c"
	missing=
	for o in $("$FERRYD" --help | options_of); do
		grep -qx -- "$o" "$T/c" || missing="$missing $o"
	done
	[ -z "$missing" ] || fail "'ferryd --<TAB>' lacks:$missing (lib=$lib)"
}
check_completion 0
if [ -f "$BASH_COMPLETION" ]; then
	check_completion 1
else
	note "bash-completion is not installed: completion checked with its fallback only"
fi

# ---- the units and the udev rule
RULE=$D/usr/local/lib/udev/rules.d/60-ferryd.rules
devunit=$(systemd-escape -p --suffix=device /dev/virtio-ports/org.ferry.0 2>/dev/null || printf '%s' 'dev-virtio\x2dports-org.ferry.0.device')
grep -qxF "BindsTo=$devunit" "$UNITS/ferryd.service" || fail "ferryd.service is not bound to $devunit"
grep -qxF "After=$devunit" "$UNITS/ferryd.service" || fail "ferryd.service is not ordered after $devunit"
grep -v '^#' "$RULE" | grep -q 'SUBSYSTEM=="virtio-ports", ATTR{name}=="org.ferry.0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="ferryd.service"' ||
	fail "60-ferryd.rules does not start ferryd.service for the org.ferry.0 port"
for u in ferryd.service ferryd-vsock.service; do
	for k in ProtectSystem=strict ReadWritePaths=/var/lib/ferry NoNewPrivileges=yes Restart=on-failure \
		ProtectHome=yes PrivateTmp=yes 'SystemCallFilter=@system-service' 'Documentation=man:ferryd(8)'; do
		grep -qxF "$k" "$UNITS/$u" || fail "$u lacks $k"
	done
	# The directory served is the one the sandbox leaves writable.
	grep -q '^ExecStart=.* --root /var/lib/ferry ' "$UNITS/$u" || fail "$u: ExecStart does not serve /var/lib/ferry"
done
grep -qxF 'WantedBy=multi-user.target' "$UNITS/ferryd-vsock.service" || fail "ferryd-vsock.service cannot be enabled"

# Every system call ferryd makes in a push and a pull of files, a tree and
# a symlink is one the units' SystemCallFilter= allows: a call outside it
# would fail with EPERM in the service.  The filter, expanded:
# @system-service, less @privileged.
# (A sanitizer build's ferryd is not the one installed: its runtime makes
# calls of its own.)
static=1
if command -v readelf >/dev/null && readelf -l "$FERRYD" | grep -q INTERP; then
	static=0
fi
if [ "$static" = 0 ]; then
	note "$FERRYD is not static (a sanitizer build?): the system call filter is checked in the plain run"
elif command -v systemd-analyze >/dev/null && command -v strace >/dev/null; then
	expand_group() { # GROUP: its system calls, groups expanded
		systemd-analyze syscall-filter --no-pager 2>/dev/null | awk -v want="$1" '
			/^@/ { g = $1; next }
			/^[[:space:]]+[@a-z_0-9]/ && g != "" { m[g] = m[g] " " $1 }
			function ex(grp,   n, a, i) {
				if (seen[grp]++) return
				n = split(m[grp], a, " ")
				for (i = 1; i <= n; i++)
					if (a[i] ~ /^@/) ex(a[i]); else out[a[i]] = 1
			}
			END { ex(want); for (s in out) print s }' | LC_ALL=C sort -u
	}
	expand_group @system-service >"$T/allowed"
	expand_group @privileged >"$T/privileged"
	[ -s "$T/allowed" ] && [ -s "$T/privileged" ] || fail "systemd-analyze syscall-filter listed nothing"
	grep -qx io_uring_setup "$T/allowed" || fail "the filter's expansion lacks io_uring_setup: expand_group is wrong"
	mkdir -p "$T/root/in" "$T/src/tree/sub" "$T/back"
	mkfile "$T/src/big.bin" 3M
	mkfile "$T/src/tree/a" 5000
	mkfile "$T/src/tree/sub/b" 100
	ln -s a "$T/src/tree/link"
	chmod 0555 "$T/src/tree/sub"
	# The installed ferryd, under strace.
	bg_start "$T/strace-ferryd.log" strace -f -qq -o "$T/trace" "$D/usr/local/sbin/ferryd" \
		--listen "unix:$T/st2.sock" --root "$T/root" -v
	STRACE_PID=$BG_PID
	wait_until 20 test -S "$T/st2.sock" || { cat "$T/strace-ferryd.log" >&2; fail "ferryd under strace did not come up"; }
	run_ferry push --to "unix:$T/st2.sock" "$T/src/big.bin" "$T/src/tree" in/
	expect_rc 0
	run_ferry push --to "unix:$T/st2.sock" "$T/src/big.bin" "$T/src/tree" in/
	expect_rc 0
	run_ferry pull --from "unix:$T/st2.sock" in/tree "$T/back"
	expect_rc 0
	same_file "$T/src/tree/sub/b" "$T/back/tree/sub/b"
	FERRY_NO_IO_URING=1 run_ferry pull --from "unix:$T/st2.sock" in/big.bin "$T/back/big.bin"
	expect_rc 0
	stop_pid "$STRACE_PID"
	sed -E 's/^[0-9]+ +//; s/\(.*//' "$T/trace" | grep -E '^[a-z_0-9]+$' | LC_ALL=C sort -u >"$T/used"
	grep -qx accept4 "$T/used" || fail "strace saw no accept4: the trace is not of ferryd serving"
	# execve is strace starting ferryd (systemd's own exec is outside the filter).
	denied=$(LC_ALL=C comm -23 "$T/used" "$T/allowed" | grep -vx execve || true)
	denied="$denied $(LC_ALL=C comm -12 "$T/used" "$T/privileged" | tr '\n' ' ')"
	[ -z "${denied// /}" ] || fail "ferryd made system calls the units' SystemCallFilter= refuses:$denied"
	note "ferryd's $(wc -l <"$T/used") system calls are all allowed by the units"
	chmod -R u+w "$T/src" "$T/root" "$T/back"
else
	note "systemd-analyze or strace missing: the system call filter is not checked against ferryd"
fi

if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart= is executable: point it at the DESTDIR copy.
	# Documentation=man:ferryd(8) is looked up with man, in DESTDIR too.
	mkdir -p "$T/units"
	for u in ferryd.service ferryd-vsock.service; do
		sed "s|^ExecStart=/usr/local/sbin/|ExecStart=$D/usr/local/sbin/|" "$UNITS/$u" >"$T/units/$u"
	done
	out=$(cd "$T/units" && MANPATH=$D/usr/local/share/man systemd-analyze verify ferryd.service ferryd-vsock.service 2>&1) ||
		fail "systemd-analyze verify failed: $out"
	[ -z "$out" ] || fail "systemd-analyze verify complains: $out"
	# A unit it would complain about does fail this check (the check can fail).
	printf '[Service]\nExecStart=%s\nNoSuchKey=1\n' "$D/usr/local/sbin/ferryd" >"$T/units/bad.service"
	out=$(cd "$T/units" && systemd-analyze verify bad.service 2>&1 || true)
	[ -n "$out" ] || fail "systemd-analyze verify said nothing about an unknown key"
	for u in ferryd.service ferryd-vsock.service; do
		systemd-analyze security --offline=yes --threshold=25 "$T/units/$u" >"$T/security" 2>&1 ||
			fail "$u: systemd-analyze security exposure over 2.5: $(tail -n 1 "$T/security")"
		note "$u: $(grep -o 'Overall exposure level.*' "$T/security")"
	done
else
	note "systemd-analyze is not installed: the units were not verified"
fi

# ---- uninstall
make_in_tree uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1 || { cat "$T/uninstall.log" >&2; fail "make uninstall failed"; }
check_eq "files left after uninstall" "$(listing "$D")" ""
make_in_tree uninstall DESTDIR="$T/dest-usr" PREFIX=/usr >/dev/null 2>&1 || fail "make uninstall PREFIX=/usr failed"
check_eq "files left after uninstall PREFIX=/usr" "$(listing "$T/dest-usr")" ""
