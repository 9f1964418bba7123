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
  g_variant_dict_insert (&dict, MHF_STATUS_SESSIONS, "u",
                         self->sessions != NULL ? g_hash_table_size (self->sessions) : 0);
  g_variant_dict_insert (&dict, MHF_STATUS_LAST_SEEN, "x", self->last_seen);
  g_variant_dict_insert (&dict, MHF_STATUS_OFFLINE_SECONDS, "x",
                         self->offline_usec / G_USEC_PER_SEC);
  {
    GVariant *licence = mhf_agent_service_dup_licence (self);

    if (licence != NULL)
      g_variant_dict_insert_value (&dict, MHF_STATUS_LICENCE, g_steal_pointer (&licence));
  }

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

  {
    const char *old_state = NULL;
    const char *new_state = NULL;

    if (self->last_status != NULL)
      g_variant_lookup (self->last_status, MHF_STATUS_STATE, "&s", &old_state);
    g_variant_lookup (status, MHF_STATUS_STATE, "&s", &new_state);

    /* Lifecycle events only: a session starting is not one. */
    if (g_strcmp0 (old_state, new_state) != 0)
      g_message ("Agent state: %s (keyring %s, database %s)", new_state,
                 mhf_keyring_state_to_string (self->keyring_state),
                 mhf_database_state_to_string (self->database_state));
  }

  g_clear_pointer (&self->last_status, g_variant_unref);
  self->last_status = g_variant_ref (status);

  if (g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self)) != NULL)
    mhf_ipc_agent1_emit_status_changed (MHF_IPC_AGENT1 (self), status);
}

/* ---- bring-up: keyring, then the database ------------------------------------ */

static void init_finish (MhfAgentService *self);

typedef struct
{
  gint64      n_clinics;
  gint64      n_users;
  guint       idle_timeout;
  MhfLicence *licence;
  gboolean    licence_invalid;
  gint64      trial_start;
} LoadedState;

static void
loaded_state_free (LoadedState *state)
{
  mhf_licence_free (state->licence);
  g_free (state);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LoadedState, loaded_state_free)

static void
load_state_worker (GTask   *task,
                   sqlite3 *db,
                   gpointer task_data)
{
  g_autoptr(GError) error = NULL;
  LoadedState *state = g_new0 (LoadedState, 1);
  gint64 minutes = 15;

  if (!mhf_store_query_int64 (db, "SELECT count(*) FROM clinics", &state->n_clinics, &error, "") ||
      !mhf_store_query_int64 (db, "SELECT count(*) FROM users", &state->n_users, &error, "") ||
      !mhf_store_query_int64 (db, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM settings"
                                  " WHERE key = 'idle-timeout-minutes'), 15)", &minutes, &error, "") ||
      !mhf_agent_service_load_licence (db, &state->licence, &state->licence_invalid,
                                       &state->trial_start, &error))
    {
      loaded_state_free (state);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  state->idle_timeout = (guint) CLAMP (minutes, 1, 480);
  g_task_return_pointer (task, state, (GDestroyNotify) loaded_state_free);
}

static void
load_state_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(LoadedState) state = NULL;

  state = g_task_propagate_pointer (G_TASK (result), &error);
  if (state == NULL)
    g_warning ("Could not read the configuration: %s", error->message);
  else
    {
      self->n_users = state->n_users;
      self->idle_timeout_minutes = state->idle_timeout;
      set_configured (self, state->n_clinics > 0);
      mhf_agent_service_set_licence (self, g_steal_pointer (&state->licence),
                                     state->licence_invalid, state->trial_start);
      mhf_agent_service_purge_now (self);
      mhf_agent_service_schedule_reference_refresh (self);
      mhf_agent_service_outbox_start (self);
    }

  init_finish (self);
}

static void
database_ready (MhfAgentService *self)
{
  self->database_state = MHF_DATABASE_STATE_OK;
  mhf_store_run_async (self->store, load_state_worker, NULL, NULL,
                       self->cancellable, load_state_cb, g_object_ref (self));
}

static void
refresh_configured_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autofree LoadedState *state = NULL;

  state = g_task_propagate_pointer (G_TASK (result), NULL);
  if (state != NULL)
    set_configured (self, state->n_clinics > 0);
}

/**
 * mhf_agent_service_refresh_configured:
 *
 * Counts clinics again, after one was added or removed, so the agent holds
 * itself exactly while something is configured.
 */
void
mhf_agent_service_refresh_configured (MhfAgentService *self)
{
  mhf_store_run_async (self->store, load_state_worker, NULL, NULL,
                       self->cancellable, refresh_configured_cb, g_object_ref (self));
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
  g_autoptr(GPtrArray) pending = NULL;

  set_busy (self, FALSE);
  mhf_agent_service_update_status (self);

  /* Calls that waited for the database go on now, or fail plainly. */
  pending = g_steal_pointer (&self->pending_calls);
  self->pending_calls = g_ptr_array_new ();
  for (guint i = 0; i < pending->len; i++)
    {
      MhfCall *call = g_ptr_array_index (pending, i);

      mhf_agent_service_call (self, call->invocation, call->worker, call->done,
                              g_steal_pointer (&call->data), call->data_free);
      call->data_free = NULL;
      g_clear_object (&call->invocation);
      g_clear_object (&call->self);
      g_free (call);
    }

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
  g_error_free (error);
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
  self->n_users = 0;
  self->idle_timeout_minutes = 15;
  g_hash_table_remove_all (self->sessions);
  set_configured (self, FALSE);
  mhf_agent_service_update_status (self);

  status = mhf_agent_service_dup_status (self);
  mhf_ipc_agent1_complete_reset_database (MHF_IPC_AGENT1 (self), data->invocation, status);
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

/* ---- calls through the store ---------------------------------------------------- */

static void
call_free (MhfCall *call)
{
  if (call->data_free != NULL)
    g_clear_pointer (&call->data, call->data_free);
  g_clear_pointer (&call->reply, g_variant_unref);
  g_clear_error (&call->reply_error);
  g_clear_object (&call->invocation);
  g_clear_object (&call->self);
  g_free (call->actor);
  g_free (call);
}

static void
call_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  MhfCall *call = task_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_store_begin (db, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (!call->worker (call, db, &error))
    {
      mhf_store_rollback (db);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (!mhf_store_commit (db, &error))
    {
      mhf_store_rollback (db);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static void
call_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  MhfCall *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (error->domain != MHF_ERROR)
        {
          /* The technical detail stays in the debug log; the caller gets
           * our domain and a sentence. */
          g_debug ("%s failed in the store: %s",
                   g_dbus_method_invocation_get_method_name (call->invocation), error->message);
          g_dbus_method_invocation_return_error_literal (call->invocation, MHF_ERROR,
                                                         MHF_ERROR_FAILED,
                                                         "The database could not complete the request");
        }
      else
        g_dbus_method_invocation_return_gerror (call->invocation, error);
      call_free (call);
      return;
    }

  if (call->reply_error == NULL && call->done != NULL)
    call->done (call);

  if (call->reply_error != NULL)
    g_dbus_method_invocation_return_gerror (call->invocation, call->reply_error);
  else if (call->reply != NULL)
    g_dbus_method_invocation_return_value (call->invocation, g_steal_pointer (&call->reply));
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);

  call_free (call);
}

/**
 * mhf_agent_service_call:
 * @worker: the database work, in a transaction on the worker thread
 * @done: (nullable): main-thread follow-up after the commit
 * @data: (transfer full): shared by @worker and @done
 *
 * Completes @invocation exactly once: with the reply the worker or @done
 * set, with call->reply_error, or with the error that rolled back.
 */
void
mhf_agent_service_call (MhfAgentService       *self,
                        GDBusMethodInvocation *invocation,
                        MhfCallWorker          worker,
                        MhfCallDone            done,
                        gpointer               data,
                        GDestroyNotify         data_free)
{
  MhfCall *call;
  MhfSession *session;

  /* A call that arrives while the agent is still opening its database
   * (the call that activated it, typically) waits for the outcome. */
  if (self->initialising && (self->store == NULL || self->database_state != MHF_DATABASE_STATE_OK))
    {
      call = g_new0 (MhfCall, 1);
      call->self = g_object_ref (self);
      call->invocation = g_object_ref (invocation);
      call->worker = worker;
      call->done = done;
      call->data = data;
      call->data_free = data_free;
      g_ptr_array_add (self->pending_calls, call);
      return;
    }

  if (self->store == NULL || !mhf_store_is_open (self->store) || self->resetting)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_DATABASE_UNAVAILABLE,
                                                     "The database is not open; see GetStatus");
      if (data_free != NULL && data != NULL)
        data_free (data);
      return;
    }

  session = mhf_agent_service_get_session (self, g_dbus_method_invocation_get_sender (invocation));

  call = g_new0 (MhfCall, 1);
  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->params = g_dbus_method_invocation_get_parameters (invocation);
  call->actor = g_strdup (session != NULL ? session->username : "(signed out)");
  call->user_id = session != NULL ? session->user_id : 0;
  call->now = g_get_real_time ();
  call->worker = worker;
  call->done = done;
  call->data = data;
  call->data_free = data_free;

  mhf_store_run_async (self->store, call_worker, call, NULL, NULL, call_cb, call);
}

/**
 * mhf_call_audit:
 *
 * Appends an audit entry for @call's change: now, by the caller, in the
 * same transaction as the change itself.
 */
gboolean
mhf_call_audit (MhfCall     *call,
                sqlite3     *db,
                gint64       clinic_id,
                const char  *action,
                const char  *target,
                const char  *summary,
                GError     **error)
{
  MhfAuditEntry entry = {
    .at = call->now,
    .user_name = call->actor,
    .clinic_id = clinic_id,
    .action = action,
    .target = target,
    .summary = summary,
  };

  return mhf_audit_append (db, &entry, error);
}

/* ---- authorization ------------------------------------------------------------------- */

/* Every caller keeps the agent alive while it is on the bus: an app
 * window showing the agent's state should not see it leave under it. */
static void
client_vanished_cb (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  MhfAgentService *self = user_data;
  GApplication *app = g_application_get_default ();

  if (g_hash_table_remove (self->clients, name) && app != NULL)
    g_application_release (app);
}

static void
track_client (MhfAgentService *self,
              const char      *sender)
{
  GApplication *app = g_application_get_default ();
  guint watch_id;

  if (sender == NULL || self->connection == NULL || g_hash_table_contains (self->clients, sender))
    return;

  watch_id = g_bus_watch_name_on_connection (self->connection, sender,
                                             G_BUS_NAME_WATCHER_FLAGS_NONE,
                                             NULL, client_vanished_cb, self, NULL);
  g_hash_table_insert (self->clients, g_strdup (sender), GUINT_TO_POINTER (watch_id));
  if (app != NULL)
    g_application_hold (app);
}

/* Returns %TRUE when the call may go on; otherwise it has answered it. */
static gboolean
authorize (MhfAgentService       *self,
           GDBusMethodInvocation *invocation)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  const MhfAuthzRule *rule;
  MhfSession *session;
  MhfRole role;

  rule = mhf_authz_lookup (method);
  if (rule == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, MHF_ERROR, MHF_ERROR_ACCESS_DENIED,
                                             "%s is not in the authorization table", method);
      return FALSE;
    }

  if (rule->access == MHF_ACCESS_PUBLIC)
    return TRUE;

  session = mhf_agent_service_get_session (self, sender);
  if (session == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_NOT_SIGNED_IN,
                                                     "Sign in first");
      return FALSE;
    }

  mhf_agent_service_touch_session (self, session);

  switch (rule->access)
    {
    case MHF_ACCESS_SIGNED_IN:
      return TRUE;

    case MHF_ACCESS_EVERY_CLINIC:
      role = mhf_session_get_role (session, 0);
      break;

    case MHF_ACCESS_CLINIC:
      {
        GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
        g_autoptr(GVariant) arg = g_variant_get_child_value (params, rule->clinic_arg);

        g_assert (g_variant_is_of_type (arg, G_VARIANT_TYPE_INT64));
        role = mhf_session_get_role (session, g_variant_get_int64 (arg));
      }
      break;

    case MHF_ACCESS_PUBLIC:
    default:
      g_assert_not_reached ();
    }

  if (role < rule->min_role)
    {
      /* The same answer whether or not the clinic exists: a clinic the
       * caller has no role on is none of their business. */
      g_dbus_method_invocation_return_error (invocation, MHF_ERROR, MHF_ERROR_ACCESS_DENIED,
                                             "This needs the %s role",
                                             mhf_role_to_string (rule->min_role));
      return FALSE;
    }

  return TRUE;
}

/* The one dispatcher. GDBusInterfaceSkeleton would run g_authorize_method
 * on a thread of its own, away from the sessions that live on the main
 * thread; wrapping the generated vtable keeps the check on the main
 * thread, in front of every handler. */
static const GDBusInterfaceVTable *generated_vtable;

static void
authorized_method_call (GDBusConnection       *connection,
                        const char            *sender,
                        const char            *object_path,
                        const char            *interface_name,
                        const char            *method_name,
                        GVariant              *parameters,
                        GDBusMethodInvocation *invocation,
                        gpointer               user_data)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (user_data);
  GApplication *app = g_application_get_default ();

  /* Every call counts as activity for the inactivity timeout. */
  if (app != NULL)
    {
      g_application_hold (app);
      g_application_release (app);
    }

  track_client (self, sender);
  g_debug ("D-Bus call %s", method_name);

  if (!authorize (self, invocation))
    return;

  generated_vtable->method_call (connection, sender, object_path, interface_name, method_name,
                                 parameters, invocation, user_data);
}

static GDBusInterfaceVTable *
mhf_agent_service_get_vtable (GDBusInterfaceSkeleton *skeleton)
{
  static GDBusInterfaceVTable vtable;

  if (generated_vtable == NULL)
    {
      generated_vtable =
        G_DBUS_INTERFACE_SKELETON_CLASS (mhf_agent_service_parent_class)->get_vtable (skeleton);
      vtable = *generated_vtable;
      vtable.method_call = authorized_method_call;
    }

  return &vtable;
}

static gboolean
handle_who_am_i (MhfIpcAgent1          *object,
                 GDBusMethodInvocation *invocation)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  g_autoptr(GVariant) session = NULL;

  session = mhf_agent_service_dup_whoami (self, g_dbus_method_invocation_get_sender (invocation));
  mhf_ipc_agent1_complete_who_am_i (object, invocation, session);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/**
 * mhf_agent_service_check_name:
 *
 * A display name, clinic name and the like: valid UTF-8, 1 to @max_chars
 * characters, no control characters.
 */
gboolean
mhf_agent_service_check_name (const char  *what,
                              const char  *value,
                              guint        max_chars,
                              GError     **error)
{
  g_autofree char *stripped = NULL;

  if (value == NULL || !g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "%s: not valid text", what);
      return FALSE;
    }

  stripped = g_strstrip (g_strdup (value));
  if (*stripped == '\0' || g_utf8_strlen (value, -1) > (glong) max_chars)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "%s: 1 to %u characters are needed", what, max_chars);
      return FALSE;
    }

  for (const char *p = value; *p != '\0'; p = g_utf8_next_char (p))
    {
      if (g_unichar_iscntrl (g_utf8_get_char (p)))
        {
          g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                       "%s: line breaks and control characters are not allowed", what);
          return FALSE;
        }
    }

  return TRUE;
}

/* ---- GObject ---------------------------------------------------------------------- */

void
mhf_agent_service_shutdown (MhfAgentService *self)
{
  g_return_if_fail (MHF_IS_AGENT_SERVICE (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->secrets_watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&self->purge_timer_id, g_source_remove);
  g_clear_handle_id (&self->reference_timer_id, g_source_remove);
  g_clear_handle_id (&self->licence_timer_id, g_source_remove);
  mhf_agent_service_stop_scans (self);
  mhf_agent_service_outbox_stop (self);
  if (self->store != NULL)
    mhf_store_close (self->store);
}

static void
mhf_agent_service_dispose (GObject *object)
{
  MhfAgentService *self = (MhfAgentService *) object;

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->secrets_watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&self->purge_timer_id, g_source_remove);
  g_clear_handle_id (&self->reference_timer_id, g_source_remove);
  g_clear_handle_id (&self->licence_timer_id, g_source_remove);
  mhf_agent_service_stop_scans (self);
  mhf_agent_service_outbox_stop (self);
  g_clear_pointer (&self->limiters, g_hash_table_unref);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->pending_calls, g_ptr_array_unref);
  if (self->clients != NULL)
    {
      GHashTableIter iter;
      gpointer watch_id;

      g_hash_table_iter_init (&iter, self->clients);
      while (g_hash_table_iter_next (&iter, NULL, &watch_id))
        g_bus_unwatch_name (GPOINTER_TO_UINT (watch_id));
      g_clear_pointer (&self->clients, g_hash_table_unref);
    }
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
  g_clear_pointer (&self->scans_running, g_hash_table_unref);
  g_clear_pointer (&self->scan_results, g_hash_table_unref);
  g_clear_pointer (&self->licence, mhf_licence_free);

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

  skeleton_class->get_vtable = mhf_agent_service_get_vtable;

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
  iface->handle_who_am_i = handle_who_am_i;

  mhf_agent_service_users_init (iface);
  mhf_agent_service_clinics_init (iface);
  mhf_agent_service_audit_init (iface);
  mhf_agent_service_cliniko_init (iface);
  mhf_agent_service_templates_init (iface);
  mhf_agent_service_rules_init (iface);
  mhf_agent_service_dry_run_init (iface);
  mhf_agent_service_scanner_init (iface);
  mhf_agent_service_outbox_init (iface);
  mhf_agent_service_email_init (iface);
  mhf_agent_service_history_init (iface);
  mhf_agent_service_licence_init (iface);
}

static void
mhf_agent_service_init (MhfAgentService *self)
{
  self->cancellable = g_cancellable_new ();
  self->started_at = g_get_real_time ();
  self->keyring_state = MHF_KEYRING_STATE_UNKNOWN;
  self->database_state = MHF_DATABASE_STATE_NOT_CREATED;
  self->n_users = -1;
  self->clients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pending_calls = g_ptr_array_new ();
  self->send_timer_fd = -1;
  mhf_agent_service_sessions_init (self);
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
