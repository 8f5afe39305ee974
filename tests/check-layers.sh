#!/bin/sh
# Layering check: a lib/ layer may include only its own headers and those
# of the layers below it (the order of add_subdirectory in CMakeLists.txt).
# Daemon folders may include any lib/ layer but never another daemon's
# folder, by path, include directory or library (below).  Exit 1 naming
# each include or link that points upward or sideways.
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
# The daemon folders: every other add_subdirectory of the top CMakeLists.
daemons=$(echo $(sed -n 's/^add_subdirectory(\([a-z-]*\)\( [a-z-]*\)\{0,1\})$/\1/p' CMakeLists.txt | grep -v '^tests$'))
for d in $daemons; do
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

# "A daemon folder holds only what is that daemon's own": a daemon may
# not reach into another daemon's folder, by a header without a folder
# (found through another folder's include path) or by linking another
# folder's library.  master/ is shared (the postern command drives it).
# KNOWN lists allowed crossings as "folder:what": none are left (the
# last, queued's and the webmail's use of smtpd's recipient resolution,
# is lib/rewrite/virtual.c now); keep it empty.
KNOWN=" "
libs_of() {
	sed -n 's/^add_library(\([A-Za-z0-9_]*\) .*/\1/p' "$1/CMakeLists.txt" 2>/dev/null
}
# A folder's CMake commands of one kind, one a line (commands span lines).
commands() {
	tr '\n' ' ' <"$1/CMakeLists.txt" | sed 's/)/)\n/g' | grep "$2(" || true
}
for d in $daemons; do
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		for h in $(sed -n 's/^#include "\([A-Za-z0-9_.-]*\)".*/\1/p' "$f" | sort -u); do
			[ -e "$d/$h" ] && continue
			case "$KNOWN" in *" $d:$h "*) continue ;; esac
			echo "layering: $f includes $h, which is not in $d/ (another daemon's header?)"
			status=1
		done
	done
	[ -e "$d/CMakeLists.txt" ] || continue
	# Include paths: only the folder itself (CMAKE_CURRENT_SOURCE_DIR).
	for other in $daemons; do
		[ "$other" = "$d" ] && continue
		if commands "$d" include_directories |
			grep -Eq "(SOURCE_DIR\}/|\.\./)$other([/ )]|$)"; then
			echo "layering: $d/CMakeLists.txt adds $other/ to its include path"
			status=1
		fi
		[ "$other" = master ] && continue
		for lib in $(libs_of "$other"); do
			commands "$d" target_link_libraries |
				grep -Eq "[ (]$lib([ )]|$)" || continue
			case "$KNOWN" in *" $d:$lib "*) continue ;; esac
			echo "layering: $d/ links $lib, $other/'s library"
			status=1
		done
	done
done
[ $status -eq 0 ] && echo "layering: $rank lib/ layers, no upward includes; $(echo $daemons | wc -w) daemon folders, none reaching into another"
exit $status
