/* mhf-agent-service-sessions.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Sessions: one per caller's unique bus name, never a token on the bus.
 * A session ends with SignOut, when its name leaves the bus, or after the
 * idle timeout; the client hears SessionEnded, sent to it alone.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

GHashTable *
mhf_roles_new (void)
{
  return g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
}

void
mhf_roles_set (GHashTable *roles,
               gint64      clinic_id,
               MhfRole     role)
{
  if (role == MHF_ROLE_NONE)
    g_hash_table_remove (roles, &clinic_id);
  else
    g_hash_table_insert (roles, g_memdup2 (&clinic_id, sizeof clinic_id), GINT_TO_POINTER (role));
}

/**
 * mhf_session_get_role:
 *
 * The session's role on @clinic_id: its own role there or its role on
 * every clinic, whichever is higher.
 */
MhfRole
mhf_session_get_role (MhfSession *session,
                      gint64      clinic_id)
{
  gint64 every = 0;
  MhfRole here = GPOINTER_TO_INT (g_hash_table_lookup (session->roles, &clinic_id));
  MhfRole all = GPOINTER_TO_INT (g_hash_table_lookup (session->roles, &every));

  return MAX (here, all);
}

GVariant *
mhf_session_dup_roles_variant (MhfSession *session)
{
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer key, value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{xs}"));
  g_hash_table_iter_init (&iter, session->roles);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_variant_builder_add (&builder, "{xs}", *(gint64 *) key,
                           mhf_role_to_string (GPOINTER_TO_INT (value)));

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
session_free (MhfSession *session)
{
  g_clear_handle_id (&session->watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&session->timer_id, g_source_remove);
  g_clear_pointer (&session->roles, g_hash_table_unref);
  g_free (session->sender);
  g_free (session->username);
  g_free (session->display_name);
  g_free (session);
}

static void
emit_session_ended (MhfAgentService *self,
                    const char      *sender,
                    const char      *reason)
{
  GDBusConnection *connection;

  connection = g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self));
  if (connection == NULL)
    return;

  /* Unicast: only the client whose session ended hears it. */
  g_dbus_connection_emit_signal (connection, sender, AGENT_OBJECT_PATH,
                                 "com.myhealthfollowup.MyHealthFollowup.Agent1",
                                 "SessionEnded", g_variant_new ("(s)", reason), NULL);
}

void
mhf_agent_service_end_session (MhfAgentService *self,
                               const char      *sender,
                               const char      *reason)
{
  MhfSession *session = g_hash_table_lookup (self->sessions, sender);

  if (session == NULL)
    return;

  g_debug ("Session of user %" G_GINT64_FORMAT " ended: %s", session->user_id, reason);
  if (g_strcmp0 (reason, "bus-name-left") != 0)
    emit_session_ended (self, sender, reason);
  g_hash_table_remove (self->sessions, sender);
  mhf_agent_service_update_status (self);
}

void
mhf_agent_service_end_user_sessions (MhfAgentService *self,
                                     gint64           user_id,
                                     const char      *except_sender,
                                     const char      *reason)
{
  g_autoptr(GPtrArray) senders = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  MhfSession *session;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session))
    {
      if (session->user_id == user_id && g_strcmp0 (session->sender, except_sender) != 0)
        g_ptr_array_add (senders, g_strdup (session->sender));
    }

  for (guint i = 0; i < senders->len; i++)
    mhf_agent_service_end_session (self, g_ptr_array_index (senders, i), reason);
}

static gint64
idle_timeout_usec (MhfAgentService *self)
{
  return (gint64) self->idle_timeout_minutes * self->minute_usec;
}

static gboolean session_timer_cb (gpointer user_data);

typedef struct
{
  MhfAgentService *self;
  char            *sender;
} TimerData;

static void
timer_data_free (gpointer data)
{
  TimerData *td = data;

  g_free (td->sender);
  g_free (td);
}

static void
schedule_idle_check (MhfAgentService *self,
                     MhfSession      *session)
{
  gint64 remaining = session->last_activity + idle_timeout_usec (self) - g_get_monotonic_time ();
  TimerData *td;

  g_clear_handle_id (&session->timer_id, g_source_remove);

  td = g_new0 (TimerData, 1);
  td->self = self;
  td->sender = g_strdup (session->sender);
  session->timer_id = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                          (guint) MAX (remaining / 1000, 0) + 1,
                                          session_timer_cb, td, timer_data_free);
}

static gboolean
session_timer_cb (gpointer user_data)
{
  TimerData *td = user_data;
  MhfAgentService *self = td->self;
  MhfSession *session = g_hash_table_lookup (self->sessions, td->sender);

  if (session == NULL)
    return G_SOURCE_REMOVE;

  session->timer_id = 0;

  /* Activity since the timer was set moves the deadline on. */
  if (g_get_monotonic_time () - session->last_activity >= idle_timeout_usec (self))
    mhf_agent_service_end_session (self, td->sender, "idle-timeout");
  else
    schedule_idle_check (self, session);

  return G_SOURCE_REMOVE;
}

static void
sender_vanished_cb (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  MhfAgentService *self = user_data;

  mhf_agent_service_end_session (self, name, "bus-name-left");
}

/**
 * mhf_agent_service_get_session:
 *
 * Returns: (transfer none) (nullable): the live session of @sender. A
 *   session past its idle timeout ends here and is not returned.
 */
MhfSession *
mhf_agent_service_get_session (MhfAgentService *self,
                               const char      *sender)
{
  MhfSession *session;

  if (sender == NULL)
    return NULL;

  session = g_hash_table_lookup (self->sessions, sender);
  if (session == NULL)
    return NULL;

  if (g_get_monotonic_time () - session->last_activity >= idle_timeout_usec (self))
    {
      mhf_agent_service_end_session (self, sender, "idle-timeout");
      return NULL;
    }

  return session;
}

MhfSession *
mhf_agent_service_begin_session (MhfAgentService *self,
                                 const char      *sender,
                                 gint64           user_id,
                                 const char      *username,
                                 const char      *display_name,
                                 GHashTable      *roles)
{
  GDBusConnection *connection;
  MhfSession *session;

  g_hash_table_remove (self->sessions, sender);

  session = g_new0 (MhfSession, 1);
  session->sender = g_strdup (sender);
  session->user_id = user_id;
  session->username = g_strdup (username);
  session->display_name = g_strdup (display_name);
  session->roles = g_hash_table_ref (roles);
  session->last_activity = g_get_monotonic_time ();

  connection = g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self));
  if (connection != NULL)
    session->watch_id = g_bus_watch_name_on_connection (connection, sender,
                                                        G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                        NULL, sender_vanished_cb,
                                                        self, NULL);

  g_hash_table_insert (self->sessions, session->sender, session);
  schedule_idle_check (self, session);

  g_debug ("Session of user %" G_GINT64_FORMAT " began", user_id);
  mhf_agent_service_update_status (self);
  return session;
}

/**
 * mhf_agent_service_reschedule_sessions:
 *
 * After the idle timeout changed: every session's deadline follows the
 * new value at once.
 */
void
mhf_agent_service_reschedule_sessions (MhfAgentService *self)
{
  GHashTableIter iter;
  MhfSession *session;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session))
    schedule_idle_check (self, session);
}

/* Called for every authorized call of a signed-in caller. */
void
mhf_agent_service_touch_session (MhfAgentService *self,
                                 MhfSession      *session)
{
  session->last_activity = g_get_monotonic_time ();
}

GVariant *
mhf_agent_service_dup_whoami (MhfAgentService *self,
                              const char      *sender)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  MhfSession *session = mhf_agent_service_get_session (self, sender);

  g_variant_dict_insert (&dict, "signed-in", "b", session != NULL);
  g_variant_dict_insert (&dict, "first-run", "b", self->n_users == 0);
  if (session != NULL)
    {
      g_variant_dict_insert (&dict, "username", "s", session->username);
      g_variant_dict_insert (&dict, "display-name", "s", session->display_name);
      g_variant_dict_insert_value (&dict, "roles", mhf_session_dup_roles_variant (session));
      g_variant_dict_insert (&dict, "idle-timeout", "u", self->idle_timeout_minutes);
    }

  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

void
mhf_agent_service_sessions_init (MhfAgentService *self)
{
  const char *minute = g_getenv ("MHF_AGENT_MINUTE_SECONDS");
  guint64 seconds = 60;

  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) session_free);
  self->idle_timeout_minutes = 15;

  /* A test hook: how many seconds make one of the agent's minutes (idle
   * timeout, lockouts), so tests need not wait for real minutes. */
  if (minute != NULL && !g_ascii_string_to_unsigned (minute, 10, 1, 60, &seconds, NULL))
    seconds = 60;
  self->minute_usec = (gint64) seconds * G_USEC_PER_SEC;
}
