/* mhf-agent.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent process: a GApplication service that owns the agent's bus
 * name, exports MhfAgentService, and stays alive while anything is
 * configured, since scheduled sends must happen with no window open.
 */

#include "config.h"

#include "mhf-agent.h"

#include "mhf-agent-service.h"
#include "mhf-error.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <stdlib.h>

/* How long an agent with nothing configured waits for another call. */
#define DEFAULT_INACTIVITY_TIMEOUT_MS (60 * 1000)

struct _MhfAgent
{
  GApplication     parent_instance;

  MhfAgentService *service;
  gulong           configured_handler;
  gulong           busy_handler;
  guint            held_configured : 1;
  guint            held_busy : 1;
};

G_DEFINE_FINAL_TYPE (MhfAgent, mhf_agent, G_TYPE_APPLICATION)

static char *
agent_data_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), PACKAGE_NAME, NULL);
}

static void
update_hold (MhfAgent *self)
{
  gboolean configured = mhf_agent_service_get_configured (self->service);
  gboolean busy = mhf_agent_service_get_busy (self->service);

  if (configured && !self->held_configured)
    {
      g_application_hold (G_APPLICATION (self));
      self->held_configured = TRUE;
      g_debug ("Holding: a clinic is configured");
    }
  else if (!configured && self->held_configured)
    {
      self->held_configured = FALSE;
      g_application_release (G_APPLICATION (self));
    }

  /* Never exit half-way through opening or resetting the database. */
  if (busy && !self->held_busy)
    {
      g_application_hold (G_APPLICATION (self));
      self->held_busy = TRUE;
    }
  else if (!busy && self->held_busy)
    {
      self->held_busy = FALSE;
      g_application_release (G_APPLICATION (self));
    }
}

static void
service_notify_cb (MhfAgent   *self,
                   GParamSpec *pspec,
                   gpointer    user_data)
{
  update_hold (self);
}

static gboolean
mhf_agent_dbus_register (GApplication     *app,
                         GDBusConnection  *connection,
                         const char       *object_path,
                         GError          **error)
{
  MhfAgent *self = MHF_AGENT (app);
  g_autofree char *data_dir = NULL;

  if (!G_APPLICATION_CLASS (mhf_agent_parent_class)->dbus_register (app, connection,
                                                                    object_path, error))
    return FALSE;

  data_dir = agent_data_dir ();
  self->service = mhf_agent_service_new (data_dir);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->service),
                                         connection, AGENT_OBJECT_PATH, error))
    {
      g_clear_object (&self->service);
      return FALSE;
    }

  /* Nothing starts here: GApplication exports objects before it asks for
   * the bus name, and a second instance that does not get the name must
   * leave without having touched the keyring or the database. The work
   * starts in startup(), which only the primary instance sees. */
  return TRUE;
}

static void
mhf_agent_dbus_unregister (GApplication    *app,
                           GDBusConnection *connection,
                           const char      *object_path)
{
  MhfAgent *self = MHF_AGENT (app);

  if (self->service != NULL)
    {
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->service));
      mhf_agent_service_shutdown (self->service);
    }

  G_APPLICATION_CLASS (mhf_agent_parent_class)->dbus_unregister (app, connection, object_path);
}

static int
mhf_agent_handle_local_options (GApplication *app,
                                GVariantDict *options)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("myhealthfollowup-agent %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  if (g_variant_dict_contains (options, "replace"))
    g_application_set_flags (app, g_application_get_flags (app) | G_APPLICATION_REPLACE);

  /* Register here rather than in g_application_run() so that a missing
   * bus and a second instance each get a plain explanation. */
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      g_printerr (_("myhealthfollowup-agent: no session bus to serve on: %s\n"), error->message);
      return EXIT_FAILURE;
    }

  if (!g_application_register (app, NULL, &error))
    {
      g_printerr (_("myhealthfollowup-agent: another agent already owns %s on this session bus; "
                    "this one exits (use --replace to take over).\n"),
                  AGENT_BUS_NAME);
      g_debug ("Registration failed: %s", error->message);
      return EXIT_SUCCESS;
    }

  return -1;
}

static void
mhf_agent_startup (GApplication *app)
{
  MhfAgent *self = MHF_AGENT (app);
  GDBusConnection *connection;

  G_APPLICATION_CLASS (mhf_agent_parent_class)->startup (app);

  g_message ("MyHealthFollowup agent %s started", PACKAGE_VERSION);

  connection = g_application_get_dbus_connection (app);
  g_assert (connection != NULL && self->service != NULL);

  self->configured_handler =
    g_signal_connect_object (self->service, "notify::configured",
                             G_CALLBACK (service_notify_cb), self, G_CONNECT_SWAPPED);
  self->busy_handler =
    g_signal_connect_object (self->service, "notify::busy",
                             G_CALLBACK (service_notify_cb), self, G_CONNECT_SWAPPED);

  mhf_agent_service_start (self->service, connection);
  update_hold (self);
}

static void
mhf_agent_shutdown (GApplication *app)
{
  g_message ("MyHealthFollowup agent stopping");

  G_APPLICATION_CLASS (mhf_agent_parent_class)->shutdown (app);
}

static void
mhf_agent_dispose (GObject *object)
{
  MhfAgent *self = (MhfAgent *) object;

  g_clear_object (&self->service);

  G_OBJECT_CLASS (mhf_agent_parent_class)->dispose (object);
}

static void
mhf_agent_class_init (MhfAgentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = mhf_agent_dispose;

  app_class->dbus_register = mhf_agent_dbus_register;
  app_class->dbus_unregister = mhf_agent_dbus_unregister;
  app_class->handle_local_options = mhf_agent_handle_local_options;
  app_class->startup = mhf_agent_startup;
  app_class->shutdown = mhf_agent_shutdown;
}

static void
mhf_agent_init (MhfAgent *self)
{
  static const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, NULL,
      N_("Replace the agent that is running"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Print the version and exit"), NULL },
    { NULL }
  };
  const char *timeout = g_getenv ("MHF_AGENT_INACTIVITY_TIMEOUT_MS");
  guint timeout_ms = DEFAULT_INACTIVITY_TIMEOUT_MS;

  if (timeout != NULL)
    {
      guint64 value;

      if (g_ascii_string_to_unsigned (timeout, 10, 100, G_MAXUINT, &value, NULL))
        timeout_ms = (guint) value;
    }

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("The MyHealthFollowup background agent. It is "
                                              "started at login or by D-Bus activation."));
  g_application_set_inactivity_timeout (G_APPLICATION (self), timeout_ms);
}

MhfAgent *
mhf_agent_new (void)
{
  return g_object_new (MHF_TYPE_AGENT,
                       "application-id", AGENT_BUS_NAME,
                       "flags", G_APPLICATION_IS_SERVICE | G_APPLICATION_ALLOW_REPLACEMENT,
                       NULL);
}
