/* mhf-agent-service-sender.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The send path. When the send timer fires:
 *
 *  1. Claim what is due, per clinic that can send (planned → sending), in
 *     one transaction; a row past its latest useful time is skipped.
 *  2. Fetch fresh Cliniko data for the batch, by id lists of at most 100:
 *     the appointments (or classes and places), the patients, for recalls
 *     the patients' future bookings, and with write-back the patients'
 *     recent communications (a marker there means another PC sent it).
 *  3. Gate each row on that data (design §6); a failed gate is a skip
 *     with its reason.
 *  4. Render, compose (GMime) and send (libcurl or the file transport) in
 *     a worker thread.
 *  5. Record each outcome with a redacted delivery event, in one
 *     transaction; then write a memo back to Cliniko for each sent row.
 *
 * Patient fields and rendered messages live in memory for one batch only.
 * A crash between 1 and 5 leaves rows "sending", which start-up turns into
 * "interrupted": at most once.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-cliniko-client.h"
#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-keyring.h"
#include "mhf-mail.h"
#include "mhf-reason.h"
#include "mhf-scan.h"
#include "mhf-template.h"

#include <sodium.h>
#include <string.h>

#define BATCH_LIMIT   100
#define MAX_ATTEMPTS  5
#define MINUTE_USEC   ((gint64) 60 * G_USEC_PER_SEC)

/* After the 1st, 2nd… failed attempt. */
static const gint64 backoff_minutes[] = { 1, 5, 30, 120, 360 };

typedef struct
{
  char *name;
  char *subject;
  char *text;
  char *html;
} Template;

static void
template_free (Template *t)
{
  g_free (t->name);
  g_free (t->subject);
  g_free (t->text);
  g_free (t->html);
  g_free (t);
}

typedef struct
{
  gint64      id;
  gint64      rule_id;
  char       *kind;
  char       *category;
  gint64      template_id;
  char       *appointment_id;
  char       *attendee_id;
  char       *appointment_start;
  char       *patient_id;
  char       *business_id;
  char       *message_id;
  char       *marker;        /* the same on every PC: see claim_marker() */
  gint64      created_at;
  int         attempts;
  int         memo_attempts;
  gboolean    memo_only;     /* sent already: only its memo is retried */

  /* Filled in while sending; patient data, memory only. */
  const char *skip;          /* a reason code */
  const char *fail;          /* a reason code for a failure without sending */
  char       *recipient;
  char       *subject;       /* rendered, for the memo */
  MhfMailJob *job;           /* borrowed from the batch's jobs */
  gboolean    memo_done;
} Claim;

static void
claim_free (Claim *c)
{
  g_free (c->kind);
  g_free (c->category);
  g_free (c->appointment_id);
  g_free (c->attendee_id);
  g_free (c->appointment_start);
  g_free (c->patient_id);
  g_free (c->business_id);
  g_free (c->message_id);
  g_free (c->marker);
  g_free (c->recipient);
  g_free (c->subject);
  g_free (c);
}

typedef enum
{
  FETCH_APPOINTMENTS,
  FETCH_GROUPS,
  FETCH_ATTENDEES,
  FETCH_PATIENTS,
  FETCH_FUTURE,
  FETCH_COMMUNICATIONS,
} FetchKind;

typedef struct
{
  FetchKind  kind;
  char      *path;
  char      *collection;
  GStrv      params;
} Fetch;

static void
fetch_free (Fetch *f)
{
  if (f == NULL)
    return;
  g_free (f->path);
  g_free (f->collection);
  g_strfreev (f->params);
  g_free (f);
}

typedef struct
{
  gint64            clinic_id;
  GPtrArray        *claims;          /* Claim */
  GPtrArray        *skipped_late;    /* ids skipped at claim time, for the log */
  MhfClinicEmail    email;
  char             *base_url;
  char             *fingerprint;
  char             *account_zone;
  char             *terminology;
  GHashTable       *templates;       /* id (gint64 *) -> Template */
  GHashTable       *business_names;  /* id -> name */
  GHashTable       *business_details;/* id -> JsonObject */
  GHashTable       *practitioners;   /* id -> name */
  GHashTable       *types;           /* id -> name */

  char             *cliniko_key;
  MhfClinikoClient *client;
  GQueue            fetches;
  Fetch            *current;
  GError           *cliniko_error;

  GHashTable       *appointments;    /* id -> JsonObject */
  GHashTable       *groups;
  GHashTable       *attendees;
  GHashTable       *patients;
  GHashTable       *with_future;     /* patient ids with a future booking */
  GHashTable       *recorded;        /* message ids found in Cliniko memos */
  GPtrArray        *jobs;            /* MhfMailJob */
  gboolean          paused;          /* the SMTP login was refused */
  guint             memo_index;
  gint64            minute_usec;
} Batch;

static void
batch_free (Batch *b)
{
  g_ptr_array_unref (b->claims);
  mhf_clinic_email_clear (&b->email);
  g_free (b->base_url);
  g_free (b->fingerprint);
  g_free (b->account_zone);
  g_free (b->terminology);
  g_hash_table_unref (b->templates);
  g_hash_table_unref (b->business_names);
  g_hash_table_unref (b->business_details);
  g_hash_table_unref (b->practitioners);
  g_hash_table_unref (b->types);
  if (b->cliniko_key != NULL)
    {
      memset (b->cliniko_key, 0, strlen (b->cliniko_key));
      g_free (b->cliniko_key);
    }
  g_clear_object (&b->client);
  g_queue_clear_full (&b->fetches, (GDestroyNotify) fetch_free);
  fetch_free (b->current);
  g_clear_error (&b->cliniko_error);
  g_hash_table_unref (b->appointments);
  g_hash_table_unref (b->groups);
  g_hash_table_unref (b->attendees);
  g_hash_table_unref (b->patients);
  g_hash_table_unref (b->with_future);
  g_hash_table_unref (b->recorded);
  g_clear_pointer (&b->jobs, g_ptr_array_unref);
  g_free (b);
}

static Batch *
batch_new (gint64 clinic_id)
{
  Batch *b = g_new0 (Batch, 1);

  b->clinic_id = clinic_id;
  b->claims = g_ptr_array_new_with_free_func ((GDestroyNotify) claim_free);
  b->templates = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                        (GDestroyNotify) template_free);
  b->business_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  b->business_details = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) json_object_unref);
  b->practitioners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  b->types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  b->appointments = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) json_object_unref);
  b->groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) json_object_unref);
  b->attendees = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) json_object_unref);
  b->patients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) json_object_unref);
  b->with_future = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  b->recorded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&b->fetches);
  return b;
}

typedef struct
{
  MhfAgentService *self;
  GPtrArray       *batches;     /* Batch */
  guint            index;
  gboolean         more;        /* a clinic had more due than one batch */
  char            *hash_key;    /* hex; per installation, from the keyring */
  gint64           now;
  gint64           sending_until; /* the licence allows sending before this */
} Run;

static void
run_free (Run *run)
{
  g_clear_object (&run->self);
  g_clear_pointer (&run->batches, g_ptr_array_unref);
  if (run->hash_key != NULL)
    {
      memset (run->hash_key, 0, strlen (run->hash_key));
      g_free (run->hash_key);
    }
  g_free (run);
}

static void next_batch (Run *run);

/* ---- 1. claiming ------------------------------------------------------------------------------ */

static gboolean
record_event (sqlite3     *db,
              gint64       clinic_id,
              gint64       outbox_id,
              gint64       rule_id,
              const char  *template_name,
              gint64       at,
              const char  *state,
              const char  *reason,
              const char  *masked,
              const char  *hash,
              int          smtp_code,
              GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "INSERT INTO delivery_events (clinic_id, outbox_id, rule_id,"
                           "  template_name, at, state, reason, masked_recipient, recipient_hash,"
                           "  smtp_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, nullif(?10, 0))",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, outbox_id);
      sqlite3_bind_int64 (stmt, 3, rule_id);
      sqlite3_bind_text (stmt, 4, template_name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 5, at);
      sqlite3_bind_text (stmt, 6, state, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 7, reason, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 8, masked, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 9, hash, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 10, smtp_code);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Recording a delivery event");
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_clinic (sqlite3  *db,
             Batch    *b,
             GError  **error)
{
  g_autoptr(sqlite3_stmt) clinic = NULL;
  g_autoptr(sqlite3_stmt) refs = NULL;
  g_autoptr(sqlite3_stmt) templates = NULL;
  int rc;

  if (!mhf_clinic_email_load (db, b->clinic_id, &b->email, error))
    return FALSE;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT base_url_override, cliniko_shard, key_fingerprint, time_zone,"
                           "       terminology_patient FROM clinics WHERE id = ?1",
                           -1, &clinic, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (clinic, 1, b->clinic_id);
      rc = sqlite3_step (clinic);
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading a clinic");
      return FALSE;
    }
  if (sqlite3_column_type (clinic, 0) != SQLITE_NULL)
    b->base_url = mhf_store_column_dup (clinic, 0);
  else
    b->base_url = mhf_cliniko_base_url_for_shard ((const char *) sqlite3_column_text (clinic, 1)
                                                  ?: "au1");
  b->fingerprint = mhf_store_column_dup (clinic, 2);
  b->account_zone = mhf_store_column_dup (clinic, 3);
  b->terminology = mhf_store_column_dup (clinic, 4);

  rc = sqlite3_prepare_v2 (db, "SELECT kind, cliniko_id, name, details FROM reference_items"
                               " WHERE clinic_id = ?1", -1, &refs, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading reference data");
      return FALSE;
    }
  sqlite3_bind_int64 (refs, 1, b->clinic_id);
  while (sqlite3_step (refs) == SQLITE_ROW)
    {
      const char *kind = (const char *) sqlite3_column_text (refs, 0);
      char *id = mhf_store_column_dup (refs, 1);

      if (g_str_equal (kind, "business"))
        {
          g_autoptr(JsonNode) details = json_from_string ((const char *) sqlite3_column_text (refs,
                                                                                             3),
                                                          NULL);

          g_hash_table_insert (b->business_names, g_strdup (id), mhf_store_column_dup (refs, 2));
          if (details != NULL && JSON_NODE_HOLDS_OBJECT (details))
            g_hash_table_insert (b->business_details, g_strdup (id),
                                 json_object_ref (json_node_get_object (details)));
          g_free (id);
        }
      else if (g_str_equal (kind, "practitioner"))
        g_hash_table_insert (b->practitioners, id, mhf_store_column_dup (refs, 2));
      else
        g_hash_table_insert (b->types, id, mhf_store_column_dup (refs, 2));
    }

  rc = sqlite3_prepare_v2 (db, "SELECT id, name, subject, body_text, body_html FROM templates"
                               " WHERE clinic_id = ?1", -1, &templates, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading templates");
      return FALSE;
    }
  sqlite3_bind_int64 (templates, 1, b->clinic_id);
  while (sqlite3_step (templates) == SQLITE_ROW)
    {
      Template *t = g_new0 (Template, 1);
      gint64 id = sqlite3_column_int64 (templates, 0);

      t->name = mhf_store_column_dup (templates, 1);
      t->subject = mhf_store_column_dup (templates, 2);
      t->text = mhf_store_column_dup (templates, 3);
      t->html = mhf_store_column_dup (templates, 4);
      g_hash_table_insert (b->templates, g_memdup2 (&id, sizeof id), t);
    }
  return TRUE;
}

/* What a memo in Cliniko says about a message, so that another PC with the
 * same rules (or this one after a restore) can tell it went: built from
 * Cliniko's ids and the rule's kind and timing, never from local ids. */
static char *
claim_marker (const char *kind,
              const char *timing,
              const char *appointment,
              const char *attendee,
              const char *start)
{
  g_autofree char *key = g_strjoin ("|", kind, timing ?: "", appointment, attendee, start, NULL);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);

  return g_strndup (digest, 20);
}

/* Sent messages whose memo to Cliniko failed and is due to be tried again:
 * only the memo, never the email. */
static gboolean
claim_memos (sqlite3  *db,
             Run      *run,
             GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT o.id, o.clinic_id, o.rule_id, r.kind, r.template_id,"
                           "       o.patient_id, o.message_id, o.writeback_attempts,"
                           "       o.appointment_id, o.attendee_id, o.appointment_start,"
                           "       json_extract(r.timing, '$.text'), o.created_at"
                           "  FROM outbox o JOIN rules r ON r.id = o.rule_id"
                           "       JOIN clinics c ON c.id = o.clinic_id"
                           " WHERE o.state = 'sent' AND o.writeback_state = 'pending'"
                           "   AND o.next_attempt_at <= ?1 AND c.email_transport IS NOT NULL"
                           " ORDER BY o.clinic_id, o.id LIMIT ?2",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading write-backs");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, run->now);
  sqlite3_bind_int64 (stmt, 2, BATCH_LIMIT);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 clinic_id = sqlite3_column_int64 (stmt, 1);
      Batch *batch = NULL;
      Claim *c;

      for (guint i = 0; i < run->batches->len && batch == NULL; i++)
        if (((Batch *) g_ptr_array_index (run->batches, i))->clinic_id == clinic_id)
          batch = g_ptr_array_index (run->batches, i);
      if (batch == NULL)
        {
          batch = batch_new (clinic_id);
          g_ptr_array_add (run->batches, batch);
          if (!load_clinic (db, batch, error))
            return FALSE;
        }

      c = g_new0 (Claim, 1);
      c->memo_only = TRUE;
      c->id = sqlite3_column_int64 (stmt, 0);
      c->rule_id = sqlite3_column_int64 (stmt, 2);
      c->kind = mhf_store_column_dup (stmt, 3);
      c->category = g_strdup ("care");
      c->template_id = sqlite3_column_int64 (stmt, 4);
      c->patient_id = mhf_store_column_dup (stmt, 5);
      c->message_id = mhf_store_column_dup (stmt, 6);
      c->memo_attempts = sqlite3_column_int (stmt, 7);
      c->appointment_id = mhf_store_column_dup (stmt, 8);
      c->attendee_id = mhf_store_column_dup (stmt, 9);
      c->appointment_start = mhf_store_column_dup (stmt, 10);
      c->marker = claim_marker (c->kind, (const char *) sqlite3_column_text (stmt, 11),
                                c->appointment_id, c->attendee_id, c->appointment_start);
      c->created_at = sqlite3_column_int64 (stmt, 12);
      g_ptr_array_add (batch->claims, c);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading write-backs");
      return FALSE;
    }
  return TRUE;
}

static void
claim_worker (GTask   *task,
              sqlite3 *db,
              gpointer task_data)
{
  Run *run = task_data;
  g_autoptr(sqlite3_stmt) due = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  Batch *batch = NULL;
  int rc;

  if (!mhf_store_begin (db, &error))
    goto failed;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT o.id, o.clinic_id, o.rule_id, r.kind, r.category, r.template_id,"
                           "       o.appointment_id, o.attendee_id, o.appointment_start,"
                           "       o.patient_id, o.business_id, coalesce(o.latest_at, 0),"
                           "       o.created_at, o.attempts, t.name, json_extract(r.timing, '$.text')"
                           "  FROM outbox o JOIN rules r ON r.id = o.rule_id"
                           "       JOIN templates t ON t.id = r.template_id"
                           "       JOIN clinics c ON c.id = o.clinic_id"
                           " WHERE ((o.state = 'planned' AND o.planned_at <= ?1)"
                           "        OR (o.state = 'retry_wait' AND o.next_attempt_at <= ?1))"
                           "   AND c.email_transport IS NOT NULL AND c.email_problem IS NULL"
                           "   AND NOT c.paused"
                           "   AND ?1 < ?2"
                           " ORDER BY o.clinic_id, o.planned_at, o.id",
                           -1, &due, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (&error, db, rc, "Reading due messages");
      goto failed;
    }
  sqlite3_bind_int64 (due, 1, run->now);
  /* Without a licence in force nothing is claimed: due messages stay
   * planned, not skipped, and go when a licence arrives. */
  sqlite3_bind_int64 (due, 2, run->sending_until);

  while ((rc = sqlite3_step (due)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (due, 0);
      gint64 clinic_id = sqlite3_column_int64 (due, 1);
      gint64 latest = sqlite3_column_int64 (due, 11);
      Claim *c;

      if (batch == NULL || batch->clinic_id != clinic_id)
        {
          if (batch != NULL && batch->claims->len > 0)
            g_ptr_array_add (run->batches, batch);
          else if (batch != NULL)
            batch_free (batch);
          batch = batch_new (clinic_id);
          if (!load_clinic (db, batch, &error))
            goto failed;
        }

      /* Too late to be of use: skipped, never sent late. */
      if (latest != 0 && latest < run->now)
        {
          if (!mhf_store_exec_bound (db,
                                     "UPDATE outbox SET state = 'skipped', reason = 'no-useful-time',"
                                     "       updated_at = ?1 WHERE id = ?2",
                                     &error, "xx", run->now, id) ||
              !record_event (db, clinic_id, id, sqlite3_column_int64 (due, 2),
                             (const char *) sqlite3_column_text (due, 14), run->now, "skipped",
                             MHF_REASON_NO_USEFUL_TIME, NULL, NULL, 0, &error))
            goto failed;
          continue;
        }

      if (batch->claims->len >= BATCH_LIMIT)
        {
          run->more = TRUE;
          continue;
        }

      c = g_new0 (Claim, 1);
      c->id = id;
      c->rule_id = sqlite3_column_int64 (due, 2);
      c->kind = mhf_store_column_dup (due, 3);
      c->category = mhf_store_column_dup (due, 4);
      c->template_id = sqlite3_column_int64 (due, 5);
      c->appointment_id = mhf_store_column_dup (due, 6);
      c->attendee_id = mhf_store_column_dup (due, 7);
      c->appointment_start = mhf_store_column_dup (due, 8);
      c->patient_id = mhf_store_column_dup (due, 9);
      c->business_id = mhf_store_column_dup (due, 10);
      c->created_at = sqlite3_column_int64 (due, 12);
      c->attempts = sqlite3_column_int (due, 13) + 1;
      c->message_id = mhf_mail_message_id (clinic_id, id, batch->email.from_address);
      c->marker = claim_marker (c->kind, (const char *) sqlite3_column_text (due, 15),
                                c->appointment_id, c->attendee_id, c->appointment_start);
      g_ptr_array_add (batch->claims, c);

      if (!mhf_store_exec_bound (db,
                                 "UPDATE outbox SET state = 'sending', attempts = attempts + 1,"
                                 "       message_id = ?1, updated_at = ?2 WHERE id = ?3",
                                 &error, "sxx", c->message_id, run->now, id))
        goto failed;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (&error, db, rc, "Reading due messages");
      goto failed;
    }
  if (batch != NULL && batch->claims->len > 0)
    g_ptr_array_add (run->batches, batch);
  else if (batch != NULL)
    batch_free (batch);
  batch = NULL;

  if (!claim_memos (db, run, &error))
    goto failed;

  if (!mhf_store_commit (db, &error))
    goto failed;
  g_task_return_boolean (task, TRUE);
  return;

failed:
  if (batch != NULL)
    batch_free (batch);
  g_ptr_array_set_size (run->batches, 0);
  mhf_store_rollback (db);
  g_task_return_error (task, g_steal_pointer (&error));
}

/* ---- 5. recording outcomes ---------------------------------------------------------------------- */

static char *
address_hash (const char *hash_key,
              const char *address)
{
  g_autofree char *normal = mhf_mail_normalise_address (address);
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) hash_key,
                                      strlen (hash_key));

  g_hmac_update (hmac, (const guchar *) normal, -1);
  return g_strdup (g_hmac_get_string (hmac));
}

typedef struct
{
  Run   *run;
  Batch *batch;
} Save;

static gboolean
save_claim (sqlite3     *db,
            Run         *run,
            Batch       *b,
            Claim       *c,
            GError     **error)
{
  Template *t = g_hash_table_lookup (b->templates, &c->template_id);
  g_autofree char *masked = c->recipient != NULL ? mhf_mail_mask_address (c->recipient) : NULL;
  g_autofree char *hash = c->recipient != NULL && run->hash_key != NULL
                          ? address_hash (run->hash_key, c->recipient) : NULL;
  const char *state, *reason = NULL;
  gint64 next_attempt = 0;
  int code = c->job != NULL ? c->job->smtp_code : 0;
  gboolean temporary = FALSE;

  if (c->memo_only)
    return TRUE;

  if (c->skip != NULL)
    {
      state = "skipped";
      reason = c->skip;
    }
  else if (c->fail != NULL)
    {
      state = "failed";
      reason = c->fail;
      temporary = g_str_equal (c->fail, MHF_REASON_CLINIKO_UNAVAILABLE);
    }
  else if (c->job == NULL || c->job->outcome == MHF_MAIL_OUTCOME_NONE)
    {
      state = "failed";
      reason = MHF_REASON_NETWORK;
      temporary = TRUE;
    }
  else
    {
      switch (c->job->outcome)
        {
        case MHF_MAIL_OUTCOME_SENT:
          state = "sent";
          break;
        case MHF_MAIL_OUTCOME_TEMPORARY:
          state = "failed";
          reason = code >= 400 ? MHF_REASON_SMTP_TEMPORARY : MHF_REASON_NETWORK;
          temporary = TRUE;
          break;
        case MHF_MAIL_OUTCOME_PERMANENT:
          state = "failed";
          reason = MHF_REASON_SMTP_REJECTED;
          break;
        case MHF_MAIL_OUTCOME_UNTRUSTED:
          state = "failed";
          reason = MHF_REASON_CERTIFICATE_UNTRUSTED;
          break;
        case MHF_MAIL_OUTCOME_AUTH_FAILED:
        case MHF_MAIL_OUTCOME_NONE:
        default:
          /* Nothing went out: back to planned, with sending paused. */
          return mhf_store_exec_bound (db,
                                       "UPDATE outbox SET state = 'planned', attempts = attempts - 1,"
                                       "       reason = 'smtp-login-failed', updated_at = ?1"
                                       " WHERE id = ?2",
                                       error, "xx", run->now, c->id);
        }
    }

  if (temporary)
    {
      if (c->attempts >= MAX_ATTEMPTS)
        reason = MHF_REASON_ATTEMPTS_EXHAUSTED;
      else
        {
          state = "retry_wait";
          /* A minute is shorter in tests (MHF_AGENT_MINUTE_SECONDS). */
          next_attempt = run->now + backoff_minutes[MAX (c->attempts, 1) - 1] *
                                    run->self->minute_usec;
        }
    }

  if (!mhf_store_exec_bound (db,
                             "UPDATE outbox SET state = ?1, reason = ?2,"
                             "       next_attempt_at = nullif(?3, 0), updated_at = ?4,"
                             "       writeback_state = CASE WHEN ?1 = 'sent' AND ?5 THEN 'pending'"
                             "                              ELSE writeback_state END"
                             " WHERE id = ?6",
                             error, "ssxxxx", state, reason, next_attempt, run->now,
                             (gint64) b->email.write_back, c->id))
    return FALSE;

  return record_event (db, b->clinic_id, c->id, c->rule_id, t != NULL ? t->name : NULL, run->now,
                       state, reason, masked, hash, code, error);
}

static void
save_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  Save *save = task_data;
  Batch *b = save->batch;
  g_autoptr(GError) error = NULL;

  if (!mhf_store_begin (db, &error))
    goto failed;

  for (guint i = 0; i < b->claims->len; i++)
    if (!save_claim (db, save->run, b, g_ptr_array_index (b->claims, i), &error))
      goto failed;

  if (b->paused &&
      !mhf_store_exec_bound (db, "UPDATE clinics SET email_problem = 'SMTP login failed'"
                                 " WHERE id = ?1", &error, "x", b->clinic_id))
    goto failed;

  if (!mhf_store_commit (db, &error))
    goto failed;
  g_task_return_boolean (task, TRUE);
  return;

failed:
  mhf_store_rollback (db);
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
memo_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  Batch *b = task_data;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < b->claims->len; i++)
    {
      Claim *c = g_ptr_array_index (b->claims, i);

      gint64 retry_at = 0;
      const char *state;

      if (!c->memo_only &&
          (c->job == NULL || c->job->outcome != MHF_MAIL_OUTCOME_SENT || !b->email.write_back))
        continue;

      /* A failed memo is tried again on its own, with the same back-off
       * as sending, then given up: shown, never a reason to re-send. */
      if (c->memo_done)
        state = "done";
      else if (c->memo_attempts + 1 < MAX_ATTEMPTS)
        {
          state = "pending";
          retry_at = g_get_real_time () + backoff_minutes[c->memo_attempts] * b->minute_usec;
        }
      else
        state = "failed";

      if (!mhf_store_exec_bound (db,
                                 "UPDATE outbox SET writeback_state = ?1,"
                                 "       writeback_attempts = writeback_attempts + 1,"
                                 "       next_attempt_at = nullif(?2, 0) WHERE id = ?3",
                                 &error, "sxx", state, retry_at, c->id))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }
  g_task_return_boolean (task, TRUE);
}

static void
memo_saved_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Could not record write-backs: %s", error->message);
  run->index++;
  next_batch (run);
}

static void post_next_memo (Run *run);

static void
memo_posted_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Run *run = user_data;
  Batch *b = g_ptr_array_index (run->batches, run->index);
  Claim *c = g_ptr_array_index (b->claims, b->memo_index);
  g_autoptr(JsonNode) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_cliniko_client_post_finish (b->client, result, &error);
  c->memo_done = reply != NULL;
  if (reply == NULL)
    g_message ("Clinic %" G_GINT64_FORMAT ": the Cliniko memo for message %" G_GINT64_FORMAT
               " failed: %s", b->clinic_id, c->id, error->message);
  b->memo_index++;
  post_next_memo (run);
}

/* "MyHealthFollowup sent “Template”: Subject [mhf:MARKER]". The marker
 * lets another PC (or this one, later) see that it went. */
static char *
memo_content (const char *template_name,
              const char *subject,
              const char *marker)
{
  if (subject == NULL)
    return g_strdup_printf ("MyHealthFollowup sent “%s” [mhf:%s]", template_name, marker);
  return g_strdup_printf ("MyHealthFollowup sent “%s”: %s [mhf:%s]", template_name, subject,
                          marker);
}

static void
post_next_memo (Run *run)
{
  Batch *b = g_ptr_array_index (run->batches, run->index);

  for (; b->memo_index < b->claims->len; b->memo_index++)
    {
      Claim *c = g_ptr_array_index (b->claims, b->memo_index);
      Template *t = g_hash_table_lookup (b->templates, &c->template_id);
      g_autoptr(JsonBuilder) builder = NULL;
      g_autoptr(JsonNode) body = NULL;
      g_autofree char *content = NULL;

      if (b->client == NULL || b->cliniko_error != NULL)
        continue;
      if (!c->memo_only &&
          (!b->email.write_back || c->job == NULL || c->job->outcome != MHF_MAIL_OUTCOME_SENT))
        continue;
      /* Already there (an answer lost on the way back): done. */
      if (c->memo_only && g_hash_table_contains (b->recorded, c->marker))
        {
          c->memo_done = TRUE;
          continue;
        }

      content = memo_content (t != NULL ? t->name : "", c->subject, c->marker);
      builder = json_builder_new ();
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "category_code");
      json_builder_add_int_value (builder, 12);
      json_builder_set_member_name (builder, "confidential");
      json_builder_add_boolean_value (builder, FALSE);
      json_builder_set_member_name (builder, "direction_code");
      json_builder_add_int_value (builder, 1);
      json_builder_set_member_name (builder, "type_code");
      json_builder_add_int_value (builder, 2);
      json_builder_set_member_name (builder, "patient_id");
      json_builder_add_string_value (builder, c->patient_id);
      json_builder_set_member_name (builder, "from");
      json_builder_add_string_value (builder, b->email.from_name);
      json_builder_set_member_name (builder, "to");
      json_builder_add_string_value (builder, c->recipient != NULL ? c->recipient
                                                                   : "(no email address now)");
      json_builder_set_member_name (builder, "content");
      json_builder_add_string_value (builder, content);
      json_builder_end_object (builder);
      body = json_builder_get_root (builder);

      mhf_cliniko_client_post_async (b->client, "/communications", body, NULL, memo_posted_cb,
                                     run);
      return;
    }

  if (b->email.write_back || b->claims->len > 0)
    mhf_store_run_async (run->self->store, memo_worker, b, NULL, NULL, memo_saved_cb, run);
  else
    {
      run->index++;
      next_batch (run);
    }
}

static void
saved_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Run *run = user_data;
  Batch *b = g_ptr_array_index (run->batches, run->index);
  g_autoptr(GError) error = NULL;
  guint sent = 0, skipped = 0, failed = 0;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Clinic %" G_GINT64_FORMAT ": could not record what was sent: %s", b->clinic_id,
               error->message);

  for (guint i = 0; i < b->claims->len; i++)
    {
      Claim *c = g_ptr_array_index (b->claims, i);

      if (c->skip != NULL)
        skipped++;
      else if (c->job != NULL && c->job->outcome == MHF_MAIL_OUTCOME_SENT)
        sent++;
      else
        failed++;
    }
  g_message ("Clinic %" G_GINT64_FORMAT ": %u sent, %u skipped, %u not sent%s", b->clinic_id,
             sent, skipped, failed, b->paused ? "; SMTP login failed, sending paused" : "");
  mhf_ipc_agent1_emit_outbox_changed (MHF_IPC_AGENT1 (run->self), b->clinic_id);

  b->memo_index = 0;
  post_next_memo (run);
}

static void
save_batch (Run *run)
{
  Batch *b = g_ptr_array_index (run->batches, run->index);
  Save *save = g_new0 (Save, 1);

  /* The rendered messages are no longer needed. */
  for (guint i = 0; b->jobs != NULL && i < b->jobs->len; i++)
    g_clear_pointer (&((MhfMailJob *) g_ptr_array_index (b->jobs, i))->message, g_bytes_unref);

  save->run = run;
  save->batch = b;
  mhf_store_run_async (run->self->store, save_worker, save, g_free, NULL, saved_cb, run);
}

/* ---- 4. sending ----------------------------------------------------------------------------------- */

static void
sent_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Run *run = user_data;
  Batch *b = g_ptr_array_index (run->batches, run->index);

  mhf_mail_send_finish (result, NULL);
  for (guint i = 0; i < b->jobs->len; i++)
    {
      MhfMailJob *job = g_ptr_array_index (b->jobs, i);

      if (job->outcome == MHF_MAIL_OUTCOME_AUTH_FAILED)
        b->paused = TRUE;
      if (job->outcome != MHF_MAIL_OUTCOME_SENT && job->detail != NULL)
        g_message ("Clinic %" G_GINT64_FORMAT ": %s: %s", b->clinic_id, job->message_id,
                   job->detail);
    }
  save_batch (run);
}

/* ---- 3. gates and rendering ---------------------------------------------------------------------- */

/* -1 null or absent, 0 false, 1 true */
static int
json_bool (JsonObject *object,
           const char *member)
{
  JsonNode *node;

  if (object == NULL || !json_object_has_member (object, member))
    return -1;
  node = json_object_get_member (object, member);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return -1;
  return json_node_get_boolean (node) ? 1 : 0;
}

static const char *
gate (Batch      *b,
      Claim      *c,
      JsonObject *appointment,
      JsonObject *attendee,
      JsonObject *patient)
{
  gboolean individual = *c->attendee_id == '\0';
  const char *reason, *email, *reminder_type;

  if (appointment == NULL || (!individual && attendee == NULL))
    return MHF_REASON_APPOINTMENT_DELETED;
  if ((reason = mhf_scan_gone_reason (appointment)) != NULL)
    return reason;
  if (attendee != NULL && (reason = mhf_scan_gone_reason (attendee)) != NULL)
    return reason;

  if (g_str_equal (c->kind, "reminder"))
    {
      g_autoptr(GDateTime) start = NULL;
      g_autofree char *text = NULL;

      start = g_date_time_new_from_unix_utc (mhf_scan_parse_time (appointment, "starts_at") /
                                             G_USEC_PER_SEC);
      text = g_date_time_format (start, "%Y-%m-%dT%H:%M:%SZ");
      if (g_strcmp0 (text, c->appointment_start) != 0)
        return MHF_REASON_RESCHEDULED;
    }
  else if (g_str_equal (c->kind, "follow-up"))
    {
      if (individual ? json_bool (appointment, "did_not_arrive") == 1
                     : json_bool (attendee, "arrived") == 0)
        return MHF_REASON_DID_NOT_ARRIVE;
    }
  else if (g_str_equal (c->kind, "did-not-arrive"))
    {
      int dna = individual ? json_bool (appointment, "did_not_arrive")
                           : (json_bool (attendee, "arrived") == 0 ? 1
                              : json_bool (attendee, "arrived") == 1 ? 0 : -1);
      int arrived = individual ? json_bool (appointment, "patient_arrived")
                               : json_bool (attendee, "arrived");

      if (dna != 1)
        return arrived == 1 || dna == 0 ? MHF_REASON_PATIENT_ATTENDED
                                        : MHF_REASON_ARRIVAL_UNKNOWN;
    }

  if (patient == NULL || mhf_scan_parse_time (patient, "deleted_at") != 0)
    return MHF_REASON_PATIENT_DELETED;
  if (mhf_scan_parse_time (patient, "archived_at") != 0)
    return MHF_REASON_PATIENT_ARCHIVED;

  email = mhf_cliniko_json_string (patient, "email");
  if (email == NULL || *email == '\0')
    return MHF_REASON_NO_EMAIL;
  if (!mhf_mail_address_is_valid (email))
    return MHF_REASON_INVALID_EMAIL;
  if (json_bool (patient, "accepted_privacy_policy") == 0)
    return MHF_REASON_PRIVACY_DECLINED;

  if (g_str_equal (c->kind, "recall"))
    {
      if (json_bool (patient, "accepted_email_marketing") != 1)
        return MHF_REASON_MARKETING_NOT_ACCEPTED;
      if (g_hash_table_contains (b->with_future, c->patient_id))
        return MHF_REASON_FUTURE_BOOKING;
    }
  else
    {
      reminder_type = mhf_cliniko_json_string (patient, "reminder_type");
      if (reminder_type == NULL || strstr (reminder_type, "Email") == NULL)
        return MHF_REASON_REMINDERS_OFF;
    }

  if (g_hash_table_contains (b->recorded, c->marker))
    return MHF_REASON_ALREADY_RECORDED;

  c->recipient = g_strdup (email);
  return NULL;
}

static char *
business_address (JsonObject *details)
{
  static const char * const parts[] = { "address_1", "address_2", "city", "state", "post_code" };
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; details != NULL && i < G_N_ELEMENTS (parts); i++)
    {
      const char *part = mhf_cliniko_json_string (details, parts[i]);

      if (part != NULL && *part != '\0')
        g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "", part);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static MhfMailJob *
compose (Batch      *b,
         Claim      *c,
         JsonObject *appointment,
         JsonObject *patient)
{
  Template *t = g_hash_table_lookup (b->templates, &c->template_id);
  g_autoptr(GHashTable) values = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr(MhfTemplate) subject = NULL;
  g_autoptr(MhfTemplate) text = NULL;
  g_autoptr(MhfTemplate) html = NULL;
  g_autoptr(GTimeZone) zone = NULL;
  g_autoptr(GDateTime) start_utc = NULL;
  g_autoptr(GDateTime) start = NULL;
  g_autofree char *r_text = NULL;
  g_autofree char *r_html = NULL;
  g_autofree char *footer = NULL;
  JsonObject *details = c->business_id != NULL
                        ? g_hash_table_lookup (b->business_details, c->business_id) : NULL;
  const char *zone_id = mhf_cliniko_json_string (details, "time_zone_identifier");
  const char *first = mhf_cliniko_json_string (patient, "preferred_first_name");
  const char *business = c->business_id != NULL
                         ? g_hash_table_lookup (b->business_names, c->business_id) : NULL;
  const char *reply_to = b->email.reply_to;
  g_autofree char *practitioner_id = mhf_scan_linked_id (appointment, "practitioner");
  g_autofree char *type_id = mhf_scan_linked_id (appointment, "appointment_type");
  gint64 starts = mhf_scan_parse_time (appointment, "starts_at");
  gint64 ends = mhf_scan_parse_time (appointment, "ends_at");
  MhfMailParts parts = { 0, };
  MhfMailJob *job;

  if (t == NULL ||
      (subject = mhf_template_parse (t->subject, NULL)) == NULL ||
      (text = mhf_template_parse (t->text, NULL)) == NULL ||
      (t->html != NULL && *t->html != '\0' && (html = mhf_template_parse (t->html, NULL)) == NULL))
    {
      c->fail = MHF_REASON_TEMPLATE_INVALID;
      return NULL;
    }

  zone = zone_id != NULL && *zone_id != '\0' ? g_time_zone_new_identifier (zone_id) : NULL;
  if (zone == NULL && b->account_zone != NULL && *b->account_zone != '\0')
    zone = g_time_zone_new_identifier (b->account_zone);
  if (zone == NULL)
    zone = g_time_zone_new_utc ();
  start_utc = g_date_time_new_from_unix_utc (starts / G_USEC_PER_SEC);
  start = g_date_time_to_timezone (start_utc, zone);

  if (first == NULL || *first == '\0')
    first = mhf_cliniko_json_string (patient, "first_name");
  g_hash_table_insert (values, "patient.first_name", g_strdup (first ?: ""));
  g_hash_table_insert (values, "practitioner.name",
                       g_strdup (practitioner_id != NULL
                                 ? g_hash_table_lookup (b->practitioners, practitioner_id) ?: ""
                                 : ""));
  g_hash_table_insert (values, "business.name", g_strdup (business ?: ""));
  g_hash_table_insert (values, "business.address", business_address (details));
  g_hash_table_insert (values, "business.phone",
                       g_strdup (mhf_cliniko_json_string (details, "contact_information") ?: ""));
  g_hash_table_insert (values, "appointment.date", g_date_time_format (start, "%A %-d %B %Y"));
  g_hash_table_insert (values, "appointment.time", g_date_time_format (start, "%-I:%M %p"));
  g_hash_table_insert (values, "appointment.duration",
                       g_strdup_printf ("%d minutes", (int) ((ends - starts) / MINUTE_USEC)));
  g_hash_table_insert (values, "appointment.type",
                       g_strdup (type_id != NULL ? g_hash_table_lookup (b->types, type_id) ?: ""
                                                 : ""));
  g_hash_table_insert (values, "terminology.patient",
                       g_strdup (b->terminology != NULL && *b->terminology != '\0'
                                 ? b->terminology : "patient"));
  g_hash_table_insert (values, "sender.name", g_strdup (b->email.from_name));
  g_hash_table_insert (values, "sender.email", g_strdup (b->email.from_address));

  if (reply_to == NULL || *reply_to == '\0')
    reply_to = mhf_cliniko_json_string (details, "email_reply_to");

  c->subject = mhf_template_render (subject, values, MHF_TEMPLATE_SUBJECT);
  r_text = mhf_template_render (text, values, MHF_TEMPLATE_TEXT);
  r_html = html != NULL ? mhf_template_render (html, values, MHF_TEMPLATE_HTML) : NULL;

  parts.from_name = b->email.from_name;
  parts.from_address = b->email.from_address;
  parts.reply_to = reply_to;
  parts.to_address = c->recipient;
  parts.subject = c->subject;
  parts.text = r_text;
  parts.html = r_html;
  parts.message_id = c->message_id;
  parts.date = g_get_real_time ();
  if (g_str_equal (c->category, "marketing"))
    {
      parts.unsubscribe = reply_to != NULL && *reply_to != '\0' ? reply_to
                                                                : b->email.from_address;
      footer = g_strdup_printf ("You receive this because you agreed to hear from %s. To stop "
                                "these emails, reply with “unsubscribe”.",
                                business != NULL ? business : b->email.from_name);
      parts.footer_text = footer;
    }

  job = g_new0 (MhfMailJob, 1);
  job->envelope_from = g_strdup (b->email.from_address);
  job->recipient = g_strdup (c->recipient);
  job->message = mhf_mail_compose (&parts);
  job->message_id = g_strdup (c->message_id);

  /* Patient data: gone from memory with this frame. */
  memset (r_text, 0, strlen (r_text));
  if (r_html != NULL)
    memset (r_html, 0, strlen (r_html));
  return job;
}

static void
gate_and_send (Run *run)
{
  Batch *b = g_ptr_array_index (run->batches, run->index);

  b->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_mail_job_free);

  for (guint i = 0; i < b->claims->len; i++)
    {
      Claim *c = g_ptr_array_index (b->claims, i);
      gboolean individual = *c->attendee_id == '\0';
      JsonObject *appointment = g_hash_table_lookup (individual ? b->appointments : b->groups,
                                                     c->appointment_id);
      JsonObject *attendee = individual ? NULL : g_hash_table_lookup (b->attendees,
                                                                      c->attendee_id);
      JsonObject *patient = c->patient_id != NULL ? g_hash_table_lookup (b->patients,
                                                                         c->patient_id)
                                                  : NULL;

      if (c->memo_only)
        {
          const char *email = mhf_cliniko_json_string (patient, "email");

          if (email != NULL && mhf_mail_address_is_valid (email))
            c->recipient = g_strdup (email);
          continue;
        }

      if (b->cliniko_error != NULL)
        {
          c->fail = MHF_REASON_CLINIKO_UNAVAILABLE;
          continue;
        }

      c->skip = gate (b, c, appointment, attendee, patient);
      if (c->skip != NULL)
        continue;

      c->job = compose (b, c, appointment, patient);
      if (c->job != NULL)
        g_ptr_array_add (b->jobs, c->job);
    }

  if (b->jobs->len == 0)
    {
      save_batch (run);
      return;
    }
  mhf_mail_send_async (b->email.mail, b->jobs, NULL, sent_cb, run);
}

/* ---- 2. fetching from Cliniko ------------------------------------------------------------------------ */

static void fetch_next (Run *run);

static void
take_rows (Batch     *b,
           GPtrArray *rows)
{
  for (guint i = 0; i < rows->len; i++)
    {
      JsonObject *row = g_ptr_array_index (rows, i);
      const char *id = mhf_cliniko_json_string (row, "id");
      g_autofree char *patient = NULL;
      const char *content;

      switch (b->current->kind)
        {
        case FETCH_APPOINTMENTS:
          if (id != NULL)
            g_hash_table_replace (b->appointments, g_strdup (id), json_object_ref (row));
          break;
        case FETCH_GROUPS:
          if (id != NULL)
            g_hash_table_replace (b->groups, g_strdup (id), json_object_ref (row));
          break;
        case FETCH_ATTENDEES:
          if (id != NULL)
            g_hash_table_replace (b->attendees, g_strdup (id), json_object_ref (row));
          break;
        case FETCH_PATIENTS:
          if (id != NULL)
            g_hash_table_replace (b->patients, g_strdup (id), json_object_ref (row));
          break;
        case FETCH_FUTURE:
          patient = mhf_scan_linked_id (row, "patient");
          if (patient != NULL)
            g_hash_table_add (b->with_future, g_steal_pointer (&patient));
          break;
        case FETCH_COMMUNICATIONS:
          content = mhf_cliniko_json_string (row, "content");
          for (guint c = 0; content != NULL && c < b->claims->len; c++)
            {
              Claim *claim = g_ptr_array_index (b->claims, c);
              g_autofree char *marker = g_strdup_printf ("[mhf:%s]", claim->marker);

              if (strstr (content, marker) != NULL)
                g_hash_table_add (b->recorded, g_strdup (claim->marker));
            }
          break;
        default:
          g_assert_not_reached ();
        }
    }
}

static void
listed_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Run *run = user_data;
  Batch *b = g_ptr_array_index (run->batches, run->index);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;

  rows = mhf_cliniko_client_list_finish (b->client, result, &error);
  if (rows == NULL)
    {
      g_message ("Clinic %" G_GINT64_FORMAT ": checking with Cliniko before sending failed at "
                 "%s: %s", b->clinic_id, b->current->path, error->message);
      mhf_agent_service_record_cliniko_problem (run->self, b->clinic_id, b->fingerprint,
                                                b->current->path, error);
      b->cliniko_error = g_steal_pointer (&error);
      g_queue_clear_full (&b->fetches, (GDestroyNotify) fetch_free);
    }
  else
    take_rows (b, rows);

  g_clear_pointer (&b->current, fetch_free);
  fetch_next (run);
}

static void
fetch_next (Run *run)
{
  Batch *b = g_ptr_array_index (run->batches, run->index);

  if (g_queue_is_empty (&b->fetches))
    {
      gate_and_send (run);
      return;
    }
  b->current = g_queue_pop_head (&b->fetches);
  mhf_cliniko_client_list_async (b->client, b->current->path, b->current->collection,
                                 (const char * const *) b->current->params, NULL, listed_cb, run);
}

static void
add_fetch (Batch       *b,
           FetchKind    kind,
           const char  *path,
           const char  *collection,
           const char  *field,
           GHashTable  *ids,
           const char  *extra)
{
  g_autoptr(GString) filter = g_string_new (NULL);
  GHashTableIter iter;
  gpointer id;
  Fetch *fetch;

  if (g_hash_table_size (ids) == 0)
    return;

  g_string_printf (filter, "q[]=%s:=", field);
  g_hash_table_iter_init (&iter, ids);
  for (guint n = 0; g_hash_table_iter_next (&iter, &id, NULL); n++)
    g_string_append_printf (filter, "%s%s", n > 0 ? "," : "", (const char *) id);

  fetch = g_new0 (Fetch, 1);
  fetch->kind = kind;
  fetch->path = g_strdup (path);
  fetch->collection = g_strdup (collection);
  fetch->params = extra != NULL ? g_strsplit (extra, " ", -1) : g_new0 (char *, 1);
  {
    guint n = g_strv_length (fetch->params);

    fetch->params = g_renew (char *, fetch->params, n + 2);
    fetch->params[n] = g_string_free (g_steal_pointer (&filter), FALSE);
    fetch->params[n + 1] = NULL;
  }
  g_queue_push_tail (&b->fetches, fetch);
}

static void
plan_fetches (Run   *run,
              Batch *b)
{
  g_autoptr(GHashTable) appointments = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) groups = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) attendees = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) patients = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) recall_patients = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GDateTime) now = g_date_time_new_from_unix_utc (run->now / G_USEC_PER_SEC);
  g_autoptr(GDateTime) since = NULL;
  g_autofree char *now_text = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *future = g_strdup_printf ("q[]=starts_at:>%s", now_text);
  g_autofree char *since_text = NULL;
  g_autofree char *recent = NULL;
  gint64 oldest = run->now;

  for (guint i = 0; i < b->claims->len; i++)
    {
      Claim *c = g_ptr_array_index (b->claims, i);

      if (c->memo_only)
        {
          if (c->patient_id != NULL)
            g_hash_table_add (patients, c->patient_id);
          oldest = MIN (oldest, c->created_at);
          continue;
        }

      if (*c->attendee_id == '\0')
        g_hash_table_add (appointments, c->appointment_id);
      else
        {
          g_hash_table_add (groups, c->appointment_id);
          g_hash_table_add (attendees, c->attendee_id);
        }
      if (c->patient_id != NULL)
        {
          g_hash_table_add (patients, c->patient_id);
          if (g_str_equal (c->kind, "recall"))
            g_hash_table_add (recall_patients, c->patient_id);
        }
      oldest = MIN (oldest, c->created_at);
    }

  /* Cancelled and archived rows too (archived_at:*): they must be seen to
   * be skipped. A row missing from the answer was deleted. */
  add_fetch (b, FETCH_APPOINTMENTS, "/individual_appointments", "individual_appointments", "id",
             appointments, "q[]=archived_at:*");
  add_fetch (b, FETCH_GROUPS, "/group_appointments", "group_appointments", "id", groups,
             "q[]=archived_at:*");
  add_fetch (b, FETCH_ATTENDEES, "/attendees", "attendees", "id", attendees, "q[]=archived_at:*");
  add_fetch (b, FETCH_PATIENTS, "/patients", "patients", "id", patients, "q[]=archived_at:*");
  add_fetch (b, FETCH_FUTURE, "/individual_appointments", "individual_appointments",
             "patient_id", recall_patients, future);

  if (b->email.write_back || g_hash_table_size (appointments) + g_hash_table_size (groups) == 0)
    {
      since = g_date_time_new_from_unix_utc (oldest / G_USEC_PER_SEC - 24 * 60 * 60);
      since_text = g_date_time_format (since, "%Y-%m-%dT%H:%M:%SZ");
      recent = g_strdup_printf ("q[]=created_at:>=%s", since_text);
      add_fetch (b, FETCH_COMMUNICATIONS, "/communications", "communications", "patient_id",
                 patients, recent);
    }
}

static void
smtp_password_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Run *run = user_data;
  Batch *b = g_ptr_array_index (run->batches, run->index);
  g_autoptr(GError) error = NULL;

  b->email.mail->password = mhf_keyring_lookup_finish (result, &error);
  if (error != NULL)
    g_message ("Clinic %" G_GINT64_FORMAT ": the SMTP password could not be read: %s",
               b->clinic_id, error->message);
  fetch_next (run);
}

static void
cliniko_key_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Run *run = user_data;
  Batch *b = g_ptr_array_index (run->batches, run->index);
  g_autoptr(GError) error = NULL;
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, b->clinic_id);

  b->cliniko_key = mhf_keyring_lookup_finish (result, &error);
  if (b->cliniko_key == NULL)
    {
      /* No way to check preferences: nothing goes. */
      b->cliniko_error = error != NULL ? g_steal_pointer (&error)
                                       : g_error_new_literal (MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                                              "no Cliniko key");
    }
  else
    {
      b->client = mhf_agent_service_new_cliniko_client (run->self, b->base_url, b->cliniko_key,
                                                        b->fingerprint);
      plan_fetches (run, b);
    }

  if (g_str_equal (b->email.mail->transport, "smtp") && b->email.password_set)
    {
      mhf_keyring_lookup_async (MHF_SECRET_KIND_SMTP_PASSWORD, clinic, NULL, smtp_password_cb,
                                run);
      return;
    }
  fetch_next (run);
}

static void
finish_run (Run *run)
{
  MhfAgentService *self = run->self;
  gboolean again = self->send_again || run->more;

  self->sending = FALSE;
  self->send_again = FALSE;
  run_free (run);

  if (again)
    mhf_agent_service_send_due (self);
  else
    mhf_agent_service_arm_send_timer (self);
}

static void
next_batch (Run *run)
{
  Batch *b;
  g_autofree char *clinic = NULL;

  if (run->index >= run->batches->len)
    {
      finish_run (run);
      return;
    }

  b = g_ptr_array_index (run->batches, run->index);
  clinic = g_strdup_printf ("%" G_GINT64_FORMAT, b->clinic_id);
  mhf_keyring_lookup_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, NULL, cliniko_key_cb, run);
}

/* ---- the per-installation key for address hashes ------------------------------------------------------ */

static void
hash_key_stored_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_keyring_store_finish (result, &error))
    {
      g_message ("Could not keep the address hash key in the keyring: %s", error->message);
      memset (run->hash_key, 0, strlen (run->hash_key));
      g_clear_pointer (&run->hash_key, g_free);
    }
  next_batch (run);
}

static void
hash_key_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  run->hash_key = mhf_keyring_lookup_finish (result, &error);
  if (run->hash_key == NULL && error == NULL)
    {
      guint8 raw[32];

      if (sodium_init () < 0)
        g_error ("libsodium could not start");
      randombytes_buf (raw, sizeof raw);
      run->hash_key = g_malloc (sizeof raw * 2 + 1);
      sodium_bin2hex (run->hash_key, sizeof raw * 2 + 1, raw, sizeof raw);
      sodium_memzero (raw, sizeof raw);
      mhf_keyring_store_async (MHF_SECRET_KIND_ADDRESS_HASH_KEY, "none",
                               "MyHealthFollowup address hash key", run->hash_key, NULL,
                               hash_key_stored_cb, run);
      return;
    }
  next_batch (run);
}

static void
claimed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; run->batches != NULL && i < run->batches->len; i++)
    ((Batch *) g_ptr_array_index (run->batches, i))->minute_usec = run->self->minute_usec;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Could not claim due messages: %s", error->message);
      run->self->sending = FALSE;
      run_free (run);
      return;
    }

  if (run->batches->len == 0)
    {
      finish_run (run);
      return;
    }
  mhf_keyring_lookup_async (MHF_SECRET_KIND_ADDRESS_HASH_KEY, "none", NULL, hash_key_cb, run);
}

/**
 * mhf_agent_service_send_due:
 *
 * Sends what is due now, clinic by clinic; then sets the send timer to
 * the next due message. A call while a run is going makes it run again
 * when it ends.
 */
void
mhf_agent_service_send_due (MhfAgentService *self)
{
  Run *run;

  if (self->store == NULL || !mhf_store_is_open (self->store))
    return;
  if (self->sending)
    {
      self->send_again = TRUE;
      return;
    }

  self->sending = TRUE;
  run = g_new0 (Run, 1);
  run->self = g_object_ref (self);
  run->batches = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
  run->now = g_get_real_time ();
  run->sending_until = self->licence_sending_until;
  mhf_store_run_async (self->store, claim_worker, run, NULL, self->cancellable, claimed_cb, run);
}
