/* mhf-agent-service-clinics.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Clinics (one Cliniko account each), the audit log's read side and
 * retention.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-audit.h"
#include "mhf-error.h"
#include "mhf-keyring.h"

#define PURGE_INTERVAL_SECONDS (24 * 60 * 60)
#define DAY_USEC ((gint64) 24 * 60 * 60 * G_USEC_PER_SEC)

/* ---- AddClinic ------------------------------------------------------------------------------ */

static gboolean
add_clinic_worker (MhfCall  *call,
                   sqlite3  *db,
                   GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *target = NULL;
  const char *name = NULL;
  gint64 id;
  int rc;

  g_variant_get (call->params, "(&s)", &name);

  rc = sqlite3_prepare_v2 (db, "INSERT INTO clinics (name, created_at) VALUES (?1, ?2)",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 2, call->now);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Adding a clinic");
      return FALSE;
    }

  id = sqlite3_last_insert_rowid (db);
  call->reply = g_variant_ref_sink (g_variant_new ("(x)", id));

  target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, id);
  summary = g_strdup_printf ("clinic added: name “%s”", name);
  return mhf_call_audit (call, db, id, "clinic.add", target, summary, error);
}

static void
clinics_changed_done (MhfCall *call)
{
  mhf_agent_service_refresh_configured (call->self);
}

static gboolean
handle_add_clinic (MhfIpcAgent1          *object,
                   GDBusMethodInvocation *invocation,
                   const char            *name)
{
  g_autoptr(GError) error = NULL;

  if (!mhf_agent_service_check_name ("name", name, 128, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, add_clinic_worker,
                          clinics_changed_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ListClinics ------------------------------------------------------------------------------ */

static gboolean
list_clinics_worker (MhfCall  *call,
                     sqlite3  *db,
                     GError  **error)
{
  GHashTable *roles = call->data;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder clinics;
  gint64 every = 0;
  MhfRole every_role = GPOINTER_TO_INT (g_hash_table_lookup (roles, &every));
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT id, name, retention_days FROM clinics ORDER BY name, id",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading clinics");
      return FALSE;
    }

  g_variant_builder_init (&clinics, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      MhfRole here = GPOINTER_TO_INT (g_hash_table_lookup (roles, &id));
      MhfRole role = MAX (here, every_role);
      GVariantDict dict;

      /* Scoped: clinics the caller has no role on are not listed. */
      if (role == MHF_ROLE_NONE)
        continue;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "id", "x", id);
      g_variant_dict_insert (&dict, "name", "s", sqlite3_column_text (stmt, 1));
      g_variant_dict_insert (&dict, "role", "s", mhf_role_to_string (role));
      g_variant_dict_insert (&dict, "retention-days", "u", (guint32) sqlite3_column_int64 (stmt, 2));
      g_variant_builder_add_value (&clinics, g_variant_dict_end (&dict));
    }

  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&clinics);
      mhf_store_set_error (error, db, rc, "Reading clinics");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv})", &clinics));
  return TRUE;
}

static gboolean
handle_list_clinics (MhfIpcAgent1          *object,
                     GDBusMethodInvocation *invocation)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  MhfSession *session;
  GHashTable *roles;
  GHashTableIter iter;
  gpointer key, value;

  session = mhf_agent_service_get_session (self, g_dbus_method_invocation_get_sender (invocation));
  g_assert (session != NULL);

  /* The worker gets its own copy of the roles: sessions live on the main
   * thread. */
  roles = mhf_roles_new ();
  g_hash_table_iter_init (&iter, session->roles);
  while (g_hash_table_iter_next (&iter, &key, &value))
    mhf_roles_set (roles, *(gint64 *) key, GPOINTER_TO_INT (value));

  mhf_agent_service_call (self, invocation, list_clinics_worker, NULL,
                          roles, (GDestroyNotify) g_hash_table_unref);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- RemoveClinic ---------------------------------------------------------------------------- */

static gboolean
remove_clinic_worker (MhfCall  *call,
                      sqlite3  *db,
                      GError  **error)
{
  g_autoptr(sqlite3_stmt) find = NULL;
  g_autoptr(sqlite3_stmt) remove = NULL;
  g_autofree char *name = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *target = NULL;
  gint64 clinic_id = 0;
  int rc;

  g_variant_get (call->params, "(x)", &clinic_id);

  rc = sqlite3_prepare_v2 (db, "SELECT name FROM clinics WHERE id = ?1", -1, &find, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (find, 1, clinic_id);
      rc = sqlite3_step (find);
    }
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading clinics");
      return FALSE;
    }
  name = g_strdup ((const char *) sqlite3_column_text (find, 0));

  rc = sqlite3_prepare_v2 (db, "DELETE FROM clinics WHERE id = ?1", -1, &remove, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (remove, 1, clinic_id);
      rc = sqlite3_step (remove);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Removing a clinic");
      return FALSE;
    }

  /* The clinic's audit chain stays: removing a clinic removes its
   * configuration and delivery state, never its history. */
  target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, clinic_id);
  summary = g_strdup_printf ("clinic “%s” removed with its configuration and delivery state", name);
  return mhf_call_audit (call, db, clinic_id, "clinic.remove", target, summary, error);
}

static void
forget_secret_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!mhf_keyring_clear_finish (result, &error) && error != NULL)
    g_message ("Could not remove a removed clinic's secret from the keyring: %s", error->message);
}

static void
remove_clinic_done (MhfCall *call)
{
  g_autofree char *clinic = NULL;
  GHashTableIter iter;
  MhfSession *session;
  gint64 clinic_id = 0;

  g_variant_get (call->params, "(x)", &clinic_id);

  g_hash_table_iter_init (&iter, call->self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session))
    mhf_roles_set (session->roles, clinic_id, MHF_ROLE_NONE);
  mhf_agent_service_stop_clinic_scans (call->self, clinic_id);

  /* The clinic's secrets go with it. */
  clinic = g_strdup_printf ("%" G_GINT64_FORMAT, clinic_id);
  mhf_keyring_clear_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, NULL, forget_secret_cb, NULL);
  mhf_keyring_clear_async (MHF_SECRET_KIND_SMTP_PASSWORD, clinic, NULL, forget_secret_cb, NULL);

  mhf_agent_service_refresh_configured (call->self);
}

static gboolean
handle_remove_clinic (MhfIpcAgent1          *object,
                      GDBusMethodInvocation *invocation,
                      gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, remove_clinic_worker,
                          remove_clinic_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ListAudit / VerifyAudit -------------------------------------------------------------------- */

static gboolean
list_audit_worker (MhfCall  *call,
                   sqlite3  *db,
                   GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder entries;
  gint64 clinic_id = 0;
  gint64 before = 0;
  guint32 limit = 0;
  guint32 count = 0;
  gint64 next = 0;
  gint64 last_id = 0;
  int rc;

  g_variant_get (call->params, "(xxu)", &clinic_id, &before, &limit);

  /* Keyset paging: newest first, from just below the cursor. One row more
   * than asked tells whether another page exists. */
  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, at, user_name, coalesce(clinic_id, 0), action, target, summary"
                           "  FROM audit"
                           " WHERE coalesce(clinic_id, 0) = ?1 AND (?2 <= 0 OR id < ?2)"
                           " ORDER BY id DESC LIMIT ?3",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);
  sqlite3_bind_int64 (stmt, 2, before);
  sqlite3_bind_int64 (stmt, 3, (gint64) limit + 1);

  g_variant_builder_init (&entries, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      GVariantDict dict;

      if (count == limit)
        {
          next = last_id;
          break;
        }

      last_id = sqlite3_column_int64 (stmt, 0);
      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "id", "x", last_id);
      g_variant_dict_insert (&dict, "at", "x", sqlite3_column_int64 (stmt, 1));
      g_variant_dict_insert (&dict, "user", "s", sqlite3_column_text (stmt, 2));
      g_variant_dict_insert (&dict, "clinic", "x", sqlite3_column_int64 (stmt, 3));
      g_variant_dict_insert (&dict, "action", "s", sqlite3_column_text (stmt, 4));
      g_variant_dict_insert (&dict, "target", "s", sqlite3_column_text (stmt, 5));
      g_variant_dict_insert (&dict, "summary", "s", sqlite3_column_text (stmt, 6));
      g_variant_builder_add_value (&entries, g_variant_dict_end (&dict));
      count++;
    }

  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      g_variant_builder_clear (&entries);
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv}x)", &entries, next));
  return TRUE;
}

static gboolean
handle_list_audit (MhfIpcAgent1          *object,
                   GDBusMethodInvocation *invocation,
                   gint64                 clinic,
                   gint64                 before,
                   guint                  limit)
{
  if (limit < 1 || limit > 500)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                                     "limit: 1 to 500");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_audit_worker,
                          NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
verify_audit_worker (MhfCall  *call,
                     sqlite3  *db,
                     GError  **error)
{
  GVariantDict dict;
  gint64 clinic_id = 0;
  gint64 first_broken = 0;
  guint n_entries = 0;

  g_variant_get (call->params, "(x)", &clinic_id);

  if (!mhf_audit_verify (db, clinic_id, &n_entries, &first_broken, error))
    return FALSE;

  if (first_broken != 0)
    g_message ("The audit log of clinic %" G_GINT64_FORMAT " is broken at entry %" G_GINT64_FORMAT,
               clinic_id, first_broken);

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "intact", "b", first_broken == 0);
  g_variant_dict_insert (&dict, "entries", "u", n_entries);
  g_variant_dict_insert (&dict, "first-broken", "x", first_broken);
  call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
  return TRUE;
}

static gboolean
handle_verify_audit (MhfIpcAgent1          *object,
                     GDBusMethodInvocation *invocation,
                     gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, verify_audit_worker,
                          NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- retention ----------------------------------------------------------------------------------- */

typedef struct
{
  gint64 now;
} PurgeData;

static gboolean
purge_clinic (sqlite3     *db,
              gint64       clinic_id,
              gint64       retention_days,
              gint64       now,
              GError     **error)
{
  g_autoptr(sqlite3_stmt) outbox = NULL;
  g_autoptr(sqlite3_stmt) events = NULL;
  gint64 cutoff = now - retention_days * DAY_USEC;
  int n_outbox, n_events;
  int rc;

  /* Delivery events first: they may point at outbox rows. Only finished
   * rows go; anything still planned or retrying stays whatever its age. */
  rc = sqlite3_prepare_v2 (db, "DELETE FROM delivery_events WHERE clinic_id = ?1 AND at < ?2",
                           -1, &events, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (events, 1, clinic_id);
      sqlite3_bind_int64 (events, 2, cutoff);
      rc = sqlite3_step (events);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Purging delivery events");
      return FALSE;
    }
  n_events = sqlite3_changes (db);

  rc = sqlite3_prepare_v2 (db,
                           "DELETE FROM outbox WHERE clinic_id = ?1 AND updated_at < ?2"
                           "   AND state IN ('sent', 'skipped', 'failed', 'cancelled', 'interrupted')",
                           -1, &outbox, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (outbox, 1, clinic_id);
      sqlite3_bind_int64 (outbox, 2, cutoff);
      rc = sqlite3_step (outbox);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Purging the outbox");
      return FALSE;
    }
  n_outbox = sqlite3_changes (db);

  if (n_outbox > 0 || n_events > 0)
    {
      g_autofree char *summary = NULL;
      MhfAuditEntry entry = { 0 };

      summary = g_strdup_printf ("retention: removed %d outbox rows and %d delivery events older "
                                 "than %" G_GINT64_FORMAT " days",
                                 n_outbox, n_events, retention_days);
      entry.at = now;
      entry.user_name = "(agent)";
      entry.clinic_id = clinic_id;
      entry.action = "retention.purge";
      entry.target = "outbox, delivery events";
      entry.summary = summary;
      if (!mhf_audit_append (db, &entry, error))
        return FALSE;

      g_message ("Retention purge for clinic %" G_GINT64_FORMAT ": %d outbox rows, %d events",
                 clinic_id, n_outbox, n_events);
    }

  return TRUE;
}

/* ---- SetRetention ----------------------------------------------------------------------------- */

#define RETENTION_MIN_DAYS 30
#define RETENTION_MAX_DAYS 3650

static gboolean
set_retention_worker (MhfCall  *call,
                      sqlite3  *db,
                      GError  **error)
{
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  gint64 clinic_id = 0, old = 0;
  guint days = 0;

  g_variant_get (call->params, "(xu)", &clinic_id, &days);
  if (!mhf_store_query_int64 (db, "SELECT retention_days FROM clinics WHERE id = ?1", &old,
                              error, "x", clinic_id))
    return FALSE;
  if (old == 0)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
      return FALSE;
    }
  if (old == days)
    return TRUE;

  if (!mhf_store_exec_bound (db, "UPDATE clinics SET retention_days = ?1 WHERE id = ?2",
                             error, "xx", (gint64) days, clinic_id))
    return FALSE;

  target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, clinic_id);
  summary = g_strdup_printf ("retention: %" G_GINT64_FORMAT " → %u days", old, days);
  if (!mhf_call_audit (call, db, clinic_id, "clinic.retention", target, summary, error))
    return FALSE;

  /* A shorter period applies at once, in the same transaction. */
  return purge_clinic (db, clinic_id, days, call->now, error);
}

static void
set_retention_done (MhfCall *call)
{
  gint64 clinic_id = 0;

  g_variant_get_child (call->params, 0, "x", &clinic_id);
  mhf_ipc_agent1_emit_outbox_changed (MHF_IPC_AGENT1 (call->self), clinic_id);
}

static gboolean
handle_set_retention (MhfIpcAgent1          *object,
                      GDBusMethodInvocation *invocation,
                      gint64                 clinic,
                      guint                  days)
{
  if (days < RETENTION_MIN_DAYS || days > RETENTION_MAX_DAYS)
    {
      g_dbus_method_invocation_return_error (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                             "days: %d to %d", RETENTION_MIN_DAYS,
                                             RETENTION_MAX_DAYS);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, set_retention_worker,
                          set_retention_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
purge_worker (GTask   *task,
              sqlite3 *db,
              gpointer task_data)
{
  PurgeData *data = task_data;
  g_autoptr(sqlite3_stmt) clinics = NULL;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64) * 2);
  g_autoptr(GError) error = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT id, retention_days FROM clinics", -1, &clinics, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (&error, db, rc, "Reading clinics");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  while ((rc = sqlite3_step (clinics)) == SQLITE_ROW)
    {
      gint64 pair[2] = { sqlite3_column_int64 (clinics, 0), sqlite3_column_int64 (clinics, 1) };
      g_array_append_val (ids, pair);
    }

  for (guint i = 0; i < ids->len; i++)
    {
      gint64 *pair = &g_array_index (ids, gint64, i * 2);

      /* One transaction a clinic: its deletions and their audit entry
       * commit together. */
      if (!mhf_store_begin (db, &error) ||
          !purge_clinic (db, pair[0], pair[1], data->now, &error) ||
          !mhf_store_commit (db, &error))
        {
          mhf_store_rollback (db);
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }

  g_task_return_boolean (task, TRUE);
}

static void
purge_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Retention purge failed: %s", error->message);
}

static gboolean
purge_timer_cb (gpointer user_data)
{
  mhf_agent_service_purge_now (MHF_AGENT_SERVICE (user_data));
  return G_SOURCE_CONTINUE;
}

/**
 * mhf_agent_service_purge_now:
 *
 * Removes finished outbox rows and delivery events older than each
 * clinic's retention period, and makes sure the daily purge is scheduled.
 */
void
mhf_agent_service_purge_now (MhfAgentService *self)
{
  PurgeData *data;

  if (self->store == NULL || !mhf_store_is_open (self->store))
    return;

  if (self->purge_timer_id == 0)
    self->purge_timer_id = g_timeout_add_seconds (PURGE_INTERVAL_SECONDS, purge_timer_cb, self);

  data = g_new0 (PurgeData, 1);
  data->now = g_get_real_time ();
  mhf_store_run_async (self->store, purge_worker, data, g_free, self->cancellable,
                       purge_cb, NULL);
}

void
mhf_agent_service_clinics_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_add_clinic = handle_add_clinic;
  iface->handle_list_clinics = handle_list_clinics;
  iface->handle_remove_clinic = handle_remove_clinic;
  iface->handle_set_retention = handle_set_retention;
}

void
mhf_agent_service_audit_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_list_audit = handle_list_audit;
  iface->handle_verify_audit = handle_verify_audit;
}
