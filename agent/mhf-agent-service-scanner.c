/* mhf-agent-service-scanner.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The scanner: per clinic, on a timer (default every 5 minutes) and on
 * ScanNow(), it reads from Cliniko
 *
 *  - the planning horizon: appointments and classes starting from
 *    (now − how far after the end the rules reach − 1 day) to (now + how
 *    far before the start they reach + 2 days), once, then one more day
 *    whenever the horizon comes within a day of its end;
 *  - what changed since the last scan (updated_at ≥ cursor − 2 minutes,
 *    cancelled and archived rows included) and the deleted lists;
 *  - for each class it saw, its attendees (one outbox row per place);
 *
 * and plans and reconciles in one transaction that also moves the cursors,
 * so a scan that dies half-way leaves the cursors where they were and the
 * next one does the work again (the outbox's UNIQUE key makes that
 * harmless). In a steady state with nothing changed a scan reads six short
 * lists: changed and deleted individual appointments, classes and
 * attendees.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-audit.h"
#include "mhf-cliniko-client.h"
#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-keyring.h"
#include "mhf-reason.h"
#include "mhf-scan.h"

#include <string.h>

#define DAY_USEC        ((gint64) 24 * 60 * 60 * G_USEC_PER_SEC)
#define OVERLAP_USEC    ((gint64) 2 * 60 * G_USEC_PER_SEC)
#define ID_BATCH        100

typedef enum
{
  FETCH_APPOINTMENTS,
  FETCH_APPOINTMENTS_DELETED,
  FETCH_GROUPS,
  FETCH_GROUPS_DELETED,
  FETCH_ATTENDEES_CHANGED,
  FETCH_ATTENDEES_DELETED,
  FETCH_ATTENDEES_OF_GROUPS,
} FetchKind;

typedef struct
{
  FetchKind  kind;
  char      *path;
  char      *collection;
  GStrv      params;
} Fetch;

typedef struct
{
  MhfAgentService  *self;
  gint64            clinic_id;
  GPtrArray        *waiters;        /* GDBusMethodInvocation */
  GPtrArray        *actors;         /* user names, for the audit log */
  /* Asked for while this scan ran: a scan starts again when it ends, so
   * that what changed meanwhile (a rule enabled…) is planned. */
  gboolean          again;
  GPtrArray        *next_waiters;
  GPtrArray        *next_actors;
  gint64            now;

  /* read from the database */
  char             *base_url;
  char             *fingerprint;
  GTimeZone        *account_zone;
  GHashTable       *zones;          /* business id -> GTimeZone */
  GPtrArray        *rules;          /* MhfScanRule */
  gint64            cursor;         /* updated_at high-water mark, 0 = none */
  gint64            rules_version;  /* the rules' latest change, when read */
  gint64            horizon_end;    /* starts_at read up to here, 0 = none */

  char             *key;
  MhfClinikoClient *client;
  GQueue            fetches;
  Fetch            *current;
  guint             done;
  guint             total;

  GHashTable       *groups;         /* id -> JsonObject, whose attendees are wanted */
  GHashTable       *attendees_read; /* group ids whose attendees were read */
  GHashTable       *missing_groups; /* ids of classes only known from an attendee */
  GPtrArray        *items;          /* MhfScanItem */
  gint64            new_cursor;
  gint64            new_horizon_end;
  gboolean          full;
  MhfScanCounts     counts;
} Scan;

static void
fetch_free (Fetch *fetch)
{
  if (fetch == NULL)
    return;
  g_free (fetch->path);
  g_free (fetch->collection);
  g_strfreev (fetch->params);
  g_free (fetch);
}

static void
scan_free (Scan *scan)
{
  g_clear_object (&scan->self);
  g_clear_pointer (&scan->waiters, g_ptr_array_unref);
  g_clear_pointer (&scan->actors, g_ptr_array_unref);
  g_clear_pointer (&scan->next_waiters, g_ptr_array_unref);
  g_clear_pointer (&scan->next_actors, g_ptr_array_unref);
  g_free (scan->base_url);
  g_free (scan->fingerprint);
  g_clear_pointer (&scan->account_zone, g_time_zone_unref);
  g_clear_pointer (&scan->zones, g_hash_table_unref);
  g_clear_pointer (&scan->rules, g_ptr_array_unref);
  if (scan->key != NULL)
    {
      memset (scan->key, 0, strlen (scan->key));
      g_free (scan->key);
    }
  g_clear_object (&scan->client);
  g_queue_clear_full (&scan->fetches, (GDestroyNotify) fetch_free);
  fetch_free (scan->current);
  g_clear_pointer (&scan->groups, g_hash_table_unref);
  g_clear_pointer (&scan->attendees_read, g_hash_table_unref);
  g_clear_pointer (&scan->missing_groups, g_hash_table_unref);
  g_clear_pointer (&scan->items, g_ptr_array_unref);
  g_free (scan);
}

static char *
format_time (gint64 usec)
{
  g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);

  return g_date_time_format (at, "%Y-%m-%dT%H:%M:%SZ");
}

/* ---- timers ---------------------------------------------------------------------------------- */

/* A clinic's scan timer, and when it fires next (wall clock, for
 * GetClinikoStatus). */
typedef struct
{
  guint  source_id;
  guint  minutes;
  gint64 next_at;
} ScanTimer;

/* How a clinic's last scan since the agent started went. */
typedef struct
{
  gint64   at;
  gboolean ok;
} ScanResult;

static gint64
timer_interval_usec (MhfAgentService *self,
                     guint            minutes)
{
  return MAX (1000, (gint64) minutes * self->minute_usec);
}

static gboolean
scan_timer_cb (gpointer user_data)
{
  MhfAgentService *self = g_object_get_data (G_OBJECT (user_data), "service");
  gint64 clinic_id = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (user_data), "clinic"));
  ScanTimer *timer = NULL;

  if (self->scan_timers != NULL)
    timer = g_hash_table_lookup (self->scan_timers, &clinic_id);
  if (timer != NULL)
    timer->next_at = g_get_real_time () + timer_interval_usec (self, timer->minutes);

  mhf_agent_service_scan_clinic (self, clinic_id, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

static void
scan_timer_free (gpointer data)
{
  ScanTimer *timer = data;

  g_source_remove (timer->source_id);
  g_free (timer);
}

static void
set_scan_timer (MhfAgentService *self,
                gint64           clinic_id,
                guint            minutes)
{
  GObject *holder;
  ScanTimer *timer;
  gint64 interval = timer_interval_usec (self, minutes);

  if (self->scan_timers == NULL)
    self->scan_timers = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                               scan_timer_free);

  /* A small object carries the clinic id to the timer. */
  holder = g_object_new (G_TYPE_OBJECT, NULL);
  g_object_set_data (holder, "service", self);
  g_object_set_data (holder, "clinic", GSIZE_TO_POINTER ((gsize) clinic_id));
  timer = g_new0 (ScanTimer, 1);
  timer->minutes = minutes;
  timer->next_at = g_get_real_time () + interval;
  timer->source_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) (interval / 1000),
                                         scan_timer_cb, holder, g_object_unref);
  g_hash_table_replace (self->scan_timers, g_memdup2 (&clinic_id, sizeof clinic_id), timer);
}

/* A finished scan, whatever started it, puts the next timed one a whole
 * interval later: a scan just after a ScanNow() would find nothing new. */
static void
record_scan_result (MhfAgentService *self,
                    gint64           clinic_id,
                    gboolean         ok)
{
  ScanResult *result;
  ScanTimer *timer = NULL;

  if (self->scan_results == NULL)
    self->scan_results = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  result = g_new0 (ScanResult, 1);
  result->at = g_get_real_time ();
  result->ok = ok;
  g_hash_table_replace (self->scan_results, g_memdup2 (&clinic_id, sizeof clinic_id), result);

  if (self->scan_timers != NULL)
    timer = g_hash_table_lookup (self->scan_timers, &clinic_id);
  if (timer != NULL)
    set_scan_timer (self, clinic_id, timer->minutes);
}

/**
 * mhf_agent_service_get_scan_times:
 * @last_at: (out): when the clinic's last scan ended (µs UTC), 0 if none since the agent started
 * @last_ok: (out): whether it succeeded
 * @next_at: (out): when its timer scans it next (µs UTC), 0 when it has no timer
 *
 * Runs on the main thread, where the scanner lives.
 */
void
mhf_agent_service_get_scan_times (MhfAgentService *self,
                                  gint64           clinic_id,
                                  gint64          *last_at,
                                  gboolean        *last_ok,
                                  gint64          *next_at)
{
  ScanResult *result = NULL;
  ScanTimer *timer = NULL;

  if (self->scan_results != NULL)
    result = g_hash_table_lookup (self->scan_results, &clinic_id);
  if (self->scan_timers != NULL)
    timer = g_hash_table_lookup (self->scan_timers, &clinic_id);

  *last_at = result != NULL ? result->at : 0;
  *last_ok = result != NULL && result->ok;
  *next_at = timer != NULL ? timer->next_at : 0;
}

static void
stop_scan_timer (MhfAgentService *self,
                 gint64           clinic_id)
{
  if (self->scan_timers != NULL)
    g_hash_table_remove (self->scan_timers, &clinic_id);
}

typedef struct
{
  gint64 id;
  guint  minutes;
} ClinicInterval;

static void
intervals_worker (GTask   *task,
                  sqlite3 *db,
                  gpointer task_data)
{
  gint64 only = *(gint64 *) task_data;
  g_autoptr(GArray) clinics = g_array_new (FALSE, FALSE, sizeof (ClinicInterval));
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GError) error = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, scan_interval_min FROM clinics"
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
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      ClinicInterval c = { sqlite3_column_int64 (stmt, 0), sqlite3_column_int (stmt, 1) };

      g_array_append_val (clinics, c);
    }
  g_task_return_pointer (task, g_steal_pointer (&clinics), (GDestroyNotify) g_array_unref);
}

static void
intervals_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autoptr(GArray) clinics = NULL;
  g_autoptr(GError) error = NULL;

  clinics = g_task_propagate_pointer (G_TASK (result), &error);
  if (clinics == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Could not schedule scans: %s", error->message);
      return;
    }

  if (g_task_get_task_data (G_TASK (result)) != NULL &&
      *(gint64 *) g_task_get_task_data (G_TASK (result)) == 0)
    g_clear_pointer (&self->scan_timers, g_hash_table_unref);
  for (guint i = 0; i < clinics->len; i++)
    {
      ClinicInterval *c = &g_array_index (clinics, ClinicInterval, i);

      set_scan_timer (self, c->id, c->minutes);
      mhf_agent_service_scan_clinic (self, c->id, NULL, NULL);
    }
}

/**
 * mhf_agent_service_schedule_scans:
 * @clinic_id: one clinic, or 0 for every clinic
 *
 * (Re)starts the scan timer of each connected clinic, and scans it now.
 */
void
mhf_agent_service_schedule_scans (MhfAgentService *self,
                                  gint64           clinic_id)
{
  if (self->store == NULL || !mhf_store_is_open (self->store))
    return;
  mhf_store_run_async (self->store, intervals_worker, g_memdup2 (&clinic_id, sizeof clinic_id),
                       g_free, self->cancellable, intervals_cb, g_object_ref (self));
}

void
mhf_agent_service_stop_scans (MhfAgentService *self)
{
  g_clear_pointer (&self->scan_timers, g_hash_table_unref);
}

/**
 * mhf_agent_service_stop_clinic_scans:
 *
 * Stops @clinic_id's scan timer when the clinic is disconnected or
 * removed; its last scan stays on record.
 */
void
mhf_agent_service_stop_clinic_scans (MhfAgentService *self,
                                     gint64           clinic_id)
{
  stop_scan_timer (self, clinic_id);
}

/* ---- finishing --------------------------------------------------------------------------------- */

static GVariant *
result_variant (Scan *scan)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_variant_dict_insert (&dict, "items", "u", scan->counts.items);
  g_variant_dict_insert (&dict, "planned", "u", scan->counts.planned);
  g_variant_dict_insert (&dict, "replanned", "u", scan->counts.replanned);
  g_variant_dict_insert (&dict, "cancelled", "u", scan->counts.cancelled);
  g_variant_dict_insert (&dict, "skipped", "u", scan->counts.skipped);
  g_variant_dict_insert (&dict, "lists", "u", scan->done);
  g_variant_dict_insert (&dict, "full", "b", scan->full);
  return g_variant_dict_end (&dict);
}

static void
scan_finish (Scan   *scan,
             GError *error)
{
  MhfAgentService *self = scan->self;

  if (self->scans_running != NULL)
    g_hash_table_remove (self->scans_running, &scan->clinic_id);

  if (error != NULL)
    {
      if (error->domain == MHF_CLINIKO_ERROR)
        {
          MhfError code = g_error_matches (error, MHF_CLINIKO_ERROR,
                                           MHF_CLINIKO_ERROR_UNAUTHORIZED)
                          ? MHF_ERROR_CLINIKO_KEY_REJECTED : MHF_ERROR_NETWORK;
          GError *wrapped = g_error_new (MHF_ERROR, code, "Cliniko: %s", error->message);

          g_error_free (error);
          error = wrapped;
        }
      else if (error->domain != MHF_ERROR)
        {
          g_debug ("Scan of clinic %" G_GINT64_FORMAT " failed: %s", scan->clinic_id,
                   error->message);
          g_clear_error (&error);
          error = g_error_new_literal (MHF_ERROR, MHF_ERROR_FAILED,
                                       "The scan could not be saved");
        }

      if (g_error_matches (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED))
        stop_scan_timer (self, scan->clinic_id);
      record_scan_result (self, scan->clinic_id, FALSE);

      for (guint i = 0; i < scan->waiters->len; i++)
        g_dbus_method_invocation_return_gerror (g_ptr_array_index (scan->waiters, i), error);
      g_error_free (error);
    }
  else
    {
      g_autoptr(GVariant) result = g_variant_ref_sink (result_variant (scan));

      record_scan_result (self, scan->clinic_id, TRUE);
      g_message ("Clinic %" G_GINT64_FORMAT ": scanned %u appointments and places (%u lists): "
                 "%u planned, %u re-planned, %u cancelled, %u skipped", scan->clinic_id,
                 scan->counts.items, scan->done, scan->counts.planned, scan->counts.replanned,
                 scan->counts.cancelled, scan->counts.skipped);
      for (guint i = 0; i < scan->waiters->len; i++)
        g_dbus_method_invocation_return_value (g_ptr_array_index (scan->waiters, i),
                                               g_variant_new ("(@a{sv})", result));
      if (scan->counts.planned + scan->counts.replanned + scan->counts.cancelled +
          scan->counts.skipped > 0)
        mhf_ipc_agent1_emit_outbox_changed (MHF_IPC_AGENT1 (self), scan->clinic_id);
      mhf_agent_service_arm_send_timer (self);
    }

  g_ptr_array_set_size (scan->waiters, 0);

  /* Requests that came in while it ran get a scan of their own. */
  if (scan->again)
    {
      gint64 clinic_id = scan->clinic_id;

      if (scan->next_waiters->len == 0)
        mhf_agent_service_scan_clinic (self, clinic_id, NULL, NULL);
      for (guint i = 0; i < scan->next_waiters->len; i++)
        mhf_agent_service_scan_clinic (self, clinic_id, g_ptr_array_index (scan->next_waiters, i),
                                       g_ptr_array_index (scan->next_actors, i));
    }
  scan_free (scan);
}

static void
saved_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Scan *scan = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    scan_finish (scan, error);
  else
    scan_finish (scan, NULL);
}

static gboolean
set_cursor (sqlite3     *db,
            gint64       clinic_id,
            const char  *resource,
            gint64       value,
            gint64       now,
            GError     **error)
{
  g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, value);

  return mhf_store_exec_bound (db,
                               "INSERT INTO scan_cursors (clinic_id, resource, cursor, updated_at)"
                               " VALUES (?1, ?2, ?3, ?4)"
                               " ON CONFLICT (clinic_id, resource)"
                               " DO UPDATE SET cursor = excluded.cursor,"
                               "               updated_at = excluded.updated_at",
                               error, "xssx", clinic_id, resource, text, now);
}

static void
save_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  Scan *scan = task_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *last_seen = g_strdup_printf ("%" G_GINT64_FORMAT, scan->now);
  gint64 rules_version = 0;

  if (!mhf_store_begin (db, &error))
    goto failed;

  /* A rule changed while this scan ran: its horizon is not the rules'
   * any more. Left unset, the next scan reads the whole horizon again. */
  if (!mhf_store_query_int64 (db, "SELECT coalesce(max(updated_at), 0) FROM rules"
                                  " WHERE clinic_id = ?1", &rules_version, &error, "x",
                              scan->clinic_id))
    goto failed;

  if (!mhf_scan_apply (db, scan->clinic_id, scan->rules, scan->items, scan->zones,
                       scan->account_zone, scan->now, &scan->counts, &error) ||
      !set_cursor (db, scan->clinic_id, "updated", scan->new_cursor, scan->now, &error) ||
      (rules_version == scan->rules_version &&
       !set_cursor (db, scan->clinic_id, "horizon", scan->new_horizon_end, scan->now, &error)) ||
      !mhf_store_exec_bound (db,
                             "INSERT INTO settings (key, value) VALUES ('last-seen', ?1)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                             &error, "s", last_seen))
    goto failed;

  for (guint i = 0; i < scan->actors->len; i++)
    {
      g_autofree char *target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, scan->clinic_id);
      g_autofree char *summary = g_strdup_printf ("scan requested: %u planned, %u re-planned, "
                                                  "%u cancelled, %u skipped",
                                                  scan->counts.planned, scan->counts.replanned,
                                                  scan->counts.cancelled, scan->counts.skipped);
      MhfAuditEntry entry = {
        .at = scan->now,
        .user_name = g_ptr_array_index (scan->actors, i),
        .clinic_id = scan->clinic_id,
        .action = "scan.now",
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

/* ---- the Cliniko side ---------------------------------------------------------------------------- */

static void
add_fetch (Scan        *scan,
           FetchKind    kind,
           const char  *path,
           const char  *collection,
           ...)
{
  Fetch *fetch = g_new0 (Fetch, 1);
  g_autoptr(GStrvBuilder) params = g_strv_builder_new ();
  const char *param;
  va_list args;

  va_start (args, collection);
  while ((param = va_arg (args, const char *)) != NULL)
    g_strv_builder_add (params, param);
  va_end (args);

  fetch->kind = kind;
  fetch->path = g_strdup (path);
  fetch->collection = g_strdup (collection);
  fetch->params = g_strv_builder_end (params);
  g_queue_push_tail (&scan->fetches, fetch);
  scan->total++;
}

/* Batches of ids for an Integer filter: "q[]=FIELD:=a,b,c". */
static void
add_id_fetches (Scan        *scan,
                FetchKind    kind,
                const char  *path,
                const char  *collection,
                const char  *field,
                GPtrArray   *ids,
                const char  *extra)
{
  for (guint i = 0; i < ids->len; i += ID_BATCH)
    {
      g_autoptr(GString) filter = g_string_new (NULL);

      g_string_printf (filter, "q[]=%s:=", field);
      for (guint j = i; j < ids->len && j < i + ID_BATCH; j++)
        g_string_append_printf (filter, "%s%s", j > i ? "," : "",
                                (const char *) g_ptr_array_index (ids, j));
      add_fetch (scan, kind, path, collection, filter->str, extra, NULL);
    }
}

static void fetch_next (Scan *scan);

static void
take_rows (Scan      *scan,
           GPtrArray *rows)
{
  Fetch *fetch = scan->current;

  for (guint i = 0; i < rows->len; i++)
    {
      JsonObject *row = g_ptr_array_index (rows, i);
      const char *id = mhf_cliniko_json_string (row, "id");
      g_autofree char *booking = NULL;
      MhfScanItem *item = NULL;

      if (id == NULL)
        continue;

      switch (fetch->kind)
        {
        case FETCH_APPOINTMENTS:
          item = mhf_scan_item_from_appointment (row);
          break;

        case FETCH_APPOINTMENTS_DELETED:
          item = mhf_scan_item_new_gone (id, "", MHF_REASON_APPOINTMENT_DELETED);
          break;

        case FETCH_GROUPS:
          if (mhf_scan_parse_time (row, "deleted_at") != 0)
            item = mhf_scan_item_new_gone (id, NULL, MHF_REASON_APPOINTMENT_DELETED);
          else if (mhf_scan_parse_time (row, "archived_at") != 0)
            item = mhf_scan_item_new_gone (id, NULL, MHF_REASON_APPOINTMENT_ARCHIVED);
          else
            g_hash_table_replace (scan->groups, g_strdup (id), json_object_ref (row));
          g_hash_table_remove (scan->missing_groups, id);
          break;

        case FETCH_GROUPS_DELETED:
          item = mhf_scan_item_new_gone (id, NULL, MHF_REASON_APPOINTMENT_DELETED);
          break;

        case FETCH_ATTENDEES_CHANGED:
          booking = mhf_scan_linked_id (row, "booking");
          if (booking != NULL && !g_hash_table_contains (scan->groups, booking))
            g_hash_table_add (scan->missing_groups, g_steal_pointer (&booking));
          break;

        case FETCH_ATTENDEES_DELETED:
          booking = mhf_scan_linked_id (row, "booking");
          if (booking != NULL)
            item = mhf_scan_item_new_gone (booking, id, MHF_REASON_APPOINTMENT_DELETED);
          break;

        case FETCH_ATTENDEES_OF_GROUPS:
          booking = mhf_scan_linked_id (row, "booking");
          if (booking != NULL && g_hash_table_contains (scan->groups, booking))
            item = mhf_scan_item_from_attendee (g_hash_table_lookup (scan->groups, booking), row);
          break;

        default:
          g_assert_not_reached ();
        }

      if (item != NULL)
        g_ptr_array_add (scan->items, item);
    }
}

static void
listed_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Scan *scan = user_data;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;

  rows = mhf_cliniko_client_list_finish (scan->client, result, &error);
  if (rows == NULL)
    {
      g_message ("Clinic %" G_GINT64_FORMAT ": scan failed at %s: %s", scan->clinic_id,
                 scan->current->path, error->message);
      mhf_agent_service_record_cliniko_problem (scan->self, scan->clinic_id, scan->fingerprint,
                                                scan->current->path, error);
      scan_finish (scan, g_steal_pointer (&error));
      return;
    }

  take_rows (scan, rows);
  g_clear_pointer (&scan->current, fetch_free);
  scan->done++;
  mhf_ipc_agent1_emit_scan_progress (MHF_IPC_AGENT1 (scan->self), scan->clinic_id, scan->done,
                                     scan->total);
  fetch_next (scan);
}

static void
fetch_next (Scan *scan)
{
  if (g_queue_is_empty (&scan->fetches))
    {
      g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
      GHashTableIter iter;
      gpointer id;

      /* Classes known only from a changed attendee: read them first. */
      if (g_hash_table_size (scan->missing_groups) > 0)
        {
          g_hash_table_iter_init (&iter, scan->missing_groups);
          while (g_hash_table_iter_next (&iter, &id, NULL))
            g_ptr_array_add (ids, g_strdup (id));
          g_hash_table_remove_all (scan->missing_groups);
          add_id_fetches (scan, FETCH_GROUPS, "/group_appointments", "group_appointments", "id",
                          ids, "q[]=archived_at:*");
        }
      else
        {
          /* Then every class's attendees, cancelled places included. */
          g_hash_table_iter_init (&iter, scan->groups);
          while (g_hash_table_iter_next (&iter, &id, NULL))
            {
              if (g_hash_table_contains (scan->attendees_read, id))
                continue;
              g_hash_table_add (scan->attendees_read, g_strdup (id));
              g_ptr_array_add (ids, g_strdup (id));
            }
          add_id_fetches (scan, FETCH_ATTENDEES_OF_GROUPS, "/attendees", "attendees",
                          "booking_id", ids, "q[]=archived_at:*");
        }
    }

  if (g_queue_is_empty (&scan->fetches))
    {
      mhf_store_run_async (scan->self->store, save_worker, scan, NULL, NULL, saved_cb, scan);
      return;
    }

  scan->current = g_queue_pop_head (&scan->fetches);
  mhf_cliniko_client_list_async (scan->client, scan->current->path, scan->current->collection,
                                 (const char * const *) scan->current->params, NULL,
                                 listed_cb, scan);
}

static void
plan_fetches (Scan *scan)
{
  gint64 reach_before = mhf_scan_rules_reach_before (scan->rules);
  gint64 reach_after = mhf_scan_rules_reach_after (scan->rules);
  gint64 wanted_end = scan->now + reach_before + DAY_USEC;

  scan->full = scan->horizon_end == 0;
  scan->new_horizon_end = scan->horizon_end;
  scan->new_cursor = scan->now - OVERLAP_USEC;

  if (scan->full || wanted_end > scan->horizon_end)
    {
      gint64 from = scan->full ? scan->now - reach_after - DAY_USEC : scan->horizon_end;
      g_autofree char *from_text = format_time (from);
      g_autofree char *to_text = NULL;
      g_autofree char *q_from = NULL;
      g_autofree char *q_to = NULL;

      scan->new_horizon_end = wanted_end + DAY_USEC;
      to_text = format_time (scan->new_horizon_end);
      q_from = g_strdup_printf ("q[]=starts_at:>=%s", from_text);
      q_to = g_strdup_printf ("q[]=starts_at:<%s", to_text);
      add_fetch (scan, FETCH_APPOINTMENTS, "/individual_appointments", "individual_appointments",
                 q_from, q_to, NULL);
      add_fetch (scan, FETCH_GROUPS, "/group_appointments", "group_appointments",
                 q_from, q_to, NULL);
    }

  if (scan->cursor != 0)
    {
      g_autofree char *since = format_time (scan->cursor);
      g_autofree char *q_since = g_strdup_printf ("q[]=updated_at:>=%s", since);

      add_fetch (scan, FETCH_APPOINTMENTS, "/individual_appointments", "individual_appointments",
                 q_since, "q[]=archived_at:*", NULL);
      add_fetch (scan, FETCH_APPOINTMENTS_DELETED, "/individual_appointments/deleted",
                 "individual_appointments", q_since, NULL);
      add_fetch (scan, FETCH_GROUPS, "/group_appointments", "group_appointments",
                 q_since, "q[]=archived_at:*", NULL);
      add_fetch (scan, FETCH_GROUPS_DELETED, "/group_appointments/deleted",
                 "group_appointments", q_since, NULL);
      add_fetch (scan, FETCH_ATTENDEES_CHANGED, "/attendees", "attendees",
                 q_since, "q[]=archived_at:*", NULL);
      add_fetch (scan, FETCH_ATTENDEES_DELETED, "/attendees/deleted", "attendees", q_since, NULL);
    }
}

static void
key_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  Scan *scan = user_data;
  g_autoptr(GError) error = NULL;

  scan->key = mhf_keyring_lookup_finish (result, &error);
  if (scan->key == NULL)
    {
      scan_finish (scan, error != NULL
                         ? g_steal_pointer (&error)
                         : g_error_new_literal (MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                                "This clinic is not connected to Cliniko"));
      return;
    }

  scan->client = mhf_agent_service_new_cliniko_client (scan->self, scan->base_url, scan->key,
                                                       scan->fingerprint);
  plan_fetches (scan);
  fetch_next (scan);
}

/* ---- reading what the scan needs ------------------------------------------------------------------- */

static gint64
read_cursor (sqlite3    *db,
             gint64      clinic_id,
             const char *resource)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 value = 0;

  if (sqlite3_prepare_v2 (db, "SELECT cursor FROM scan_cursors WHERE clinic_id = ?1"
                              " AND resource = ?2", -1, &stmt, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_int64 (stmt, 1, clinic_id);
  sqlite3_bind_text (stmt, 2, resource, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = g_ascii_strtoll ((const char *) sqlite3_column_text (stmt, 0), NULL, 10);
  return value;
}

static void
read_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  Scan *scan = task_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_scan_read_clinic (db, scan->clinic_id, &scan->base_url, &scan->fingerprint,
                             &scan->account_zone, scan->zones, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  scan->rules = mhf_scan_load_rules (db, scan->clinic_id, &error);
  if (scan->rules == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* Without an enabled rule there is nothing to plan: the next rule to be
   * enabled starts from a full horizon. */
  if (scan->rules->len == 0 &&
      !mhf_store_exec_bound (db, "DELETE FROM scan_cursors WHERE clinic_id = ?1", &error, "x",
                             scan->clinic_id))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (!mhf_store_query_int64 (db, "SELECT coalesce(max(updated_at), 0) FROM rules"
                                  " WHERE clinic_id = ?1", &scan->rules_version, &error, "x",
                              scan->clinic_id))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  scan->cursor = read_cursor (db, scan->clinic_id, "updated");
  scan->horizon_end = read_cursor (db, scan->clinic_id, "horizon");
  g_task_return_boolean (task, TRUE);
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Scan *scan = user_data;
  GError *error = NULL;
  g_autofree char *clinic = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      scan_finish (scan, error);
      return;
    }

  if (scan->rules->len == 0)
    {
      scan_finish (scan, NULL);
      return;
    }

  clinic = g_strdup_printf ("%" G_GINT64_FORMAT, scan->clinic_id);
  mhf_keyring_lookup_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, NULL, key_cb, scan);
}

/**
 * mhf_agent_service_scan_clinic:
 * @invocation: (nullable): a ScanNow() call to answer when the scan ends
 * @actor: (nullable): who asked, for the audit log
 *
 * Scans @clinic_id now, or joins the scan already running.
 */
void
mhf_agent_service_scan_clinic (MhfAgentService       *self,
                               gint64                 clinic_id,
                               GDBusMethodInvocation *invocation,
                               const char            *actor)
{
  Scan *scan;

  if (self->scans_running == NULL)
    self->scans_running = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);

  scan = g_hash_table_lookup (self->scans_running, &clinic_id);
  if (scan != NULL)
    {
      /* The running scan may have read the rules before a change: one
       * more runs after it, and answers this caller. */
      scan->again = TRUE;
      if (invocation != NULL)
        {
          g_ptr_array_add (scan->next_waiters, g_object_ref (invocation));
          g_ptr_array_add (scan->next_actors, g_strdup (actor));
        }
      return;
    }

  if (self->store == NULL || !mhf_store_is_open (self->store))
    {
      if (invocation != NULL)
        g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                       MHF_ERROR_DATABASE_UNAVAILABLE,
                                                       "The database is not open; see GetStatus");
      return;
    }

  scan = g_new0 (Scan, 1);
  scan->self = g_object_ref (self);
  scan->clinic_id = clinic_id;
  scan->now = g_get_real_time ();
  scan->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  scan->actors = g_ptr_array_new_with_free_func (g_free);
  scan->next_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  scan->next_actors = g_ptr_array_new_with_free_func (g_free);
  scan->zones = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) g_time_zone_unref);
  scan->groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) json_object_unref);
  scan->attendees_read = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  scan->missing_groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  scan->items = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_scan_item_free);
  g_queue_init (&scan->fetches);
  if (invocation != NULL)
    {
      g_ptr_array_add (scan->waiters, g_object_ref (invocation));
      g_ptr_array_add (scan->actors, g_strdup (actor));
    }

  g_hash_table_insert (self->scans_running, g_memdup2 (&clinic_id, sizeof clinic_id), scan);
  mhf_store_run_async (self->store, read_worker, scan, NULL, NULL, read_cb, scan);
}

/* ---- D-Bus ------------------------------------------------------------------------------------------ */

static gboolean
handle_scan_now (MhfIpcAgent1          *object,
                 GDBusMethodInvocation *invocation,
                 gint64                 clinic)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  MhfSession *session = mhf_agent_service_get_session (self,
                                                       g_dbus_method_invocation_get_sender (invocation));

  mhf_agent_service_scan_clinic (self, clinic, invocation,
                                 session != NULL ? session->username : "(unknown)");
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
interval_worker (MhfCall  *call,
                 sqlite3  *db,
                 GError  **error)
{
  gint64 clinic_id = 0, old = 0;
  guint minutes = 0;
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;

  g_variant_get (call->params, "(xu)", &clinic_id, &minutes);
  if (minutes < 1 || minutes > 60)
    {
      call->reply_error = g_error_new_literal (MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                               "minutes: 1 to 60");
      return TRUE;
    }

  if (!mhf_store_query_int64 (db, "SELECT scan_interval_min FROM clinics WHERE id = ?1", &old,
                              error, "x", clinic_id))
    return FALSE;
  if (old == minutes)
    return TRUE;

  if (!mhf_store_exec_bound (db, "UPDATE clinics SET scan_interval_min = ?1 WHERE id = ?2",
                             error, "xx", (gint64) minutes, clinic_id))
    return FALSE;

  target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, clinic_id);
  summary = g_strdup_printf ("scan interval: %" G_GINT64_FORMAT " → %u minutes", old, minutes);
  return mhf_call_audit (call, db, clinic_id, "clinic.scan-interval", target, summary, error);
}

static void
interval_done (MhfCall *call)
{
  gint64 clinic_id = 0;

  g_variant_get_child (call->params, 0, "x", &clinic_id);
  mhf_agent_service_schedule_scans (call->self, clinic_id);
}

static gboolean
handle_set_scan_interval (MhfIpcAgent1          *object,
                          GDBusMethodInvocation *invocation,
                          gint64                 clinic,
                          guint                  minutes)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, interval_worker, interval_done,
                          NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_scanner_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_scan_now = handle_scan_now;
  iface->handle_set_scan_interval = handle_set_scan_interval;
}
