/* mhf-agent-service-licence.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The licence: SetLicence(), the "licence" part of GetStatus(), and the
 * gate that pauses sending once no licence is in force (after a trial, or
 * a licence's expiry plus its grace period). Paused sending keeps its due
 * messages planned and says why in each clinic's status; it is never
 * silent. A token's text is never logged, audited or returned.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-error.h"

#define DAY_USEC ((gint64) 24 * 60 * 60 * G_USEC_PER_SEC)

/**
 * mhf_agent_service_load_licence:
 * @licence: (out) (nullable): the stored licence, %NULL when none
 * @invalid: (out): a licence is stored but does not verify (any more)
 * @trial_start: (out): when the database was created
 *
 * Worker thread only.
 */
gboolean
mhf_agent_service_load_licence (sqlite3     *db,
                                MhfLicence **licence,
                                gboolean    *invalid,
                                gint64      *trial_start,
                                GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  *licence = NULL;
  *invalid = FALSE;

  /* Set by schema 7: the database's creation, or its upgrade to licences. */
  if (!mhf_store_query_int64 (db,
                              "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM settings"
                              "                  WHERE key = 'trial-started-at'),"
                              "                (SELECT min(applied_at) FROM schema_migrations), 0)",
                              trial_start, error, ""))
    return FALSE;

  rc = sqlite3_prepare_v2 (db, "SELECT token FROM licence WHERE id = 1", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      g_autoptr(GError) local_error = NULL;

      *licence = mhf_licence_verify ((const char *) sqlite3_column_text (stmt, 0), &local_error);
      if (*licence == NULL)
        {
          g_message ("The stored licence does not verify with this build's key");
          *invalid = TRUE;
        }
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading the licence");
      return FALSE;
    }
  return TRUE;
}

static void licence_changed (MhfAgentService *self);

static gboolean
licence_timer_cb (gpointer user_data)
{
  MhfAgentService *self = user_data;

  self->licence_timer_id = 0;
  licence_changed (self);
  return G_SOURCE_REMOVE;
}

/* Recomputes the state now, and wakes up when it changes next. */
static void
licence_changed (MhfAgentService *self)
{
  MhfLicenceState old = self->licence_state;
  gint64 now = g_get_real_time ();
  gint64 next_change = 0;
  gboolean was_loaded = self->licence_loaded;
  gboolean could_send = was_loaded && now < self->licence_sending_until;

  self->licence_state = mhf_licence_compute_state (self->licence, self->licence_invalid,
                                                   self->trial_start, now,
                                                   &self->licence_sending_until, &next_change);
  self->licence_loaded = TRUE;

  g_clear_handle_id (&self->licence_timer_id, g_source_remove);
  if (next_change > now)
    {
      /* At most a day at a time: a timeout of years would overflow, and the
       * clock may be changed meanwhile. */
      gint64 wait = MIN (next_change - now, DAY_USEC);

      self->licence_timer_id = g_timeout_add_seconds ((guint) (wait / G_USEC_PER_SEC) + 1,
                                                      licence_timer_cb, self);
    }

  if (!was_loaded || old != self->licence_state)
    g_message ("Licence: %s", mhf_licence_state_to_string (self->licence_state));
  if (mhf_agent_service_licence_allows_sending (self) != could_send && was_loaded)
    g_message (could_send ? "No licence is in force: sending is paused, due messages are kept"
                          : "A licence is in force: sending resumes");
  else if (!was_loaded && !mhf_agent_service_licence_allows_sending (self))
    g_message ("No licence is in force: sending is paused, due messages are kept");

  mhf_agent_service_update_status (self);
  mhf_agent_service_arm_send_timer (self);
}

/**
 * mhf_agent_service_set_licence:
 * @licence: (transfer full) (nullable): the stored licence
 *
 * Main thread: takes what mhf_agent_service_load_licence() read, or a new
 * licence, and applies it to the status and to sending.
 */
void
mhf_agent_service_set_licence (MhfAgentService *self,
                               MhfLicence      *licence,
                               gboolean         invalid,
                               gint64           trial_start)
{
  g_clear_pointer (&self->licence, mhf_licence_free);
  self->licence = licence;
  self->licence_invalid = invalid;
  self->trial_start = trial_start;
  licence_changed (self);
}

gboolean
mhf_agent_service_licence_allows_sending (MhfAgentService *self)
{
  return self->licence_loaded && g_get_real_time () < self->licence_sending_until;
}

/**
 * mhf_agent_service_dup_licence:
 *
 * GetStatus()'s "licence" dictionary, or %NULL before the database has
 * been read.
 */
GVariant *
mhf_agent_service_dup_licence (MhfAgentService *self)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  if (!self->licence_loaded)
    return NULL;

  g_variant_dict_insert (&dict, "state", "s", mhf_licence_state_to_string (self->licence_state));
  g_variant_dict_insert (&dict, "plan", "s", self->licence != NULL ? self->licence->plan : "trial");
  g_variant_dict_insert (&dict, "clinics", "u", self->licence != NULL ? self->licence->clinics : 0);
  g_variant_dict_insert (&dict, "expires-at", "x",
                         self->licence != NULL ? self->licence->expires_at : 0);
  g_variant_dict_insert (&dict, "trial-ends-at", "x",
                         self->trial_start + MHF_LICENCE_TRIAL_DAYS * DAY_USEC);
  g_variant_dict_insert (&dict, "sending-until", "x", self->licence_sending_until);
  g_variant_dict_insert (&dict, "portal-url", "s",
                         self->licence != NULL ? self->licence->portal_url : "");
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* ---- SetLicence ---------------------------------------------------------------------------------- */

typedef struct
{
  char       *token;      /* as checked: without surrounding white space */
  MhfLicence *licence;
} NewLicence;

static void
new_licence_free (NewLicence *n)
{
  g_free (n->token);
  mhf_licence_free (n->licence);
  g_free (n);
}

static char *
describe (const MhfLicence *licence)
{
  g_autoptr(GDateTime) expires = NULL;
  g_autofree char *day = NULL;

  if (licence == NULL)
    return g_strdup ("none");
  expires = g_date_time_new_from_unix_utc (licence->expires_at / G_USEC_PER_SEC);
  day = expires != NULL ? g_date_time_format (expires, "%Y-%m-%d") : g_strdup ("?");
  return g_strdup_printf ("plan “%s”, %u clinics, expires %s", licence->plan, licence->clinics,
                          day);
}

static gboolean
set_licence_worker (MhfCall  *call,
                    sqlite3  *db,
                    GError  **error)
{
  NewLicence *n = call->data;
  MhfLicence *licence = n->licence;
  g_autoptr(MhfLicence) old = NULL;
  g_autofree char *old_text = NULL;
  g_autofree char *new_text = NULL;
  g_autofree char *summary = NULL;
  gboolean old_invalid = FALSE;
  gint64 trial_start = 0;

  if (!mhf_agent_service_load_licence (db, &old, &old_invalid, &trial_start, error))
    return FALSE;

  if (!mhf_store_exec_bound (db,
                             "INSERT INTO licence (id, token, plan, clinic_cap, expires_at,"
                             "                     verified_at)"
                             " VALUES (1, ?1, ?2, ?3, ?4, ?5)"
                             " ON CONFLICT (id) DO UPDATE SET token = excluded.token,"
                             "   plan = excluded.plan, clinic_cap = excluded.clinic_cap,"
                             "   expires_at = excluded.expires_at,"
                             "   verified_at = excluded.verified_at",
                             error, "ssxxx", n->token, licence->plan, (gint64) licence->clinics,
                             licence->expires_at, call->now))
    return FALSE;

  /* What it grants, never the token. */
  old_text = old_invalid ? g_strdup ("invalid") : describe (old);
  new_text = describe (licence);
  summary = g_strdup_printf ("licence: %s → %s", old_text, new_text);
  return mhf_call_audit (call, db, 0, "licence.set", "licence", summary, error);
}

static void
set_licence_done (MhfCall *call)
{
  NewLicence *n = call->data;

  mhf_agent_service_set_licence (call->self, g_steal_pointer (&n->licence), FALSE,
                                 call->self->trial_start);
}

static gboolean
handle_set_licence (MhfIpcAgent1          *object,
                    GDBusMethodInvocation *invocation,
                    const char            *token)
{
  g_autoptr(GError) error = NULL;
  NewLicence *n = g_new0 (NewLicence, 1);

  /* Checked before anything is stored: a bad token changes nothing. */
  n->token = g_strstrip (g_strdup (token));
  n->licence = mhf_licence_verify (n->token, &error);
  if (n->licence == NULL)
    {
      new_licence_free (n);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, set_licence_worker,
                          set_licence_done, n, (GDestroyNotify) new_licence_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_licence_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_set_licence = handle_set_licence;
}
