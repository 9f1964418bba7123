/* mhf-agent-client.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The one place in the app that talks to the agent. Everything else binds to
 * the properties of this object, so that widgets never see a GDBusProxy and
 * tests can watch the same properties the window does.
 */

#include "config.h"

#include "mhf-agent-client.h"

#include "mhf-error.h"
#include "mhf-ipc-agent.h"

struct _MhfAgentClient
{
  GObject           parent_instance;

  /* Owned references */
  MhfIpcAgent1     *proxy;
  GVariant         *status;
  char             *version;
  char             *data_directory;
  char             *username;
  char             *display_name;
  /* Cancelled in dispose; used for fetches the client starts by itself. */
  GCancellable     *cancellable;

  /* State */
  MhfAgentState     agent_state;
  MhfKeyringState   keyring_state;
  MhfDatabaseState  database_state;
  guint             schema_version;
  guint             reachable : 1;
  /* Whether WhoAmI() answered since the agent became ready; until then
   * "signed-in" and "first-run" mean nothing.
   */
  guint             session_known : 1;
  guint             signed_in : 1;
  guint             first_run : 1;
  guint             who_am_i_pending : 1;
};

G_DEFINE_FINAL_TYPE (MhfAgentClient, mhf_agent_client, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_REACHABLE,
  PROP_AGENT_STATE,
  PROP_KEYRING_STATE,
  PROP_DATABASE_STATE,
  PROP_STATUS,
  PROP_VERSION,
  PROP_DATA_DIRECTORY,
  PROP_SCHEMA_VERSION,
  PROP_SESSION_KNOWN,
  PROP_SIGNED_IN,
  PROP_FIRST_RUN,
  PROP_USERNAME,
  PROP_DISPLAY_NAME,
  N_PROPS
};

enum {
  SESSION_ENDED,
  OUTBOX_CHANGED,
  SCAN_PROGRESS,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void fetch_session (MhfAgentClient *self);

static void
set_reachable (MhfAgentClient *self,
               gboolean        reachable)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));

  reachable = !!reachable;
  if (self->reachable == reachable)
    return;

  self->reachable = reachable;
  g_debug ("Agent is %s", reachable ? "reachable" : "unreachable");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REACHABLE]);
}

static void
set_int_field (MhfAgentClient *self,
               int            *field,
               int             value,
               int             prop_id)
{
  if (*field == value)
    return;

  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static void
set_string_field (MhfAgentClient  *self,
                  char           **field,
                  const char      *value,
                  int              prop_id)
{
  if (g_strcmp0 (*field, value) == 0)
    return;

  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static const char *
lookup_string (GVariant   *status,
               const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (status, key, "&s", &value))
    return NULL;

  return value;
}

static void
set_bool_field (MhfAgentClient *self,
                gboolean        value,
                int             prop_id)
{
  gboolean old;

  g_assert (MHF_IS_AGENT_CLIENT (self));

  value = !!value;

  switch (prop_id)
    {
    case PROP_SESSION_KNOWN:
      old = self->session_known;
      self->session_known = value;
      break;

    case PROP_SIGNED_IN:
      old = self->signed_in;
      self->signed_in = value;
      break;

    case PROP_FIRST_RUN:
      old = self->first_run;
      self->first_run = value;
      break;

    default:
      g_assert_not_reached ();
    }

  if (old != value)
    g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

/* Forgets the session, for example when it ended or the agent left the bus
 * (sessions live in the agent's memory only).
 */
static void
clear_session (MhfAgentClient *self,
               gboolean        known)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));

  g_object_freeze_notify (G_OBJECT (self));
  set_bool_field (self, FALSE, PROP_SIGNED_IN);
  set_string_field (self, &self->username, NULL, PROP_USERNAME);
  set_string_field (self, &self->display_name, NULL, PROP_DISPLAY_NAME);
  set_bool_field (self, known, PROP_SESSION_KNOWN);
  g_object_thaw_notify (G_OBJECT (self));
}

/* Takes in a session dictionary from WhoAmI() or SignIn(). */
static void
apply_session (MhfAgentClient *self,
               GVariant       *session)
{
  gboolean signed_in = FALSE;
  gboolean first_run = FALSE;

  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (session != NULL);

  if (!g_variant_is_of_type (session, G_VARIANT_TYPE_VARDICT))
    {
      g_debug ("Ignoring a session of unexpected type %s",
               g_variant_get_type_string (session));
      return;
    }

  g_variant_lookup (session, "signed-in", "b", &signed_in);
  g_variant_lookup (session, "first-run", "b", &first_run);

  g_object_freeze_notify (G_OBJECT (self));
  set_string_field (self, &self->username,
                    signed_in ? lookup_string (session, "username") : NULL,
                    PROP_USERNAME);
  set_string_field (self, &self->display_name,
                    signed_in ? lookup_string (session, "display-name") : NULL,
                    PROP_DISPLAY_NAME);
  set_bool_field (self, first_run, PROP_FIRST_RUN);
  set_bool_field (self, signed_in, PROP_SIGNED_IN);
  set_bool_field (self, TRUE, PROP_SESSION_KNOWN);
  g_object_thaw_notify (G_OBJECT (self));

  g_debug ("Session: %s%s", signed_in ? "signed in" : "signed out",
           first_run ? ", first run" : "");
}

/* Takes in a status dictionary from GetStatus() or StatusChanged and updates
 * every property from it. Notifications are held back until all fields are
 * set, so that a listener never sees a half-applied status.
 */
static void
apply_status (MhfAgentClient *self,
              GVariant       *status)
{
  MhfAgentState agent_state;
  guint32 schema_version = 0;

  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (status != NULL);

  if (!g_variant_is_of_type (status, G_VARIANT_TYPE_VARDICT))
    {
      g_debug ("Ignoring a status of unexpected type %s",
               g_variant_get_type_string (status));
      return;
    }

  g_object_freeze_notify (G_OBJECT (self));

  if (self->status == NULL || !g_variant_equal (self->status, status))
    {
      g_clear_pointer (&self->status, g_variant_unref);
      self->status = g_variant_ref_sink (status);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
    }

  agent_state = mhf_agent_state_from_string (lookup_string (status, MHF_STATUS_STATE));
  set_int_field (self, (int *) &self->agent_state, agent_state, PROP_AGENT_STATE);
  set_int_field (self, (int *) &self->keyring_state,
                 mhf_keyring_state_from_string (lookup_string (status, MHF_STATUS_KEYRING)),
                 PROP_KEYRING_STATE);
  set_int_field (self, (int *) &self->database_state,
                 mhf_database_state_from_string (lookup_string (status, MHF_STATUS_DATABASE)),
                 PROP_DATABASE_STATE);
  set_string_field (self, &self->version,
                    lookup_string (status, MHF_STATUS_VERSION),
                    PROP_VERSION);
  set_string_field (self, &self->data_directory,
                    lookup_string (status, MHF_STATUS_DATA_DIRECTORY),
                    PROP_DATA_DIRECTORY);

  g_variant_lookup (status, MHF_STATUS_SCHEMA_VERSION, "u", &schema_version);
  if (self->schema_version != schema_version)
    {
      self->schema_version = schema_version;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCHEMA_VERSION]);
    }

  g_debug ("Agent state is now %s", mhf_agent_state_to_string (agent_state));

  set_reachable (self, TRUE);

  /* Who is signed in can only be asked of a ready agent; whenever it
   * (re)becomes ready, ask again.
   */
  if (agent_state != MHF_AGENT_STATE_READY)
    set_bool_field (self, FALSE, PROP_SESSION_KNOWN);
  else if (!self->session_known)
    fetch_session (self);

  g_object_thaw_notify (G_OBJECT (self));
}

/* Records what a failed GetStatus() means for the "reachable" property.
 * Errors the agent itself returned leave it alone: an agent that answers is
 * running, even if it refused this one call.
 */
static void
handle_error (MhfAgentClient *self,
              const GError   *error)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (error != NULL);

  /* The message may come from lower layers; the domain and code are enough
   * to follow what happened.
   */
  g_debug ("GetStatus failed: %s %d", g_quark_to_string (error->domain), error->code);

  if (mhf_agent_client_error_is_unreachable (error))
    set_reachable (self, FALSE);
}

static void
on_proxy_status_changed_cb (MhfIpcAgent1   *proxy,
                            GVariant       *status,
                            MhfAgentClient *self)
{
  g_assert (MHF_IPC_IS_AGENT1 (proxy));
  g_assert (MHF_IS_AGENT_CLIENT (self));

  apply_status (self, status);
}

static void
on_proxy_outbox_changed_cb (MhfIpcAgent1   *proxy,
                            gint64          clinic,
                            MhfAgentClient *self)
{
  g_signal_emit (self, signals[OUTBOX_CHANGED], 0, clinic);
}

static void
on_proxy_scan_progress_cb (MhfIpcAgent1   *proxy,
                           gint64          clinic,
                           guint           done,
                           guint           total,
                           MhfAgentClient *self)
{
  g_signal_emit (self, signals[SCAN_PROGRESS], 0, clinic, done, total);
}

static void
on_proxy_session_ended_cb (MhfIpcAgent1   *proxy,
                           const char     *reason,
                           MhfAgentClient *self)
{
  g_assert (MHF_IPC_IS_AGENT1 (proxy));
  g_assert (MHF_IS_AGENT_CLIENT (self));

  g_debug ("Session ended: %s", reason);

  clear_session (self, TRUE);
  g_signal_emit (self, signals[SESSION_ENDED], 0, reason);
}

static void
fetch_session_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  MhfAgentClient *self;

  if (!mhf_ipc_agent1_call_who_am_i_finish (MHF_IPC_AGENT1 (object), &session, result, &error))
    {
      /* The client cancels its own fetches in dispose; it may be gone. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;

      self = MHF_AGENT_CLIENT (user_data);
      self->who_am_i_pending = FALSE;
      g_dbus_error_strip_remote_error (error);
      g_debug ("WhoAmI failed: %s %d", g_quark_to_string (error->domain), error->code);

      if (mhf_agent_client_error_is_unreachable (error))
        set_reachable (self, FALSE);
      else
        /* Assume the safe case: nobody is signed in. */
        clear_session (self, TRUE);
      return;
    }

  self = MHF_AGENT_CLIENT (user_data);
  self->who_am_i_pending = FALSE;
  apply_session (self, session);
}

/* Asks the agent who this client is, unless a question is on its way. */
static void
fetch_session (MhfAgentClient *self)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));

  if (self->proxy == NULL || self->who_am_i_pending)
    return;

  self->who_am_i_pending = TRUE;
  mhf_ipc_agent1_call_who_am_i (self->proxy,
                                self->cancellable,
                                fetch_session_cb,
                                self);
}

static void
refetch_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  MhfAgentClient *self;

  if (!mhf_ipc_agent1_call_get_status_finish (MHF_IPC_AGENT1 (object), &status, result, &error))
    {
      /* The client cancels its own fetches in dispose; it may be gone. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;

      self = MHF_AGENT_CLIENT (user_data);
      g_dbus_error_strip_remote_error (error);
      handle_error (self, error);
      return;
    }

  self = MHF_AGENT_CLIENT (user_data);
  apply_status (self, status);
}

static void
on_proxy_notify_name_owner_cb (GObject        *object,
                               GParamSpec     *pspec,
                               MhfAgentClient *self)
{
  g_autofree char *owner = NULL;

  g_assert (MHF_IS_AGENT_CLIENT (self));

  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (object));

  if (owner == NULL)
    {
      g_debug ("Agent left the bus");
      /* Sessions live in the agent's memory; a new agent knows none. */
      clear_session (self, FALSE);
      set_reachable (self, FALSE);
      return;
    }

  /* The agent (re)started: what it says now is all that counts. */
  g_debug ("Agent appeared on the bus");
  mhf_ipc_agent1_call_get_status (MHF_IPC_AGENT1 (object),
                                  self->cancellable,
                                  refetch_cb,
                                  self);
}

static void
take_proxy (MhfAgentClient *self,
            MhfIpcAgent1   *proxy)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (self->proxy == NULL);
  g_assert (MHF_IPC_IS_AGENT1 (proxy));

  self->proxy = proxy;
  g_signal_connect (self->proxy,
                    "status-changed",
                    G_CALLBACK (on_proxy_status_changed_cb),
                    self);
  g_signal_connect (self->proxy,
                    "session-ended",
                    G_CALLBACK (on_proxy_session_ended_cb),
                    self);
  g_signal_connect (self->proxy,
                    "outbox-changed",
                    G_CALLBACK (on_proxy_outbox_changed_cb),
                    self);
  g_signal_connect (self->proxy,
                    "scan-progress",
                    G_CALLBACK (on_proxy_scan_progress_cb),
                    self);
  g_signal_connect (self->proxy,
                    "notify::g-name-owner",
                    G_CALLBACK (on_proxy_notify_name_owner_cb),
                    self);
}

static void
get_status_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!mhf_ipc_agent1_call_get_status_finish (MHF_IPC_AGENT1 (object), &status, result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        handle_error (self, error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  apply_status (self, status);
  g_task_return_boolean (task, TRUE);
}

static void
call_get_status (MhfAgentClient *self,
                 GTask          *task)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (self->proxy != NULL);
  g_assert (G_IS_TASK (task));

  /* Without a name owner the call goes to the well-known name, so that the
   * bus starts the agent if it is not running.
   */
  mhf_ipc_agent1_call_get_status (self->proxy,
                                  g_task_get_cancellable (task),
                                  get_status_cb,
                                  task);
}

static void
proxy_new_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GError) error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!(proxy = mhf_ipc_agent1_proxy_new_for_bus_finish (result, &error)))
    {
      /* No session bus means no agent, whatever the error says. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_debug ("Cannot create the agent proxy: %s %d",
                   g_quark_to_string (error->domain), error->code);
          set_reachable (self, FALSE);
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* Two connects may race; the first proxy wins and the other is dropped. */
  if (self->proxy == NULL)
    take_proxy (self, g_steal_pointer (&proxy));

  call_get_status (self, g_steal_pointer (&task));
}

static void
start_fetch (MhfAgentClient *self,
             GTask          *task)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (G_IS_TASK (task));

  if (self->proxy != NULL)
    {
      call_get_status (self, task);
      return;
    }

  /* G_DBUS_PROXY_FLAGS_NONE, so that the bus may start the agent. */
  mhf_ipc_agent1_proxy_new_for_bus (G_BUS_TYPE_SESSION,
                                    G_DBUS_PROXY_FLAGS_NONE,
                                    AGENT_BUS_NAME,
                                    AGENT_OBJECT_PATH,
                                    g_task_get_cancellable (task),
                                    proxy_new_cb,
                                    task);
}

static void
mhf_agent_client_dispose (GObject *object)
{
  MhfAgentClient *self = (MhfAgentClient *) object;

  g_cancellable_cancel (self->cancellable);

  if (self->proxy != NULL)
    g_signal_handlers_disconnect_by_data (self->proxy, self);

  g_clear_object (&self->proxy);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->status, g_variant_unref);

  G_OBJECT_CLASS (mhf_agent_client_parent_class)->dispose (object);
}

static void
mhf_agent_client_finalize (GObject *object)
{
  MhfAgentClient *self = (MhfAgentClient *) object;

  g_clear_pointer (&self->version, g_free);
  g_clear_pointer (&self->data_directory, g_free);
  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->display_name, g_free);

  G_OBJECT_CLASS (mhf_agent_client_parent_class)->finalize (object);
}

static void
mhf_agent_client_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MhfAgentClient *self = MHF_AGENT_CLIENT (object);

  switch (prop_id)
    {
    case PROP_REACHABLE:
      g_value_set_boolean (value, self->reachable);
      break;

    case PROP_AGENT_STATE:
      g_value_set_int (value, self->agent_state);
      break;

    case PROP_KEYRING_STATE:
      g_value_set_int (value, self->keyring_state);
      break;

    case PROP_DATABASE_STATE:
      g_value_set_int (value, self->database_state);
      break;

    case PROP_STATUS:
      g_value_set_variant (value, self->status);
      break;

    case PROP_VERSION:
      g_value_set_string (value, self->version);
      break;

    case PROP_DATA_DIRECTORY:
      g_value_set_string (value, self->data_directory);
      break;

    case PROP_SCHEMA_VERSION:
      g_value_set_uint (value, self->schema_version);
      break;

    case PROP_SESSION_KNOWN:
      g_value_set_boolean (value, self->session_known);
      break;

    case PROP_SIGNED_IN:
      g_value_set_boolean (value, self->signed_in);
      break;

    case PROP_FIRST_RUN:
      g_value_set_boolean (value, self->first_run);
      break;

    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;

    case PROP_DISPLAY_NAME:
      g_value_set_string (value, self->display_name);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mhf_agent_client_class_init (MhfAgentClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mhf_agent_client_dispose;
  object_class->finalize = mhf_agent_client_finalize;
  object_class->get_property = mhf_agent_client_get_property;

  /* Registers the D-Bus error names, so that agent errors arrive as MHF_ERROR
   * codes rather than as G_IO_ERROR_DBUS_ERROR.
   */
  (void) mhf_error_quark ();

  properties[PROP_REACHABLE] =
    g_param_spec_boolean ("reachable", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_AGENT_STATE] =
    g_param_spec_int ("agent-state", NULL, NULL,
                      MHF_AGENT_STATE_STARTING, MHF_AGENT_STATE_DATABASE_CORRUPT,
                      MHF_AGENT_STATE_STARTING,
                      (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_KEYRING_STATE] =
    g_param_spec_int ("keyring-state", NULL, NULL,
                      MHF_KEYRING_STATE_UNKNOWN, MHF_KEYRING_STATE_LOCKED,
                      MHF_KEYRING_STATE_UNKNOWN,
                      (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_DATABASE_STATE] =
    g_param_spec_int ("database-state", NULL, NULL,
                      MHF_DATABASE_STATE_NOT_CREATED, MHF_DATABASE_STATE_WAITING_FOR_KEYRING,
                      MHF_DATABASE_STATE_NOT_CREATED,
                      (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_STATUS] =
    g_param_spec_variant ("status", NULL, NULL,
                          G_VARIANT_TYPE_VARDICT,
                          NULL,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_VERSION] =
    g_param_spec_string ("version", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_DATA_DIRECTORY] =
    g_param_spec_string ("data-directory", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_SCHEMA_VERSION] =
    g_param_spec_uint ("schema-version", NULL, NULL,
                       0, G_MAXUINT32, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /* Whether the agent answered WhoAmI() since it became ready. Until it
   * did, "signed-in" and "first-run" are not to be trusted.
   */
  properties[PROP_SESSION_KNOWN] =
    g_param_spec_boolean ("session-known", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_SIGNED_IN] =
    g_param_spec_boolean ("signed-in", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /* No user exists yet: the only thing to do is to create the owner. */
  properties[PROP_FIRST_RUN] =
    g_param_spec_boolean ("first-run", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_DISPLAY_NAME] =
    g_param_spec_string ("display-name", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MhfAgentClient::session-ended:
   * @self: a #MhfAgentClient
   * @reason: why: "signed-out", "idle-timeout", "user-removed" or
   *   "passphrase-reset"
   *
   * The agent ended this client's session; "signed-in" is already %FALSE.
   */
  signals[SESSION_ENDED] =
    g_signal_new ("session-ended",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * MhfAgentClient::outbox-changed:
   * @self: a #MhfAgentClient
   * @clinic: the clinic whose outbox or history changed
   *
   * Relayed from the agent: lists of that clinic's messages should be
   * read again.
   */
  signals[OUTBOX_CHANGED] =
    g_signal_new ("outbox-changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT64);

  /**
   * MhfAgentClient::scan-progress:
   * @self: a #MhfAgentClient
   * @clinic: the clinic being scanned
   * @done: Cliniko lists read so far
   * @total: lists this scan expects to read
   *
   * Relayed from the agent while it scans a clinic.
   */
  signals[SCAN_PROGRESS] =
    g_signal_new ("scan-progress",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_INT64, G_TYPE_UINT, G_TYPE_UINT);
}

static void
mhf_agent_client_init (MhfAgentClient *self)
{
  self->cancellable = g_cancellable_new ();
  self->agent_state = MHF_AGENT_STATE_STARTING;
  self->keyring_state = MHF_KEYRING_STATE_UNKNOWN;
  self->database_state = MHF_DATABASE_STATE_NOT_CREATED;
}

/**
 * mhf_agent_client_new:
 *
 * Creates a client that is not connected yet; call
 * mhf_agent_client_connect_async() to reach the agent.
 *
 * Returns: (transfer full): a new #MhfAgentClient
 */
MhfAgentClient *
mhf_agent_client_new (void)
{
  return g_object_new (MHF_TYPE_AGENT_CLIENT, NULL);
}

/**
 * mhf_agent_client_connect_async:
 * @self: a #MhfAgentClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the agent answered or could not be reached
 * @user_data: data for @callback
 *
 * Creates the proxy for the agent on the session bus, then asks it for its
 * status; that call is what makes the bus start the agent. On failure the
 * "reachable" property says whether the agent could be reached at all.
 */
void
mhf_agent_client_connect_async (MhfAgentClient      *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_connect_async);

  start_fetch (self, g_steal_pointer (&task));
}

gboolean
mhf_agent_client_connect_finish (MhfAgentClient  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_agent_client_connect_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mhf_agent_client_refresh_async:
 * @self: a #MhfAgentClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the agent answered or could not be reached
 * @user_data: data for @callback
 *
 * Asks the agent for its status again. If no proxy could be created before,
 * this retries the whole connection.
 */
void
mhf_agent_client_refresh_async (MhfAgentClient      *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_refresh_async);

  start_fetch (self, g_steal_pointer (&task));
}

gboolean
mhf_agent_client_refresh_finish (MhfAgentClient  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_agent_client_refresh_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
mhf_agent_client_get_reachable (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);

  return self->reachable;
}

MhfAgentState
mhf_agent_client_get_agent_state (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), MHF_AGENT_STATE_STARTING);

  return self->agent_state;
}

MhfKeyringState
mhf_agent_client_get_keyring_state (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), MHF_KEYRING_STATE_UNKNOWN);

  return self->keyring_state;
}

MhfDatabaseState
mhf_agent_client_get_database_state (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), MHF_DATABASE_STATE_NOT_CREATED);

  return self->database_state;
}

/**
 * mhf_agent_client_get_status:
 * @self: a #MhfAgentClient
 *
 * Returns: (transfer none) (nullable): the last status dictionary the agent
 *   sent, or %NULL if it never answered
 */
GVariant *
mhf_agent_client_get_status (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);

  return self->status;
}

const char *
mhf_agent_client_get_version (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);

  return self->version;
}

const char *
mhf_agent_client_get_data_directory (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);

  return self->data_directory;
}

guint
mhf_agent_client_get_schema_version (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), 0);

  return self->schema_version;
}

/**
 * mhf_agent_client_error_is_unreachable:
 * @error: an error from this client
 *
 * Returns: %TRUE if @error means the agent could not be reached at all, as
 *   opposed to the agent refusing a call
 */
gboolean
mhf_agent_client_error_is_unreachable (const GError *error)
{
  static const GDBusError unreachable_codes[] = {
    G_DBUS_ERROR_SERVICE_UNKNOWN,
    G_DBUS_ERROR_NAME_HAS_NO_OWNER,
    G_DBUS_ERROR_NO_REPLY,
    G_DBUS_ERROR_TIMEOUT,
    G_DBUS_ERROR_TIMED_OUT,
    G_DBUS_ERROR_NO_SERVER,
    G_DBUS_ERROR_DISCONNECTED,
    G_DBUS_ERROR_SPAWN_EXEC_FAILED,
    G_DBUS_ERROR_SPAWN_FORK_FAILED,
    G_DBUS_ERROR_SPAWN_CHILD_EXITED,
    G_DBUS_ERROR_SPAWN_CHILD_SIGNALED,
    G_DBUS_ERROR_SPAWN_FAILED,
    G_DBUS_ERROR_SPAWN_SETUP_FAILED,
    G_DBUS_ERROR_SPAWN_CONFIG_INVALID,
    G_DBUS_ERROR_SPAWN_SERVICE_INVALID,
    G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND,
    G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID,
    G_DBUS_ERROR_SPAWN_FILE_INVALID,
    G_DBUS_ERROR_SPAWN_NO_MEMORY,
  };

  g_return_val_if_fail (error != NULL, FALSE);

  if (error->domain == G_DBUS_ERROR)
    {
      for (guint i = 0; i < G_N_ELEMENTS (unreachable_codes); i++)
        {
          if (error->code == (int) unreachable_codes[i])
            return TRUE;
        }
      return FALSE;
    }

  /* The connection to the bus itself was lost or timed out. */
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

/* ---- Sessions ---------------------------------------------------------- */

/* Common ending of a failed call: the message may come from lower layers, so
 * only the domain and code are logged; callers compare codes.
 */
static void
return_call_error (MhfAgentClient *self,
                   GTask          *task,
                   GError         *error,
                   const char     *method)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (G_IS_TASK (task));
  g_assert (error != NULL);

  g_dbus_error_strip_remote_error (error);
  g_debug ("%s failed: %s %d", method, g_quark_to_string (error->domain), error->code);

  if (mhf_agent_client_error_is_unreachable (error))
    set_reachable (self, FALSE);

  g_task_return_error (task, error);
}

static void
who_am_i_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) session = NULL;
  GError *error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!mhf_ipc_agent1_call_who_am_i_finish (MHF_IPC_AGENT1 (object), &session, result, &error))
    {
      return_call_error (self, task, error, "WhoAmI");
      return;
    }

  apply_session (self, session);
  g_task_return_pointer (task, g_steal_pointer (&session), (GDestroyNotify) g_variant_unref);
}

/* Fails @task at once when there is no proxy to call. */
static gboolean
check_proxy (MhfAgentClient *self,
             GTask          *task)
{
  g_assert (MHF_IS_AGENT_CLIENT (self));
  g_assert (G_IS_TASK (task));

  if (self->proxy != NULL)
    return TRUE;

  g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
                           "Not connected to the agent");
  return FALSE;
}

/**
 * mhf_agent_client_who_am_i_async:
 * @self: a #MhfAgentClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Asks the agent about this client's session and updates "signed-in",
 * "first-run", "username" and "display-name" from the answer. Needs a
 * connected client (see mhf_agent_client_connect_async()).
 */
void
mhf_agent_client_who_am_i_async (MhfAgentClient      *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_who_am_i_async);

  if (!check_proxy (self, task))
    return;

  mhf_ipc_agent1_call_who_am_i (self->proxy, cancellable, who_am_i_cb, g_steal_pointer (&task));
}

/**
 * mhf_agent_client_who_am_i_finish:
 * @self: a #MhfAgentClient
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the session dictionary, as WhoAmI()
 *   describes it, or %NULL on error
 */
GVariant *
mhf_agent_client_who_am_i_finish (MhfAgentClient  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_agent_client_who_am_i_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
create_owner_who_am_i_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) session = NULL;
  GError *error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!mhf_ipc_agent1_call_who_am_i_finish (MHF_IPC_AGENT1 (object), &session, result, &error))
    {
      /* The owner exists and this client is signed in as the owner; only
       * the details are missing. Say what is certain.
       */
      g_dbus_error_strip_remote_error (error);
      g_debug ("WhoAmI after CreateOwner failed: %s %d",
               g_quark_to_string (error->domain), error->code);
      g_clear_error (&error);
      g_object_freeze_notify (G_OBJECT (self));
      set_bool_field (self, FALSE, PROP_FIRST_RUN);
      set_bool_field (self, TRUE, PROP_SIGNED_IN);
      set_bool_field (self, TRUE, PROP_SESSION_KNOWN);
      g_object_thaw_notify (G_OBJECT (self));
    }
  else
    apply_session (self, session);

  g_task_return_boolean (task, TRUE);
}

static void
create_owner_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GCancellable *cancellable;
  GError *error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!mhf_ipc_agent1_call_create_owner_finish (MHF_IPC_AGENT1 (object), result, &error))
    {
      return_call_error (self, task, error, "CreateOwner");
      return;
    }

  cancellable = g_task_get_cancellable (task);
  mhf_ipc_agent1_call_who_am_i (MHF_IPC_AGENT1 (object),
                                cancellable,
                                create_owner_who_am_i_cb,
                                g_steal_pointer (&task));
}

/**
 * mhf_agent_client_create_owner_async:
 * @self: a #MhfAgentClient
 * @username: the owner's username
 * @display_name: the owner's name as shown in the app
 * @passphrase: the owner's passphrase
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the owner exists or the agent refused
 * @user_data: data for @callback
 *
 * Creates the first user, an owner of every clinic, and signs this client
 * in as that user. The agent checks the arguments; it fails with
 * %MHF_ERROR_INVALID_INPUT or, once a user exists, %MHF_ERROR_NOT_ALLOWED.
 */
void
mhf_agent_client_create_owner_async (MhfAgentClient      *self,
                                     const char          *username,
                                     const char          *display_name,
                                     const char          *passphrase,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (username != NULL);
  g_return_if_fail (display_name != NULL);
  g_return_if_fail (passphrase != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_create_owner_async);

  if (!check_proxy (self, task))
    return;

  mhf_ipc_agent1_call_create_owner (self->proxy, username, display_name, passphrase,
                                    cancellable, create_owner_cb, g_steal_pointer (&task));
}

gboolean
mhf_agent_client_create_owner_finish (MhfAgentClient  *self,
                                      GAsyncResult    *result,
                                      GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        mhf_agent_client_create_owner_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sign_in_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) session = NULL;
  GError *error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!mhf_ipc_agent1_call_sign_in_finish (MHF_IPC_AGENT1 (object), &session, result, &error))
    {
      return_call_error (self, task, error, "SignIn");
      return;
    }

  apply_session (self, session);
  g_task_return_boolean (task, TRUE);
}

/**
 * mhf_agent_client_sign_in_async:
 * @self: a #MhfAgentClient
 * @username: the user's name
 * @passphrase: the user's passphrase
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when signed in or refused
 * @user_data: data for @callback
 *
 * Signs this client in. A wrong username or passphrase fails with
 * %MHF_ERROR_SIGN_IN_FAILED, too many of them with %MHF_ERROR_SIGN_IN_LOCKED.
 */
void
mhf_agent_client_sign_in_async (MhfAgentClient      *self,
                                const char          *username,
                                const char          *passphrase,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (username != NULL);
  g_return_if_fail (passphrase != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_sign_in_async);

  if (!check_proxy (self, task))
    return;

  mhf_ipc_agent1_call_sign_in (self->proxy, username, passphrase,
                               cancellable, sign_in_cb, g_steal_pointer (&task));
}

gboolean
mhf_agent_client_sign_in_finish (MhfAgentClient  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_agent_client_sign_in_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sign_out_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  MhfAgentClient *self;

  g_assert (G_IS_TASK (task));

  self = g_task_get_source_object (task);

  if (!mhf_ipc_agent1_call_sign_out_finish (MHF_IPC_AGENT1 (object), result, &error))
    {
      return_call_error (self, task, error, "SignOut");
      return;
    }

  clear_session (self, TRUE);
  g_task_return_boolean (task, TRUE);
}

/**
 * mhf_agent_client_sign_out_async:
 * @self: a #MhfAgentClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when signed out
 * @user_data: data for @callback
 *
 * Ends this client's session.
 */
void
mhf_agent_client_sign_out_async (MhfAgentClient      *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_sign_out_async);

  if (!check_proxy (self, task))
    return;

  mhf_ipc_agent1_call_sign_out (self->proxy, cancellable, sign_out_cb, g_steal_pointer (&task));
}

gboolean
mhf_agent_client_sign_out_finish (MhfAgentClient  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mhf_agent_client_sign_out_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
mhf_agent_client_get_session_known (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);

  return self->session_known;
}

gboolean
mhf_agent_client_get_signed_in (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);

  return self->signed_in;
}

gboolean
mhf_agent_client_get_first_run (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), FALSE);

  return self->first_run;
}

const char *
mhf_agent_client_get_username (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);

  return self->username;
}

const char *
mhf_agent_client_get_display_name (MhfAgentClient *self)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);

  return self->display_name;
}

static void
call_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GVariant *reply;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (object), result, &error);
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, reply, (GDestroyNotify) g_variant_unref);
}

/**
 * mhf_agent_client_call_async:
 * @self: a #MhfAgentClient
 * @method: a method of the Agent1 interface, e.g. "ListOutbox"
 * @parameters: (transfer floating) (nullable): its arguments
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the reply
 * @user_data: data for @callback
 *
 * Calls one of the agent's methods for a page of the app. Errors come back
 * in the MhfError domain, so that pages choose their sentence by code.
 */
void
mhf_agent_client_call_async (MhfAgentClient      *self,
                             const char          *method,
                             GVariant            *parameters,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MHF_IS_AGENT_CLIENT (self));
  g_return_if_fail (method != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mhf_agent_client_call_async);

  if (!check_proxy (self, task))
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return;
    }

  g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), method, parameters, G_DBUS_CALL_FLAGS_NONE,
                     120000, cancellable, call_cb, g_steal_pointer (&task));
}

/**
 * mhf_agent_client_call_finish:
 *
 * Returns: (transfer full) (nullable): the reply tuple, or %NULL on error
 */
GVariant *
mhf_agent_client_call_finish (MhfAgentClient  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (MHF_IS_AGENT_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
