/* mhf-plan-time.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  /* offset_minutes of elapsed time before the appointment starts */
  MHF_TIMING_BEFORE_START,
  /* offset_minutes of elapsed time after the appointment ends */
  MHF_TIMING_AFTER_END,
  /* "days" local days before the start's local date, at hour:minute local */
  MHF_TIMING_DAYS_BEFORE_AT,
} MhfTimingKind;

typedef struct
{
  MhfTimingKind kind;
  gint64        offset_minutes;
  int           days;
  int           hour;
  int           minute;
} MhfTiming;

/* Weekdays as bits, Monday = 1 << 1 … Sunday = 1 << 7 (ISO 8601 numbers). */
#define MHF_WEEKDAYS_MON_FRI ((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5))
#define MHF_WEEKDAYS_ALL     (MHF_WEEKDAYS_MON_FRI | (1 << 6) | (1 << 7))

typedef struct
{
  guint weekdays;      /* allowed local weekdays; 0 means every day */
  int   start_minute;  /* local minutes after midnight, inclusive */
  int   end_minute;    /* local minutes after midnight, exclusive; 1440 = midnight */
} MhfSendWindow;

gint64   mhf_plan_send_time    (const MhfTiming     *timing,
                                gint64               starts_at,
                                gint64               ends_at,
                                GTimeZone           *zone);
gboolean mhf_plan_apply_window (const MhfSendWindow *window,
                                GTimeZone           *zone,
                                gint64               planned,
                                gint64               latest,
                                gint64              *result);

G_END_DECLS
