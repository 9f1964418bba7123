/* mhf-agent-service-reference.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Cliniko's reference data for a clinic: businesses (name, zone, reply-to
 * address, contact details, whether Cliniko sends its own reminders),
 * practitioners and appointment types. Configuration for rule filters and
 * rendering, not patient data. Refreshed when a key is connected, when the
 * agent starts, and daily.
 *
 * This is also where a key that stopped working is noticed: a 401 marks
 * the clinic "key rejected" (and no retry storm follows), a 403 records
 * which resource the key's user may not read.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-audit.h"
#include "mhf-cliniko-client.h"
#include "mhf-cliniko-limiter.h"
#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-keyring.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define REFRESH_INTERVAL_SECONDS (24 * 60 * 60)

typedef struct
{
  MhfAgentService  *self;
  gint64            clinic_id;
  char             *key;
  char             *base_url;
  char             *fingerprint;
  MhfClinikoClient *client;
  GPtrArray        *businesses;
  GPtrArray        *practitioners;
  GPtrArray        *appointment_types;
  GError           *error;       /* the Cliniko failure, if any */
  char             *failed_path;
} Refresh;

static void
refresh_free (Refresh *r)
{
  g_clear_object (&r->self);
  if (r->key != NULL)
    {
      memset (r->key, 0, strlen (r->key));
      g_free (r->key);
    }
  g_free (r->base_url);
  g_free (r->fingerprint);
  g_clear_object (&r->client);
  g_clear_pointer (&r->businesses, g_ptr_array_unref);
  g_clear_pointer (&r->practitioners, g_ptr_array_unref);
  g_clear_pointer (&r->appointment_types, g_ptr_array_unref);
  g_clear_error (&r->error);
  g_free (r->failed_path);
  g_free (r);
}

static const char *
first_nonempty (const char *a,
                const char *b,
                const char *c)
{
  if (a != NULL && *a != '\0')
    return a;
  if (b != NULL && *b != '\0')
    return b;
  return c != NULL ? c : "";
}

/* ---- the database side (worker thread) ------------------------------------------------ */

static gboolean
insert_item (sqlite3     *db,
             gint64       clinic_id,
             const char  *kind,
             const char  *id,
             const char  *name,
             const char  *details,
             gint64       now,
             GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "INSERT INTO reference_items (clinic_id, kind, cliniko_id, name, details,"
                           "                             updated_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_text (stmt, 2, kind, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 3, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 4, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 5, details, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 6, now);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Saving reference data");
      return FALSE;
    }
  return TRUE;
}

static char *
business_details (JsonObject *row,
                  gboolean   *reminders)
{
  static const char * const fields[] = {
    "time_zone_identifier", "time_zone", "email_reply_to", "address_1", "address_2", "city",
    "state", "post_code", "country", "contact_information", "website_address",
  };
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  JsonNode *node;

  json_builder_begin_object (builder);
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      json_builder_set_member_name (builder, fields[i]);
      json_builder_add_string_value (builder, mhf_cliniko_json_string (row, fields[i]) ?: "");
    }

  *reminders = FALSE;
  node = json_object_has_member (row, "appointment_reminders_enabled")
    ? json_object_get_member (row, "appointment_reminders_enabled") : NULL;
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    *reminders = json_node_get_boolean (node);
  json_builder_set_member_name (builder, "appointment_reminders_enabled");
  json_builder_add_boolean_value (builder, *reminders);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

static void
save_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  Refresh *r = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(sqlite3_stmt) clear = NULL;
  g_autoptr(sqlite3_stmt) update = NULL;
  gint64 now = g_get_real_time ();
  gboolean any_reminders = FALSE;
  int rc;

  if (!mhf_store_begin (db, &error))
    goto failed;

  rc = sqlite3_prepare_v2 (db, "DELETE FROM reference_items WHERE clinic_id = ?1", -1, &clear, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (clear, 1, r->clinic_id);
      rc = sqlite3_step (clear);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (&error, db, rc, "Saving reference data");
      goto failed;
    }

  for (guint i = 0; i < r->businesses->len; i++)
    {
      JsonObject *row = g_ptr_array_index (r->businesses, i);
      g_autofree char *details = NULL;
      gboolean reminders = FALSE;

      details = business_details (row, &reminders);
      any_reminders |= reminders;
      if (!insert_item (db, r->clinic_id, "business", mhf_cliniko_json_string (row, "id"),
                        first_nonempty (mhf_cliniko_json_string (row, "display_name"),
                                        mhf_cliniko_json_string (row, "business_name"),
                                        mhf_cliniko_json_string (row, "label")),
                        details, now, &error))
        goto failed;
    }

  for (guint i = 0; i < r->practitioners->len; i++)
    {
      JsonObject *row = g_ptr_array_index (r->practitioners, i);
      g_autofree char *full = g_strdup_printf ("%s %s", mhf_cliniko_json_string (row, "first_name") ?: "",
                                               mhf_cliniko_json_string (row, "last_name") ?: "");

      /* For a signature: display_name, else label, else the name. */
      if (!insert_item (db, r->clinic_id, "practitioner", mhf_cliniko_json_string (row, "id"),
                        first_nonempty (mhf_cliniko_json_string (row, "display_name"),
                                        mhf_cliniko_json_string (row, "label"), g_strstrip (full)),
                        "{}", now, &error))
        goto failed;
    }

  for (guint i = 0; i < r->appointment_types->len; i++)
    {
      JsonObject *row = g_ptr_array_index (r->appointment_types, i);

      if (!insert_item (db, r->clinic_id, "appointment-type", mhf_cliniko_json_string (row, "id"),
                        first_nonempty (mhf_cliniko_json_string (row, "name"), NULL, ""),
                        "{}", now, &error))
        goto failed;
    }

  rc = sqlite3_prepare_v2 (db,
                           "UPDATE clinics SET reference_refreshed_at = ?1, double_reminders = ?2,"
                           "       cliniko_problem = NULL, key_state = 'ok' WHERE id = ?3",
                           -1, &update, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (update, 1, now);
      sqlite3_bind_int64 (update, 2, any_reminders);
      sqlite3_bind_int64 (update, 3, r->clinic_id);
      rc = sqlite3_step (update);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (&error, db, rc, "Saving reference data");
      goto failed;
    }

  if (!mhf_store_commit (db, &error))
    goto failed;

  g_task_return_boolean (task, TRUE);
  return;

failed:
  mhf_store_rollback (db);
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
problem_worker (GTask   *task,
                sqlite3 *db,
                gpointer task_data)
{
  Refresh *r = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *problem = NULL;
  gboolean rejected = g_error_matches (r->error, MHF_CLINIKO_ERROR,
                                       MHF_CLINIKO_ERROR_UNAUTHORIZED);
  int rc;

  if (rejected)
    problem = g_strdup ("Cliniko refused the API key: connect a new key");
  else if (g_error_matches (r->error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_FORBIDDEN))
    problem = g_strdup_printf ("The Cliniko user of this key may not read %s: give that user "
                               "more permissions in Cliniko", r->failed_path);
  else
    problem = g_strdup_printf ("Cliniko could not be reached: %s", r->error->message);

  if (!mhf_store_begin (db, &error))
    goto failed;

  rc = sqlite3_prepare_v2 (db,
                           "UPDATE clinics SET cliniko_problem = ?1,"
                           "       key_state = CASE WHEN ?2 THEN 'rejected' ELSE key_state END"
                           " WHERE id = ?3",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, problem, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 2, rejected);
      sqlite3_bind_int64 (stmt, 3, r->clinic_id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (&error, db, rc, "Recording a Cliniko problem");
      goto failed;
    }

  if (rejected)
    {
      g_autofree char *target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, r->clinic_id);
      g_autofree char *summary = g_strdup_printf ("Cliniko refused the API key with fingerprint "
                                                  "%s; calls to Cliniko stopped",
                                                  r->fingerprint ?: "?");
      MhfAuditEntry entry = {
        .at = g_get_real_time (),
        .user_name = "(agent)",
        .clinic_id = r->clinic_id,
        .action = "cliniko.key-rejected",
        .target = target,
        .summary = summary,
      };

      if (!mhf_audit_append (db, &entry, &error))
        goto failed;
    }

  if (!mhf_store_commit (db, &error))
    goto failed;

  g_task_return_boolean (task, TRUE);
  return;

failed:
  mhf_store_rollback (db);
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
stored_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Refresh *r = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Clinic %" G_GINT64_FORMAT ": could not save Cliniko reference data: %s",
               r->clinic_id, error->message);
  else if (r->error == NULL)
    {
      g_message ("Clinic %" G_GINT64_FORMAT ": Cliniko reference data refreshed (%u businesses, "
                 "%u practitioners, %u appointment types)", r->clinic_id, r->businesses->len,
                 r->practitioners->len, r->appointment_types->len);
      /* Planning needs the businesses' time zones: scan once they are in. */
      mhf_agent_service_schedule_scans (r->self, r->clinic_id);
    }

  refresh_free (r);
}

/* ---- the Cliniko side (main thread) ---------------------------------------------------------- */

static void list_next (Refresh *r);

static void
failed (Refresh    *r,
        GError     *error,
        const char *path)
{
  r->error = error;
  r->failed_path = g_strdup (path);
  g_message ("Clinic %" G_GINT64_FORMAT ": refreshing Cliniko reference data failed at %s: %s",
             r->clinic_id, path, error->message);
  mhf_store_run_async (r->self->store, problem_worker, r, NULL, NULL, stored_cb, r);
}

static void
listed_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Refresh *r = user_data;
  g_autoptr(GError) error = NULL;
  GPtrArray *rows;

  rows = mhf_cliniko_client_list_finish (r->client, result, &error);
  if (rows == NULL)
    {
      const char *path = r->businesses == NULL ? "/businesses"
                         : r->practitioners == NULL ? "/practitioners" : "/appointment_types";

      failed (r, g_steal_pointer (&error), path);
      return;
    }

  if (r->businesses == NULL)
    r->businesses = rows;
  else if (r->practitioners == NULL)
    r->practitioners = rows;
  else
    r->appointment_types = rows;

  list_next (r);
}

static void
list_next (Refresh *r)
{
  if (r->businesses == NULL)
    mhf_cliniko_client_list_async (r->client, "/businesses", "businesses", NULL, NULL,
                                   listed_cb, r);
  else if (r->practitioners == NULL)
    mhf_cliniko_client_list_async (r->client, "/practitioners", "practitioners", NULL, NULL,
                                   listed_cb, r);
  else if (r->appointment_types == NULL)
    mhf_cliniko_client_list_async (r->client, "/appointment_types", "appointment_types", NULL,
                                   NULL, listed_cb, r);
  else
    mhf_store_run_async (r->self->store, save_worker, r, NULL, NULL, stored_cb, r);
}

/**
 * mhf_agent_service_new_cliniko_client:
 *
 * The one way the agent talks to Cliniko: our User-Agent, and one rate
 * limiter per Cliniko user (keyed by address and key fingerprint until the
 * user's Cliniko id is kept), so that the cap holds across every caller.
 *
 * Returns: (transfer full): a client for @base_url with @key
 */
MhfClinikoClient *
mhf_agent_service_new_cliniko_client (MhfAgentService *self,
                                      const char      *base_url,
                                      const char      *key,
                                      const char      *fingerprint)
{
  g_autofree char *id = g_strdup_printf ("%s|%s", base_url, fingerprint ?: "");
  MhfClinikoLimiter *limiter;
  MhfClinikoClient *client;

  if (self->limiters == NULL)
    self->limiters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);

  limiter = g_hash_table_lookup (self->limiters, id);
  if (limiter == NULL)
    {
      limiter = mhf_cliniko_limiter_new (180, 60 * 1000);
      g_hash_table_insert (self->limiters, g_steal_pointer (&id), limiter);
    }

  client = mhf_cliniko_client_new (base_url, key, mhf_cliniko_user_agent (), limiter);

  /* A test hook: short retries, so that an unreachable Cliniko fails fast. */
  if (g_getenv ("MHF_AGENT_CLINIKO_FAST_RETRY") != NULL)
    mhf_cliniko_client_set_retry (client, 2, 10);

  return client;
}

static void
start_listing (Refresh *r)
{
  r->client = mhf_agent_service_new_cliniko_client (r->self, r->base_url, r->key, r->fingerprint);
  list_next (r);
}

static void
key_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  Refresh *r = user_data;
  g_autoptr(GError) error = NULL;

  r->key = mhf_keyring_lookup_finish (result, &error);
  if (r->key == NULL)
    {
      g_message ("Clinic %" G_GINT64_FORMAT ": no Cliniko key to refresh with%s%s", r->clinic_id,
                 error != NULL ? ": " : "", error != NULL ? error->message : "");
      refresh_free (r);
      return;
    }

  start_listing (r);
}

typedef struct
{
  gint64  id;
  char   *base_url;
  char   *fingerprint;
} Connected;

static void
connected_free (gpointer data)
{
  Connected *c = data;

  g_free (c->base_url);
  g_free (c->fingerprint);
  g_free (c);
}

static void
connected_worker (GTask   *task,
                  sqlite3 *db,
                  gpointer task_data)
{
  gint64 only = GPOINTER_TO_SIZE (task_data) ? *(gint64 *) task_data : 0;
  g_autoptr(GPtrArray) clinics = g_ptr_array_new_with_free_func (connected_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GError) error = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, base_url_override, cliniko_shard, key_fingerprint FROM clinics"
                           " WHERE key_fingerprint IS NOT NULL AND key_state != 'rejected'"
                           "   AND (?1 = 0 OR id = ?1)",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (&error, db, rc, "Reading clinics");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  sqlite3_bind_int64 (stmt, 1, only);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      Connected *c = g_new0 (Connected, 1);
      const char *override = (const char *) sqlite3_column_text (stmt, 1);
      const char *shard = (const char *) sqlite3_column_text (stmt, 2);

      c->id = sqlite3_column_int64 (stmt, 0);
      c->base_url = override != NULL ? g_strdup (override)
                                     : mhf_cliniko_base_url_for_shard (shard ?: "au1");
      c->fingerprint = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
      g_ptr_array_add (clinics, c);
    }

  g_task_return_pointer (task, g_steal_pointer (&clinics), (GDestroyNotify) g_ptr_array_unref);
}

typedef struct
{
  MhfAgentService *self;
  char            *key;
  gint64           clinic_id;
} Start;

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Start *start = user_data;
  g_autoptr(GPtrArray) clinics = NULL;
  g_autoptr(GError) error = NULL;

  clinics = g_task_propagate_pointer (G_TASK (result), &error);
  for (guint i = 0; clinics != NULL && i < clinics->len; i++)
    {
      Connected *c = g_ptr_array_index (clinics, i);
      Refresh *r = g_new0 (Refresh, 1);
      g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, c->id);

      r->self = g_object_ref (start->self);
      r->clinic_id = c->id;
      r->base_url = g_strdup (c->base_url);
      r->fingerprint = g_strdup (c->fingerprint);

      if (start->key != NULL && start->clinic_id == c->id)
        {
          r->key = g_strdup (start->key);
          start_listing (r);
        }
      else
        mhf_keyring_lookup_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, NULL, key_cb, r);
    }

  g_object_unref (start->self);
  if (start->key != NULL)
    {
      memset (start->key, 0, strlen (start->key));
      g_free (start->key);
    }
  g_free (start);
}

/**
 * mhf_agent_service_refresh_reference:
 * @clinic_id: the clinic, or 0 for every connected clinic
 * @key: (nullable): the clinic's key when the caller has it at hand (just
 *   connected); otherwise it is read from the keyring
 *
 * Refreshes Cliniko's reference data in the background.
 */
void
mhf_agent_service_refresh_reference (MhfAgentService *self,
                                     gint64           clinic_id,
                                     const char      *key)
{
  Start *start;
  gint64 *only = NULL;

  if (self->store == NULL || !mhf_store_is_open (self->store))
    return;

  start = g_new0 (Start, 1);
  start->self = g_object_ref (self);
  start->key = g_strdup (key);
  start->clinic_id = clinic_id;

  if (clinic_id > 0)
    {
      only = g_new (gint64, 1);
      *only = clinic_id;
    }
  mhf_store_run_async (self->store, connected_worker, only, g_free, NULL, connected_cb, start);
}

static gboolean
refresh_timer_cb (gpointer user_data)
{
  mhf_agent_service_refresh_reference (MHF_AGENT_SERVICE (user_data), 0, NULL);
  return G_SOURCE_CONTINUE;
}

/**
 * mhf_agent_service_schedule_reference_refresh:
 *
 * Refreshes every connected clinic now and then daily.
 */
void
mhf_agent_service_schedule_reference_refresh (MhfAgentService *self)
{
  if (self->reference_timer_id == 0)
    self->reference_timer_id = g_timeout_add_seconds (REFRESH_INTERVAL_SECONDS,
                                                      refresh_timer_cb, self);
  mhf_agent_service_refresh_reference (self, 0, NULL);
}

/**
 * mhf_agent_service_record_cliniko_problem:
 * @path: the resource that failed, for the sentence
 * @error: what the Cliniko client said
 *
 * Records, in the background, the problem a scan or a send had with
 * Cliniko, as a reference refresh does: a refused key marks the clinic
 * "key rejected" (audited) so that nothing calls Cliniko with it again.
 */
void
mhf_agent_service_record_cliniko_problem (MhfAgentService *self,
                                          gint64           clinic_id,
                                          const char      *fingerprint,
                                          const char      *path,
                                          const GError    *error)
{
  Refresh *r = g_new0 (Refresh, 1);

  r->self = g_object_ref (self);
  r->clinic_id = clinic_id;
  r->fingerprint = g_strdup (fingerprint);
  r->error = g_error_copy (error);
  r->failed_path = g_strdup (path);
  mhf_store_run_async (self->store, problem_worker, r, NULL, NULL, stored_cb, r);
}
