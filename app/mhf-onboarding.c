/* mhf-onboarding.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Setting up a clinic, one step after another: its name, the Cliniko key
 * (then what the agent learnt from Cliniko about it), a first template
 * and rule from presets, email sending with a test message, and the first
 * scan with its progress. Each step is saved by the agent as it is done,
 * so closing the window part-way loses nothing: the clinic's Settings
 * page finishes what is left.
 */

#include "config.h"

#include "mhf-onboarding.h"

#include "mhf-email-group.h"
#include "mhf-error-text.h"
#include "mhf-error.h"

#include <glib/gi18n.h>

struct _MhfOnboarding
{
  AdwWindow            parent_instance;

  MhfAgentClient      *client;
  GCancellable        *cancellable;
  gint64               clinic;
  gulong               progress_id;

  GtkStack            *stack;
  GtkLabel            *error_label;
  GtkButton           *next_button;
  GtkButton           *later_button;
  AdwWindowTitle      *title;

  /* name */
  AdwEntryRow         *name_row;

  /* cliniko */
  AdwPreferencesGroup *key_group;
  AdwPasswordEntryRow *key_row;
  AdwPreferencesGroup *summary_group;
  gboolean             connected;

  /* messages */
  GtkSwitch           *reminder_switch;
  GtkSwitch           *follow_up_switch;
  GArray              *rules;           /* the rule ids created here */
  guint                preset;          /* the one being created */
  gint64               preset_template;
  gboolean             messages_done;

  /* email */
  MhfEmailGroup       *email_group;
  AdwEntryRow         *test_address_row;
  GtkButton           *test_button;
  gboolean             email_saved;

  /* sync */
  GtkProgressBar      *progress;
  GtkLabel            *sync_label;
  guint                pulse_id;
  guint                enabling;        /* the next rule to enable */
  gboolean             synced;
};

G_DEFINE_FINAL_TYPE (MhfOnboarding, mhf_onboarding, ADW_TYPE_WINDOW)

static const char * const steps[] = { "name", "cliniko", "messages", "email", "sync", NULL };

/* The presets: a reminder a day ahead and a care follow-up two days
 * after. Their words are the clinic's to change later. */
typedef struct
{
  const char *template_name;
  const char *subject;
  const char *body;
  const char *rule_name;
  const char *kind;
  const char *timing;
  const char *window;
} Preset;

static Preset presets[2];

static void
init_presets (void)
{
  presets[0] = (Preset) {
    _("Appointment reminder"),
    _("Reminder: your appointment on {{ appointment.date }}"),
    _("Hi {{ patient.first_name | \"there\" }},\n\n"
      "This is a reminder of your {{ appointment.type }} appointment with "
      "{{ practitioner.name }} on {{ appointment.date }} at {{ appointment.time }}.\n\n"
      "{{ business.name }}\n{{ business.address }}\n{{ business.phone }}\n\n"
      "If you need to change it, please call us or reply to this email.\n"),
    _("Reminder 24 hours before"), "reminder", "24h before", "",
  };
  presets[1] = (Preset) {
    _("Care follow-up"),
    _("How are you going after your visit?"),
    _("Hi {{ patient.first_name | \"there\" }},\n\n"
      "Thank you for visiting {{ business.name }}. We hope you are feeling better after "
      "your appointment with {{ practitioner.name }}.\n\n"
      "If you have any questions about your care, reply to this email or call us on "
      "{{ business.phone }}.\n\n{{ business.name }}\n"),
    _("Follow-up 2 days after"), "follow-up", "2d after", "mon-fri 09:00-17:00",
  };
}

/* ---- moving between steps ------------------------------------------------------------------ */

static void
show_error (MhfOnboarding *self,
            const char    *text)
{
  gtk_label_set_text (self->error_label, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), text != NULL);
}

static void
set_busy (MhfOnboarding *self,
          gboolean       busy)
{
  gtk_widget_set_sensitive (GTK_WIDGET (self->next_button), !busy);
}

static void
go_to (MhfOnboarding *self,
       const char    *step)
{
  guint i = g_strv_length ((GStrv) steps);
  g_autofree char *subtitle = NULL;
  const char *next_label = _("_Continue");

  for (guint j = 0; steps[j] != NULL; j++)
    if (g_str_equal (steps[j], step))
      i = j;
  show_error (self, NULL);
  gtk_stack_set_visible_child_name (self->stack, step);
  /* Translators: the assistant's progress, e.g. "Step 2 of 5" */
  subtitle = g_strdup_printf (_("Step %u of %u"), i + 1, g_strv_length ((GStrv) steps));
  adw_window_title_set_subtitle (self->title, subtitle);

  if (g_str_equal (step, "cliniko"))
    next_label = self->connected ? _("_Continue") : _("_Connect");
  else if (g_str_equal (step, "messages"))
    next_label = _("_Create");
  else if (g_str_equal (step, "email"))
    next_label = _("_Save and Continue");
  else if (g_str_equal (step, "sync"))
    next_label = self->synced ? _("_Open Clinic") : _("_Start");
  gtk_button_set_label (self->next_button, next_label);
  gtk_widget_set_visible (GTK_WIDGET (self->later_button),
                          !g_str_equal (step, "name") && !self->synced);
  gtk_button_set_label (self->later_button,
                        g_str_equal (step, "email") ? _("_Skip for Now") : _("Finish _Later"));
  set_busy (self, FALSE);
}

static gboolean
reply_ok (MhfOnboarding  *self,
          GAsyncResult   *result,
          GVariant      **reply)
{
  g_autoptr(GError) error = NULL;

  *reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (*reply != NULL)
    return TRUE;
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *field = mhf_email_group_describe_error (error);
      const char *step = gtk_stack_get_visible_child_name (self->stack);

      g_debug ("Onboarding, %s: %s", step, error->message);
      if (g_str_equal (step, "email") && field != NULL)
        show_error (self, field);
      else if (g_str_equal (step, "name") &&
               g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT))
        show_error (self, _("Give the clinic a name of 1 to 128 characters."));
      else
        show_error (self, mhf_error_text (error));
      set_busy (self, FALSE);
    }
  return FALSE;
}

#define TAKE_REPLY(self, result, reply) \
  if (g_cancellable_is_cancelled ((self)->cancellable) || !reply_ok ((self), (result), &(reply))) \
    return

/* ---- name --------------------------------------------------------------------------------- */

static void
clinic_added_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) sender = NULL;

  TAKE_REPLY (self, result, reply);
  g_variant_get (reply, "(x)", &self->clinic);
  /* Patients see the clinic's name as the sender unless changed. */
  sender = g_variant_ref_sink (g_variant_new_parsed ("{'from-name': <%s>}",
                                                     gtk_editable_get_text (GTK_EDITABLE (self->name_row))));
  mhf_email_group_set_settings (self->email_group, sender);
  go_to (self, "cliniko");
  gtk_widget_grab_focus (GTK_WIDGET (self->key_row));
}

/* ---- cliniko ------------------------------------------------------------------------------ */

static void
summary_row (MhfOnboarding *self,
             const char    *title,
             GVariant      *summary,
             const char    *key)
{
  GtkWidget *row = adw_action_row_new ();
  const char *value = "";

  g_variant_lookup (summary, key, "&s", &value);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), value);
  gtk_widget_add_css_class (row, "property");
  adw_preferences_group_add (self->summary_group, row);
}

static void
key_set_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) summary = NULL;
  const char *role = "";

  TAKE_REPLY (self, result, reply);
  g_variant_get (reply, "(@a{sv})", &summary);
  g_variant_lookup (summary, "user-role", "&s", &role);
  summary_row (self, _("Cliniko account"), summary, "account-name");
  summary_row (self, _("Cliniko user"), summary, "user-name");
  summary_row (self, _("Their role in Cliniko"), summary, "user-role");
  summary_row (self, _("Region (shard)"), summary, "shard");
  summary_row (self, _("Key fingerprint"), summary, "fingerprint");
  summary_row (self, _("Time zone"), summary, "time-zone");
  gtk_widget_set_visible (GTK_WIDGET (self->summary_group), TRUE);
  /* The key is in the keyring now; its entry goes. */
  adw_preferences_group_remove (self->key_group, GTK_WIDGET (self->key_row));
  self->key_row = NULL;
  adw_preferences_group_set_description (self->key_group,
                                         g_ascii_strcasecmp (role, "administrator") == 0
                                         ? _("The key is in this computer’s keyring. It belongs "
                                             "to a Cliniko administrator: a user made just for "
                                             "MyHealthFollowup, with a narrower role, would be "
                                             "safer, and could be revoked on its own.")
                                         : _("The key is in this computer’s keyring. Cliniko "
                                             "shows this user’s actions, such as the memo "
                                             "recorded after each email."));
  self->connected = TRUE;
  go_to (self, "cliniko");
  gtk_widget_grab_focus (GTK_WIDGET (self->next_button));
}

/* ---- messages ----------------------------------------------------------------------------- */

static void create_next_preset (MhfOnboarding *self);

static void
rule_added_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  gint64 rule = 0;

  TAKE_REPLY (self, result, reply);
  g_variant_get (reply, "(x)", &rule);
  g_array_append_val (self->rules, rule);
  self->preset++;
  create_next_preset (self);
}

static void
template_added_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  const Preset *p = &presets[self->preset];
  GVariantBuilder rule;

  TAKE_REPLY (self, result, reply);
  g_variant_get (reply, "(x)", &self->preset_template);

  g_variant_builder_init (&rule, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&rule, "{sv}", "name", g_variant_new_string (p->rule_name));
  g_variant_builder_add (&rule, "{sv}", "kind", g_variant_new_string (p->kind));
  g_variant_builder_add (&rule, "{sv}", "template", g_variant_new_int64 (self->preset_template));
  g_variant_builder_add (&rule, "{sv}", "timing", g_variant_new_string (p->timing));
  g_variant_builder_add (&rule, "{sv}", "window", g_variant_new_string (p->window));
  if (g_str_equal (p->kind, "reminder"))
    g_variant_builder_add (&rule, "{sv}", "last-minute", g_variant_new_boolean (TRUE));
  mhf_agent_client_call_async (self->client, "AddRule",
                               g_variant_new ("(xa{sv})", self->clinic, &rule),
                               self->cancellable, rule_added_cb, g_object_ref (self));
}

static gboolean
preset_wanted (MhfOnboarding *self,
               guint          i)
{
  return gtk_switch_get_active (i == 0 ? self->reminder_switch : self->follow_up_switch);
}

/* Template, then its rule, for each preset switched on. A preset that
 * was created already is not created twice if the user comes back. */
static void
create_next_preset (MhfOnboarding *self)
{
  const Preset *p;

  while (self->preset < G_N_ELEMENTS (presets) && !preset_wanted (self, self->preset))
    self->preset++;
  if (self->preset >= G_N_ELEMENTS (presets))
    {
      self->messages_done = TRUE;
      go_to (self, "email");
      return;
    }
  p = &presets[self->preset];
  mhf_agent_client_call_async (self->client, "AddTemplate",
                               g_variant_new ("(xssss)", self->clinic, p->template_name,
                                              p->subject, p->body, ""),
                               self->cancellable, template_added_cb, g_object_ref (self));
}

/* ---- email -------------------------------------------------------------------------------- */

static void
email_saved_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;

  TAKE_REPLY (self, result, reply);
  self->email_saved = TRUE;
  go_to (self, "sync");
}

static void
test_sent_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;

  gtk_widget_set_sensitive (GTK_WIDGET (self->test_button), TRUE);
  TAKE_REPLY (self, result, reply);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->test_address_row),
                                 _("Test email sent — check that inbox"));
}

static void
email_saved_for_test_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  gint64 template = self->preset_template;

  TAKE_REPLY (self, result, reply);
  self->email_saved = TRUE;
  mhf_agent_client_call_async (self->client, "SendTestEmail",
                               g_variant_new ("(xxs)", self->clinic, template,
                                              gtk_editable_get_text (GTK_EDITABLE (self->test_address_row))),
                               self->cancellable, test_sent_cb, g_object_ref (self));
}

/* A test uses the settings as typed: they are saved first. */
static void
test_clicked_cb (GtkButton     *button,
                 MhfOnboarding *self)
{
  if (self->preset_template == 0)
    {
      show_error (self, _("A test email needs a template: create one in the step before."));
      return;
    }
  show_error (self, NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->test_button), FALSE);
  mhf_agent_client_call_async (self->client, "SetEmailSettings",
                               g_variant_new ("(x@a{sv})", self->clinic,
                                              mhf_email_group_take_settings (self->email_group)),
                               self->cancellable, email_saved_for_test_cb, g_object_ref (self));
}

/* ---- sync --------------------------------------------------------------------------------- */

static gboolean
pulse_cb (gpointer user_data)
{
  MhfOnboarding *self = user_data;

  gtk_progress_bar_pulse (self->progress);
  return G_SOURCE_CONTINUE;
}

static void
scan_progress_cb (MhfAgentClient *client,
                  gint64          clinic,
                  guint           done,
                  guint           total,
                  MhfOnboarding  *self)
{
  g_autofree char *text = NULL;

  if (clinic != self->clinic || total == 0)
    return;
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  gtk_progress_bar_set_fraction (self->progress, MIN (1.0, (double) done / total));
  /* Translators: progress of the first scan, in Cliniko lists read */
  text = g_strdup_printf (_("Reading Cliniko: %u of %u lists"), done, total);
  gtk_progress_bar_set_text (self->progress, text);
}

static void
scanned_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autofree char *text = NULL;
  guint planned = 0, items = 0;

  g_clear_handle_id (&self->pulse_id, g_source_remove);
  TAKE_REPLY (self, result, reply);
  g_variant_get (reply, "(@a{sv})", &summary);
  g_variant_lookup (summary, "planned", "u", &planned);
  g_variant_lookup (summary, "items", "u", &items);
  gtk_progress_bar_set_fraction (self->progress, 1.0);
  gtk_progress_bar_set_text (self->progress, _("Done"));
  text = g_strdup_printf (_("Looked at %u appointments and planned %u messages. From now on the "
                            "agent checks Cliniko every few minutes, also while this window is "
                            "closed."), items, planned);
  gtk_label_set_text (self->sync_label, text);
  self->synced = TRUE;
  go_to (self, "sync");
  gtk_widget_grab_focus (GTK_WIDGET (self->next_button));
}

static void enable_next_rule (MhfOnboarding *self);

static void
rule_enabled_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MhfOnboarding) self = user_data;
  g_autoptr(GVariant) reply = NULL;

  TAKE_REPLY (self, result, reply);
  self->enabling++;
  enable_next_rule (self);
}

/* The preset rules go live here, then the first scan plans their messages. */
static void
enable_next_rule (MhfOnboarding *self)
{
  if (self->enabling < self->rules->len)
    {
      mhf_agent_client_call_async (self->client, "SetRuleEnabled",
                                   g_variant_new ("(xxb)", self->clinic,
                                                  g_array_index (self->rules, gint64,
                                                                 self->enabling),
                                                  TRUE),
                                   self->cancellable, rule_enabled_cb, g_object_ref (self));
      return;
    }
  gtk_progress_bar_set_text (self->progress, _("Reading Cliniko…"));
  self->pulse_id = g_timeout_add (150, pulse_cb, self);
  mhf_agent_client_call_async (self->client, "ScanNow", g_variant_new ("(x)", self->clinic),
                               self->cancellable, scanned_cb, g_object_ref (self));
}

/* ---- the buttons -------------------------------------------------------------------------- */

static void
next_clicked_cb (GtkButton     *button,
                 MhfOnboarding *self)
{
  const char *step = gtk_stack_get_visible_child_name (self->stack);

  show_error (self, NULL);
  set_busy (self, TRUE);
  if (g_str_equal (step, "name"))
    {
      mhf_agent_client_call_async (self->client, "AddClinic",
                                   g_variant_new ("(s)",
                                                  gtk_editable_get_text (GTK_EDITABLE (self->name_row))),
                                   self->cancellable, clinic_added_cb, g_object_ref (self));
    }
  else if (g_str_equal (step, "cliniko") && !self->connected)
    {
      g_autofree char *key = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->key_row)));

      /* Cleared once submitted: from here on only the keyring holds it. */
      gtk_editable_set_text (GTK_EDITABLE (self->key_row), "");
      mhf_agent_client_call_async (self->client, "SetClinikoKey",
                                   g_variant_new ("(xs)", self->clinic, key), self->cancellable,
                                   key_set_cb, g_object_ref (self));
      memset (key, 0, strlen (key));
    }
  else if (g_str_equal (step, "cliniko"))
    go_to (self, self->messages_done ? "email" : "messages");
  else if (g_str_equal (step, "messages"))
    create_next_preset (self);
  else if (g_str_equal (step, "email"))
    mhf_agent_client_call_async (self->client, "SetEmailSettings",
                                 g_variant_new ("(x@a{sv})", self->clinic,
                                                mhf_email_group_take_settings (self->email_group)),
                                 self->cancellable, email_saved_cb, g_object_ref (self));
  else if (g_str_equal (step, "sync") && !self->synced)
    {
      self->enabling = 0;
      enable_next_rule (self);
    }
  else
    gtk_window_close (GTK_WINDOW (self));
}

static void
entry_activated_cb (AdwEntryRow   *row,
                    MhfOnboarding *self)
{
  if (gtk_widget_get_sensitive (GTK_WIDGET (self->next_button)))
    next_clicked_cb (self->next_button, self);
}

static void
later_clicked_cb (GtkButton     *button,
                  MhfOnboarding *self)
{
  if (g_str_equal (gtk_stack_get_visible_child_name (self->stack), "email"))
    go_to (self, "sync");
  else
    gtk_window_close (GTK_WINDOW (self));
}

/* ---- building ----------------------------------------------------------------------------- */

static GtkWidget *
step_page (MhfOnboarding        *self,
           const char           *name,
           const char           *title,
           const char           *description,
           AdwPreferencesGroup **group)
{
  GtkWidget *page = adw_preferences_page_new ();

  *group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (*group, title);
  adw_preferences_group_set_description (*group, description);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), *group);
  gtk_stack_add_named (self->stack, page, name);
  return page;
}

static GtkSwitch *
switch_row (AdwPreferencesGroup *group,
            const char          *title,
            const char          *subtitle)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *toggle = gtk_switch_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  gtk_switch_set_active (GTK_SWITCH (toggle), TRUE);
  gtk_widget_set_valign (toggle, GTK_ALIGN_CENTER);
  gtk_accessible_update_property (GTK_ACCESSIBLE (toggle), GTK_ACCESSIBLE_PROPERTY_LABEL, title,
                                  -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), toggle);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), toggle);
  adw_preferences_group_add (group, row);
  return GTK_SWITCH (toggle);
}

static void
build_steps (MhfOnboarding *self)
{
  AdwPreferencesGroup *group;
  GtkWidget *page, *row, *box;

  /* name */
  step_page (self, "name", _("Your Clinic"),
             _("The name your team will see here. Patients never see it."), &group);
  row = adw_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Clinic name"));
  adw_preferences_group_add (group, row);
  self->name_row = ADW_ENTRY_ROW (row);

  /* cliniko */
  page = step_page (self, "cliniko", _("Connect Cliniko"),
                    _("In Cliniko, make a user just for MyHealthFollowup (for example with the "
                      "Receptionist role), sign in as that user and add an API key under My "
                      "Info → Manage API keys. Paste the key here: it goes straight into this "
                      "computer’s keyring, and the key can be revoked in Cliniko at any time "
                      "without touching anyone else’s access."), &group);
  row = adw_password_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Cliniko API key"));
  adw_preferences_group_add (group, row);
  self->key_row = ADW_PASSWORD_ENTRY_ROW (row);
  self->key_group = group;
  self->summary_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->summary_group, _("Connected"));
  gtk_widget_set_visible (GTK_WIDGET (self->summary_group), FALSE);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), self->summary_group);

  /* messages */
  step_page (self, "messages", _("First Messages"),
             _("Start from two common messages. Their words and timing can be changed later "
               "under Templates and Rules. Nothing is sent before the last step."), &group);
  self->reminder_switch = switch_row (group, _("Appointment reminder"),
                                      _("Emailed 24 hours before each appointment"));
  self->follow_up_switch = switch_row (group, _("Care follow-up"),
                                       _("Emailed 2 days after an attended appointment, on "
                                         "weekdays between 9:00 and 17:00"));

  /* email */
  page = adw_preferences_page_new ();
  self->email_group = MHF_EMAIL_GROUP (mhf_email_group_new ());
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (self->email_group));
  group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (group, _("Test Email"));
  adw_preferences_group_set_description (group,
                                         _("Sends the reminder with sample data — never a "
                                           "patient’s — to an address of yours."));
  row = adw_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Send a test to"));
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  self->test_button = GTK_BUTTON (gtk_button_new_with_mnemonic (_("Send _Test")));
  gtk_widget_set_valign (GTK_WIDGET (self->test_button), GTK_ALIGN_CENTER);
  g_signal_connect (self->test_button, "clicked", G_CALLBACK (test_clicked_cb), self);
  adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), GTK_WIDGET (self->test_button));
  adw_preferences_group_add (group, row);
  self->test_address_row = ADW_ENTRY_ROW (row);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), group);
  gtk_stack_add_named (self->stack, page, "email");

  /* sync */
  step_page (self, "sync", _("First Scan"),
             _("Switches the new rules on and reads the coming appointments from Cliniko. "
               "Rules never send for appointments in the past."), &group);
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  self->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_progress_bar_set_show_text (self->progress, TRUE);
  gtk_progress_bar_set_text (self->progress, _("Not started"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->progress), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("First scan"), -1);
  self->sync_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->sync_label, TRUE);
  gtk_label_set_xalign (self->sync_label, 0);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->progress));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->sync_label));
  adw_preferences_group_add (group, box);
}

/* The cursor starts in the clinic's name. */
static void
mapped_cb (MhfOnboarding *self)
{
  if (g_str_equal (gtk_stack_get_visible_child_name (self->stack), "name"))
    gtk_widget_grab_focus (GTK_WIDGET (self->name_row));
}

static void
mhf_onboarding_dispose (GObject *object)
{
  MhfOnboarding *self = MHF_ONBOARDING (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  g_clear_signal_handler (&self->progress_id, self->client);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (mhf_onboarding_parent_class)->dispose (object);
}

static void
mhf_onboarding_finalize (GObject *object)
{
  MhfOnboarding *self = MHF_ONBOARDING (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->rules, g_array_unref);
  G_OBJECT_CLASS (mhf_onboarding_parent_class)->finalize (object);
}

static void
mhf_onboarding_class_init (MhfOnboardingClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mhf_onboarding_dispose;
  object_class->finalize = mhf_onboarding_finalize;
  init_presets ();
}

static void
mhf_onboarding_init (MhfOnboarding *self)
{
  GtkWidget *content = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *bottom = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

  self->cancellable = g_cancellable_new ();
  self->rules = g_array_new (FALSE, FALSE, sizeof (gint64));

  gtk_window_set_title (GTK_WINDOW (self), _("Set Up a Clinic"));
  gtk_window_set_default_size (GTK_WINDOW (self), 620, 680);
  gtk_window_set_modal (GTK_WINDOW (self), TRUE);
  self->title = ADW_WINDOW_TITLE (adw_window_title_new (_("Set Up a Clinic"), NULL));
  adw_header_bar_set_title_widget (ADW_HEADER_BAR (header), GTK_WIDGET (self->title));
  gtk_box_append (GTK_BOX (content), header);

  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_stack_set_transition_type (self->stack, GTK_STACK_TRANSITION_TYPE_SLIDE_LEFT);
  gtk_widget_set_vexpand (GTK_WIDGET (self->stack), TRUE);
  gtk_box_append (GTK_BOX (content), GTK_WIDGET (self->stack));
  build_steps (self);

  self->error_label = g_object_new (GTK_TYPE_LABEL, "accessible-role", GTK_ACCESSIBLE_ROLE_ALERT,
                                    NULL);
  gtk_label_set_wrap (self->error_label, TRUE);
  gtk_widget_add_css_class (GTK_WIDGET (self->error_label), "error");
  gtk_widget_set_margin_start (GTK_WIDGET (self->error_label), 24);
  gtk_widget_set_margin_end (GTK_WIDGET (self->error_label), 24);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
  gtk_box_append (GTK_BOX (content), GTK_WIDGET (self->error_label));

  self->later_button = GTK_BUTTON (gtk_button_new_with_mnemonic (_("Finish _Later")));
  self->next_button = GTK_BUTTON (gtk_button_new_with_mnemonic (_("_Continue")));
  gtk_widget_add_css_class (GTK_WIDGET (self->next_button), "suggested-action");
  gtk_widget_set_hexpand (GTK_WIDGET (self->later_button), TRUE);
  gtk_widget_set_halign (GTK_WIDGET (self->later_button), GTK_ALIGN_START);
  g_signal_connect (self->next_button, "clicked", G_CALLBACK (next_clicked_cb), self);
  g_signal_connect (self->later_button, "clicked", G_CALLBACK (later_clicked_cb), self);
  gtk_box_append (GTK_BOX (bottom), GTK_WIDGET (self->later_button));
  gtk_box_append (GTK_BOX (bottom), GTK_WIDGET (self->next_button));
  gtk_widget_set_margin_start (bottom, 24);
  gtk_widget_set_margin_end (bottom, 24);
  gtk_widget_set_margin_top (bottom, 12);
  gtk_widget_set_margin_bottom (bottom, 18);
  gtk_box_append (GTK_BOX (content), bottom);

  adw_window_set_content (ADW_WINDOW (self), content);
  gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (self->next_button));
  g_signal_connect (self->name_row, "entry-activated", G_CALLBACK (entry_activated_cb), self);
  g_signal_connect (self->key_row, "entry-activated", G_CALLBACK (entry_activated_cb), self);
  go_to (self, "name");
  g_signal_connect (self, "map", G_CALLBACK (mapped_cb), NULL);
}

/**
 * mhf_onboarding_new:
 * @parent: the main window
 *
 * The assistant for a new clinic; its owner is the signed-in user.
 */
MhfOnboarding *
mhf_onboarding_new (GtkWindow      *parent,
                    MhfAgentClient *client)
{
  /* A dialog to screen readers, not a bare AdwWindow's "generic". */
  MhfOnboarding *self = g_object_new (MHF_TYPE_ONBOARDING, "transient-for", parent,
                                      "accessible-role", GTK_ACCESSIBLE_ROLE_DIALOG, NULL);

  self->client = g_object_ref (client);
  self->progress_id = g_signal_connect (client, "scan-progress", G_CALLBACK (scan_progress_cb),
                                        self);
  return self;
}

/* The clinic created here, 0 before the first step is done. */
gint64
mhf_onboarding_get_clinic (MhfOnboarding *self)
{
  g_return_val_if_fail (MHF_IS_ONBOARDING (self), 0);
  return self->clinic;
}

/* Whether the first scan ran: the clinic is then ready to work with. */
gboolean
mhf_onboarding_get_scanned (MhfOnboarding *self)
{
  g_return_val_if_fail (MHF_IS_ONBOARDING (self), FALSE);
  return self->synced;
}

const char *
mhf_onboarding_get_step (MhfOnboarding *self)
{
  g_return_val_if_fail (MHF_IS_ONBOARDING (self), NULL);
  return gtk_stack_get_visible_child_name (self->stack);
}
