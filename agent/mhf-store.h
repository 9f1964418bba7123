/* mhf-store.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define MHF_STORE_ERROR (mhf_store_error_quark ())

/**
 * MhfStoreError:
 * @MHF_STORE_ERROR_FAILED: an unexpected SQLite failure
 * @MHF_STORE_ERROR_NOT_A_DATABASE: the file cannot be read with this key:
 *   the key is wrong or the file is damaged
 * @MHF_STORE_ERROR_NOT_FOUND: no database file exists and creating one was
 *   not asked for
 * @MHF_STORE_ERROR_IO: the file or its folder cannot be created or opened
 * @MHF_STORE_ERROR_CIPHER: the SQLite library is not SQLCipher 4
 * @MHF_STORE_ERROR_TOO_NEW: the file was written by a newer version
 * @MHF_STORE_ERROR_CLOSED: the store is not open
 * @MHF_STORE_ERROR_CONSTRAINT: a constraint (unique, foreign key) refused a row
 */
typedef enum
{
  MHF_STORE_ERROR_FAILED,
  MHF_STORE_ERROR_NOT_A_DATABASE,
  MHF_STORE_ERROR_NOT_FOUND,
  MHF_STORE_ERROR_IO,
  MHF_STORE_ERROR_CIPHER,
  MHF_STORE_ERROR_TOO_NEW,
  MHF_STORE_ERROR_CLOSED,
  MHF_STORE_ERROR_CONSTRAINT,
} MhfStoreError;

#define MHF_STORE_N_ERRORS (MHF_STORE_ERROR_CONSTRAINT + 1)

/* The length of a raw database key, in bytes. */
#define MHF_STORE_KEY_LENGTH 32

#define MHF_TYPE_STORE (mhf_store_get_type ())

G_DECLARE_FINAL_TYPE (MhfStore, mhf_store, MHF, STORE, GObject)

/**
 * MhfStoreWorkFunc:
 * @task: the task to complete, exactly once, with g_task_return_*()
 * @db: the connection; valid only during the call
 * @task_data: the data given to mhf_store_run_async()
 *
 * Runs on the store's worker thread, the only thread that ever touches the
 * connection.
 */
typedef void (*MhfStoreWorkFunc) (GTask   *task,
                                  sqlite3 *db,
                                  gpointer task_data);

GQuark    mhf_store_error_quark          (void);
guint     mhf_store_latest_schema_version (void);

MhfStore *mhf_store_new                  (const char          *path);
const char *mhf_store_get_path           (MhfStore            *self);
void      mhf_store_set_target_version   (MhfStore            *self,
                                          guint                version);
gboolean  mhf_store_is_open              (MhfStore            *self);
guint     mhf_store_get_schema_version   (MhfStore            *self);
void      mhf_store_open_async           (MhfStore            *self,
                                          GBytes              *key,
                                          gboolean             create,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gboolean  mhf_store_open_finish          (MhfStore            *self,
                                          GAsyncResult        *result,
                                          GError             **error);
gboolean  mhf_store_open_sync            (MhfStore            *self,
                                          GBytes              *key,
                                          gboolean             create,
                                          GCancellable        *cancellable,
                                          GError             **error);
void      mhf_store_run_async            (MhfStore            *self,
                                          MhfStoreWorkFunc     func,
                                          gpointer             task_data,
                                          GDestroyNotify       task_data_destroy,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
void      mhf_store_close                (MhfStore            *self);

/* Helpers for work functions, on the worker thread only. */
gboolean  mhf_store_exec                 (sqlite3             *db,
                                          const char          *sql,
                                          GError             **error);
void      mhf_store_set_error            (GError             **error,
                                          sqlite3             *db,
                                          int                  rc,
                                          const char          *what);
gboolean  mhf_store_exec_bound           (sqlite3             *db,
                                          const char          *sql,
                                          GError             **error,
                                          const char          *types,
                                          ...);
gboolean  mhf_store_query_int64          (sqlite3             *db,
                                          const char          *sql,
                                          gint64              *out,
                                          GError             **error,
                                          const char          *types,
                                          ...);
char     *mhf_store_column_dup           (sqlite3_stmt        *stmt,
                                          int                  column);
gboolean  mhf_store_begin                (sqlite3             *db,
                                          GError             **error);
gboolean  mhf_store_commit               (sqlite3             *db,
                                          GError             **error);
void      mhf_store_rollback             (sqlite3             *db);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

G_END_DECLS
