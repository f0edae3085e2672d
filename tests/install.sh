#!/bin/bash
# install.sh BUILDDIR SRCDIR SANITIZER - `cmake --install` lays out a
# prefix (header, both libraries, vmsync.pc, man pages, the command), with
# DESTDIR too; examples/hello-vmm.c builds against the installed library
# through pkg-config, shared and static, and verifies when run.
set -u
build=$1 src=$2 san=${3:-}
fail=0

if [ -n "$san" ]; then
	echo "skip: a $san build's library wants its sanitizer's runtime first; the plain build checks the install"
	exit 77
fi
command -v pkg-config >/dev/null || { echo "skip: no pkg-config (make test installs it)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() {       # check WHAT COMMAND...
	local what=$1; shift
	"$@" >"$tmp/out" 2>&1 || { echo "FAIL: $what"; cat "$tmp/out"; fail=1; }
}

check "install into a prefix" cmake --install "$build" --prefix "$tmp/prefix"
pc=$(find "$tmp/prefix" -name vmsync.pc)
libdir=$(dirname "$(dirname "$pc")")
for f in include/vmsync.h bin/vmsync share/man/man1/vmsync.1 \
	 share/man/man3/vmsync.3 share/man/man3/vms_mmap.3; do
	[ -e "$tmp/prefix/$f" ] || { echo "FAIL: no $f in the prefix"; fail=1; }
done
for f in libvmsync.a libvmsync.so libvmsync.so.1 pkgconfig/vmsync.pc; do
	[ -e "$libdir/$f" ] || { echo "FAIL: no $f in $libdir"; fail=1; }
done
[ $fail = 0 ] || exit 1

export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --variable=includedir vmsync)" -ef "$tmp/prefix/include" ] ||
	{ echo "FAIL: vmsync.pc's includedir is $(pkg-config --variable=includedir vmsync)"; fail=1; }
# shellcheck disable=SC2046
check "the example against libvmsync.so" \
	cc -std=c11 -Wall -Werror "$src/examples/hello-vmm.c" \
	$(pkg-config --cflags --libs vmsync) -o "$tmp/hello"
readelf -d "$tmp/hello" | grep -q 'NEEDED.*libvmsync\.so\.1' ||
	{ echo "FAIL: the example does not need libvmsync.so.1"; fail=1; }
check "the shared example runs" env LD_LIBRARY_PATH="$libdir" "$tmp/hello"
grep -q '^verified$' "$tmp/out" || { echo "FAIL: shared example:"; cat "$tmp/out"; fail=1; }
# shellcheck disable=SC2046
check "the example against libvmsync.a" \
	cc -std=c11 -Wall -Werror "$src/examples/hello-vmm.c" \
	$(pkg-config --cflags vmsync) "$libdir/libvmsync.a" \
	$(pkg-config --static --libs vmsync | sed 's/-lvmsync\b//') -o "$tmp/hello-static"
check "the static example runs" "$tmp/hello-static"
grep -q '^verified$' "$tmp/out" || { echo "FAIL: static example:"; cat "$tmp/out"; fail=1; }

check "install with DESTDIR" env DESTDIR="$tmp/dest" cmake --install "$build" --prefix /usr
for f in usr/include/vmsync.h usr/bin/vmsync usr/share/man/man1/vmsync.1; do
	[ -e "$tmp/dest/$f" ] || { echo "FAIL: no $f under DESTDIR"; fail=1; }
done
[ -n "$(find "$tmp/dest/usr" -name 'libvmsync.so.1*')" ] ||
	{ echo "FAIL: no libvmsync.so.1 under DESTDIR"; fail=1; }
[ $fail = 0 ] && echo "ok - installed; the example verified, shared and static"
exit $fail
