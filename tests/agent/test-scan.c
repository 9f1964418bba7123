/* test-scan.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Scanning and the outbox through the real agent, the real keyring and
 * the fake Cliniko: idempotent planning, reconciliation of reschedules,
 * cancellations and deletions, classes with their attendees, enabling and
 * editing rules, a scan killed half-way, the agent off for days, cancel
 * and retry with their audit entries, and the CLI.
 */

#include "config.h"

#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>

#include "mhf-error.h"
#include "mhf-fake-cliniko.h"
#include "mhf-ipc-agent.h"
#include "mhf-test-bus.h"

#include "clinic-fixture.h"

/* ---- tests --------------------------------------------------------------------------------------- */

static void
test_scan_idempotent (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GVariant) second = NULL;
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) all = NULL;
  gint64 enabled_before = g_get_real_time ();
  guint n_planned, requests_before, attendee_rows = 0;

  add_enabled_rule (f, "24h before");
  first = scan (f);
  planned = outbox (f, "planned");
  n_planned = g_variant_n_children (planned);
  g_assert_cmpuint (n_planned, >, 0);

  /* Enabling never plans for the past; every row is keyed once. */
  for (gsize i = 0; i < n_planned; i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (planned, i);
      const char *attendee = row_s (row, "attendee");

      g_assert_cmpint (row_x (row, "planned-at"), >=, enabled_before);
      g_assert_cmpstr (row_s (row, "kind"), ==, "reminder");
      g_assert_cmpstr (row_s (row, "appointment-start"), !=, "");

      /* A place in a class: never a cancelled one. */
      if (*attendee != '\0')
        {
          g_autofree char *json = mhf_fake_cliniko_dup_record_json (f->fake, "attendees",
                                                                    attendee);
          g_autoptr(JsonNode) node = json_from_string (json, NULL);
          JsonObject *object = json_node_get_object (node);

          attendee_rows++;
          g_assert_true (json_object_get_null_member (object, "cancelled_at") ||
                         g_str_equal (json_object_get_string_member (object, "cancelled_at"), ""));
        }
    }

  /* A second scan plans nothing new and changes nothing. */
  requests_before = mhf_fake_cliniko_count_requests (f->fake, NULL, NULL);
  second = scan (f);
  g_assert_cmpuint (lookup_u (second, "planned"), ==, 0);
  g_assert_cmpuint (lookup_u (second, "replanned"), ==, 0);
  g_assert_cmpuint (lookup_u (second, "cancelled"), ==, 0);
  all = outbox (f, NULL);
  g_assert_cmpuint (g_variant_n_children (all), ==, n_planned);
  g_test_message ("steady-state scan: %u Cliniko requests",
                  mhf_fake_cliniko_count_requests (f->fake, NULL, NULL) - requests_before);
  g_test_message ("%u rows, %u of them places in classes", n_planned, attendee_rows);
}

static void
test_class_attendees (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GHashTable) classes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint places = 0;

  /* Follow-ups one hour after the end: the class tomorrow is always
   * ahead, whatever the time of day. */
  add_enabled_rule (f, "1h after");
  g_variant_unref (scan (f));
  planned = outbox (f, "planned");

  for (gsize i = 0; i < g_variant_n_children (planned); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (planned, i);
      const char *attendee = row_s (row, "attendee");
      g_autofree char *json = NULL;
      g_autoptr(JsonNode) node = NULL;
      JsonObject *object;

      if (*attendee == '\0')
        {
          g_assert_cmpstr (row_s (row, "appointment-start"), ==, "");
          continue;
        }

      /* One row per place, for a place that still stands. */
      places++;
      g_hash_table_add (classes, g_strdup (row_s (row, "appointment")));
      json = mhf_fake_cliniko_dup_record_json (f->fake, "attendees", attendee);
      g_assert_nonnull (json);
      node = json_from_string (json, NULL);
      object = json_node_get_object (node);
      g_assert_true (json_object_get_null_member (object, "cancelled_at") ||
                     g_str_equal (json_object_get_string_member (object, "cancelled_at"), ""));
      g_assert_true (json_object_get_null_member (object, "deleted_at") ||
                     g_str_equal (json_object_get_string_member (object, "deleted_at"), ""));
    }

  /* Tomorrow's class has Zoë, a cancelled and a deleted place. */
  g_assert_cmpuint (g_hash_table_size (classes), >=, 1);
  g_assert_cmpuint (places, >=, g_hash_table_size (classes));
  g_test_message ("%u places in %u classes", places, g_hash_table_size (classes));
}

static void
test_reconcile (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autoptr(GPtrArray) individual = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) moved = NULL;
  g_autoptr(GPtrArray) cancelled = NULL;
  g_autoptr(GPtrArray) deleted = NULL;
  g_autoptr(GVariant) result = NULL;
  const char *to_move, *to_cancel, *to_delete;
  gint64 old_start, new_start;
  gboolean saw_old = FALSE, saw_new = FALSE;

  add_enabled_rule (f, "24h before");
  g_variant_unref (scan (f));
  planned = outbox (f, "planned");

  for (gsize i = 0; i < g_variant_n_children (planned); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (planned, i);

      if (*row_s (row, "attendee") == '\0')
        g_ptr_array_add (individual, g_strdup (row_s (row, "appointment")));
    }
  g_assert_cmpuint (individual->len, >=, 3);
  to_move = g_ptr_array_index (individual, 0);
  to_cancel = g_ptr_array_index (individual, 1);
  to_delete = g_ptr_array_index (individual, 2);

  old_start = fake_start (f, "individual_appointments", to_move);
  new_start = old_start + DAY_USEC;
  g_assert_true (mhf_fake_cliniko_reschedule_appointment (f->fake, to_move,
                                                          new_start / G_USEC_PER_SEC));
  g_assert_true (mhf_fake_cliniko_cancel_appointment (f->fake, to_cancel, 50, NULL));
  g_assert_true (mhf_fake_cliniko_delete_appointment (f->fake, to_delete));

  result = scan (f);
  {
    gboolean full = TRUE;

    g_assert_true (g_variant_lookup (result, "full", "b", &full));
    g_assert_false (full);
  }
  after = outbox (f, NULL);

  /* Moved: the old reminder cancelled "rescheduled", a new one for the new
   * start, 24 hours before it. */
  moved = rows_for (after, to_move, "");
  g_assert_cmpuint (moved->len, ==, 2);
  for (guint i = 0; i < moved->len; i++)
    {
      GVariant *row = g_ptr_array_index (moved, i);

      if (g_str_equal (row_s (row, "state"), "cancelled"))
        {
          g_assert_cmpstr (row_s (row, "reason"), ==, "rescheduled");
          g_assert_cmpstr (row_s (row, "reason-text"), !=, "rescheduled");
          saw_old = TRUE;
        }
      else
        {
          g_assert_cmpstr (row_s (row, "state"), ==, "planned");
          g_assert_cmpint (row_x (row, "planned-at"), ==, new_start - DAY_USEC);
          saw_new = TRUE;
        }
    }
  g_assert_true (saw_old && saw_new);

  cancelled = rows_for (after, to_cancel, "");
  g_assert_cmpuint (cancelled->len, ==, 1);
  g_assert_cmpstr (row_s (g_ptr_array_index (cancelled, 0), "state"), ==, "cancelled");
  g_assert_cmpstr (row_s (g_ptr_array_index (cancelled, 0), "reason"), ==,
                   "appointment-cancelled");

  deleted = rows_for (after, to_delete, "");
  g_assert_cmpuint (deleted->len, ==, 1);
  g_assert_cmpstr (row_s (g_ptr_array_index (deleted, 0), "state"), ==, "cancelled");
  g_assert_cmpstr (row_s (g_ptr_array_index (deleted, 0), "reason"), ==, "appointment-deleted");
}

static void
test_disable_enable_edit (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) disabled = NULL;
  g_autoptr(GVariant) again = NULL;
  g_autoptr(GVariant) edited = NULL;
  g_autoptr(GError) error = NULL;
  guint n_planned;
  gint64 rule;

  rule = add_enabled_rule (f, "24h before");
  g_variant_unref (scan (f));
  planned = outbox (f, "planned");
  n_planned = g_variant_n_children (planned);
  g_assert_cmpuint (n_planned, >, 0);

  /* Disabling cancels what the rule planned, with its reason. */
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, rule, FALSE, NULL,
                                                      &error), error);
  disabled = outbox (f, "cancelled");
  g_assert_cmpuint (g_variant_n_children (disabled), ==, n_planned);
  for (gsize i = 0; i < n_planned; i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (disabled, i);

      g_assert_cmpstr (row_s (row, "reason"), ==, "rule-disabled");
    }

  /* Enabling again brings them back. */
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, rule, TRUE, NULL,
                                                      &error), error);
  g_variant_unref (scan (f));
  again = outbox (f, "planned");
  g_assert_cmpuint (g_variant_n_children (again), ==, n_planned);

  /* Editing the offset re-plans the pending rows: 48 hours before their
   * start, or cancelled "rule-changed" when that is already past. */
  call_ok (mhf_ipc_agent1_call_update_rule_sync (f->proxy, f->clinic, rule,
                                                 rule_dict (f, "48h before"), NULL, &error),
           error);
  g_variant_unref (scan (f));
  edited = outbox (f, NULL);
  for (gsize i = 0; i < g_variant_n_children (edited); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (edited, i);
      g_autoptr(GDateTime) start = g_date_time_new_from_iso8601 (row_s (row,
                                                                       "appointment-start"),
                                                                NULL);
      gint64 start_usec = g_date_time_to_unix (start) * G_USEC_PER_SEC;

      if (g_str_equal (row_s (row, "state"), "planned"))
        g_assert_cmpint (row_x (row, "planned-at"), ==, start_usec - 2 * DAY_USEC);
      else
        {
          g_assert_cmpstr (row_s (row, "state"), ==, "cancelled");
          g_assert_cmpstr (row_s (row, "reason"), ==, "rule-changed");
          g_assert_cmpint (start_usec - 2 * DAY_USEC, <, g_get_real_time ());
        }
    }
}

/* A rule enabled while the scan started by another one runs: that scan
 * read the rules before the change, so the next one reads the whole
 * horizon again, and ScanNow waits for it. */
static void
test_rule_enabled_during_scan (Fixture       *f,
                               gconstpointer  data)
{
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GError) error = NULL;
  guint first = 0, second = 0;
  gint64 a, b;

  call_ok (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic, rule_dict (f, "24h before"), &a,
                                              NULL, &error), error);
  {
    g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

    g_variant_dict_insert (&dict, "name", "s", "Two days before");
    g_variant_dict_insert (&dict, "kind", "s", "reminder");
    g_variant_dict_insert (&dict, "template", "x", f->template_id);
    g_variant_dict_insert (&dict, "timing", "s", "48h before");
    call_ok (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic, g_variant_dict_end (&dict),
                                                &b, NULL, &error), error);
  }
  /* The scan that enabling the first starts is held up in Cliniko while
   * the second is enabled. */
  {
    MhfFakeFault slow = { .delay_ms = 1500, .count = 1 };

    mhf_fake_cliniko_add_fault (f->fake, "/group_appointments", &slow);
  }
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, a, TRUE, NULL, &error),
           error);
  while (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/group_appointments") == 0)
    g_usleep (10 * 1000);
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, b, TRUE, NULL, &error),
           error);
  g_variant_unref (scan (f));

  planned = outbox (f, "planned");
  for (gsize i = 0; i < g_variant_n_children (planned); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (planned, i);

      first += row_x (row, "rule") == a;
      second += row_x (row, "rule") == b;
    }
  g_test_message ("24h rule: %u rows, 48h rule: %u rows", first, second);
  g_assert_cmpuint (first, >, 0);
  g_assert_cmpuint (second, >, 0);

  /* Both were planned over the whole horizon, not just what changed
   * lately: reading the whole horizon again finds nothing new. */
  {
    g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
    g_autoptr(GVariant) again = NULL;

    g_variant_dict_insert (&dict, "name", "s", "Two days before");
    g_variant_dict_insert (&dict, "kind", "s", "reminder");
    g_variant_dict_insert (&dict, "template", "x", f->template_id);
    g_variant_dict_insert (&dict, "timing", "s", "48h before");
    call_ok (mhf_ipc_agent1_call_update_rule_sync (f->proxy, f->clinic, b,
                                                   g_variant_dict_end (&dict), NULL, &error),
             error);
    again = scan (f);
  }
  {
    g_autoptr(GVariant) after = outbox (f, "planned");
    guint second_after = 0;

    for (gsize i = 0; i < g_variant_n_children (after); i++)
      {
        g_autoptr(GVariant) row = g_variant_get_child_value (after, i);

        second_after += row_x (row, "rule") == b;
      }
    g_assert_cmpuint (second_after, ==, second);
  }
}

static void
test_dry_run_matches_scan (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GVariant) rules = NULL;
  g_autoptr(GVariant) rule = NULL;
  g_autoptr(GVariant) dry = NULL;
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_real_time ();
  guint in_a_day = 0;

  add_enabled_rule (f, "24h before");
  g_variant_unref (scan (f));

  call_ok (mhf_ipc_agent1_call_list_rules_sync (f->proxy, f->clinic, &rules, NULL, &error), error);
  rule = g_variant_get_child_value (rules, 0);
  call_ok (mhf_ipc_agent1_call_dry_run_rule_sync (f->proxy, f->clinic, rule, 1, &dry, NULL,
                                                  &error), error);

  /* The dry run looks at individual appointments: the same ones, planned
   * for the same next day, through the same decision. */
  planned = outbox (f, "planned");
  for (gsize i = 0; i < g_variant_n_children (planned); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (planned, i);

      if (*row_s (row, "attendee") == '\0' && row_x (row, "planned-at") < now + DAY_USEC)
        in_a_day++;
    }
  g_assert_cmpuint (in_a_day, >, 0);
  g_assert_cmpuint (lookup_u (dry, "planned"), ==, in_a_day);
}

static void
test_cancel_retry (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) row = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *audit = NULL;
  gint64 id, next = 0, now;

  add_enabled_rule (f, "24h before");
  g_variant_unref (scan (f));
  planned = outbox (f, "planned");
  row = g_variant_get_child_value (planned, 0);
  id = row_x (row, "id");

  /* Only planned or retrying messages can be cancelled; only finished ones
   * retried. */
  g_assert_false (mhf_ipc_agent1_call_retry_message_sync (f->proxy, f->clinic, id, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_cancel_message_sync (f->proxy, f->clinic, id, "patient phoned",
                                                    NULL, &error), error);
  g_assert_false (mhf_ipc_agent1_call_cancel_message_sync (f->proxy, f->clinic, id, "", NULL,
                                                           &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  after = outbox (f, "cancelled");
  g_assert_cmpuint (g_variant_n_children (after), ==, 1);
  g_clear_pointer (&row, g_variant_unref);
  row = g_variant_get_child_value (after, 0);
  g_assert_cmpstr (row_s (row, "reason"), ==, "cancelled-by-user");

  /* A later scan leaves a user's cancellation alone. */
  g_variant_unref (scan (f));
  g_clear_pointer (&after, g_variant_unref);
  after = outbox (f, "cancelled");
  g_assert_cmpuint (g_variant_n_children (after), ==, 1);

  now = g_get_real_time ();
  call_ok (mhf_ipc_agent1_call_retry_message_sync (f->proxy, f->clinic, id, NULL, &error), error);
  g_clear_pointer (&after, g_variant_unref);
  after = outbox (f, "planned");
  g_assert_cmpuint (g_variant_n_children (after), ==, g_variant_n_children (planned));
  for (gsize i = 0; i < g_variant_n_children (after); i++)
    {
      g_autoptr(GVariant) r = g_variant_get_child_value (after, i);

      if (row_x (r, "id") == id)
        {
          g_assert_cmpint (row_x (r, "planned-at"), >=, now);
          g_assert_cmpint (row_x (r, "latest-at"), ==, 0);
        }
    }

  /* Unknown or another clinic's message: NotFound. */
  g_assert_false (mhf_ipc_agent1_call_cancel_message_sync (f->proxy, f->clinic, 999999, "", NULL,
                                                           &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND);
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_list_audit_sync (f->proxy, f->clinic, 0, 100, &entries, &next, NULL,
                                                &error), error);
  audit = g_variant_print (entries, FALSE);
  g_assert_nonnull (strstr (audit, "message.cancel"));
  g_assert_nonnull (strstr (audit, "patient phoned"));
  g_assert_nonnull (strstr (audit, "message.retry"));
  g_assert_nonnull (strstr (audit, "scan.now"));
}

static void
test_killed_mid_scan (Fixture       *f,
                      gconstpointer  data)
{
  MhfFakeFault fault = { .status = 0, .delay_ms = 3000, .count = -1 };
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) second = NULL;
  sqlite3 *db;

  add_enabled_rule (f, "24h before");

  /* The scan hangs on its second list; the agent dies meanwhile. */
  mhf_fake_cliniko_add_fault (f->fake, "/group_appointments", &fault);
  mhf_ipc_agent1_call_scan_now (f->proxy, f->clinic, NULL, NULL, NULL);
  while (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/group_appointments") == 0)
    g_usleep (20 * 1000);
  mhf_test_bus_stop_agent (f->bus);
  mhf_fake_cliniko_clear_faults (f->fake);

  /* Nothing half-written: no rows, no cursor. */
  db = open_database (f);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM outbox"), ==, 0);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM scan_cursors"), ==, 0);
  sqlite3_close (db);

  /* Started again (by activation), it plans everything once. */
  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);
  result = scan (f);
  second = scan (f);
  g_assert_cmpuint (lookup_u (second, "planned"), ==, 0);
  planned = outbox (f, "planned");
  g_assert_cmpuint (g_variant_n_children (planned), >, 0);

  mhf_test_bus_stop_agent (f->bus);
  db = open_database (f);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM outbox"), ==,
                   query_int (db, "SELECT count(DISTINCT rule_id || '|' || appointment_id || '|' ||"
                                  " attendee_id || '|' || appointment_start) FROM outbox"));
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM scan_cursors"), ==, 2);
  sqlite3_close (db);
}

static void
test_agent_was_off (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) skipped = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) row = NULL;
  g_autoptr(GError) error = NULL;
  gint64 offline = 0, three_days_ago = g_get_real_time () - 3 * DAY_USEC;
  g_autofree char *sql = NULL;
  guint n_planned;
  sqlite3 *db;

  add_enabled_rule (f, "24h before");
  g_variant_unref (scan (f));
  planned = outbox (f, "planned");
  n_planned = g_variant_n_children (planned);
  g_assert_cmpuint (n_planned, >=, 2);
  row = g_variant_get_child_value (planned, 0);

  /* The PC was off for three days, during which one message's latest
   * useful time passed. */
  mhf_test_bus_stop_agent (f->bus);
  db = open_database (f);
  sql = g_strdup_printf ("UPDATE settings SET value = '%" G_GINT64_FORMAT "' WHERE key = 'last-seen';"
                         "UPDATE outbox SET planned_at = %" G_GINT64_FORMAT ", latest_at = %"
                         G_GINT64_FORMAT " WHERE id = %" G_GINT64_FORMAT ";",
                         three_days_ago, three_days_ago, three_days_ago + HOUR_USEC,
                         row_x (row, "id"));
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  g_clear_object (&f->proxy);
  status = mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  f->proxy = new_proxy (f);

  /* The status tells how long it was off (the start-up check may finish
   * just after "ready"). */
  for (gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000; ; )
    {
      g_clear_pointer (&status, g_variant_unref);
      call_ok (mhf_ipc_agent1_call_get_status_sync (f->proxy, &status, NULL, &error), error);
      g_assert_true (g_variant_lookup (status, "offline-seconds", "x", &offline));
      if (offline > 0)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (50 * 1000);
    }
  g_assert_cmpint (offline, >=, 3 * 24 * 3600 - 60);
  g_assert_cmpint (offline, <=, 3 * 24 * 3600 + 600);

  sign_in (f);
  skipped = outbox (f, "skipped");
  g_assert_cmpuint (g_variant_n_children (skipped), ==, 1);
  g_clear_pointer (&row, g_variant_unref);
  row = g_variant_get_child_value (skipped, 0);
  g_assert_cmpstr (row_s (row, "reason"), ==, "missed-window");
  g_assert_nonnull (strstr (row_s (row, "reason-text"), "not running"));
  g_clear_pointer (&planned, g_variant_unref);
  planned = outbox (f, "planned");
  g_assert_cmpuint (g_variant_n_children (planned), ==, n_planned - 1);
}

static void
test_ctl (Fixture       *f,
          gconstpointer  data)
{
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GVariant) planned = NULL;
  g_autoptr(GVariant) row = NULL;
  g_autofree char *id = NULL;
  g_autoptr(JsonNode) json = NULL;

  add_enabled_rule (f, "24h before");

  g_assert_cmpint (run_ctl (&out, &err, "scan", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "New messages planned:"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_ctl (&out, &err, "outbox", clinic, "--state", "planned",
                                     "--json", NULL), ==, 0);
  json = json_from_string (out, NULL);
  g_assert_nonnull (json);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_node_get_object (json),
                                                                         "messages")), >, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  planned = outbox (f, "planned");
  row = g_variant_get_child_value (planned, 0);
  id = g_strdup_printf ("%" G_GINT64_FORMAT, row_x (row, "id"));

  g_assert_cmpint (run_ctl (&out, &err, "cancel", clinic, id, "--reason",
                                     "moved to phone", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (&out, &err, "outbox", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Cancelled by a user."));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Cancelling twice is a clear error, not a silent success. */
  g_assert_cmpint (run_ctl (&out, &err, "cancel", clinic, id, NULL), !=, 0);
  g_assert_nonnull (strstr (err, "cancelled"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_ctl (&out, &err, "retry", clinic, id, NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_ctl (&out, &err, "clinic", "scan-interval", clinic, "61",
                                     NULL), !=, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (&out, &err, "clinic", "scan-interval", clinic, "15",
                                     NULL), ==, 0);
  g_assert_nonnull (strstr (out, "every 15 minutes"));
}

static gint64
lookup_x (GVariant   *dict,
          const char *key)
{
  gint64 value = 0;

  g_assert_true (g_variant_lookup (dict, key, "x", &value));
  return value;
}

static void
test_scan_times (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  gint64 before, after, last, next;
  gboolean ok = FALSE;

  add_enabled_rule (f, "24h before");

  before = g_get_real_time ();
  g_variant_unref (scan (f));
  after = g_get_real_time ();

  status = cliniko_status (f);
  last = lookup_x (status, "last-scan-at");
  next = lookup_x (status, "next-scan-at");
  g_assert_true (g_variant_lookup (status, "last-scan-ok", "b", &ok));
  g_assert_true (ok);
  g_assert_cmpuint (lookup_u (status, "scan-interval"), ==, 5);
  g_assert_cmpint (last, >=, before);
  g_assert_cmpint (last, <=, after);
  /* The next timed scan is a whole interval after the last one. */
  g_assert_cmpint (next - last, >=, 5 * 60 * G_USEC_PER_SEC - G_USEC_PER_SEC);
  g_assert_cmpint (next - last, <=, 5 * 60 * G_USEC_PER_SEC + G_USEC_PER_SEC);

  /* The CLI shows them. */
  g_assert_cmpint (run_ctl (&out, &err, "cliniko", "status", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Last scan:"));
  g_assert_nonnull (strstr (out, "succeeded"));
  g_assert_nonnull (strstr (out, "Next scan:"));
  g_assert_nonnull (strstr (out, "5 minutes"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A new interval moves the timer. */
  call_ok (mhf_ipc_agent1_call_set_scan_interval_sync (f->proxy, f->clinic, 15, NULL, &error),
           error);
  for (gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000; ; )
    {
      g_clear_pointer (&status, g_variant_unref);
      status = cliniko_status (f);
      if (lookup_x (status, "next-scan-at") > g_get_real_time () + 14 * 60 * G_USEC_PER_SEC)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20 * 1000);
    }
  g_assert_cmpuint (lookup_u (status, "scan-interval"), ==, 15);

  /* A failed scan says so, and keeps the timer. */
  mhf_fake_cliniko_add_fault (f->fake, "/individual_appointments",
                              &(MhfFakeFault) { .status = 500, .count = -1 });
  g_assert_false (mhf_ipc_agent1_call_scan_now_sync (f->proxy, f->clinic, NULL, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  mhf_fake_cliniko_clear_faults (f->fake);
  g_clear_pointer (&status, g_variant_unref);
  status = cliniko_status (f);
  g_assert_true (g_variant_lookup (status, "last-scan-ok", "b", &ok));
  g_assert_false (ok);
  g_assert_cmpint (lookup_x (status, "last-scan-at"), >=, last);
  g_assert_cmpint (lookup_x (status, "next-scan-at"), >, g_get_real_time ());

  /* Disconnected: no timer, so no next scan. */
  call_ok (mhf_ipc_agent1_call_remove_cliniko_key_sync (f->proxy, f->clinic, NULL, &error), error);
  g_clear_pointer (&status, g_variant_unref);
  status = cliniko_status (f);
  g_assert_cmpint (lookup_x (status, "next-scan-at"), ==, 0);
  g_assert_cmpint (lookup_x (status, "last-scan-at"), >, 0);
  g_assert_cmpint (run_ctl (&out, &err, "cliniko", "status", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "not scheduled"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/scan/idempotent", test_scan_idempotent);
  ADD ("/scan/class-attendees", test_class_attendees);
  ADD ("/scan/reconcile", test_reconcile);
  ADD ("/scan/disable-enable-edit", test_disable_enable_edit);
  ADD ("/scan/dry-run-matches", test_dry_run_matches_scan);
  ADD ("/scan/rule-enabled-during-scan", test_rule_enabled_during_scan);
  ADD ("/scan/cancel-retry", test_cancel_retry);
  ADD ("/scan/killed-mid-scan", test_killed_mid_scan);
  ADD ("/scan/agent-was-off", test_agent_was_off);
  ADD ("/scan/ctl", test_ctl);
  ADD ("/scan/scan-times", test_scan_times);

  return g_test_run ();
}
