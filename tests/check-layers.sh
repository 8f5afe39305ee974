#!/bin/sh
# Layering check: a lib/ layer may include only its own headers and those
# of the layers below it (the order of add_subdirectory in CMakeLists.txt).
# Daemon folders may include any lib/ layer but never another daemon's
# folder.  Exit 1 naming each include that points upward or sideways.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
layers=$(echo $(sed -n 's/^add_subdirectory(lib\/\([a-z]*\))$/\1/p' CMakeLists.txt))
status=0
rank=0
seen=" "
for layer in $layers; do
	seen="$seen$layer "
	for f in lib/"$layer"/*.[ch]; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f" | sort -u); do
			case "$seen" in
			*" $inc "*) ;;
			*) echo "layering: $f includes $inc/ (above or beside $layer)"; status=1 ;;
			esac
		done
	done
	rank=$((rank + 1))
done
for d in master queued mta lmtp imapd proxy webmail admin-api postern; do
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^#include "\([a-z-]*\)\/.*/\1/p' "$f" | sort -u); do
			case " $layers master " in
			*" $inc "*) ;;
			*) echo "layering: $f includes $inc/ (not a lib/ layer)"; status=1 ;;
			esac
		done
	done
done
[ $status -eq 0 ] && echo "layering: $rank lib/ layers, no upward includes"
exit $status
