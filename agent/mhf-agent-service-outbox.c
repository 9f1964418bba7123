/* mhf-agent-service-outbox.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The outbox around the sender: what happens at start-up (rows found
 * "sending" become "interrupted" and are never re-sent on their own; rows
 * that came due while the agent was not running go out late if still
 * useful, else are skipped "missed-window"), the send timer, and
 * ListOutbox, CancelMessage and RetryMessage.
 *
 * The send timer is a timerfd on CLOCK_REALTIME set to the next due time
 * (TFD_TIMER_ABSTIME): no polling loop. A wall-clock timer also fires on
 * time after a suspend, and TFD_TIMER_CANCEL_ON_SET wakes it when the
 * clock is set, so that a clock jump re-evaluates what is due.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-error.h"
#include "mhf-reason.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* ---- start-up -------------------------------------------------------------------------------- */

typedef struct
{
  gint64 last_seen;
  gint64 interrupted;
  gint64 missed;
} StartState;

static void
start_worker (GTask   *task,
              sqlite3 *db,
              gpointer task_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree StartState *state = g_new0 (StartState, 1);
  gint64 now = g_get_real_time ();

  if (!mhf_store_begin (db, &error) ||
      !mhf_store_query_int64 (db, "SELECT CAST(value AS INTEGER) FROM settings"
                                  " WHERE key = 'last-seen'", &state->last_seen, &error, ""))
    goto failed;

  /* May or may not have gone out: never sent again on its own. */
  if (!mhf_store_exec_bound (db,
                             "INSERT INTO delivery_events (clinic_id, outbox_id, rule_id, at,"
                             "                             state, reason)"
                             " SELECT clinic_id, id, rule_id, ?1, 'interrupted', 'interrupted'"
                             "   FROM outbox WHERE state = 'sending'",
                             &error, "x", now) ||
      !mhf_store_exec_bound (db,
                             "UPDATE outbox SET state = 'interrupted', reason = 'interrupted',"
                             "       updated_at = ?1 WHERE state = 'sending'",
                             &error, "x", now))
    goto failed;
  state->interrupted = sqlite3_changes (db);

  /* Came due while the agent was off and is no longer useful. */
  if (!mhf_store_exec_bound (db,
                             "UPDATE outbox SET state = 'skipped', reason = 'missed-window',"
                             "       updated_at = ?1"
                             " WHERE state IN ('planned', 'retry_wait')"
                             "   AND latest_at IS NOT NULL AND latest_at < ?1",
                             &error, "x", now))
    goto failed;
  state->missed = sqlite3_changes (db);

  /* Sent, but the agent stopped before its memo: write it now. */
  if (!mhf_store_exec_bound (db,
                             "UPDATE outbox SET next_attempt_at = ?1"
                             " WHERE state = 'sent' AND writeback_state = 'pending'"
                             "   AND next_attempt_at IS NULL",
                             &error, "x", now))
    goto failed;

  if (!mhf_store_exec_bound (db,
                             "INSERT INTO settings (key, value) VALUES ('last-seen', ?1)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                             &error, "x", now) ||
      !mhf_store_commit (db, &error))
    goto failed;

  g_task_return_pointer (task, g_steal_pointer (&state), g_free);
  return;

failed:
  mhf_store_rollback (db);
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
start_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autofree StartState *state = NULL;
  g_autoptr(GError) error = NULL;

  state = g_task_propagate_pointer (G_TASK (result), &error);
  if (state == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Could not check the outbox at start-up: %s", error->message);
      return;
    }

  self->last_seen = state->last_seen;
  self->offline_usec = state->last_seen > 0 ? MAX (0, self->started_at - state->last_seen) : 0;
  if (state->interrupted > 0 || state->missed > 0 || self->offline_usec > 0)
    g_message ("At start-up: the agent was off for %" G_GINT64_FORMAT " s; %" G_GINT64_FORMAT
               " messages interrupted, %" G_GINT64_FORMAT " missed their send window",
               self->offline_usec / G_USEC_PER_SEC, state->interrupted, state->missed);
  mhf_agent_service_update_status (self);
  mhf_agent_service_arm_send_timer (self);
  mhf_agent_service_schedule_scans (self, 0);
}

/* A heartbeat, so that the next start knows how long the agent was off. */
static void
heartbeat_worker (GTask   *task,
                  sqlite3 *db,
                  gpointer task_data)
{
  g_autoptr(GError) error = NULL;

  if (!mhf_store_exec_bound (db,
                             "INSERT INTO settings (key, value) VALUES ('last-seen', ?1)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                             &error, "x", g_get_real_time ()))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
heartbeat_cb (gpointer user_data)
{
  MhfAgentService *self = user_data;

  if (self->store != NULL && mhf_store_is_open (self->store))
    mhf_store_run_async (self->store, heartbeat_worker, NULL, NULL, self->cancellable, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

/**
 * mhf_agent_service_outbox_start:
 *
 * Runs once the database is open: start-up checks, then the send timer,
 * the heartbeat and the scans.
 */
void
mhf_agent_service_outbox_start (MhfAgentService *self)
{
  if (self->heartbeat_id == 0)
    self->heartbeat_id = g_timeout_add (MAX (1000, self->minute_usec / 1000), heartbeat_cb, self);
  mhf_store_run_async (self->store, start_worker, NULL, NULL, self->cancellable, start_cb,
                       g_object_ref (self));
}

/* ---- the send timer ----------------------------------------------------------------------------- */

static void
due_worker (GTask   *task,
            sqlite3 *db,
            gpointer task_data)
{
  g_autoptr(GError) error = NULL;
  gint64 until = *(gint64 *) task_data;
  gint64 *due = g_new0 (gint64, 1);

  /* Only clinics that can send: others wait, and say so in their status.
   * Messages wait too while no licence is in force, and those due only
   * after it ends arm no timer: a claim would leave them where they are,
   * and the timer would fire again at once. */
  if (!mhf_store_query_int64 (db,
                              "SELECT min(CASE WHEN o.state = 'planned' THEN o.planned_at"
                              "                ELSE o.next_attempt_at END)"
                              "  FROM outbox o JOIN clinics c ON c.id = o.clinic_id"
                              " WHERE ((o.state IN ('planned', 'retry_wait')"
                              "         AND ?1 < ?2"
                              "         AND CASE WHEN o.state = 'planned' THEN o.planned_at"
                              "                  ELSE o.next_attempt_at END < ?2)"
                              "        OR (o.state = 'sent' AND o.writeback_state = 'pending'))"
                              "   AND c.email_transport IS NOT NULL AND c.email_problem IS NULL"
                              "   AND NOT c.paused",
                              due, &error, "xx", g_get_real_time (), until))
    {
      g_free (due);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, due, g_free);
}

static void
set_timer (MhfAgentService *self,
           gint64           due)
{
  struct itimerspec spec = { 0, };

  if (self->send_timer_fd < 0)
    return;

  if (due > 0)
    {
      /* 0 would disarm the timer: a due time in the past fires at once. */
      due = MAX (due, 1);
      spec.it_value.tv_sec = due / G_USEC_PER_SEC;
      spec.it_value.tv_nsec = (due % G_USEC_PER_SEC) * 1000;
    }
  if (timerfd_settime (self->send_timer_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
                       &spec, NULL) < 0)
    g_warning ("Could not set the send timer: %s", g_strerror (errno));
  self->next_due = due;
}

static void
due_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(MhfAgentService) self = user_data;
  g_autofree gint64 *due = NULL;
  g_autoptr(GError) error = NULL;

  due = g_task_propagate_pointer (G_TASK (result), &error);
  if (due == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Could not find the next due message: %s", error->message);
      return;
    }
  set_timer (self, *due);
}

static gboolean
send_timer_cb (gint         fd,
               GIOCondition condition,
               gpointer     user_data)
{
  MhfAgentService *self = user_data;
  guint64 expirations;

  if (read (fd, &expirations, sizeof expirations) < 0 && errno == ECANCELED)
    {
      /* The clock was set: what is due may have changed. */
      g_message ("The system clock changed; checking what is due again");
      mhf_agent_service_arm_send_timer (self);
      return G_SOURCE_CONTINUE;
    }

  self->next_due = 0;
  mhf_agent_service_send_due (self);
  return G_SOURCE_CONTINUE;
}

/**
 * mhf_agent_service_arm_send_timer:
 *
 * Sets the send timer to the next due message of any clinic that can
 * send; call after anything that plans, moves or finishes messages.
 */
void
mhf_agent_service_arm_send_timer (MhfAgentService *self)
{
  if (self->store == NULL || !mhf_store_is_open (self->store))
    return;

  if (self->send_timer_fd < 0)
    {
      self->send_timer_fd = timerfd_create (CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
      if (self->send_timer_fd < 0)
        {
          g_warning ("Could not create the send timer: %s", g_strerror (errno));
          return;
        }
      self->send_timer_source = g_unix_fd_add (self->send_timer_fd, G_IO_IN, send_timer_cb, self);
    }

  mhf_store_run_async (self->store, due_worker,
                       g_memdup2 (&self->licence_sending_until, sizeof (gint64)), g_free,
                       self->cancellable, due_cb, g_object_ref (self));
}

void
mhf_agent_service_outbox_stop (MhfAgentService *self)
{
  g_clear_handle_id (&self->heartbeat_id, g_source_remove);
  g_clear_handle_id (&self->send_timer_source, g_source_remove);
  if (self->send_timer_fd >= 0)
    {
      close (self->send_timer_fd);
      self->send_timer_fd = -1;
    }
}

/* ---- ListOutbox ----------------------------------------------------------------------------------- */

static const char * const states[] = {
  "planned", "sending", "sent", "skipped", "retry_wait", "failed", "cancelled", "interrupted", NULL
};

static gboolean
list_worker (MhfCall  *call,
             sqlite3  *db,
             GError  **error)
{
  g_autoptr(GVariant) filter = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder messages;
  const char *state = NULL;
  gint64 clinic_id = 0, rule = 0, before = 0, last = 0;
  guint limit = 100, n = 0;
  int rc;

  g_variant_get (call->params, "(x@a{sv})", &clinic_id, &filter);
  g_variant_lookup (filter, "state", "&s", &state);
  g_variant_lookup (filter, "rule", "x", &rule);
  g_variant_lookup (filter, "before", "x", &before);
  g_variant_lookup (filter, "limit", "u", &limit);

  if (state != NULL && !g_strv_contains (states, state))
    {
      call->reply_error = g_error_new (MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                       "state: one of planned, sending, sent, skipped, retry_wait,"
                                       " failed, cancelled or interrupted");
      return TRUE;
    }
  if (limit < 1 || limit > 500)
    {
      call->reply_error = g_error_new_literal (MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                               "limit: 1 to 500");
      return TRUE;
    }

  rc = sqlite3_prepare_v2 (db,
                           "SELECT o.id, o.rule_id, r.name, r.kind, o.appointment_id, o.attendee_id,"
                           "       o.appointment_start, o.planned_at, coalesce(o.latest_at, 0),"
                           "       o.state, coalesce(o.reason, ''), o.attempts,"
                           "       coalesce(o.next_attempt_at, 0), o.updated_at, coalesce(o.writeback_state, ''),"
                           "       coalesce(o.message_id, ''),"
                           "       coalesce((SELECT e.masked_recipient FROM delivery_events e"
                           "                  WHERE e.outbox_id = o.id"
                           "                    AND e.masked_recipient IS NOT NULL"
                           "                  ORDER BY e.id DESC LIMIT 1), '')"
                           "  FROM outbox o JOIN rules r ON r.id = o.rule_id"
                           " WHERE o.clinic_id = ?1 AND (?2 IS NULL OR o.state = ?2)"
                           "   AND (?3 = 0 OR o.rule_id = ?3) AND (?4 = 0 OR o.id < ?4)"
                           " ORDER BY o.id DESC LIMIT ?5",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading the outbox");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);
  if (state != NULL)
    sqlite3_bind_text (stmt, 2, state, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, rule);
  sqlite3_bind_int64 (stmt, 4, before);
  sqlite3_bind_int64 (stmt, 5, limit);

  g_variant_builder_init (&messages, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
      const char *reason = (const char *) sqlite3_column_text (stmt, 10);

      last = sqlite3_column_int64 (stmt, 0);
      g_variant_dict_insert (&dict, "id", "x", last);
      g_variant_dict_insert (&dict, "rule", "x", sqlite3_column_int64 (stmt, 1));
      g_variant_dict_insert (&dict, "rule-name", "s", sqlite3_column_text (stmt, 2));
      g_variant_dict_insert (&dict, "kind", "s", sqlite3_column_text (stmt, 3));
      g_variant_dict_insert (&dict, "appointment", "s", sqlite3_column_text (stmt, 4));
      g_variant_dict_insert (&dict, "attendee", "s", sqlite3_column_text (stmt, 5));
      g_variant_dict_insert (&dict, "appointment-start", "s", sqlite3_column_text (stmt, 6));
      g_variant_dict_insert (&dict, "planned-at", "x", sqlite3_column_int64 (stmt, 7));
      g_variant_dict_insert (&dict, "latest-at", "x", sqlite3_column_int64 (stmt, 8));
      g_variant_dict_insert (&dict, "state", "s", sqlite3_column_text (stmt, 9));
      g_variant_dict_insert (&dict, "reason", "s", reason);
      g_variant_dict_insert (&dict, "reason-text", "s", mhf_reason_describe (reason));
      g_variant_dict_insert (&dict, "attempts", "u", (guint) sqlite3_column_int (stmt, 11));
      g_variant_dict_insert (&dict, "next-attempt-at", "x", sqlite3_column_int64 (stmt, 12));
      g_variant_dict_insert (&dict, "updated-at", "x", sqlite3_column_int64 (stmt, 13));
      g_variant_dict_insert (&dict, "write-back", "s", sqlite3_column_text (stmt, 14));
      g_variant_dict_insert (&dict, "message-id", "s", sqlite3_column_text (stmt, 15));
      g_variant_dict_insert (&dict, "recipient", "s", sqlite3_column_text (stmt, 16));
      g_variant_builder_add_value (&messages, g_variant_dict_end (&dict));
      n++;
    }
  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&messages);
      mhf_store_set_error (error, db, rc, "Reading the outbox");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv}x)", &messages,
                                                   n == limit ? last : (gint64) 0));
  return TRUE;
}

static gboolean
handle_list_outbox (MhfIpcAgent1          *object,
                    GDBusMethodInvocation *invocation,
                    gint64                 clinic,
                    GVariant              *filter)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- CancelMessage, RetryMessage ----------------------------------------------------------------------- */

typedef struct
{
  char   *state;
  char   *rule_name;
  char   *appointment;
} MessageRow;

static void
message_row_clear (MessageRow *row)
{
  g_free (row->state);
  g_free (row->rule_name);
  g_free (row->appointment);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MessageRow, message_row_clear)

static gboolean
read_message (sqlite3     *db,
              gint64       clinic_id,
              gint64       id,
              MessageRow  *row,
              GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT o.state, r.name, o.appointment_id"
                           "  FROM outbox o JOIN rules r ON r.id = o.rule_id"
                           " WHERE o.clinic_id = ?1 AND o.id = ?2",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, id);
      rc = sqlite3_step (stmt);
    }
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "This clinic has no message %" G_GINT64_FORMAT, id);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading the outbox");
      return FALSE;
    }
  row->state = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  row->rule_name = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  row->appointment = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  return TRUE;
}

static gboolean
cancel_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  g_auto(MessageRow) row = { 0, };
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  GError *local_error = NULL;
  const char *reason = NULL;
  gint64 clinic_id = 0, id = 0;

  g_variant_get (call->params, "(xx&s)", &clinic_id, &id, &reason);

  if (g_utf8_strlen (reason, -1) > 200)
    {
      call->reply_error = g_error_new_literal (MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                               "reason: at most 200 characters");
      return TRUE;
    }

  if (!read_message (db, clinic_id, id, &row, &local_error))
    {
      if (local_error->domain != MHF_ERROR)
        {
          g_propagate_error (error, local_error);
          return FALSE;
        }
      call->reply_error = local_error;
      return TRUE;
    }

  if (!g_str_equal (row.state, "planned") && !g_str_equal (row.state, "retry_wait"))
    {
      call->reply_error = g_error_new (MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                       "Only a planned or retrying message can be cancelled; "
                                       "message %" G_GINT64_FORMAT " is %s", id, row.state);
      return TRUE;
    }

  if (!mhf_store_exec_bound (db,
                             "UPDATE outbox SET state = 'cancelled', reason = 'cancelled-by-user',"
                             "       next_attempt_at = NULL, updated_at = ?1"
                             " WHERE clinic_id = ?2 AND id = ?3",
                             error, "xxx", call->now, clinic_id, id))
    return FALSE;

  /* In the history too, so that the front desk finds it with its reason. */
  if (!mhf_store_exec_bound (db,
                             "INSERT INTO delivery_events (clinic_id, outbox_id, rule_id,"
                             "                             template_name, at, state, reason)"
                             " SELECT o.clinic_id, o.id, o.rule_id, t.name, ?1, 'cancelled',"
                             "        'cancelled-by-user'"
                             "   FROM outbox o JOIN rules r ON r.id = o.rule_id"
                             "        JOIN templates t ON t.id = r.template_id"
                             "  WHERE o.clinic_id = ?2 AND o.id = ?3",
                             error, "xxx", call->now, clinic_id, id))
    return FALSE;

  target = g_strdup_printf ("message %" G_GINT64_FORMAT, id);
  summary = g_strdup_printf ("message %" G_GINT64_FORMAT " (rule “%s”, appointment %s): %s → "
                             "cancelled%s%s", id, row.rule_name, row.appointment, row.state,
                             *reason != '\0' ? "; reason: " : "", reason);
  return mhf_call_audit (call, db, clinic_id, "message.cancel", target, summary, error);
}

static gboolean
retry_worker (MhfCall  *call,
              sqlite3  *db,
              GError  **error)
{
  static const char * const retryable[] = { "failed", "interrupted", "skipped", "cancelled", NULL };
  g_auto(MessageRow) row = { 0, };
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  GError *local_error = NULL;
  gint64 clinic_id = 0, id = 0;

  g_variant_get (call->params, "(xx)", &clinic_id, &id);

  if (!read_message (db, clinic_id, id, &row, &local_error))
    {
      if (local_error->domain != MHF_ERROR)
        {
          g_propagate_error (error, local_error);
          return FALSE;
        }
      call->reply_error = local_error;
      return TRUE;
    }

  if (!g_strv_contains (retryable, row.state))
    {
      call->reply_error = g_error_new (MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                       "Only a failed, interrupted, skipped or cancelled message "
                                       "can be retried; message %" G_GINT64_FORMAT " is %s",
                                       id, row.state);
      return TRUE;
    }

  /* Due now, with no latest time: a person asked for it. Every gate is
   * checked again when it goes. */
  if (!mhf_store_exec_bound (db,
                             "UPDATE outbox SET state = 'planned', reason = NULL, planned_at = ?1,"
                             "       latest_at = NULL, next_attempt_at = NULL, updated_at = ?1"
                             " WHERE clinic_id = ?2 AND id = ?3",
                             error, "xxx", call->now, clinic_id, id))
    return FALSE;

  target = g_strdup_printf ("message %" G_GINT64_FORMAT, id);
  summary = g_strdup_printf ("message %" G_GINT64_FORMAT " (rule “%s”, appointment %s): %s → "
                             "planned", id, row.rule_name, row.appointment, row.state);
  return mhf_call_audit (call, db, clinic_id, "message.retry", target, summary, error);
}

static void
changed_done (MhfCall *call)
{
  gint64 clinic_id = 0;

  g_variant_get_child (call->params, 0, "x", &clinic_id);
  mhf_ipc_agent1_emit_outbox_changed (MHF_IPC_AGENT1 (call->self), clinic_id);
  mhf_agent_service_arm_send_timer (call->self);
}

static gboolean
handle_cancel_message (MhfIpcAgent1          *object,
                       GDBusMethodInvocation *invocation,
                       gint64                 clinic,
                       gint64                 id,
                       const char            *reason)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, cancel_worker, changed_done,
                          NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_retry_message (MhfIpcAgent1          *object,
                      GDBusMethodInvocation *invocation,
                      gint64                 clinic,
                      gint64                 id)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, retry_worker, changed_done,
                          NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_outbox_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_list_outbox = handle_list_outbox;
  iface->handle_cancel_message = handle_cancel_message;
  iface->handle_retry_message = handle_retry_message;
}
