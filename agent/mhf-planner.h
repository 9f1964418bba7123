/* mhf-planner.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

#include "mhf-rule.h"

G_BEGIN_DECLS

/* What the planner knows of one appointment (or attendee): ids and times,
 * never a name. */
typedef struct
{
  const char *id;
  const char *business_id;
  const char *practitioner_id;
  const char *appointment_type_id;
  gint64      starts_at;     /* UTC µs */
  gint64      ends_at;
  gboolean    cancelled;     /* cancelled, deleted or archived */
} MhfAppointmentInfo;

typedef enum
{
  MHF_PLAN_PLANNED,
  MHF_PLAN_FILTERED_OUT,     /* the rule's filters leave it out */
  MHF_PLAN_CANCELLED,        /* cancelled, deleted or archived */
  MHF_PLAN_TOO_LATE,         /* no useful time is left (window, latest useful time) */
  MHF_PLAN_BEFORE_ENABLED,   /* it would have gone before the rule was enabled */
} MhfPlanOutcome;

MhfPlanOutcome mhf_planner_decide (const MhfRuleSpec        *rule,
                                   const MhfAppointmentInfo *appointment,
                                   GTimeZone                *zone,
                                   gint64                    not_before,
                                   gint64                   *planned_at,
                                   gint64                   *latest_at);

G_END_DECLS
