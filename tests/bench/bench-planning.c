/* bench-planning.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Issue 5's benchmark. Figures, not assertions: machines are noisy.
 *
 *  1. Planning 20,000 appointments × 4 rules into a real SQLCipher outbox
 *     through mhf_scan_apply(), the scanner's own code: wall time of the
 *     first planning and of a second, unchanged one, and peak RSS.
 *  2. Cliniko requests of a steady-state scan with nothing changed,
 *     through the real agent on a private bus with a real keyring and the
 *     fake Cliniko (goal: ≤ 2 per clinic).
 */

#include "config.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mhf-fake-cliniko.h"
#include "mhf-ipc-agent.h"
#include "mhf-scan.h"
#include "mhf-store.h"
#include "mhf-test-bus.h"

#define N_APPOINTMENTS 20000
#define KEY            "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define PASS           "correct horse battery"
#define MINUTE_USEC    ((gint64) 60 * G_USEC_PER_SEC)

typedef struct
{
  GPtrArray  *rules;
  GPtrArray  *items;
  GHashTable *zones;
  GTimeZone  *zone;
  gint64      now;
  MhfScanCounts counts;
} Planning;

static void
setup_worker (GTask   *task,
              sqlite3 *db,
              gpointer task_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = mhf_store_exec (db,
                       "INSERT INTO clinics (id, name, created_at) VALUES (1, 'Bench', 0);"
                       "INSERT INTO templates (id, clinic_id, name, subject, body_text, created_at,"
                       "                       updated_at)"
                       "  VALUES (1, 1, 'T', 'S', 'B', 0, 0);"
                       "INSERT INTO rules (id, clinic_id, name, kind, category, enabled, timing,"
                       "                   template_id, created_at, updated_at) VALUES"
                       "  (1, 1, 'r1', 'reminder', 'care', 1, '{}', 1, 0, 0),"
                       "  (2, 1, 'r2', 'reminder', 'care', 1, '{}', 1, 0, 0),"
                       "  (3, 1, 'r3', 'follow-up', 'care', 1, '{}', 1, 0, 0),"
                       "  (4, 1, 'r4', 'recall', 'marketing', 1, '{}', 1, 0, 0);",
                       &error);
  if (!ok)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
plan_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  Planning *p = task_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_store_begin (db, &error) ||
      !mhf_scan_apply (db, 1, p->rules, p->items, p->zones, p->zone, p->now, &p->counts, &error) ||
      !mhf_store_commit (db, &error))
    {
      mhf_store_rollback (db);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
done_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
run (MhfStore         *store,
     MhfStoreWorkFunc  func,
     gpointer          data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mhf_store_run_async (store, func, data, NULL, NULL, done_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_printerr ("planning failed: %s\n", error->message);
      return FALSE;
    }
  return TRUE;
}

static MhfScanRule *
rule (gint64      id,
      const char *kind,
      const char *timing,
      const char *window)
{
  MhfScanRule *r = g_new0 (MhfScanRule, 1);

  r->id = id;
  r->spec.name = g_strdup ("r");
  r->spec.kind = g_strdup (kind);
  r->spec.category = g_strdup (g_str_equal (kind, "recall") ? "marketing" : "care");
  r->spec.latest_useful_minutes = 120;
  r->spec.timing_text = g_strdup (timing);
  r->spec.window_text = g_strdup (window);
  if (!mhf_rule_parse_timing (timing, &r->spec.timing, NULL) ||
      !mhf_rule_parse_window (window, &r->spec.window, NULL))
    g_error ("bad rule %s / %s", timing, window);
  return r;
}

static int
bench_planning (void)
{
  g_autofree char *dir = g_dir_make_tmp ("mhf-bench-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "agent.db", NULL);
  g_autoptr(GBytes) key = NULL;
  g_autoptr(MhfStore) store = mhf_store_new (path);
  g_autoptr(GError) error = NULL;
  guint8 raw[32];
  Planning p = { 0, };
  gint64 t0, t1, t2;
  struct rusage usage;

  for (guint i = 0; i < sizeof raw; i++)
    raw[i] = (guint8) g_random_int ();
  key = g_bytes_new (raw, sizeof raw);
  if (!mhf_store_open_sync (store, key, TRUE, NULL, &error))
    {
      g_printerr ("could not open a store: %s\n", error->message);
      return 1;
    }
  if (!run (store, setup_worker, NULL))
    return 1;

  p.now = g_get_real_time ();
  p.zone = g_time_zone_new_identifier ("Australia/Sydney");
  p.zones = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) g_time_zone_unref);
  g_hash_table_insert (p.zones, g_strdup ("71"), g_time_zone_ref (p.zone));
  p.rules = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_scan_rule_free);
  g_ptr_array_add (p.rules, rule (1, "reminder", "24h before", "mon-fri 08:00-18:00"));
  g_ptr_array_add (p.rules, rule (2, "reminder", "1d before at 17:00", ""));
  g_ptr_array_add (p.rules, rule (3, "follow-up", "2d after", "daily 09:00-17:00"));
  g_ptr_array_add (p.rules, rule (4, "recall", "30d after", ""));

  /* 20,000 appointments over the next 30 days, on the quarter hour. */
  p.items = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_scan_item_free);
  for (guint i = 0; i < N_APPOINTMENTS; i++)
    {
      MhfScanItem *item = g_new0 (MhfScanItem, 1);

      item->appointment_id = g_strdup_printf ("%u", 1000000 + i);
      item->attendee_id = g_strdup ("");
      item->patient_id = g_strdup_printf ("%u", 100 + i % 3000);
      item->business_id = g_strdup ("71");
      item->practitioner_id = g_strdup_printf ("%u", 1 + i % 8);
      item->appointment_type_id = g_strdup_printf ("%u", 1 + i % 5);
      item->starts_at = p.now + 2 * 24 * 60 * MINUTE_USEC
                        + (gint64) (i % 2880) * 15 * MINUTE_USEC;
      item->ends_at = item->starts_at + 45 * MINUTE_USEC;
      g_ptr_array_add (p.items, item);
    }

  t0 = g_get_monotonic_time ();
  if (!run (store, plan_worker, &p))
    return 1;
  t1 = g_get_monotonic_time ();
  g_print ("planning %u appointments × %u rules: %.2f s (%u rows planned, %u skipped)\n",
           N_APPOINTMENTS, p.rules->len, (t1 - t0) / 1e6, p.counts.planned, p.counts.skipped);

  if (!run (store, plan_worker, &p))
    return 1;
  t2 = g_get_monotonic_time ();
  g_print ("planning them again, unchanged: %.2f s (%u new, %u re-planned)\n",
           (t2 - t1) / 1e6, p.counts.planned, p.counts.replanned);

  getrusage (RUSAGE_SELF, &usage);
  g_print ("peak RSS: %.1f MiB\n", usage.ru_maxrss / 1024.0);

  mhf_store_close (store);
  g_ptr_array_unref (p.rules);
  g_ptr_array_unref (p.items);
  g_hash_table_unref (p.zones);
  g_time_zone_unref (p.zone);
  unlink (path);
  rmdir (dir);
  return 0;
}

/* ---- steady-state requests ---------------------------------------------------------------------- */

static int
bench_steady_state (const char *fixture)
{
  static const char * const env[] = { "MHF_AGENT_CLINIKO_FAST_RETRY=1", NULL };
  static const char * const timings[] = { "24h before", "1d before at 17:00", "2d after",
                                          "30d after" };
  g_autoptr(MhfFakeCliniko) fake = NULL;
  g_autoptr(MhfTestBus) bus = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic = 0, template_id = 0;
  guint before, first = 0, second = 0;

  fake = mhf_fake_cliniko_new (fixture, &error);
  if (fake == NULL || !mhf_fake_cliniko_start (fake, &error))
    {
      g_printerr ("fake Cliniko: %s\n", error->message);
      return 1;
    }
  bus = mhf_test_bus_new_full (MHF_TEST_BUS_KEYRING, env);
  if (mhf_test_bus_wait_for_state (bus, "ready", 30000) == NULL)
    return 1;
  proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (bus),
                                         G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                         AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), 120000);

  if (!mhf_ipc_agent1_call_create_owner_sync (proxy, "olivia", "Olivia", PASS, NULL, &error) ||
      !mhf_ipc_agent1_call_add_clinic_sync (proxy, "Bench", &clinic, NULL, &error) ||
      !mhf_ipc_agent1_call_set_cliniko_base_url_sync (proxy, clinic,
                                                      mhf_fake_cliniko_get_base_url (fake),
                                                      NULL, &error) ||
      !mhf_ipc_agent1_call_set_cliniko_key_sync (proxy, clinic, KEY, &summary, NULL, &error) ||
      !mhf_ipc_agent1_call_add_template_sync (proxy, clinic, "T", "S", "Hi", "", &template_id,
                                              NULL, &error))
    {
      g_printerr ("setting up: %s\n", error->message);
      return 1;
    }

  for (guint i = 0; i < G_N_ELEMENTS (timings); i++)
    {
      g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
      g_autofree char *name = g_strdup_printf ("Rule %u", i + 1);
      gboolean after = strstr (timings[i], "after") != NULL;
      gint64 id = 0;

      g_variant_dict_insert (&dict, "name", "s", name);
      g_variant_dict_insert (&dict, "kind", "s", !after ? "reminder"
                                                 : i == 3 ? "recall" : "follow-up");
      g_variant_dict_insert (&dict, "template", "x", template_id);
      g_variant_dict_insert (&dict, "timing", "s", timings[i]);
      if (!mhf_ipc_agent1_call_add_rule_sync (proxy, clinic, g_variant_dict_end (&dict), &id,
                                              NULL, &error) ||
          !mhf_ipc_agent1_call_set_rule_enabled_sync (proxy, clinic, id, TRUE, NULL, &error))
        {
          g_printerr ("adding a rule: %s\n", error->message);
          return 1;
        }
    }

  /* The first scan reads the horizon; the second finds nothing changed. */
  for (guint round = 0; round < 3; round++)
    {
      g_autoptr(GVariant) result = NULL;

      before = mhf_fake_cliniko_count_requests (fake, NULL, NULL);
      if (!mhf_ipc_agent1_call_scan_now_sync (proxy, clinic, &result, NULL, &error))
        {
          g_printerr ("scanning: %s\n", error->message);
          return 1;
        }
      if (round == 1)
        first = mhf_fake_cliniko_count_requests (fake, NULL, NULL) - before;
      if (round == 2)
        second = mhf_fake_cliniko_count_requests (fake, NULL, NULL) - before;
    }

  g_print ("Cliniko requests for a steady-state scan with no changes: %u per clinic "
           "(and again: %u; goal ≤ 2)\n", first, second);
  mhf_fake_cliniko_stop (fake);
  return 0;
}

static const char *fixture_path;

/* Inside a test case, so that the isolated HOME and XDG folders exist. */
static void
run_bench (void)
{
  if (bench_planning () != 0 || bench_steady_state (fixture_path) != 0)
    g_test_fail ();
}

int
main (int   argc,
      char *argv[])
{
  /* Its own HOME and XDG folders: the agent's database is the bench's. */
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  if (argc < 2)
    {
      g_printerr ("usage: %s SAMPLE-CLINIC.json\n", argv[0]);
      return 2;
    }
  fixture_path = argv[1];
  g_test_add_func ("/bench/run", run_bench);
  return g_test_run ();
}
