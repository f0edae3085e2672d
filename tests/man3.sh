#!/bin/bash
# man3.sh SRCDIR - every public function has a section 3 page, and the
# pages in man/man3 are what man/man3.py makes of include/vmsync.h now
# (after a change to the header: python3 man/man3.py include/vmsync.h man/man3).
set -u
src=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$src/man/man3.py" "$src/include/vmsync.h" "$tmp" || exit 1
diff -r "$src/man/man3" "$tmp" >"$tmp.diff" 2>&1 ||
	{ echo "FAIL: man/man3 is stale; regenerate it:"; head -20 "$tmp.diff"; fail=1; }
rm -f "$tmp.diff"
n=0
for fn in $({ grep -A1 '^VMS_API$' "$src/include/vmsync.h";
	      grep -A1 '^static inline ' "$src/include/vmsync.h"; } |
	    grep -oE '\bvms_[a-z0-9_]+\(' | tr -d '(' | sort -u); do
	n=$((n + 1))
	page="$src/man/man3/$fn.3"
	[ -f "$page" ] || { echo "FAIL: $fn has no page"; fail=1; continue; }
	# A link names a family page that exists and names the function.
	if target=$(sed -n 's/^\.so man3\/\(.*\)$/\1/p' "$page") && [ -n "$target" ]; then
		page="$src/man/man3/$target"
	fi
	sed -n '/^\.SH NAME/,/^\.SH/p' "$page" | grep -qw -- "$fn" ||
		{ echo "FAIL: $fn is not in the NAME of $(basename "$page")"; fail=1; }
done
[ $fail = 0 ] && echo "ok - $n functions, each on a page; pages up to date"
exit $fail
