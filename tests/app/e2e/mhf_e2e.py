# SPDX-License-Identifier: GPL-3.0-or-later
#
# mhf_e2e.py: a private desktop for one end-to-end run, and the few
# AT-SPI moves a user makes in it.
#
# Session starts, each in this run's own folders and torn down at the end:
#   - Xvfb on a display of its own (-displayfd picks a free one), so that
#     no other test's window can take the keyboard or the pointer;
#   - a dbus-daemon whose only services are the agent from the build tree
#     and org.a11y.Bus (at-spi-bus-launcher, which starts the a11y bus and
#     at-spi2-registryd); the agent, the keyring and the launcher inherit
#     this run's HOME, XDG_* folders and DISPLAY;
#   - gnome-keyring-daemon, unlocked with a throwaway password;
#   - the fake Cliniko with the sample clinic, on 127.0.0.1;
#   - the app, with AT_SPI_BUS_ADDRESS set to this session's a11y bus
#     (and the same in this process before pyatspi is imported), so that
#     GTK's own AT-SPI backend and pyatspi meet on the same bus whatever
#     else runs on the machine.
#
# What GTK 4.8 + libadwaita 1.2 give over AT-SPI (found while writing
# this test):
#   - pyatspi lists the app by its binary name, "myhealthfollowup";
#   - buttons, toggle buttons and switches have Action: doAction(0) clicks;
#   - entries (AdwEntryRow's GtkText) implement Text and EditableText, but
#     have no Action, Component.grabFocus fails (atspi_error), and no
#     entry ever reports STATE_FOCUSED (the focus is on the row's inner
#     GtkText, which is not in the tree). Below the window nothing reports
#     STATE_SHOWING either: hidden stack pages are in the tree with the same
#     states as the visible one (hidden widgets are left out). So a step
#     types where the app put the cursor and then reads the entry back
#     through Text: the text it typed proves the focus was there. It asserts
#     on what only the expected page shows (the window subtitle, a title,
#     a row); the clinic's page tabs do report SELECTED;
#   - extents come in window coordinates whatever the type asked for;
#     without a window manager the main window sits at 0,0, but dialogs
#     are placed by nobody, so the test does not click by coordinates;
#   - AdwWindow has no accessible role (a "filler"), AdwMessageDialog is a
#     "dialog"; message dialogs carry each response button twice (their
#     wide and narrow layouts), either one works;
#   - the text of password entries is readable over AT-SPI in clear: the
#     test compares lengths only and never prints them;
#   - typing is real keyboard input: Atspi.generate_keyboard_event asks
#     at-spi2-registryd, which uses XTest on this run's Xvfb. The keys go
#     to the X input focus; without a window manager GTK gives its window
#     the X focus itself when it is presented (XSetInputFocus), so the key
#     goes to the widget that has GTK's focus in the newest window. The
#     test only types after it has seen that widget's FOCUSED state.

import os
import shutil
import signal
import subprocess
import tempfile
import time

# A sanitizer build runs several times slower: meson passes a larger wait.
DEFAULT_TIMEOUT = float(os.environ.get("MHF_E2E_TIMEOUT", "20"))
POLL = 0.1


class StepFailed(Exception):
    pass


def _env_path(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit("%s is not set; run this through meson test" % name)
    return value


class Session:
    """One private desktop: X server, session bus, keyring, a11y bus."""

    def __init__(self, log_dir):
        self.procs = []
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="mhf-e2e-")
        self.env = self._base_env()
        self.display = self._start_x()
        self.env["DISPLAY"] = self.display
        self.bus = self._start_bus()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.bus
        self._start_keyring()
        self.a11y_bus = self._a11y_address()
        self.env["AT_SPI_BUS_ADDRESS"] = self.a11y_bus
        self.fake_url = None
        self.app = None

    # ---- setup -------------------------------------------------------------------------------

    def _base_env(self):
        env = dict(os.environ)
        # Nothing of the caller's session may leak in: its bus, its a11y
        # bus, its display, and the GTK test settings that turn AT-SPI off.
        for name in ("DBUS_SESSION_BUS_ADDRESS", "AT_SPI_BUS_ADDRESS", "DISPLAY",
                     "WAYLAND_DISPLAY", "NO_AT_BRIDGE", "GTK_A11Y", "GTK_MODULES",
                     "GNOME_KEYRING_CONTROL", "SSH_AUTH_SOCK", "G_DEBUG", "MALLOC_CHECK_",
                     "MALLOC_PERTURB_"):
            env.pop(name, None)
        dirs = {
            "HOME": "home",
            "XDG_DATA_HOME": "home/.local/share",
            "XDG_CONFIG_HOME": "home/.config",
            "XDG_CACHE_HOME": "home/.cache",
            "XDG_STATE_HOME": "home/.local/state",
            "XDG_RUNTIME_DIR": "runtime",
        }
        for name, sub in dirs.items():
            path = os.path.join(self.root, sub)
            os.makedirs(path, mode=0o700, exist_ok=True)
            env[name] = path
        os.chmod(env["XDG_RUNTIME_DIR"], 0o700)
        env.update(GDK_BACKEND="x11", GSK_RENDERER="cairo", GTK_A11Y="atspi",
                   ADW_DISABLE_PORTAL="1", GSETTINGS_BACKEND="memory",
                   GIO_USE_PROXY_RESOLVER="dummy", GIO_USE_VFS="local",
                   LC_ALL="C.UTF-8", LANGUAGE="")
        return env

    def _log(self, name):
        return open(os.path.join(self.log_dir, name), "ab")

    def _spawn(self, argv, log, **kwargs):
        proc = subprocess.Popen(argv, env=kwargs.pop("env", self.env), stderr=self._log(log),
                                **kwargs)
        self.procs.append(proc)
        return proc

    def _start_x(self):
        r, w = os.pipe()
        self._spawn(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24",
                     "-nolisten", "tcp", "-noreset"], "xvfb.log", pass_fds=(w,),
                    stdout=subprocess.DEVNULL)
        os.close(w)
        number = b""
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(r, 16)
            if not chunk:
                break
            number += chunk
        os.close(r)
        if not number.strip():
            raise StepFailed("Xvfb did not start; see xvfb.log")
        return ":" + number.decode().strip()

    def _start_bus(self):
        services = os.path.join(self.root, "services")
        os.makedirs(services)
        # The agent comes from the build tree (tests/services); the a11y
        # bus launcher from the system, as a desktop session would start it.
        with open(os.path.join(services, "org.a11y.Bus.service"), "w") as f:
            f.write("[D-BUS Service]\nName=org.a11y.Bus\nExec=%s\n" % a11y_launcher())
        config = os.path.join(self.root, "session.conf")
        with open(config, "w") as f:
            f.write("<busconfig>\n"
                    "  <type>session</type>\n"
                    "  <listen>unix:tmpdir=%s</listen>\n"
                    "  <servicedir>%s</servicedir>\n"
                    "  <servicedir>%s</servicedir>\n"
                    "  <policy context=\"default\">\n"
                    "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                    "    <allow eavesdrop=\"true\"/>\n"
                    "    <allow own=\"*\"/>\n"
                    "  </policy>\n"
                    "</busconfig>\n" % (self.env["XDG_RUNTIME_DIR"],
                                         _env_path("MHF_TEST_SERVICES_DIR"), services))
        proc = self._spawn(["dbus-daemon", "--nofork", "--print-address=1", "--config-file",
                            config], "session-bus.log", stdout=subprocess.PIPE)
        address = proc.stdout.readline().decode().strip()
        if not address:
            raise StepFailed("the session bus did not start; see session-bus.log")
        return address

    def _start_keyring(self):
        # It forks away once the keyring is unlocked and leaves with the bus.
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"],
                       input=b"mhf-e2e-keyring", env=self.env, stdout=subprocess.DEVNULL,
                       stderr=self._log("keyring.log"), check=True, timeout=DEFAULT_TIMEOUT)

    def _a11y_address(self):
        out = subprocess.run(["gdbus", "call", "--session", "--dest", "org.a11y.Bus",
                              "--object-path", "/org/a11y/bus",
                              "--method", "org.a11y.Bus.GetAddress"],
                             env=self.env, capture_output=True, text=True,
                             timeout=DEFAULT_TIMEOUT)
        text = out.stdout.strip()
        # "('unix:path=…,guid=…',)"
        if not text.startswith("('"):
            raise StepFailed("no a11y bus: %s" % out.stderr.strip())
        return text[2:text.rindex("'")]

    # ---- the parts of the product --------------------------------------------------------------

    def start_fake_cliniko(self):
        proc = self._spawn([_env_path("MHF_FAKE_CLINIKO"), "--fixture",
                            _env_path("MHF_SAMPLE_CLINIC")], "fake-cliniko.log",
                           stdout=subprocess.PIPE)
        self.fake_url = proc.stdout.readline().decode().strip()
        if not self.fake_url.startswith("http://127.0.0.1:"):
            raise StepFailed("the fake Cliniko did not start; see fake-cliniko.log")
        return self.fake_url

    def start_app(self):
        self.app = self._spawn([_env_path("MHF_APP")], "app.log", stdout=subprocess.DEVNULL)
        return self.app

    def ctl(self, args, stdin=""):
        """myhealthfollowupctl ARGS on this session's bus; returns stdout."""
        out = subprocess.run([_env_path("MHF_CTL")] + args, input=stdin, env=self.env,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise StepFailed("myhealthfollowupctl %s: %s" % (" ".join(args), out.stderr.strip()))
        return out.stdout

    def screenshot(self, name):
        path = os.path.join(self.log_dir, name)
        subprocess.run(["import", "-display", self.display, "-window", "root", path],
                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=DEFAULT_TIMEOUT)
        return path

    def close(self):
        # The app first, then the fake and the bus: the agent, the keyring
        # and the a11y bus leave with the session bus; the X server last.
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def a11y_launcher():
    try:
        with open("/usr/share/dbus-1/services/org.a11y.Bus.service") as f:
            for line in f:
                if line.startswith("Exec="):
                    return line[5:].strip()
    except OSError:
        pass
    return "/usr/libexec/at-spi-bus-launcher"


# ---- AT-SPI ----------------------------------------------------------------------------------------

pyatspi = None


def connect(session):
    """Imports pyatspi with this session's a11y bus and display."""
    global pyatspi
    os.environ["AT_SPI_BUS_ADDRESS"] = session.a11y_bus
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = session.bus
    os.environ["DISPLAY"] = session.display
    import pyatspi as module
    pyatspi = module


def states(acc):
    try:
        return acc.getState()
    except Exception:
        return None


def has_state(acc, state):
    s = states(acc)
    return s is not None and s.contains(state)


def children(acc):
    try:
        count = acc.childCount
    except Exception:
        return []
    out = []
    for i in range(count):
        try:
            child = acc.getChildAtIndex(i)
        except Exception:
            child = None
        if child is not None:
            out.append(child)
    return out


def role(acc):
    try:
        return acc.getRoleName()
    except Exception:
        return ""


def name(acc):
    try:
        return acc.name or ""
    except Exception:
        return ""


def text_of(acc):
    """The text a label or entry shows."""
    try:
        t = acc.queryText()
        return t.getText(0, t.characterCount)
    except Exception:
        return name(acc)


def walk(acc, depth=0, limit=60):
    yield acc
    if depth >= limit:
        return
    for child in children(acc):
        yield from walk(child, depth + 1, limit)


def find_all(root, pred):
    return [a for a in walk(root) if pred(a)]


def find(root, pred):
    for a in walk(root):
        if pred(a):
            return a
    return None


def need(root, pred, what, timeout=DEFAULT_TIMEOUT):
    """Waits for a widget the step cannot go on without."""
    return wait_for(what, lambda: find(root, pred), timeout)


def by(role_name=None, name_is=None, name_starts=None, name_has=None):
    def pred(a):
        if role_name is not None and role(a) != role_name:
            return False
        n = name(a)
        if name_is is not None and n != name_is:
            return False
        if name_starts is not None and not n.startswith(name_starts):
            return False
        if name_has is not None and name_has not in n:
            return False
        return True
    return pred


def app_root(app_name="myhealthfollowup"):
    desktop = pyatspi.Registry.getDesktop(0)
    for a in children(desktop):
        if name(a) == app_name:
            return a
    return None


def windows(app):
    """The app's toplevels: its window, editors and message dialogs."""
    return children(app)


def dump(acc, out, depth=0, limit=40):
    if acc is None:
        out.append("(nothing)")
        return
    s = states(acc)
    flags = []
    if s is not None:
        for st in (pyatspi.STATE_FOCUSED, pyatspi.STATE_CHECKED, pyatspi.STATE_SENSITIVE,
                   pyatspi.STATE_ACTIVE):
            if s.contains(st):
                flags.append(pyatspi.stateToString(st))
    label = name(acc)
    if role(acc) in ("label", "text") and text_of(acc) != label:
        label += " | " + text_of(acc)
    out.append("%s[%s] %r %s" % ("  " * depth, role(acc), label, " ".join(flags)))
    if depth < limit:
        for child in children(acc):
            dump(child, out, depth + 1, limit)


def click(acc):
    """Activates a button, toggle button or switch through its Action."""
    action = acc.queryAction()
    index = 0
    for i in range(action.nActions):
        if action.getName(i) in ("click", "toggle", "activate", "press"):
            index = i
            break
    if not action.doAction(index):
        raise StepFailed("the %s %r did not take the click" % (role(acc), name(acc)))


def type_text(text):
    """Types @text on the keyboard, into whatever has the focus."""
    for ch in text:
        if ch == "\n":
            press_key(0xff0d)    # Return
        elif ch == "\t":
            press_key(0xff09)    # Tab
        else:
            pyatspi.Registry.generateKeyboardEvent(0, ch, pyatspi.KEY_STRING)
        time.sleep(0.02)


def press_key(keysym):
    pyatspi.Registry.generateKeyboardEvent(keysym, None, pyatspi.KEY_SYM)


def wait_for(what, fn, timeout=DEFAULT_TIMEOUT):
    """Polls @fn until it returns something true; @what says what we wait for."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:   # the tree changes under our feet
            last_error = e
        if time.monotonic() >= deadline:
            detail = " (last error: %s)" % last_error if last_error else ""
            raise StepFailed("timed out after %.0f s waiting for %s%s" % (timeout, what, detail))
        time.sleep(POLL)


# ---- TAP -------------------------------------------------------------------------------------------

class Run:
    """Runs named steps in order and reports them as TAP."""

    def __init__(self, session, steps):
        self.session = session
        self.steps = steps
        self.started = time.monotonic()

    def run(self):
        print("1..%d" % len(self.steps), flush=True)
        failed = False
        for i, (title, fn) in enumerate(self.steps, 1):
            if failed:
                print("not ok %d - %s # SKIP an earlier step failed" % (i, title), flush=True)
                continue
            t0 = time.monotonic()
            try:
                fn()
            except Exception as e:
                failed = True
                print("not ok %d - %s" % (i, title), flush=True)
                self.report_failure(title, e)
                continue
            print("ok %d - %s (%.1f s)" % (i, title, time.monotonic() - t0), flush=True)
        print("# total %.1f s" % (time.monotonic() - self.started), flush=True)
        return not failed

    def report_failure(self, title, error):
        for line in str(error).splitlines() or [repr(error)]:
            print("# %s" % line)
        if not isinstance(error, StepFailed):
            import traceback
            for line in traceback.format_exc().splitlines():
                print("# %s" % line)
        lines = []
        try:
            app = app_root()
            if app is None:
                lines.append("the app is not on the a11y bus")
            else:
                for w in windows(app):
                    dump(w, lines)
        except Exception as e:
            lines.append("could not read the tree: %s" % e)
        slug = "".join(c if c.isalnum() else "-" for c in title.lower())[:40]
        tree = os.path.join(self.session.log_dir, "failed-%s.tree.txt" % slug)
        with open(tree, "w") as f:
            f.write("\n".join(lines) + "\n")
        shot = self.session.screenshot("failed-%s.png" % slug)
        print("# accessible tree (also in %s):" % tree)
        for line in lines[:400]:
            print("#   %s" % line)
        print("# screenshot: %s" % shot)
        print("# logs: %s" % self.session.log_dir, flush=True)
