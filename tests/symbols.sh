#!/bin/bash
# symbols.sh LIB HEADER MAP - libvmsync.so exports exactly the functions
# include/vmsync.h declares (VMS_API), the version script lists the same,
# and the library carries its SONAME.
set -u
lib=$1 header=$2 map=$3
fail=0

exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' |
	   sed 's/@.*//' | sort -u)
declared=$(grep -A1 '^VMS_API$' "$header" | grep -oE '\bvms_[a-z0-9_]+\(' |
	   tr -d '(' | sort -u)
mapped=$(sed -n '/global:/,/local:/p' "$map" | grep -oE '\bvms_[a-z0-9_]+' |
	 sort -u)

differ() {      # differ NAME-A A NAME-B B
	local only
	only=$(comm -23 <(echo "$2") <(echo "$4"))
	[ -z "$only" ] || { echo "FAIL: $1 but not $3:" $only; fail=1; }
}
[ -n "$declared" ] || { echo "FAIL: no VMS_API declarations in $header"; exit 1; }
differ "exported" "$exported" "declared" "$declared"
differ "declared" "$declared" "exported" "$exported"
differ "declared" "$declared" "in the version script" "$mapped"
differ "in the version script" "$mapped" "declared" "$declared"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libvmsync.so.1 ] || { echo "FAIL: SONAME '$soname'"; fail=1; }
[ $fail = 0 ] && echo "ok - $(echo "$exported" | wc -l) symbols exported, each declared in vmsync.h; SONAME $soname"
exit $fail
