/* mhf-clinic-view.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One clinic's working pages: Overview (today's counts, the next sends,
 * warnings), Outbox (planned and retrying messages; cancel, retry) and
 * History (the redacted events, paged as the list scrolls; CSV export for
 * owners). Everything comes from the agent through MhfAgentClient; lists
 * are read again when the agent says the clinic's outbox changed. No
 * clear address is ever shown: the agent sends none.
 */

#include "config.h"

#include "mhf-clinic-view.h"

#include "mhf-editors.h"
#include "mhf-daily-chart.h"
#include "mhf-email-group.h"
#include "mhf-error-text.h"
#include "mhf-users-group.h"

#include "mhf-error.h"

#include <glib/gi18n.h>

#define PAGE_SIZE 100

/* ---- a row of the history, for the list model --------------------------------------------- */

#define MHF_TYPE_EVENT (mhf_event_get_type ())
G_DECLARE_FINAL_TYPE (MhfEvent, mhf_event, MHF, EVENT, GObject)

struct _MhfEvent
{
  GObject   parent_instance;
  GVariant *dict;
};

G_DEFINE_FINAL_TYPE (MhfEvent, mhf_event, G_TYPE_OBJECT)

static void
mhf_event_finalize (GObject *object)
{
  g_clear_pointer (&MHF_EVENT (object)->dict, g_variant_unref);
  G_OBJECT_CLASS (mhf_event_parent_class)->finalize (object);
}

static void
mhf_event_class_init (MhfEventClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mhf_event_finalize;
}

static void
mhf_event_init (MhfEvent *self)
{
}

static MhfEvent *
mhf_event_new (GVariant *dict)
{
  MhfEvent *self = g_object_new (MHF_TYPE_EVENT, NULL);

  self->dict = g_variant_ref (dict);
  return self;
}

/* ---- the view ------------------------------------------------------------------------------ */

struct _MhfClinicView
{
  AdwBin            parent_instance;

  MhfAgentClient   *client;
  GCancellable     *cancellable;
  gint64            clinic;
  char             *clinic_name;
  char             *role;          /* owner, manager or staff */
  gulong            changed_id;
  gulong            status_id;

  AdwViewStack     *stack;

  /* Overview */
  AdwActionRow     *planned_row;
  AdwActionRow     *sent_row;
  AdwActionRow     *skipped_row;
  AdwActionRow     *failed_row;
  AdwActionRow     *agent_row;
  AdwActionRow     *cliniko_health_row;
  AdwActionRow     *email_health_row;
  AdwActionRow     *scan_row;
  AdwActionRow     *licence_row;
  MhfDailyChart    *chart;
  AdwPreferencesGroup *next_group;
  GPtrArray        *next_rows;
  AdwPreferencesGroup *warnings_group;
  GPtrArray        *warning_rows;

  /* The rules seen so far, for the filters; index 0 is "every rule". */
  GtkStringList    *rule_names;
  GArray           *rule_ids;

  /* Outbox */
  GtkDropDown      *outbox_filter;
  GtkDropDown      *outbox_rule_filter;
  GtkListBox       *outbox_list;
  AdwStatusPage    *outbox_empty;
  guint             n_outbox_rows;

  /* History */
  GtkDropDown      *history_filter;
  GtkDropDown      *history_rule_filter;
  GtkDropDown      *history_period;
  GtkPopover       *range_popover;
  GtkCalendar      *range_from;
  GtkCalendar      *range_to;
  gint64            range_from_usec;   /* the chosen dates, local midnights; 0 for none */
  gint64            range_to_usec;     /* exclusive: the midnight after the last day */
  GListStore       *history_store;
  GtkListView      *history_view;
  GtkButton        *export_button;
  gint64            history_next;
  gboolean          history_loading;
  guint             history_generation;

  /* Rules, Templates and Audit: managers and owners */
  GtkListBox       *rules_list;
  GtkListBox       *templates_list;
  GtkListBox       *audit_list;
  AdwActionRow     *audit_integrity_row;
  GtkWidget        *audit_more_button;
  gint64            audit_next;      /* ListAudit()'s "before" for the next page, 0 at the end */
  GVariant         *templates;       /* the last ListTemplates() answer */
  guint             n_rules_rows;
  guint             n_audit_rows;

  /* Settings: managers and owners (the Cliniko key: owners) */
  MhfEmailGroup    *email_group;
  GtkSpinButton    *interval_spin;
  AdwActionRow     *cliniko_row;
  AdwPasswordEntryRow *cliniko_key_row;
  GtkSpinButton    *retention_spin;
  AdwActionRow     *settings_licence_row;
  AdwEntryRow      *licence_entry;
  GtkWidget        *portal_button;
  char             *portal_url;
  MhfUsersGroup    *users_group;
  gboolean          settings_loaded;
};

G_DEFINE_FINAL_TYPE (MhfClinicView, mhf_clinic_view, ADW_TYPE_BIN)

/* The outbox opens on what is still to go. */
static const char * const outbox_states[] = { "planned", "retry_wait", "failed", "skipped",
                                              "cancelled", "interrupted", "sent", "", NULL };
static const char * const history_states[] = { "", "sent", "skipped", "failed", "retry_wait",
                                               "cancelled", "interrupted", NULL };

static gboolean
role_at_least (MhfClinicView *self,
               const char    *role)
{
  static const char * const order[] = { "staff", "manager", "owner", NULL };
  int have = -1, need = -1;

  for (int i = 0; order[i] != NULL; i++)
    {
      if (g_strcmp0 (self->role, order[i]) == 0)
        have = i;
      if (g_strcmp0 (role, order[i]) == 0)
        need = i;
    }
  return have >= need && need >= 0;
}

static const char *
state_to_words (const char *state)
{
  if (g_strcmp0 (state, "planned") == 0)
    return C_("message state", "Planned");
  if (g_strcmp0 (state, "sending") == 0)
    return C_("message state", "Sending");
  if (g_strcmp0 (state, "sent") == 0)
    return C_("message state", "Sent");
  if (g_strcmp0 (state, "skipped") == 0)
    return C_("message state", "Skipped");
  if (g_strcmp0 (state, "retry_wait") == 0)
    return C_("message state", "Waiting to retry");
  if (g_strcmp0 (state, "failed") == 0)
    return C_("message state", "Failed");
  if (g_strcmp0 (state, "cancelled") == 0)
    return C_("message state", "Cancelled");
  if (g_strcmp0 (state, "interrupted") == 0)
    return C_("message state", "Interrupted");
  return state;
}

static char *
format_local (gint64 usec)
{
  g_autoptr(GDateTime) at = NULL;

  if (usec <= 0)
    return g_strdup ("");
  at = g_date_time_new_from_unix_local (usec / G_USEC_PER_SEC);
  /* Translators: a date and time in lists, see g_date_time_format() */
  return g_date_time_format (at, _("%a %-d %b, %H:%M"));
}

static const char *
dict_s (GVariant   *dict,
        const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}

static gint64
dict_x (GVariant   *dict,
        const char *key)
{
  gint64 value = 0;

  g_variant_lookup (dict, key, "x", &value);
  return value;
}

static void
show_error (MhfClinicView *self,
            const GError  *error)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  const char *text;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  /* Most of what this view asks that the agent may refuse is about a
   * message; the rest have one sentence per code. */
  if (g_error_matches (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED))
    text = _("That is not possible for this message any more.");
  else
    text = mhf_error_text (error);

  g_debug ("Clinic view: %s", error->message);
  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (text));
}

/* Rows show text from the agent and the user's own data: never markup. */
static GtkWidget *
plain_row (void)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  return row;
}

static void
toast (MhfClinicView *self,
       const char    *text)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);

  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (text));
}

static void
set_count (AdwActionRow *row,
           guint         count)
{
  g_autofree char *text = g_strdup_printf ("%u", count);

  adw_action_row_set_subtitle (row, text);
}

/* Rules come from ListRules() for managers and from the outbox's rows for
 * everyone, so staff can filter too. Only ever appended: a selection's
 * index stays valid. */
static void
note_rule (MhfClinicView *self,
           gint64         id,
           const char    *name)
{
  for (guint i = 1; i < self->rule_ids->len; i++)
    if (g_array_index (self->rule_ids, gint64, i) == id)
      return;
  g_array_append_val (self->rule_ids, id);
  gtk_string_list_append (self->rule_names, name);
}

static gint64
selected_rule (GtkDropDown   *dropdown,
               MhfClinicView *self)
{
  guint i = gtk_drop_down_get_selected (dropdown);

  return i < self->rule_ids->len ? g_array_index (self->rule_ids, gint64, i) : 0;
}

/* ---- Overview ------------------------------------------------------------------------------ */

static void
clear_rows (AdwPreferencesGroup *group,
            GPtrArray           *rows)
{
  for (guint i = 0; i < rows->len; i++)
    adw_preferences_group_remove (group, g_ptr_array_index (rows, i));
  g_ptr_array_set_size (rows, 0);
}

static void
add_warning (MhfClinicView *self,
             const char    *title,
             const char    *subtitle)
{
  GtkWidget *row = plain_row ();
  GtkWidget *icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
  adw_preferences_group_add (self->warnings_group, row);
  g_ptr_array_add (self->warning_rows, row);
  gtk_widget_set_visible (GTK_WIDGET (self->warnings_group), TRUE);
}

static void
today_history_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  guint sent = 0, skipped = 0, failed = 0;
  gint64 next = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv}x)", &events, &next);
  for (gsize i = 0; i < g_variant_n_children (events); i++)
    {
      g_autoptr(GVariant) event = g_variant_get_child_value (events, i);
      const char *state = dict_s (event, "state");

      sent += g_str_equal (state, "sent");
      skipped += g_str_equal (state, "skipped");
      failed += g_str_equal (state, "failed");
    }
  set_count (self->sent_row, sent);
  set_count (self->skipped_row, skipped);
  set_count (self->failed_row, failed);
}

static int
compare_planned (gconstpointer a,
                 gconstpointer b)
{
  gint64 x = dict_x (*(GVariant **) a, "planned-at"), y = dict_x (*(GVariant **) b, "planned-at");

  return x < y ? -1 : x > y;
}

static void
planned_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) messages = NULL;
  g_autoptr(GPtrArray) sorted = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr(GError) error = NULL;
  gint64 next = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv}x)", &messages, &next);
  set_count (self->planned_row, (guint) g_variant_n_children (messages));

  for (gsize i = 0; i < g_variant_n_children (messages); i++)
    g_ptr_array_add (sorted, g_variant_get_child_value (messages, i));
  g_ptr_array_sort (sorted, compare_planned);

  clear_rows (self->next_group, self->next_rows);
  for (guint i = 0; i < sorted->len && i < 5; i++)
    {
      GVariant *message = g_ptr_array_index (sorted, i);
      g_autofree char *when = format_local (dict_x (message, "planned-at"));
      GtkWidget *row = plain_row ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), dict_s (message, "rule-name"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), when);
      adw_preferences_group_add (self->next_group, row);
      g_ptr_array_add (self->next_rows, row);
    }
  if (sorted->len == 0)
    {
      GtkWidget *row = plain_row ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Nothing is planned"));
      adw_preferences_group_add (self->next_group, row);
      g_ptr_array_add (self->next_rows, row);
    }
}

static void
cliniko_status_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean double_reminders = FALSE;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@a{sv})", &status);

  {
    gboolean connected = FALSE;
    g_autofree char *text = NULL;

    g_variant_lookup (status, "connected", "b", &connected);
    if (g_str_equal (dict_s (status, "key-state"), "rejected"))
      text = g_strdup (_("Key refused: nothing is scanned or sent"));
    else if (*dict_s (status, "problem") != '\0')
      text = g_strdup (_("Could not be read at the last try"));
    else if (connected)
      text = g_strdup_printf (_("Connected to %s"), dict_s (status, "account-name"));
    else
      text = g_strdup (_("Not connected"));
    adw_action_row_set_subtitle (self->cliniko_health_row, text);
  }

  {
    g_autofree char *last = format_local (dict_x (status, "last-scan-at"));
    g_autofree char *next = format_local (dict_x (status, "next-scan-at"));
    g_autofree char *text = NULL;
    gboolean ok = TRUE;

    g_variant_lookup (status, "last-scan-ok", "b", &ok);
    if (*last == '\0' && *next == '\0')
      text = g_strdup (_("No scan yet"));
    else if (*last == '\0')
      text = g_strdup_printf (_("Next at %s"), next);
    else if (*next == '\0')
      text = g_strdup_printf (ok ? _("Last at %s") : _("Last at %s, which failed"), last);
    else
      text = g_strdup_printf (ok ? _("Last at %s, next at %s")
                                 : _("Last at %s, which failed; next at %s"), last, next);
    adw_action_row_set_subtitle (self->scan_row, text);
  }

  if (g_str_equal (dict_s (status, "key-state"), "rejected"))
    add_warning (self, _("Cliniko refused the API key"),
                 _("Nothing is scanned or sent until an owner connects a new key."));
  else if (*dict_s (status, "problem") != '\0')
    add_warning (self, _("Cliniko could not be read"), dict_s (status, "problem"));
  /* Email problems have their own warning from the email settings. */
  if (g_str_equal (dict_s (status, "sending-paused-reason"), "licence-inactive"))
    add_warning (self, _("Sending is paused"), dict_s (status, "sending-paused-text"));
  if (g_variant_lookup (status, "double-reminders", "b", &double_reminders) && double_reminders)
    add_warning (self, _("Cliniko's own reminders are on"),
                 _("Some businesses also get Cliniko's reminders: patients may get two."));
}

static void
email_settings_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GError) error = NULL;
  const char *problem;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@a{sv})", &settings);
  problem = dict_s (settings, "problem");
  adw_action_row_set_subtitle (self->email_health_row,
                               g_str_equal (problem, "SMTP login failed")
                               ? _("Paused: the mail server refused the login")
                               : *problem != '\0' ? _("Not set up")
                               : g_str_equal (dict_s (settings, "transport"), "file")
                               ? _("Writing messages into a folder")
                               : _("Ready"));
  if (g_str_equal (problem, "SMTP login failed"))
    add_warning (self, _("SMTP login failed"),
                 _("Sending is paused. Check the email settings and save them again."));
  else if (*problem != '\0')
    add_warning (self, _("Email is not set up"),
                 _("Messages wait until email sending is set up for this clinic."));
}

static void
daily_counts_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) counts = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, NULL);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@aa{sv})", &counts);
  mhf_daily_chart_set_counts (self->chart, counts);
}

/* The licence as the agent reports it in its status; an agent that
 * reports none leaves the row out rather than guessing. */
static void
show_licence (MhfClinicView *self,
              GVariant      *status)
{
  g_autoptr(GVariant) licence = status != NULL
    ? g_variant_lookup_value (status, "licence", G_VARIANT_TYPE_VARDICT) : NULL;
  g_autofree char *until = NULL;
  g_autofree char *text = NULL;
  const char *state;

  gtk_widget_set_visible (GTK_WIDGET (self->licence_row), licence != NULL);
  if (licence == NULL)
    return;
  state = dict_s (licence, "state");
  until = format_local (g_str_equal (state, "trial") ? dict_x (licence, "trial-ends-at")
                                                     : dict_x (licence, "expires-at"));
  if (g_str_equal (state, "active"))
    text = g_strdup_printf (_("%s plan, until %s"), dict_s (licence, "plan"), until);
  else if (g_str_equal (state, "trial"))
    text = g_strdup_printf (_("Trial, until %s"), until);
  else if (g_str_equal (state, "grace"))
    text = g_strdup_printf (_("Expired on %s: renew soon, sending pauses after a grace period"),
                            until);
  else if (g_str_equal (state, "expired"))
    text = g_strdup (_("Expired: sending is paused until it is renewed"));
  else
    text = g_strdup (_("Not valid: sending is paused until a valid licence is added"));
  adw_action_row_set_subtitle (self->licence_row, text);
  if (self->settings_licence_row != NULL)
    {
      adw_action_row_set_subtitle (self->settings_licence_row, text);
      g_free (self->portal_url);
      self->portal_url = g_strdup (dict_s (licence, "portal-url"));
      gtk_widget_set_visible (self->portal_button, *self->portal_url != '\0');
    }
}

static void
refresh_overview (MhfClinicView *self)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) midnight = g_date_time_new_local (g_date_time_get_year (now),
                                                         g_date_time_get_month (now),
                                                         g_date_time_get_day_of_month (now),
                                                         0, 0, 0);
  GVariant *status = mhf_agent_client_get_status (self->client);
  gint64 offline = 0;

  clear_rows (self->warnings_group, self->warning_rows);
  gtk_widget_set_visible (GTK_WIDGET (self->warnings_group), FALSE);
  adw_action_row_set_subtitle (self->agent_row,
                               mhf_agent_client_get_agent_state (self->client) == MHF_AGENT_STATE_READY
                               ? _("Running; keyring and database ready")
                               : _("Not ready; see the agent's status"));
  /* Staff do not see the email settings. */
  gtk_widget_set_visible (GTK_WIDGET (self->email_health_row), role_at_least (self, "manager"));
  if (status != NULL && g_variant_lookup (status, "offline-seconds", "x", &offline) &&
      offline >= 3600)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "The agent was off for %d hour before it last started.",
                                                            "The agent was off for %d hours before it last started.",
                                                            (gulong) (offline / 3600)),
                                               (int) (offline / 3600));

      add_warning (self, _("The agent was not running"), text);
    }
  show_licence (self, status);
  mhf_agent_client_call_async (self->client, "GetDailyCounts",
                               g_variant_new ("(xu)", self->clinic, 30), self->cancellable,
                               daily_counts_cb, g_object_ref (self));

  mhf_agent_client_call_async (self->client, "ListOutbox",
                               g_variant_new_parsed ("(%x, {'state': <'planned'>, "
                                                     "'limit': <uint32 500>})",
                                                     self->clinic),
                               self->cancellable, planned_cb, g_object_ref (self));
  mhf_agent_client_call_async (self->client, "ListHistory",
                               g_variant_new_parsed ("(%x, {'from': <%x>, "
                                                     "'limit': <uint32 500>})",
                                                     self->clinic,
                                                     g_date_time_to_unix (midnight) *
                                                     G_USEC_PER_SEC),
                               self->cancellable, today_history_cb, g_object_ref (self));
  mhf_agent_client_call_async (self->client, "GetClinikoStatus",
                               g_variant_new ("(x)", self->clinic), self->cancellable,
                               cliniko_status_cb, g_object_ref (self));
  if (role_at_least (self, "manager"))
    mhf_agent_client_call_async (self->client, "GetEmailSettings",
                                 g_variant_new ("(x)", self->clinic), self->cancellable,
                                 email_settings_cb, g_object_ref (self));
}

/* ---- Outbox --------------------------------------------------------------------------------- */

static void refresh_outbox (MhfClinicView *self);

static void
message_action_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *overlay;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (_("Done")));
  mhf_clinic_view_refresh (self);
}

static void
cancel_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    MhfClinicView    *self)
{
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "reason");
  gint64 id = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (dialog), "message"));

  if (!g_str_equal (response, "cancel-message"))
    return;
  mhf_agent_client_call_async (self->client, "CancelMessage",
                               g_variant_new ("(xxs)", self->clinic, id,
                                              gtk_editable_get_text (entry)),
                               self->cancellable, message_action_cb, g_object_ref (self));
}

static void
cancel_clicked_cb (GtkButton     *button,
                   MhfClinicView *self)
{
  gint64 id = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "message"));
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  GtkWidget *dialog;
  GtkWidget *entry = gtk_entry_new ();

  dialog = adw_message_dialog_new (GTK_WINDOW (window), _("Cancel This Message?"),
                                   _("It will not be sent. A manager can plan it again later."));
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), _("Reason (optional)"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Reason"), -1);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "keep", _("_Keep"),
                                    "cancel-message", _("_Cancel Message"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "cancel-message",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "keep");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "keep");
  g_object_set_data (G_OBJECT (dialog), "reason", entry);
  g_object_set_data (G_OBJECT (dialog), "message", GSIZE_TO_POINTER ((gsize) id));
  g_signal_connect (dialog, "response", G_CALLBACK (cancel_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
retry_clicked_cb (GtkButton     *button,
                  MhfClinicView *self)
{
  gint64 id = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "message"));

  mhf_agent_client_call_async (self->client, "RetryMessage", g_variant_new ("(xx)", self->clinic, id),
                               self->cancellable, message_action_cb, g_object_ref (self));
}

static GtkWidget *
outbox_row (MhfClinicView *self,
            GVariant      *message)
{
  const char *state = dict_s (message, "state");
  const char *reason = dict_s (message, "reason-text");
  g_autofree char *when = format_local (dict_x (message, "planned-at"));
  g_autofree char *title = g_strdup_printf ("%s · %s", dict_s (message, "rule-name"), when);
  const char *recipient = dict_s (message, "recipient");
  g_autofree char *status = *reason != '\0'
    ? g_strdup_printf ("%s — %s", state_to_words (state), reason)
    : g_strdup (state_to_words (state));
  /* The address is read from Cliniko only at send time: until then there
   * is none to show, and after it only a masked one. */
  g_autofree char *subtitle = *recipient != '\0'
    ? g_strdup_printf ("%s · %s", status, recipient)
    : g_strdup (status);
  gint64 id = dict_x (message, "id");
  GtkWidget *row = plain_row ();
  gboolean pending = g_str_equal (state, "planned") || g_str_equal (state, "retry_wait");
  gboolean finished = g_str_equal (state, "failed") || g_str_equal (state, "interrupted") ||
                      g_str_equal (state, "skipped") || g_str_equal (state, "cancelled");

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);

  if (pending || (finished && role_at_least (self, "manager")))
    {
      GtkWidget *button = gtk_button_new_with_mnemonic (pending ? _("_Cancel…") : _("_Retry"));
      g_autofree char *name = g_strdup_printf (pending ? _("Cancel message %" G_GINT64_FORMAT)
                                                       : _("Retry message %" G_GINT64_FORMAT),
                                               id);

      gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      name, -1);
      g_object_set_data (G_OBJECT (button), "message", GSIZE_TO_POINTER ((gsize) id));
      g_signal_connect (button, "clicked",
                        pending ? G_CALLBACK (cancel_clicked_cb) : G_CALLBACK (retry_clicked_cb),
                        self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
    }
  return row;
}

static void
outbox_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) messages = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *child;
  gint64 next = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv}x)", &messages, &next);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->outbox_list))) != NULL)
    gtk_list_box_remove (self->outbox_list, child);

  /* What is still to go, soonest first; the rest newest first. */
  {
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
    guint selected = gtk_drop_down_get_selected (self->outbox_filter);

    for (gsize i = 0; i < g_variant_n_children (messages); i++)
      {
        GVariant *row = g_variant_get_child_value (messages, i);

        note_rule (self, dict_x (row, "rule"), dict_s (row, "rule-name"));
        g_ptr_array_add (rows, row);
      }
    if (selected < 2)
      g_ptr_array_sort (rows, compare_planned);
    for (guint i = 0; i < rows->len; i++)
      gtk_list_box_append (self->outbox_list, outbox_row (self, g_ptr_array_index (rows, i)));
  }
  self->n_outbox_rows = (guint) g_variant_n_children (messages);
  gtk_widget_set_visible (GTK_WIDGET (self->outbox_list), self->n_outbox_rows > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->outbox_empty), self->n_outbox_rows == 0);
}

static void
refresh_outbox (MhfClinicView *self)
{
  guint selected = gtk_drop_down_get_selected (self->outbox_filter);
  GVariantBuilder filter;

  g_variant_builder_init (&filter, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&filter, "{sv}", "limit", g_variant_new_uint32 (500));
  if (selected < g_strv_length ((GStrv) outbox_states) && *outbox_states[selected] != '\0')
    g_variant_builder_add (&filter, "{sv}", "state", g_variant_new_string (outbox_states[selected]));
  if (selected_rule (self->outbox_rule_filter, self) != 0)
    g_variant_builder_add (&filter, "{sv}", "rule",
                           g_variant_new_int64 (selected_rule (self->outbox_rule_filter, self)));
  mhf_agent_client_call_async (self->client, "ListOutbox",
                               g_variant_new ("(xa{sv})", self->clinic, &filter),
                               self->cancellable, outbox_cb, g_object_ref (self));
}

static void
scan_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  GtkWidget *overlay;
  guint32 planned = 0, cancelled = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      if (g_error_matches (error, MHF_ERROR, MHF_ERROR_NETWORK) ||
          g_error_matches (error, MHF_ERROR, MHF_ERROR_CLINIKO_KEY_REJECTED))
        {
          overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
          if (overlay != NULL)
            adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay),
                                         adw_toast_new (_("Cliniko could not be read. The "
                                                          "Overview says why.")));
        }
      else
        show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@a{sv})", &summary);
  g_variant_lookup (summary, "planned", "u", &planned);
  g_variant_lookup (summary, "cancelled", "u", &cancelled);
  /* Translators: after a scan; both are counts of messages */
  text = g_strdup_printf (_("Scanned: %u new, %u cancelled"), planned, cancelled);
  overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (text));
  mhf_clinic_view_refresh (self);
}

static void
scan_clicked_cb (GtkButton     *button,
                 MhfClinicView *self)
{
  mhf_agent_client_call_async (self->client, "ScanNow", g_variant_new ("(x)", self->clinic),
                               self->cancellable, scan_cb, g_object_ref (self));
}

/* ---- History -------------------------------------------------------------------------------- */

static void load_history_page (MhfClinicView *self);

typedef struct
{
  MhfClinicView *self;
  guint          generation;
} HistoryPage;

static void
history_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autofree HistoryPage *page = user_data;
  g_autoptr(MhfClinicView) self = page->self;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 next = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (page->generation != self->history_generation)
    return;   /* a newer filter replaced this list */
  self->history_loading = FALSE;
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv}x)", &events, &next);
  for (gsize i = 0; i < g_variant_n_children (events); i++)
    {
      g_autoptr(GVariant) event = g_variant_get_child_value (events, i);

      g_ptr_array_add (items, mhf_event_new (event));
    }
  g_list_store_splice (self->history_store,
                       g_list_model_get_n_items (G_LIST_MODEL (self->history_store)), 0,
                       items->pdata, items->len);
  self->history_next = next;
}

/* The period drop-down's last item: dates chosen in a popover. */
#define PERIOD_CHOSEN 5

static void
load_history_page (MhfClinicView *self)
{
  guint selected = gtk_drop_down_get_selected (self->history_filter);
  gboolean first = g_list_model_get_n_items (G_LIST_MODEL (self->history_store)) == 0;
  HistoryPage *page;
  GVariantBuilder filter;

  if (self->history_loading || (!first && self->history_next == 0))
    return;

  g_variant_builder_init (&filter, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&filter, "{sv}", "limit", g_variant_new_uint32 (PAGE_SIZE));
  if (!first)
    g_variant_builder_add (&filter, "{sv}", "before", g_variant_new_int64 (self->history_next));
  if (selected > 0 && selected < g_strv_length ((GStrv) history_states))
    g_variant_builder_add (&filter, "{sv}", "state",
                           g_variant_new_string (history_states[selected]));
  if (selected_rule (self->history_rule_filter, self) != 0)
    g_variant_builder_add (&filter, "{sv}", "rule",
                           g_variant_new_int64 (selected_rule (self->history_rule_filter, self)));
  if (gtk_drop_down_get_selected (self->history_period) == PERIOD_CHOSEN)
    {
      if (self->range_from_usec > 0)
        g_variant_builder_add (&filter, "{sv}", "from", g_variant_new_int64 (self->range_from_usec));
      if (self->range_to_usec > 0)
        g_variant_builder_add (&filter, "{sv}", "to", g_variant_new_int64 (self->range_to_usec));
    }
  else if (gtk_drop_down_get_selected (self->history_period) > 0)
    {
      static const int days[] = { 0, 1, 7, 30, 365 };
      guint period = MIN (gtk_drop_down_get_selected (self->history_period), G_N_ELEMENTS (days) - 1);
      g_autoptr(GDateTime) now = g_date_time_new_now_local ();
      g_autoptr(GDateTime) midnight = g_date_time_new_local (g_date_time_get_year (now),
                                                             g_date_time_get_month (now),
                                                             g_date_time_get_day_of_month (now),
                                                             0, 0, 0);
      g_autoptr(GDateTime) from = g_date_time_add_days (midnight, 1 - days[period]);

      g_variant_builder_add (&filter, "{sv}", "from",
                             g_variant_new_int64 (g_date_time_to_unix (from) * G_USEC_PER_SEC));
    }

  page = g_new0 (HistoryPage, 1);
  page->self = g_object_ref (self);
  page->generation = self->history_generation;
  self->history_loading = TRUE;
  mhf_agent_client_call_async (self->client, "ListHistory",
                               g_variant_new ("(xa{sv})", self->clinic, &filter),
                               self->cancellable, history_cb, page);
}

static void
refresh_history (MhfClinicView *self)
{
  self->history_generation++;
  self->history_loading = FALSE;
  self->history_next = 0;
  g_list_store_remove_all (self->history_store);
  load_history_page (self);
}

static void
history_edge_cb (GtkScrolledWindow *scrolled,
                 GtkPositionType    position,
                 MhfClinicView     *self)
{
  if (position == GTK_POS_BOTTOM)
    load_history_page (self);
}

static void
history_setup_cb (GtkSignalListItemFactory *factory,
                  GtkListItem              *item,
                  gpointer                  user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *title = gtk_label_new (NULL);
  GtkWidget *detail = gtk_label_new (NULL);

  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_xalign (GTK_LABEL (detail), 0);
  gtk_label_set_wrap (GTK_LABEL (detail), TRUE);
  gtk_widget_add_css_class (detail, "dim-label");
  gtk_box_append (GTK_BOX (box), title);
  gtk_box_append (GTK_BOX (box), detail);
  gtk_list_item_set_child (item, box);
}

static void
history_bind_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 gpointer                  user_data)
{
  MhfEvent *event = gtk_list_item_get_item (item);
  GtkWidget *box = gtk_list_item_get_child (item);
  GtkWidget *title = gtk_widget_get_first_child (box);
  GtkWidget *detail = gtk_widget_get_next_sibling (title);
  const char *reason = dict_s (event->dict, "reason-text");
  const char *recipient = dict_s (event->dict, "recipient");
  g_autofree char *when = format_local (dict_x (event->dict, "at"));
  g_autofree char *title_text = g_strdup_printf ("%s · %s · %s", when,
                                                 dict_s (event->dict, "template"),
                                                 state_to_words (dict_s (event->dict, "state")));
  g_autofree char *detail_text = g_strdup_printf ("%s%s%s", recipient,
                                                  *recipient != '\0' && *reason != '\0' ? " — " : "",
                                                  reason);

  gtk_label_set_text (GTK_LABEL (title), title_text);
  gtk_label_set_text (GTK_LABEL (detail), detail_text);
  gtk_widget_set_visible (detail, *detail_text != '\0');
}

static void
export_written_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GError) error = NULL;
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);

  if (!g_file_replace_contents_finish (G_FILE (object), result, NULL, &error))
    {
      if (overlay != NULL)
        adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay),
                                     adw_toast_new (_("The file could not be written.")));
      return;
    }
  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay),
                                 adw_toast_new (_("History exported")));
}

static void
export_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GFile *file = g_object_get_data (G_OBJECT (self), "export-file");
  const char *csv = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL || file == NULL)
    {
      if (error != NULL)
        show_error (self, error);
      return;
    }
  g_variant_get (reply, "(&s)", &csv);
  g_file_replace_contents_bytes_async (file, g_bytes_new (csv, strlen (csv)), NULL, FALSE,
                                       G_FILE_CREATE_PRIVATE, self->cancellable,
                                       export_written_cb, g_object_ref (self));
}

static void
export_chosen_cb (GtkNativeDialog *dialog,
                  int              response,
                  MhfClinicView   *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_object_set_data_full (G_OBJECT (self), "export-file",
                              gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog)),
                              g_object_unref);
      mhf_agent_client_call_async (self->client, "ExportHistory",
                                   g_variant_new_parsed ("(%x, @a{sv} {})", self->clinic),
                                   self->cancellable, export_cb, g_object_ref (self));
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
export_clicked_cb (GtkButton     *button,
                   MhfClinicView *self)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  GtkFileChooserNative *dialog;

  dialog = gtk_file_chooser_native_new (_("Export History"), GTK_WINDOW (window),
                                        GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), "history.csv");
  g_signal_connect (dialog, "response", G_CALLBACK (export_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}


/* ---- Rules, Templates, Audit (managers and owners) -------------------------------------------- */

static void
clear_list (GtkListBox *list)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (list))) != NULL)
    gtk_list_box_remove (list, child);
}

static void
present_message (MhfClinicView *self,
                 const char    *heading,
                 const char    *body)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (window), heading, body);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
dry_run_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) body = g_string_new (NULL);
  guint32 planned = 0, filtered = 0, cancelled = 0, too_late = 0, past = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@a{sv})", &summary);
  g_variant_lookup (summary, "planned", "u", &planned);
  g_variant_lookup (summary, "filtered-out", "u", &filtered);
  g_variant_lookup (summary, "cancelled", "u", &cancelled);
  g_variant_lookup (summary, "too-late", "u", &too_late);
  g_variant_lookup (summary, "in-the-past", "u", &past);
  g_string_append_printf (body, g_dngettext (GETTEXT_PACKAGE,
                                             "It would plan %u message in the next 7 days.",
                                             "It would plan %u messages in the next 7 days.",
                                             planned), planned);
  g_string_append_printf (body, "\n%s %u\n%s %u\n%s %u\n%s %u",
                          _("Left out by the filters:"), filtered,
                          _("Cancelled or deleted:"), cancelled,
                          _("No useful time left:"), too_late,
                          _("Would have gone already:"), past);
  first = g_variant_lookup_value (summary, "first-planned", G_VARIANT_TYPE ("ax"));
  if (first != NULL && g_variant_n_children (first) > 0)
    {
      gint64 when = 0;
      g_autofree char *text = NULL;

      g_variant_get_child (first, 0, "x", &when);
      text = format_local (when);
      g_string_append_printf (body, "\n%s %s", _("The first would go:"), text);
    }
  present_message (self, _("Dry Run"), body->str);
}

static void
dry_run_clicked_cb (GtkButton     *button,
                    MhfClinicView *self)
{
  GVariant *rule = g_object_get_data (G_OBJECT (button), "rule");

  mhf_agent_client_call_async (self->client, "DryRunRule",
                               g_variant_new ("(x@a{sv}u)", self->clinic, rule, 7),
                               self->cancellable, dry_run_cb, g_object_ref (self));
}

static void
rule_enabled_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    show_error (self, error);
  mhf_clinic_view_refresh (self);
}

static gboolean
rule_switch_cb (GtkSwitch     *toggle,
                gboolean       state,
                MhfClinicView *self)
{
  gint64 id = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (toggle), "rule-id"));

  mhf_agent_client_call_async (self->client, "SetRuleEnabled",
                               g_variant_new ("(xxb)", self->clinic, id, state),
                               self->cancellable, rule_enabled_cb, g_object_ref (self));
  return FALSE;
}

static void edit_rule_clicked_cb (GtkButton     *button,
                                  MhfClinicView *self);

static void
rules_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) rules = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv})", &rules);
  clear_list (self->rules_list);
  for (gsize i = 0; i < g_variant_n_children (rules); i++)
    {
      g_autoptr(GVariant) rule = g_variant_get_child_value (rules, i);
      const char *window = dict_s (rule, "window");
      g_autofree char *subtitle = g_strdup_printf ("%s · %s%s%s\n%s %s", dict_s (rule, "kind"),
                                                   dict_s (rule, "timing"),
                                                   *window != '\0' ? " · " : "", window,
                                                   _("Sent only if"),
                                                   dict_s (rule, "gated-by"));
      g_autofree char *switch_name = g_strdup_printf (_("Rule “%s” enabled"),
                                                      dict_s (rule, "name"));
      g_autofree char *dry_name = g_strdup_printf (_("Dry run of rule “%s”"),
                                                   dict_s (rule, "name"));
      GtkWidget *row = plain_row ();
      GtkWidget *toggle = gtk_switch_new ();
      GtkWidget *dry = gtk_button_new_with_mnemonic (_("_Dry Run…"));
      GtkWidget *edit = gtk_button_new_with_mnemonic (_("_Edit…"));
      g_autofree char *edit_name = g_strdup_printf (_("Edit rule “%s”"), dict_s (rule, "name"));
      gboolean enabled = FALSE;

      note_rule (self, dict_x (rule, "id"), dict_s (rule, "name"));
      g_variant_lookup (rule, "enabled", "b", &enabled);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), dict_s (rule, "name"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 3);
      gtk_switch_set_active (GTK_SWITCH (toggle), enabled);
      gtk_widget_set_valign (toggle, GTK_ALIGN_CENTER);
      gtk_widget_set_valign (dry, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (toggle), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      switch_name, -1);
      gtk_accessible_update_property (GTK_ACCESSIBLE (dry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      dry_name, -1);
      g_object_set_data (G_OBJECT (toggle), "rule-id", GSIZE_TO_POINTER ((gsize) dict_x (rule, "id")));
      g_object_set_data_full (G_OBJECT (dry), "rule", g_variant_ref (rule),
                              (GDestroyNotify) g_variant_unref);
      g_signal_connect (toggle, "state-set", G_CALLBACK (rule_switch_cb), self);
      g_signal_connect (dry, "clicked", G_CALLBACK (dry_run_clicked_cb), self);
      gtk_widget_set_valign (edit, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (edit), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      edit_name, -1);
      g_object_set_data_full (G_OBJECT (edit), "rule", g_variant_ref (rule),
                              (GDestroyNotify) g_variant_unref);
      g_signal_connect (edit, "clicked", G_CALLBACK (edit_rule_clicked_cb), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), edit);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), dry);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), toggle);
      gtk_list_box_append (self->rules_list, row);
    }
  self->n_rules_rows = (guint) g_variant_n_children (rules);
}

static void
preview_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) preview = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *body = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@a{sv})", &preview);
  body = g_strdup_printf ("%s\n\n%s", dict_s (preview, "subject"), dict_s (preview, "text"));
  present_message (self, _("Preview with Sample Data"), body);
}

static void
preview_clicked_cb (GtkButton     *button,
                    MhfClinicView *self)
{
  GVariant *template = g_object_get_data (G_OBJECT (button), "template");

  mhf_agent_client_call_async (self->client, "PreviewTemplate",
                               g_variant_new ("(xsss)", self->clinic,
                                              dict_s (template, "subject"),
                                              dict_s (template, "body-text"),
                                              dict_s (template, "body-html")),
                               self->cancellable, preview_cb, g_object_ref (self));
}

static void
test_email_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  const char *text;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply != NULL)
    text = _("Test email sent");
  else if (g_error_matches (error, MHF_ERROR, MHF_ERROR_SMTP_FAILED))
    text = _("The mail server did not take the test email. Check the email settings.");
  else if (g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT))
    text = _("That is not a valid email address.");
  else if (g_error_matches (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED))
    text = _("Email sending is not set up for this clinic.");
  else
    text = _("The agent could not do that. Try again.");
  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (text));
}

static void
test_email_response_cb (AdwMessageDialog *dialog,
                        const char       *response,
                        MhfClinicView    *self)
{
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "address");
  gint64 id = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (dialog), "template-id"));

  if (!g_str_equal (response, "send"))
    return;
  mhf_agent_client_call_async (self->client, "SendTestEmail",
                               g_variant_new ("(xxs)", self->clinic, id,
                                              gtk_editable_get_text (entry)),
                               self->cancellable, test_email_cb, g_object_ref (self));
}

static void
test_email_clicked_cb (GtkButton     *button,
                       MhfClinicView *self)
{
  GVariant *template = g_object_get_data (G_OBJECT (button), "template");
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  GtkWidget *entry = gtk_entry_new ();
  GtkWidget *dialog;

  dialog = adw_message_dialog_new (GTK_WINDOW (window), _("Send a Test Email"),
                                   _("The template goes out filled with sample data, never a "
                                     "patient's."));
  gtk_entry_set_input_purpose (GTK_ENTRY (entry), GTK_INPUT_PURPOSE_EMAIL);
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), _("Email address"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Email address"), -1);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"),
                                    "send", _("_Send"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "send",
                                              ADW_RESPONSE_SUGGESTED);
  g_object_set_data (G_OBJECT (dialog), "address", entry);
  g_object_set_data (G_OBJECT (dialog), "template-id",
                     GSIZE_TO_POINTER ((gsize) dict_x (template, "id")));
  g_signal_connect (dialog, "response", G_CALLBACK (test_email_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
editor_done (gpointer user_data,
             gboolean saved)
{
  g_autoptr(MhfClinicView) self = user_data;

  if (saved)
    {
      toast (self, _("Saved"));
      mhf_clinic_view_refresh (self);
    }
}

static void
edit_template_clicked_cb (GtkButton     *button,
                          MhfClinicView *self)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  GVariant *template = g_object_get_data (G_OBJECT (button), "template");

  gtk_window_present (mhf_template_editor_new (GTK_WINDOW (window), self->client, self->clinic,
                                               template, editor_done, g_object_ref (self)));
}

static void
new_template_clicked_cb (GtkButton     *button,
                         MhfClinicView *self)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);

  gtk_window_present (mhf_template_editor_new (GTK_WINDOW (window), self->client, self->clinic,
                                               NULL, editor_done, g_object_ref (self)));
}

static void
new_rule_clicked_cb (GtkButton     *button,
                     MhfClinicView *self)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);

  gtk_window_present (mhf_rule_editor_new (GTK_WINDOW (window), self->client, self->clinic,
                                           self->templates, NULL, editor_done,
                                           g_object_ref (self)));
}

static void
edit_rule_clicked_cb (GtkButton     *button,
                      MhfClinicView *self)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);

  gtk_window_present (mhf_rule_editor_new (GTK_WINDOW (window), self->client, self->clinic,
                                           self->templates,
                                           g_object_get_data (G_OBJECT (button), "rule"),
                                           editor_done, g_object_ref (self)));
}

static void
templates_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) templates = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv})", &templates);
  g_clear_pointer (&self->templates, g_variant_unref);
  self->templates = g_variant_ref (templates);
  clear_list (self->templates_list);
  for (gsize i = 0; i < g_variant_n_children (templates); i++)
    {
      g_autoptr(GVariant) template = g_variant_get_child_value (templates, i);
      GtkWidget *row = plain_row ();
      GtkWidget *preview = gtk_button_new_with_mnemonic (_("_Preview"));
      GtkWidget *test = gtk_button_new_with_mnemonic (_("Send _Test…"));
      GtkWidget *edit = gtk_button_new_with_mnemonic (_("_Edit…"));

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), dict_s (template, "name"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), dict_s (template, "subject"));
      gtk_widget_set_valign (preview, GTK_ALIGN_CENTER);
      gtk_widget_set_valign (test, GTK_ALIGN_CENTER);
      g_object_set_data_full (G_OBJECT (preview), "template", g_variant_ref (template),
                              (GDestroyNotify) g_variant_unref);
      g_object_set_data_full (G_OBJECT (test), "template", g_variant_ref (template),
                              (GDestroyNotify) g_variant_unref);
      g_signal_connect (preview, "clicked", G_CALLBACK (preview_clicked_cb), self);
      g_signal_connect (test, "clicked", G_CALLBACK (test_email_clicked_cb), self);
      gtk_widget_set_valign (edit, GTK_ALIGN_CENTER);
      g_object_set_data_full (G_OBJECT (edit), "template", g_variant_ref (template),
                              (GDestroyNotify) g_variant_unref);
      g_signal_connect (edit, "clicked", G_CALLBACK (edit_template_clicked_cb), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), edit);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), preview);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), test);
      gtk_list_box_append (self->templates_list, row);
    }
}

static void
verify_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gboolean intact = FALSE;
  guint32 entries = 0;
  gint64 broken = 0;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@a{sv})", &summary);
  g_variant_lookup (summary, "intact", "b", &intact);
  g_variant_lookup (summary, "entries", "u", &entries);
  g_variant_lookup (summary, "first-broken", "x", &broken);
  if (intact)
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Intact: %u entry checked",
                                         "Intact: %u entries checked", entries), entries);
  else
    text = g_strdup_printf (_("Broken: entry %" G_GINT64_FORMAT " does not match its hash"),
                            broken);
  adw_action_row_set_subtitle (self->audit_integrity_row, text);
}

#define AUDIT_PAGE 100

typedef struct
{
  MhfClinicView *self;
  gboolean       append;   /* an older page, below what is shown */
} AuditPage;

static void
audit_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autofree AuditPage *page = user_data;
  g_autoptr(MhfClinicView) self = page->self;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  g_variant_get (reply, "(@aa{sv}x)", &entries, &self->audit_next);
  if (!page->append)
    {
      clear_list (self->audit_list);
      self->n_audit_rows = 0;
    }
  for (gsize i = 0; i < g_variant_n_children (entries); i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (entries, i);
      g_autofree char *when = format_local (dict_x (entry, "at"));
      g_autofree char *title = g_strdup_printf ("%s · %s · %s", when, dict_s (entry, "user"),
                                                dict_s (entry, "action"));
      GtkWidget *row = plain_row ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), dict_s (entry, "summary"));
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 3);
      gtk_list_box_append (self->audit_list, row);
    }
  self->n_audit_rows += (guint) g_variant_n_children (entries);
  gtk_widget_set_visible (self->audit_more_button, self->audit_next != 0);
}

static void
load_audit (MhfClinicView *self,
            gboolean       append)
{
  AuditPage *page = g_new0 (AuditPage, 1);

  page->self = g_object_ref (self);
  page->append = append;
  mhf_agent_client_call_async (self->client, "ListAudit",
                               g_variant_new ("(xxu)", self->clinic,
                                              append ? self->audit_next : (gint64) 0,
                                              AUDIT_PAGE),
                               self->cancellable, audit_cb, page);
}

static void
audit_more_clicked_cb (GtkButton     *button,
                       MhfClinicView *self)
{
  if (self->audit_next != 0)
    load_audit (self, TRUE);
}

static void
refresh_admin (MhfClinicView *self)
{
  if (!role_at_least (self, "manager"))
    return;
  mhf_agent_client_call_async (self->client, "ListRules", g_variant_new ("(x)", self->clinic),
                               self->cancellable, rules_cb, g_object_ref (self));
  mhf_agent_client_call_async (self->client, "ListTemplates", g_variant_new ("(x)", self->clinic),
                               self->cancellable, templates_cb, g_object_ref (self));
  load_audit (self, FALSE);
  mhf_agent_client_call_async (self->client, "VerifyAudit", g_variant_new ("(x)", self->clinic),
                               self->cancellable, verify_cb, g_object_ref (self));
}

static GtkWidget *
boxed_page (GtkListBox **list,
            const char  *title,
            const char  *description,
            GtkWidget   *extra,
            GtkWidget   *suffix)
{
  GtkWidget *page = adw_preferences_page_new ();
  GtkWidget *group = adw_preferences_group_new ();

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), title);
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group), description);
  if (suffix != NULL)
    adw_preferences_group_set_header_suffix (ADW_PREFERENCES_GROUP (group), suffix);
  *list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (*list, GTK_SELECTION_NONE);
  gtk_widget_add_css_class (GTK_WIDGET (*list), "boxed-list");
  gtk_accessible_update_property (GTK_ACCESSIBLE (*list), GTK_ACCESSIBLE_PROPERTY_LABEL, title,
                                  -1);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), GTK_WIDGET (*list));
  if (extra != NULL)
    adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (extra));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (group));
  return page;
}

static GtkWidget *
build_audit (MhfClinicView *self)
{
  GtkWidget *integrity = adw_preferences_group_new ();
  GtkWidget *row = plain_row ();
  GtkWidget *page;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Integrity"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), "…");
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (integrity), row);
  self->audit_integrity_row = ADW_ACTION_ROW (row);
  page = boxed_page (&self->audit_list, _("Audit Log"),
                     _("Every change to this clinic's settings, newest first. Each entry is "
                       "chained to the one before, so a changed entry shows up above."),
                     integrity, NULL);
  /* Older entries a page at a time, below the list. */
  self->audit_more_button = gtk_button_new_with_mnemonic (_("Show _Older Entries"));
  gtk_widget_set_halign (self->audit_more_button, GTK_ALIGN_CENTER);
  gtk_widget_set_margin_top (self->audit_more_button, 12);
  gtk_widget_set_visible (self->audit_more_button, FALSE);
  g_signal_connect (self->audit_more_button, "clicked", G_CALLBACK (audit_more_clicked_cb), self);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (gtk_widget_get_ancestor (GTK_WIDGET (self->audit_list),
                                                                             ADW_TYPE_PREFERENCES_GROUP)),
                             self->audit_more_button);
  return page;
}


/* ---- Settings --------------------------------------------------------------------------------- */

static void
settings_saved_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      g_autofree char *text = mhf_email_group_describe_error (error);

      if (text != NULL)
        toast (self, text);
      else
        show_error (self, error);
      return;
    }
  toast (self, _("Saved"));
  mhf_clinic_view_refresh (self);
}

static void
save_email_clicked_cb (GtkButton     *button,
                       MhfClinicView *self)
{
  mhf_agent_client_call_async (self->client, "SetEmailSettings",
                               g_variant_new ("(x@a{sv})", self->clinic,
                                              mhf_email_group_take_settings (self->email_group)),
                               self->cancellable, settings_saved_cb, g_object_ref (self));
}

static void
save_interval_clicked_cb (GtkButton     *button,
                          MhfClinicView *self)
{
  mhf_agent_client_call_async (self->client, "SetScanInterval",
                               g_variant_new ("(xu)", self->clinic,
                                              (guint32) gtk_spin_button_get_value_as_int (self->interval_spin)),
                               self->cancellable, settings_saved_cb, g_object_ref (self));
}

static void
connect_clicked_cb (GtkButton     *button,
                    MhfClinicView *self)
{
  g_autofree char *key = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->cliniko_key_row)));

  /* Cleared once submitted: the agent keeps it, in the keyring. */
  gtk_editable_set_text (GTK_EDITABLE (self->cliniko_key_row), "");
  mhf_agent_client_call_async (self->client, "SetClinikoKey",
                               g_variant_new ("(xs)", self->clinic, key), self->cancellable,
                               settings_saved_cb, g_object_ref (self));
  memset (key, 0, strlen (key));
}

static void
email_loaded_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) settings = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, NULL);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@a{sv})", &settings);
  mhf_email_group_set_settings (self->email_group, settings);
}

static void
cliniko_loaded_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gboolean connected = FALSE;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@a{sv})", &status);
  g_variant_lookup (status, "connected", "b", &connected);
  if (connected)
    text = g_strdup_printf (_("%s — as %s (%s), shard %s, key %s"),
                            dict_s (status, "account-name"), dict_s (status, "user-name"),
                            dict_s (status, "user-role"), dict_s (status, "shard"),
                            dict_s (status, "fingerprint"));
  else
    text = g_strdup (_("Not connected"));
  adw_action_row_set_subtitle (self->cliniko_row, text);
}

static void clinics_listed_cb (GObject      *object,
                               GAsyncResult *result,
                               gpointer      user_data);

static void
refresh_settings (MhfClinicView *self)
{
  if (!role_at_least (self, "manager"))
    return;
  /* The form is filled once, so that a refresh never overwrites typing. */
  if (!self->settings_loaded)
    {
      self->settings_loaded = TRUE;
      mhf_agent_client_call_async (self->client, "GetEmailSettings",
                                   g_variant_new ("(x)", self->clinic), self->cancellable,
                                   email_loaded_cb, g_object_ref (self));
      if (self->retention_spin != NULL)
        mhf_agent_client_call_async (self->client, "ListClinics", NULL, self->cancellable,
                                     clinics_listed_cb, g_object_ref (self));
    }
  if (self->users_group != NULL)
    mhf_users_group_refresh (self->users_group);
  mhf_agent_client_call_async (self->client, "GetClinikoStatus",
                               g_variant_new ("(x)", self->clinic), self->cancellable,
                               cliniko_loaded_cb, g_object_ref (self));
}

static void
licence_set_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      toast (self, g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT)
                   ? _("That licence is not valid. Paste it whole, as the email gave it.")
                   : mhf_error_text (error));
      return;
    }
  gtk_editable_set_text (GTK_EDITABLE (self->licence_entry), "");
  toast (self, _("Licence added"));
  /* The agent's status carries the licence; read it again. */
  mhf_agent_client_refresh_async (self->client, self->cancellable, NULL, NULL);
}

static void
add_licence_clicked_cb (GtkButton     *button,
                        MhfClinicView *self)
{
  g_autofree char *token = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->licence_entry))));

  mhf_agent_client_call_async (self->client, "SetLicence", g_variant_new ("(s)", token),
                               self->cancellable, licence_set_cb, g_object_ref (self));
}

/* Billing is the vendor's Stripe customer portal, in the browser. */
static void
portal_clicked_cb (GtkButton     *button,
                   MhfClinicView *self)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);

  if (self->portal_url != NULL && *self->portal_url != '\0')
    gtk_show_uri (GTK_WINDOW (window), self->portal_url, GDK_CURRENT_TIME);
}

static void
save_retention_clicked_cb (GtkButton     *button,
                           MhfClinicView *self)
{
  mhf_agent_client_call_async (self->client, "SetRetention",
                               g_variant_new ("(xu)", self->clinic,
                                              (guint32) gtk_spin_button_get_value_as_int (self->retention_spin)),
                               self->cancellable, settings_saved_cb, g_object_ref (self));
}

static void
clinic_removed_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, &error);
  if (reply == NULL)
    {
      show_error (self, error);
      return;
    }
  /* This view's clinic is gone; the window lists what is left. */
  gtk_widget_activate_action (GTK_WIDGET (self), "win.reload-clinics", NULL);
}

static void
remove_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    MhfClinicView    *self)
{
  if (g_str_equal (response, "remove-clinic"))
    mhf_agent_client_call_async (self->client, "RemoveClinic", g_variant_new ("(x)", self->clinic),
                                 self->cancellable, clinic_removed_cb, g_object_ref (self));
  else if (g_str_equal (response, "remove-key"))
    mhf_agent_client_call_async (self->client, "RemoveClinikoKey",
                                 g_variant_new ("(x)", self->clinic), self->cancellable,
                                 settings_saved_cb, g_object_ref (self));
}

/* Destructive: asked first, with what is lost and what is kept. */
static void
confirm_removal (MhfClinicView *self,
                 const char    *response,
                 const char    *heading,
                 const char    *body,
                 const char    *label)
{
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (window),
                                                                         heading, body));

  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), response, label, NULL);
  adw_message_dialog_set_response_appearance (dialog, response, ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect (dialog, "response", G_CALLBACK (remove_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
remove_clinic_clicked_cb (GtkButton     *button,
                          MhfClinicView *self)
{
  g_autofree char *heading = g_strdup_printf (_("Remove %s?"), self->clinic_name);

  confirm_removal (self, "remove-clinic", heading,
                   _("Its templates, rules, planned messages and delivery history are deleted "
                     "from this computer and its Cliniko key from the keyring. Nothing changes "
                     "in Cliniko. The audit log keeps its entries."),
                   _("_Remove Clinic"));
}

static void
remove_key_clicked_cb (GtkButton     *button,
                       MhfClinicView *self)
{
  confirm_removal (self, "remove-key", _("Disconnect from Cliniko?"),
                   _("The key is deleted from the keyring and the clinic pauses: nothing is "
                     "scanned or sent until a key is connected again. Revoke the key in Cliniko "
                     "too if it may have leaked."),
                   _("_Disconnect"));
}

static void
clinics_listed_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MhfClinicView) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) clinics = NULL;

  reply = mhf_agent_client_call_finish (self->client, result, NULL);
  if (reply == NULL)
    return;
  g_variant_get (reply, "(@aa{sv})", &clinics);
  for (gsize i = 0; i < g_variant_n_children (clinics); i++)
    {
      g_autoptr(GVariant) clinic = g_variant_get_child_value (clinics, i);
      guint32 days = 0;

      if (dict_x (clinic, "id") == self->clinic && g_variant_lookup (clinic, "retention-days", "u", &days))
        gtk_spin_button_set_value (self->retention_spin, days);
    }
}

static GtkWidget *
suffix_button (const char *label,
               GCallback   callback,
               gpointer    data)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (label);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "suggested-action");
  g_signal_connect (button, "clicked", callback, data);
  return button;
}

static GtkWidget *
destructive_button (const char *label,
                    GCallback   callback,
                    gpointer    data)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (label);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "destructive-action");
  g_signal_connect (button, "clicked", callback, data);
  return button;
}

static GtkWidget *
build_settings (MhfClinicView *self)
{
  GtkWidget *page = adw_preferences_page_new ();
  AdwPreferencesGroup *email = ADW_PREFERENCES_GROUP (mhf_email_group_new ());
  AdwPreferencesGroup *scanning = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  GtkWidget *row;

  self->email_group = MHF_EMAIL_GROUP (email);
  adw_preferences_group_set_header_suffix (email,
                                           suffix_button (_("_Save Email Settings"),
                                                          G_CALLBACK (save_email_clicked_cb),
                                                          self));

  adw_preferences_group_set_title (scanning, _("Cliniko"));
  row = plain_row ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Scan every (minutes)"));
  self->interval_spin = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (1, 60, 1));
  gtk_spin_button_set_value (self->interval_spin, 5);
  gtk_widget_set_valign (GTK_WIDGET (self->interval_spin), GTK_ALIGN_CENTER);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->interval_spin),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Scan every (minutes)"), -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), GTK_WIDGET (self->interval_spin));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                             suffix_button (_("Sa_ve"), G_CALLBACK (save_interval_clicked_cb),
                                            self));
  adw_preferences_group_add (scanning, row);
  row = plain_row ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Connection"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), "…");
  adw_preferences_group_add (scanning, row);
  self->cliniko_row = ADW_ACTION_ROW (row);
  /* Owners only connect or replace the key. */
  if (role_at_least (self, "owner"))
    {
      row = adw_password_entry_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                     _("New API key (use a Cliniko user made for this)"));
      adw_entry_row_add_suffix (ADW_ENTRY_ROW (row),
                                suffix_button (_("_Connect"), G_CALLBACK (connect_clicked_cb),
                                               self));
      adw_preferences_group_add (scanning, row);
      self->cliniko_key_row = ADW_PASSWORD_ENTRY_ROW (row);
      row = plain_row ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Disconnect from Cliniko"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   _("Deletes the key from the keyring and pauses the clinic"));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 destructive_button (_("_Disconnect…"),
                                                     G_CALLBACK (remove_key_clicked_cb), self));
      adw_preferences_group_add (scanning, row);
    }

  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), email);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), scanning);
  if (role_at_least (self, "owner"))
    {
      AdwPreferencesGroup *clinic = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
      GtkWidget *add = gtk_button_new_with_mnemonic (_("Add _Another Clinic…"));

      adw_preferences_group_set_title (clinic, _("Clinic"));
      gtk_widget_set_valign (add, GTK_ALIGN_CENTER);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (add), "win.add-clinic");
      adw_preferences_group_set_header_suffix (clinic, add);

      row = plain_row ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Keep history for (days)"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   _("Older delivery history and finished messages are deleted "
                                     "each day; the audit log is kept"));
      self->retention_spin = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (30, 3650, 1));
      gtk_spin_button_set_value (self->retention_spin, 400);
      gtk_widget_set_valign (GTK_WIDGET (self->retention_spin), GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->retention_spin),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Keep history for (days)"),
                                      -1);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), GTK_WIDGET (self->retention_spin));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 suffix_button (_("Save _Period"),
                                                G_CALLBACK (save_retention_clicked_cb), self));
      adw_preferences_group_add (clinic, row);

      row = plain_row ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Remove this clinic"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   _("From this computer only; nothing changes in Cliniko"));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 destructive_button (_("_Remove Clinic…"),
                                                     G_CALLBACK (remove_clinic_clicked_cb), self));
      adw_preferences_group_add (clinic, row);
      adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), clinic);

      {
        AdwPreferencesGroup *licence = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());

        adw_preferences_group_set_title (licence, _("Licence"));
        self->portal_button = gtk_button_new_with_mnemonic (_("_Manage Subscription"));
        gtk_widget_set_valign (self->portal_button, GTK_ALIGN_CENTER);
        gtk_widget_set_visible (self->portal_button, FALSE);
        g_signal_connect (self->portal_button, "clicked", G_CALLBACK (portal_clicked_cb), self);
        adw_preferences_group_set_header_suffix (licence, self->portal_button);
        row = plain_row ();
        adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("State"));
        adw_action_row_set_subtitle (ADW_ACTION_ROW (row), "…");
        adw_preferences_group_add (licence, row);
        self->settings_licence_row = ADW_ACTION_ROW (row);
        row = adw_entry_row_new ();
        adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
        adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("New licence (paste it here)"));
        adw_entry_row_add_suffix (ADW_ENTRY_ROW (row),
                                  suffix_button (_("_Add Licence"),
                                                 G_CALLBACK (add_licence_clicked_cb), self));
        adw_preferences_group_add (licence, row);
        self->licence_entry = ADW_ENTRY_ROW (row);
        adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), licence);
      }

      self->users_group = MHF_USERS_GROUP (mhf_users_group_new (self->client, self->clinic));
      adw_preferences_page_add (ADW_PREFERENCES_PAGE (page),
                                ADW_PREFERENCES_GROUP (self->users_group));
    }
  {
    AdwPreferencesGroup *about = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
    GtkWidget *button = gtk_button_new_with_mnemonic (_("A_bout MyHealthFollowup"));

    gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "app.about");
    gtk_widget_set_halign (button, GTK_ALIGN_START);
    adw_preferences_group_add (about, button);
    adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), about);
  }
  return page;
}

/* ---- building ---------------------------------------------------------------------------- */

static AdwActionRow *
count_row (AdwPreferencesGroup *group,
           const char          *title)
{
  GtkWidget *row = plain_row ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), "…");
  gtk_widget_add_css_class (row, "property");
  adw_preferences_group_add (group, row);
  return ADW_ACTION_ROW (row);
}

static GtkWidget *
build_overview (MhfClinicView *self)
{
  GtkWidget *page = adw_preferences_page_new ();
  GtkWidget *today = adw_preferences_group_new ();

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (today), _("Today"));
  self->planned_row = count_row (ADW_PREFERENCES_GROUP (today), _("Planned"));
  self->sent_row = count_row (ADW_PREFERENCES_GROUP (today), _("Sent today"));
  self->skipped_row = count_row (ADW_PREFERENCES_GROUP (today), _("Skipped today"));
  self->failed_row = count_row (ADW_PREFERENCES_GROUP (today), _("Failed today"));

  self->warnings_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->warnings_group, _("Needs Attention"));
  gtk_widget_set_visible (GTK_WIDGET (self->warnings_group), FALSE);

  self->next_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->next_group, _("Next Sends"));

  {
    GtkWidget *health = adw_preferences_group_new ();

    adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (health), _("Health"));
    self->agent_row = count_row (ADW_PREFERENCES_GROUP (health), _("Background agent"));
    self->cliniko_health_row = count_row (ADW_PREFERENCES_GROUP (health), _("Cliniko"));
    self->email_health_row = count_row (ADW_PREFERENCES_GROUP (health), _("Email"));
    self->scan_row = count_row (ADW_PREFERENCES_GROUP (health), _("Scans"));
    self->licence_row = count_row (ADW_PREFERENCES_GROUP (health), _("Licence"));
    gtk_widget_set_visible (GTK_WIDGET (self->licence_row), FALSE);
    adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), self->warnings_group);
    adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (health));
  }
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (today));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), self->next_group);
  {
    GtkWidget *days = adw_preferences_group_new ();
    GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);

    adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (days), _("Last 30 Days"));
    self->chart = MHF_DAILY_CHART (mhf_daily_chart_new ());
    gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->chart));
    gtk_box_append (GTK_BOX (box), mhf_daily_chart_legend ());
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (days), box);
    adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (days));
  }
  return page;
}

static GtkWidget *
filter_bar (GtkDropDown   **out,
            const char    **labels,
            const char     *accessible_name)
{
  GtkWidget *bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *dropdown = gtk_drop_down_new_from_strings (labels);

  gtk_widget_set_margin_top (bar, 12);
  gtk_widget_set_margin_start (bar, 12);
  gtk_widget_set_margin_end (bar, 12);
  gtk_accessible_update_property (GTK_ACCESSIBLE (dropdown), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  accessible_name, -1);
  gtk_box_append (GTK_BOX (bar), dropdown);
  *out = GTK_DROP_DOWN (dropdown);
  return bar;
}

static gint64
calendar_midnight_usec (GtkCalendar *calendar,
                        int          add_days)
{
  g_autoptr(GDateTime) day = gtk_calendar_get_date (calendar);
  g_autoptr(GDateTime) midnight = g_date_time_new_local (g_date_time_get_year (day),
                                                         g_date_time_get_month (day),
                                                         g_date_time_get_day_of_month (day),
                                                         0, 0, 0);
  g_autoptr(GDateTime) shifted = g_date_time_add_days (midnight, add_days);

  return g_date_time_to_unix (shifted) * G_USEC_PER_SEC;
}

static void
range_chosen_cb (GtkButton     *button,
                 MhfClinicView *self)
{
  gint64 from = calendar_midnight_usec (self->range_from, 0);
  gint64 to = calendar_midnight_usec (self->range_to, 1);

  /* Either way round: the earlier day is the start. */
  self->range_from_usec = MIN (from, to - G_TIME_SPAN_DAY);
  self->range_to_usec = MAX (to, from + G_TIME_SPAN_DAY);
  gtk_popover_popdown (self->range_popover);
  refresh_history (self);
}

static void
period_selected_cb (MhfClinicView *self)
{
  if (gtk_drop_down_get_selected (self->history_period) == PERIOD_CHOSEN)
    gtk_popover_popup (self->range_popover);
  else
    refresh_history (self);
}

static void
build_range_popover (MhfClinicView *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *days = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *button = gtk_button_new_with_mnemonic (_("_Show These Days"));
  const char *titles[] = { _("From"), _("To") };
  GtkCalendar **calendars[] = { &self->range_from, &self->range_to };

  for (guint i = 0; i < G_N_ELEMENTS (titles); i++)
    {
      GtkWidget *column = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
      GtkWidget *label = gtk_label_new (titles[i]);

      *calendars[i] = GTK_CALENDAR (gtk_calendar_new ());
      gtk_widget_add_css_class (label, "heading");
      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_accessible_update_relation (GTK_ACCESSIBLE (*calendars[i]),
                                      GTK_ACCESSIBLE_RELATION_LABELLED_BY, label, NULL, -1);
      gtk_box_append (GTK_BOX (column), label);
      gtk_box_append (GTK_BOX (column), GTK_WIDGET (*calendars[i]));
      gtk_box_append (GTK_BOX (days), column);
    }
  gtk_widget_add_css_class (button, "suggested-action");
  gtk_widget_set_halign (button, GTK_ALIGN_END);
  g_signal_connect (button, "clicked", G_CALLBACK (range_chosen_cb), self);
  gtk_box_append (GTK_BOX (box), days);
  gtk_box_append (GTK_BOX (box), button);
  self->range_popover = GTK_POPOVER (gtk_popover_new ());
  gtk_popover_set_child (self->range_popover, box);
  gtk_widget_set_parent (GTK_WIDGET (self->range_popover), GTK_WIDGET (self->history_period));
}

static GtkDropDown *
rule_filter (MhfClinicView *self)
{
  GtkWidget *dropdown = gtk_drop_down_new (G_LIST_MODEL (g_object_ref (self->rule_names)), NULL);

  gtk_accessible_update_property (GTK_ACCESSIBLE (dropdown), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Show messages of this rule"), -1);
  return GTK_DROP_DOWN (dropdown);
}

static GtkWidget *
build_outbox (MhfClinicView *self)
{
  const char *labels[] = { C_("outbox filter", "Planned"),
                           C_("outbox filter", "Waiting to retry"), C_("outbox filter", "Failed"),
                           C_("outbox filter", "Skipped"), C_("outbox filter", "Cancelled"),
                           C_("outbox filter", "Interrupted"), C_("outbox filter", "Sent"),
                           C_("outbox filter", "All"), NULL };
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();
  GtkWidget *inner = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);

  {
    GtkWidget *bar = filter_bar (&self->outbox_filter, labels, _("Show messages in this state"));
    GtkWidget *scan_button = gtk_button_new_with_mnemonic (_("_Scan Cliniko Now"));

    gtk_widget_set_tooltip_text (scan_button,
                                 _("Read the appointments from Cliniko now instead of at the "
                                   "next scheduled scan"));
    gtk_widget_set_halign (scan_button, GTK_ALIGN_END);
    gtk_widget_set_hexpand (scan_button, TRUE);
    g_signal_connect (scan_button, "clicked", G_CALLBACK (scan_clicked_cb), self);
    self->outbox_rule_filter = rule_filter (self);
    gtk_box_append (GTK_BOX (bar), GTK_WIDGET (self->outbox_rule_filter));
    gtk_box_append (GTK_BOX (bar), scan_button);
    gtk_box_append (GTK_BOX (box), bar);
  }
  g_signal_connect_swapped (self->outbox_filter, "notify::selected",
                            G_CALLBACK (refresh_outbox), self);
  g_signal_connect_swapped (self->outbox_rule_filter, "notify::selected",
                            G_CALLBACK (refresh_outbox), self);

  self->outbox_list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (self->outbox_list, GTK_SELECTION_NONE);
  gtk_widget_add_css_class (GTK_WIDGET (self->outbox_list), "boxed-list");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->outbox_list),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Messages"), -1);
  self->outbox_empty = ADW_STATUS_PAGE (adw_status_page_new ());
  adw_status_page_set_icon_name (self->outbox_empty, "mail-send-symbolic");
  adw_status_page_set_title (self->outbox_empty, _("No Messages"));
  adw_status_page_set_description (self->outbox_empty,
                                   _("Messages appear here when the clinic's rules plan them."));
  gtk_widget_set_margin_top (inner, 12);
  gtk_widget_set_margin_bottom (inner, 12);
  gtk_widget_set_margin_start (inner, 12);
  gtk_widget_set_margin_end (inner, 12);
  gtk_box_append (GTK_BOX (inner), GTK_WIDGET (self->outbox_list));
  gtk_box_append (GTK_BOX (inner), GTK_WIDGET (self->outbox_empty));
  adw_clamp_set_child (ADW_CLAMP (clamp), inner);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), clamp);
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_box_append (GTK_BOX (box), scrolled);
  return box;
}

static GtkWidget *
build_history (MhfClinicView *self)
{
  const char *labels[] = { C_("history filter", "All"), C_("history filter", "Sent"),
                           C_("history filter", "Skipped"), C_("history filter", "Failed"),
                           C_("history filter", "Waiting to retry"),
                           C_("history filter", "Cancelled"), C_("history filter", "Interrupted"),
                           NULL };
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *bar = filter_bar (&self->history_filter, labels, _("Show events in this state"));
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  GtkSelectionModel *selection;

  {
    const char *periods[] = { C_("history period", "Any time"), C_("history period", "Today"),
                              C_("history period", "Last 7 days"),
                              C_("history period", "Last 30 days"),
                              C_("history period", "Last 12 months"),
                              C_("history period", "Chosen dates…"), NULL };

    self->history_rule_filter = rule_filter (self);
    gtk_box_append (GTK_BOX (bar), GTK_WIDGET (self->history_rule_filter));
    self->history_period = GTK_DROP_DOWN (gtk_drop_down_new_from_strings (periods));
    gtk_accessible_update_property (GTK_ACCESSIBLE (self->history_period),
                                    GTK_ACCESSIBLE_PROPERTY_LABEL, _("Show events from"), -1);
    gtk_box_append (GTK_BOX (bar), GTK_WIDGET (self->history_period));
    g_signal_connect_swapped (self->history_rule_filter, "notify::selected",
                              G_CALLBACK (refresh_history), self);
    g_signal_connect_swapped (self->history_period, "notify::selected",
                              G_CALLBACK (period_selected_cb), self);
    build_range_popover (self);
  }
  self->export_button = GTK_BUTTON (gtk_button_new_with_mnemonic (_("_Export CSV…")));
  gtk_widget_set_halign (GTK_WIDGET (self->export_button), GTK_ALIGN_END);
  gtk_widget_set_hexpand (GTK_WIDGET (self->export_button), TRUE);
  g_signal_connect (self->export_button, "clicked", G_CALLBACK (export_clicked_cb), self);
  gtk_box_append (GTK_BOX (bar), GTK_WIDGET (self->export_button));
  /* Owners only; for others the button is not there at all. */
  gtk_widget_set_visible (GTK_WIDGET (self->export_button), role_at_least (self, "owner"));
  gtk_box_append (GTK_BOX (box), bar);
  g_signal_connect_swapped (self->history_filter, "notify::selected",
                            G_CALLBACK (refresh_history), self);

  self->history_store = g_list_store_new (MHF_TYPE_EVENT);
  g_signal_connect (factory, "setup", G_CALLBACK (history_setup_cb), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (history_bind_cb), NULL);
  selection = GTK_SELECTION_MODEL (gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->history_store))));
  self->history_view = GTK_LIST_VIEW (gtk_list_view_new (selection, factory));
  gtk_widget_add_css_class (GTK_WIDGET (self->history_view), "rich-list");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->history_view),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Delivery history"), -1);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (self->history_view));
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_widget_set_margin_top (scrolled, 12);
  g_signal_connect (scrolled, "edge-reached", G_CALLBACK (history_edge_cb), self);
  gtk_box_append (GTK_BOX (box), scrolled);
  return box;
}

/* Sends and scans change the messages, not the rules, templates, people
 * or settings: only the pages made of messages are read again. */
static void
outbox_changed_cb (MhfAgentClient *client,
                   gint64          clinic,
                   MhfClinicView  *self)
{
  if (clinic != self->clinic)
    return;
  refresh_overview (self);
  refresh_outbox (self);
  refresh_history (self);
}

/* The licence lives in the agent's status, which it sends when it changes. */
static void
status_changed_cb (MhfClinicView *self)
{
  show_licence (self, mhf_agent_client_get_status (self->client));
}

static void
mhf_clinic_view_dispose (GObject *object)
{
  MhfClinicView *self = MHF_CLINIC_VIEW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_signal_handler (&self->changed_id, self->client);
  g_clear_signal_handler (&self->status_id, self->client);
  /* Parented by hand to the drop-down, which only unparents its own. */
  if (self->range_popover != NULL)
    {
      gtk_widget_unparent (GTK_WIDGET (self->range_popover));
      self->range_popover = NULL;
    }
  G_OBJECT_CLASS (mhf_clinic_view_parent_class)->dispose (object);
}

static void
mhf_clinic_view_finalize (GObject *object)
{
  MhfClinicView *self = MHF_CLINIC_VIEW (object);

  g_clear_object (&self->client);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->history_store);
  g_clear_pointer (&self->next_rows, g_ptr_array_unref);
  g_clear_pointer (&self->warning_rows, g_ptr_array_unref);
  g_clear_pointer (&self->templates, g_variant_unref);
  g_clear_object (&self->rule_names);
  g_clear_pointer (&self->rule_ids, g_array_unref);
  g_free (self->clinic_name);
  g_free (self->role);
  g_free (self->portal_url);
  G_OBJECT_CLASS (mhf_clinic_view_parent_class)->finalize (object);
}

static void
mhf_clinic_view_class_init (MhfClinicViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mhf_clinic_view_dispose;
  object_class->finalize = mhf_clinic_view_finalize;
}

static void
mhf_clinic_view_init (MhfClinicView *self)
{
  self->cancellable = g_cancellable_new ();
  self->next_rows = g_ptr_array_new ();
  self->warning_rows = g_ptr_array_new ();
  self->rule_names = gtk_string_list_new (NULL);
  gtk_string_list_append (self->rule_names, _("Every rule"));
  self->rule_ids = g_array_new (FALSE, TRUE, sizeof (gint64));
  g_array_set_size (self->rule_ids, 1);
}

/**
 * mhf_clinic_view_new:
 * @role: the signed-in user's role at the clinic: what it may do decides
 *   which buttons exist
 */
MhfClinicView *
mhf_clinic_view_new (MhfAgentClient *client,
                     gint64          clinic,
                     const char     *clinic_name,
                     const char     *role)
{
  MhfClinicView *self = g_object_new (MHF_TYPE_CLINIC_VIEW, NULL);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *switcher = adw_view_switcher_new ();
  AdwViewStackPage *page;

  self->client = g_object_ref (client);
  self->clinic = clinic;
  self->clinic_name = g_strdup (clinic_name);
  self->role = g_strdup (role);

  self->stack = ADW_VIEW_STACK (adw_view_stack_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->stack), TRUE);
  page = adw_view_stack_add_titled (self->stack, build_overview (self), "overview",
                                    _("Overview"));
  adw_view_stack_page_set_icon_name (page, "view-grid-symbolic");
  page = adw_view_stack_add_titled (self->stack, build_outbox (self), "outbox", _("Outbox"));
  adw_view_stack_page_set_icon_name (page, "mail-send-symbolic");
  page = adw_view_stack_add_titled (self->stack, build_history (self), "history", _("History"));
  adw_view_stack_page_set_icon_name (page, "document-open-recent-symbolic");

  /* Managers and owners only: for staff these pages do not exist. */
  if (role_at_least (self, "manager"))
    {
      GtkWidget *new_rule = gtk_button_new_with_mnemonic (_("_New Rule…"));
      GtkWidget *new_template = gtk_button_new_with_mnemonic (_("_New Template…"));

      g_signal_connect (new_rule, "clicked", G_CALLBACK (new_rule_clicked_cb), self);
      g_signal_connect (new_template, "clicked", G_CALLBACK (new_template_clicked_cb), self);
      page = adw_view_stack_add_titled (self->stack,
                                        boxed_page (&self->rules_list, _("Rules"),
                                                    _("Which appointments get which template, "
                                                      "and when. A dry run shows what a rule "
                                                      "would send before you enable it."),
                                                    NULL, new_rule),
                                        "rules", _("Rules"));
      adw_view_stack_page_set_icon_name (page, "view-list-symbolic");
      page = adw_view_stack_add_titled (self->stack,
                                        boxed_page (&self->templates_list, _("Templates"),
                                                    _("Previews and test emails use sample "
                                                      "data, never a patient's."),
                                                    NULL, new_template),
                                        "templates", _("Templates"));
      adw_view_stack_page_set_icon_name (page, "document-edit-symbolic");
      page = adw_view_stack_add_titled (self->stack, build_audit (self), "audit", _("Audit"));
      adw_view_stack_page_set_icon_name (page, "security-high-symbolic");
      page = adw_view_stack_add_titled (self->stack, build_settings (self), "settings",
                                        _("Settings"));
      adw_view_stack_page_set_icon_name (page, "emblem-system-symbolic");
    }

  adw_view_switcher_set_stack (ADW_VIEW_SWITCHER (switcher), self->stack);
  adw_view_switcher_set_policy (ADW_VIEW_SWITCHER (switcher), ADW_VIEW_SWITCHER_POLICY_WIDE);
  gtk_widget_set_halign (switcher, GTK_ALIGN_CENTER);
  gtk_widget_set_margin_top (switcher, 6);
  gtk_box_append (GTK_BOX (box), switcher);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->stack));
  adw_bin_set_child (ADW_BIN (self), box);

  self->status_id = g_signal_connect_swapped (client, "notify::status",
                                              G_CALLBACK (status_changed_cb), self);
  self->changed_id = g_signal_connect (client, "outbox-changed", G_CALLBACK (outbox_changed_cb),
                                       self);
  mhf_clinic_view_refresh (self);
  return self;
}

gint64
mhf_clinic_view_get_clinic (MhfClinicView *self)
{
  g_return_val_if_fail (MHF_IS_CLINIC_VIEW (self), 0);
  return self->clinic;
}

/* Reads every page again from the agent. */
void
mhf_clinic_view_refresh (MhfClinicView *self)
{
  g_return_if_fail (MHF_IS_CLINIC_VIEW (self));

  refresh_overview (self);
  refresh_outbox (self);
  refresh_history (self);
  refresh_admin (self);
  refresh_settings (self);
}

guint
mhf_clinic_view_get_n_rules_rows (MhfClinicView *self)
{
  g_return_val_if_fail (MHF_IS_CLINIC_VIEW (self), 0);
  return self->n_rules_rows;
}

guint
mhf_clinic_view_get_n_audit_rows (MhfClinicView *self)
{
  g_return_val_if_fail (MHF_IS_CLINIC_VIEW (self), 0);
  return self->n_audit_rows;
}

void
mhf_clinic_view_show_page (MhfClinicView *self,
                           const char    *name)
{
  g_return_if_fail (MHF_IS_CLINIC_VIEW (self));
  adw_view_stack_set_visible_child_name (self->stack, name);
}

/* A new clinic opens on Settings: the cursor waits in the Cliniko key
 * field, the first thing its owner has to fill in. */
void
mhf_clinic_view_focus_cliniko_key (MhfClinicView *self)
{
  g_return_if_fail (MHF_IS_CLINIC_VIEW (self));

  if (self->cliniko_key_row != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (self->cliniko_key_row));
}

guint
mhf_clinic_view_get_n_outbox_rows (MhfClinicView *self)
{
  g_return_val_if_fail (MHF_IS_CLINIC_VIEW (self), 0);
  return self->n_outbox_rows;
}

guint
mhf_clinic_view_get_n_history_rows (MhfClinicView *self)
{
  g_return_val_if_fail (MHF_IS_CLINIC_VIEW (self), 0);
  return g_list_model_get_n_items (G_LIST_MODEL (self->history_store));
}
