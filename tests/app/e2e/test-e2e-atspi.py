#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The whole first day, driven like a user over AT-SPI: create the owner,
# set up the clinic and connect it to the (fake) Cliniko in the guided
# set-up (then left for later), write a template, add
# a rule and enable it, scan, see the planned messages, cancel one, and find
# it in History with its reason. Every step reads back what the user would
# see (labels, row names, states); TAP on stdout. On failure: the step, the
# accessible tree, a screenshot and the logs of every process, in
# $MHF_E2E_LOG_DIR.
#
# Debian's /usr/bin/python3: it sees python3-pyatspi.

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mhf_e2e as e2e  # noqa: E402
from mhf_e2e import StepFailed, by, find, need, wait_for  # noqa: E402

OWNER = "olivia"
OWNER_NAME = "Olivia Owner"
PASSPHRASE = "correct horse battery"
CLINIC = "Harbourside"
# The sample clinic's key (tests/fake-cliniko/README.md), as the demo uses.
CLINIKO_KEY = "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
TEMPLATE = "Appointment reminder"
SUBJECT = "See you on {{ appointment.date }}"
BODY = "Hello {{ patient.first_name }}, see you at {{ appointment.time }}."
RULE = "Day-before reminder"
CANCEL_REASON = "Patient rang to say they know"


class Test:
    def __init__(self, session):
        self.s = session
        self.app = None
        self.clinic_id = None
        self.message_id = None

    # ---- helpers ---------------------------------------------------------------------------------

    def main_window(self):
        for w in e2e.windows(self.app):
            if e2e.role(w) == "frame" and e2e.name(w) == "MyHealthFollowup":
                return w
        return None

    def window_named(self, title):
        for w in e2e.windows(self.app):
            if e2e.name(w) == title:
                return w
        return None

    def entry_reads(self, entry, text, secret=False):
        """What was typed landed in @entry: the keyboard focus was there."""
        what = "%d characters" % len(text) if secret else repr(text)
        wait_for("“%s” to read %s" % (e2e.name(entry), what), lambda: e2e.text_of(entry) == text)

    # ---- steps -----------------------------------------------------------------------------------

    def start(self):
        self.s.start_fake_cliniko()
        self.s.start_app()
        e2e.connect(self.s)
        self.app = wait_for("the app on the a11y bus", e2e.app_root)
        win = wait_for("the main window", self.main_window)
        # First run: the agent is reachable and has no owner yet.
        wait_for("the “Create the Owner Account” page",
                 lambda: find(win, by("label", name_is="First Run")))

    def create_owner(self):
        win = self.main_window()
        # The page puts the focus on the username; Enter moves to the next
        # field, and Enter in the last one submits.
        fields = [("Owner username", OWNER, False),
                  ("Owner display name", OWNER_NAME, False),
                  ("Owner passphrase", PASSPHRASE, True),
                  ("Confirm the owner passphrase", PASSPHRASE, True)]
        for label, text, secret in fields:
            entry = need(win, by("text", name_starts=label), "the “%s” field" % label)
            e2e.type_text(text)
            self.entry_reads(entry, text, secret)
            e2e.type_text("\n")
        wait_for("“Signed in as %s”" % OWNER_NAME,
                 lambda: find(win, by("label", name_is="Signed in as " + OWNER_NAME)))

    def add_clinic(self):
        win = self.main_window()
        wait_for("the “No Clinic Yet” page", lambda: find(win, by("label", name_is="No Clinic Yet")))
        e2e.click(need(win, by("push button", name_starts="_Set Up a Clinic"),
                       "the Set Up a Clinic… button"))
        # The guided set-up is a dialog, with the cursor in the clinic's name.
        assistant = wait_for("the “Set Up a Clinic” window",
                             lambda: self.window_named("Set Up a Clinic"))
        if e2e.role(assistant) != "dialog":
            raise StepFailed("the set-up window is a %r, not a dialog" % e2e.role(assistant))
        entry = need(assistant, by("text", name_starts="Clinic name"), "the “Clinic name” field")
        e2e.type_text(CLINIC)
        self.entry_reads(entry, CLINIC)
        e2e.click(need(assistant, by("push button", name_starts="_Continue"),
                       "the Continue button"))
        # Step 2: the Cliniko key.
        wait_for("the set-up's Cliniko API key field",
                 lambda: find(assistant, by("label", name_is="Step 2 of 5")))
        clinics = json.loads(self.as_owner(["clinic", "list", "--json"]))
        if [c["name"] for c in clinics] != [CLINIC]:
            raise StepFailed("the agent lists the clinics %r" % clinics)
        self.clinic_id = str(clinics[0]["id"])

    def connect_cliniko(self):
        assistant = self.window_named("Set Up a Clinic")
        # The only step not done in the app, because no user ever does it:
        # a real clinic's Cliniko address follows from its key's shard; this
        # clinic's is the fake Cliniko on loopback, which only the CLI can
        # set (and only to a loopback URL).
        self.as_owner(["cliniko", "base-url", self.clinic_id, self.s.fake_url])
        # The set-up put the cursor in the key field.
        entry = need(assistant, by("text", name_starts="Cliniko API key"), "the API key field")
        e2e.type_text(CLINIKO_KEY)
        self.entry_reads(entry, CLINIKO_KEY, secret=True)
        e2e.click(need(assistant, by("push button", name_starts="_Connect"), "the Connect button"))
        wait_for("the set-up to name the Cliniko account",
                 lambda: find(assistant, by("label", name_is="Harbourside Health Group")))
        # The template and rule are the user's own here, not the presets:
        # the set-up is left for later, and the clinic opens on Settings.
        e2e.click(need(assistant, by("push button", name_starts="Finish _Later"),
                       "the Finish Later button"))
        win = self.main_window()
        wait_for("the set-up to close", lambda: self.window_named("Set Up a Clinic") is None)
        wait_for("the Connection row to name the Cliniko account",
                 lambda: find(win, by("label", name_starts="Harbourside Health Group — as ")))

    def open_page(self, title):
        win = self.main_window()
        tab = find(win, by("page tab", name_is=title))
        if tab is None:
            raise StepFailed("no “%s” page in the clinic's page switcher" % title)
        e2e.click(tab)
        wait_for("the “%s” tab to be selected" % title,
                 lambda: e2e.has_state(tab, e2e.pyatspi.STATE_SELECTED)
                 or e2e.has_state(tab, e2e.pyatspi.STATE_CHECKED))
        return win

    def add_template(self):
        win = self.open_page("Templates")
        e2e.click(need(win, by("push button", name_starts="_New Template…"),
                       "the New Template… button"))
        editor = wait_for("the “New Template” window", lambda: self.window_named("New Template"))
        if e2e.role(editor) != "dialog":
            raise StepFailed("the editor is a %r, not a dialog" % e2e.role(editor))
        # The editor opens with the cursor in the name; Tab goes on to the
        # subject, and from there to the text.
        name = need(editor, by("text", name_starts="Name"), "the Name field")
        e2e.type_text(TEMPLATE)
        self.entry_reads(name, TEMPLATE)
        e2e.type_text("\t")
        subject = need(editor, by("text", name_starts="Subject"), "the Subject field")
        e2e.type_text(SUBJECT)
        self.entry_reads(subject, SUBJECT)
        e2e.type_text("\t")
        body = need(editor, by("text", name_is="Text"), "the Text field")
        e2e.type_text(BODY)
        self.entry_reads(body, BODY)
        # The live preview renders the sample data, never a patient's.
        preview = wait_for("the preview with sample data",
                           lambda: find(editor, lambda a: e2e.role(a) == "label"
                                        and e2e.text_of(a).startswith("See you on ")
                                        and "{{" not in e2e.text_of(a)))
        print("# preview: %r" % e2e.text_of(preview))
        e2e.click(need(editor, by("push button", name_starts="_Save"), "the Save button"))
        wait_for("the editor to close", lambda: self.window_named("New Template") is None)
        wait_for("the template in the Templates list",
                 lambda: find(win, lambda a: e2e.role(a) == "list item"
                              and e2e.name(a).startswith(TEMPLATE)))

    def add_rule(self):
        win = self.open_page("Rules")
        e2e.click(need(win, by("push button", name_starts="_New Rule…"), "the New Rule… button"))
        editor = wait_for("the “New Rule” window", lambda: self.window_named("New Rule"))
        name = need(editor, by("text", name_starts="Name"), "the Name field")
        e2e.type_text(RULE)
        self.entry_reads(name, RULE)
        # A reminder, with the only template, 24 hours before: the editor's
        # defaults, read back as the user sees them.
        for label in ("Reminder", TEMPLATE, "24h before"):
            if find(editor, lambda a: e2e.text_of(a) == label) is None:
                raise StepFailed("the rule editor does not show “%s”" % label)
        e2e.click(need(editor, by("push button", name_starts="_Save"), "the Save button"))
        wait_for("the editor to close", lambda: self.window_named("New Rule") is None)
        toggle = wait_for("the rule's switch in the Rules list",
                          lambda: find(win, by(name_is="Rule “%s” enabled" % RULE)))
        # New rules are saved disabled; the owner turns it on.
        if e2e.has_state(toggle, e2e.pyatspi.STATE_CHECKED):
            raise StepFailed("the new rule is enabled already")
        e2e.click(toggle)
        wait_for("the rule's switch to be on, after the agent's answer",
                 lambda: e2e.has_state(find(win, by(name_is="Rule “%s” enabled" % RULE)),
                                       e2e.pyatspi.STATE_CHECKED))

    def planned_rows(self, win):
        messages = find(win, by("list", name_is="Messages"))
        if messages is None:
            return []
        return [r for r in e2e.children(messages)
                if e2e.name(r).startswith(RULE + " · ")]

    def scan(self):
        win = self.open_page("Outbox")
        scans_before = self.as_owner(["audit", "list", self.clinic_id]).count("scan.now")
        e2e.click(need(win, by("push button", name_starts="_Scan Cliniko Now"),
                       "the Scan Cliniko Now button"))
        # The click reached the agent: it audits each requested scan. (The
        # toast that answers it is shown for a few seconds, behind earlier
        # ones; a slow build can miss it between two walks of the tree, so
        # it is reported when seen rather than required.)
        wait_for("the agent to record the requested scan",
                 lambda: self.as_owner(["audit", "list", self.clinic_id]).count("scan.now")
                 == scans_before + 1)
        toast = find(win, by("label", name_starts="Scanned: "))
        if toast is not None:
            print("# %s" % e2e.text_of(toast))
        rows = wait_for("planned messages in the Outbox", lambda: self.planned_rows(win))
        print("# %d planned messages, e.g. %r" % (len(rows), e2e.name(rows[0])))
        for row in rows:
            if find(row, by("label", name_is="Planned")) is None:
                raise StepFailed("the row %r does not say Planned" % e2e.name(row))

    def cancel_one(self):
        win = self.main_window()
        rows = self.planned_rows(win)
        if not rows:
            raise StepFailed("no planned message to cancel")
        row = rows[0]
        button = need(row, by("push button", name_starts="Cancel message "),
                      "the row's Cancel… button")
        message_id = e2e.name(button).split()[2]
        e2e.click(button)
        dialog = wait_for("the “Cancel This Message?” dialog",
                          lambda: self.window_named("Cancel This Message?"))
        # The dialog opens with the cursor in its Reason field.
        reason = need(dialog, by("text", name_starts="Reason"), "the Reason field")
        e2e.type_text(CANCEL_REASON)
        self.entry_reads(reason, CANCEL_REASON)
        e2e.click(need(dialog, by("push button", name_starts="_Cancel Message"),
                       "the Cancel Message button"))
        wait_for("the dialog to close",
                 lambda: self.window_named("Cancel This Message?") is None)
        # The Outbox shows what is still to go: the row goes, the others stay.
        wait_for("the message to leave the planned messages",
                 lambda: find(win, by("push button", name_starts="Cancel message %s " % message_id))
                 is None and self.planned_rows(win))
        self.message_id = message_id

    def find_in_history(self):
        win = self.open_page("History")
        history = need(win, by(name_is="Delivery history"), "the “Delivery history” list")

        def cancelled_event():
            for a in e2e.walk(history):
                if e2e.role(a) == "label" and e2e.text_of(a).endswith(
                        " · %s · Cancelled" % TEMPLATE):
                    return a
            return None
        title = wait_for("a Cancelled event of “%s” in History" % TEMPLATE, cancelled_event)
        # Its reason, in the sentence the front desk reads, right under it.
        detail = [c for c in e2e.children(title.parent) if c != title]
        reasons = [e2e.text_of(c) for c in detail]
        print("# %r: %r" % (e2e.text_of(title), reasons))
        if not any(r.endswith("Cancelled by a user.") for r in reasons):
            raise StepFailed("the event says %r, not why it was cancelled" % reasons)

        # The reason typed in the dialog is kept in the Audit log.
        win = self.open_page("Audit")
        wait_for("the cancellation with its typed reason in the Audit log",
                 lambda: find(win, lambda a: e2e.role(a) == "label"
                              and "message %s " % self.message_id in e2e.text_of(a)
                              and e2e.text_of(a).endswith("reason: " + CANCEL_REASON)))

    def as_owner(self, args):
        return self.s.ctl(["--user", OWNER, "--passphrase-stdin"] + args, PASSPHRASE + "\n")


def main():
    log_dir = os.environ.get("MHF_E2E_LOG_DIR") or os.path.join(os.getcwd(), "e2e-logs")
    shutil.rmtree(log_dir, ignore_errors=True)
    session = e2e.Session(log_dir)
    test = Test(session)
    steps = [
        ("the app starts on the first-run page", test.start),
        ("create the owner", test.create_owner),
        ("add the clinic", test.add_clinic),
        ("connect the clinic to Cliniko", test.connect_cliniko),
        ("add a template", test.add_template),
        ("add a rule and enable it", test.add_rule),
        ("scan and see the planned messages", test.scan),
        ("cancel one message, with a reason", test.cancel_one),
        ("find it in History with its reason", test.find_in_history),
    ]
    try:
        ok = e2e.Run(session, steps).run()
    finally:
        session.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
