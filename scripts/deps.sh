#!/usr/bin/env bash
# deps.sh: check for what ptrain needs to build, test, fetch MNIST and plot,
# and install only what is missing with apt (Debian/Ubuntu). As root it runs
# apt-get itself; otherwise it prints the exact command and fails. Safe with
# no terminal and no stdin (CI).
set -euo pipefail

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Prints the Debian packages that provide what is missing, one per line.
missing_packages() {
    # --no-install-recommends would leave gcc without the C library headers
    # it merely recommends, so ask for them alongside.
    have cc || printf '%s\n' gcc libc6-dev
    have make || echo make
    have gnuplot || echo gnuplot-nox
    # npm and node may come from outside Debian (nodesource, nvm), and
    # Debian's npm conflicts with those: ask for it only when there is no npm.
    have npm || echo npm
    local modules=(hwloc:libhwloc-dev inih:libinih-dev cmocka:libcmocka-dev zlib:zlib1g-dev)
    local m
    if have pkg-config; then
        for m in "${modules[@]}"; do
            pkg-config --exists "${m%%:*}" || echo "${m#*:}"
        done
    else
        # Libraries are found through pkg-config, so without it none of them
        # can be checked; apt skips any that are already installed.
        echo pkg-config
        for m in "${modules[@]}"; do echo "${m#*:}"; done
    fi
}

mapfile -t pkgs < <(missing_packages)
if [[ ${#pkgs[@]} -eq 0 ]]; then
    say "everything ptrain needs is installed"
    exit 0
fi

install_line="apt-get install -y --no-install-recommends ${pkgs[*]}"
if [[ $(id -u) -ne 0 ]]; then
    printf 'deps: missing packages: %s\n' "${pkgs[*]}" >&2
    printf 'deps: install them with:\n    sudo %s\n' "$install_line" >&2
    exit 1
fi
have apt-get || die "missing packages ${pkgs[*]}, and there is no apt-get to install them; install the equivalents with your system's package manager"

export DEBIAN_FRONTEND=noninteractive
say "installing: ${pkgs[*]}"
# A fresh container often has empty package lists; refresh them only when the
# first attempt fails, so the usual case stays offline-fast.
if ! apt-get install -y --no-install-recommends "${pkgs[@]}" </dev/null; then
    say "apt-get install failed; running apt-get update and trying once more"
    apt-get update </dev/null || die "apt-get update failed (network or apt sources?)"
    apt-get install -y --no-install-recommends "${pkgs[@]}" </dev/null \
        || die "apt-get install failed twice for: ${pkgs[*]}"
fi

hash -r
mapfile -t still < <(missing_packages)
if [[ ${#still[@]} -gt 0 ]]; then
    die "still missing after installing: ${still[*]} (apt-get reported success, but the command or pkg-config module is not there)"
fi
say "installed: ${pkgs[*]}"
