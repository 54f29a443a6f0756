#!/usr/bin/env bash
# Installs Debian packages on this machine, from the suites it already
# uses when they can, else from its release's backports suite.
#
#   scripts/apt_install.sh PACKAGE...
#
# Why backports: a machine may hold a package from a newer suite than its
# apt sources list (an image that ships qemu-utils 10 from
# bookworm-backports, say). Then the release's own qemu-system-arm 7.2
# cannot be installed beside it (`qemu-utils : Breaks: qemu-system-common
# (< 1:8.0...)`), and only the suite it came from can satisfy both. That
# suite is added on the machine's own mirror, read from its apt sources:
# no archive address is written here.
set -euo pipefail

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# The release's code name (bookworm).
codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

# "URI|COMPONENTS|SIGNED-BY" of the first source that carries SUITE, from
# deb822 files (*.sources) or one-line lists (sources.list, *.list).
mirror_of() {
    local suite=$1 file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; comps = ""; key = ""; has = 0; deb = 0; off = 0
                for (i = 1; i <= NF; i++) {
                    split($i, kv, ":[ \t]*")
                    name = tolower(kv[1]); value = substr($i, length(kv[1]) + 2)
                    sub(/^[ \t]+/, "", value)
                    if (name == "uris") { split(value, u, " "); uri = u[1] }
                    else if (name == "components") comps = value
                    else if (name == "signed-by") key = value
                    else if (name == "enabled" && tolower(value) == "no") off = 1
                    else if (name == "types" && value ~ /(^| )deb( |$)/) deb = 1
                    else if (name == "suites") {
                        n = split(value, s, " ")
                        for (j = 1; j <= n; j++) if (s[j] == suite) has = 1
                    }
                }
                if (has && deb && !off && uri != "") { print uri "|" comps "|" key; exit }
            }' "$file" | grep . && return 0
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        awk -v suite="$suite" '$1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) {
                    comps = ""
                    for (j = i + 2; j <= NF; j++) comps = comps (comps ? " " : "") $j
                    print $i "|" comps "|"; exit
                }
            }' "$file" | grep . && return 0
    done
    return 1
}

# Adds RELEASE-backports on the mirror RELEASE comes from, unless a source
# lists it already.
enable_backports() {
    local release=$1 suite="$1-backports" found uri comps key list
    if grep -rqsE "(^|[[:space:]])$suite([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    found=$(mirror_of "$release") || {
        echo "apt_install: no apt source carries $release; cannot add $suite" >&2
        return 1
    }
    IFS='|' read -r uri comps key <<<"$found"
    list=/etc/apt/sources.list.d/$suite.sources
    echo "apt_install: adding $suite from $uri (the mirror $release comes from) in $list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n' "$uri" "$suite" "${comps:-main}"
        [ -z "$key" ] || printf 'Signed-By: %s\n' "$key"
    } | as_root tee "$list" >/dev/null
    as_root apt-get update -q
}

main() {
    [ $# -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
    as_root apt-get update -q
    # A dry run tells whether the machine's suites can satisfy the request.
    if as_root apt-get install -s -q "$@" >/dev/null 2>&1; then
        install "$@"
        return
    fi
    local release
    release=$(codename)
    [ -n "$release" ] || { echo "apt_install: unknown release; cannot install $*" >&2; exit 1; }
    echo "apt_install: $* cannot be installed from $release's suites beside what is installed;" \
        "trying $release-backports"
    enable_backports "$release"
    install -t "$release-backports" "$@"
}

main "$@"
