#!/usr/bin/python3
# make-sample-clinic.py
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Writes the synthetic "sample clinic" that the fake Cliniko serves to the
# tests and the demo.  Everything in it is invented: names, addresses
# (example.com / example.net / example.org only), phone numbers and keys.
#
# Times are relative so the data never goes stale: every member whose name
# ends in "_at" may hold a string "@<signed seconds>", an offset from the
# anchor, which is 00:00:00Z of the UTC day on which the fake loads the file.
# The fake turns them into absolute "YYYY-MM-DDTHH:MM:SSZ" values at load
# time.  Audit timestamps (created_at, updated_at, cancelled_at, ...) are
# always before the anchor, so they are in the past whenever the file loads.
#
# Relations are stored as internal "*_id" members (patient_id, business_id,
# ...); the fake serves them as {"links": {"self": URL}} objects and never
# as *_id fields.
#
# Usage:
#   make-sample-clinic.py                      # rewrites sample-clinic.json
#   make-sample-clinic.py -o big.json --appointments 20000   # benchmark data
#
# The output is deterministic for given arguments (fixed seed, stdlib only).

import argparse
import itertools
import json
import os
import random
import sys

DAY = 86400
HOUR = 3600
SEED = 20240601
WEEKEND_WEIGHT = 1 / 3

SHARD = "au2"
API_KEYS = [
    # Synthetic keys; base64 of nonsense.  Both belong to user "1" and so
    # share one rate-limit budget.
    {"key": "MS0xLTEyMzQ1Njc4OTAtYWJj-au2", "owner": "1"},
    {"key": "MS0yLTk4NzY1NDMyMTAtemF5-au2", "owner": "1"},
]

CANCELLATION_REASONS = {
    10: "Feeling better",
    20: "Condition worse",
    30: "Sick",
    31: "COVID-19 related",
    40: "Away",
    50: "Other",
    60: "Work",
}

FIRST_NAMES = [
    "Zoë", "José", "Łukasz", "Siobhán", "Ngọc", "Björn", "Aroha", "Chloé",
    "Renée", "François", "Søren", "Mei", "Ana", "Tāne", "Ingrid", "Dương",
    "Ömer", "Agnieszka", "Núria", "Kai", "Priya", "Élodie", "Jürgen", "Maëlle",
    "Hemi", "Seán", "Saoirse", "Mateus", "Amélie", "Oğuz", "Aisha", "Tomás",
]
LAST_NAMES = [
    "O’Brien-Ngữ", "Núñez", "Kowalczyk", "Ó Súilleabháin", "Nguyễn",
    "Åkesson", "Te Whiu", "Lefèvre", "D’Souza", "Müller", "Hansen", "Wáng",
    "García-Pérez", "Ngata", "Lindqvist", "Đặng", "Yılmaz", "Wiśniewska",
    "Puig", "MacLeòid", "Iyer", "Brontë", "Schröder", "Le Goff", "Parata",
    "Ó Ceallaigh", "Ní Bhriain", "Gonçalves", "Dubois", "Çelik", "Rahman",
    "Ramírez",
]
ASCII_FOLD = str.maketrans({
    "ë": "e", "é": "e", "è": "e", "É": "E", "ó": "o", "Ó": "O", "ö": "o",
    "Ö": "O", "ø": "o", "ü": "u", "ú": "u", "ñ": "n", "Ł": "L", "ł": "l",
    "á": "a", "à": "a", "ā": "a", "å": "a", "Å": "A", "ç": "c", "Ç": "C",
    "ğ": "g", "ı": "i", "í": "i", "ò": "o", "ś": "s", "ọ": "o", "ữ": "u",
    "ễ": "e", "ặ": "a", "Đ": "D", "ư": "u", "ơ": "o", "’": "", "'": "",
    "ï": "i", "Ē": "E", "ē": "e",
})
NOTES = [
    "Prefers morning slots ☀️",
    "Allergic to latex 🧤",
    "Bring previous scans 📎",
    "Wheelchair access needed ♿",
    "Speaks Māori and English",
    "Referred by Dr Ngata — see letter",
    "",
]
INVALID_EMAILS = [
    "zoe.obrien@",
    "jose at example.com",
    "nobody@example",
    "dup@@example.org",
    "no-at-sign.example.net",
]
DOMAINS = ["example.com", "example.net", "example.org"]
PATIENT_ZONES = [None, None, None, "Australia/Sydney", "Australia/Perth",
                 "Pacific/Auckland", "Australia/Melbourne"]

REMINDER_TYPES = ["SMS & Email", "SMS", "Email", "None"]
EMAIL_KINDS = ["valid", "empty", "null", "invalid"]
TRISTATE = [True, False, None]


def at(seconds):
    """A relative timestamp, see the header comment."""
    return "@%+d" % int(seconds)


def fold(text):
    return "".join(c for c in text.translate(ASCII_FOLD).lower()
                   if c.isalnum())


class Ids:
    """Deterministic ids; most are > 2^53 like newer Cliniko shards."""

    def __init__(self, rng):
        self.rng = rng
        self.seen = set()

    def big(self):
        while True:
            value = str(10 ** 17 + self.rng.randrange(8 * 10 ** 17))
            if value not in self.seen:
                self.seen.add(value)
                return value

    def fixed(self, value):
        assert value not in self.seen
        self.seen.add(value)
        return value


def make_businesses():
    return [
        {
            "id": "71",
            "business_name": "Harbourside Physio & Pilates",
            "display_name": "Harbourside Physio",
            "label": "Harbourside Physio",
            "address_1": "1 Example Quay",
            "address_2": "Level 2",
            "city": "Sydney",
            "state": "NSW",
            "post_code": "2000",
            "country": "Australia",
            "country_code": "AU",
            "contact_information": "Phone: 02 5550 0100",
            "email_reply_to": "hello@harbourside.example.com",
            "website_address": "https://harbourside.example.com",
            "time_zone": "Sydney",
            "time_zone_identifier": "Australia/Sydney",
            "appointment_reminders_enabled": True,
            "show_in_online_bookings": True,
            "additional_information": "Entrance via the laneway 🚪",
            "archived_at": None,
            "deleted_at": None,
            "created_at": at(-700 * DAY),
            "updated_at": at(-45 * DAY),
        },
        {
            # Perth is UTC+8 with no DST; the account itself is "Melbourne".
            "id": "1152921504606846977",
            "business_name": "Swan River Allied Health",
            "display_name": None,
            "label": "Swan River Allied Health",
            "address_1": "77 Example Terrace",
            "address_2": "",
            "city": "Perth",
            "state": "WA",
            "post_code": "6000",
            "country": "Australia",
            "country_code": "AU",
            "contact_information": "Phone: 08 5550 0177\nFax: none",
            "email_reply_to": "frontdesk@swanriver.example.net",
            "website_address": "",
            "time_zone": "Perth",
            "time_zone_identifier": "Australia/Perth",
            "appointment_reminders_enabled": False,
            "show_in_online_bookings": False,
            "additional_information": "",
            "archived_at": None,
            "deleted_at": None,
            "created_at": at(-500 * DAY),
            "updated_at": at(-60 * DAY),
        },
    ]


# (business index, UTC offset in hours used to place local working hours)
PRACTITIONER_DATA = [
    ("1301", "Dr", "Mārama", "Ngata", "Physiotherapist", 0),
    ("1302", "Ms", "Éowyn", "Fairbairn", "Pilates Instructor", 0),
    ("1208925819614629174", "", "Jürgen", "Schröder", "Osteopath", 1),
    ("1303", "Mr", "Kwame", "Mensah-O’Neill", "Exercise Physiologist", 1),
]
BUSINESS_OFFSETS = [10, 8]


def make_practitioners():
    rows = []
    for pid, title, first, last, designation, _ in PRACTITIONER_DATA:
        rows.append({
            "id": pid,
            "title": title,
            "first_name": first,
            "last_name": last,
            "label": "%s %s" % (first, last),
            "display_name": None if pid == "1303" else "%s %s" % (first, last),
            "designation": designation,
            "description": "",
            "active": True,
            "show_in_online_bookings": True,
            "user_id": "1" if pid == "1301" else None,
            "default_appointment_type_id": "501",
            "created_at": at(-600 * DAY),
            "updated_at": at(-90 * DAY),
        })
    return rows


APPOINTMENT_TYPES = [
    ("501", "Initial Consultation", "Physiotherapy", 60, 1, False),
    ("502", "Standard Consultation", "Physiotherapy", 30, 1, False),
    ("503", "Extended Consultation", None, 45, 1, False),
    ("504", "Telehealth Review", "Telehealth", 20, 1, True),
    ("505", "Pilates Class", "Group classes", 60, 8, False),
]


def make_appointment_types():
    rows = []
    for tid, name, category, minutes, max_att, tele in APPOINTMENT_TYPES:
        rows.append({
            "id": tid,
            "name": name,
            "category": category,
            "description": "" if tid != "505" else "Small-group reformer class 🧘",
            "duration_in_minutes": minutes,
            "max_attendees": max_att,
            "color": ["#6fb1e6", "#9bd39b", "#f3c969", "#d09be0", "#f28c8c"][int(tid) - 501],
            "show_in_online_bookings": tid != "503",
            "telehealth_enabled": tele,
            "appointment_reminder_template_ids": [],
            "archived_at": None,
            "created_at": at(-650 * DAY),
            "updated_at": at(-120 * DAY),
        })
    return rows


def patient_combinations():
    """(reminder_type, email kind, marketing, privacy, status) tuples.

    48 active patients cover every reminder_type x email x marketing triple,
    with privacy rotating so every pair with privacy occurs too; 16 more
    active ones and 16 archived / deleted / merged ones follow.
    """
    combos = []
    for (ri, r), (ei, e), (mi, m) in itertools.product(
            enumerate(REMINDER_TYPES), enumerate(EMAIL_KINDS), enumerate(TRISTATE)):
        combos.append((r, e, m, TRISTATE[(ri + ei + mi) % 3], "active"))
    for i, ((ri, r), (ei, e)) in enumerate(itertools.product(
            enumerate(REMINDER_TYPES), enumerate(EMAIL_KINDS))):
        combos.append((r, e, TRISTATE[i % 3], TRISTATE[(2 * ri + ei + 1) % 3], "active"))
    statuses = ["archived"] * 6 + ["deleted"] * 5 + ["merged"] * 5
    for i, status in enumerate(statuses):
        combos.append((REMINDER_TYPES[i % 4], EMAIL_KINDS[(i + i // 4) % 4],
                       TRISTATE[i % 3], TRISTATE[(i // 3) % 3], status))
    return combos


def make_patients(rng, ids, n_extra):
    combos = patient_combinations()
    for i in range(n_extra):
        combos.append((rng.choice(REMINDER_TYPES), rng.choice(EMAIL_KINDS),
                       rng.choice(TRISTATE), rng.choice(TRISTATE), "active"))
    rows = []
    small_id = 82
    for n, (reminder, email_kind, marketing, privacy, status) in enumerate(combos):
        if n == 0:
            first, last = "Zoë", "O’Brien-Ngữ"
        elif n == 1:
            first, last = "José", "Núñez"
        else:
            first = FIRST_NAMES[(n * 7) % len(FIRST_NAMES)]
            last = LAST_NAMES[(n * 11 + n // len(LAST_NAMES)) % len(LAST_NAMES)]
        # Old accounts have small ids, newer ones huge ones.
        if n < 40:
            pid = ids.fixed(str(small_id))
            small_id += 1
        else:
            pid = ids.big()
        domain = DOMAINS[n % 3]
        if email_kind == "valid":
            email = "%s.%s%d@%s" % (fold(first), fold(last), n, domain)
        elif email_kind == "empty":
            email = ""
        elif email_kind == "null":
            email = None
        else:
            email = INVALID_EMAILS[n % len(INVALID_EMAILS)]
        created = -rng.randint(60, 900) * DAY - rng.randint(0, DAY - 1)
        row = {
            "id": pid,
            "title": ["", "Mr", "Ms", "Mx", "Dr", ""][n % 6],
            "first_name": first,
            "last_name": last,
            "preferred_first_name": "Zo" if n == 0 else (first[:3] if n % 9 == 4 else None),
            "label": "%s %s" % (first, last),
            "email": email,
            "invoice_email": ("accounts%d@%s" % (n, domain)) if n % 10 == 3 else None,
            "time_zone": PATIENT_ZONES[n % len(PATIENT_ZONES)],
            "reminder_type": reminder,
            "receives_confirmation_emails": n % 4 != 1,
            "accepted_email_marketing": marketing,
            "accepted_sms_marketing": TRISTATE[(n + 1) % 3],
            "accepted_privacy_policy": privacy,
            # The old docs' examples show "" for these; keep some.
            "archived_at": "" if n % 5 == 2 else None,
            "deleted_at": "" if n % 7 == 3 else None,
            "merged_at": None,
            "merged_with_patient_id": None,
            "date_of_birth": "%04d-%02d-%02d" % (1940 + (n * 13) % 65, 1 + n % 12, 1 + (n * 5) % 28),
            "sex": ["", "Female", "Male", "Not stated"][n % 4],
            "address_1": "%d Example Street" % (n + 1),
            "address_2": "",
            "city": ["Sydney", "Perth", "Parramatta", "Fremantle"][n % 4],
            "country": "Australia",
            "notes": NOTES[n % len(NOTES)],
            "patient_phone_numbers": ([{"phone_type": "Mobile", "number": "61491570%03d" % (100 + n)}]
                                      if n % 6 != 5 else []),
            "concession_type": None,
            "referring_doctor": None,
            "created_at": at(created),
            "updated_at": at(created + rng.randint(1, 50) * DAY),
        }
        if status == "archived":
            row["archived_at"] = at(-rng.randint(2, 40) * DAY)
        elif status == "deleted":
            row["deleted_at"] = at(-rng.randint(2, 40) * DAY)
        elif status == "merged":
            row["archived_at"] = row["merged_at"] = at(-rng.randint(2, 40) * DAY)
            # Point at an active survivor with the same first name if any.
            row["merged_with_patient_id"] = rows[(n * 3) % 40]["id"]
            row["_merged"] = True
        row["_status"] = status
        rows.append(row)
    return rows


def base_appointment(aid, patient, practitioner, business, atype, start_s, minutes):
    return {
        "id": aid,
        "starts_at": at(start_s),
        "ends_at": at(start_s + minutes * 60),
        "created_at": None,
        "updated_at": None,
        "cancelled_at": None,
        "cancellation_reason": None,
        "cancellation_reason_description": "",
        "cancellation_note": None,
        "deleted_at": None,
        "archived_at": None,
        "did_not_arrive": None,
        "patient_arrived": None,
        "email_reminder_sent": False,
        "sms_reminder_sent": False,
        "patient_name": patient["label"],
        "notes": None,
        "repeat_rule": {},
        "repeats": None,
        "repeated_from_id": None,
        "telehealth_url": None,
        "online_booking_policy_accepted": None,
        "booking_ip_address": None,
        "invoice_status": None,
        "treatment_note_status": None,
        "has_patient_appointment_notes": False,
        "patient_id": patient["id"],
        "practitioner_id": practitioner["id"],
        "business_id": business["id"],
        "appointment_type_id": atype[0],
    }


def past(seconds):
    """Audit timestamps must be before the anchor."""
    return min(seconds, -60)


def set_outcome(rng, row, start_s, kind):
    if start_s < 0:
        row["email_reminder_sent"] = rng.random() < 0.6
        row["sms_reminder_sent"] = rng.random() < 0.4
        if rng.random() < 0.05:
            row["email_reminder_sent"] = None
    if kind == "arrived":
        row["patient_arrived"], row["did_not_arrive"] = True, False
    elif kind == "dna":
        row["patient_arrived"], row["did_not_arrive"] = False, True
    elif kind == "unmarked":
        row["patient_arrived"], row["did_not_arrive"] = None, None
    elif kind == "falsefalse":
        row["patient_arrived"], row["did_not_arrive"] = False, False


def cancel(rng, row, start_s, created):
    reason = rng.choice(sorted(CANCELLATION_REASONS))
    when = past(min(start_s - rng.randint(1, 48) * HOUR, created + rng.randint(1, 10) * HOUR))
    when = max(when, created + 60)
    row["cancelled_at"] = at(when)
    row["cancellation_reason"] = reason
    row["cancellation_reason_description"] = CANCELLATION_REASONS[reason]
    row["cancellation_note"] = rng.choice([None, "", "Rang the front desk ☎️", "Can’t make it"])
    row["updated_at"] = at(when)
    row["_state"] = "cancelled"


def make_individual_appointments(rng, ids, patients, practitioners, businesses, target):
    bookable = [p for p in patients if p["_status"] == "active"]
    others = [p for p in patients if p["_status"] != "active"]
    types = APPOINTMENT_TYPES[:4]
    rows = []
    # Weekends (two days in seven) get a third of a weekday's bookings.
    weekend_days = sum(1 for day in range(-30, 31) if (day + 30) % 7 in (5, 6))
    weighted_days = (61 - weekend_days) + weekend_days * WEEKEND_WEIGHT
    per_day_practitioner = max(1, (target - 25) / (weighted_days * len(practitioners)))

    def add(aid, patient, pi, type_index, day, local_minutes, state=None):
        practitioner = practitioners[pi]
        b_index = PRACTITIONER_DATA[pi][5]
        business = businesses[b_index]
        atype = types[type_index]
        start_s = day * DAY + local_minutes * 60 - BUSINESS_OFFSETS[b_index] * HOUR
        row = base_appointment(aid, patient, practitioner, business, atype, start_s, atype[3])
        created = past(min(start_s, 0) - rng.randint(1, 30) * DAY - rng.randint(0, DAY))
        row["created_at"] = at(created)
        row["updated_at"] = at(past(max(created + 60, start_s + rng.randint(1, 6) * HOUR)
                                    if start_s < 0 else created + rng.randint(0, 3) * 60))
        if atype[5]:
            row["telehealth_url"] = "https://video.example.org/room/%s" % aid[-8:]
        if rng.random() < 0.2:
            row["online_booking_policy_accepted"] = True
            row["booking_ip_address"] = "192.0.2.%d" % rng.randint(1, 254)
        if rng.random() < 0.15:
            row["notes"] = rng.choice(NOTES)
        if start_s < 0:
            row["invoice_status"] = rng.choice([None, "Paid", "Unpaid"])
            row["treatment_note_status"] = rng.choice([None, "Draft", "Final"])
        r = rng.random()
        if start_s < 0:
            kind = ("arrived" if r < 0.72 else "dna" if r < 0.82 else
                    "unmarked" if r < 0.94 else "falsefalse")
        else:
            kind = "unmarked" if r < 0.7 else "falsefalse"
        set_outcome(rng, row, start_s, kind)
        row["_state"] = kind
        if state is None:
            r = rng.random()
            state = ("cancelled" if r < 0.06 else "deleted" if r < 0.08 else
                     "archived" if r < 0.09 else "rescheduled" if r < 0.13 else None)
        if state == "cancelled":
            cancel(rng, row, start_s, created)
            row["did_not_arrive"] = row["patient_arrived"] = None
        elif state == "deleted":
            row["deleted_at"] = at(past(max(created + 120, -rng.randint(1, 10) * DAY)))
            row["_state"] = "deleted"
        elif state == "archived":
            row["archived_at"] = at(past(max(created + 120, -rng.randint(1, 10) * DAY)))
            row["_state"] = "archived"
        elif state == "rescheduled":
            row["updated_at"] = at(-rng.randint(1, 47) * HOUR)
            row["created_at"] = at(min(created, -48 * HOUR))
            row["notes"] = "Rescheduled at the patient’s request 📅"
            row["_rescheduled"] = True
        rows.append(row)
        return row

    # Fixed rows the tests and the demo rely on, all "tomorrow" (day +1).
    zoe, jose = patients[0], patients[1]
    add(ids.fixed("836447129235883061"), zoe, 0, 1, 1, 9 * 60 + 30, "none")
    add(ids.big(), jose, 2, 0, 1, 10 * 60, "none")                 # Perth business
    add(ids.big(), bookable[5], 1, 1, 1, 11 * 60, "cancelled")     # in the window
    add(ids.big(), bookable[6], 0, 2, 1, 14 * 60, "deleted")       # in the window
    add(ids.big(), others[0], 3, 1, 1, 15 * 60, "none")            # archived patient
    add(ids.big(), bookable[7], 0, 1, 1, 16 * 60, "rescheduled")

    # A weekly series for José and a "Daily every 3 days" one for Zoë.
    root = add(ids.big(), jose, 0, 1, -21, 8 * 60, "none")
    root["repeat_rule"] = {"repeat_type": "Weekly", "number_of_repeats": 6,
                           "repeating_interval": 1}
    for week in range(1, 7):
        occ = add(ids.big(), jose, 0, 1, -21 + 7 * week, 8 * 60, "none")
        occ["repeat_rule"] = dict(root["repeat_rule"])
        occ["repeated_from_id"] = root["id"]
        occ["created_at"] = root["created_at"]
    root2 = add(ids.big(), zoe, 2, 3, 2, 12 * 60, "none")
    root2["repeat_rule"] = {"repeat_type": "Daily", "number_of_repeats": 3,
                            "repeating_interval": 3}
    for k in range(1, 3):
        occ = add(ids.big(), zoe, 2, 3, 2 + 3 * k, 12 * 60, "none")
        occ["repeat_rule"] = dict(root2["repeat_rule"])
        occ["repeated_from_id"] = root2["id"]
        occ["created_at"] = root2["created_at"]

    # The bulk: working hours 08:00-17:30 local, over days -30..+30.
    remaining = max(0, target - len(rows))
    slots_total = 0
    for day in range(-30, 31):
        for pi in range(len(practitioners)):
            if slots_total >= remaining:
                break
            expected = per_day_practitioner * (WEEKEND_WEIGHT if (day + 30) % 7 in (5, 6) else 1)
            n = int(expected) + (1 if rng.random() < expected % 1 else 0)
            n = min(n, remaining - slots_total)
            grid = range(8 * 60, 17 * 60 + 31, 30 if n <= 20 else 5)
            minutes = sorted(rng.sample(grid, min(n, len(grid))))
            for m in minutes:
                pool = bookable if rng.random() < 0.95 else others
                add(ids.big(), rng.choice(pool), pi, rng.randrange(4), day, m)
                slots_total += 1
    return rows


def make_groups(rng, ids, patients, practitioners, businesses):
    bookable = [p for p in patients if p["_status"] == "active"]
    practitioner, business = practitioners[1], businesses[0]
    atype = APPOINTMENT_TYPES[4]
    groups, attendees = [], []
    root = None
    for day in list(range(-27, 30, 7)) + [3]:
        start_s = day * DAY + 18 * HOUR - BUSINESS_OFFSETS[0] * HOUR  # 18:00 local
        gid = ids.big()
        created = -40 * DAY - rng.randint(0, DAY)
        group = {
            "id": gid,
            "starts_at": at(start_s),
            "ends_at": at(start_s + atype[3] * 60),
            "max_attendees": atype[4],
            "patient_ids": [],
            "notes": "Reformer Pilates 🧘 — bring socks",
            "repeat_rule": {},
            "repeats": None,
            "repeated_from_id": None,
            "deleted_at": None,
            "archived_at": None,
            "created_at": at(created),
            "updated_at": at(past(created + 3600)),
            "appointment_type_id": atype[0],
            "business_id": business["id"],
            "practitioner_id": practitioner["id"],
        }
        if day == 3:
            # A one-off extra class that was deleted.
            group["deleted_at"] = at(-2 * DAY)
            group["updated_at"] = at(-2 * DAY)
            group["notes"] = "Extra class (deleted)"
        elif root is None:
            root = group
            group["repeat_rule"] = {"repeat_type": "Weekly", "number_of_repeats": 8,
                                    "repeating_interval": 1}
        else:
            group["repeat_rule"] = dict(root["repeat_rule"])
            group["repeated_from_id"] = root["id"]
            group["created_at"] = root["created_at"]
        members = rng.sample(bookable, 5 if day in (-6, 1) else rng.randint(3, 6))
        if day == 1:
            # Zoë attends tomorrow's class, once.
            if patients[0] in members:
                members.remove(patients[0])
            members[0:0] = [patients[0]]
            members = members[:5]
        for k, patient in enumerate(members):
            aid = ids.big()
            a_created = created + rng.randint(60, 10 * DAY)
            row = {
                "id": aid,
                "arrived": None,
                "cancelled_at": None,
                "cancellation_reason": None,
                "cancellation_reason_description": "",
                "cancellation_note": None,
                "deleted_at": None,
                "archived_at": None,
                "email_reminder_sent": start_s < 0,
                "sms_reminder_sent": False,
                "sent_email_reminders_count": 1 if start_s < 0 else 0,
                "sent_sms_reminders_count": 0,
                "telehealth_url": None,
                "cancellation_url": "https://harbourside.example.com/bookings/%s/cancel" % aid[-10:],
                "notes": None if k else "First class — Bienvenue 🎉",
                "created_at": at(past(a_created)),
                "updated_at": at(past(a_created + 60)),
                "booking_id": gid,
                "patient_id": patient["id"],
            }
            if start_s < 0:
                row["arrived"] = [True, True, False, None, True, None][k % 6]
            if day in (-6, 1) and k == 1:
                row["cancelled_at"] = at(past(start_s - 30 * HOUR))
                row["cancellation_reason"] = 30
                row["cancellation_reason_description"] = "Sick"
                row["cancellation_note"] = "Feeling unwell 🤒"
                row["updated_at"] = row["cancelled_at"]
                row["arrived"] = None
            if day == 1 and k == 2:
                row["deleted_at"] = at(-DAY)
                row["updated_at"] = at(-DAY)
            if day == -6 and k == 0:
                row["arrived"] = True
            if row["cancelled_at"] is None and row["deleted_at"] is None:
                group["patient_ids"].append(patient["id"])
            attendees.append(row)
        groups.append(group)
    return groups, attendees


def make_communications(rng, ids, patients, appointments):
    rows = []
    for appt in appointments[:60]:
        if not appt["email_reminder_sent"]:
            continue
        patient = next(p for p in patients if p["id"] == appt["patient_id"])
        if not patient["email"]:
            continue
        when = "@%+d" % past(int(appt["starts_at"][1:]) - DAY)
        rows.append({
            "id": ids.big(),
            "category": "Appointment Reminder",
            "category_code": 1,
            "type": "Email",
            "type_code": 2,
            "direction_code": 1,
            "direction_description": "Sent",
            "from": None,
            "to": patient["email"],
            "content": "Hi %s, this is a reminder of your appointment." % patient["first_name"],
            "content_subject": "Appointment reminder",
            "confidential": False,
            "archived_at": None,
            "created_at": when,
            "updated_at": when,
            "patient_id": patient["id"],
        })
    return rows


def make_settings():
    return {
        "account": {
            "id": 123,
            "name": "Harbourside Health Group",
            "country": "Australia",
            "subdomain": "harbourside-example",
            "time_zone": "Melbourne",
            "email_from": "reminders@harbourside.example.com",
            "admin": {
                "email": "ana.admin@harbourside.example.com",
                "first_name": "Ana",
                "last_name": "Álvarez",
            },
            "online_bookings_google_analytics_id": None,
            "online_bookings_google_tag_manager_id": None,
        },
        "terminology": {"patient": "client", "patients": "clients"},
        "reminders": {"default_reminder_type": "SMS & Email"},
        "online_bookings": {"min_hours_notice_for_patient_cancellation": 0},
    }


def make_user():
    return {
        "id": "1",
        "title": "Dr",
        "first_name": "Ana",
        "last_name": "Álvarez",
        "email": "ana.admin@harbourside.example.com",
        "role": "administrator",
        "time_zone": "Melbourne",
        "time_zone_identifier": "Australia/Melbourne",
        "user_active": True,
        "active": True,
        "phone_numbers": [],
        "created_at": at(-700 * DAY),
        "updated_at": at(-30 * DAY),
    }


def dump(data, out):
    """One record per line: small diffs, and still plain JSON."""
    keys = list(data)
    out.write("{\n")
    for i, key in enumerate(keys):
        value = data[key]
        comma = "," if i < len(keys) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out.write("  %s: [\n" % json.dumps(key))
            for j, row in enumerate(value):
                out.write("    %s%s\n" % (json.dumps(row, ensure_ascii=False),
                                          "," if j < len(value) - 1 else ""))
            out.write("  ]%s\n" % comma)
        else:
            out.write("  %s: %s%s\n" % (json.dumps(key),
                                        json.dumps(value, ensure_ascii=False), comma))
    out.write("}\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default=os.path.join(here, "sample-clinic.json"),
                        help="output file, '-' for stdout")
    parser.add_argument("--appointments", type=int, default=600,
                        help="individual appointments (default 600; e.g. 20000 for benchmarks)")
    parser.add_argument("--extra-patients", type=int, default=0,
                        help="random active patients on top of the 80 combinations")
    args = parser.parse_args()

    rng = random.Random(SEED)
    ids = Ids(rng)
    businesses = make_businesses()
    practitioners = make_practitioners()
    patients = make_patients(rng, ids, args.extra_patients)
    appointments = make_individual_appointments(rng, ids, patients, practitioners,
                                                businesses, args.appointments)
    groups, attendees = make_groups(rng, ids, patients, practitioners, businesses)
    communications = make_communications(rng, ids, patients, appointments)

    for row in patients + appointments + groups + attendees:
        for key in [k for k in row if k.startswith("_")]:
            del row[key]
        # Series occurrences inherit the root's created_at; keep updated_at >= it.
        if int(row["updated_at"][1:]) < int(row["created_at"][1:]):
            row["updated_at"] = row["created_at"]

    data = {
        "format": "mhf-fake-cliniko/1",
        "comment": ("Synthetic sample clinic generated by make-sample-clinic.py; do not edit. "
                    "'@<seconds>' values of *_at members are offsets from 00:00:00Z of the "
                    "UTC day the fake loads this file. *_id members are relations, served as links."),
        "shard": SHARD,
        "api_keys": API_KEYS,
        "user": make_user(),
        "settings": make_settings(),
        "businesses": businesses,
        "practitioners": practitioners,
        "appointment_types": make_appointment_types(),
        "patients": patients,
        "individual_appointments": appointments,
        "group_appointments": groups,
        "attendees": attendees,
        "communications": communications,
    }
    if args.output == "-":
        dump(data, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            dump(data, out)


if __name__ == "__main__":
    main()
