/* mhf-users-group.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The people who may sign in, and their role at this clinic: owners add
 * someone with a first passphrase, change a role, reset a forgotten
 * passphrase or remove someone. The agent keeps the last owner from being
 * removed or demoted and audits every change; this group only asks.
 */

#include "config.h"

#include "mhf-users-group.h"

#include "mhf-error-text.h"
#include "mhf-error.h"

#include <glib/gi18n.h>

struct _MhfUsersGroup
{
  AdwPreferencesGroup  parent_instance;

  MhfAgentClient      *client;
  GCancellable        *cancellable;
  gint64               clinic;
  GPtrArray           *rows;
  gboolean             updating;   /* setting drop-downs from the agent's answer */
};

G_DEFINE_FINAL_TYPE (MhfUsersGroup, mhf_users_group, ADW_TYPE_PREFERENCES_GROUP)

/* In the drop-down's order; "" is no role at this clinic. */
static const char * const roles[] = { "owner", "manager", "staff", "", NULL };

static void
toast (MhfUsersGroup *self,
       const char    *text)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);

  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (text));
}

typedef struct
{
  MhfUsersGroup *self;
  const char    *done;    /* a toast for an outcome the list does not show */
} Call;

static void
changed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autofree Call *c = user_data;
  g_autoptr(MhfUsersGroup) self = c->self;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  const char *done = c->done;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      g_debug ("Users: %s", error->message);
      /* The agent refuses to leave a clinic without an owner. */
      toast (self, g_error_matches (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED)
                   ? _("A clinic always keeps at least one owner.")
                   : g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT)
                   ? _("Check the user name (letters, digits, dots, dashes) and that the "
                       "passphrase has at least 10 characters.")
                   : mhf_error_text (error));
    }
  else if (done != NULL)
    toast (self, done);
  mhf_users_group_refresh (self);
}

static void
call (MhfUsersGroup *self,
      const char    *method,
      GVariant      *parameters,
      const char    *done)
{
  Call *c = g_new0 (Call, 1);

  c->self = g_object_ref (self);
  c->done = done;
  mhf_agent_client_call_async (self->client, method, parameters, self->cancellable, changed_cb, c);
}

static void
role_selected_cb (GtkDropDown   *dropdown,
                  GParamSpec    *pspec,
                  MhfUsersGroup *self)
{
  const char *username = g_object_get_data (G_OBJECT (dropdown), "username");
  guint i = gtk_drop_down_get_selected (dropdown);

  if (self->updating || i >= g_strv_length ((GStrv) roles))
    return;
  call (self, "SetRole", g_variant_new ("(sxs)", username, self->clinic, roles[i]), NULL);
}

/* ---- dialogs ------------------------------------------------------------------------------ */

static GtkWidget *
dialog_entry (GtkWidget  *box,
              const char *title,
              gboolean    password)
{
  GtkWidget *row = password ? adw_password_entry_row_new () : adw_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  gtk_list_box_append (GTK_LIST_BOX (box), row);
  return row;
}

static AdwMessageDialog *
form_dialog (MhfUsersGroup *self,
             const char    *heading,
             const char    *body,
             const char    *action,
             GtkWidget    **list)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (window),
                                                                         heading, body));

  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "ok", action, NULL);
  adw_message_dialog_set_default_response (dialog, "ok");
  adw_message_dialog_set_close_response (dialog, "cancel");
  if (list != NULL)
    {
      *list = gtk_list_box_new ();
      gtk_list_box_set_selection_mode (GTK_LIST_BOX (*list), GTK_SELECTION_NONE);
      gtk_widget_add_css_class (*list, "boxed-list");
      adw_message_dialog_set_extra_child (dialog, *list);
    }
  return dialog;
}

static const char *
entry_text (AdwMessageDialog *dialog,
            const char       *key)
{
  return gtk_editable_get_text (GTK_EDITABLE (g_object_get_data (G_OBJECT (dialog), key)));
}

static void
user_added_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(AdwMessageDialog) dialog = user_data;
  MhfUsersGroup *self = g_object_get_data (G_OBJECT (dialog), "group");
  guint role = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (dialog), "role-index"));
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (MHF_AGENT_CLIENT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self == NULL)
    return;
  if (reply == NULL)
    {
      g_debug ("Users: %s", error->message);
      toast (self, g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT)
                   ? _("Check the user name (letters, digits, dots, dashes), that it is not "
                       "taken, and that the passphrase has at least 10 characters.")
                   : mhf_error_text (error));
      return;
    }
  /* A new person has no role yet: this clinic's comes next. */
  call (self, "SetRole",
        g_variant_new ("(sxs)", (const char *) g_object_get_data (G_OBJECT (dialog), "user"),
                       self->clinic, roles[MIN (role, 2)]),
        _("Added. They can sign in now."));
}

static void
add_response_cb (AdwMessageDialog *dialog,
                 const char       *response,
                 MhfUsersGroup    *self)
{
  const char *username = entry_text (dialog, "username");

  if (!g_str_equal (response, "ok"))
    return;
  /* The dialog's rows are gone once it closes: keep what they said. */
  g_object_set_data_full (G_OBJECT (dialog), "user", g_strdup (username), g_free);
  g_object_set_data (G_OBJECT (dialog), "role-index",
                     GUINT_TO_POINTER (gtk_drop_down_get_selected (g_object_get_data (G_OBJECT (dialog), "role"))));
  g_object_set_data_full (G_OBJECT (dialog), "group", g_object_ref (self), g_object_unref);
  mhf_agent_client_call_async (self->client, "AddUser",
                               g_variant_new ("(sss)", username,
                                              entry_text (dialog, "display-name"),
                                              entry_text (dialog, "passphrase")),
                               self->cancellable, user_added_cb, g_object_ref (dialog));
}

static GtkWidget *
role_dropdown (guint selected)
{
  const char *labels[] = { C_("role", "Owner"), C_("role", "Manager"), C_("role", "Staff"),
                           C_("role", "No role here"), NULL };
  GtkWidget *dropdown = gtk_drop_down_new_from_strings (labels);

  gtk_drop_down_set_selected (GTK_DROP_DOWN (dropdown), selected);
  gtk_widget_set_valign (dropdown, GTK_ALIGN_CENTER);
  return dropdown;
}

static void
add_clicked_cb (GtkButton     *button,
                MhfUsersGroup *self)
{
  GtkWidget *list, *row, *dropdown;
  AdwMessageDialog *dialog = form_dialog (self, _("Add a Person"),
                                          _("They sign in with this user name and passphrase, "
                                            "and can change the passphrase afterwards."),
                                          _("_Add"), &list);

  g_object_set_data (G_OBJECT (dialog), "username", dialog_entry (list, _("User name"), FALSE));
  g_object_set_data (G_OBJECT (dialog), "display-name", dialog_entry (list, _("Full name"), FALSE));
  g_object_set_data (G_OBJECT (dialog), "passphrase",
                     dialog_entry (list, _("First passphrase (10 characters or more)"), TRUE));
  row = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Role at this clinic"));
  dropdown = role_dropdown (2);
  gtk_accessible_update_property (GTK_ACCESSIBLE (dropdown), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Role at this clinic"), -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), dropdown);
  gtk_list_box_append (GTK_LIST_BOX (list), row);
  g_object_set_data (G_OBJECT (dialog), "role", dropdown);
  g_signal_connect (dialog, "response", G_CALLBACK (add_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
reset_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   MhfUsersGroup    *self)
{
  if (g_str_equal (response, "ok"))
    call (self, "ResetPassphrase",
          g_variant_new ("(ss)", (const char *) g_object_get_data (G_OBJECT (dialog), "user"),
                         entry_text (dialog, "passphrase")),
          _("Passphrase set. Tell them in person."));
}

static void
reset_clicked_cb (GtkButton     *button,
                  MhfUsersGroup *self)
{
  const char *username = g_object_get_data (G_OBJECT (button), "username");
  g_autofree char *heading = g_strdup_printf (_("New Passphrase for %s"), username);
  GtkWidget *list;
  AdwMessageDialog *dialog = form_dialog (self, heading,
                                          _("Tell them in person. Their sessions end and a "
                                            "lock-out after wrong attempts is lifted."),
                                          _("_Set Passphrase"), &list);

  g_object_set_data (G_OBJECT (dialog), "passphrase",
                     dialog_entry (list, _("New passphrase (10 characters or more)"), TRUE));
  g_object_set_data_full (G_OBJECT (dialog), "user", g_strdup (username), g_free);
  g_signal_connect (dialog, "response", G_CALLBACK (reset_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
remove_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    MhfUsersGroup    *self)
{
  if (g_str_equal (response, "ok"))
    call (self, "RemoveUser",
          g_variant_new ("(s)", (const char *) g_object_get_data (G_OBJECT (dialog), "user")),
          NULL);
}

static void
remove_clicked_cb (GtkButton     *button,
                   MhfUsersGroup *self)
{
  const char *username = g_object_get_data (G_OBJECT (button), "username");
  g_autofree char *heading = g_strdup_printf (_("Remove %s?"), username);
  AdwMessageDialog *dialog = form_dialog (self, heading,
                                          _("They can no longer sign in, at any clinic. What "
                                            "they did stays in the audit log."),
                                          _("_Remove"), NULL);

  adw_message_dialog_set_response_appearance (dialog, "ok", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "user", g_strdup (username), g_free);
  g_signal_connect (dialog, "response", G_CALLBACK (remove_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- the list ------------------------------------------------------------------------------ */

static GtkWidget *
row_button (const char    *icon,
            const char    *tooltip,
            const char    *username,
            GCallback      callback,
            MhfUsersGroup *self)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);
  g_autofree char *name = g_strdup_printf ("%s: %s", tooltip, username);

  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, name,
                                  -1);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  g_object_set_data_full (G_OBJECT (button), "username", g_strdup (username), g_free);
  g_signal_connect (button, "clicked", callback, self);
  return button;
}

static void
users_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(MhfUsersGroup) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) users = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, NULL);
  if (reply == NULL)
    return;
  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (ADW_PREFERENCES_GROUP (self), g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);

  g_variant_get (reply, "(@aa{sv})", &users);
  self->updating = TRUE;
  for (gsize i = 0; i < g_variant_n_children (users); i++)
    {
      g_autoptr(GVariant) user = g_variant_get_child_value (users, i);
      g_autoptr(GVariant) user_roles = g_variant_lookup_value (user, "roles", G_VARIANT_TYPE ("a{xs}"));
      g_autofree char *role_name = NULL;
      const char *username = "", *display_name = "", *role = "";
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *dropdown;
      guint selected = 3;
      gint64 locked = 0;

      g_variant_lookup (user, "username", "&s", &username);
      g_variant_lookup (user, "display-name", "&s", &display_name);
      g_variant_lookup (user, "locked-until", "x", &locked);
      for (gsize j = 0; user_roles != NULL && j < g_variant_n_children (user_roles); j++)
        {
          gint64 clinic = -1;
          const char *r = NULL;

          g_variant_get_child (user_roles, j, "{x&s}", &clinic, &r);
          if (clinic == self->clinic || (clinic == 0 && *role == '\0'))
            role = r;
        }
      for (guint k = 0; roles[k] != NULL; k++)
        if (g_str_equal (roles[k], role))
          selected = k;

      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), display_name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   locked > g_get_real_time ()
                                   ? _("Locked out after wrong passphrases") : username);
      dropdown = role_dropdown (selected);
      role_name = g_strdup_printf (_("Role of %s"), username);
      gtk_accessible_update_property (GTK_ACCESSIBLE (dropdown), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      role_name, -1);
      g_object_set_data_full (G_OBJECT (dropdown), "username", g_strdup (username), g_free);
      g_signal_connect (dropdown, "notify::selected", G_CALLBACK (role_selected_cb), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), dropdown);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 row_button ("dialog-password-symbolic", _("Reset passphrase"),
                                             username, G_CALLBACK (reset_clicked_cb), self));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 row_button ("user-trash-symbolic", _("Remove person"),
                                             username, G_CALLBACK (remove_clicked_cb), self));
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
      g_ptr_array_add (self->rows, row);
    }
  self->updating = FALSE;
}

void
mhf_users_group_refresh (MhfUsersGroup *self)
{
  g_return_if_fail (MHF_IS_USERS_GROUP (self));
  mhf_agent_client_call_async (self->client, "ListUsers", NULL, self->cancellable, users_cb,
                               g_object_ref (self));
}

guint
mhf_users_group_get_n_users (MhfUsersGroup *self)
{
  g_return_val_if_fail (MHF_IS_USERS_GROUP (self), 0);
  return self->rows->len;
}

static void
mhf_users_group_dispose (GObject *object)
{
  MhfUsersGroup *self = MHF_USERS_GROUP (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (mhf_users_group_parent_class)->dispose (object);
}

static void
mhf_users_group_finalize (GObject *object)
{
  MhfUsersGroup *self = MHF_USERS_GROUP (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->rows, g_ptr_array_unref);
  G_OBJECT_CLASS (mhf_users_group_parent_class)->finalize (object);
}

static void
mhf_users_group_class_init (MhfUsersGroupClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mhf_users_group_dispose;
  G_OBJECT_CLASS (klass)->finalize = mhf_users_group_finalize;
}

static void
mhf_users_group_init (MhfUsersGroup *self)
{
  GtkWidget *add = gtk_button_new_with_mnemonic (_("_Add Person…"));

  self->cancellable = g_cancellable_new ();
  self->rows = g_ptr_array_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (self), _("People"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self),
                                         _("Owners manage people and Cliniko; managers "
                                           "templates, rules and email; staff see the outbox "
                                           "and history, and may cancel a message."));
  gtk_widget_set_valign (add, GTK_ALIGN_CENTER);
  g_signal_connect (add, "clicked", G_CALLBACK (add_clicked_cb), self);
  adw_preferences_group_set_header_suffix (ADW_PREFERENCES_GROUP (self), add);
}

/**
 * mhf_users_group_new:
 * @clinic: the clinic whose roles the drop-downs show and set
 *
 * For owners: the agent answers ListUsers() to no one else.
 */
GtkWidget *
mhf_users_group_new (MhfAgentClient *client,
                     gint64          clinic)
{
  MhfUsersGroup *self = g_object_new (MHF_TYPE_USERS_GROUP, NULL);

  self->client = g_object_ref (client);
  self->clinic = clinic;
  return GTK_WIDGET (self);
}
