/* mhf-planner.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One decision: whether, and when, a rule plans a message for one
 * appointment. The dry run uses it now; the scanner will use the same
 * function, so that a dry run shows what planning would do.
 */

#include "config.h"

#include "mhf-planner.h"

#define MINUTE_USEC ((gint64) 60 * G_USEC_PER_SEC)

static gboolean
included (GStrv       list,
          const char *id)
{
  /* An empty include list means all. */
  if (list == NULL || list[0] == NULL)
    return TRUE;
  return id != NULL && g_strv_contains ((const char * const *) list, id);
}

/**
 * mhf_planner_decide:
 * @not_before: nothing is planned before this (now, or when the rule was
 *   enabled, whichever is later): a rule never sends for the past
 * @planned_at: (out): when the message would go, for %MHF_PLAN_PLANNED
 * @latest_at: (out) (optional): the latest useful time to send it, or 0
 *   for no limit
 */
MhfPlanOutcome
mhf_planner_decide (const MhfRuleSpec        *rule,
                    const MhfAppointmentInfo *appointment,
                    GTimeZone                *zone,
                    gint64                    not_before,
                    gint64                   *planned_at,
                    gint64                   *latest_at)
{
  gboolean reminder = g_strcmp0 (rule->kind, "reminder") == 0;
  gint64 planned, latest = 0;

  *planned_at = 0;
  if (latest_at != NULL)
    *latest_at = 0;

  if (!included (rule->businesses, appointment->business_id) ||
      !included (rule->practitioners, appointment->practitioner_id) ||
      !included (rule->appointment_types, appointment->appointment_type_id))
    return MHF_PLAN_FILTERED_OUT;

  if (appointment->cancelled)
    return MHF_PLAN_CANCELLED;

  planned = mhf_plan_send_time (&rule->timing, appointment->starts_at, appointment->ends_at, zone);

  /* The latest useful time: a reminder at least this long before the
   * start (or by the start itself); other kinds at most this late. */
  if (reminder)
    latest = appointment->starts_at - rule->latest_useful_minutes * MINUTE_USEC;
  else if (rule->latest_useful_minutes > 0)
    latest = planned + rule->latest_useful_minutes * MINUTE_USEC;

  if (planned < not_before)
    {
      /* A reminder for a booking made inside its offset may go at once,
       * with the last-minute option, while it is still useful. */
      if (reminder && rule->last_minute && appointment->starts_at > not_before)
        {
          if (not_before > latest)
            return MHF_PLAN_TOO_LATE;   /* a recorded skip, not silence */
          planned = not_before;
        }
      else
        return MHF_PLAN_BEFORE_ENABLED;
    }

  if (!mhf_plan_apply_window (&rule->window, zone, planned, latest, &planned))
    return MHF_PLAN_TOO_LATE;

  *planned_at = planned;
  if (latest_at != NULL)
    *latest_at = latest;
  return MHF_PLAN_PLANNED;
}
