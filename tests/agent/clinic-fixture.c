/* clinic-fixture.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "clinic-fixture.h"

#include <string.h>

static const char * const default_env[] = {
  "G_MESSAGES_DEBUG=all",
  "MHF_AGENT_CLINIKO_FAST_RETRY=1",
  NULL
};

MhfIpcAgent1 *
new_proxy (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  MhfIpcAgent1 *proxy;

  proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (f->bus),
                                         G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                         AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), 60000);
  return proxy;
}

void
sign_in (Fixture *f)
{
  g_autoptr(GVariant) roles = NULL;
  g_autoptr(GError) error = NULL;

  call_ok (mhf_ipc_agent1_call_sign_in_sync (f->proxy, "olivia", OWNER_PASS, &roles, NULL,
                                             &error), error);
}

GVariant *
cliniko_status (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GVariant *status = NULL;

  call_ok (mhf_ipc_agent1_call_get_cliniko_status_sync (f->proxy, f->clinic, &status, NULL,
                                                        &error), error);
  return status;
}

void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *fixture = g_test_build_filename (G_TEST_DIST, "fake-cliniko",
                                                    "sample-clinic.json", NULL);
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;
  gint64 deadline;

  /* A test may give the agent's environment as the test data. */
  if (data != NULL)
    f->env = data;

  f->fake = mhf_fake_cliniko_new (fixture, &error);
  g_assert_no_error (error);
  mhf_fake_cliniko_start (f->fake, &error);
  g_assert_no_error (error);

  f->bus = mhf_test_bus_new_full (MHF_TEST_BUS_KEYRING, f->env != NULL ? f->env : default_env);
  status = mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  f->proxy = new_proxy (f);

  call_ok (mhf_ipc_agent1_call_create_owner_sync (f->proxy, "olivia", "Olivia Owner", OWNER_PASS,
                                                  NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_clinic_sync (f->proxy, "Harbour Physio", &f->clinic,
                                                NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_set_cliniko_base_url_sync (f->proxy, f->clinic,
                                                          mhf_fake_cliniko_get_base_url (f->fake),
                                                          NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, "Reminder", "See you soon",
                                                  "Hi {{ patient.first_name }}", "",
                                                  &f->template_id, NULL, &error), error);

  /* Planning needs the businesses' zones: wait for the reference data. */
  deadline = g_get_monotonic_time () + WAIT_MS * 1000;
  for (;;)
    {
      g_autoptr(GVariant) cliniko = cliniko_status (f);
      gint64 at = 0;

      if (g_variant_lookup (cliniko, "reference-refreshed-at", "x", &at) && at > 0)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (50 * 1000);
    }
}

void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->proxy);
  g_clear_pointer (&f->bus, mhf_test_bus_free);
  mhf_fake_cliniko_stop (f->fake);
  g_clear_object (&f->fake);
}

GVariant *
rule_dict (Fixture    *f,
           const char *timing)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  gboolean after = strstr (timing, "after") != NULL;

  g_variant_dict_insert (&dict, "name", "s", after ? "Follow-up" : "Reminder");
  g_variant_dict_insert (&dict, "kind", "s", after ? "follow-up" : "reminder");
  g_variant_dict_insert (&dict, "template", "x", f->template_id);
  g_variant_dict_insert (&dict, "timing", "s", timing);
  g_variant_dict_insert (&dict, "latest-useful-minutes", "x", (gint64) 120);
  return g_variant_dict_end (&dict);
}

gint64
enable_rule (Fixture  *f,
             GVariant *rule)
{
  g_autoptr(GError) error = NULL;
  gint64 id = 0;

  call_ok (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic, rule, &id, NULL, &error),
           error);
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, id, TRUE, NULL,
                                                      &error), error);
  return id;
}

gint64
add_enabled_rule (Fixture    *f,
                  const char *timing)
{
  return enable_rule (f, rule_dict (f, timing));
}

GVariant *
scan (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GVariant *result = NULL;

  call_ok (mhf_ipc_agent1_call_scan_now_sync (f->proxy, f->clinic, &result, NULL, &error), error);
  return result;
}

guint
lookup_u (GVariant   *dict,
          const char *key)
{
  guint32 value = 0;

  g_assert_true (g_variant_lookup (dict, key, "u", &value));
  return value;
}

/* Every outbox row of the clinic (optionally in one state), newest first. */
GVariant *
outbox (Fixture    *f,
        const char *state)
{
  g_auto(GVariantDict) filter = G_VARIANT_DICT_INIT (NULL);
  g_autoptr(GError) error = NULL;
  GVariant *messages = NULL;
  gint64 next = 0;

  if (state != NULL)
    g_variant_dict_insert (&filter, "state", "s", state);
  g_variant_dict_insert (&filter, "limit", "u", (guint32) 500);
  call_ok (mhf_ipc_agent1_call_list_outbox_sync (f->proxy, f->clinic, g_variant_dict_end (&filter),
                                                 &messages, &next, NULL, &error), error);
  g_assert_cmpint (next, ==, 0);
  return messages;
}

/* The rows for one appointment (and attendee), newest first. */
GPtrArray *
rows_for (GVariant   *messages,
          const char *appointment,
          const char *attendee)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);

  for (gsize i = 0; i < g_variant_n_children (messages); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (messages, i);
      const char *a = NULL, *t = NULL;

      g_variant_lookup (row, "appointment", "&s", &a);
      g_variant_lookup (row, "attendee", "&s", &t);
      if (g_strcmp0 (a, appointment) == 0 && g_strcmp0 (t, attendee) == 0)
        g_ptr_array_add (rows, g_steal_pointer (&row));
    }
  return rows;
}

const char *
row_s (GVariant   *row,
       const char *key)
{
  const char *value = NULL;

  g_assert_true (g_variant_lookup (row, key, "&s", &value));
  return value;
}

gint64
row_x (GVariant   *row,
       const char *key)
{
  gint64 value = 0;

  g_assert_true (g_variant_lookup (row, key, "x", &value));
  return value;
}

/* The start of an appointment in the fake, µs UTC. */
gint64
fake_start (Fixture    *f,
            const char *collection,
            const char *id)
{
  g_autofree char *json = mhf_fake_cliniko_dup_record_json (f->fake, collection, id);
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_autoptr(GDateTime) at = NULL;

  g_assert_nonnull (node);
  at = g_date_time_new_from_iso8601 (json_object_get_string_member (json_node_get_object (node),
                                                                    "starts_at"), NULL);
  g_assert_nonnull (at);
  return g_date_time_to_unix (at) * G_USEC_PER_SEC;
}

/* A record of the fake, as it serves it now; free with json_object_unref(). */
JsonObject *
fake_record (Fixture    *f,
             const char *collection,
             const char *id)
{
  g_autofree char *json = mhf_fake_cliniko_dup_record_json (f->fake, collection, id);
  g_autoptr(JsonNode) node = NULL;

  if (json == NULL)
    return NULL;
  node = json_from_string (json, NULL);
  g_assert_nonnull (node);
  return json_object_ref (json_node_get_object (node));
}

/* Opens the agent's database with its key from the keyring, as IT support
 * could; the agent must not be running. */
sqlite3 *
open_database (Fixture *f)
{
  g_autofree char *hex = NULL;
  g_autofree char *material = NULL;
  g_autofree char *path = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "agent.db", NULL);
  sqlite3 *db = NULL;

  g_assert_cmpint (mhf_test_run (NULL, &hex, NULL, MHF_TEST_SECRET_PATH, "lookup", "database-key",
                                 "none", NULL), ==, 0);
  material = g_strdup_printf ("x'%s'", hex);
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  return db;
}

gint64
query_int (sqlite3    *db,
           const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

/* myhealthfollowupctl signed in as the owner, with these arguments. */
int
run_ctl (char **out,
         char **err,
         ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (argv, (char *) mhf_test_bus_get_ctl_path ());
  g_ptr_array_add (argv, "--user");
  g_ptr_array_add (argv, "olivia");
  g_ptr_array_add (argv, "--passphrase-stdin");
  va_start (args, err);
  for (const char *arg = va_arg (args, const char *); arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  return mhf_test_run_argv (OWNER_PASS "\n", out, err, (const char * const *) argv->pdata);
}

