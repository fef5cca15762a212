#!/bin/bash
# mkguest.sh [--qga] [--bin PROGRAM]... OUTDIR FERRYD_STATIC [FERRY_STATIC]
#
# Builds a throwaway QEMU test guest from Debian packages only:
#   OUTDIR/vmlinux      uncompressed kernel, booted directly through its PVH entry
#   OUTDIR/vmlinuz      the packaged bzImage (fallback when the PVH boot fails)
#   OUTDIR/kernel       symlink to whichever of the two booted in a probe
#   OUTDIR/initrd.img   busybox + virtio/vsock/fw_cfg modules + /bin/ferryd [+ /bin/ferry] + /init,
#                       the virtio-blk/ext4 modules (loaded only with a disk: guest-init.sh), and
#                       each --bin PROGRAM (static) as /bin/NAME, NAME without a ".static" suffix
#   OUTDIR/initrd-qga.img (with --qga) the same plus Debian's qemu-ga and its shared libraries
#
# Nothing is installed on the host: packages are fetched with `apt-get download` into
# FERRY_VM_CACHE (default OUTDIR/cache) and unpacked with `dpkg-deb -x`. Rebuilds happen only when
# an input changes (stamp = sha256 of the binaries, this script, lib.sh and the package names).
#
# The guest's job is not baked in: lib.sh's vm_start hands a shell script to the guest through
# fw_cfg (opt/ferry/job), and /init runs it; see tests/vm/lib.sh.
set -euo pipefail

usage() { echo "usage: $0 [--qga] [--bin PROGRAM]... OUTDIR FERRYD_STATIC [FERRY_STATIC]" >&2; exit 2; }

want_qga=0
bins=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--qga) want_qga=1; shift ;;
	--bin) [[ $# -ge 2 ]] || usage; bins+=("$2"); shift 2 ;;
	*) break ;;
	esac
done
[[ $# -ge 2 && $# -le 3 ]] || usage
out=$1
ferryd=$2
ferry=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[[ -f "$ferryd" ]] || { echo "mkguest: no such file: $ferryd" >&2; exit 1; }
[[ -z "$ferry" || -f "$ferry" ]] || { echo "mkguest: no such file: $ferry" >&2; exit 1; }
for b in ${bins[@]+"${bins[@]}"}; do
	[[ -f "$b" ]] || { echo "mkguest: no such file: $b" >&2; exit 1; }
done
busybox=/bin/busybox
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	echo "mkguest: $busybox is not static: apt-get install busybox-static" >&2
	exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${FERRY_VM_CACHE:-$out/cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# One builder at a time per OUTDIR (tests may run in parallel).
exec 9>"$out/.lock"
flock -w 300 9 || { echo "mkguest: timed out waiting for $out/.lock" >&2; exit 1; }

log() { echo "mkguest: $*" >&2; }

apt_updated=0
apt_update_once() {
	if [[ $apt_updated == 0 ]]; then
		log "apt-get update"
		apt-get update -qq >&2 || true
		apt_updated=1
	fi
}

# deb_fetch PKG -> prints the path of the cached .deb (downloads it only when not cached).
deb_fetch() {
	local pkg=$1 f err
	f=$(ls -1 "$cache/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -z "$f" ]]; then
		log "apt-get download $pkg"
		err=$(mktemp)
		# As root, apt warns that it downloads unsandboxed; harmless, so it is kept out of sight.
		if ! (cd "$cache" && apt-get download -q "$pkg" >&2 2>"$err"); then
			apt_update_once
			(cd "$cache" && apt-get download -q "$pkg" >&2 2>"$err") ||
				{ log "apt-get download $pkg failed:"; cat "$err" >&2; rm -f "$err"; return 1; }
		fi
		rm -f "$err"
		f=$(ls -1 "$cache/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
		[[ -n "$f" ]] || { log "apt-get download $pkg left no .deb in $cache"; return 1; }
	fi
	printf '%s\n' "$f"
}

# The versioned kernel package that linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64.
kernel_pkg() {
	local p
	p=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1 || true)
	if [[ -z "$p" ]]; then
		apt_update_once
		p=$(apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1 || true)
	fi
	if [[ -z "$p" ]]; then
		# Offline: fall back to whatever kernel is already cached.
		p=$(ls -1 "$cache"/linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
		p=${p##*/}
		p=${p%%_*}
	fi
	[[ -n "$p" ]] || { log "cannot resolve linux-image-amd64 (apt-cache depends found nothing)"; return 1; }
	printf '%s\n' "$p"
}

kpkg=$(kernel_pkg)
kdeb=$(deb_fetch "$kpkg")
qdeb=
[[ $want_qga == 1 ]] && qdeb=$(deb_fetch qemu-guest-agent)

sha() { sha256sum "$@" | cut -d' ' -f1; }
stamp=$(
	{
		echo "kernel ${kdeb##*/}"
		echo "ferryd $(sha "$ferryd")"
		[[ -n "$ferry" ]] && echo "ferry $(sha "$ferry")"
		for b in ${bins[@]+"${bins[@]}"}; do echo "bin ${b##*/} $(sha "$b")"; done
		echo "busybox $(sha "$busybox")"
		echo "mkguest $(sha "${BASH_SOURCE[0]}" "$here/guest-init.sh" "$here"/guest-bin/*)"
	} | sha256sum | cut -d' ' -f1
)
qstamp="$stamp ${qdeb##*/}"
base_ok=0
qga_ok=1
if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" && -e "$out/kernel" &&
	-f "$out/initrd.img" ]]; then
	base_ok=1
fi
if [[ $want_qga == 1 && ($base_ok == 0 || ! -f "$out/initrd-qga.img" ||
	"$(cat "$out/qga.stamp" 2>/dev/null)" != "$qstamp") ]]; then
	qga_ok=0
fi
if [[ $base_ok == 1 && $qga_ok == 1 ]]; then
	log "up to date: $out"
	exit 0
fi

work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Modules in load order: the deb has no modules.dep, so the order follows their depends= fields
# (`modinfo -F depends`). A leading '?' marks optional ones, skipped when absent (or built in).
# Loaded at every boot (modules/order):
boot_modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_console ?qemu_fw_cfg ?vsock ?vmw_vsock_virtio_transport_common ?vsock_loopback
	?vmw_vsock_virtio_transport"
# Loaded only when the guest has a disk (modules/order-disk, ferry.disk=1: lib.sh's VM_DISK):
# virtio-blk and ext4. ext4 asks the crypto API for "crc32c" at mount time (metadata_csum) and
# nothing can autoload it here, hence crc32c_generic (crc32c-intel needs SSE4.2, absent under TCG).
disk_modules="?virtio_blk ?crc16 ?mbcache ?jbd2 ?crc32c_generic ?ext4"
# shellcheck disable=SC2086 # one line of words
modules_stamp="${kdeb##*/} $(printf '%s ' $boot_modules)/ $(printf '%s ' $disk_modules)"

unpack_kernel() { [[ -d "$work/k" ]] || dpkg-deb -x "$kdeb" "$work/k"; }

# --- kernel: vmlinuz, vmlinux (kept across rebuilds of the initramfs) -----------------------------
build_kernel() {
	local vmlinuz
	log "unpacking ${kdeb##*/}"
	rm -f "$out/kernel" "$out/kernel.stamp"
	unpack_kernel
	vmlinuz=$(ls -1 "$work/k/boot"/vmlinuz-* | head -n 1)
	cp "$vmlinuz" "$out/vmlinuz"
	# The bzImage carries the kernel as an xz stream; the ELF inside boots through its PVH entry
	# directly, skipping the decompressor (about 2x faster boot under TCG).
	python3 - "$out/vmlinuz" "$out/vmlinux.tmp" <<-'EOF'
		import lzma, sys
		data = open(sys.argv[1], 'rb').read()
		pos = data.find(b'\xfd7zXZ\x00')
		if pos < 0:
		    sys.exit('mkguest: no xz stream in ' + sys.argv[1])
		elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[pos:])
		if elf[:4] != b'\x7fELF':
		    sys.exit('mkguest: the xz stream in %s is not an ELF' % sys.argv[1])
		open(sys.argv[2], 'wb').write(elf)
	EOF
	mv "$out/vmlinux.tmp" "$out/vmlinux"
	echo "${kdeb##*/}" >"$out/kernel.stamp"
}

# --- modules/ (kept across rebuilds of the initramfs) ---------------------------------------------
# add_modules ORDER_FILE SPEC...: decompress each module into $work/modules, its name to ORDER_FILE.
add_modules() {
	local order=$1 kmods spec name f
	shift
	kmods=$(ls -d "$work/k/lib/modules"/*/kernel | head -n 1)
	: >"$order"
	for spec in "$@"; do
		name=${spec#\?}
		f=$(find "$kmods" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" \
			-o -name "$name.ko.gz" \) | head -n 1)
		if [[ -z "$f" ]]; then
			if [[ "$spec" == \?* ]]; then
				log "module $name not in the package (skipped; built in?)"
				continue
			fi
			log "module $name not in ${kdeb##*/}"
			exit 1
		fi
		case "$f" in
		*.ko.xz) xz -dc "$f" >"$work/modules/$name.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$work/modules/$name.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$work/modules/$name.ko" ;;
		*) cp "$f" "$work/modules/$name.ko" ;;
		esac
		echo "$name" >>"$order"
	done
}

build_modules() {
	log "modules from ${kdeb##*/}"
	unpack_kernel
	rm -rf "$out/modules" "$out/modules.stamp"
	mkdir -p "$work/modules"
	# shellcheck disable=SC2086 # the lists are words
	add_modules "$work/modules/order" $boot_modules
	# shellcheck disable=SC2086
	add_modules "$work/modules/order-disk" $disk_modules
	cp "$work/k/boot"/config-* "$work/modules/config"
	mv "$work/modules" "$out/modules"
	echo "$modules_stamp" >"$out/modules.stamp"
}

mkcpio() { # DIR OUT
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 2>/dev/null) >"$2"
}

# guest_bin SRC DST: a program for the guest's /bin. ELF binaries must be static (the base guest
# has no libc) and are stripped on the way in (debug info only slows the initramfs unpacking).
guest_bin() {
	local src=$1 dst=$2 desc
	desc=$(file -L "$src")
	if [[ "$desc" == *ELF* ]]; then
		[[ "$desc" == *"statically linked"* || "$desc" == *"static-pie linked"* ]] ||
			{ log "$src is not statically linked; it cannot run in the guest"; exit 1; }
		strip -o "$dst" "$src" 2>/dev/null || cp "$src" "$dst"
	else
		cp "$src" "$dst" # a script stand-in
	fi
	chmod 755 "$dst"
}

# --- base initramfs -----------------------------------------------------------------------------
build_base() {
	local root=$work/root a b b_name
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,data,disk,run,etc,lib/modules}
	# A console node gives /init its stdio before devtmpfs is mounted (needs root; optional).
	mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
	cp "$busybox" "$root/bin/busybox"
	for a in $("$busybox" --list); do
		[[ "$a" == busybox ]] || ln -sf busybox "$root/bin/$a"
	done
	guest_bin "$ferryd" "$root/bin/ferryd"
	[[ -z "$ferry" ]] || guest_bin "$ferry" "$root/bin/ferry"
	for b in ${bins[@]+"${bins[@]}"}; do
		b_name=${b##*/}
		guest_bin "$b" "$root/bin/${b_name%.static}"
	done
	cp "$out/modules"/*.ko "$out/modules"/order* "$root/lib/modules/"
	install -m 755 "$here/guest-init.sh" "$root/init"
	install -m 755 "$here"/guest-bin/* "$root/bin/"
	mkcpio "$root" "$work/initrd.img"
	mv "$work/initrd.img" "$out/initrd.img"
}

# --- qemu-guest-agent variant: the base archive plus an overlay archive appended (the kernel
# unpacks concatenated cpio archives in turn), so the default guest stays small -----------------
build_qga() {
	local q=$work/q ov=$work/qov libs l
	dpkg-deb -x "$qdeb" "$q"
	mkdir -p "$ov/bin"
	cp "$q/usr/sbin/qemu-ga" "$ov/bin/qemu-ga"
	libs=$(ldd "$q/usr/sbin/qemu-ga") || { log "ldd qemu-ga failed"; exit 1; }
	if grep -q 'not found' <<<"$libs"; then
		log "qemu-ga needs libraries this host lacks:"
		grep 'not found' <<<"$libs" >&2
		exit 1
	fi
	# "libX.so => /path (addr)" lines, and the loader's "/path (addr)" line.
	for l in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
		mkdir -p "$ov$(dirname "$l")"
		cp -L "$l" "$ov$l"
	done
	mkcpio "$ov" "$work/qov.cpio"
	cat "$out/initrd.img" "$work/qov.cpio" >"$work/initrd-qga.img"
	mv "$work/initrd-qga.img" "$out/initrd-qga.img"
	echo "$qstamp" >"$out/qga.stamp"
}

if [[ $base_ok == 0 ]]; then
	rm -f "$out/stamp" "$out/initrd-qga.img" "$out/qga.stamp"
	if [[ "$(cat "$out/kernel.stamp" 2>/dev/null)" != "${kdeb##*/}" || ! -f "$out/vmlinux" ||
		! -f "$out/vmlinuz" ]]; then
		build_kernel
	fi
	if [[ "$(cat "$out/modules.stamp" 2>/dev/null)" != "$modules_stamp" || ! -d "$out/modules" ]]; then
		build_modules
	fi
	rm -rf "$work/k"
	build_base
fi
[[ $qga_ok == 1 ]] || build_qga

# --- PVH probe, once per kernel: boot vmlinux; fall back to the bzImage if it does not come up ---
if [[ ! -e "$out/kernel" ]]; then
	# shellcheck source=tests/vm/lib.sh
	. "$here/lib.sh"
	if vm_probe_kernel "$out" vmlinux; then
		ln -sfn vmlinux "$out/kernel"
	elif vm_probe_kernel "$out" vmlinuz; then
		log "PVH boot of vmlinux failed; using the bzImage"
		ln -sfn vmlinuz "$out/kernel"
	else
		log "neither vmlinux nor vmlinuz boots; see $out/probe-*.log"
		exit 1
	fi
fi
echo "$stamp" >"$out/stamp"
log "built $out: initrd $(du -h "$out/initrd.img" | cut -f1), kernel -> $(readlink "$out/kernel")"
