/* mhf-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The main window: a dashboard of what the agent reports. It picks one page
 * of its stack from the client's "reachable" and "agent-state" properties, so
 * that a StatusChanged signal from the agent changes the page without any
 * polling.
 */

#include "config.h"

#include "mhf-window.h"

#include "mhf-app-resources.h"
#include "mhf-error.h"

#include <glib/gi18n.h>

struct _MhfWindow
{
  AdwApplicationWindow  parent_instance;

  /* Template children */
  AdwWindowTitle       *window_title;
  AdwToastOverlay      *toast_overlay;
  GtkStack             *stack;
  GtkSpinner           *spinner;
  GtkLabel             *loading_label;
  GtkLabel             *status_label;
  GtkLabel             *version_label;
  GtkLabel             *database_label;
  GtkLabel             *keyring_label;
  GtkLabel             *schema_version_label;
  GtkLabel             *data_directory_label;

  /* Owned references */
  MhfAgentClient       *client;
  GCancellable         *cancellable;
  GSettings            *settings;

  /* State */
  guint                 busy;
};

G_DEFINE_FINAL_TYPE (MhfWindow, mhf_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_CLIENT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const char *
agent_state_to_words (MhfAgentState state)
{
  switch (state)
    {
    case MHF_AGENT_STATE_STARTING:
      /* Translators: state of the background agent */
      return C_("agent state", "Starting");

    case MHF_AGENT_STATE_READY:
      /* Translators: state of the background agent */
      return C_("agent state", "Ready");

    case MHF_AGENT_STATE_KEYRING_UNAVAILABLE:
      /* Translators: state of the background agent */
      return C_("agent state", "No keyring available");

    case MHF_AGENT_STATE_KEYRING_LOCKED:
      /* Translators: state of the background agent */
      return C_("agent state", "Keyring locked");

    case MHF_AGENT_STATE_DATABASE_KEY_MISSING:
      /* Translators: state of the background agent */
      return C_("agent state", "Database key missing");

    case MHF_AGENT_STATE_DATABASE_CORRUPT:
      /* Translators: state of the background agent */
      return C_("agent state", "Database cannot be read");

    default:
      /* Translators: state of the background agent */
      return C_("agent state", "Unknown");
    }
}

static const char *
database_state_to_words (MhfDatabaseState state)
{
  switch (state)
    {
    case MHF_DATABASE_STATE_NOT_CREATED:
      /* Translators: state of the agent's database */
      return C_("database state", "Not created yet");

    case MHF_DATABASE_STATE_OK:
      /* Translators: state of the agent's database: it is open and working */
      return C_("database state", "Open");

    case MHF_DATABASE_STATE_KEY_MISSING:
      /* Translators: state of the agent's database */
      return C_("database state", "Key missing");

    case MHF_DATABASE_STATE_CORRUPT:
      /* Translators: state of the agent's database */
      return C_("database state", "Cannot be read");

    case MHF_DATABASE_STATE_WAITING_FOR_KEYRING:
      /* Translators: state of the agent's database */
      return C_("database state", "Waiting for the keyring");

    default:
      /* Translators: state of the agent's database */
      return C_("database state", "Unknown");
    }
}

static const char *
keyring_state_to_words (MhfKeyringState state)
{
  switch (state)
    {
    case MHF_KEYRING_STATE_OK:
      /* Translators: state of the system keyring */
      return C_("keyring state", "Unlocked");

    case MHF_KEYRING_STATE_UNAVAILABLE:
      /* Translators: state of the system keyring: no keyring service runs */
      return C_("keyring state", "Not available");

    case MHF_KEYRING_STATE_LOCKED:
      /* Translators: state of the system keyring */
      return C_("keyring state", "Locked");

    case MHF_KEYRING_STATE_UNKNOWN:
    default:
      /* Translators: state of the system keyring */
      return C_("keyring state", "Unknown");
    }
}

static const char *
page_for_agent_state (MhfAgentState state)
{
  switch (state)
    {
    case MHF_AGENT_STATE_READY:
      return "ready";

    case MHF_AGENT_STATE_KEYRING_UNAVAILABLE:
      return "keyring-unavailable";

    case MHF_AGENT_STATE_KEYRING_LOCKED:
      return "keyring-locked";

    case MHF_AGENT_STATE_DATABASE_KEY_MISSING:
      return "database-key-missing";

    case MHF_AGENT_STATE_DATABASE_CORRUPT:
      return "database-corrupt";

    case MHF_AGENT_STATE_STARTING:
    default:
      return "loading";
    }
}

static void
set_value_label (GtkLabel   *label,
                 const char *text)
{
  /* Translators: shown when the agent did not report a value */
  gtk_label_set_text (label, text != NULL && *text != '\0' ? text : _("Unknown"));
}

static void
mhf_window_update (MhfWindow *self)
{
  g_autofree char *schema_version = NULL;
  MhfAgentState state;
  const char *page;
  const char *subtitle;
  const char *loading_text;

  g_assert (MHF_IS_WINDOW (self));

  /* Disposed already; pending replies may still arrive. */
  if (self->client == NULL)
    return;

  state = mhf_agent_client_get_agent_state (self->client);
  loading_text = _("Connecting to the background agent…");

  if (!mhf_agent_client_get_reachable (self->client))
    {
      if (self->busy > 0)
        {
          page = "loading";
          /* Translators: window subtitle while the app reaches the agent */
          subtitle = _("Connecting…");
        }
      else
        {
          page = "unreachable";
          /* Translators: window subtitle; the background agent cannot be reached */
          subtitle = _("Agent not running");
        }
    }
  else
    {
      page = page_for_agent_state (state);
      subtitle = agent_state_to_words (state);
      /* Translators: shown while the agent opens the keyring and database */
      loading_text = _("The background agent is starting…");
    }

  gtk_stack_set_visible_child_name (self->stack, page);
  adw_window_title_set_subtitle (self->window_title, subtitle);
  gtk_spinner_set_spinning (self->spinner, g_str_equal (page, "loading"));
  gtk_label_set_text (self->loading_label, loading_text);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.refresh", self->busy == 0);

  set_value_label (self->status_label, agent_state_to_words (state));
  set_value_label (self->version_label, mhf_agent_client_get_version (self->client));
  set_value_label (self->database_label,
                   database_state_to_words (mhf_agent_client_get_database_state (self->client)));
  set_value_label (self->keyring_label,
                   keyring_state_to_words (mhf_agent_client_get_keyring_state (self->client)));
  schema_version = g_strdup_printf ("%u", mhf_agent_client_get_schema_version (self->client));
  set_value_label (self->schema_version_label, schema_version);
  set_value_label (self->data_directory_label,
                   mhf_agent_client_get_data_directory (self->client));
}

static void
on_client_notify_cb (MhfAgentClient *client,
                     GParamSpec     *pspec,
                     MhfWindow      *self)
{
  g_assert (MHF_IS_AGENT_CLIENT (client));
  g_assert (MHF_IS_WINDOW (self));

  mhf_window_update (self);
}

/* Shared by the first connect and every refresh. The client has already
 * updated its properties; only errors from an agent that did answer need
 * saying here, because "unreachable" has a page of its own.
 */
static void
request_done (MhfWindow    *self,
              const GError *error)
{
  g_assert (MHF_IS_WINDOW (self));
  g_assert (self->busy > 0);

  self->busy--;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (error != NULL && error->domain == MHF_ERROR && self->toast_overlay != NULL)
    {
      /* Translators: shown briefly when the agent answered with an error */
      const char *message = _("The background agent could not report its status");

      adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
    }

  mhf_window_update (self);
}

static void
connect_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  g_assert (MHF_IS_WINDOW (self));

  mhf_agent_client_connect_finish (MHF_AGENT_CLIENT (object), result, &error);
  request_done (self, error);
}

static void
refresh_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  g_assert (MHF_IS_WINDOW (self));

  mhf_agent_client_refresh_finish (MHF_AGENT_CLIENT (object), result, &error);
  request_done (self, error);
}

static void
refresh_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *param)
{
  MhfWindow *self = MHF_WINDOW (widget);

  if (self->busy > 0 || self->client == NULL)
    return;

  self->busy++;
  mhf_window_update (self);

  mhf_agent_client_refresh_async (self->client,
                                  self->cancellable,
                                  refresh_cb,
                                  g_object_ref (self));
}

static void
load_window_state (MhfWindow *self)
{
  GSettingsSchemaSource *source;
  g_autoptr(GSettingsSchema) schema = NULL;
  int width;
  int height;

  g_assert (MHF_IS_WINDOW (self));

  /* A window that cannot remember its size is still a working window, for
   * example when run from the build tree without compiled schemas.
   */
  source = g_settings_schema_source_get_default ();
  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, SETTINGS_SCHEMA_ID, TRUE);

  if (schema == NULL ||
      !g_settings_schema_has_key (schema, "window-width") ||
      !g_settings_schema_has_key (schema, "window-height") ||
      !g_settings_schema_has_key (schema, "window-maximized"))
    {
      g_debug ("Schema %s not installed; window size is not remembered", SETTINGS_SCHEMA_ID);
      return;
    }

  self->settings = g_settings_new_full (schema, NULL, NULL);

  width = g_settings_get_int (self->settings, "window-width");
  height = g_settings_get_int (self->settings, "window-height");
  if (width > 0 && height > 0)
    gtk_window_set_default_size (GTK_WINDOW (self), width, height);

  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
}

static void
save_window_state (MhfWindow *self)
{
  gboolean maximized;
  int width;
  int height;

  g_assert (MHF_IS_WINDOW (self));

  if (self->settings == NULL)
    return;

  maximized = gtk_window_is_maximized (GTK_WINDOW (self));
  g_settings_set_boolean (self->settings, "window-maximized", maximized);

  /* The size of a maximized window says nothing about the size to come
   * back to.
   */
  if (maximized)
    return;

  gtk_window_get_default_size (GTK_WINDOW (self), &width, &height);
  if (width > 0 && height > 0)
    {
      g_settings_set_int (self->settings, "window-width", width);
      g_settings_set_int (self->settings, "window-height", height);
    }
}

static gboolean
mhf_window_close_request (GtkWindow *window)
{
  MhfWindow *self = MHF_WINDOW (window);

  save_window_state (self);
  g_cancellable_cancel (self->cancellable);

  return GTK_WINDOW_CLASS (mhf_window_parent_class)->close_request (window);
}

static void
mhf_window_constructed (GObject *object)
{
  MhfWindow *self = MHF_WINDOW (object);

  G_OBJECT_CLASS (mhf_window_parent_class)->constructed (object);

  if (self->client == NULL)
    self->client = mhf_agent_client_new ();

  g_signal_connect_object (self->client,
                           "notify",
                           G_CALLBACK (on_client_notify_cb),
                           self,
                           0);

  load_window_state (self);

  self->busy++;
  mhf_window_update (self);

  mhf_agent_client_connect_async (self->client,
                                  self->cancellable,
                                  connect_cb,
                                  g_object_ref (self));
}

static void
mhf_window_dispose (GObject *object)
{
  MhfWindow *self = MHF_WINDOW (object);

  g_cancellable_cancel (self->cancellable);

  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);

  gtk_widget_dispose_template (GTK_WIDGET (self), MHF_TYPE_WINDOW);

  g_clear_object (&self->client);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (mhf_window_parent_class)->dispose (object);
}

static void
mhf_window_finalize (GObject *object)
{
  MhfWindow *self = MHF_WINDOW (object);

  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (mhf_window_parent_class)->finalize (object);
}

static void
mhf_window_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  MhfWindow *self = MHF_WINDOW (object);

  switch (prop_id)
    {
    case PROP_CLIENT:
      g_value_set_object (value, self->client);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mhf_window_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  MhfWindow *self = MHF_WINDOW (object);

  switch (prop_id)
    {
    case PROP_CLIENT:
      g_set_object (&self->client, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mhf_window_class_init (MhfWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = mhf_window_constructed;
  object_class->dispose = mhf_window_dispose;
  object_class->finalize = mhf_window_finalize;
  object_class->get_property = mhf_window_get_property;
  object_class->set_property = mhf_window_set_property;

  window_class->close_request = mhf_window_close_request;

  properties[PROP_CLIENT] =
    g_param_spec_object ("client", NULL, NULL,
                         MHF_TYPE_AGENT_CLIENT,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The resource bundle sits in the same static library as this file. Naming
   * it here keeps the linker from dropping it, and with it the constructor
   * that registers the bundle.
   */
  (void) mhf_app_get_resource ();

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_BASE "/mhf-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, spinner);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, loading_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, version_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, database_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, keyring_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, schema_version_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, data_directory_label);

  gtk_widget_class_install_action (widget_class, "win.refresh", NULL, refresh_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK,
                                       "win.refresh", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F5, 0, "win.refresh", NULL);
}

static void
mhf_window_init (MhfWindow *self)
{
  self->cancellable = g_cancellable_new ();

  gtk_widget_init_template (GTK_WIDGET (self));

#ifdef DEVELOPMENT_BUILD
  gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
#endif
}

/**
 * mhf_window_new:
 * @application: (nullable): the application the window belongs to
 * @client: (nullable): the agent client to show, or %NULL for a new one
 *
 * Creates a window that starts connecting to the agent right away. Like
 * every #GtkWindow it is owned by GTK until gtk_window_destroy().
 *
 * Returns: (transfer none): a new #MhfWindow
 */
MhfWindow *
mhf_window_new (AdwApplication *application,
                MhfAgentClient *client)
{
  g_return_val_if_fail (!application || ADW_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (!client || MHF_IS_AGENT_CLIENT (client), NULL);

  return g_object_new (MHF_TYPE_WINDOW,
                       "application", application,
                       "client", client,
                       NULL);
}

/**
 * mhf_window_get_client:
 * @self: a #MhfWindow
 *
 * Returns: (transfer none): the client whose state the window shows
 */
MhfAgentClient *
mhf_window_get_client (MhfWindow *self)
{
  g_return_val_if_fail (MHF_IS_WINDOW (self), NULL);

  return self->client;
}

/**
 * mhf_window_get_visible_page_name:
 * @self: a #MhfWindow
 *
 * Returns: (transfer none) (nullable): the name of the page shown, such as
 *   "ready" or "unreachable"
 */
const char *
mhf_window_get_visible_page_name (MhfWindow *self)
{
  g_return_val_if_fail (MHF_IS_WINDOW (self), NULL);

  if (self->stack == NULL)
    return NULL;

  return gtk_stack_get_visible_child_name (self->stack);
}
