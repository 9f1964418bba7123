/* mhf-reason.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The one table of reason codes and their sentences. The agent stores and
 * sends codes; the app and the CLI show the sentence, translated.
 */

#include "config.h"

#include "mhf-reason.h"

#include <glib/gi18n-lib.h>

static const struct
{
  const char *code;
  const char *sentence;
} reasons[] = {
  { MHF_REASON_NO_EMAIL,               N_("The patient has no email address in Cliniko.") },
  { MHF_REASON_INVALID_EMAIL,          N_("The patient’s email address in Cliniko is not valid.") },
  { MHF_REASON_REMINDERS_OFF,          N_("Email reminders are turned off for this patient in Cliniko.") },
  { MHF_REASON_MARKETING_NOT_ACCEPTED, N_("The patient has not accepted email marketing.") },
  { MHF_REASON_PRIVACY_DECLINED,       N_("The patient declined the privacy policy.") },
  { MHF_REASON_PATIENT_ARCHIVED,       N_("The patient is archived in Cliniko.") },
  { MHF_REASON_PATIENT_DELETED,        N_("The patient was deleted in Cliniko.") },
  { MHF_REASON_APPOINTMENT_CANCELLED,  N_("The appointment was cancelled.") },
  { MHF_REASON_APPOINTMENT_DELETED,    N_("The appointment was deleted.") },
  { MHF_REASON_APPOINTMENT_ARCHIVED,   N_("The appointment was archived.") },
  { MHF_REASON_RESCHEDULED,            N_("The appointment was moved; a new message is planned for the new time.") },
  { MHF_REASON_DID_NOT_ARRIVE,         N_("The patient did not arrive.") },
  { MHF_REASON_PATIENT_ATTENDED,       N_("The patient attended, so no did-not-arrive note is needed.") },
  { MHF_REASON_ARRIVAL_UNKNOWN,        N_("Nobody marked in Cliniko whether the patient arrived.") },
  { MHF_REASON_FUTURE_BOOKING,         N_("The patient already has a future booking.") },
  { MHF_REASON_MISSED_WINDOW,          N_("Missed its send window (the agent was not running).") },
  { MHF_REASON_NO_USEFUL_TIME,         N_("No useful time to send was left inside the rule’s send window.") },
  { MHF_REASON_RULE_DISABLED,          N_("The rule was disabled.") },
  { MHF_REASON_RULE_CHANGED,           N_("The rule was changed and no longer applies to this appointment.") },
  { MHF_REASON_TEMPLATE_INVALID,       N_("The rule’s template could not be rendered.") },
  { MHF_REASON_SENDING_PAUSED,         N_("Sending is paused for this clinic.") },
  { MHF_REASON_ALREADY_RECORDED,       N_("Already recorded in Cliniko: another computer sent it.") },
  { MHF_REASON_CANCELLED_BY_USER,      N_("Cancelled by a user.") },
  { MHF_REASON_INTERRUPTED,            N_("Sending was interrupted; it may or may not have gone out, so it is not re-sent automatically.") },
  { MHF_REASON_SMTP_REJECTED,          N_("The mail server refused the message.") },
  { MHF_REASON_SMTP_TEMPORARY,         N_("The mail server asked to try again later.") },
  { MHF_REASON_SMTP_LOGIN_FAILED,      N_("SMTP login failed.") },
  { MHF_REASON_CERTIFICATE_UNTRUSTED,  N_("The mail server’s certificate is not trusted.") },
  { MHF_REASON_NETWORK,                N_("The mail server could not be reached.") },
  { MHF_REASON_ATTEMPTS_EXHAUSTED,     N_("Every retry failed.") },
  { MHF_REASON_CLINIKO_UNAVAILABLE,    N_("Cliniko could not be reached to check the patient’s preferences.") },
  { MHF_REASON_NO_EMAIL_SETTINGS,      N_("Email sending is not set up for this clinic.") },
  { MHF_REASON_LICENCE_INACTIVE,       N_("Sending is paused because the licence has expired or the trial has ended; messages that are due are kept and go out once a licence is entered.") },
};

/**
 * mhf_reason_describe:
 * @code: (nullable): a reason code
 *
 * Returns: the translated sentence for @code; an unknown code is returned
 *   as it is, so that nothing is ever hidden
 */
const char *
mhf_reason_describe (const char *code)
{
  if (code == NULL || *code == '\0')
    return "";

  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    {
      if (g_str_equal (reasons[i].code, code))
        return g_dgettext (GETTEXT_PACKAGE, reasons[i].sentence);
    }

  return code;
}

gboolean
mhf_reason_is_known (const char *code)
{
  for (guint i = 0; code != NULL && i < G_N_ELEMENTS (reasons); i++)
    {
      if (g_str_equal (reasons[i].code, code))
        return TRUE;
    }
  return FALSE;
}
