/* test-agent.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent as its clients meet it: D-Bus activated from the build tree
 * on a private bus, with a real gnome-keyring-daemon (or none, or a locked
 * one), and myhealthfollowupctl as IT support would run it.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>

#include "mhf-error.h"
#include "mhf-ipc-agent.h"
#include "mhf-status.h"
#include "mhf-store.h"
#include "mhf-test-bus.h"

#define WAIT_MS 30000

static char *
db_path (MhfTestBus *bus)
{
  return g_build_filename (mhf_test_bus_get_data_dir (bus), "agent.db", NULL);
}

static GBytes *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, len);
}

static const char *
status_string (GVariant   *status,
               const char *key)
{
  const char *value = NULL;

  g_assert_true (g_variant_lookup (status, key, "&s", &value));
  return value;
}

static MhfIpcAgent1 *
agent_proxy (MhfTestBus *bus)
{
  g_autoptr(GError) error = NULL;
  MhfIpcAgent1 *proxy;

  proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (bus),
                                         G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                         AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  return proxy;
}

/* mhf-test-secret stands in for a person using a keyring manager. */
static void
keyring_clear_database_key (void)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (mhf_test_run (NULL, NULL, &err, MHF_TEST_SECRET_PATH, "clear",
                        "database-key", "none", NULL), ==, 0);
}

static void
keyring_set_database_key (const char *hex)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (mhf_test_run (hex, NULL, &err, MHF_TEST_SECRET_PATH, "store",
                        "database-key", "none", NULL), ==, 0);
}

static char *
keyring_lookup (const char *kind,
                const char *clinic)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  if (mhf_test_run (NULL, &out, &err, MHF_TEST_SECRET_PATH, "lookup", kind, clinic, NULL) != 0)
    return NULL;
  return g_steal_pointer (&out);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_activation_ready (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *path = db_path (bus);
  g_autofree char *key = NULL;
  guint32 schema = 0;
  gboolean present = FALSE;
  gint64 started_at = 0;
  GStatBuf st;

  /* Nothing runs until a client calls: activation starts the agent. */
  g_assert_false (mhf_test_bus_wait_for_name (bus, AGENT_BUS_NAME, TRUE, 100));

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);

  g_assert_cmpstr (status_string (status, MHF_STATUS_VERSION), ==, PACKAGE_VERSION);
  g_assert_cmpstr (status_string (status, MHF_STATUS_KEYRING), ==, "ok");
  g_assert_cmpstr (status_string (status, MHF_STATUS_DATABASE), ==, "ok");
  g_assert_cmpstr (status_string (status, MHF_STATUS_DATA_DIRECTORY), ==,
                   mhf_test_bus_get_data_dir (bus));
  g_assert_true (g_variant_lookup (status, MHF_STATUS_SCHEMA_VERSION, "u", &schema));
  g_assert_cmpuint (schema, ==, mhf_store_latest_schema_version ());
  g_assert_true (g_variant_lookup (status, MHF_STATUS_DATABASE_FILE_PRESENT, "b", &present));
  g_assert_true (present);
  g_assert_true (g_variant_lookup (status, MHF_STATUS_STARTED_AT, "x", &started_at));
  g_assert_cmpint (started_at, >, 0);

  /* First run made a 32-byte key in the keyring and an encrypted,
   * private database with it. */
  key = keyring_lookup ("database-key", "none");
  g_assert_nonnull (key);
  g_assert_cmpuint (strlen (key), ==, 64);

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  bytes = read_file (path);
  g_assert_false (memcmp (g_bytes_get_data (bytes, NULL), "SQLite format 3", 15) == 0);
}

static void
test_second_instance (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(GVariant) status = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);

  g_assert_cmpint (mhf_test_run (NULL, &out, &err, mhf_test_bus_get_agent_path (), NULL), ==, 0);
  g_assert_nonnull (strstr (err, "another agent already owns"));
  g_assert_nonnull (strstr (err, "--replace"));

  /* The first agent is untouched. */
  g_assert_true (mhf_test_bus_wait_for_name (bus, AGENT_BUS_NAME, TRUE, 1000));
  g_clear_pointer (&status, g_variant_unref);
  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
}

static void
test_keyring_unavailable (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_NONE);
  g_autoptr(GVariant) status = NULL;
  g_autofree char *path = db_path (bus);
  gboolean present = TRUE;

  status = mhf_test_bus_wait_for_state (bus, "keyring-unavailable", WAIT_MS);
  g_assert_nonnull (status);
  g_assert_cmpstr (status_string (status, MHF_STATUS_KEYRING), ==, "unavailable");
  g_assert_cmpstr (status_string (status, MHF_STATUS_DATABASE), ==, "not-created");
  g_assert_true (g_variant_lookup (status, MHF_STATUS_DATABASE_FILE_PRESENT, "b", &present));
  g_assert_false (present);

  /* No keyring, no database: never a key kept anywhere else. */
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_keyring_locked (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING_LOCKED);
  g_autoptr(GVariant) status = NULL;
  g_autofree char *path = db_path (bus);

  status = mhf_test_bus_wait_for_state (bus, "keyring-locked", WAIT_MS);
  g_assert_nonnull (status);
  g_assert_cmpstr (status_string (status, MHF_STATUS_KEYRING), ==, "locked");
  g_assert_cmpstr (status_string (status, MHF_STATUS_DATABASE), ==, "not-created");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

typedef struct
{
  GPtrArray *states;
} Recorder;

static void
record_status_cb (MhfIpcAgent1 *proxy,
                  GVariant     *status,
                  Recorder     *recorder)
{
  g_ptr_array_add (recorder->states, g_strdup (status_string (status, MHF_STATUS_STATE)));
}

static gboolean
recorder_has (Recorder   *recorder,
              const char *state)
{
  for (guint i = 0; i < recorder->states->len; i++)
    {
      if (g_str_equal (g_ptr_array_index (recorder->states, i), state))
        return TRUE;
    }
  return FALSE;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
test_keyring_arrives_later (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_NONE);
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func (g_free);
  Recorder recorder = { states };
  g_autofree char *path = db_path (bus);
  guint tick;
  gint64 deadline;

  status = mhf_test_bus_wait_for_state (bus, "keyring-unavailable", WAIT_MS);
  g_assert_nonnull (status);

  proxy = agent_proxy (bus);
  g_signal_connect (proxy, "status-changed", G_CALLBACK (record_status_cb), &recorder);

  /* The keyring starts after the agent (a slow login): the agent notices
   * by itself, with no client asking, and says so with StatusChanged. */
  mhf_test_bus_start_keyring (bus, FALSE);

  deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;
  tick = g_timeout_add (100, tick_cb, NULL);
  while (!recorder_has (&recorder, "ready") && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);

  g_assert_true (recorder_has (&recorder, "ready"));
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
}

static GBytes *
snapshot (const char *path)
{
  return read_file (path);
}

static char *
find_kept_file (MhfTestBus *bus)
{
  g_autoptr(GDir) dir = g_dir_open (mhf_test_bus_get_data_dir (bus), 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (g_str_has_prefix (name, "agent.db.unreadable-"))
        return g_strdup (name);
    }
  return NULL;
}

static void
test_key_missing_then_reset (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) now = NULL;
  g_autoptr(GBytes) kept_bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = db_path (bus);
  g_autofree char *kept = NULL;
  g_autofree char *kept_path = NULL;
  g_autofree char *remote = NULL;

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  g_clear_pointer (&status, g_variant_unref);

  /* The keyring loses the key (a new user profile, a restored machine). */
  mhf_test_bus_stop_agent (bus);
  before = snapshot (path);
  keyring_clear_database_key ();

  status = mhf_test_bus_wait_for_state (bus, "database-key-missing", WAIT_MS);
  g_assert_nonnull (status);
  g_assert_cmpstr (status_string (status, MHF_STATUS_DATABASE), ==, "key-missing");
  g_assert_cmpstr (status_string (status, MHF_STATUS_KEYRING), ==, "ok");

  /* Never silently recreated: file and keyring are as they were. */
  now = snapshot (path);
  g_assert_true (g_bytes_equal (before, now));
  g_assert_null (keyring_lookup ("database-key", "none"));

  proxy = agent_proxy (bus);

  /* A wrong confirmation is refused with a typed error. */
  g_assert_false (mhf_ipc_agent1_call_reset_database_sync (proxy, "yes", &after, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "com.myhealthfollowup.MyHealthFollowup.Error.InvalidInput");
  g_clear_error (&error);
  g_clear_pointer (&now, g_bytes_unref);
  now = snapshot (path);
  g_assert_true (g_bytes_equal (before, now));

  /* The explicit reset starts over and keeps the old file aside. */
  g_assert_true (mhf_ipc_agent1_call_reset_database_sync (proxy, MHF_RESET_CONFIRMATION, &after,
                                                          NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (status_string (after, MHF_STATUS_STATE), ==, "ready");

  kept = find_kept_file (bus);
  g_assert_nonnull (kept);
  kept_path = g_build_filename (mhf_test_bus_get_data_dir (bus), kept, NULL);
  kept_bytes = snapshot (kept_path);
  g_assert_true (g_bytes_equal (before, kept_bytes));
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_nonnull (keyring_lookup ("database-key", "none"));

  /* A healthy database is never reset. */
  g_clear_pointer (&after, g_variant_unref);
  g_assert_false (mhf_ipc_agent1_call_reset_database_sync (proxy, MHF_RESET_CONFIRMATION, &after,
                                                           NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
}

static void
test_wrong_key_then_reset (void)
{
  static const char other_key[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) now = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = db_path (bus);
  g_autofree char *kept = NULL;
  g_autofree char *retired = NULL;

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  g_clear_pointer (&status, g_variant_unref);

  mhf_test_bus_stop_agent (bus);
  before = snapshot (path);
  keyring_set_database_key (other_key);

  status = mhf_test_bus_wait_for_state (bus, "database-corrupt", WAIT_MS);
  g_assert_nonnull (status);
  g_assert_cmpstr (status_string (status, MHF_STATUS_DATABASE), ==, "corrupt");
  now = snapshot (path);
  g_assert_true (g_bytes_equal (before, now));

  proxy = agent_proxy (bus);
  g_assert_true (mhf_ipc_agent1_call_reset_database_sync (proxy, MHF_RESET_CONFIRMATION, &after,
                                                          NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (status_string (after, MHF_STATUS_STATE), ==, "ready");

  /* The key that did not open the file is kept with the file, in case
   * the file rather than the key was at fault. */
  kept = find_kept_file (bus);
  g_assert_nonnull (kept);
  retired = keyring_lookup ("database-key-retired", kept);
  g_assert_cmpstr (retired, ==, other_key);
}

static void
test_ctl_status (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *human = NULL;
  JsonObject *object;

  /* The CLI activates the agent itself and waits out "starting". */
  g_assert_cmpint (mhf_test_run (NULL, &out, &err, mhf_test_bus_get_ctl_path (), "status", "--json", NULL),
                   ==, 0);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, "state"), ==, "ready");
  g_assert_cmpstr (json_object_get_string_member (object, "database"), ==, "ok");
  g_assert_cmpstr (json_object_get_string_member (object, "version"), ==, PACKAGE_VERSION);
  g_assert_cmpint (json_object_get_int_member (object, "schema-version"), ==,
                   mhf_store_latest_schema_version ());

  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mhf_test_run (NULL, &human, &err, mhf_test_bus_get_ctl_path (), "status", NULL), ==, 0);
  g_assert_nonnull (strstr (human, "MyHealthFollowup agent " PACKAGE_VERSION));
  g_assert_nonnull (strstr (human, "ready"));

  /* reset needs --confirm, and refuses a healthy database. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mhf_test_run (NULL, &out, &err, mhf_test_bus_get_ctl_path (), "reset", NULL), ==, 2);
  g_assert_nonnull (strstr (err, "--confirm"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mhf_test_run (NULL, &out, &err, mhf_test_bus_get_ctl_path (), "reset", "--confirm",
                        NULL), ==, 1);
  g_assert_nonnull (strstr (err, "can be reset"));
}

static void
test_ctl_not_ready_and_unreachable (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_NONE);
  g_autoptr(MhfTestBus) no_agent = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  /* Running but not ready: exit 3 and a sentence saying what to do. */
  g_assert_cmpint (mhf_test_run (NULL, &out, &err, mhf_test_bus_get_ctl_path (), "status", NULL), ==, 3);
  g_assert_nonnull (strstr (out, "keyring-unavailable"));
  g_assert_nonnull (strstr (out, "GNOME Keyring"));
  g_clear_pointer (&bus, mhf_test_bus_free);

  /* No agent installed on this bus: exit 1 and a plain explanation. */
  no_agent = mhf_test_bus_new (MHF_TEST_BUS_NO_AGENT);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mhf_test_run (NULL, &out, &err, mhf_test_bus_get_ctl_path (), "status", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "not running"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

  g_test_add_func ("/mhf/agent/dbus/activation-ready", test_activation_ready);
  g_test_add_func ("/mhf/agent/dbus/second-instance", test_second_instance);
  g_test_add_func ("/mhf/agent/dbus/keyring-unavailable", test_keyring_unavailable);
  g_test_add_func ("/mhf/agent/dbus/keyring-locked", test_keyring_locked);
  g_test_add_func ("/mhf/agent/dbus/keyring-arrives-later", test_keyring_arrives_later);
  g_test_add_func ("/mhf/agent/dbus/key-missing-then-reset", test_key_missing_then_reset);
  g_test_add_func ("/mhf/agent/dbus/wrong-key-then-reset", test_wrong_key_then_reset);
  g_test_add_func ("/mhf/agent/ctl/status", test_ctl_status);
  g_test_add_func ("/mhf/agent/ctl/not-ready-and-unreachable", test_ctl_not_ready_and_unreachable);

  return g_test_run ();
}
