#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make deb: dpkg-buildpackage builds the ferry and ferryd packages in a copy
# of the tree (nothing left in it); each package holds exactly its files
# with sane modes, ferry depends on the libraries it links and ferryd on
# none (static, runs from the package), the maintainer scripts enable the
# vsock unit and leave the serial one to udev, and lintian reports nothing
# (no error, warning or info tag; every override carries its reason).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# The packages build from the sources with their own flags: a sanitizer run
# of this test would build and check the very same packages again.
[ "$SMALL" = 1 ] && skip "the packages do not depend on the build under test; checked in the plain run"
for c in dpkg-buildpackage dh dpkg-deb lintian make; do
	command -v "$c" >/dev/null || skip "$c is not installed (apt-get install dpkg-dev debhelper lintian)"
done

B=$T/b
version=$("$FERRY" --version | awk '{print $2}')
# Whatever the tree holds that dpkg-buildpackage would leave when run in it.
leftovers() {
	(cd "$FERRY_SRC" && ls -d debian/tmp debian/build debian/.debhelper debian/files debian/*.substvars \
		debian/debhelper-build-stamp debian/ferry debian/ferryd debian/*.debhelper.log ../ferry*_"$version"_* 2>/dev/null) || true
}
before=$(leftovers)

env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -C "$FERRY_SRC" BUILD="$B" deb >"$T/deb.log" 2>&1 ||
	{ tail -n 40 "$T/deb.log" >&2; fail "make deb failed"; }
check_eq "what make deb left in the tree" "$(leftovers)" "$before"
[ ! -d "$B/deb/src" ] || fail "make deb left its copy of the tree in $B/deb/src"

arch=$(dpkg --print-architecture)
for p in ferry ferryd ferry-dbgsym ferryd-dbgsym; do
	[ -f "$B/deb/${p}_${version}_$arch.deb" ] || fail "no ${p}_${version}_$arch.deb: $(ls "$B/deb")"
done
[ -f "$B/deb/ferry_${version}_$arch.changes" ] || fail "no .changes"

# contents DEB: "mode path" of each file (directories left out).
contents() {
	dpkg-deb -c "$1" | awk '$1 !~ /^d/ { p = $6; sub(/^\.\//, "", p); print $1, p }' | LC_ALL=C sort
}
check_eq "ferry's files" "$(contents "$B/deb/ferry_${version}_$arch.deb")" "$(LC_ALL=C sort <<-EOF
	-rw-r--r-- usr/share/bash-completion/completions/ferry
	-rw-r--r-- usr/share/doc/ferry/changelog.gz
	-rw-r--r-- usr/share/doc/ferry/copyright
	-rw-r--r-- usr/share/man/man1/ferry.1.gz
	-rwxr-xr-x usr/bin/ferry
EOF
)"
check_eq "ferryd's files" "$(contents "$B/deb/ferryd_${version}_$arch.deb")" "$(LC_ALL=C sort <<-EOF
	-rw-r--r-- lib/systemd/system/ferryd-vsock.service
	-rw-r--r-- lib/systemd/system/ferryd.service
	-rw-r--r-- lib/udev/rules.d/60-ferryd.rules
	-rw-r--r-- usr/share/bash-completion/completions/ferryd
	-rw-r--r-- usr/share/doc/ferryd/changelog.gz
	-rw-r--r-- usr/share/doc/ferryd/copyright
	-rw-r--r-- usr/share/lintian/overrides/ferryd
	-rw-r--r-- usr/share/man/man8/ferryd.8.gz
	-rwxr-xr-x usr/sbin/ferryd
EOF
)"

# Dependencies: ferry's from its shared libraries, ferryd none but debhelper's.
deps=$(dpkg-deb -f "$B/deb/ferry_${version}_$arch.deb" Depends)
for lib in libc6 liburing2 libvirt0 libxml2 libzstd1; do
	grep -qE "(^|, )$lib( |,|$)" <<<"$deps" || fail "ferry does not depend on $lib: $deps"
done
check_eq "ferryd's Depends" "$(dpkg-deb -f "$B/deb/ferryd_${version}_$arch.deb" Depends)" ""
bu=$(dpkg-deb -f "$B/deb/ferryd_${version}_$arch.deb" Built-Using)
for src in glibc liburing libzstd; do
	grep -qE "(^|, )$src \(= " <<<"$bu" || fail "ferryd's Built-Using lacks $src: '$bu'"
done

# Both programs run from their packages; ferryd is one static file.
dpkg-deb -x "$B/deb/ferry_${version}_$arch.deb" "$T/x"
dpkg-deb -x "$B/deb/ferryd_${version}_$arch.deb" "$T/x"
check_eq "packaged ferry --version" "$("$T/x/usr/bin/ferry" --version)" "$("$FERRY" --version)"
check_eq "packaged ferryd --version" "$("$T/x/usr/sbin/ferryd" --version)" "$("$FERRYD" --version)"
if command -v readelf >/dev/null; then
	readelf -d "$T/x/usr/sbin/ferryd" | grep -q NEEDED && fail "packaged ferryd needs shared libraries: $(readelf -d "$T/x/usr/sbin/ferryd" | grep NEEDED)"
	readelf -l "$T/x/usr/sbin/ferryd" | grep -q INTERP && fail "packaged ferryd has a program interpreter: not static"
fi
grep -qx 'ExecStart=/usr/sbin/ferryd --listen serial:/dev/virtio-ports/org.ferry.0 --root /var/lib/ferry $FERRYD_OPTS' \
	"$T/x/lib/systemd/system/ferryd.service" || fail "packaged ferryd.service does not run /usr/sbin/ferryd"

# The maintainer scripts: the vsock unit is enabled and started (it skips
# itself without /dev/vsock); the serial unit is never started by dpkg (it
# would wait for a port that may never come) but udev is asked to look at
# the port again; removal stops both.
dpkg-deb -e "$B/deb/ferryd_${version}_$arch.deb" "$T/ctl"
grep -q "deb-systemd-helper enable 'ferryd-vsock.service'" "$T/ctl/postinst" || fail "postinst does not enable ferryd-vsock.service"
grep -q "deb-systemd-invoke \$_dh_action 'ferryd-vsock.service'" "$T/ctl/postinst" || fail "postinst does not start ferryd-vsock.service"
grep -qE "deb-systemd-(helper|invoke) [a-z$_]+ 'ferryd.service'" "$T/ctl/postinst" && fail "postinst enables or starts ferryd.service"
grep -q 'udevadm trigger --action=add --subsystem-match=virtio-ports --attr-match=name=org.ferry.0' "$T/ctl/postinst" ||
	fail "postinst does not have udev announce the port again"
grep -q 'deb-systemd-invoke stop ferryd.service' "$T/ctl/prerm" || fail "prerm does not stop ferryd.service"
grep -q "deb-systemd-invoke stop 'ferryd-vsock.service'" "$T/ctl/prerm" || fail "prerm does not stop ferryd-vsock.service"
for s in postinst prerm postrm; do
	sh -n "$T/ctl/$s" || fail "ferryd's $s is not valid sh"
done

# lintian ran in make deb (which fails on an error or a warning): nothing
# at all, not even an info tag, and every override says why.
grep -q "^lintian $B/deb/\*.changes" "$T/deb.log" || fail "make deb did not run lintian: $(tail -n 5 "$T/deb.log")"
tags=$(sed -n '/^lintian /,$p' "$T/deb.log" | grep -E '^[EWIPXCO]: ' || true)
[ -z "$tags" ] || fail "lintian: $tags"
for f in "$FERRY_SRC"/debian/*.lintian-overrides; do
	[ -e "$f" ] || continue
	awk -v f="${f##*/}" '
		/^#/ { why = 1; next }
		/^[[:space:]]*$/ { why = 0; next }
		!why { print f ": override without a comment above it: " $0; bad = 1 }
		END { exit bad }' "$f" >&2 || fail "an unexplained lintian override"
done
note "lintian: no tags; $(sed -n '/^lintian /,$p' "$T/deb.log" | grep -c '\.deb$') packages"
