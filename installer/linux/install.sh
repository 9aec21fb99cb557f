#!/bin/sh
# Install (or remove) mscc-desktop from this unpacked folder.
#
#   ./install.sh                  for the current user: ~/.local/opt/mscc-desktop,
#                                 command in ~/.local/bin, menu entry in ~/.local/share
#   sudo ./install.sh --system    for every user: /opt/mscc-desktop, /usr/local/bin,
#                                 /usr/local/share/applications
#   ./install.sh --prefix DIR     the application folder goes to DIR instead
#   ./install.sh --uninstall [--system] [--prefix DIR]
#
# Needs nothing beyond POSIX sh and coreutils; works offline. An existing installation is
# replaced in one step (the new copy is staged beside it first). The reader's data (the
# results store, settings, demo study in ~/.local/share/mscc-desktop) is never touched.
set -eu

APP=mscc-desktop
HERE=$(cd "$(dirname "$0")" && pwd)
MODE=user
PREFIX=""
ACTION=install

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --system) MODE=system ;;
    --user) MODE=user ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    --uninstall) ACTION=uninstall ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

if [ "$MODE" = system ]; then
  [ "$(id -u)" = 0 ] || die "--system installs for every user and needs root: sudo $0 --system"
  APP_ROOT=${PREFIX:-/opt/$APP}
  BIN_DIR=/usr/local/bin
  SHARE=/usr/local/share
else
  [ -n "${HOME:-}" ] || die "HOME is not set"
  APP_ROOT=${PREFIX:-$HOME/.local/opt/$APP}
  BIN_DIR=$HOME/.local/bin
  SHARE=${XDG_DATA_HOME:-$HOME/.local/share}
fi
case "$APP_ROOT" in /*) ;; *) APP_ROOT=$(pwd)/$APP_ROOT ;; esac
RECORD="$APP_ROOT/.installed-files"

refresh_caches() {
  # Menus, icons and file types pick the changes up without a new login where these exist.
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$SHARE/applications" 2>/dev/null || true
  fi
  if command -v update-mime-database >/dev/null 2>&1; then
    update-mime-database "$SHARE/mime" >/dev/null 2>&1 || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t -f "$SHARE/icons/hicolor" 2>/dev/null || true
  fi
}

uninstall() {
  if [ -f "$RECORD" ]; then
    while IFS= read -r path; do
      [ -n "$path" ] && rm -f "$path"
    done < "$RECORD"
  fi
  if [ -x "$APP_ROOT/$APP" ] && [ -d "$APP_ROOT/_internal" ]; then
    rm -rf "$APP_ROOT"
  elif [ -e "$APP_ROOT" ]; then
    die "$APP_ROOT does not look like an mscc-desktop installation; not removing it"
  fi
  refresh_caches
  echo "Removed mscc-desktop from $APP_ROOT."
  echo "Your results store and settings are kept (remove ~/.local/share/$APP to delete them)."
}

if [ "$ACTION" = uninstall ]; then
  uninstall
  exit 0
fi

[ -x "$HERE/$APP" ] && [ -d "$HERE/_internal" ] || die "run me from the unpacked mscc-desktop folder"
if [ "$HERE" = "$APP_ROOT" ]; then
  die "already in $APP_ROOT; run the install.sh of a newly unpacked folder"
fi

# Stage the new copy beside the target, then swap: a failed copy leaves the old one working.
PARENT=$(dirname "$APP_ROOT")
mkdir -p "$PARENT"
STAGED="$APP_ROOT.new.$$"
rm -rf "$STAGED"
cp -R "$HERE/." "$STAGED"
chmod -R u+rwX,go+rX,go-w "$STAGED"
if [ -e "$APP_ROOT" ]; then
  if [ -f "$RECORD" ]; then
    while IFS= read -r path; do [ -n "$path" ] && rm -f "$path"; done < "$RECORD"
  fi
  OLD="$APP_ROOT.old.$$"
  mv "$APP_ROOT" "$OLD"
  mv "$STAGED" "$APP_ROOT"
  rm -rf "$OLD"
else
  mv "$STAGED" "$APP_ROOT"
fi

: > "$RECORD"
put() {  # put SOURCE TARGET: copy one desktop-integration file and record it for uninstall
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2"
  chmod 644 "$2"
  echo "$2" >> "$RECORD"
}

mkdir -p "$BIN_DIR"
ln -sf "$APP_ROOT/$APP" "$BIN_DIR/$APP"
echo "$BIN_DIR/$APP" >> "$RECORD"

DESKTOP_TMP="$APP_ROOT/.desktop.tmp"
sed "s|@EXEC@|$APP_ROOT/$APP|g" "$APP_ROOT/share/applications/$APP.desktop" > "$DESKTOP_TMP"
put "$DESKTOP_TMP" "$SHARE/applications/$APP.desktop"
rm -f "$DESKTOP_TMP"

for icon in "$APP_ROOT"/share/icons/hicolor/*/apps/$APP.*; do
  size_dir=$(basename "$(dirname "$(dirname "$icon")")")
  put "$icon" "$SHARE/icons/hicolor/$size_dir/apps/$(basename "$icon")"
done
put "$APP_ROOT/share/mime/packages/$APP.xml" "$SHARE/mime/packages/$APP.xml"

refresh_caches

echo "Installed mscc-desktop in $APP_ROOT"
echo "  command:    $BIN_DIR/$APP   (try: $APP --version, $APP --demo)"
echo "  menu entry: $SHARE/applications/$APP.desktop"
case ":${PATH:-}:" in
  *":$BIN_DIR:"*) ;;
  *) echo "  note: $BIN_DIR is not on your PATH; start it as $APP_ROOT/$APP" ;;
esac
