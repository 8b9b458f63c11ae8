#!/usr/bin/env bash
# clang-flags.sh TREE FILE.c
#
# Prints, ONE FLAG PER LINE, the clang flags that parse FILE.c of the Linux 6.1
# tree TREE the way Debian builds it for amd64 (config, generated headers and
# kbuild flags of the installed linux-headers-amd64 package).  A line is one
# argv element, never shell-quoted: -DKBUILD_MODNAME="core" is printed as is.
#
#   mapfile -t flags < <(scripts/clang-flags.sh "$tree" "$tree/kernel/sched/core.c")
#   dynwalk-clangref "$tree/kernel/sched/core.c" -- "${flags[@]}"
#
# How: the real gcc command line of kbuild is captured once per kernel version
# (`make V=1` on a one-line out-of-tree module against /lib/modules/$KVER/build)
# and cached in ${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk/kbuild-cmd-$KVER.txt.
# It is then adapted:
#   - include paths of the headers' "-common" package point into TREE instead
#     (same 6.1.x release), generated dirs stay in /lib/modules/$KVER/build;
#   - -I for the file's own directory (many Makefiles add -I$(src));
#   - -DMODULE / KBUILD_MODNAME / KBUILD_BASENAME / KBUILD_MODFILE as kbuild
#     derives them (module or built-in decided from the directory's Makefile
#     and Debian's .config, see is_modular below);
#   - dropped: warnings (-W*), dependency/output flags, debug/profiling code
#     generation (-g -pg -mfentry -mrecord-mcount) and gcc-only flags clang
#     rejects or ignores; -mpreferred-stack-boundary=3 becomes
#     -mstack-alignment=8 as in the kernel's own clang build;
#   - added: --target=x86_64-linux-gnu, -ferror-limit=0 (count every error).
# Note: autoconf.h comes from a gcc build (CONFIG_CC_IS_GCC=y); the kernel's
# compiler_types.h still picks compiler-clang.h because it tests __clang__.
#
# Exit codes: 0 ok, 2 usage, 3 headers package missing, 4 capture failed.
set -euo pipefail

die() { echo "clang-flags.sh: $2" >&2; exit "$1"; }

[ $# -eq 2 ] || die 2 "usage: clang-flags.sh TREE FILE.c"
tree=$(cd "$1" 2>/dev/null && pwd) || die 2 "no such tree: $1"
[ -f "$tree/Makefile" ] && [ -d "$tree/arch/x86/include" ] || die 2 "not a kernel tree: $tree"
[ -f "$2" ] || die 2 "no such file: $2"
file=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
case "$file" in
    "$tree"/*.c) rel=${file#"$tree"/} ;;
    *) die 2 "$2 is not a .c file inside $tree" ;;
esac

# Kernel version of Debian's headers: from the meta package's dependency.
kver=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null \
       | sed -n 's/.*linux-headers-\([0-9][^ ,]*-amd64\).*/\1/p')
[ -n "$kver" ] || die 3 "linux-headers-amd64 is not installed"
build=/lib/modules/$kver/build
[ -f "$build/.config" ] || die 3 "$build/.config missing"
build=$(cd "$build" && pwd -P)
common=/usr/src/linux-headers-${kver%-amd64}-common

# The generated headers must match the tree: compare the upstream versions.
headers_version=$(dpkg-query -W -f='${Version}' linux-headers-amd64 | sed 's/-[^-]*$//')
tree_version=$(awk -F' = ' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2} $1=="SUBLEVEL"{s=$2}
                            END{print v "." p "." s}' "$tree/Makefile")
[ "$tree_version" = "$headers_version" ] || echo "clang-flags.sh: note: tree is $tree_version," \
    "linux-headers-amd64 is $headers_version; generated headers may not match" >&2

# --- capture kbuild's real command line once --------------------------------
cache=${XDG_CACHE_HOME:-$HOME/.cache}/dynwalk
captured=$cache/kbuild-cmd-$kver.txt
capture() {
    local mod
    mod=$(mktemp -d)
    printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >"$mod/probe.c"
    echo 'obj-m := probe.o' >"$mod/Makefile"
    if make -C "$build" M="$mod" V=1 modules >"$mod/log" 2>&1; then
        grep -E '^ *gcc[-0-9]* .* -c -o [^ ]*/probe\.o ' "$mod/log" | head -n1 | sed 's/ *;.*//' >"$mod/cmd"
    fi
    if [ -s "$mod/cmd" ]; then
        mkdir -p "$cache"
        mv "$mod/cmd" "$captured.tmp.$$" && mv "$captured.tmp.$$" "$captured"
    fi
    rm -rf "$mod"
    [ -s "$captured" ]
}
[ -s "$captured" ] || capture || die 4 "could not capture kbuild's command line from $build"

# --- module or built-in? ------------------------------------------------------
# A small evaluator of the directory's kbuild Makefile with Debian's .config:
# ifdef/ifndef/ifeq/ifneq/else/endif on CONFIG values, = := += ?= assignments,
# $(CONFIG_X) and $(var) references. Prints "STATE NAME": STATE is y (built-in),
# m (module: -DMODULE) or n (not built with this config); NAME is the object kbuild
# names it after (the composite object, e.g. ext4 for fs/ext4/inode.c).
object_state() {  # dir object.o
    local mk=$1/Makefile
    [ -f "$mk" ] || mk=$1/Kbuild
    [ -f "$mk" ] || { echo "n ${2%.o}"; return; }
    awk -v cfg="$build/.config" -v obj="$2" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    function expand(s,   name, val, guard) {
        while (guard++ < 100 && match(s, /\$\([A-Za-z0-9_-]+\)/)) {
            name = substr(s, RSTART + 2, RLENGTH - 3)
            val = (name ~ /^CONFIG_/) ? C[name] : V[name]
            s = substr(s, 1, RSTART - 1) val substr(s, RSTART + RLENGTH)
        }
        return s
    }
    function active(   i) { for (i = 1; i <= depth; i++) if (!ACT[i]) return 0; return 1 }
    function has(list, o,   w, n, i) {
        n = split(list, w, /[ \t]+/)
        for (i = 1; i <= n; i++) if (w[i] == o) return 1
        return 0
    }
    BEGIN {
        while ((getline l < cfg) > 0)
            if (l ~ /^CONFIG_[A-Za-z0-9_]+=/) { k = l; sub(/=.*/, "", k); v = l; sub(/^[^=]*=/, "", v); C[k] = v }
    }
    { line = line $0 }
    /\\$/ { sub(/\\$/, " ", line); next }
    {
        l = line; line = ""; sub(/#.*/, "", l)
        if (l ~ /^[ \t]*ifn?def[ \t]/) {
            split(trim(l), w, /[ \t]+/); depth++
            ACT[depth] = (expand("$(" w[2] ")") != "") == (w[1] == "ifdef"); next
        }
        if (l ~ /^[ \t]*ifn?eq[ \t]*\(/) {
            x = trim(l); neg = (x ~ /^ifneq/); sub(/^ifn?eq[ \t]*\(/, "", x); sub(/\)$/, "", x)
            split(x, p, ","); depth++
            ACT[depth] = (trim(expand(p[1])) == trim(expand(p[2]))) != neg; next
        }
        if (l ~ /^[ \t]*else[ \t]*$/) { ACT[depth] = !ACT[depth]; next }
        if (l ~ /^[ \t]*endif/) { if (depth > 0) depth--; next }
        if (!active()) next
        if (match(l, /^[ \t]*[^ \t:+?=]+[ \t]*(\+=|:=|\?=|=)/)) {
            head = substr(l, 1, RLENGTH); rhs = expand(substr(l, RLENGTH + 1))
            op = head; sub(/^[^+:?=]*/, "", op); lhs = trim(expand(substr(head, 1, length(head) - length(op))))
            if (op == "+=") V[lhs] = V[lhs] " " rhs
            else if (op != "?=" || !(lhs in V)) V[lhs] = rhs
        }
    }
    END {
        state = "n"; name = obj
        if (has(V["obj-y"] " " V["lib-y"], obj)) state = "y"
        if (has(V["obj-m"], obj)) state = "m"
        for (s = 0; s < 2; s++) {
            n = split(s ? V["obj-m"] : V["obj-y"], w, /[ \t]+/)
            for (i = 1; i <= n; i++) {
                c = w[i]; sub(/\.o$/, "", c)
                if (c == w[i] || w[i] == obj) continue
                if (has(V[c "-y"] " " V[c "-objs"], obj) && (state != "m")) { state = s ? "m" : "y"; name = c ".o" }
            }
        }
        sub(/\.o$/, "", name); print state, name
    }' "$mk"
}

dir=$(dirname "$file")
base=$(basename "$file" .c)
read -r state rawname < <(object_state "$dir" "$base.o" 0)
modname=${rawname//[-,]/_}
[ "$state" != n ] || echo "clang-flags.sh: note: $rel is not built with Debian's config;" \
    "clang may report errors (code under disabled options)" >&2

# --- adapt the captured command line -----------------------------------------
emit() { printf '%s\n' "$@"; }
remap() {  # a path of the captured command -> the path clang should use
    case "$1" in
        "$common"/*) echo "$tree/${1#"$common"/}" ;;
        ./*) echo "$build/${1#./}" ;;
        *) echo "$1" ;;
    esac
}

emit --target=x86_64-linux-gnu
read -r -a words <"$captured"
i=0
while [ $i -lt ${#words[@]} ]; do
    w=${words[$i]}
    i=$((i + 1))
    case "$w" in
        ';') break ;;  # objtool and friends follow the compiler command
        gcc|gcc-*|-c|-g|-pg|-mfentry|-mrecord-mcount) ;;
        -o) i=$((i + 1)) ;;
        -include)
            inc=$(remap "${words[$i]}"); i=$((i + 1))
            case "$inc" in */compiler-version.h) ;; *) emit -include "$inc" ;; esac ;;
        -I*) emit "-I$(remap "${w#-I}")" ;;
        -W*|-fmacro-prefix-map=*|-DKBUILD_*|-D__KBUILD_MODNAME=*|-DMODULE) ;;
        # gcc-only code generation flags (clang rejects or ignores them)
        -mindirect-branch*|-mfunction-return=*|-mharden-sls=*|-mskip-rax-setup) ;;
        -mno-fp-ret-in-387|-fno-allow-store-data-races|-fconserve-stack) ;;
        -falign-jumps=*|-falign-loops=*|-ftrivial-auto-var-init=*|-fno-stack-check) ;;
        -fno-stack-clash-protection) ;;
        -mpreferred-stack-boundary=3) emit -mstack-alignment=8 ;;
        *.c|*.o) ;;
        *) emit "$w" ;;
    esac
done
emit "-I$dir" -ferror-limit=0
[ "$state" = m ] && emit -DMODULE
emit "-DKBUILD_BASENAME=\"${base//[-,]/_}\"" "-DKBUILD_MODNAME=\"$modname\"" \
     "-D__KBUILD_MODNAME=kmod_$modname"
[ "$state" = m ] || emit "-DKBUILD_MODFILE=\"$(dirname "$rel")/$rawname\""
