/* test-plan-time.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Planning in the business's zone, table-driven over four zones and the
 * days their clocks change in 2026: Australia/Sydney (forward 4 October,
 * back 5 April), Australia/Brisbane (no DST), Europe/London (forward 29
 * March, back 25 October), America/Toronto (forward 8 March, back
 * 1 November).
 */

#include "config.h"

#include "mhf-plan-time.h"
#include "mhf-planner.h"

static gint64
utc (const char *iso)
{
  g_autoptr(GDateTime) at = g_date_time_new_from_iso8601 (iso, NULL);

  g_assert_nonnull (at);
  return g_date_time_to_unix (at) * G_USEC_PER_SEC;
}

static char *
local_iso (gint64      when,
           const char *zone_id)
{
  g_autoptr(GTimeZone) zone = g_time_zone_new_identifier (zone_id);
  g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (when / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = g_date_time_to_timezone (at, zone);

  return g_date_time_format (local, "%Y-%m-%d %H:%M %z");
}

typedef struct
{
  const char *zone;
  const char *starts_at;     /* UTC */
  MhfTiming   timing;
  const char *expected_utc;
  const char *expected_local;
} Case;

static const Case cases[] = {
  /* "The day before at 17:00" is 17:00 local, on the day clocks change. */
  { "Australia/Sydney", "2026-10-04T22:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-10-04T06:00:00Z", "2026-10-04 17:00 +1100" },
  { "Australia/Sydney", "2026-04-05T23:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-04-05T07:00:00Z", "2026-04-05 17:00 +1000" },
  { "Australia/Brisbane", "2026-10-04T23:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-10-04T07:00:00Z", "2026-10-04 17:00 +1000" },
  { "Europe/London", "2026-03-30T09:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-03-29T16:00:00Z", "2026-03-29 17:00 +0100" },
  { "Europe/London", "2026-10-26T10:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-10-25T17:00:00Z", "2026-10-25 17:00 +0000" },
  { "America/Toronto", "2026-03-09T13:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-03-08T21:00:00Z", "2026-03-08 17:00 -0400" },
  { "America/Toronto", "2026-11-02T14:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 17, 0 },
    "2026-11-01T22:00:00Z", "2026-11-01 17:00 -0500" },
  /* "2 days before at 09:30", landing on the change day. */
  { "Europe/London", "2026-03-31T08:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 2, 9, 30 },
    "2026-03-29T08:30:00Z", "2026-03-29 09:30 +0100" },
  /* An offset is elapsed time: 24 h before Sunday 10:00 AEDT, the
   * morning the clocks went forward, is Saturday 09:00 AEST. */
  { "Australia/Sydney", "2026-10-03T23:00:00Z", { MHF_TIMING_BEFORE_START, 24 * 60, 0, 0, 0 },
    "2026-10-02T23:00:00Z", "2026-10-03 09:00 +1000" },
  { "America/Toronto", "2026-03-08T14:00:00Z", { MHF_TIMING_BEFORE_START, 24 * 60, 0, 0, 0 },
    "2026-03-07T14:00:00Z", "2026-03-07 09:00 -0500" },
  /* Brisbane has no change: 24 h is the same wall time. */
  { "Australia/Brisbane", "2026-10-04T00:00:00Z", { MHF_TIMING_BEFORE_START, 24 * 60, 0, 0, 0 },
    "2026-10-03T00:00:00Z", "2026-10-03 10:00 +1000" },
  /* A local time skipped by the change becomes the first moment after it. */
  { "Australia/Sydney", "2026-10-04T22:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 2, 30 },
    "2026-10-03T16:00:00Z", "2026-10-04 03:00 +1100" },
  /* A local time that happens twice is the first of the two. */
  { "Europe/London", "2026-10-26T10:00:00Z", { MHF_TIMING_DAYS_BEFORE_AT, 0, 1, 1, 30 },
    "2026-10-25T00:30:00Z", "2026-10-25 01:30 +0100" },
};

static void
test_send_time (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      g_autoptr(GTimeZone) zone = g_time_zone_new_identifier (c->zone);
      g_autofree char *local = NULL;
      gint64 start = utc (c->starts_at);
      gint64 planned;

      g_assert_nonnull (zone);
      planned = mhf_plan_send_time (&c->timing, start, start + (gint64) 30 * 60 * G_USEC_PER_SEC, zone);
      local = local_iso (planned, c->zone);
      g_test_message ("case %u: %s %s → %s", i, c->zone, c->starts_at, local);
      g_assert_cmpstr (local, ==, c->expected_local);
      g_assert_cmpint (planned, ==, utc (c->expected_utc));
    }
}

static void
test_after_end (void)
{
  g_autoptr(GTimeZone) zone = g_time_zone_new_identifier ("Europe/London");
  MhfTiming two_days = { MHF_TIMING_AFTER_END, 2 * 24 * 60, 0, 0, 0 };
  gint64 end = utc ("2026-03-28T10:00:00Z");

  g_assert_cmpint (mhf_plan_send_time (&two_days, end - (gint64) 3600 * G_USEC_PER_SEC, end, zone), ==,
                   utc ("2026-03-30T10:00:00Z"));
}

static void
test_send_window (void)
{
  MhfSendWindow weekdays_8_to_18 = { MHF_WEEKDAYS_MON_FRI, 8 * 60, 18 * 60 };
  g_autoptr(GTimeZone) sydney = g_time_zone_new_identifier ("Australia/Sydney");
  g_autoptr(GTimeZone) toronto = g_time_zone_new_identifier ("America/Toronto");
  g_autofree char *local = NULL;
  gint64 result = 0;

  /* Inside: unchanged. Wednesday 2026-09-30 10:00 AEST. */
  g_assert_true (mhf_plan_apply_window (&weekdays_8_to_18, sydney, utc ("2026-09-30T00:00:00Z"),
                                        0, &result));
  g_assert_cmpint (result, ==, utc ("2026-09-30T00:00:00Z"));

  /* Saturday 3 October 10:00 AEST → Monday 5 October 08:00, now AEDT. */
  g_assert_true (mhf_plan_apply_window (&weekdays_8_to_18, sydney, utc ("2026-10-03T00:00:00Z"),
                                        0, &result));
  local = local_iso (result, "Australia/Sydney");
  g_assert_cmpstr (local, ==, "2026-10-05 08:00 +1100");
  g_clear_pointer (&local, g_free);

  /* Before opening on a weekday → the same day's opening. Toronto, Monday
   * 9 March 06:00 EDT → 08:00 EDT. */
  g_assert_true (mhf_plan_apply_window (&weekdays_8_to_18, toronto, utc ("2026-03-09T10:00:00Z"),
                                        0, &result));
  local = local_iso (result, "America/Toronto");
  g_assert_cmpstr (local, ==, "2026-03-09 08:00 -0400");
  g_clear_pointer (&local, g_free);

  /* After closing on Friday → Monday; but a reminder whose latest useful
   * time is Sunday evening is skipped instead. */
  g_assert_false (mhf_plan_apply_window (&weekdays_8_to_18, sydney,
                                         utc ("2026-10-02T09:00:00Z"),  /* Fri 19:00 AEST */
                                         utc ("2026-10-04T08:00:00Z"),  /* Sun 19:00 AEDT */
                                         &result));
  g_assert_true (mhf_plan_apply_window (&weekdays_8_to_18, sydney,
                                        utc ("2026-10-02T09:00:00Z"), 0, &result));
  local = local_iso (result, "Australia/Sydney");
  g_assert_cmpstr (local, ==, "2026-10-05 08:00 +1100");
}

static void
test_window_never_opens (void)
{
  MhfSendWindow empty = { MHF_WEEKDAYS_ALL, 10 * 60, 10 * 60 };
  g_autoptr(GTimeZone) zone = g_time_zone_new_identifier ("Europe/London");
  gint64 result = 1;

  g_assert_false (mhf_plan_apply_window (&empty, zone, utc ("2026-06-01T12:00:00Z"), 0, &result));
  g_assert_cmpint (result, ==, 0);
}

/* mhf_planner_decide(): the one decision the scanner and the dry run make. */
static void
test_planner_decide (void)
{
  g_autoptr(GTimeZone) sydney = g_time_zone_new_identifier ("Australia/Sydney");
  const char *only_71[] = { "71", NULL };
  MhfRuleSpec reminder = {
    .kind = (char *) "reminder",
    .timing = { .kind = MHF_TIMING_BEFORE_START, .offset_minutes = 24 * 60 },
    .window = { MHF_WEEKDAYS_MON_FRI, 8 * 60, 18 * 60 },
    .latest_useful_minutes = 120,
  };
  /* Wednesday 7 October 2026, 10:00 AEDT (23:00Z the day before). */
  MhfAppointmentInfo appointment = {
    .id = "1", .business_id = "71",
    .starts_at = utc ("2026-10-06T23:00:00Z"), .ends_at = utc ("2026-10-06T23:30:00Z"),
  };
  gint64 enabled = utc ("2026-10-01T00:00:00Z");
  gint64 planned = 0, latest = 0;

  /* Tuesday 10:00 AEDT, inside the window; the latest two hours before. */
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney, enabled, &planned, &latest),
                   ==, MHF_PLAN_PLANNED);
  g_assert_cmpint (planned, ==, utc ("2026-10-05T23:00:00Z"));
  g_assert_cmpint (latest, ==, utc ("2026-10-06T21:00:00Z"));

  /* Filters first: another business is left out. */
  reminder.businesses = (GStrv) only_71;
  appointment.business_id = "1152921504606846977";
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney, enabled, &planned, NULL),
                   ==, MHF_PLAN_FILTERED_OUT);
  appointment.business_id = "71";

  /* Monday 10:00 start: 24 h before is Sunday, outside the window; the next
   * opening, Monday 08:00, is before the latest useful time (08:00). */
  appointment.starts_at = utc ("2026-10-04T23:00:00Z");
  appointment.ends_at = appointment.starts_at + 30 * 60 * G_USEC_PER_SEC;
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney, enabled, &planned, NULL),
                   ==, MHF_PLAN_PLANNED);
  g_assert_cmpint (planned, ==, utc ("2026-10-04T21:00:00Z"));

  /* Monday 09:00 start: the opening comes after the latest useful time
   * (07:00): no useful time, a recorded skip. */
  appointment.starts_at = utc ("2026-10-04T22:00:00Z");
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney, enabled, &planned, NULL),
                   ==, MHF_PLAN_TOO_LATE);

  /* Booked inside the offset: never for the past, unless last-minute is
   * on and there is still time; then at once. */
  appointment.starts_at = utc ("2026-10-06T23:00:00Z");
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney,
                                       utc ("2026-10-06T00:00:00Z"), &planned, NULL),
                   ==, MHF_PLAN_BEFORE_ENABLED);
  reminder.last_minute = TRUE;
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney,
                                       utc ("2026-10-06T00:00:00Z"), &planned, NULL),
                   ==, MHF_PLAN_PLANNED);
  g_assert_cmpint (planned, ==, utc ("2026-10-06T00:00:00Z"));
  /* One hour before the start is past the latest useful time. */
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney,
                                       utc ("2026-10-06T22:00:00Z"), &planned, NULL),
                   ==, MHF_PLAN_TOO_LATE);

  appointment.cancelled = TRUE;
  g_assert_cmpint (mhf_planner_decide (&reminder, &appointment, sydney, enabled, &planned, NULL),
                   ==, MHF_PLAN_CANCELLED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mhf/agent/plan-time/send-time-dst", test_send_time);
  g_test_add_func ("/mhf/agent/plan-time/after-end", test_after_end);
  g_test_add_func ("/mhf/agent/plan-time/send-window", test_send_window);
  g_test_add_func ("/mhf/agent/plan-time/window-never-opens", test_window_never_opens);
  g_test_add_func ("/mhf/agent/plan-time/planner-decide", test_planner_decide);

  return g_test_run ();
}
