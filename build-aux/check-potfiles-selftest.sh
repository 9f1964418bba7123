#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Usage: check-potfiles-selftest.sh CHECKER CASE
#
# Proves that check-potfiles.sh can fail. It writes a tiny fake source tree
# into a temporary directory, checks that the checker accepts it as written,
# then breaks it the way CASE says and runs the checker again, exiting with
# the checker's status. Meson registers this with should_fail: true, so the
# test passes only when the checker rejects the broken tree.
#
# Anything else (the sound tree rejected, a setup step failing, the checker
# failing for an unrelated reason) exits 0 so that the test reports a failure
# instead of passing by accident.
#
# CASE is one of:
#   missing-c    a .c file that calls _() is not listed in POTFILES.in
#   missing-ui   a .ui file with translatable="yes" is not listed
#   unsorted     POTFILES.in is not in byte order
#   stale        POTFILES.in lists a file that does not exist

set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 CHECKER CASE" >&2
  exit 0
fi

checker=$1
case_name=$2

invalid ()
{
  echo "potfiles-selftest: INVALID: $*" >&2
  exit 0
}

tmpdir=$(mktemp -d) || invalid "mktemp failed"
trap 'rm -rf "$tmpdir"' EXIT HUP INT TERM
tree="$tmpdir/src"

mkdir -p "$tree/agent/common" "$tree/app" "$tree/data" "$tree/po" || invalid "mkdir failed"

cat > "$tree/app/mhf-fake-window.c" <<'EOF' || invalid "write failed"
#include <glib/gi18n.h>

const char *
mhf_fake_window_title (void)
{
  return _("Follow-ups");
}
EOF

cat > "$tree/app/mhf-fake-window.ui" <<'EOF' || invalid "write failed"
<?xml version="1.0" encoding="UTF-8"?>
<interface>
  <object class="GtkLabel">
    <property name="label" translatable="yes">Today</property>
  </object>
</interface>
EOF

cat > "$tree/agent/mhf-fake-ctl.c" <<'EOF' || invalid "write failed"
#include <glib/gi18n.h>

static const char *states[] = { N_("queued"), C_("message state", "sent") };
EOF

# No translatable strings: these must not be demanded.
cat > "$tree/agent/common/mhf-fake-util.c" <<'EOF' || invalid "write failed"
/* The agent never calls _() on its log messages; they are for developers. */
int
mhf_fake_util_answer (void)
{
  return 42;
}
EOF

cat > "$tree/data/fake.desktop.in" <<'EOF' || invalid "write failed"
[Desktop Entry]
Name=Fake
EOF

cat > "$tree/po/POTFILES.in" <<'EOF' || invalid "write failed"
# A comment line is ignored.
agent/mhf-fake-ctl.c
app/mhf-fake-window.c
app/mhf-fake-window.ui
data/fake.desktop.in
EOF

: > "$tree/po/POTFILES.skip" || invalid "write failed"

if ! "$checker" "$tree" > "$tmpdir/sound.log" 2>&1; then
  cat "$tmpdir/sound.log" >&2
  invalid "the checker rejects the sound tree"
fi

remove_line ()
{
  if ! grep -Fxv "$1" "$tree/po/POTFILES.in" > "$tmpdir/POTFILES.in" ||
    ! mv "$tmpdir/POTFILES.in" "$tree/po/POTFILES.in"; then
    invalid "editing POTFILES.in failed"
  fi
}

case "$case_name" in
  missing-c)
    remove_line app/mhf-fake-window.c
    expect='missing from po/POTFILES.in.*app/mhf-fake-window\.c'
    ;;
  missing-ui)
    remove_line app/mhf-fake-window.ui
    expect='missing from po/POTFILES.in.*app/mhf-fake-window\.ui'
    ;;
  unsorted)
    remove_line agent/mhf-fake-ctl.c
    echo agent/mhf-fake-ctl.c >> "$tree/po/POTFILES.in" || invalid "write failed"
    expect='not sorted'
    ;;
  stale)
    rm "$tree/data/fake.desktop.in" || invalid "rm failed"
    expect='does not exist: data/fake\.desktop\.in'
    ;;
  *)
    invalid "unknown case '$case_name'"
    ;;
esac

"$checker" "$tree" > "$tmpdir/broken.log" 2>&1
status=$?
cat "$tmpdir/broken.log" >&2

if [ "$status" -eq 0 ]; then
  echo "potfiles-selftest: the checker accepted a broken tree ($case_name)" >&2
  exit 0
fi
if ! grep -Eq "$expect" "$tmpdir/broken.log"; then
  invalid "the checker failed, but not for the reason under test ($case_name)"
fi

echo "potfiles-selftest: the checker rejected the broken tree as expected ($case_name)" >&2
exit "$status"
