/* mhf-email-group.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The clinic's email settings as one preferences group, shared by the
 * onboarding assistant and the Settings page: a preset for the mail
 * server, the server, its security, the login, the sender and Reply-To,
 * and whether each email is recorded in Cliniko. It holds the password
 * only until it is taken for SetEmailSettings(), and never shows it.
 */

#include "config.h"

#include "mhf-email-group.h"

#include "mhf-error.h"

#include <glib/gi18n.h>

struct _MhfEmailGroup
{
  AdwPreferencesGroup  parent_instance;

  AdwComboRow         *preset_row;
  AdwComboRow         *security_row;
  AdwEntryRow         *host_row;
  AdwEntryRow         *port_row;
  AdwEntryRow         *user_row;
  AdwPasswordEntryRow *password_row;
  AdwEntryRow         *from_name_row;
  AdwEntryRow         *from_address_row;
  AdwEntryRow         *reply_to_row;
  GtkSwitch           *write_back_switch;

  /* The demo writes messages into a folder; kept as loaded. */
  char                *folder;
};

G_DEFINE_FINAL_TYPE (MhfEmailGroup, mhf_email_group, ADW_TYPE_PREFERENCES_GROUP)

/* Presets fill in the server; the rest is the clinic's own. The last one
 * is offered only when the agent already writes into a folder. */
enum { PRESET_OTHER, PRESET_M365, PRESET_GOOGLE, PRESET_FOLDER };

static const struct { const char *label; const char *host; guint port; } presets[] = {
  { N_("Other server"), NULL, 587 },
  { N_("Microsoft 365"), "smtp.office365.com", 587 },
  { N_("Google Workspace (SMTP relay)"), "smtp-relay.gmail.com", 587 },
  { N_("A folder on this computer (trial)"), NULL, 0 },
};

static const char * const security_values[] = { "starttls", "tls", NULL };

/* The agent names the field it refused; these are the rows' titles. */
static const struct { const char *field; const char *title; } fields[] = {
  { "host", N_("Server") },
  { "port", N_("Port") },
  { "security", N_("Security") },
  { "username", N_("Username") },
  { "password", N_("Password") },
  { "from-name", N_("Sender name") },
  { "from-address", N_("Sender address") },
  { "reply-to", N_("Reply-To") },
  { "folder", N_("Folder") },
};

static void
preset_selected_cb (AdwComboRow   *row,
                    GParamSpec    *pspec,
                    MhfEmailGroup *self)
{
  guint i = adw_combo_row_get_selected (row);
  gboolean server = i != PRESET_FOLDER;
  g_autofree char *port = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->host_row), server);
  gtk_widget_set_visible (GTK_WIDGET (self->port_row), server);
  gtk_widget_set_visible (GTK_WIDGET (self->security_row), server);
  gtk_widget_set_visible (GTK_WIDGET (self->user_row), server);
  gtk_widget_set_visible (GTK_WIDGET (self->password_row), server);
  if (i == PRESET_OTHER || i == PRESET_FOLDER || i >= G_N_ELEMENTS (presets))
    return;
  port = g_strdup_printf ("%u", presets[i].port);
  gtk_editable_set_text (GTK_EDITABLE (self->host_row), presets[i].host);
  gtk_editable_set_text (GTK_EDITABLE (self->port_row), port);
  adw_combo_row_set_selected (self->security_row, 0);
}

static void
security_selected_cb (AdwComboRow   *row,
                      GParamSpec    *pspec,
                      MhfEmailGroup *self)
{
  const char *port = gtk_editable_get_text (GTK_EDITABLE (self->port_row));

  /* Follow the usual port unless someone typed another. */
  if (adw_combo_row_get_selected (row) == 1 && g_str_equal (port, "587"))
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), "465");
  else if (adw_combo_row_get_selected (row) == 0 && g_str_equal (port, "465"))
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), "587");
}

static AdwEntryRow *
entry_row (MhfEmailGroup *self,
           const char    *title)
{
  GtkWidget *row = adw_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
  return ADW_ENTRY_ROW (row);
}

static void
mhf_email_group_finalize (GObject *object)
{
  g_free (MHF_EMAIL_GROUP (object)->folder);
  G_OBJECT_CLASS (mhf_email_group_parent_class)->finalize (object);
}

static void
mhf_email_group_class_init (MhfEmailGroupClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mhf_email_group_finalize;
}

static void
mhf_email_group_init (MhfEmailGroup *self)
{
  g_autoptr(GtkStringList) preset_names = gtk_string_list_new (NULL);
  g_autoptr(GtkStringList) security_names = gtk_string_list_new (NULL);
  GtkWidget *row;

  for (guint i = 0; i < PRESET_FOLDER; i++)
    gtk_string_list_append (preset_names, _(presets[i].label));
  gtk_string_list_append (security_names, _("STARTTLS (usually port 587)"));
  gtk_string_list_append (security_names, _("TLS (usually port 465)"));

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (self), _("Email"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self),
                                         _("Always encrypted; certificates are always checked. "
                                           "The password is kept in this computer’s keyring."));

  row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Mail server"));
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (preset_names));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
  self->preset_row = ADW_COMBO_ROW (row);

  self->host_row = entry_row (self, _("Server"));
  self->port_row = entry_row (self, _("Port"));
  gtk_editable_set_text (GTK_EDITABLE (self->port_row), "587");

  row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Security"));
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (security_names));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
  self->security_row = ADW_COMBO_ROW (row);

  self->user_row = entry_row (self, _("Username"));
  row = adw_password_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                 _("Password (leave empty to keep the current one)"));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
  self->password_row = ADW_PASSWORD_ENTRY_ROW (row);
  self->from_name_row = entry_row (self, _("Sender name"));
  self->from_address_row = entry_row (self, _("Sender address"));
  self->reply_to_row = entry_row (self, _("Reply-To (empty: each business’s own)"));

  row = adw_action_row_new ();
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Record each email in Cliniko"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                               _("A memo on the patient: the template and subject, never the "
                                 "message"));
  self->write_back_switch = GTK_SWITCH (gtk_switch_new ());
  gtk_widget_set_valign (GTK_WIDGET (self->write_back_switch), GTK_ALIGN_CENTER);
  gtk_switch_set_active (self->write_back_switch, TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->write_back_switch),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Record each email in Cliniko"),
                                  -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), GTK_WIDGET (self->write_back_switch));
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row),
                                         GTK_WIDGET (self->write_back_switch));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);

  g_signal_connect (self->preset_row, "notify::selected", G_CALLBACK (preset_selected_cb), self);
  g_signal_connect (self->security_row, "notify::selected", G_CALLBACK (security_selected_cb),
                    self);
}

GtkWidget *
mhf_email_group_new (void)
{
  return g_object_new (MHF_TYPE_EMAIL_GROUP, NULL);
}

static const char *
lookup_s (GVariant   *dict,
          const char *key)
{
  const char *value = NULL;

  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}

/**
 * mhf_email_group_set_settings:
 * @settings: GetEmailSettings()'s answer
 *
 * Fills the form. The password is never sent back by the agent; its entry
 * stays empty, meaning "keep the current one".
 */
void
mhf_email_group_set_settings (MhfEmailGroup *self,
                              GVariant      *settings)
{
  g_autofree char *port = NULL;
  const char *host = lookup_s (settings, "host");
  guint32 port_value = 0;
  gboolean write_back = TRUE;
  guint preset = PRESET_OTHER;

  g_return_if_fail (MHF_IS_EMAIL_GROUP (self));

  g_variant_lookup (settings, "port", "u", &port_value);
  g_variant_lookup (settings, "write-back", "b", &write_back);
  port = port_value > 0 ? g_strdup_printf ("%u", port_value) : g_strdup ("587");
  gtk_editable_set_text (GTK_EDITABLE (self->host_row), host);
  gtk_editable_set_text (GTK_EDITABLE (self->port_row), port);
  adw_combo_row_set_selected (self->security_row,
                              g_str_equal (lookup_s (settings, "security"), "tls") ? 1 : 0);
  gtk_editable_set_text (GTK_EDITABLE (self->user_row), lookup_s (settings, "username"));
  gtk_editable_set_text (GTK_EDITABLE (self->from_name_row), lookup_s (settings, "from-name"));
  gtk_editable_set_text (GTK_EDITABLE (self->from_address_row),
                         lookup_s (settings, "from-address"));
  gtk_editable_set_text (GTK_EDITABLE (self->reply_to_row), lookup_s (settings, "reply-to"));
  gtk_switch_set_active (self->write_back_switch, write_back);

  g_clear_pointer (&self->folder, g_free);
  if (g_str_equal (lookup_s (settings, "transport"), "file"))
    {
      GtkStringList *names = GTK_STRING_LIST (adw_combo_row_get_model (self->preset_row));

      self->folder = g_strdup (lookup_s (settings, "folder"));
      if (g_list_model_get_n_items (G_LIST_MODEL (names)) == PRESET_FOLDER)
        gtk_string_list_append (names, _(presets[PRESET_FOLDER].label));
      preset = PRESET_FOLDER;
    }
  else
    {
      for (guint i = PRESET_M365; i < PRESET_FOLDER; i++)
        if (g_ascii_strcasecmp (host, presets[i].host) == 0)
          preset = i;
    }
  adw_combo_row_set_selected (self->preset_row, preset);
  preset_selected_cb (self->preset_row, NULL, self);
}

/**
 * mhf_email_group_take_settings:
 *
 * Returns: (transfer floating): the a{sv} for SetEmailSettings(). A typed
 *   password is moved into it and cleared from the entry.
 */
GVariant *
mhf_email_group_take_settings (MhfEmailGroup *self)
{
  GVariantBuilder dict;
  const char *password;
  guint64 port;

  g_return_val_if_fail (MHF_IS_EMAIL_GROUP (self), NULL);

  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  if (adw_combo_row_get_selected (self->preset_row) == PRESET_FOLDER && self->folder != NULL)
    {
      g_variant_builder_add (&dict, "{sv}", "transport", g_variant_new_string ("file"));
      g_variant_builder_add (&dict, "{sv}", "folder", g_variant_new_string (self->folder));
    }
  else
    {
      password = gtk_editable_get_text (GTK_EDITABLE (self->password_row));
      port = g_ascii_strtoull (gtk_editable_get_text (GTK_EDITABLE (self->port_row)), NULL, 10);
      g_variant_builder_add (&dict, "{sv}", "transport", g_variant_new_string ("smtp"));
      g_variant_builder_add (&dict, "{sv}", "security",
                             g_variant_new_string (security_values[MIN (adw_combo_row_get_selected (self->security_row), 1)]));
      g_variant_builder_add (&dict, "{sv}", "host",
                             g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (self->host_row))));
      g_variant_builder_add (&dict, "{sv}", "port",
                             g_variant_new_uint32 ((guint32) MIN (port, 65536)));
      g_variant_builder_add (&dict, "{sv}", "username",
                             g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (self->user_row))));
      if (*password != '\0')
        g_variant_builder_add (&dict, "{sv}", "password", g_variant_new_string (password));
      /* The password leaves the entry once taken. */
      gtk_editable_set_text (GTK_EDITABLE (self->password_row), "");
    }
  g_variant_builder_add (&dict, "{sv}", "from-name",
                         g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (self->from_name_row))));
  g_variant_builder_add (&dict, "{sv}", "from-address",
                         g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (self->from_address_row))));
  g_variant_builder_add (&dict, "{sv}", "reply-to",
                         g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (self->reply_to_row))));
  g_variant_builder_add (&dict, "{sv}", "write-back",
                         g_variant_new_boolean (gtk_switch_get_active (self->write_back_switch)));
  return g_variant_builder_end (&dict);
}

/**
 * mhf_email_group_describe_error:
 * @error: SetEmailSettings()'s error
 *
 * Returns: (transfer full) (nullable): a sentence naming the field the
 *   agent refused, as the form titles it; %NULL when the error is not about
 *   a field
 */
char *
mhf_email_group_describe_error (const GError *error)
{
  const char *colon;

  if (!g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT))
    return NULL;
  colon = strchr (error->message, ':');
  for (guint i = 0; colon != NULL && i < G_N_ELEMENTS (fields); i++)
    if (strlen (fields[i].field) == (gsize) (colon - error->message) &&
        strncmp (error->message, fields[i].field, colon - error->message) == 0)
      /* Translators: %s is a field's title, such as “Sender address” */
      return g_strdup_printf (_("Check “%s”: the agent could not use it."), _(fields[i].title));
  return g_strdup (_("Check the email settings: the agent could not use them."));
}
