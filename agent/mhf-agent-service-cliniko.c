/* mhf-agent-service-cliniko.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Connecting a clinic to Cliniko: the API key goes to the keyring, and
 * only its fingerprint and what Cliniko says about it go to the database.
 * The key never appears in a reply, a log line or an error message.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-audit.h"
#include "mhf-cliniko-client.h"
#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-keyring.h"
#include "mhf-reason.h"

#include <json-glib/json-glib.h>
#include <string.h>

typedef struct
{
  gboolean  exists;
  char     *name;
  char     *base_url_override;
  char     *fingerprint;
  char     *shard;
  char     *user_name;
  char     *user_role;
  char     *account_name;
  char     *time_zone;
  char     *terminology;
  char     *key_state;
  gint64    connected_at;
  gboolean  paused;
  gint64    reference_refreshed_at;
  gboolean  double_reminders;
  char     *problem;
  guint     n_businesses;
  guint     n_practitioners;
  guint     n_appointment_types;
  guint     scan_interval;
  const char *sending_paused;  /* a reason code, NULL when it can send */
} ClinicRow;

static void
clinic_row_free (ClinicRow *row)
{
  g_free (row->name);
  g_free (row->base_url_override);
  g_free (row->fingerprint);
  g_free (row->shard);
  g_free (row->user_name);
  g_free (row->user_role);
  g_free (row->account_name);
  g_free (row->time_zone);
  g_free (row->terminology);
  g_free (row->key_state);
  g_free (row->problem);
  g_free (row);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClinicRow, clinic_row_free)

static gboolean
read_clinic (sqlite3     *db,
             gint64       clinic_id,
             ClinicRow  **out,
             GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  ClinicRow *row;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT name, base_url_override, key_fingerprint, cliniko_shard,"
                           "       cliniko_user_name, cliniko_user_role, account_name, time_zone,"
                           "       key_state, coalesce(connected_at, 0), paused,"
                           "       coalesce(reference_refreshed_at, 0), double_reminders,"
                           "       cliniko_problem,"
                           "       (SELECT count(*) FROM reference_items r WHERE r.clinic_id = c.id"
                           "          AND r.kind = 'business'),"
                           "       (SELECT count(*) FROM reference_items r WHERE r.clinic_id = c.id"
                           "          AND r.kind = 'practitioner'),"
                           "       (SELECT count(*) FROM reference_items r WHERE r.clinic_id = c.id"
                           "          AND r.kind = 'appointment-type'),"
                           "       scan_interval_min,"
                           "       CASE WHEN c.email_transport IS NULL THEN 1"
                           "            WHEN c.email_problem IS NOT NULL THEN 2"
                           "            WHEN c.paused THEN 3 ELSE 0 END"
                           "  FROM clinics c WHERE id = ?1",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      rc = sqlite3_step (stmt);
    }

  row = g_new0 (ClinicRow, 1);
  *out = row;
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading a clinic");
      return FALSE;
    }

  row->exists = TRUE;
  row->name = mhf_store_column_dup (stmt, 0);
  row->base_url_override = mhf_store_column_dup (stmt, 1);
  row->fingerprint = mhf_store_column_dup (stmt, 2);
  row->shard = mhf_store_column_dup (stmt, 3);
  row->user_name = mhf_store_column_dup (stmt, 4);
  row->user_role = mhf_store_column_dup (stmt, 5);
  row->account_name = mhf_store_column_dup (stmt, 6);
  row->time_zone = mhf_store_column_dup (stmt, 7);
  row->key_state = mhf_store_column_dup (stmt, 8);
  row->connected_at = sqlite3_column_int64 (stmt, 9);
  row->paused = sqlite3_column_int64 (stmt, 10) != 0;
  row->reference_refreshed_at = sqlite3_column_int64 (stmt, 11);
  row->double_reminders = sqlite3_column_int64 (stmt, 12) != 0;
  row->problem = mhf_store_column_dup (stmt, 13);
  row->n_businesses = (guint) sqlite3_column_int64 (stmt, 14);
  row->n_practitioners = (guint) sqlite3_column_int64 (stmt, 15);
  row->n_appointment_types = (guint) sqlite3_column_int64 (stmt, 16);
  row->scan_interval = (guint) sqlite3_column_int64 (stmt, 17);
  switch (sqlite3_column_int (stmt, 18))
    {
    case 1:
      row->sending_paused = MHF_REASON_NO_EMAIL_SETTINGS;
      break;
    case 2:
      row->sending_paused = MHF_REASON_SMTP_LOGIN_FAILED;
      break;
    case 3:
      row->sending_paused = MHF_REASON_SENDING_PAUSED;
      break;
    default:
      row->sending_paused = NULL;
      break;
    }
  return TRUE;
}

static gboolean
audit (MhfCall     *call,
       sqlite3     *db,
       gint64       clinic_id,
       const char  *action,
       const char  *summary,
       GError     **error)
{
  g_autofree char *target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, clinic_id);

  return mhf_call_audit (call, db, clinic_id, action, target, summary, error);
}

static void
add_summary (GVariantDict *dict,
             ClinicRow    *row)
{
  g_variant_dict_insert (dict, "fingerprint", "s", row->fingerprint ?: "");
  g_variant_dict_insert (dict, "shard", "s", row->shard ?: "");
  g_variant_dict_insert (dict, "user-name", "s", row->user_name ?: "");
  g_variant_dict_insert (dict, "user-role", "s", row->user_role ?: "");
  g_variant_dict_insert (dict, "account-name", "s", row->account_name ?: "");
  g_variant_dict_insert (dict, "time-zone", "s", row->time_zone ?: "");
  g_variant_dict_insert (dict, "connected-at", "x", row->connected_at);
}

/* ---- GetClinikoStatus ---------------------------------------------------------------------- */

static gboolean
get_status_worker (MhfCall  *call,
                   sqlite3  *db,
                   GError  **error)
{
  g_autoptr(ClinicRow) row = NULL;
  GVariantDict dict;
  gint64 clinic_id = 0;
  gboolean connected;

  g_variant_get (call->params, "(x)", &clinic_id);
  if (!read_clinic (db, clinic_id, &row, error))
    return FALSE;
  if (!row->exists)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
      return FALSE;
    }

  connected = row->fingerprint != NULL && *row->fingerprint != '\0';
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "connected", "b", connected);
  g_variant_dict_insert (&dict, "key-state", "s", row->key_state ?: "none");
  g_variant_dict_insert (&dict, "paused", "b", row->paused);
  g_variant_dict_insert (&dict, "base-url-override", "s", row->base_url_override ?: "");
  g_variant_dict_insert (&dict, "problem", "s", row->problem ?: "");
  g_variant_dict_insert (&dict, "double-reminders", "b", row->double_reminders);
  g_variant_dict_insert (&dict, "reference-refreshed-at", "x", row->reference_refreshed_at);
  g_variant_dict_insert (&dict, "businesses", "u", row->n_businesses);
  g_variant_dict_insert (&dict, "practitioners", "u", row->n_practitioners);
  g_variant_dict_insert (&dict, "appointment-types", "u", row->n_appointment_types);
  g_variant_dict_insert (&dict, "scan-interval", "u", row->scan_interval);
  g_variant_dict_insert (&dict, "sending-paused-reason", "s", row->sending_paused ?: "");
  g_variant_dict_insert (&dict, "sending-paused-text", "s",
                         row->sending_paused != NULL ? mhf_reason_describe (row->sending_paused)
                                                     : "");
  if (connected)
    add_summary (&dict, row);

  call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
  return TRUE;
}

/* The scanner lives on the main thread: its times join the reply here. */
static void
get_status_done (MhfCall *call)
{
  g_autoptr(GVariant) status = NULL;
  GVariantDict dict;
  gint64 clinic_id = 0, last_at = 0, next_at = 0;
  gboolean last_ok = FALSE;

  g_variant_get (call->params, "(x)", &clinic_id);
  mhf_agent_service_get_scan_times (call->self, clinic_id, &last_at, &last_ok, &next_at);

  status = g_variant_get_child_value (call->reply, 0);
  g_variant_dict_init (&dict, status);
  g_variant_dict_insert (&dict, "last-scan-at", "x", last_at);
  g_variant_dict_insert (&dict, "last-scan-ok", "b", last_ok);
  g_variant_dict_insert (&dict, "next-scan-at", "x", next_at);
  /* The licence is the agent's, not the clinic's: it is known here. */
  if (!mhf_agent_service_licence_allows_sending (call->self))
    {
      g_variant_dict_insert (&dict, "sending-paused-reason", "s", MHF_REASON_LICENCE_INACTIVE);
      g_variant_dict_insert (&dict, "sending-paused-text", "s",
                             mhf_reason_describe (MHF_REASON_LICENCE_INACTIVE));
    }
  g_clear_pointer (&call->reply, g_variant_unref);
  call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
}

static gboolean
handle_get_cliniko_status (MhfIpcAgent1          *object,
                           GDBusMethodInvocation *invocation,
                           gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, get_status_worker,
                          get_status_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ListReference ------------------------------------------------------------------------------ */

static gboolean
list_reference_worker (MhfCall  *call,
                       sqlite3  *db,
                       GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder items;
  gint64 clinic_id = 0;
  int rc;

  g_variant_get (call->params, "(x)", &clinic_id);
  rc = sqlite3_prepare_v2 (db,
                           "SELECT kind, cliniko_id, name FROM reference_items WHERE clinic_id = ?1"
                           " ORDER BY kind, name, cliniko_id",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading reference items");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);

  g_variant_builder_init (&items, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      GVariantDict dict;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "kind", "s", sqlite3_column_text (stmt, 0));
      g_variant_dict_insert (&dict, "id", "s", sqlite3_column_text (stmt, 1));
      g_variant_dict_insert (&dict, "name", "s", sqlite3_column_text (stmt, 2));
      g_variant_builder_add_value (&items, g_variant_dict_end (&dict));
    }
  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&items);
      mhf_store_set_error (error, db, rc, "Reading reference items");
      return FALSE;
    }
  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv})", &items));
  return TRUE;
}

static gboolean
handle_list_reference (MhfIpcAgent1          *object,
                       GDBusMethodInvocation *invocation,
                       gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_reference_worker, NULL,
                          NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- SetClinikoBaseUrl -------------------------------------------------------------------------- */

static gboolean
set_base_url_worker (MhfCall  *call,
                     sqlite3  *db,
                     GError  **error)
{
  g_autoptr(ClinicRow) row = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *summary = NULL;
  const char *url = NULL;
  gint64 clinic_id = 0;
  int rc;

  g_variant_get (call->params, "(x&s)", &clinic_id, &url);
  if (!read_clinic (db, clinic_id, &row, error))
    return FALSE;
  if (!row->exists)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
      return FALSE;
    }

  rc = sqlite3_prepare_v2 (db, "UPDATE clinics SET base_url_override = nullif(?1, '') WHERE id = ?2",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, url, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 2, clinic_id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Saving the Cliniko address");
      return FALSE;
    }

  summary = g_strdup_printf ("Cliniko address: %s → %s",
                             row->base_url_override ?: "Cliniko",
                             *url != '\0' ? url : "Cliniko");
  return audit (call, db, clinic_id, "cliniko.base-url", summary, error);
}

static gboolean
handle_set_cliniko_base_url (MhfIpcAgent1          *object,
                             GDBusMethodInvocation *invocation,
                             gint64                 clinic,
                             const char            *url)
{
  g_autoptr(GError) error = NULL;

  if (*url != '\0' && !mhf_cliniko_base_url_is_allowed_override (url, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, set_base_url_worker,
                          NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- SetClinikoKey ------------------------------------------------------------------------------ */

typedef struct
{
  MhfAgentService       *self;
  GDBusMethodInvocation *invocation;
  gint64                 clinic_id;
  char                  *key;
  char                  *shard;
  char                  *fingerprint;
  MhfClinikoClient      *client;
  ClinicRow             *result;    /* what goes into the database */
  char                  *old_fingerprint;
} Connect;

static void
connect_free (Connect *c)
{
  g_clear_object (&c->self);
  g_clear_object (&c->invocation);
  if (c->key != NULL)
    {
      memset (c->key, 0, strlen (c->key));
      g_free (c->key);
    }
  g_free (c->shard);
  g_free (c->fingerprint);
  g_free (c->old_fingerprint);
  g_clear_object (&c->client);
  g_clear_pointer (&c->result, clinic_row_free);
  g_free (c);
}

static void
connect_fail (Connect *c,
              GError  *error)
{
  GError *reply;

  /* Cliniko's errors become ours, with a sentence for people. */
  if (g_error_matches (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED))
    reply = g_error_new_literal (MHF_ERROR, MHF_ERROR_CLINIKO_KEY_REJECTED,
                                 "Cliniko refused this API key. Check that it was copied whole "
                                 "and belongs to this clinic's Cliniko account; nothing was changed");
  else if (g_error_matches (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_NETWORK) ||
           g_error_matches (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_SERVER) ||
           g_error_matches (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_RATE_LIMITED))
    reply = g_error_new (MHF_ERROR, MHF_ERROR_NETWORK,
                         "Cliniko could not be reached (%s); nothing was changed", error->message);
  else if (error->domain == MHF_ERROR)
    reply = g_error_copy (error);
  else
    reply = g_error_new (MHF_ERROR, MHF_ERROR_FAILED,
                         "Cliniko's answer could not be used (%s); nothing was changed",
                         error->message);

  g_debug ("Connecting clinic %" G_GINT64_FORMAT " failed: %s", c->clinic_id, error->message);
  g_dbus_method_invocation_return_gerror (c->invocation, reply);
  g_error_free (reply);
  g_error_free (error);
  connect_free (c);
}

static gboolean
save_connection_worker (MhfCall  *call,
                        sqlite3  *db,
                        GError  **error)
{
  Connect *c = call->data;
  ClinicRow *r = c->result;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *summary = NULL;
  GVariantDict dict;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "UPDATE clinics SET cliniko_shard = ?1, key_fingerprint = ?2,"
                           "       cliniko_user_name = ?3, cliniko_user_role = ?4,"
                           "       account_name = ?5, time_zone = ?6, connected_at = ?7,"
                           "       key_state = 'ok', paused = 0, cliniko_problem = NULL,"
                           "       terminology_patient = ?9"
                           " WHERE id = ?8",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, r->shard, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 2, r->fingerprint, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 3, r->user_name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 4, r->user_role, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 5, r->account_name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 6, r->time_zone, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 7, call->now);
      sqlite3_bind_int64 (stmt, 8, c->clinic_id);
      if (r->terminology != NULL && *r->terminology != '\0')
        sqlite3_bind_text (stmt, 9, r->terminology, -1, SQLITE_TRANSIENT);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE || sqlite3_changes (db) != 1)
    {
      if (rc == SQLITE_DONE)
        g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_FOUND, "The clinic was removed");
      else
        mhf_store_set_error (error, db, rc, "Saving the Cliniko connection");
      return FALSE;
    }
  r->connected_at = call->now;

  /* For a secret, only "changed, fingerprint A → B". */
  summary = g_strdup_printf ("Cliniko API key changed, fingerprint %s → %s (shard %s, user %s)",
                             c->old_fingerprint != NULL ? c->old_fingerprint : "none",
                             r->fingerprint, r->shard, r->user_name);
  if (!audit (call, db, c->clinic_id, "cliniko.key", summary, error))
    return FALSE;

  g_variant_dict_init (&dict, NULL);
  add_summary (&dict, r);
  call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
  return TRUE;
}

static void
connect_done (MhfCall *call)
{
  Connect *c = call->data;

  /* Businesses, practitioners and appointment types, in the background. */
  mhf_agent_service_refresh_reference (c->self, c->clinic_id, c->key);
}

static void
connect_stored_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Connect *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_keyring_store_finish (result, &error))
    {
      connect_fail (c, g_steal_pointer (&error));
      return;
    }

  g_message ("Clinic %" G_GINT64_FORMAT " connected to Cliniko (key %s)",
             c->clinic_id, c->fingerprint);

  /* The key is in the keyring; the database gets its fingerprint. The
   * call machinery answers the invocation and owns the rest. */
  mhf_agent_service_call (c->self, c->invocation, save_connection_worker,
                          connect_done, c, (GDestroyNotify) connect_free);
}

static void
connect_store_key (Connect *c)
{
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, c->clinic_id);
  g_autofree char *label = g_strdup_printf ("MyHealthFollowup Cliniko API key (clinic %s)", clinic);

  /* Replacing happens only now, after the new key was checked: until
   * here the old key stayed in place and in use. */
  mhf_keyring_store_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, label, c->key,
                           NULL, connect_stored_cb, c);
}

static void
connect_settings_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Connect *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *account = NULL;
  const char *label;

  root = mhf_cliniko_client_get_finish (c->client, result, &error);
  if (g_error_matches (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_FORBIDDEN) &&
      !g_object_get_data (G_OBJECT (c->client), "mhf-tried-public"))
    {
      /* Users who may not see the settings can still read the public
       * part, which has the account's name and zone. */
      g_object_set_data (G_OBJECT (c->client), "mhf-tried-public", GINT_TO_POINTER (1));
      mhf_cliniko_client_get_async (c->client, "/settings/public", NULL, NULL,
                                    connect_settings_cb, c);
      return;
    }
  if (root == NULL)
    {
      connect_fail (c, g_steal_pointer (&error));
      return;
    }

  if (JSON_NODE_HOLDS_OBJECT (root) &&
      json_object_has_member (json_node_get_object (root), "account") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (json_node_get_object (root), "account")))
    account = json_object_get_object_member (json_node_get_object (root), "account");

  c->result->account_name = g_strdup (mhf_cliniko_json_string (account, "name") ?: "");
  if (JSON_NODE_HOLDS_OBJECT (root) &&
      json_object_has_member (json_node_get_object (root), "terminology") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (json_node_get_object (root), "terminology")))
    c->result->terminology = g_strdup (mhf_cliniko_json_string (
      json_object_get_object_member (json_node_get_object (root), "terminology"), "patient"));
  label = mhf_cliniko_json_string (account, "time_zone");
  c->result->time_zone = g_strdup (mhf_cliniko_rails_zone_to_iana (label) ?: "");
  if (label != NULL && *c->result->time_zone == '\0')
    g_message ("Clinic %" G_GINT64_FORMAT ": Cliniko's time zone label is not in the table; "
               "the businesses' own zones will be used", c->clinic_id);

  connect_store_key (c);
}

static void
connect_user_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Connect *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *user;
  const char *first, *last;

  root = mhf_cliniko_client_get_finish (c->client, result, &error);
  if (root == NULL)
    {
      connect_fail (c, g_steal_pointer (&error));
      return;
    }

  user = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  first = mhf_cliniko_json_string (user, "first_name");
  last = mhf_cliniko_json_string (user, "last_name");
  c->result->user_name = g_strstrip (g_strdup_printf ("%s %s", first ?: "", last ?: ""));
  c->result->user_role = g_strdup (mhf_cliniko_json_string (user, "role") ?: "");

  mhf_cliniko_client_get_async (c->client, "/settings", NULL, NULL, connect_settings_cb, c);
}

static void
connect_read_clinic_worker (GTask   *task,
                            sqlite3 *db,
                            gpointer task_data)
{
  Connect *c = task_data;
  g_autoptr(GError) error = NULL;
  ClinicRow *row = NULL;

  if (!read_clinic (db, c->clinic_id, &row, &error))
    {
      clinic_row_free (row);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, row, (GDestroyNotify) clinic_row_free);
}

static void
connect_read_clinic_cb (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  Connect *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ClinicRow) row = NULL;
  g_autofree char *base_url = NULL;

  row = g_task_propagate_pointer (G_TASK (result), &error);
  if (row == NULL)
    {
      connect_fail (c, g_steal_pointer (&error));
      return;
    }
  if (!row->exists)
    {
      connect_fail (c, g_error_new (MHF_ERROR, MHF_ERROR_NOT_FOUND,
                                    "No clinic has the id %" G_GINT64_FORMAT, c->clinic_id));
      return;
    }

  c->old_fingerprint = g_strdup (row->fingerprint);
  base_url = row->base_url_override != NULL
    ? g_strdup (row->base_url_override)
    : mhf_cliniko_base_url_for_shard (c->shard);

  c->result = g_new0 (ClinicRow, 1);
  c->result->shard = g_strdup (c->shard);
  c->result->fingerprint = g_strdup (c->fingerprint);

  c->client = mhf_agent_service_new_cliniko_client (c->self, base_url, c->key, c->fingerprint);
  mhf_cliniko_client_get_async (c->client, "/user", NULL, NULL, connect_user_cb, c);
}

static gboolean
handle_set_cliniko_key (MhfIpcAgent1          *object,
                        GDBusMethodInvocation *invocation,
                        gint64                 clinic,
                        const char            *key)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  g_autoptr(GError) error = NULL;
  g_autofree char *trimmed = g_strstrip (g_strdup (key));
  g_autofree char *shard = NULL;
  Connect *c;

  if (*trimmed == '\0')
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                                     "key: paste the API key from Cliniko "
                                                     "(My Info → Manage API keys)");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (!mhf_cliniko_shard_from_key (trimmed, &shard, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (self->store == NULL || !mhf_store_is_open (self->store))
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_DATABASE_UNAVAILABLE,
                                                     "The database is not open; see GetStatus");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  c = g_new0 (Connect, 1);
  c->self = g_object_ref (self);
  c->invocation = g_object_ref (invocation);
  c->clinic_id = clinic;
  c->key = g_steal_pointer (&trimmed);
  c->shard = g_steal_pointer (&shard);
  c->fingerprint = mhf_cliniko_key_fingerprint (c->key);

  mhf_store_run_async (self->store, connect_read_clinic_worker, c, NULL, NULL,
                       connect_read_clinic_cb, c);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- RemoveClinikoKey ------------------------------------------------------------------------------ */

static gboolean
remove_key_worker (MhfCall  *call,
                   sqlite3  *db,
                   GError  **error)
{
  g_autoptr(ClinicRow) row = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *summary = NULL;
  gint64 clinic_id = 0;
  int rc;

  g_variant_get (call->params, "(x)", &clinic_id);
  if (!read_clinic (db, clinic_id, &row, error))
    return FALSE;
  if (!row->exists)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
      return FALSE;
    }

  rc = sqlite3_prepare_v2 (db,
                           "UPDATE clinics SET key_fingerprint = NULL, key_state = 'none',"
                           "       paused = 1 WHERE id = ?1",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Removing the Cliniko key");
      return FALSE;
    }

  summary = g_strdup_printf ("Cliniko API key removed, fingerprint %s → none; clinic paused",
                             row->fingerprint != NULL ? row->fingerprint : "none");
  return audit (call, db, clinic_id, "cliniko.key-removed", summary, error);
}

static void
remove_key_cleared_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!mhf_keyring_clear_finish (result, &error) && error != NULL)
    g_message ("Could not remove a Cliniko key from the keyring: %s", error->message);
}

static void
remove_key_done (MhfCall *call)
{
  g_autofree char *clinic = NULL;
  gint64 clinic_id = 0;

  g_variant_get (call->params, "(x)", &clinic_id);
  /* Not connected: no timed scans until a key is set again. */
  mhf_agent_service_stop_clinic_scans (call->self, clinic_id);
  clinic = g_strdup_printf ("%" G_GINT64_FORMAT, clinic_id);
  mhf_keyring_clear_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, NULL,
                           remove_key_cleared_cb, NULL);
}

static gboolean
handle_remove_cliniko_key (MhfIpcAgent1          *object,
                           GDBusMethodInvocation *invocation,
                           gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, remove_key_worker,
                          remove_key_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_cliniko_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_get_cliniko_status = handle_get_cliniko_status;
  iface->handle_list_reference = handle_list_reference;
  iface->handle_set_cliniko_base_url = handle_set_cliniko_base_url;
  iface->handle_set_cliniko_key = handle_set_cliniko_key;
  iface->handle_remove_cliniko_key = handle_remove_cliniko_key;
}
