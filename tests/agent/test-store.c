/* test-store.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * MhfStore against SQLCipher itself: encryption at rest, wrong keys,
 * damaged files, migrations and the worker thread.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mhf-store.h"

#define MARKER "MHF-MARKER-Zoë-O’Brien-7f3a9c"

typedef struct
{
  char     *dir;
  char     *path;
  GBytes   *key;
  GBytes   *other_key;
} Fixture;

static GBytes *
make_key (guint8 seed)
{
  guint8 raw[MHF_STORE_KEY_LENGTH];

  for (guint i = 0; i < sizeof raw; i++)
    raw[i] = (guint8) (seed * 31 + i * 7);
  return g_bytes_new (raw, sizeof raw);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->dir = g_build_filename (g_get_user_data_dir (), "store-test", NULL);
  f->path = g_build_filename (f->dir, "agent.db", NULL);
  f->key = make_key (1);
  f->other_key = make_key (2);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_pointer (&f->key, g_bytes_unref);
  g_clear_pointer (&f->other_key, g_bytes_unref);
  g_clear_pointer (&f->path, g_free);
  g_clear_pointer (&f->dir, g_free);
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

static MhfStore *
open_store (const char *path,
            GBytes     *key,
            gboolean    create,
            GError    **error)
{
  g_autoptr(MhfStore) store = mhf_store_new (path);

  if (!mhf_store_open_sync (store, key, create, NULL, error))
    return NULL;
  return g_steal_pointer (&store);
}

/* ---- work functions and a blocking runner ----------------------------------- */

static void
run_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static GAsyncResult *
run_blocking (MhfStore         *store,
              MhfStoreWorkFunc  func,
              gpointer          data,
              GDestroyNotify    destroy)
{
  GAsyncResult *result = NULL;

  mhf_store_run_async (store, func, data, destroy, NULL, run_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return result;
}

static void
insert_marker_worker (GTask   *task,
                      sqlite3 *db,
                      gpointer task_data)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GThread *main_thread = task_data;
  int rc;

  /* The connection is used on the store's own thread only. */
  g_assert_true (g_thread_self () != main_thread);

  rc = sqlite3_prepare_v2 (db, "INSERT INTO settings (key, value) VALUES ('marker', ?1)",
                           -1, &stmt, NULL);
  g_assert_cmpint (rc, ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, MARKER, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  g_task_return_boolean (task, TRUE);
}

static void
read_marker_worker (GTask   *task,
                    sqlite3 *db,
                    gpointer task_data)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT value FROM settings WHERE key = 'marker'",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    g_task_return_pointer (task, g_strdup ((const char *) sqlite3_column_text (stmt, 0)), g_free);
  else
    g_task_return_pointer (task, NULL, NULL);
}

static void
list_tables_worker (GTask   *task,
                    sqlite3 *db,
                    gpointer task_data)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                       " ORDER BY name", -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (names, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
  g_ptr_array_add (names, NULL);
  g_task_return_pointer (task, g_ptr_array_free (names, FALSE), (GDestroyNotify) g_strfreev);
}

static void
count_migrations_worker (GTask   *task,
                         sqlite3 *db,
                         gpointer task_data)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*) FROM schema_migrations",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_task_return_int (task, sqlite3_column_int (stmt, 0));
}

/* ---- tests -------------------------------------------------------------------- */

static void
test_create_encrypted (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;
  const char *raw;
  gsize len;

  g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (mhf_store_is_open (store));
  g_assert_cmpuint (mhf_store_get_schema_version (store), ==, mhf_store_latest_schema_version ());

  result = run_blocking (store, insert_marker_worker, g_thread_self (), NULL);
  g_assert_true (g_task_propagate_boolean (G_TASK (result), &error));
  g_assert_no_error (error);
  mhf_store_close (store);

  /* Mode 0600, and the folder 0700. */
  g_assert_cmpint (g_stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (g_stat (f->dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

  /* Encrypted at rest: no plain SQLite header, and no trace of the marker
   * in either its UTF-8 form or its ASCII prefix. */
  bytes = read_file (f->path);
  raw = g_bytes_get_data (bytes, &len);
  g_assert_cmpuint (len, >, 1024);
  g_assert_false (memcmp (raw, "SQLite format 3", 15) == 0);
  g_assert_null (memmem (raw, len, MARKER, strlen (MARKER)));
  g_assert_null (memmem (raw, len, "MHF-MARKER", 10));
  g_assert_null (memmem (raw, len, "CREATE TABLE", 12));
}

static void
test_reopen_reads_back (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) read = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *value = NULL;

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_no_error (error);
  result = run_blocking (store, insert_marker_worker, g_thread_self (), NULL);
  g_assert_true (g_task_propagate_boolean (G_TASK (result), NULL));
  g_clear_object (&store);

  store = open_store (f->path, f->key, FALSE, &error);
  g_assert_no_error (error);
  read = run_blocking (store, read_marker_worker, NULL, NULL);
  value = g_task_propagate_pointer (G_TASK (read), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, MARKER);
}

static void
test_wrong_key (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st_before, st_after;

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  before = read_file (f->path);
  g_assert_cmpint (g_stat (f->path, &st_before), ==, 0);

  store = open_store (f->path, f->other_key, TRUE, &error);
  g_assert_null (store);
  g_assert_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_NOT_A_DATABASE);

  after = read_file (f->path);
  g_assert_cmpint (g_stat (f->path, &st_after), ==, 0);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_cmpint (st_before.st_mtime, ==, st_after.st_mtime);
  g_assert_cmpint (st_before.st_size, ==, st_after.st_size);
}

static void
test_corrupt_file (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  /* Flip bytes in the first page, as a disk fault would. */
  g_file_get_contents (f->path, &contents, &len, &error);
  g_assert_no_error (error);
  for (gsize i = 100; i < 300 && i < len; i++)
    contents[i] ^= 0x5a;
  g_file_set_contents (f->path, contents, len, &error);
  g_assert_no_error (error);
  before = read_file (f->path);

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_null (store);
  g_assert_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_NOT_A_DATABASE);

  after = read_file (f->path);
  g_assert_true (g_bytes_equal (before, after));
}

static void
test_plain_file (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GError) error = NULL;
  const char text[] = "not a database, just some text a user saved here by mistake\n";

  g_mkdir_with_parents (f->dir, 0700);
  g_file_set_contents (f->path, text, -1, &error);
  g_assert_no_error (error);

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_null (store);
  g_assert_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_NOT_A_DATABASE);
}

static void
test_no_create (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GError) error = NULL;

  store = open_store (f->path, f->key, FALSE, &error);
  g_assert_null (store);
  g_assert_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_NOT_FOUND);
  g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));
}

static void
test_migrations (Fixture       *f,
                 gconstpointer  data)
{
  static const char * const expected[] = {
    "audit", "clinics", "delivery_events", "licence", "outbox", "reference_items",
    "rules", "scan_cursors", "schema_migrations", "settings", "templates", "user_roles",
    "users", NULL
  };
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GAsyncResult) tables = NULL;
  g_autoptr(GAsyncResult) count1 = NULL;
  g_autoptr(GAsyncResult) count2 = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) names = NULL;

  /* From empty to the latest schema. */
  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mhf_store_get_schema_version (store), ==, mhf_store_latest_schema_version ());

  tables = run_blocking (store, list_tables_worker, NULL, NULL);
  names = g_task_propagate_pointer (G_TASK (tables), &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (names, expected);

  count1 = run_blocking (store, count_migrations_worker, NULL, NULL);
  g_assert_cmpint (g_task_propagate_int (G_TASK (count1), NULL), ==,
                   mhf_store_latest_schema_version ());
  g_clear_object (&store);

  /* Opening again runs nothing. */
  store = open_store (f->path, f->key, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mhf_store_get_schema_version (store), ==, mhf_store_latest_schema_version ());
  count2 = run_blocking (store, count_migrations_worker, NULL, NULL);
  g_assert_cmpint (g_task_propagate_int (G_TASK (count2), NULL), ==,
                   mhf_store_latest_schema_version ());
}

static void
make_newer_worker (GTask   *task,
                   sqlite3 *db,
                   gpointer task_data)
{
  g_assert_true (mhf_store_exec (db, "INSERT INTO schema_migrations VALUES (9999, 0)", NULL));
  g_task_return_boolean (task, TRUE);
}

static void
test_newer_schema_refused (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(MhfStore) store = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  store = open_store (f->path, f->key, TRUE, &error);
  g_assert_no_error (error);
  result = run_blocking (store, make_newer_worker, NULL, NULL);
  g_assert_true (g_task_propagate_boolean (G_TASK (result), NULL));
  g_clear_object (&store);

  /* A file from a newer agent is refused, not "migrated" backwards. */
  store = open_store (f->path, f->key, FALSE, &error);
  g_assert_null (store);
  g_assert_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_TOO_NEW);
}

static void
seed_v1_worker (GTask   *task,
                sqlite3 *db,
                gpointer task_data)
{
  g_assert_true (mhf_store_exec (db,
    "INSERT INTO clinics (id, name, created_at) VALUES (7, 'Harbour Physio', 1);"
    "INSERT INTO users (id, username, display_name, passphrase_hash, created_at)"
    "  VALUES (3, 'sam', 'Sam', 'hash', 1);"
    "INSERT INTO user_roles (user_id, clinic_id, role) VALUES (3, 7, 'manager');",
    NULL));
  g_task_return_boolean (task, TRUE);
}

static void
read_roles_worker (GTask   *task,
                   sqlite3 *db,
                   gpointer task_data)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GString *out = g_string_new (NULL);

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT user_id, clinic_id, role FROM user_roles"
                                       " ORDER BY clinic_id", -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_string_append_printf (out, "%lld/%lld/%s;", (long long) sqlite3_column_int64 (stmt, 0),
                            (long long) sqlite3_column_int64 (stmt, 1), sqlite3_column_text (stmt, 2));
  g_task_return_pointer (task, g_string_free (out, FALSE), g_free);
}

static void
every_clinic_role_worker (GTask   *task,
                          sqlite3 *db,
                          gpointer task_data)
{
  g_autoptr(GError) error = NULL;

  /* Schema 2 allows clinic 0, "every clinic", and removes a clinic's roles
   * with the clinic. */
  if (!mhf_store_exec (db, "INSERT INTO user_roles (user_id, clinic_id, role) VALUES (3, 0, 'owner');"
                           "DELETE FROM clinics WHERE id = 7;", &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
test_migrate_from_schema_1 (Fixture       *f,
                            gconstpointer  data)
{
  g_autoptr(MhfStore) store = mhf_store_new (f->path);
  g_autoptr(GAsyncResult) seeded = NULL;
  g_autoptr(GAsyncResult) before = NULL;
  g_autoptr(GAsyncResult) after = NULL;
  g_autoptr(GAsyncResult) changed = NULL;
  g_autoptr(GAsyncResult) final = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *roles_before = NULL;
  g_autofree char *roles_after = NULL;
  g_autofree char *roles_final = NULL;

  /* Every earlier schema is a starting point: here schema 1, with data. */
  mhf_store_set_target_version (store, 1);
  g_assert_true (mhf_store_open_sync (store, f->key, TRUE, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mhf_store_get_schema_version (store), ==, 1);
  seeded = run_blocking (store, seed_v1_worker, NULL, NULL);
  g_assert_true (g_task_propagate_boolean (G_TASK (seeded), NULL));
  before = run_blocking (store, read_roles_worker, NULL, NULL);
  roles_before = g_task_propagate_pointer (G_TASK (before), NULL);
  g_clear_object (&store);

  store = open_store (f->path, f->key, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mhf_store_get_schema_version (store), ==, mhf_store_latest_schema_version ());

  after = run_blocking (store, read_roles_worker, NULL, NULL);
  roles_after = g_task_propagate_pointer (G_TASK (after), NULL);
  g_assert_cmpstr (roles_before, ==, "3/7/manager;");
  g_assert_cmpstr (roles_after, ==, roles_before);

  changed = run_blocking (store, every_clinic_role_worker, NULL, NULL);
  g_assert_true (g_task_propagate_boolean (G_TASK (changed), &error));
  g_assert_no_error (error);
  final = run_blocking (store, read_roles_worker, NULL, NULL);
  roles_final = g_task_propagate_pointer (G_TASK (final), NULL);
  g_assert_cmpstr (roles_final, ==, "3/0/owner;");
}

static void
test_closed_store (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(MhfStore) store = mhf_store_new (f->path);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  result = run_blocking (store, read_marker_worker, NULL, NULL);
  g_assert_null (g_task_propagate_pointer (G_TASK (result), &error));
  g_assert_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_CLOSED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/mhf/agent/store/create-encrypted", test_create_encrypted);
  ADD ("/mhf/agent/store/reopen-reads-back", test_reopen_reads_back);
  ADD ("/mhf/agent/store/open-wrong-key", test_wrong_key);
  ADD ("/mhf/agent/store/open-corrupt", test_corrupt_file);
  ADD ("/mhf/agent/store/open-plain-file", test_plain_file);
  ADD ("/mhf/agent/store/open-no-create", test_no_create);
  ADD ("/mhf/agent/store/migrations", test_migrations);
  ADD ("/mhf/agent/store/migrate-from-schema-1", test_migrate_from_schema_1);
  ADD ("/mhf/agent/store/newer-schema-refused", test_newer_schema_refused);
  ADD ("/mhf/agent/store/closed", test_closed_store);

#undef ADD

  return g_test_run ();
}
