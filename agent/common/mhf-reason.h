/* mhf-reason.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Why a message was not sent (skipped, cancelled, failed) or is waiting:
 * stable codes, stored in the outbox and sent over D-Bus, each with one
 * human sentence. The one table is in mhf-reason.c. */
#define MHF_REASON_NO_EMAIL               "no-email"
#define MHF_REASON_INVALID_EMAIL          "invalid-email"
#define MHF_REASON_REMINDERS_OFF          "reminders-off"
#define MHF_REASON_MARKETING_NOT_ACCEPTED "marketing-not-accepted"
#define MHF_REASON_PRIVACY_DECLINED       "privacy-declined"
#define MHF_REASON_PATIENT_ARCHIVED       "patient-archived"
#define MHF_REASON_PATIENT_DELETED        "patient-deleted"
#define MHF_REASON_APPOINTMENT_CANCELLED  "appointment-cancelled"
#define MHF_REASON_APPOINTMENT_DELETED    "appointment-deleted"
#define MHF_REASON_APPOINTMENT_ARCHIVED   "appointment-archived"
#define MHF_REASON_RESCHEDULED            "rescheduled"
#define MHF_REASON_DID_NOT_ARRIVE         "did-not-arrive"
#define MHF_REASON_PATIENT_ATTENDED       "patient-attended"
#define MHF_REASON_ARRIVAL_UNKNOWN        "arrival-unknown"
#define MHF_REASON_FUTURE_BOOKING         "future-booking"
#define MHF_REASON_MISSED_WINDOW          "missed-window"
#define MHF_REASON_NO_USEFUL_TIME         "no-useful-time"
#define MHF_REASON_RULE_DISABLED          "rule-disabled"
#define MHF_REASON_RULE_CHANGED           "rule-changed"
#define MHF_REASON_TEMPLATE_INVALID       "template-invalid"
#define MHF_REASON_SENDING_PAUSED         "sending-paused"
#define MHF_REASON_ALREADY_RECORDED       "already-recorded"
#define MHF_REASON_CANCELLED_BY_USER      "cancelled-by-user"
#define MHF_REASON_INTERRUPTED            "interrupted"
#define MHF_REASON_SMTP_REJECTED          "smtp-rejected"
#define MHF_REASON_SMTP_TEMPORARY         "smtp-temporary"
#define MHF_REASON_SMTP_LOGIN_FAILED      "smtp-login-failed"
#define MHF_REASON_CERTIFICATE_UNTRUSTED  "certificate-untrusted"
#define MHF_REASON_NETWORK                "network"
#define MHF_REASON_ATTEMPTS_EXHAUSTED     "attempts-exhausted"
#define MHF_REASON_CLINIKO_UNAVAILABLE    "cliniko-unavailable"
#define MHF_REASON_NO_EMAIL_SETTINGS      "no-email-settings"
#define MHF_REASON_LICENCE_INACTIVE       "licence-inactive"

const char *mhf_reason_describe (const char *code);
gboolean    mhf_reason_is_known (const char *code);

G_END_DECLS
