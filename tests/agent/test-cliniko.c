/* test-cliniko.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Connecting a clinic to Cliniko through the real agent, the real keyring
 * and the fake Cliniko: what is checked, what is stored where, and that
 * the key itself shows up nowhere but the keyring.
 */

#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include "mhf-error.h"
#include "mhf-fake-cliniko.h"
#include "mhf-ipc-agent.h"
#include "mhf-test-bus.h"

#define WAIT_MS    30000
#define OWNER_PASS "correct horse battery"
#define GOOD_KEY   "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define OTHER_KEY  "MS0yLTk4NzY1NDMyMTAtemF5-au2"
#define BAD_KEY    "MS0xLWJvZ3VzLWJvZ3VzLWJvZ3Vz-au2"

#define call_ok(call, err) \
  G_STMT_START { \
    gboolean ok_ = (call); \
    g_assert_no_error (err); \
    g_assert_true (ok_); \
  } G_STMT_END

typedef struct
{
  MhfTestBus     *bus;
  MhfFakeCliniko *fake;
  MhfIpcAgent1   *proxy;
  gint64          clinic;
} Fixture;

static const char * const agent_env[] = {
  "G_MESSAGES_DEBUG=all",
  "MHF_AGENT_CLINIKO_FAST_RETRY=1",
  NULL
};

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *fixture = g_test_build_filename (G_TEST_DIST, "fake-cliniko",
                                                    "sample-clinic.json", NULL);
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;

  f->fake = mhf_fake_cliniko_new (fixture, &error);
  g_assert_no_error (error);
  mhf_fake_cliniko_start (f->fake, &error);
  g_assert_no_error (error);

  /* The agent logs at debug level, so that "never in the logs" means any
   * level, and retries quickly, so that an unreachable Cliniko fails fast. */
  f->bus = mhf_test_bus_new_full (MHF_TEST_BUS_KEYRING, agent_env);

  status = mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS);
  g_assert_nonnull (status);

  f->proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (f->bus),
                                            G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                            AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f->proxy), 60000);

  call_ok (mhf_ipc_agent1_call_create_owner_sync (f->proxy, "olivia", "Olivia Owner", OWNER_PASS,
                                                  NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_clinic_sync (f->proxy, "Harbour Physio", &f->clinic,
                                                NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_set_cliniko_base_url_sync (f->proxy, f->clinic,
                                                          mhf_fake_cliniko_get_base_url (f->fake),
                                                          NULL, &error), error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->proxy);
  g_clear_pointer (&f->bus, mhf_test_bus_free);
  mhf_fake_cliniko_stop (f->fake);
  g_clear_object (&f->fake);
}

static char *
keyring_lookup (const char *kind,
                gint64      clinic)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, clinic);
  g_autofree char *out = NULL;

  if (mhf_test_run (NULL, &out, NULL, MHF_TEST_SECRET_PATH, "lookup", kind, id, NULL) != 0)
    return NULL;
  return g_steal_pointer (&out);
}

static const char *
lookup_s (GVariant   *dict,
          const char *key)
{
  const char *value = NULL;

  g_assert_true (g_variant_lookup (dict, key, "&s", &value));
  return value;
}

/* How many text values in the agent's database contain @needle. */
static guint
count_in_database (Fixture    *f,
                   const char *needle)
{
  g_autofree char *hex = NULL;
  g_autofree char *material = NULL;
  g_autofree char *path = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "agent.db", NULL);
  g_autoptr(GPtrArray) tables = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt = NULL;
  sqlite3 *db = NULL;
  guint found = 0;

  /* The database key belongs to no clinic ("none"). */
  g_assert_cmpint (mhf_test_run (NULL, &hex, NULL, MHF_TEST_SECRET_PATH, "lookup", "database-key",
                                 "none", NULL), ==, 0);
  g_assert_cmpuint (strlen (hex), ==, 64);
  material = g_strdup_printf ("x'%s'", hex);

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT name FROM sqlite_master WHERE type = 'table'",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (tables, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
  sqlite3_finalize (stmt);
  g_assert_cmpuint (tables->len, >, 5);

  for (guint t = 0; t < tables->len; t++)
    {
      /* Table names come from sqlite_master itself, not from input. */
      g_autofree char *sql = g_strdup_printf ("SELECT * FROM \"%s\"",
                                              (char *) g_ptr_array_index (tables, t));

      g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          for (int c = 0; c < sqlite3_column_count (stmt); c++)
            {
              const char *text = (const char *) sqlite3_column_text (stmt, c);

              if (text != NULL && strstr (text, needle) != NULL)
                found++;
            }
        }
      sqlite3_finalize (stmt);
    }

  sqlite3_close (db);
  return found;
}

static void
test_connect (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *reply_text = NULL;
  g_autofree char *audit_text = NULL;
  g_autofree char *log = NULL;
  gboolean connected = FALSE;
  gint64 next = 0;

  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);

  /* What Cliniko said about the key, in the reply. */
  g_assert_cmpstr (lookup_s (summary, "shard"), ==, "au2");
  g_assert_cmpstr (lookup_s (summary, "user-name"), ==, "Ana Álvarez");
  g_assert_cmpstr (lookup_s (summary, "user-role"), ==, "administrator");
  g_assert_cmpstr (lookup_s (summary, "account-name"), ==, "Harbourside Health Group");
  g_assert_cmpstr (lookup_s (summary, "time-zone"), ==, "Australia/Melbourne");
  g_assert_cmpuint (strlen (lookup_s (summary, "fingerprint")), ==, 12);

  /* Cliniko was asked as documented: /user, then /settings, with our
   * headers (the fake refuses requests without them). */
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/user"), ==, 1);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/settings"), ==, 1);

  /* The key is in the keyring under the clinic's id... */
  stored = keyring_lookup ("cliniko-api-key", f->clinic);
  g_assert_cmpstr (stored, ==, GOOD_KEY);

  /* ...and nowhere else: not in replies, the audit log, or any log line
   * at debug level. */
  call_ok (mhf_ipc_agent1_call_get_cliniko_status_sync (f->proxy, f->clinic, &status, NULL,
                                                        &error), error);
  g_assert_true (g_variant_lookup (status, "connected", "b", &connected));
  g_assert_true (connected);
  g_assert_cmpstr (lookup_s (status, "key-state"), ==, "ok");
  {
    g_autofree char *summary_text = g_variant_print (summary, FALSE);
    g_autofree char *status_text = g_variant_print (status, FALSE);

    reply_text = g_strdup_printf ("%s %s", summary_text, status_text);
  }
  g_assert_null (strstr (reply_text, GOOD_KEY));
  g_assert_null (strstr (reply_text, "MS0xLTEyMzQ1Njc4OTAtYWJj"));

  call_ok (mhf_ipc_agent1_call_list_audit_sync (f->proxy, f->clinic, 0, 50, &entries, &next,
                                                NULL, &error), error);
  audit_text = g_variant_print (entries, FALSE);
  g_assert_nonnull (strstr (audit_text, "Cliniko API key changed, fingerprint none → "));
  g_assert_null (strstr (audit_text, "MS0xLTEyMzQ1Njc4OTAtYWJj"));

  log = mhf_test_bus_dup_log (f->bus);
  g_assert_nonnull (strstr (log, "connected to Cliniko"));
  g_assert_null (strstr (log, "MS0xLTEyMzQ1Njc4OTAtYWJj"));

  /* And not in the database, read through SQLCipher with its key: every
   * text value of every table. */
  g_assert_cmpuint (count_in_database (f, "MS0xLTEyMzQ1Njc4OTAtYWJj"), ==, 0);
  g_assert_cmpuint (count_in_database (f, lookup_s (summary, "fingerprint")), >, 0);
}

static void
test_rejected_key_changes_nothing (Fixture       *f,
                                   gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *log = NULL;

  /* A first, good key. */
  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);
  fingerprint = g_strdup (lookup_s (summary, "fingerprint"));
  g_clear_pointer (&summary, g_variant_unref);

  /* Replacing it with one Cliniko refuses: a typed error, and the old key
   * stays in use, in the keyring and in the database. */
  g_assert_false (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, BAD_KEY,
                                                            &summary, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_CLINIKO_KEY_REJECTED);
  g_assert_null (strstr (error->message, "MS0xLWJvZ3Vz"));
  g_clear_error (&error);

  stored = keyring_lookup ("cliniko-api-key", f->clinic);
  g_assert_cmpstr (stored, ==, GOOD_KEY);
  call_ok (mhf_ipc_agent1_call_get_cliniko_status_sync (f->proxy, f->clinic, &status, NULL,
                                                        &error), error);
  g_assert_cmpstr (lookup_s (status, "fingerprint"), ==, fingerprint);

  log = mhf_test_bus_dup_log (f->bus);
  g_assert_null (strstr (log, "MS0xLWJvZ3Vz"));
}

static void
test_first_key_rejected_stores_nothing (Fixture       *f,
                                        gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean connected = TRUE;

  g_assert_false (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, BAD_KEY,
                                                            &summary, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_CLINIKO_KEY_REJECTED);
  g_clear_error (&error);

  g_assert_null (keyring_lookup ("cliniko-api-key", f->clinic));
  call_ok (mhf_ipc_agent1_call_get_cliniko_status_sync (f->proxy, f->clinic, &status, NULL,
                                                        &error), error);
  g_assert_true (g_variant_lookup (status, "connected", "b", &connected));
  g_assert_false (connected);
}

static void
test_unreachable_changes_nothing (Fixture       *f,
                                  gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;

  /* Nothing listens on port 9 of the loopback address. */
  call_ok (mhf_ipc_agent1_call_set_cliniko_base_url_sync (f->proxy, f->clinic,
                                                          "http://127.0.0.1:9/v1",
                                                          NULL, &error), error);
  g_assert_false (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY,
                                                            &summary, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NETWORK);
  g_assert_null (strstr (error->message, "MS0xLTEyMzQ1Njc4OTAtYWJj"));
  g_assert_null (keyring_lookup ("cliniko-api-key", f->clinic));
}

static void
test_settings_forbidden_falls_back (Fixture       *f,
                                    gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;

  /* A receptionist's key: /settings is refused, /settings/public is not. */
  mhf_fake_cliniko_set_role (f->fake, "receptionist");
  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);
  g_assert_cmpstr (lookup_s (summary, "user-role"), ==, "receptionist");
  g_assert_cmpstr (lookup_s (summary, "account-name"), ==, "Harbourside Health Group");
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/settings/public"), ==, 1);
}

static void
test_key_input_checked (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;

  /* A suffix that is no shard: refused before anything is sent. */
  g_assert_false (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic,
                                                            "abcdefSECRETxyz-notashard",
                                                            &summary, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_assert_null (strstr (error->message, "SECRET"));
  g_clear_error (&error);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, NULL, NULL), ==, 0);

  /* Only loopback addresses may stand in for Cliniko. */
  g_assert_false (mhf_ipc_agent1_call_set_cliniko_base_url_sync (f->proxy, f->clinic,
                                                                 "https://api.au1.cliniko.com/v1",
                                                                 NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_set_cliniko_base_url_sync (f->proxy, f->clinic,
                                                                 "http://example.com/v1",
                                                                 NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
}

static void
test_remove_key (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *audit_text = NULL;
  gboolean paused = FALSE;
  gint64 next = 0;

  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, OTHER_KEY, &summary,
                                                     NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_remove_cliniko_key_sync (f->proxy, f->clinic, NULL, &error), error);

  /* The keyring item goes (asynchronously, right after the reply). */
  for (int i = 0; i < 50; i++)
    {
      g_autofree char *stored = keyring_lookup ("cliniko-api-key", f->clinic);

      if (stored == NULL)
        break;
      g_usleep (100 * 1000);
    }
  g_assert_null (keyring_lookup ("cliniko-api-key", f->clinic));

  call_ok (mhf_ipc_agent1_call_get_cliniko_status_sync (f->proxy, f->clinic, &status, NULL,
                                                        &error), error);
  g_assert_true (g_variant_lookup (status, "paused", "b", &paused));
  g_assert_true (paused);

  call_ok (mhf_ipc_agent1_call_list_audit_sync (f->proxy, f->clinic, 0, 50, &entries, &next,
                                                NULL, &error), error);
  audit_text = g_variant_print (entries, FALSE);
  g_assert_nonnull (strstr (audit_text, "Cliniko API key removed"));
  g_assert_null (strstr (audit_text, "MS0yLTk4NzY1NDMyMTAtemF5"));
}

/* Polls GetClinikoStatus until @key has @value (a string or a boolean
 * TRUE when @value is NULL). */
static GVariant *
wait_for_cliniko (Fixture    *f,
                  const char *key,
                  const char *value)
{
  for (int i = 0; i < 200; i++)
    {
      g_autoptr(GVariant) status = NULL;
      g_autoptr(GError) error = NULL;
      const char *s = NULL;
      gint64 x = 0;

      call_ok (mhf_ipc_agent1_call_get_cliniko_status_sync (f->proxy, f->clinic, &status, NULL,
                                                            &error), error);
      if (value != NULL && g_variant_lookup (status, key, "&s", &s) && strstr (s, value) != NULL)
        return g_steal_pointer (&status);
      if (value == NULL && g_variant_lookup (status, key, "x", &x) && x > 0)
        return g_steal_pointer (&status);
      g_usleep (50 * 1000);
    }
  return NULL;
}

static void
test_reference_data (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean double_reminders = FALSE;
  guint32 n = 0;

  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);

  /* Refreshed right after connecting, in the background. */
  status = wait_for_cliniko (f, "reference-refreshed-at", NULL);
  g_assert_nonnull (status);
  g_assert_true (g_variant_lookup (status, "businesses", "u", &n));
  g_assert_cmpuint (n, ==, 2);
  g_assert_true (g_variant_lookup (status, "practitioners", "u", &n));
  g_assert_cmpuint (n, ==, 4);
  g_assert_true (g_variant_lookup (status, "appointment-types", "u", &n));
  g_assert_cmpuint (n, ==, 5);

  /* One business has Cliniko's own reminders on: patients could get two. */
  g_assert_true (g_variant_lookup (status, "double-reminders", "b", &double_reminders));
  g_assert_true (double_reminders);

  /* The names, for choosing a rule's filters: by kind, then name, with
   * Cliniko's string ids (one beyond 2^53). */
  {
    g_autoptr(GVariant) items = NULL;
    g_autoptr(GString) text = g_string_new (NULL);
    g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    call_ok (mhf_ipc_agent1_call_list_reference_sync (f->proxy, f->clinic, &items, NULL, &error),
             error);
    g_assert_cmpuint (g_variant_n_children (items), ==, 2 + 4 + 5);
    for (gsize i = 0; i < g_variant_n_children (items); i++)
      {
        g_autoptr(GVariant) item = g_variant_get_child_value (items, i);
        const char *kind = NULL, *id = NULL, *name = NULL;

        g_assert_true (g_variant_lookup (item, "kind", "&s", &kind));
        g_assert_true (g_variant_lookup (item, "id", "&s", &id));
        g_assert_true (g_variant_lookup (item, "name", "&s", &name));
        g_string_append_printf (text, "%s %s %s;", kind, id, name);
      }
    g_assert_true (g_pattern_match_simple ("appointment-type *business *practitioner *", text->str));
    g_assert_nonnull (strstr (text->str, "business 71 Harbourside Physio;"));
    g_assert_nonnull (strstr (text->str, "business 1152921504606846977 Swan River Allied Health;"));

    g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &out, &err, "--user", "olivia",
                                       "--passphrase-stdin", "cliniko", "reference", clinic,
                                       NULL), ==, 0);
    g_assert_true (g_pattern_match_simple ("*business*1152921504606846977*Swan River Allied Health*",
                                           out));
  }
}

static void
test_key_rejected_later (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) ready = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *audit_text = NULL;
  guint before, after;
  gint64 next = 0;

  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);
  status = wait_for_cliniko (f, "reference-refreshed-at", NULL);
  g_assert_nonnull (status);
  g_clear_pointer (&status, g_variant_unref);

  /* Someone revokes the key in Cliniko; the agent starts again (its
   * daily refresh would find the same). */
  g_clear_object (&f->proxy);
  mhf_test_bus_stop_agent (f->bus);
  mhf_fake_cliniko_clear_api_keys (f->fake);
  before = mhf_fake_cliniko_count_requests (f->fake, NULL, NULL);

  ready = mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS);
  g_assert_nonnull (ready);
  f->proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (f->bus),
                                            G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                            AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) session = NULL;

    call_ok (mhf_ipc_agent1_call_sign_in_sync (f->proxy, "olivia", OWNER_PASS, &session,
                                               NULL, &error), error);
  }

  status = wait_for_cliniko (f, "key-state", "rejected");
  g_assert_nonnull (status);
  {
    const char *problem = NULL;

    g_assert_true (g_variant_lookup (status, "problem", "&s", &problem));
    g_assert_nonnull (strstr (problem, "refused the API key"));
  }

  /* One refused request, then silence: no retry storm. */
  g_usleep (500 * 1000);
  after = mhf_fake_cliniko_count_requests (f->fake, NULL, NULL);
  g_assert_cmpuint (after - before, ==, 1);

  call_ok (mhf_ipc_agent1_call_list_audit_sync (f->proxy, f->clinic, 0, 50, &entries, &next,
                                                NULL, &error), error);
  audit_text = g_variant_print (entries, FALSE);
  g_assert_nonnull (strstr (audit_text, "cliniko.key-rejected"));
}

static void
test_permission_problem (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  MhfFakeFault fault = { .status = 403, .delay_ms = 0, .body = MHF_FAKE_BODY_NORMAL, .count = -1 };

  /* The key's user may not read the practitioners. */
  mhf_fake_cliniko_add_fault (f->fake, "/v1/practitioners", &fault);
  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);

  status = wait_for_cliniko (f, "problem", "may not read /practitioners");
  g_assert_nonnull (status);
}

static GVariant *
day_before_rule (const char *business)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_variant_dict_insert (&dict, "name", "s", "Day-before reminder");
  g_variant_dict_insert (&dict, "kind", "s", "reminder");
  g_variant_dict_insert (&dict, "template", "x", (gint64) 1);
  g_variant_dict_insert (&dict, "timing", "s", "1d before at 17:00");
  if (business != NULL)
    {
      const char *businesses[] = { business, NULL };
      g_variant_dict_insert (&dict, "businesses", "^as", businesses);
    }
  return g_variant_dict_end (&dict);
}

static gboolean
is_local_17 (gint64      when,
             const char *zone_id)
{
  g_autoptr(GTimeZone) zone = g_time_zone_new_identifier (zone_id);
  g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (when / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = g_date_time_to_timezone (at, zone);

  return g_date_time_get_hour (local) == 17 && g_date_time_get_minute (local) == 0;
}

static void
test_dry_run (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) one = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GError) error = NULL;
  guint32 planned_all = 0, planned_one = 0, filtered = 0, appointments = 0;
  guint before_sends;

  /* Not connected yet: a plain refusal. */
  g_assert_false (mhf_ipc_agent1_call_dry_run_rule_sync (f->proxy, f->clinic,
                                                         day_before_rule (NULL), 7, &all,
                                                         NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_set_cliniko_key_sync (f->proxy, f->clinic, GOOD_KEY, &summary,
                                                     NULL, &error), error);
  status = wait_for_cliniko (f, "reference-refreshed-at", NULL);
  g_assert_nonnull (status);
  before_sends = mhf_fake_cliniko_count_requests (f->fake, "POST", NULL);

  call_ok (mhf_ipc_agent1_call_dry_run_rule_sync (f->proxy, f->clinic, day_before_rule (NULL), 7,
                                                  &all, NULL, &error), error);
  g_assert_true (g_variant_lookup (all, "planned", "u", &planned_all));
  g_assert_true (g_variant_lookup (all, "appointments", "u", &appointments));
  g_assert_cmpuint (planned_all, >, 0);
  g_assert_cmpuint (appointments, >=, planned_all);

  /* "The day before at 17:00" is 17:00 in the business's own zone. */
  first = g_variant_lookup_value (all, "first-planned", G_VARIANT_TYPE ("ax"));
  g_assert_nonnull (first);
  g_assert_cmpuint (g_variant_n_children (first), >, 0);
  for (gsize i = 0; i < g_variant_n_children (first); i++)
    {
      gint64 when = 0;

      g_variant_get_child (first, i, "x", &when);
      g_assert_cmpint (when, >, g_get_real_time ());
      g_assert_true (is_local_17 (when, "Australia/Sydney") || is_local_17 (when, "Australia/Perth"));
    }

  /* Only one business: fewer planned, the rest filtered out. */
  call_ok (mhf_ipc_agent1_call_dry_run_rule_sync (f->proxy, f->clinic, day_before_rule ("71"), 7,
                                                  &one, NULL, &error), error);
  g_assert_true (g_variant_lookup (one, "planned", "u", &planned_one));
  g_assert_true (g_variant_lookup (one, "filtered-out", "u", &filtered));
  g_assert_cmpuint (planned_one, >, 0);
  g_assert_cmpuint (planned_one, <, planned_all);
  g_assert_cmpuint (filtered, >, 0);

  /* A dry run sends and writes nothing to Cliniko. */
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "POST", NULL), ==, before_sends);

  g_clear_pointer (&one, g_variant_unref);
  g_assert_false (mhf_ipc_agent1_call_dry_run_rule_sync (f->proxy, f->clinic,
                                                         day_before_rule (NULL), 0, &one,
                                                         NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
}

static void
test_ctl_connect (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *status = NULL;
  g_autofree char *status_err = NULL;

  /* The passphrase, then the key, on standard input; never in argv. */
  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n" GOOD_KEY "\n", &out, &err,
                            "--user", "olivia", "--passphrase-stdin",
                            "cliniko", "connect", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "connected to Cliniko"));
  g_assert_nonnull (strstr (out, "Harbourside Health Group"));
  g_assert_null (strstr (out, "MS0xLTEyMzQ1Njc4OTAtYWJj"));
  g_assert_null (strstr (err, "MS0xLTEyMzQ1Njc4OTAtYWJj"));

  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &status, &status_err,
                            "--user", "olivia", "--passphrase-stdin",
                            "cliniko", "status", clinic, "--json", NULL), ==, 0);
  g_assert_nonnull (strstr (status, "\"shard\" : \"au2\""));
  g_assert_null (strstr (status, "MS0xLTEyMzQ1Njc4OTAtYWJj"));

  /* A rule's dry run from the CLI, on the connected clinic. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *dry = NULL;
    g_autofree char *dry_err = NULL;
    g_autofree char *rule_id = NULL;
    gint64 template_id = 0, id = 0;

    call_ok (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, "Reminder", "See you",
                                                    "Hi {{ patient.first_name }}", "",
                                                    &template_id, NULL, &error), error);
    {
      g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

      g_variant_dict_insert (&dict, "name", "s", "Reminders");
      g_variant_dict_insert (&dict, "kind", "s", "reminder");
      g_variant_dict_insert (&dict, "template", "x", template_id);
      g_variant_dict_insert (&dict, "timing", "s", "24h before");
      call_ok (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic, g_variant_dict_end (&dict),
                                                  &id, NULL, &error), error);
    }
    rule_id = g_strdup_printf ("%" G_GINT64_FORMAT, id);
    g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &dry, &dry_err, "--user", "olivia",
                              "--passphrase-stdin", "rule", "dry-run", clinic, rule_id,
                              "--days", "3", NULL), ==, 0);
    g_assert_nonnull (strstr (dry, "Would be planned:"));
    g_assert_nonnull (strstr (dry, "First planned sends:"));
  }

  /* A refused key: exit 1 with a sentence, and the key not echoed. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n" BAD_KEY "\n", &out, &err,
                            "--user", "olivia", "--passphrase-stdin",
                            "cliniko", "connect", clinic, NULL), ==, 1);
  g_assert_nonnull (strstr (err, "Cliniko refused this API key"));
  g_assert_null (strstr (err, "MS0xLWJvZ3Vz"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/mhf/agent/cliniko/connect", test_connect);
  ADD ("/mhf/agent/cliniko/rejected-key-changes-nothing", test_rejected_key_changes_nothing);
  ADD ("/mhf/agent/cliniko/first-key-rejected-stores-nothing", test_first_key_rejected_stores_nothing);
  ADD ("/mhf/agent/cliniko/unreachable-changes-nothing", test_unreachable_changes_nothing);
  ADD ("/mhf/agent/cliniko/settings-forbidden-falls-back", test_settings_forbidden_falls_back);
  ADD ("/mhf/agent/cliniko/key-input-checked", test_key_input_checked);
  ADD ("/mhf/agent/cliniko/remove-key", test_remove_key);
  ADD ("/mhf/agent/cliniko/ctl-connect", test_ctl_connect);
  ADD ("/mhf/agent/cliniko/reference-data", test_reference_data);
  ADD ("/mhf/agent/cliniko/key-rejected-later", test_key_rejected_later);
  ADD ("/mhf/agent/cliniko/permission-problem", test_permission_problem);
  ADD ("/mhf/agent/cliniko/dry-run", test_dry_run);

#undef ADD

  return g_test_run ();
}
