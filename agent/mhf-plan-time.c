/* mhf-plan-time.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * When a message should go, in the business's own time zone. All times
 * in and out are UTC, in microseconds since the UNIX epoch.
 *
 * Two kinds of timing, with different meanings on days when the clocks
 * change: an offset ("24 hours before") is elapsed time, so a reminder
 * 24 hours before a Monday 09:00 start goes at 08:00 local on a Sunday
 * when the clocks went forward that night; a local time ("the day before
 * at 17:00") is wall-clock time, and is 17:00 local whatever the day's
 * length. A local time that does not exist (in the hour skipped when
 * clocks go forward) becomes the first moment after the gap; one that
 * exists twice (when clocks go back) is the first of the two.
 */

#include "config.h"

#include "mhf-plan-time.h"

#define MINUTE_USEC ((gint64) 60 * G_USEC_PER_SEC)

static GDateTime *
local_from_utc (gint64     utc,
                GTimeZone *zone)
{
  g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (utc / G_USEC_PER_SEC);

  return g_date_time_to_timezone (at, zone);
}

static gint64
utc_of (GDateTime *local)
{
  return g_date_time_to_unix (local) * G_USEC_PER_SEC;
}

/* The UTC instant of a local wall-clock time in @zone: the earlier of the
 * two readings of a time that happens twice, and for a time in a gap the
 * first moment after it (what g_date_time_new() gives). */
static gint64
local_wall_time (GTimeZone *zone,
                 int        year,
                 int        month,
                 int        day,
                 int        hour,
                 int        minute)
{
  g_autoptr(GDateTime) as_utc = g_date_time_new_utc (year, month, day, hour, minute, 0);
  g_autoptr(GDateTime) local = NULL;
  gint64 wall = g_date_time_to_unix (as_utc);
  gint standard = g_time_zone_find_interval (zone, G_TIME_TYPE_STANDARD, wall);
  gint daylight = g_time_zone_find_interval (zone, G_TIME_TYPE_DAYLIGHT, wall);

  if (standard >= 0 || daylight >= 0)
    {
      gint64 best = G_MAXINT64;

      if (standard >= 0)
        best = MIN (best, wall - g_time_zone_get_offset (zone, standard));
      if (daylight >= 0)
        best = MIN (best, wall - g_time_zone_get_offset (zone, daylight));
      return best * G_USEC_PER_SEC;
    }

  local = g_date_time_new (zone, year, month, day, hour, minute, 0);
  return local != NULL ? utc_of (local) : 0;
}

/**
 * mhf_plan_send_time:
 * @starts_at: the appointment's start (UTC µs)
 * @ends_at: its end (UTC µs)
 * @zone: the business's zone
 *
 * Returns: when the message is planned, UTC µs
 */
gint64
mhf_plan_send_time (const MhfTiming *timing,
                    gint64           starts_at,
                    gint64           ends_at,
                    GTimeZone       *zone)
{
  g_autoptr(GDateTime) start_local = NULL;
  g_autoptr(GDateTime) day = NULL;

  g_return_val_if_fail (timing != NULL, 0);
  g_return_val_if_fail (zone != NULL, 0);

  switch (timing->kind)
    {
    case MHF_TIMING_BEFORE_START:
      return starts_at - timing->offset_minutes * MINUTE_USEC;

    case MHF_TIMING_AFTER_END:
      return ends_at + timing->offset_minutes * MINUTE_USEC;

    case MHF_TIMING_DAYS_BEFORE_AT:
      start_local = local_from_utc (starts_at, zone);
      /* Calendar days, not 24-hour periods: the date, then the time. */
      day = g_date_time_add_days (start_local, -timing->days);
      return local_wall_time (zone, g_date_time_get_year (day), g_date_time_get_month (day),
                              g_date_time_get_day_of_month (day), timing->hour, timing->minute);

    default:
      g_return_val_if_reached (0);
    }
}

static gboolean
window_allows (const MhfSendWindow *window,
               GDateTime           *local)
{
  int minute = g_date_time_get_hour (local) * 60 + g_date_time_get_minute (local);
  guint weekday = 1u << g_date_time_get_day_of_week (local);

  if (window->weekdays != 0 && (window->weekdays & weekday) == 0)
    return FALSE;
  return minute >= window->start_minute && minute < window->end_minute;
}

/**
 * mhf_plan_apply_window:
 * @planned: the planned time (UTC µs)
 * @latest: the latest useful time (UTC µs), or 0 for none
 * @result: (out): the time to send, inside the window
 *
 * Moves a planned time that falls outside the send window to the window's
 * next opening, in local time.
 *
 * Returns: %FALSE when the next opening is after @latest: the message would
 *   no longer be useful and is to be skipped
 */
gboolean
mhf_plan_apply_window (const MhfSendWindow *window,
                       GTimeZone           *zone,
                       gint64               planned,
                       gint64               latest,
                       gint64              *result)
{
  g_autoptr(GDateTime) local = NULL;

  g_return_val_if_fail (window != NULL, FALSE);
  g_return_val_if_fail (zone != NULL, FALSE);
  g_return_val_if_fail (result != NULL, FALSE);

  local = local_from_utc (planned, zone);
  if (window_allows (window, local))
    {
      *result = planned;
      return latest == 0 || planned <= latest;
    }

  /* Today's opening if it is still ahead, else the next allowed day's. */
  for (int days = 0; days <= 8; days++)
    {
      g_autoptr(GDateTime) day = g_date_time_add_days (local, days);
      g_autoptr(GDateTime) opening_local = NULL;
      gint64 opening;

      opening = local_wall_time (zone, g_date_time_get_year (day), g_date_time_get_month (day),
                                 g_date_time_get_day_of_month (day),
                                 window->start_minute / 60, window->start_minute % 60);
      if (opening <= planned)
        continue;

      opening_local = local_from_utc (opening, zone);
      if (!window_allows (window, opening_local))
        continue;

      *result = opening;
      return latest == 0 || opening <= latest;
    }

  /* A window that never opens (no weekday, or an empty range). */
  *result = 0;
  return FALSE;
}
