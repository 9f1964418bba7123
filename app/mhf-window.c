/* mhf-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The main window: a dashboard of what the agent reports. It picks one page
 * of its stack from the client's "reachable" and "agent-state" properties, so
 * that a StatusChanged signal from the agent changes the page without any
 * polling. Once the agent is ready, the client's session properties decide
 * between creating the owner (first run), signing in, and the dashboard.
 */

#include "config.h"

#include "mhf-window.h"

#include "mhf-clinic-view.h"
#include "mhf-onboarding.h"

#include "mhf-app-resources.h"
#include "mhf-error.h"

#include <glib/gi18n.h>
#include <string.h>

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
  AdwEntryRow          *owner_username_row;
  AdwEntryRow          *owner_display_name_row;
  AdwEntryRow          *owner_passphrase_row;
  AdwEntryRow          *owner_confirm_row;
  GtkLabel             *create_owner_error_label;
  GtkButton            *create_owner_button;
  AdwEntryRow          *sign_in_username_row;
  AdwEntryRow          *sign_in_passphrase_row;
  GtkLabel             *sign_in_error_label;
  GtkLabel             *sign_in_status_label;
  GtkLabel             *create_owner_status_label;
  GtkButton            *sign_in_button;

  /* Owned references */
  MhfAgentClient       *client;
  GCancellable         *cancellable;
  GSettings            *settings;

  MhfClinicView        *clinic_view;     /* the signed-in user's first clinic */
  GtkWidget            *no_clinic_page;  /* signed in, but no clinic yet */
  GtkDropDown          *clinic_switcher; /* shown with two clinics or more */
  GArray               *clinic_ids;      /* the switcher's clinics, in its order */
  gint64                wanted_clinic;   /* to open once listed, 0 for the first */
  const char           *wanted_page;     /* its page, NULL for the overview */

  /* State */
  guint                 busy;
  /* ListClinics was asked for this session. */
  guint                 clinics_requested : 1;
  /* A CreateOwner, SignIn or SignOut call is on its way. */
  guint                 submitting : 1;
};

/* Passphrases are at least this many characters; the agent checks it too. */
#define MIN_PASSPHRASE_CHARS 10

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

static void focus_page (MhfWindow  *self,
                        const char *page);

static void mhf_window_update (MhfWindow *self);

static void
drop_clinic_view (MhfWindow *self)
{
  if (self->clinic_view != NULL)
    {
      gtk_stack_remove (self->stack, GTK_WIDGET (self->clinic_view));
      self->clinic_view = NULL;
    }
  if (self->no_clinic_page != NULL)
    {
      gtk_stack_remove (self->stack, self->no_clinic_page);
      self->no_clinic_page = NULL;
    }
  self->clinics_requested = FALSE;
  if (self->clinic_switcher != NULL)
    gtk_widget_set_visible (GTK_WIDGET (self->clinic_switcher), FALSE);
}

/* The assistant saved each step as it went; show the clinic it made, on
 * its overview once the first scan ran, else on Settings to finish. */
static void
onboarding_destroyed_cb (MhfOnboarding *onboarding,
                         MhfWindow     *self)
{
  gint64 clinic = mhf_onboarding_get_clinic (onboarding);

  g_signal_handlers_disconnect_by_data (onboarding, self);
  if (clinic == 0 || self->client == NULL)
    return;
  self->wanted_clinic = clinic;
  self->wanted_page = mhf_onboarding_get_scanned (onboarding) ? "overview" : "settings";
  drop_clinic_view (self);
  mhf_window_update (self);
  g_object_unref (self);
}

/* A clinic was removed: list the user's clinics again. */
static void
reload_clinics_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  MhfWindow *self = MHF_WINDOW (widget);

  drop_clinic_view (self);
  mhf_window_update (self);
}

static void
add_clinic_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  MhfWindow *self = MHF_WINDOW (widget);
  MhfOnboarding *onboarding = mhf_onboarding_new (GTK_WINDOW (self), self->client);

  /* Held until the assistant is gone: it reports to this window. */
  g_object_ref (self);
  g_signal_connect (onboarding, "destroy", G_CALLBACK (onboarding_destroyed_cb), self);
  gtk_window_present (GTK_WINDOW (onboarding));
}

/* Signed in without a clinic: an owner adds one; anyone else is told whom
 * to ask. */
static void
show_no_clinic (MhfWindow *self,
                gboolean   owner)
{
  GtkWidget *status = adw_status_page_new ();

  if (self->no_clinic_page != NULL)
    gtk_stack_remove (self->stack, self->no_clinic_page);

  adw_status_page_set_icon_name (ADW_STATUS_PAGE (status), "list-add-symbolic");
  adw_status_page_set_title (ADW_STATUS_PAGE (status), _("No Clinic Yet"));
  if (owner)
    {
      GtkWidget *button = gtk_button_new_with_mnemonic (_("_Set Up a Clinic…"));

      adw_status_page_set_description (ADW_STATUS_PAGE (status),
                                       _("Set up your clinic: connect it to Cliniko, choose "
                                         "its first messages and how email is sent."));
      gtk_widget_add_css_class (button, "suggested-action");
      gtk_widget_add_css_class (button, "pill");
      gtk_widget_set_halign (button, GTK_ALIGN_CENTER);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "win.add-clinic");
      adw_status_page_set_child (ADW_STATUS_PAGE (status), button);
    }
  else
    adw_status_page_set_description (ADW_STATUS_PAGE (status),
                                     _("You have no role at a clinic yet. Ask an owner to give "
                                       "you one."));

  self->no_clinic_page = status;
  gtk_stack_add_named (self->stack, status, "no-clinic");
  mhf_window_update (self);
}

static void
who_am_i_for_clinics_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GVariant) roles = NULL;
  const char *role = NULL;

  if (self->client == NULL)
    return;
  reply = mhf_agent_client_call_finish (self->client, result, NULL);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@a{sv})", &session);
  roles = g_variant_lookup_value (session, "roles", G_VARIANT_TYPE ("a{xs}"));
  for (gsize i = 0; roles != NULL && role == NULL && i < g_variant_n_children (roles); i++)
    {
      gint64 clinic = -1;
      const char *r = NULL;

      g_variant_get_child (roles, i, "{x&s}", &clinic, &r);
      if (clinic == 0)
        role = r;
    }
  show_no_clinic (self, g_strcmp0 (role, "owner") == 0);
}

static void
clinic_switched_cb (GtkDropDown *dropdown,
                    GParamSpec  *pspec,
                    MhfWindow   *self)
{
  guint i = gtk_drop_down_get_selected (dropdown);

  if (i >= self->clinic_ids->len || self->clinic_view == NULL ||
      g_array_index (self->clinic_ids, gint64, i) == mhf_clinic_view_get_clinic (self->clinic_view))
    return;
  self->wanted_clinic = g_array_index (self->clinic_ids, gint64, i);
  self->wanted_page = NULL;
  drop_clinic_view (self);
  mhf_window_update (self);
}

/* An owner of several clinics switches between them in the header. */
static void
fill_clinic_switcher (MhfWindow *self,
                      GVariant  *clinics,
                      gint64     shown)
{
  g_autoptr(GtkStringList) names = gtk_string_list_new (NULL);
  guint selected = 0;

  g_array_set_size (self->clinic_ids, 0);
  for (gsize i = 0; i < g_variant_n_children (clinics); i++)
    {
      g_autoptr(GVariant) clinic = g_variant_get_child_value (clinics, i);
      const char *clinic_name = "";
      gint64 clinic_id = 0;

      g_variant_lookup (clinic, "id", "x", &clinic_id);
      g_variant_lookup (clinic, "name", "&s", &clinic_name);
      if (clinic_id == shown)
        selected = self->clinic_ids->len;
      g_array_append_val (self->clinic_ids, clinic_id);
      gtk_string_list_append (names, clinic_name);
    }
  g_signal_handlers_block_by_func (self->clinic_switcher, clinic_switched_cb, self);
  gtk_drop_down_set_model (self->clinic_switcher, G_LIST_MODEL (names));
  gtk_drop_down_set_selected (self->clinic_switcher, selected);
  g_signal_handlers_unblock_by_func (self->clinic_switcher, clinic_switched_cb, self);
  gtk_widget_set_visible (GTK_WIDGET (self->clinic_switcher), self->clinic_ids->len > 1);
}

static void
clinics_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) clinics = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GError) error = NULL;
  const char *name = "", *role = "";
  gint64 id = 0;

  if (self->client == NULL)
    return;
  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      g_debug ("Listing clinics failed: %s", error->message);
      self->clinics_requested = FALSE;
      return;
    }
  g_variant_get (reply, "(@aa{sv})", &clinics);
  if (self->clinic_view != NULL || !mhf_agent_client_get_signed_in (self->client))
    return;
  if (g_variant_n_children (clinics) == 0)
    {
      mhf_agent_client_call_async (self->client, "WhoAmI", NULL, self->cancellable,
                                   who_am_i_for_clinics_cb, g_object_ref (self));
      return;
    }

  /* The clinic just set up, else the first the user works at; the agent
   * lists only theirs. */
  for (gsize i = 0; i < g_variant_n_children (clinics); i++)
    {
      g_autoptr(GVariant) clinic = g_variant_get_child_value (clinics, i);
      gint64 clinic_id = 0;

      g_variant_lookup (clinic, "id", "x", &clinic_id);
      if (first == NULL || clinic_id == self->wanted_clinic)
        {
          g_clear_pointer (&first, g_variant_unref);
          first = g_variant_ref (clinic);
        }
    }
  g_variant_lookup (first, "id", "x", &id);
  g_variant_lookup (first, "name", "&s", &name);
  g_variant_lookup (first, "role", "&s", &role);
  fill_clinic_switcher (self, clinics, id);
  self->clinic_view = mhf_clinic_view_new (self->client, id, name, role);
  gtk_stack_add_named (self->stack, GTK_WIDGET (self->clinic_view), "clinic");
  if (self->wanted_page != NULL)
    mhf_clinic_view_show_page (self->clinic_view, self->wanted_page);
  /* Set-up left for later: the cursor waits in the Cliniko key field. */
  if (g_strcmp0 (self->wanted_page, "settings") == 0)
    mhf_clinic_view_focus_cliniko_key (self->clinic_view);
  self->wanted_clinic = 0;
  self->wanted_page = NULL;
  if (self->no_clinic_page != NULL)
    {
      gtk_stack_remove (self->stack, self->no_clinic_page);
      self->no_clinic_page = NULL;
    }
  mhf_window_update (self);
}

static void
mhf_window_update (MhfWindow *self)
{
  g_autofree char *schema_version = NULL;
  g_autofree char *signed_in_as = NULL;
  MhfAgentState state;
  const char *previous_page;
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

      if (state == MHF_AGENT_STATE_READY)
        {
          if (!mhf_agent_client_get_session_known (self->client))
            page = "loading";
          else if (mhf_agent_client_get_first_run (self->client))
            {
              page = "create-owner";
              /* Translators: window subtitle on the first run */
              subtitle = _("First Run");
            }
          else if (!mhf_agent_client_get_signed_in (self->client))
            {
              page = "sign-in";
              /* Translators: window subtitle while nobody is signed in */
              subtitle = _("Signed Out");
            }
          else
            {
              const char *name = mhf_agent_client_get_display_name (self->client);

              if (name == NULL || *name == '\0')
                name = mhf_agent_client_get_username (self->client);
              if (name != NULL && *name != '\0')
                {
                  /* Translators: window subtitle; %s is the user's display name */
                  signed_in_as = g_strdup_printf (_("Signed in as %s"), name);
                  subtitle = signed_in_as;
                }
            }
        }
    }

  /* Signed in: the clinic's pages, once the agent has listed the clinics. */
  if (g_str_equal (page, "ready") && mhf_agent_client_get_signed_in (self->client))
    {
      if (self->clinic_view != NULL)
        page = "clinic";
      else if (self->no_clinic_page != NULL && self->clinics_requested)
        page = "no-clinic";
      else if (!self->clinics_requested)
        {
          self->clinics_requested = TRUE;
          mhf_agent_client_call_async (self->client, "ListClinics", NULL, self->cancellable,
                                       clinics_cb, g_object_ref (self));
        }
    }
  else if (!mhf_agent_client_get_signed_in (self->client) &&
           (self->clinic_view != NULL || self->no_clinic_page != NULL))
    drop_clinic_view (self);
  else if (!mhf_agent_client_get_signed_in (self->client))
    self->clinics_requested = FALSE;

  previous_page = gtk_stack_get_visible_child_name (self->stack);
  if (g_strcmp0 (previous_page, page) != 0)
    {
      gtk_stack_set_visible_child_name (self->stack, page);
      focus_page (self, page);
    }
  adw_window_title_set_subtitle (self->window_title, subtitle);
  gtk_spinner_set_spinning (self->spinner, g_str_equal (page, "loading"));
  gtk_label_set_text (self->loading_label, loading_text);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.refresh", self->busy == 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.sign-out",
                                 (g_str_equal (page, "ready") || g_str_equal (page, "clinic") ||
                                  g_str_equal (page, "no-clinic")) &&
                                 mhf_agent_client_get_signed_in (self->client) &&
                                 !self->submitting);
  gtk_widget_set_sensitive (GTK_WIDGET (self->create_owner_button), !self->submitting);
  gtk_widget_set_sensitive (GTK_WIDGET (self->sign_in_button), !self->submitting);

  set_value_label (self->status_label, agent_state_to_words (state));
  set_value_label (self->version_label, mhf_agent_client_get_version (self->client));
  set_value_label (self->database_label,
                   database_state_to_words (mhf_agent_client_get_database_state (self->client)));
  set_value_label (self->keyring_label,
                   keyring_state_to_words (mhf_agent_client_get_keyring_state (self->client)));
  schema_version = g_strdup_printf ("%u", mhf_agent_client_get_schema_version (self->client));

  /* Before anyone signs in, the agent's health is still in view. */
  {
    g_autofree char *health = NULL;

    /* Translators: a status line under the sign-in form: agent state,
     * keyring, database, schema version, agent version */
    health = g_strdup_printf (_("Background agent: %s · Keyring: %s · Database: %s (schema %s) · "
                                "version %s"),
                              agent_state_to_words (state),
                              keyring_state_to_words (mhf_agent_client_get_keyring_state (self->client)),
                              database_state_to_words (mhf_agent_client_get_database_state (self->client)),
                              schema_version,
                              mhf_agent_client_get_version (self->client) ?: "?");
    gtk_label_set_text (self->sign_in_status_label, health);
    gtk_label_set_text (self->create_owner_status_label, health);
  }
  set_value_label (self->schema_version_label, schema_version);
  set_value_label (self->data_directory_label,
                   mhf_agent_client_get_data_directory (self->client));
}


/* Puts the cursor where typing should start on a page just shown. */
static void
focus_page (MhfWindow  *self,
            const char *page)
{
  g_assert (MHF_IS_WINDOW (self));

  if (g_str_equal (page, "create-owner"))
    gtk_widget_grab_focus (GTK_WIDGET (self->owner_username_row));
  else if (g_str_equal (page, "sign-in"))
    {
      const char *username = gtk_editable_get_text (GTK_EDITABLE (self->sign_in_username_row));

      if (username != NULL && *username != '\0')
        gtk_widget_grab_focus (GTK_WIDGET (self->sign_in_passphrase_row));
      else
        gtk_widget_grab_focus (GTK_WIDGET (self->sign_in_username_row));
    }
  else if (g_str_equal (page, "no-clinic") && self->no_clinic_page != NULL)
    gtk_widget_child_focus (self->no_clinic_page, GTK_DIR_TAB_FORWARD);
}

static void
show_error (GtkLabel   *label,
            const char *message)
{
  g_assert (GTK_IS_LABEL (label));

  gtk_label_set_text (label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (label), message != NULL);
}

static void
clear_passphrase (AdwEntryRow *row)
{
  gtk_editable_set_text (GTK_EDITABLE (row), "");
}

/* The sentence for an error the agent or the bus returned. The agent's own
 * message is for developers and never shown; only the code counts.
 */
static const char *
error_to_sentence (const GError *error)
{
  g_assert (error != NULL);

  if (mhf_agent_client_error_is_unreachable (error))
    return _("The background agent could not be reached. Try again in a moment.");

  if (error->domain != MHF_ERROR)
    return _("Something went wrong. Try again.");

  switch ((MhfError) error->code)
    {
    case MHF_ERROR_SIGN_IN_FAILED:
      return _("The username or passphrase is not right.");

    case MHF_ERROR_SIGN_IN_LOCKED:
      return _("Too many attempts. Try again in a few minutes.");

    case MHF_ERROR_INVALID_INPUT:
      return _("Check the fields and try again.");

    case MHF_ERROR_NOT_ALLOWED:
      return _("An owner account exists already. Sign in instead.");

    case MHF_ERROR_KEYRING_UNAVAILABLE:
    case MHF_ERROR_KEYRING_LOCKED:
    case MHF_ERROR_DATABASE_UNAVAILABLE:
      return _("The background agent cannot open its data right now. Try again in a moment.");

    case MHF_ERROR_FAILED:
    case MHF_ERROR_NOT_SIGNED_IN:
    case MHF_ERROR_ACCESS_DENIED:
    case MHF_ERROR_NOT_FOUND:
    case MHF_ERROR_CLINIKO_KEY_REJECTED:
    case MHF_ERROR_NETWORK:
    case MHF_ERROR_SESSION_EXPIRED:
    default:
      return _("Something went wrong. Try again.");
    }
}

/* CreateOwner's InvalidInput names the field first ("username: …"). Only that
 * field name is read, from a fixed list; the rest of the message is not shown.
 */
static const char *
create_owner_error_to_sentence (const GError *error)
{
  g_assert (error != NULL);

  if (!g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT))
    return error_to_sentence (error);

  if (g_str_has_prefix (error->message, "username:"))
    return _("Check the fields: the username is not accepted. Use 1 to 64 letters, digits, “.”, “_” or “-”.");

  if (g_str_has_prefix (error->message, "display"))
    return _("Check the fields: the display name is not accepted. Use 1 to 128 characters.");

  if (g_str_has_prefix (error->message, "passphrase"))
    return _("Check the fields: the passphrase is not accepted. Use 10 to 1024 characters.");

  return _("Check the fields and try again.");
}

static gboolean
username_is_valid (const char *username)
{
  size_t len = strlen (username);

  if (len == 0 || len > 64)
    return FALSE;

  for (size_t i = 0; i < len; i++)
    {
      char c = username[i];

      if (!g_ascii_isalnum (c) && c != '.' && c != '_' && c != '-')
        return FALSE;
    }

  return TRUE;
}

static void
set_submitting (MhfWindow *self,
                gboolean   submitting)
{
  g_assert (MHF_IS_WINDOW (self));

  self->submitting = !!submitting;
  mhf_window_update (self);
}

static void
create_owner_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  g_assert (MHF_IS_WINDOW (self));

  if (!mhf_agent_client_create_owner_finish (MHF_AGENT_CLIENT (object), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (self->client == NULL)
    return;

  show_error (self->create_owner_error_label,
              error != NULL ? create_owner_error_to_sentence (error) : NULL);

  /* Someone else created the owner meanwhile: this page is stale. */
  if (g_error_matches (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED))
    mhf_agent_client_who_am_i_async (self->client, self->cancellable, NULL, NULL);

  set_submitting (self, FALSE);
}

static void
create_owner (MhfWindow *self)
{
  g_autofree char *username = NULL;
  g_autofree char *display_name = NULL;
  g_autofree char *passphrase = NULL;
  g_autofree char *confirmation = NULL;
  const char *problem = NULL;

  g_assert (MHF_IS_WINDOW (self));

  if (self->submitting || self->client == NULL)
    return;

  username = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->owner_username_row))));
  display_name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->owner_display_name_row))));
  passphrase = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->owner_passphrase_row)));
  confirmation = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->owner_confirm_row)));

  /* Passphrases never stay on screen after a submit, accepted or not. */
  clear_passphrase (self->owner_passphrase_row);
  clear_passphrase (self->owner_confirm_row);

  if (*username == '\0')
    problem = _("Enter a username.");
  else if (!username_is_valid (username))
    problem = _("The username may only have letters, digits, “.”, “_” and “-”, and at most 64 of them.");
  else if (*display_name == '\0')
    problem = _("Enter the name to show in the app.");
  else if (g_utf8_strlen (display_name, -1) > 128)
    problem = _("The display name may have at most 128 characters.");
  else if (g_utf8_strlen (passphrase, -1) < MIN_PASSPHRASE_CHARS)
    problem = _("The passphrase must have at least 10 characters.");
  else if (!g_str_equal (passphrase, confirmation))
    problem = _("The two passphrases are not the same.");

  show_error (self->create_owner_error_label, problem);

  if (problem != NULL)
    {
      gtk_widget_grab_focus (*username == '\0' || !username_is_valid (username) ?
                             GTK_WIDGET (self->owner_username_row) :
                             *display_name == '\0' || g_utf8_strlen (display_name, -1) > 128 ?
                             GTK_WIDGET (self->owner_display_name_row) :
                             GTK_WIDGET (self->owner_passphrase_row));
      return;
    }

  set_submitting (self, TRUE);
  mhf_agent_client_create_owner_async (self->client, username, display_name, passphrase,
                                       self->cancellable, create_owner_cb, g_object_ref (self));
}

static void
sign_in_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  g_assert (MHF_IS_WINDOW (self));

  if (!mhf_agent_client_sign_in_finish (MHF_AGENT_CLIENT (object), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (self->client == NULL)
    return;

  show_error (self->sign_in_error_label, error != NULL ? error_to_sentence (error) : NULL);
  set_submitting (self, FALSE);

  if (error != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (self->sign_in_passphrase_row));
}

static void
sign_in (MhfWindow *self)
{
  g_autofree char *username = NULL;
  g_autofree char *passphrase = NULL;

  g_assert (MHF_IS_WINDOW (self));

  if (self->submitting || self->client == NULL)
    return;

  username = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->sign_in_username_row))));
  passphrase = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->sign_in_passphrase_row)));
  clear_passphrase (self->sign_in_passphrase_row);

  if (*username == '\0')
    {
      show_error (self->sign_in_error_label, _("Enter your username."));
      gtk_widget_grab_focus (GTK_WIDGET (self->sign_in_username_row));
      return;
    }

  if (*passphrase == '\0')
    {
      show_error (self->sign_in_error_label, _("Enter your passphrase."));
      gtk_widget_grab_focus (GTK_WIDGET (self->sign_in_passphrase_row));
      return;
    }

  set_submitting (self, TRUE);
  mhf_agent_client_sign_in_async (self->client, username, passphrase,
                                  self->cancellable, sign_in_cb, g_object_ref (self));
}

static void
sign_out_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(MhfWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  g_assert (MHF_IS_WINDOW (self));

  if (!mhf_agent_client_sign_out_finish (MHF_AGENT_CLIENT (object), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (self->client == NULL)
    return;

  if (error != NULL)
    adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (error_to_sentence (error)));

  set_submitting (self, FALSE);
}

static void
sign_out_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *param)
{
  MhfWindow *self = MHF_WINDOW (widget);

  if (self->submitting || self->client == NULL)
    return;

  set_submitting (self, TRUE);
  mhf_agent_client_sign_out_async (self->client, self->cancellable,
                                   sign_out_cb, g_object_ref (self));
}

static void
on_owner_username_row_entry_activated_cb (AdwEntryRow *row,
                                          MhfWindow   *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->owner_display_name_row));
}

static void
on_owner_display_name_row_entry_activated_cb (AdwEntryRow *row,
                                              MhfWindow   *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->owner_passphrase_row));
}

static void
on_owner_passphrase_row_entry_activated_cb (AdwEntryRow *row,
                                            MhfWindow   *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->owner_confirm_row));
}

static void
on_owner_confirm_row_entry_activated_cb (AdwEntryRow *row,
                                         MhfWindow   *self)
{
  create_owner (self);
}

static void
on_create_owner_button_clicked_cb (GtkButton *button,
                                   MhfWindow *self)
{
  create_owner (self);
}

static void
on_sign_in_username_row_entry_activated_cb (AdwEntryRow *row,
                                            MhfWindow   *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->sign_in_passphrase_row));
}

static void
on_sign_in_passphrase_row_entry_activated_cb (AdwEntryRow *row,
                                              MhfWindow   *self)
{
  sign_in (self);
}

static void
on_sign_in_button_clicked_cb (GtkButton *button,
                              MhfWindow *self)
{
  sign_in (self);
}

static void
on_client_session_ended_cb (MhfAgentClient *client,
                            const char     *reason,
                            MhfWindow      *self)
{
  const char *message = NULL;

  g_assert (MHF_IS_AGENT_CLIENT (client));
  g_assert (MHF_IS_WINDOW (self));

  if (g_strcmp0 (reason, "idle-timeout") == 0)
    message = _("You were signed out after a period of inactivity.");
  else if (g_strcmp0 (reason, "user-removed") == 0)
    message = _("You were signed out because your account was removed.");
  else if (g_strcmp0 (reason, "passphrase-reset") == 0)
    message = _("You were signed out because an owner set a new passphrase for you.");

  show_error (self->sign_in_error_label, NULL);

  if (message != NULL)
    adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));

  mhf_window_update (self);
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
  g_signal_connect_object (self->client,
                           "session-ended",
                           G_CALLBACK (on_client_session_ended_cb),
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
  g_clear_pointer (&self->clinic_ids, g_array_unref);

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
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, clinic_switcher);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, spinner);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, loading_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, version_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, database_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, keyring_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, schema_version_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, data_directory_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, owner_username_row);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, owner_display_name_row);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, owner_passphrase_row);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, owner_confirm_row);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, create_owner_error_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, create_owner_button);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, sign_in_username_row);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, sign_in_passphrase_row);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, sign_in_error_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, sign_in_status_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, create_owner_status_label);
  gtk_widget_class_bind_template_child (widget_class, MhfWindow, sign_in_button);
  gtk_widget_class_bind_template_callback (widget_class, on_owner_username_row_entry_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_owner_display_name_row_entry_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_owner_passphrase_row_entry_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_owner_confirm_row_entry_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_create_owner_button_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_sign_in_username_row_entry_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_sign_in_passphrase_row_entry_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_sign_in_button_clicked_cb);

  gtk_widget_class_install_action (widget_class, "win.refresh", NULL, refresh_action);
  gtk_widget_class_install_action (widget_class, "win.sign-out", NULL, sign_out_action);
  gtk_widget_class_install_action (widget_class, "win.add-clinic", NULL, add_clinic_action);
  gtk_widget_class_install_action (widget_class, "win.reload-clinics", NULL,
                                   reload_clinics_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK,
                                       "win.refresh", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F5, 0, "win.refresh", NULL);
}

static void
mhf_window_init (MhfWindow *self)
{
  self->cancellable = g_cancellable_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  self->clinic_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_signal_connect (self->clinic_switcher, "notify::selected", G_CALLBACK (clinic_switched_cb),
                    self);

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
