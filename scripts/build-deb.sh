#!/usr/bin/env bash
# Builds a Debian package of the tree with dpkg-deb, offline: the plugin in the system GStreamer
# plugin directory, see2ai-cache and see2ai-devserver in /usr/bin, README and examples in
# /usr/share/doc/gstreamer1.0-see2ai. Depends comes from dpkg-shlibdeps: the Debian packages of
# the shared libraries the binaries link against.
#
# Usage: scripts/build-deb.sh [--build-dir DIR] [--out DIR]
#   --build-dir DIR  package the binaries of this existing build directory (its targets are
#                    brought up to date with ninja); default: configure and build build-deb/
#                    (release, warnings as errors, no tests)
#   --out DIR        where the .deb goes (default: the build directory)
# Prints the path of the package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
package=gstreamer1.0-see2ai
build=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$build" ]; then
  build="$root/build-deb"
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release --prefix=/usr -Dwerror=true \
      -Dtests=disabled >/dev/null
  fi
fi
build=$(cd "$build" && pwd)
out=${out:-$build}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ninja -C "$build" gst/libgstsee2ai.so tools/see2ai-cache devserver/see2ai-devserver >/dev/null

version=$(meson introspect --projectinfo "$build" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
plugindir=$(pkg-config --variable=pluginsdir gstreamer-1.0)
docdir=/usr/share/doc/$package

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$stage/DEBIAN" "$stage$plugindir" "$stage/usr/bin" "$stage$docdir/examples"

install -m 0644 "$build/gst/libgstsee2ai.so" "$stage$plugindir/"
install -m 0755 "$build/tools/see2ai-cache" "$build/devserver/see2ai-devserver" "$stage/usr/bin/"
strip --strip-unneeded "$stage$plugindir/libgstsee2ai.so" "$stage/usr/bin/see2ai-cache" \
  "$stage/usr/bin/see2ai-devserver"

install -m 0644 "$root/README.md" "$stage$docdir/"
(cd "$root/examples" && find . -type f ! -name meson.build -print0) |
  while IFS= read -r -d '' file; do
    mode=0644
    [ -x "$root/examples/$file" ] && mode=0755
    install -D -m "$mode" "$root/examples/$file" "$stage$docdir/examples/$file"
  done
license=$(sed -n "s/^ *license *: *'\([^']*\)'.*/\1/p" "$root/meson.build")
cat >"$stage$docdir/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: see2ai-gst

Files: *
Copyright: the see2ai-gst developers
License: $license
EOF

# dpkg-shlibdeps reads the package's name from a debian/control.
mkdir -p "$work/src/debian"
printf 'Source: see2ai-gst\n\nPackage: %s\nArchitecture: any\n' "$package" \
  >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O --warnings=0 \
  "$stage$plugindir/libgstsee2ai.so" "$stage/usr/bin/see2ai-cache" \
  "$stage/usr/bin/see2ai-devserver" | sed -n 's/^shlibs:Depends=//p')
if [ -z "$depends" ]; then
  echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2
  exit 1
fi

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: $arch
Maintainer: see2ai-gst developers <see2ai-gst@localhost>
Installed-Size: $installed_size
Depends: $depends
Recommends: gstreamer1.0-tools, gstreamer1.0-plugins-base, gstreamer1.0-plugins-good
Section: video
Priority: optional
Description: GStreamer source element for SEE2AI text-to-video generation
 see2aivideosrc turns a text prompt into raw video and audio: it submits a request
 to the SEE2AI video generation service, follows the task, downloads the MP4 and
 decodes it. Finished clips are cached and a run that dies resumes without paying
 twice. Also ships see2ai-cache (list, collect, prune and verify the cache of paid
 clips) and see2ai-devserver (a local fake of the service for tests).
EOF

deb="$out/${package}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip -b "$stage" "$deb" >/dev/null
echo "$deb"
