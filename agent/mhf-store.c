/* mhf-store.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The SQLCipher database. One worker thread owns the connection and runs
 * requests from a queue in order; results come back to the caller's main
 * context through GTask. The connection never crosses threads.
 */

#include "config.h"

#include "mhf-store.h"

#include "mhf-agent-resources.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

struct _MhfStore
{
  GObject       parent_instance;

  char         *path;
  GThread      *thread;
  GAsyncQueue  *queue;

  /* Owned by the worker thread once it runs. */
  sqlite3      *db;

  /* Written by the worker, read from any thread. */
  guint         schema_version;
  guint         target_version;
  gboolean      open;
};

G_DEFINE_FINAL_TYPE (MhfStore, mhf_store, G_TYPE_OBJECT)

G_DEFINE_QUARK (mhf-store-error-quark, mhf_store_error)

typedef struct
{
  GTask            *task;
  MhfStoreWorkFunc  func;
  gboolean          quit;
  /* With quit: the store whose connection to close, or NULL when it was
   * closed already (finalized by its own last request). */
  MhfStore         *closing;
} WorkItem;

typedef struct
{
  guint8   key[MHF_STORE_KEY_LENGTH];
  gboolean create;
} OpenData;

/* Numbered migrations; schema version N means the first N have run. Each
 * runs in its own transaction. Append only: never edit a released one. */
static const char * const migrations[] = {
  RESOURCE_BASE "/agent/migrations/0001-initial.sql",
  RESOURCE_BASE "/agent/migrations/0002-roles-scope-and-settings.sql",
  RESOURCE_BASE "/agent/migrations/0003-cliniko-reference.sql",
  RESOURCE_BASE "/agent/migrations/0004-email-settings.sql",
  RESOURCE_BASE "/agent/migrations/0005-history-indexes.sql",
  RESOURCE_BASE "/agent/migrations/0006-daily-counts-index.sql",
  RESOURCE_BASE "/agent/migrations/0007-licence-trial.sql",
  RESOURCE_BASE "/agent/migrations/0008-events-by-message.sql",
};

guint
mhf_store_latest_schema_version (void)
{
  return G_N_ELEMENTS (migrations);
}

static void
open_data_free (gpointer data)
{
  OpenData *od = data;

  memset (od->key, 0, sizeof od->key);
  g_free (od);
}

void
mhf_store_set_error (GError     **error,
                     sqlite3     *db,
                     int          rc,
                     const char  *what)
{
  int primary = rc & 0xff;
  MhfStoreError code;

  switch (primary)
    {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      code = MHF_STORE_ERROR_NOT_A_DATABASE;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_PERM:
      code = MHF_STORE_ERROR_IO;
      break;
    case SQLITE_CONSTRAINT:
      code = MHF_STORE_ERROR_CONSTRAINT;
      break;
    default:
      code = MHF_STORE_ERROR_FAILED;
      break;
    }

  /* sqlite3_errstr() names the class of failure without echoing any SQL
   * or bound value, so the message is safe to log. */
  g_set_error (error, MHF_STORE_ERROR, code,
               "%s: %s (%d)", what, sqlite3_errstr (rc), rc);
}

gboolean
mhf_store_exec (sqlite3     *db,
                const char  *sql,
                GError     **error)
{
  const char *tail = sql;

  g_assert (db != NULL);
  g_assert (sql != NULL);

  while (tail != NULL && *tail != '\0')
    {
      g_autoptr(sqlite3_stmt) stmt = NULL;
      const char *next = NULL;
      int rc;

      rc = sqlite3_prepare_v2 (db, tail, -1, &stmt, &next);
      if (rc != SQLITE_OK)
        {
          mhf_store_set_error (error, db, rc, "Preparing a statement");
          return FALSE;
        }

      tail = next;

      /* Trailing white space and comments give no statement. */
      if (stmt == NULL)
        continue;

      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        ;

      if (rc != SQLITE_DONE)
        {
          mhf_store_set_error (error, db, rc, "Running a statement");
          return FALSE;
        }
    }

  return TRUE;
}

gboolean
mhf_store_begin (sqlite3  *db,
                 GError  **error)
{
  return mhf_store_exec (db, "BEGIN IMMEDIATE", error);
}

gboolean
mhf_store_commit (sqlite3  *db,
                  GError  **error)
{
  return mhf_store_exec (db, "COMMIT", error);
}

void
mhf_store_rollback (sqlite3 *db)
{
  if (!sqlite3_get_autocommit (db))
    mhf_store_exec (db, "ROLLBACK", NULL);
}

/* @types has one letter a parameter: "x" for a gint64, "s" for a string. */
static int
prepare_bound (sqlite3       *db,
               const char    *sql,
               sqlite3_stmt **stmt,
               const char    *types,
               va_list        args)
{
  int rc = sqlite3_prepare_v2 (db, sql, -1, stmt, NULL);

  if (rc != SQLITE_OK)
    return rc;

  for (int i = 0; types[i] != '\0'; i++)
    {
      if (types[i] == 'x')
        sqlite3_bind_int64 (*stmt, i + 1, va_arg (args, gint64));
      else
        sqlite3_bind_text (*stmt, i + 1, va_arg (args, const char *), -1, SQLITE_TRANSIENT);
    }

  return SQLITE_OK;
}

/**
 * mhf_store_exec_bound:
 * @types: one letter a parameter that follows: "x" gint64, "s" string
 *
 * Runs one statement with bound parameters. Worker thread only.
 */
gboolean
mhf_store_exec_bound (sqlite3     *db,
                      const char  *sql,
                      GError     **error,
                      const char  *types,
                      ...)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  va_list args;
  int rc;

  va_start (args, types);
  rc = prepare_bound (db, sql, &stmt, types, args);
  va_end (args);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Preparing a change");
      return FALSE;
    }

  rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Saving a change");
      return FALSE;
    }

  return TRUE;
}

/**
 * mhf_store_column_dup:
 *
 * Returns: (transfer full) (nullable): a copy of a text column, %NULL for
 *   NULL. Worker thread only.
 */
char *
mhf_store_column_dup (sqlite3_stmt *stmt,
                      int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/**
 * mhf_store_query_int64:
 * @out: (out): the first column of the first row, or 0 when there is none
 *
 * Reads one number with bound parameters, as mhf_store_exec_bound() takes
 * them. Worker thread only.
 */
gboolean
mhf_store_query_int64 (sqlite3     *db,
                       const char  *sql,
                       gint64      *out,
                       GError     **error,
                       const char  *types,
                       ...)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  va_list args;
  int rc;

  va_start (args, types);
  rc = prepare_bound (db, sql, &stmt, types, args);
  va_end (args);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Preparing a query");
      return FALSE;
    }

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64 (stmt, 0);
  else if (rc == SQLITE_DONE)
    *out = 0;
  else
    {
      mhf_store_set_error (error, db, rc, "Reading");
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_cipher_version (sqlite3  *db,
                      GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  const char *version;

  if (sqlite3_prepare_v2 (db, "PRAGMA cipher_version", -1, &stmt, NULL) != SQLITE_OK ||
      sqlite3_step (stmt) != SQLITE_ROW ||
      (version = (const char *) sqlite3_column_text (stmt, 0)) == NULL)
    {
      g_set_error_literal (error, MHF_STORE_ERROR, MHF_STORE_ERROR_CIPHER,
                           "The SQLite library is not SQLCipher; refusing to store data unencrypted");
      return FALSE;
    }

  if (!g_str_has_prefix (version, "4."))
    {
      g_set_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_CIPHER,
                   "SQLCipher 4 is required, found %s", version);
      return FALSE;
    }

  g_debug ("SQLCipher %s", version);
  return TRUE;
}

static gboolean
apply_key (sqlite3       *db,
           const guint8  *key,
           GError       **error)
{
  /* The raw-key form x'<64 hex digits>' tells SQLCipher to use the bytes
   * as the key itself: no KDF is needed for 32 random bytes. The key goes
   * through sqlite3_key(), never into an SQL string. */
  char material[3 + MHF_STORE_KEY_LENGTH * 2 + 1 + 1];
  static const char hex[] = "0123456789abcdef";
  int rc;

  material[0] = 'x';
  material[1] = '\'';
  for (guint i = 0; i < MHF_STORE_KEY_LENGTH; i++)
    {
      material[2 + i * 2] = hex[key[i] >> 4];
      material[2 + i * 2 + 1] = hex[key[i] & 0xf];
    }
  material[2 + MHF_STORE_KEY_LENGTH * 2] = '\'';
  material[3 + MHF_STORE_KEY_LENGTH * 2] = '\0';

  rc = sqlite3_key (db, material, (int) strlen (material));
  memset (material, 0, sizeof material);

  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Applying the database key");
      return FALSE;
    }

  return TRUE;
}

static gboolean
run_migrations (MhfStore  *self,
                sqlite3   *db,
                GError   **error)
{
  gint64 version = 0;

  if (!mhf_store_exec (db,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       "  version INTEGER PRIMARY KEY,"
                       "  applied_at INTEGER NOT NULL"
                       ") STRICT",
                       error))
    return FALSE;

  if (!mhf_store_query_int64 (db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                              &version, error, ""))
    return FALSE;

  guint target = self->target_version > 0 ? self->target_version : G_N_ELEMENTS (migrations);

  if (version > (gint64) G_N_ELEMENTS (migrations))
    {
      g_set_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_TOO_NEW,
                   "The database has schema %" G_GINT64_FORMAT
                   ", newer than this agent knows (%u)",
                   version, (guint) G_N_ELEMENTS (migrations));
      return FALSE;
    }

  for (guint i = (guint) version; i < target; i++)
    {
      g_autoptr(GBytes) sql = NULL;
      g_autoptr(sqlite3_stmt) stmt = NULL;
      g_autoptr(GError) local_error = NULL;
      int rc;

      /* Referencing the resource keeps it linked in from the static library. */
      (void) mhf_agent_get_resource ();
      sql = g_resources_lookup_data (migrations[i], G_RESOURCE_LOOKUP_FLAGS_NONE, &local_error);
      if (sql == NULL)
        {
          g_set_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_FAILED,
                       "Migration %u is missing: %s", i + 1, local_error->message);
          return FALSE;
        }

      if (!mhf_store_begin (db, error))
        return FALSE;

      if (!mhf_store_exec (db, g_bytes_get_data (sql, NULL), error))
        goto failed;

      rc = sqlite3_prepare_v2 (db,
                               "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                               -1, &stmt, NULL);
      if (rc == SQLITE_OK)
        {
          sqlite3_bind_int64 (stmt, 1, i + 1);
          sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
          rc = sqlite3_step (stmt);
        }
      if (rc != SQLITE_DONE)
        {
          mhf_store_set_error (error, db, rc, "Recording a migration");
          goto failed;
        }

      if (!mhf_store_commit (db, error))
        goto failed;

      g_message ("Database migrated to schema %u", i + 1);
      self->schema_version = i + 1;
      continue;

    failed:
      mhf_store_rollback (db);
      g_prefix_error (error, "Migration %u: ", i + 1);
      return FALSE;
    }

  self->schema_version = MAX ((guint) version, target);
  return TRUE;
}

static gboolean
ensure_private_file (const char  *path,
                     gboolean     create,
                     GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (!create)
        {
          g_set_error_literal (error, MHF_STORE_ERROR, MHF_STORE_ERROR_NOT_FOUND,
                               "No database file exists yet");
          return FALSE;
        }

      if (g_mkdir_with_parents (dir, 0700) != 0)
        {
          int errsv = errno;
          g_set_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_IO,
                       "Cannot create the data folder: %s", g_strerror (errsv));
          return FALSE;
        }

      /* Create the file ourselves so that it is never readable by others,
       * whatever the umask; SQLite gives its journal the same mode. */
      fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0)
        {
          int errsv = errno;
          g_set_error (error, MHF_STORE_ERROR, MHF_STORE_ERROR_IO,
                       "Cannot create the database file: %s", g_strerror (errsv));
          return FALSE;
        }
      g_close (fd, NULL);
    }

  return TRUE;
}

static void
open_worker (GTask   *task,
             sqlite3 *unused,
             gpointer task_data)
{
  MhfStore *self = g_task_get_source_object (task);
  OpenData *od = task_data;
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;
  gboolean created = FALSE;
  gint64 count;
  int flags;
  int rc;

  if (self->db != NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  created = !g_file_test (self->path, G_FILE_TEST_EXISTS);
  if (!ensure_private_file (self->path, od->create, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* An existing file is opened without SQLITE_OPEN_CREATE; with a wrong
   * key the first read fails and the file is left byte for byte as it was. */
  flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
  rc = sqlite3_open_v2 (self->path, &db, flags, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (&error, db, rc, "Opening the database");
      goto failed;
    }

  sqlite3_extended_result_codes (db, 1);

  if (!apply_key (db, od->key, &error))
    goto failed;

  /* Keep SQLCipher's "hmac check failed" lines off stderr: the status
   * reports a wrong key in plain words. */
  mhf_store_exec (db, "PRAGMA cipher_log_level = NONE", NULL);

  if (!check_cipher_version (db, &error))
    goto failed;

  /* A wrong key is not reported by keying; the first read is what fails. */
  if (!mhf_store_query_int64 (db, "SELECT count(*) FROM sqlite_master", &count, &error, ""))
    goto failed;

  if (!mhf_store_exec (db,
                       "PRAGMA foreign_keys = ON;"
                       "PRAGMA secure_delete = ON;"
                       "PRAGMA busy_timeout = 5000;",
                       &error))
    goto failed;

  if (!run_migrations (self, db, &error))
    goto failed;

  if (g_chmod (self->path, 0600) != 0)
    g_warning ("Could not restrict the database file's mode: %s", g_strerror (errno));

  self->db = db;
  g_atomic_int_set (&self->open, TRUE);
  g_task_return_boolean (task, TRUE);
  return;

failed:
  if (db != NULL)
    sqlite3_close_v2 (db);
  /* A file this call created and could not set up is removed; a file that
   * was there before is never touched. */
  if (created)
    g_unlink (self->path);
  g_task_return_error (task, g_steal_pointer (&error));
}

static gpointer
worker_thread (gpointer data)
{
  GAsyncQueue *queue = data;

  for (;;)
    {
      WorkItem *item = g_async_queue_pop (queue);
      MhfStore *self;

      if (item->quit)
        {
          /* The last request has run; the connection closes on the thread
           * that used it. The store is still alive: its closer waits. */
          if (item->closing != NULL && item->closing->db != NULL)
            {
              sqlite3_close_v2 (item->closing->db);
              item->closing->db = NULL;
            }
          g_free (item);
          break;
        }

      self = g_task_get_source_object (item->task);

      if (g_task_return_error_if_cancelled (item->task))
        ;
      else if (item->func == open_worker)
        item->func (item->task, NULL, g_task_get_task_data (item->task));
      else if (self->db == NULL)
        g_task_return_new_error (item->task, MHF_STORE_ERROR, MHF_STORE_ERROR_CLOSED,
                                 "The database is not open");
      else
        item->func (item->task, self->db, g_task_get_task_data (item->task));

      g_object_unref (item->task);
      g_free (item);
    }

  g_async_queue_unref (queue);
  return NULL;
}

static void
mhf_store_finalize (GObject *object)
{
  MhfStore *self = (MhfStore *) object;

  mhf_store_close (self);
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (mhf_store_parent_class)->finalize (object);
}

static void
mhf_store_class_init (MhfStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mhf_store_finalize;
}

static void
mhf_store_init (MhfStore *self)
{
}

/**
 * mhf_store_new:
 * @path: where the database file lives (or will live)
 *
 * Returns: (transfer full): a closed store
 */
MhfStore *
mhf_store_new (const char *path)
{
  MhfStore *self;

  g_return_val_if_fail (path != NULL, NULL);

  self = g_object_new (MHF_TYPE_STORE, NULL);
  self->path = g_strdup (path);
  self->queue = g_async_queue_new ();
  self->thread = g_thread_new ("mhf-store", worker_thread, g_async_queue_ref (self->queue));
  return self;
}

/**
 * mhf_store_set_target_version:
 * @version: the schema version to migrate up to, 0 for the latest
 *
 * For tests of migrations only: stops migrating at @version, so that a test
 * can write data in an older schema and then open it with the latest.
 */
void
mhf_store_set_target_version (MhfStore *self,
                              guint     version)
{
  g_return_if_fail (MHF_IS_STORE (self));
  g_return_if_fail (version <= G_N_ELEMENTS (migrations));

  self->target_version = version;
}

const char *
mhf_store_get_path (MhfStore *self)
{
  g_return_val_if_fail (MHF_IS_STORE (self), NULL);

  return self->path;
}

gboolean
mhf_store_is_open (MhfStore *self)
{
  g_return_val_if_fail (MHF_IS_STORE (self), FALSE);

  return g_atomic_int_get (&self->open);
}

guint
mhf_store_get_schema_version (MhfStore *self)
{
  g_return_val_if_fail (MHF_IS_STORE (self), 0);

  return mhf_store_is_open (self) ? self->schema_version : 0;
}

static void
push_work (MhfStore         *self,
           GTask            *task,
           MhfStoreWorkFunc  func)
{
  WorkItem *item = g_new0 (WorkItem, 1);

  item->task = g_object_ref (task);
  item->func = func;
  g_async_queue_push (self->queue, item);
}

/**
 * mhf_store_open_async:
 * @self: a #MhfStore
 * @key: the raw key, %MHF_STORE_KEY_LENGTH bytes
 * @create: whether to create the file when it does not exist
 *
 * Opens the database with @key, checks that the key reads it, and runs the
 * pending migrations. An existing file that the key cannot read fails with
 * %MHF_STORE_ERROR_NOT_A_DATABASE and is left untouched.
 */
void
mhf_store_open_async (MhfStore            *self,
                      GBytes              *key,
                      gboolean             create,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  OpenData *od;
  gsize len = 0;
  const guint8 *data;

  g_return_if_fail (MHF_IS_STORE (self));
  g_return_if_fail (key != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_store_open_async);

  data = g_bytes_get_data (key, &len);
  if (len != MHF_STORE_KEY_LENGTH)
    {
      g_task_return_new_error (task, MHF_STORE_ERROR, MHF_STORE_ERROR_FAILED,
                               "A database key must be %d bytes", MHF_STORE_KEY_LENGTH);
      return;
    }

  od = g_new0 (OpenData, 1);
  memcpy (od->key, data, MHF_STORE_KEY_LENGTH);
  od->create = create;
  g_task_set_task_data (task, od, open_data_free);

  push_work (self, task, open_worker);
}

gboolean
mhf_store_open_finish (MhfStore      *self,
                       GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (MHF_IS_STORE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sync_result_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/**
 * mhf_store_open_sync:
 *
 * For tests only: runs mhf_store_open_async() and waits for it, iterating
 * the thread-default main context.
 */
gboolean
mhf_store_open_sync (MhfStore      *self,
                     GBytes        *key,
                     gboolean       create,
                     GCancellable  *cancellable,
                     GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GMainContext *context = g_main_context_get_thread_default ();

  mhf_store_open_async (self, key, create, cancellable, sync_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);

  return mhf_store_open_finish (self, result, error);
}

/**
 * mhf_store_run_async:
 * @func: the work to run on the worker thread
 * @task_data: (transfer full): data for @func
 *
 * Queues @func behind every earlier request. The caller's finish function
 * uses g_task_propagate_*() on the result, whose source object is @self.
 */
void
mhf_store_run_async (MhfStore            *self,
                     MhfStoreWorkFunc     func,
                     gpointer             task_data,
                     GDestroyNotify       task_data_destroy,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_STORE (self));
  g_return_if_fail (func != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_store_run_async);
  g_task_set_task_data (task, task_data, task_data_destroy);

  push_work (self, task, func);
}

/**
 * mhf_store_close:
 *
 * Finishes every queued request, closes the connection and stops the
 * worker thread. The store cannot be opened again.
 */
void
mhf_store_close (MhfStore *self)
{
  WorkItem *item;

  g_return_if_fail (MHF_IS_STORE (self));

  if (self->thread == NULL)
    return;

  item = g_new0 (WorkItem, 1);
  item->quit = TRUE;

  if (g_thread_self () == self->thread)
    {
      /* Dropped by its own last request, on the worker thread: close
       * here, since the store is gone by the time the loop sees "quit". */
      if (self->db != NULL)
        {
          sqlite3_close_v2 (self->db);
          self->db = NULL;
        }
      g_async_queue_push (self->queue, item);
      g_thread_unref (self->thread);
    }
  else
    {
      item->closing = self;
      g_async_queue_push (self->queue, item);
      g_thread_join (self->thread);
    }
  self->thread = NULL;

  g_clear_pointer (&self->queue, g_async_queue_unref);
  g_atomic_int_set (&self->open, FALSE);
}
