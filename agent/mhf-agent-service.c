/* mhf-agent-service.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent's D-Bus interface: subclasses the generated skeleton, fills in
 * its handle_* slots and brings up the keyring and the database.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-audit.h"
#include "mhf-error.h"
#include "mhf-keyring.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/random.h>

#define DATABASE_FILE_NAME "agent.db"
#define SECRETS_BUS_NAME   "org.freedesktop.secrets"
#define RETIRED_KEY_KIND   "database-key-retired"

static void mhf_agent_service_iface_init (MhfIpcAgent1Iface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MhfAgentService, mhf_agent_service, MHF_IPC_TYPE_AGENT1_SKELETON,
                               G_IMPLEMENT_INTERFACE (MHF_IPC_TYPE_AGENT1, mhf_agent_service_iface_init))

enum {
  PROP_0,
  PROP_CONFIGURED,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ---- helpers ---------------------------------------------------------------- */

static gboolean
database_file_present (MhfAgentService *self)
{
  return g_file_test (self->db_path, G_FILE_TEST_EXISTS);
}

static void
set_busy (MhfAgentService *self,
          gboolean         busy)
{
  if (self->initialising == !!busy)
    return;

  self->initialising = !!busy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
set_configured (MhfAgentService *self,
                gboolean         configured)
{
  if (self->configured == !!configured)
    return;

  self->configured = !!configured;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONFIGURED]);
}

static char *
key_to_hex (const guint8 *key)
{
  static const char hex[] = "0123456789abcdef";
  char *out = g_malloc (MHF_STORE_KEY_LENGTH * 2 + 1);

  for (guint i = 0; i < MHF_STORE_KEY_LENGTH; i++)
    {
      out[i * 2] = hex[key[i] >> 4];
      out[i * 2 + 1] = hex[key[i] & 0xf];
    }
  out[MHF_STORE_KEY_LENGTH * 2] = '\0';
  return out;
}

static GBytes *
key_from_hex (const char *str)
{
  guint8 key[MHF_STORE_KEY_LENGTH];
  GBytes *bytes;

  if (str == NULL || strlen (str) != MHF_STORE_KEY_LENGTH * 2)
    return NULL;

  for (guint i = 0; i < MHF_STORE_KEY_LENGTH; i++)
    {
      int hi = g_ascii_xdigit_value (str[i * 2]);
      int lo = g_ascii_xdigit_value (str[i * 2 + 1]);

      if (hi < 0 || lo < 0)
        {
          memset (key, 0, sizeof key);
          return NULL;
        }
      key[i] = (guint8) (hi << 4 | lo);
    }

  bytes = g_bytes_new (key, sizeof key);
  memset (key, 0, sizeof key);
  return bytes;
}

static gboolean
random_key (guint8  *key,
            GError **error)
{
  gsize filled = 0;

  /* The OS CSPRNG; getrandom() blocks only before the pool is seeded. */
  while (filled < MHF_STORE_KEY_LENGTH)
    {
      ssize_t n = getrandom (key + filled, MHF_STORE_KEY_LENGTH - filled, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          g_set_error (error, MHF_ERROR, MHF_ERROR_FAILED,
                       "No random bytes from the operating system: %s", g_strerror (errsv));
          return FALSE;
        }
      filled += (gsize) n;
    }

  return TRUE;
}

/* ---- status ----------------------------------------------------------------- */

GVariant *
mhf_agent_service_dup_status (MhfAgentService *self)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  MhfAgentState state;

  g_return_val_if_fail (MHF_IS_AGENT_SERVICE (self), NULL);

  state = mhf_agent_state_compute (self->keyring_state, self->database_state);

  g_variant_dict_insert (&dict, MHF_STATUS_VERSION, "s", PACKAGE_VERSION);
  g_variant_dict_insert (&dict, MHF_STATUS_STATE, "s", mhf_agent_state_to_string (state));
  g_variant_dict_insert (&dict, MHF_STATUS_DATABASE, "s",
                         mhf_database_state_to_string (self->database_state));
  g_variant_dict_insert (&dict, MHF_STATUS_KEYRING, "s",
                         mhf_keyring_state_to_string (self->keyring_state));
  g_variant_dict_insert (&dict, MHF_STATUS_DATA_DIRECTORY, "s", self->data_dir);
  g_variant_dict_insert (&dict, MHF_STATUS_SCHEMA_VERSION, "u",
                         self->store != NULL ? mhf_store_get_schema_version (self->store) : 0);
  g_variant_dict_insert (&dict, MHF_STATUS_DATABASE_FILE_PRESENT, "b",
                         database_file_present (self));
  g_variant_dict_insert (&dict, MHF_STATUS_STARTED_AT, "x", self->started_at);

  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/**
 * mhf_agent_service_update_status:
 *
 * Emits StatusChanged when anything GetStatus() reports has changed.
 */
void
mhf_agent_service_update_status (MhfAgentService *self)
{
  g_autoptr(GVariant) status = mhf_agent_service_dup_status (self);

  if (self->last_status != NULL && g_variant_equal (self->last_status, status))
    return;

  g_clear_pointer (&self->last_status, g_variant_unref);
  self->last_status = g_variant_ref (status);

  g_message ("Agent state: %s (keyring %s, database %s)",
             mhf_agent_state_to_string (mhf_agent_state_compute (self->keyring_state,
                                                                 self->database_state)),
             mhf_keyring_state_to_string (self->keyring_state),
             mhf_database_state_to_string (self->database_state));

  if (g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self)) != NULL)
    mhf_ipc_agent1_emit_status_changed (MHF_IPC_AGENT1 (self), status);
}

/* ---- bring-up: keyring, then the database ------------------------------------ */

static void init_finish (MhfAgentService *self);

static void
count_clinics_worker (GTask   *task,
                      sqlite3 *db,
                      gpointer task_data)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT count(*) FROM clinics", -1, &stmt, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_task_return_int (task, sqlite3_column_int64 (stmt, 0));
  else
    {
      g_autoptr(GError) error = NULL;

      mhf_store_set_error (&error, db, rc, "Counting clinics");
      g_task_return_error (task, g_steal_pointer (&error));
    }
}

static void
count_clinics_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize count;

  count = g_task_propagate_int (G_TASK (result), &error);
  if (error != NULL)
    g_warning ("Could not count clinics: %s", error->message);
  else
    set_configured (self, count > 0);

  init_finish (self);
}

static void
database_ready (MhfAgentService *self)
{
  self->database_state = MHF_DATABASE_STATE_OK;
  mhf_store_run_async (self->store, count_clinics_worker, NULL, NULL,
                       self->cancellable, count_clinics_cb, g_object_ref (self));
}

static void
store_open_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_store_open_finish (MHF_STORE (object), result, &error))
    {
      /* Whatever went wrong, the file is left as it was: a wrong key and a
       * damaged file look the same to SQLCipher. */
      g_message ("The database cannot be opened: %s", error->message);
      g_clear_object (&self->store);
      self->database_state = database_file_present (self)
        ? MHF_DATABASE_STATE_CORRUPT
        : MHF_DATABASE_STATE_NOT_CREATED;
      init_finish (self);
      return;
    }

  database_ready (self);
}

static void
open_store (MhfAgentService *self,
            GBytes          *key)
{
  g_assert (self->store == NULL);

  self->store = mhf_store_new (self->db_path);
  mhf_store_open_async (self->store, key, TRUE, self->cancellable,
                        store_open_cb, g_object_ref (self));
}

typedef struct
{
  MhfAgentService *self;
  GBytes          *key;
} NewKeyData;

static void
new_key_stored_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  NewKeyData *data = user_data;
  g_autoptr(MhfAgentService) self = data->self;
  g_autoptr(GBytes) key = data->key;
  g_autoptr(GError) error = NULL;

  g_free (data);

  if (!mhf_keyring_store_finish (result, &error))
    {
      /* Without a stored key no database is created: a database whose key
       * exists nowhere would be lost at the next start. */
      g_message ("Could not store the new database key: %s", error->message);
      self->keyring_state = g_error_matches (error, MHF_ERROR, MHF_ERROR_KEYRING_LOCKED)
        ? MHF_KEYRING_STATE_LOCKED
        : MHF_KEYRING_STATE_UNAVAILABLE;
      self->database_state = MHF_DATABASE_STATE_NOT_CREATED;
      init_finish (self);
      return;
    }

  g_message ("Created a new database key in the keyring");
  open_store (self, key);
}

static void
create_key_and_database (MhfAgentService *self)
{
  guint8 raw[MHF_STORE_KEY_LENGTH];
  g_autoptr(GError) error = NULL;
  g_autofree char *hex = NULL;
  NewKeyData *data;

  if (!random_key (raw, &error))
    {
      g_warning ("%s", error->message);
      init_finish (self);
      return;
    }

  hex = key_to_hex (raw);
  data = g_new0 (NewKeyData, 1);
  data->self = g_object_ref (self);
  data->key = g_bytes_new (raw, sizeof raw);
  memset (raw, 0, sizeof raw);

  mhf_keyring_store_async (MHF_SECRET_KIND_DATABASE_KEY, MHF_SECRET_NO_CLINIC,
                           _("MyHealthFollowup database key"), hex,
                           self->cancellable, new_key_stored_cb, data);
  memset (hex, 0, strlen (hex));
}

static void
key_lookup_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) key = NULL;
  char *secret;

  secret = mhf_keyring_lookup_finish (result, &error);
  if (error != NULL)
    {
      g_message ("Could not read the database key: %s", error->message);
      self->keyring_state = g_error_matches (error, MHF_ERROR, MHF_ERROR_KEYRING_LOCKED)
        ? MHF_KEYRING_STATE_LOCKED
        : MHF_KEYRING_STATE_UNAVAILABLE;
      self->database_state = database_file_present (self)
        ? MHF_DATABASE_STATE_WAITING_FOR_KEYRING
        : MHF_DATABASE_STATE_NOT_CREATED;
      init_finish (self);
      return;
    }

  if (secret == NULL)
    {
      if (database_file_present (self))
        {
          /* Never recreate silently: the data may still be recoverable
           * if the keyring is restored. */
          g_message ("A database file exists but its key is not in the keyring");
          self->database_state = MHF_DATABASE_STATE_KEY_MISSING;
          init_finish (self);
        }
      else
        create_key_and_database (self);
      return;
    }

  key = key_from_hex (secret);
  mhf_keyring_secret_free (secret);

  if (key == NULL)
    {
      g_message ("The database key in the keyring is not in the expected form");
      self->database_state = database_file_present (self)
        ? MHF_DATABASE_STATE_KEY_MISSING
        : MHF_DATABASE_STATE_NOT_CREATED;
      init_finish (self);
      return;
    }

  open_store (self, key);
}

static void
probe_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autoptr(GError) error = NULL;

  self->keyring_state = mhf_keyring_probe_finish (result, &error);
  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self->keyring_state = MHF_KEYRING_STATE_UNAVAILABLE;
    }

  if (self->keyring_state != MHF_KEYRING_STATE_OK)
    {
      if (self->store == NULL)
        self->database_state = database_file_present (self)
          ? MHF_DATABASE_STATE_WAITING_FOR_KEYRING
          : MHF_DATABASE_STATE_NOT_CREATED;
      init_finish (self);
      return;
    }

  if (self->store != NULL && mhf_store_is_open (self->store))
    {
      database_ready (self);
      return;
    }

  mhf_keyring_lookup_async (MHF_SECRET_KIND_DATABASE_KEY, MHF_SECRET_NO_CLINIC,
                            self->cancellable, key_lookup_cb, g_object_ref (self));
}

static void
init_finish (MhfAgentService *self)
{
  set_busy (self, FALSE);
  mhf_agent_service_update_status (self);

  if (self->init_again)
    {
      self->init_again = FALSE;
      mhf_agent_service_reinit (self);
    }
}

/**
 * mhf_agent_service_reinit:
 *
 * Checks the keyring again and, when it can be used, opens (or creates) the
 * database. Safe to call at any time; calls during a run are folded into one
 * more run after it.
 */
void
mhf_agent_service_reinit (MhfAgentService *self)
{
  g_return_if_fail (MHF_IS_AGENT_SERVICE (self));

  if (self->initialising || self->resetting)
    {
      self->init_again = TRUE;
      return;
    }

  set_busy (self, TRUE);
  mhf_keyring_probe_async (self->cancellable, probe_cb, g_object_ref (self));
}

static void
secrets_appeared_cb (GDBusConnection *connection,
                     const char      *name,
                     const char      *name_owner,
                     gpointer         user_data)
{
  MhfAgentService *self = user_data;

  g_debug ("Secret Service appeared on the bus");

  /* The first report comes while the start-up check is still running;
   * only a keyring that arrives after a failed check needs another one. */
  if (self->keyring_state == MHF_KEYRING_STATE_UNAVAILABLE ||
      self->keyring_state == MHF_KEYRING_STATE_LOCKED)
    mhf_agent_service_reinit (self);
}

static void
secrets_vanished_cb (GDBusConnection *connection,
                     const char      *name,
                     gpointer         user_data)
{
  MhfAgentService *self = user_data;

  g_debug ("Secret Service left the bus");
  if (self->keyring_state == MHF_KEYRING_STATE_OK)
    {
      /* libsecret keeps a shared proxy; drop it so the next use starts a
       * fresh one against whichever service owns the name then. */
      secret_service_disconnect ();
      self->keyring_state = MHF_KEYRING_STATE_UNAVAILABLE;
      mhf_agent_service_update_status (self);
    }
}

/**
 * mhf_agent_service_start:
 * @connection: the bus the service is exported on
 *
 * Starts bringing the keyring and the database up; StatusChanged reports
 * the outcome.
 */
void
mhf_agent_service_start (MhfAgentService *self,
                         GDBusConnection *connection)
{
  g_return_if_fail (MHF_IS_AGENT_SERVICE (self));
  g_return_if_fail (G_IS_DBUS_CONNECTION (connection));

  g_set_object (&self->connection, connection);

  if (self->secrets_watch_id == 0)
    self->secrets_watch_id = g_bus_watch_name_on_connection (connection, SECRETS_BUS_NAME,
                                                             G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                             secrets_appeared_cb,
                                                             secrets_vanished_cb,
                                                             self, NULL);

  mhf_agent_service_reinit (self);
}

/* ---- ResetDatabase -------------------------------------------------------------- */

typedef struct
{
  MhfAgentService       *self;
  GDBusMethodInvocation *invocation;
  char                  *kept_as;
  char                  *old_key;
  GBytes                *new_key;
} ResetData;

static void
reset_data_free (ResetData *data)
{
  g_clear_object (&data->self);
  g_clear_object (&data->invocation);
  g_clear_pointer (&data->kept_as, g_free);
  g_clear_pointer (&data->old_key, mhf_keyring_secret_free);
  g_clear_pointer (&data->new_key, g_bytes_unref);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ResetData, reset_data_free)

static void
reset_fail (ResetData *data,
            GError    *error)
{
  data->self->resetting = FALSE;
  g_dbus_method_invocation_return_gerror (data->invocation, error);
  mhf_agent_service_update_status (data->self);
  reset_data_free (data);
}

static void
reset_audit_worker (GTask   *task,
                    sqlite3 *db,
                    gpointer task_data)
{
  const char *kept_as = task_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *summary = NULL;
  MhfAuditEntry entry = { 0 };

  summary = g_strdup_printf ("Started over with a new database; the unreadable one was kept as %s",
                             kept_as);
  entry.at = g_get_real_time ();
  entry.user_name = "(local reset)";
  entry.action = "database.reset";
  entry.target = "database";
  entry.summary = summary;

  if (!mhf_audit_append (db, &entry, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
reset_audit_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(ResetData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status = NULL;
  MhfAgentService *self = data->self;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Could not record the reset in the audit log: %s", error->message);

  self->resetting = FALSE;
  self->database_state = MHF_DATABASE_STATE_OK;
  set_configured (self, FALSE);
  mhf_agent_service_update_status (self);

  status = mhf_agent_service_dup_status (self);
  mhf_ipc_agent1_complete_reset_database (MHF_IPC_AGENT1 (self),
                                          g_steal_pointer (&data->invocation), status);
}

static void
reset_open_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  ResetData *data = user_data;
  MhfAgentService *self = data->self;
  g_autoptr(GError) error = NULL;

  if (!mhf_store_open_finish (MHF_STORE (object), result, &error))
    {
      g_clear_object (&self->store);
      self->database_state = MHF_DATABASE_STATE_NOT_CREATED;
      reset_fail (data, g_error_new (MHF_ERROR, MHF_ERROR_FAILED,
                                     "The new database could not be created: %s",
                                     error->message));
      return;
    }

  mhf_store_run_async (self->store, reset_audit_worker, g_strdup (data->kept_as), g_free,
                       NULL, reset_audit_cb, data);
}

static void
reset_new_key_stored_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  ResetData *data = user_data;
  MhfAgentService *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *kept_path = NULL;
  g_autofree char *dir = NULL;

  if (!mhf_keyring_store_finish (result, &error))
    {
      reset_fail (data, g_steal_pointer (&error));
      return;
    }

  /* Set the old file aside, never delete it. */
  dir = g_path_get_dirname (self->db_path);
  kept_path = g_build_filename (dir, data->kept_as, NULL);

  if (database_file_present (self) && g_rename (self->db_path, kept_path) != 0)
    {
      int errsv = errno;
      reset_fail (data, g_error_new (MHF_ERROR, MHF_ERROR_FAILED,
                                     "The old database could not be set aside: %s",
                                     g_strerror (errsv)));
      return;
    }

  g_message ("Database reset: the old file was kept as %s", data->kept_as);

  g_clear_object (&self->store);
  self->store = mhf_store_new (self->db_path);
  mhf_store_open_async (self->store, data->new_key, TRUE, NULL, reset_open_cb, data);
}

static void
reset_make_new_key (ResetData *data)
{
  g_autoptr(GError) error = NULL;
  guint8 raw[MHF_STORE_KEY_LENGTH];
  g_autofree char *hex = NULL;

  if (!random_key (raw, &error))
    {
      reset_fail (data, g_steal_pointer (&error));
      return;
    }

  data->new_key = g_bytes_new (raw, sizeof raw);
  hex = key_to_hex (raw);
  memset (raw, 0, sizeof raw);

  mhf_keyring_store_async (MHF_SECRET_KIND_DATABASE_KEY, MHF_SECRET_NO_CLINIC,
                           _("MyHealthFollowup database key"), hex,
                           data->self->cancellable, reset_new_key_stored_cb, data);
  memset (hex, 0, strlen (hex));
}

static void
reset_old_key_kept_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  ResetData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_keyring_store_finish (result, &error))
    {
      reset_fail (data, g_steal_pointer (&error));
      return;
    }

  reset_make_new_key (data);
}

static void
reset_old_key_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  ResetData *data = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *label = NULL;

  data->old_key = mhf_keyring_lookup_finish (result, &error);
  if (error != NULL)
    {
      reset_fail (data, g_steal_pointer (&error));
      return;
    }

  if (data->old_key == NULL)
    {
      reset_make_new_key (data);
      return;
    }

  /* The old key may still open the old file (a damaged file, not a wrong
   * key): keep it beside the file it belongs to. */
  label = g_strdup_printf (_("MyHealthFollowup database key for %s"), data->kept_as);
  mhf_keyring_store_async (RETIRED_KEY_KIND, data->kept_as, label, data->old_key,
                           data->self->cancellable, reset_old_key_kept_cb, data);
}

static gboolean
handle_reset_database (MhfIpcAgent1          *object,
                       GDBusMethodInvocation *invocation,
                       const char            *confirmation)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *stamp = NULL;
  ResetData *data;

  if (g_strcmp0 (confirmation, MHF_RESET_CONFIRMATION) != 0)
    {
      g_dbus_method_invocation_return_error (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                             "The confirmation text must be “%s”",
                                             MHF_RESET_CONFIRMATION);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (self->keyring_state == MHF_KEYRING_STATE_UNAVAILABLE)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_KEYRING_UNAVAILABLE,
                                                     "No keyring is available to hold a new database key");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (self->keyring_state == MHF_KEYRING_STATE_LOCKED)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_KEYRING_LOCKED,
                                                     "The keyring is locked");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (self->resetting || self->initialising ||
      (self->database_state != MHF_DATABASE_STATE_KEY_MISSING &&
       self->database_state != MHF_DATABASE_STATE_CORRUPT))
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                                     "Only a database whose key is missing or "
                                                     "that cannot be read can be reset");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  self->resetting = TRUE;

  data = g_new0 (ResetData, 1);
  data->self = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  now = g_date_time_new_now_utc ();
  stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  data->kept_as = g_strdup_printf (DATABASE_FILE_NAME ".unreadable-%s", stamp);

  mhf_keyring_lookup_async (MHF_SECRET_KIND_DATABASE_KEY, MHF_SECRET_NO_CLINIC,
                            self->cancellable, reset_old_key_cb, data);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- GetStatus ------------------------------------------------------------------ */

static gboolean
handle_get_status (MhfIpcAgent1          *object,
                   GDBusMethodInvocation *invocation)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  g_autoptr(GVariant) status = mhf_agent_service_dup_status (self);

  mhf_ipc_agent1_complete_get_status (object, invocation, status);

  /* Someone is looking: if the keyring was not usable, try again now; a
   * StatusChanged reports any change. */
  if (self->keyring_state != MHF_KEYRING_STATE_OK &&
      self->keyring_state != MHF_KEYRING_STATE_UNKNOWN)
    mhf_agent_service_reinit (self);

  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- GObject ---------------------------------------------------------------------- */

static gboolean
mhf_agent_service_g_authorize_method (GDBusInterfaceSkeleton *skeleton,
                                      GDBusMethodInvocation  *invocation)
{
  GApplication *app = g_application_get_default ();

  /* Every call counts as activity, so an idle agent's inactivity timeout
   * starts again from the last call. */
  if (app != NULL)
    {
      g_application_hold (app);
      g_application_release (app);
    }

  g_debug ("D-Bus call %s", g_dbus_method_invocation_get_method_name (invocation));
  return TRUE;
}

void
mhf_agent_service_shutdown (MhfAgentService *self)
{
  g_return_if_fail (MHF_IS_AGENT_SERVICE (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->secrets_watch_id, g_bus_unwatch_name);
  if (self->store != NULL)
    mhf_store_close (self->store);
}

static void
mhf_agent_service_dispose (GObject *object)
{
  MhfAgentService *self = (MhfAgentService *) object;

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->secrets_watch_id, g_bus_unwatch_name);
  g_clear_object (&self->store);
  g_clear_object (&self->connection);
  g_clear_pointer (&self->last_status, g_variant_unref);

  G_OBJECT_CLASS (mhf_agent_service_parent_class)->dispose (object);
}

static void
mhf_agent_service_finalize (GObject *object)
{
  MhfAgentService *self = (MhfAgentService *) object;

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->data_dir, g_free);
  g_clear_pointer (&self->db_path, g_free);

  G_OBJECT_CLASS (mhf_agent_service_parent_class)->finalize (object);
}

static void
mhf_agent_service_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);

  switch (prop_id)
    {
    case PROP_CONFIGURED:
      g_value_set_boolean (value, self->configured);
      break;

    case PROP_BUSY:
      g_value_set_boolean (value, self->initialising || self->resetting);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mhf_agent_service_class_init (MhfAgentServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GDBusInterfaceSkeletonClass *skeleton_class = G_DBUS_INTERFACE_SKELETON_CLASS (klass);

  object_class->dispose = mhf_agent_service_dispose;
  object_class->finalize = mhf_agent_service_finalize;
  object_class->get_property = mhf_agent_service_get_property;

  skeleton_class->g_authorize_method = mhf_agent_service_g_authorize_method;

  /**
   * MhfAgentService:configured:
   *
   * Whether anything is set up that needs the agent running with no window
   * open (at least one clinic).
   */
  properties[PROP_CONFIGURED] =
    g_param_spec_boolean ("configured", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * MhfAgentService:busy:
   *
   * Whether the keyring and database are being brought up or reset.
   */
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Map our codes to D-Bus error names before the first reply. */
  (void) mhf_error_quark ();
}

static void
mhf_agent_service_iface_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_get_status = handle_get_status;
  iface->handle_reset_database = handle_reset_database;
}

static void
mhf_agent_service_init (MhfAgentService *self)
{
  self->cancellable = g_cancellable_new ();
  self->started_at = g_get_real_time ();
  self->keyring_state = MHF_KEYRING_STATE_UNKNOWN;
  self->database_state = MHF_DATABASE_STATE_NOT_CREATED;
}

/**
 * mhf_agent_service_new:
 * @data_dir: the folder for the database file
 *
 * Returns: (transfer full): a new service, not yet started
 */
MhfAgentService *
mhf_agent_service_new (const char *data_dir)
{
  MhfAgentService *self;

  g_return_val_if_fail (data_dir != NULL, NULL);

  self = g_object_new (MHF_TYPE_AGENT_SERVICE, NULL);
  self->data_dir = g_strdup (data_dir);
  self->db_path = g_build_filename (data_dir, DATABASE_FILE_NAME, NULL);
  self->database_state = database_file_present (self)
    ? MHF_DATABASE_STATE_WAITING_FOR_KEYRING
    : MHF_DATABASE_STATE_NOT_CREATED;
  return self;
}

gboolean
mhf_agent_service_get_configured (MhfAgentService *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_SERVICE (self), FALSE);

  return self->configured;
}

gboolean
mhf_agent_service_get_busy (MhfAgentService *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_SERVICE (self), FALSE);

  return self->initialising || self->resetting;
}
