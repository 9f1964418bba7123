#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Offline policy checks for the Flatpak manifests in flatpak/.
#
# Usage: check-flatpak-manifest.py MANIFEST.json [MANIFEST.json ...]
#
# The manifests cannot be built here (no GNOME SDK), so this checks what the
# house style promises about them: the sandbox permissions, the app module's
# options, and that every remote source is pinned. Standard library only.

import json
import re
import sys

BASE_ID = 'com.myhealthfollowup.MyHealthFollowup'
APP_MODULE = 'myhealthfollowup'
ALLOWED_FINISH_ARGS = {
    '--share=network',
    '--share=ipc',
    '--socket=wayland',
    '--socket=fallback-x11',
    '--device=dri',
}
EXPECTED_TOP_LEVEL = {
    'runtime': 'org.gnome.Platform',
    'runtime-version': '47',
    'sdk': 'org.gnome.Sdk',
    'command': 'myhealthfollowup',
}
SHA256_RE = re.compile(r'^[0-9a-f]{64}$')


class Checker:
    def __init__(self, path):
        self.path = path
        self.errors = []

    def error(self, message):
        self.errors.append(message)

    def check(self):
        try:
            with open(self.path, encoding='utf-8') as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            self.error('cannot read manifest: {}'.format(e))
            return self.errors

        if not isinstance(manifest, dict):
            self.error('the root is not an object')
            return self.errors

        self.check_identity(manifest)
        self.check_finish_args(manifest.get('finish-args', []))
        modules = manifest.get('modules', [])
        if not isinstance(modules, list) or not modules:
            self.error('no modules')
            return self.errors
        for module in self.walk_modules(modules):
            self.check_sources(module)
        self.check_app_module(manifest, modules)
        return self.errors

    def check_identity(self, manifest):
        app_id = manifest.get('id', manifest.get('app-id'))
        if app_id not in (BASE_ID, BASE_ID + '.Devel'):
            self.error('unexpected id {!r}'.format(app_id))
        for key, value in EXPECTED_TOP_LEVEL.items():
            if manifest.get(key) != value:
                self.error('{} is {!r}, expected {!r}'.format(key, manifest.get(key), value))

    def check_finish_args(self, finish_args):
        if not isinstance(finish_args, list):
            self.error('finish-args is not a list')
            return
        for arg in finish_args:
            if not isinstance(arg, str):
                self.error('finish-args holds a non-string: {!r}'.format(arg))
                continue
            # Named separately so that the message says why, not just "not allowed".
            if arg.startswith('--filesystem'):
                self.error('host filesystem access is not allowed: {}'.format(arg))
            elif 'org.freedesktop.secrets' in arg:
                self.error('talking to the Secret Service is not allowed '
                           '(libsecret uses the Secret portal): {}'.format(arg))
            elif arg not in ALLOWED_FINISH_ARGS:
                self.error('finish-arg outside the allowed set: {}'.format(arg))
        if len(set(finish_args)) != len(finish_args):
            self.error('finish-args has duplicates')

    def walk_modules(self, modules):
        for module in modules:
            if isinstance(module, str):
                # A path to an external module file: not used by our manifests.
                self.error('external module files are not expected: {}'.format(module))
                continue
            yield module
            yield from self.walk_modules(module.get('modules', []))

    def check_sources(self, module):
        name = module.get('name', '?')
        sources = module.get('sources', [])
        if not sources:
            self.error('module {} has no sources'.format(name))
        for source in sources:
            if isinstance(source, str):
                self.error('module {}: external source files are not expected'.format(name))
                continue
            kind = source.get('type')
            if kind == 'git':
                url = source.get('url', '')
                if not url.startswith('https://'):
                    self.error('module {}: git url is not https: {!r}'.format(name, url))
                if 'branch' in source:
                    self.error('module {}: a git branch is not a pin'.format(name))
                if not source.get('tag') and not source.get('commit'):
                    self.error('module {}: git source pinned by neither tag nor commit'
                               .format(name))
                commit = source.get('commit')
                if commit is not None and not re.match(r'^[0-9a-f]{40}$', commit):
                    self.error('module {}: commit {!r} is not a full hash'.format(name, commit))
            elif kind in ('archive', 'file'):
                checksum = source.get('sha256', '')
                if not SHA256_RE.match(checksum) or len(set(checksum)) < 4:
                    # Also rejects placeholders such as 64 zeros.
                    self.error('module {}: missing or placeholder sha256'.format(name))
            elif kind in ('dir', 'patch', 'shell', 'script'):
                pass
            else:
                self.error('module {}: unexpected source type {!r}'.format(name, kind))

    def check_app_module(self, manifest, modules):
        app = modules[-1]
        if app.get('name') != APP_MODULE:
            self.error('the last module is {!r}, expected the app, {!r}'
                       .format(app.get('name'), APP_MODULE))
            return
        if app.get('buildsystem') != 'meson':
            self.error('the app module does not use meson')
        opts = app.get('config-opts', [])
        if '-Dsystemd_user_unit=false' not in opts:
            self.error('the app module lacks -Dsystemd_user_unit=false')
        devel = manifest.get('id', '').endswith('.Devel')
        if devel and '-Dprofile=development' not in opts:
            self.error('the .Devel manifest must build with -Dprofile=development')
        if not devel and '-Dprofile=development' in opts:
            self.error('the release manifest must not build the development profile')
        if app.get('sources') != [{'type': 'dir', 'path': '..'}]:
            self.error('the app module must build the source tree itself (dir "..")')


def main(argv):
    if len(argv) < 2:
        print('usage: {} MANIFEST.json...'.format(argv[0]), file=sys.stderr)
        return 2
    failed = False
    for path in argv[1:]:
        errors = Checker(path).check()
        for message in errors:
            print('{}: {}'.format(path, message), file=sys.stderr)
        if errors:
            failed = True
        else:
            print('{}: ok'.format(path))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
