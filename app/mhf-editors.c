/* mhf-editors.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The template and rule editors: modal windows over the clinic's pages.
 * The agent checks everything; an editor shows its answer — for a
 * template the error's line and column, for a rule the field it names —
 * and a template's live preview with sample data, never a patient's.
 */

#include "config.h"

#include "mhf-editors.h"

#include "mhf-error.h"
#include "mhf-variables.h"

#include <glib/gi18n.h>

typedef struct
{
  GtkWindow      *window;
  MhfAgentClient *client;
  GCancellable   *cancellable;
  gint64          clinic;
  gint64          id;             /* 0: a new one */
  MhfEditorDone   done;
  gpointer        user_data;
  gboolean        saved;

  AdwEntryRow    *name_row;
  GtkLabel       *error_label;

  /* Template */
  AdwEntryRow    *subject_row;
  GtkTextView    *text_view;
  GtkTextView    *html_view;
  GtkDropDown    *variable_dropdown;
  GtkLabel       *preview_label;
  guint           preview_id;

  /* Rule */
  AdwComboRow    *kind_row;
  AdwComboRow    *template_row;
  GArray         *template_ids;
  AdwEntryRow    *timing_row;
  AdwEntryRow    *window_row;
  GtkSpinButton  *latest_spin;
  GtkSwitch      *last_minute_switch;
  AdwComboRow    *category_row;
  GVariant       *rule;           /* the rule being edited */
  AdwExpanderRow *filter_rows[3]; /* businesses, practitioners, appointment types */
  GPtrArray      *filter_checks[3];
  gboolean        reference_loaded;
} Editor;

static const char * const kinds[] = { "reminder", "follow-up", "did-not-arrive", "recall", NULL };

static void
editor_free (Editor *e)
{
  g_cancellable_cancel (e->cancellable);
  g_clear_object (&e->cancellable);
  g_clear_object (&e->client);
  g_clear_handle_id (&e->preview_id, g_source_remove);
  g_clear_pointer (&e->template_ids, g_array_unref);
  g_clear_pointer (&e->rule, g_variant_unref);
  for (guint i = 0; i < G_N_ELEMENTS (e->filter_checks); i++)
    g_clear_pointer (&e->filter_checks[i], g_ptr_array_unref);
  if (e->done != NULL)
    e->done (e->user_data, e->saved);
  g_free (e);
}

static char *
buffer_text (GtkTextView *view)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

static void
show_problem (Editor       *e,
              const GError *error)
{
  const char *text;

  if (g_error_matches (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT))
    text = error->message;   /* "subject: line 1, column 4: …", field first */
  else if (g_error_matches (error, MHF_ERROR, MHF_ERROR_ACCESS_DENIED))
    text = _("Your role does not allow this.");
  else
    text = _("The agent could not save it. Try again.");
  gtk_label_set_text (e->error_label, text);
  gtk_widget_set_visible (GTK_WIDGET (e->error_label), TRUE);
}

static void
saved_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Editor *e = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (MHF_AGENT_CLIENT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      show_problem (e, error);
      return;
    }
  e->saved = TRUE;
  gtk_window_destroy (e->window);
}

static GtkWidget *
text_area (GtkTextView **view,
           const char   *accessible_name,
           const char   *initial)
{
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *text = gtk_text_view_new ();

  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (text), GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (text), TRUE);
  gtk_text_view_set_top_margin (GTK_TEXT_VIEW (text), 8);
  gtk_text_view_set_bottom_margin (GTK_TEXT_VIEW (text), 8);
  gtk_text_view_set_left_margin (GTK_TEXT_VIEW (text), 8);
  gtk_text_view_set_right_margin (GTK_TEXT_VIEW (text), 8);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (text)), initial ?: "", -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (text), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  accessible_name, -1);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), text);
  gtk_scrolled_window_set_min_content_height (GTK_SCROLLED_WINDOW (scrolled), 120);
  gtk_widget_add_css_class (scrolled, "card");
  *view = GTK_TEXT_VIEW (text);
  return scrolled;
}

static GtkWidget *
labelled (const char *title,
          GtkWidget  *child)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *label = gtk_label_new (title);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "heading");
  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), child);
  return box;
}

static Editor *
editor_window (GtkWindow      *parent,
               MhfAgentClient *client,
               gint64          clinic,
               const char     *title,
               GtkWidget     **content,
               GCallback       save_cb)
{
  Editor *e = g_new0 (Editor, 1);
  /* AdwWindow has no role of its own and would be a "generic" (filler)
   * to screen readers: these are dialogs. */
  GtkWidget *window = g_object_new (ADW_TYPE_WINDOW,
                                    "accessible-role", GTK_ACCESSIBLE_ROLE_DIALOG,
                                    NULL);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *cancel = gtk_button_new_with_mnemonic (_("_Cancel"));
  GtkWidget *save = gtk_button_new_with_mnemonic (_("_Save"));
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();
  GtkWidget *inner = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);

  e->window = GTK_WINDOW (window);
  e->client = g_object_ref (client);
  e->cancellable = g_cancellable_new ();
  e->clinic = clinic;

  gtk_window_set_title (GTK_WINDOW (window), title);
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);
  gtk_window_set_transient_for (GTK_WINDOW (window), parent);
  gtk_window_set_default_size (GTK_WINDOW (window), 640, 720);
  adw_header_bar_set_show_end_title_buttons (ADW_HEADER_BAR (header), FALSE);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), cancel);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), save);
  gtk_widget_add_css_class (save, "suggested-action");
  g_signal_connect_swapped (cancel, "clicked", G_CALLBACK (gtk_window_destroy), window);
  g_signal_connect_swapped (save, "clicked", save_cb, e);
  gtk_window_set_default_widget (GTK_WINDOW (window), save);

  e->error_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (e->error_label, TRUE);
  gtk_label_set_xalign (e->error_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (e->error_label), "error");
  gtk_widget_set_visible (GTK_WIDGET (e->error_label), FALSE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (e->error_label),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Problem"), -1);

  gtk_widget_set_margin_top (inner, 18);
  gtk_widget_set_margin_bottom (inner, 18);
  gtk_widget_set_margin_start (inner, 12);
  gtk_widget_set_margin_end (inner, 12);
  gtk_box_append (GTK_BOX (inner), GTK_WIDGET (e->error_label));
  adw_clamp_set_child (ADW_CLAMP (clamp), inner);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), clamp);
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_box_append (GTK_BOX (box), header);
  gtk_box_append (GTK_BOX (box), scrolled);
  adw_window_set_content (ADW_WINDOW (window), box);

  g_object_set_data_full (G_OBJECT (window), "editor", e, (GDestroyNotify) editor_free);
  *content = inner;
  return e;
}

static AdwEntryRow *
entry_row (GtkWidget  *group,
           const char *title,
           const char *text)
{
  GtkWidget *row = adw_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  gtk_editable_set_text (GTK_EDITABLE (row), text ?: "");
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  return ADW_ENTRY_ROW (row);
}

static const char *
dict_s (GVariant   *dict,
        const char *key)
{
  const char *value = NULL;

  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}

/* ---- Template --------------------------------------------------------------------------------- */

static void
preview_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Editor *e = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) preview = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  reply = mhf_agent_client_call_finish (MHF_AGENT_CLIENT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      show_problem (e, error);
      return;
    }
  gtk_widget_set_visible (GTK_WIDGET (e->error_label), FALSE);
  g_variant_get (reply, "(@a{sv})", &preview);
  text = g_strdup_printf ("%s\n\n%s", dict_s (preview, "subject"), dict_s (preview, "text"));
  gtk_label_set_text (e->preview_label, text);
}

static gboolean
preview_timeout_cb (gpointer user_data)
{
  Editor *e = user_data;
  g_autofree char *text = buffer_text (e->text_view);
  g_autofree char *html = buffer_text (e->html_view);

  e->preview_id = 0;
  if (*text == '\0')
    return G_SOURCE_REMOVE;
  mhf_agent_client_call_async (e->client, "PreviewTemplate",
                               g_variant_new ("(xsss)", e->clinic,
                                              gtk_editable_get_text (GTK_EDITABLE (e->subject_row)),
                                              text, html),
                               e->cancellable, preview_cb, e);
  return G_SOURCE_REMOVE;
}

/* A quarter of a second after the last keystroke: the agent checks and
 * renders; its error, with line and column, shows at once. */
static void
schedule_preview (Editor *e)
{
  g_clear_handle_id (&e->preview_id, g_source_remove);
  e->preview_id = g_timeout_add (250, preview_timeout_cb, e);
}

static void
insert_variable_cb (GtkButton *button,
                    Editor    *e)
{
  const char * const *names = mhf_template_variable_names ();
  guint i = gtk_drop_down_get_selected (e->variable_dropdown);
  g_autofree char *placeholder = NULL;
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (e->text_view);

  if (i >= g_strv_length ((GStrv) names))
    return;
  placeholder = g_strdup_printf ("{{ %s }}", names[i]);
  gtk_text_buffer_insert_at_cursor (buffer, placeholder, -1);
  gtk_widget_grab_focus (GTK_WIDGET (e->text_view));
}

static void
save_template_cb (Editor *e)
{
  g_autofree char *text = buffer_text (e->text_view);
  g_autofree char *html = buffer_text (e->html_view);
  const char *name = gtk_editable_get_text (GTK_EDITABLE (e->name_row));
  const char *subject = gtk_editable_get_text (GTK_EDITABLE (e->subject_row));

  if (e->id == 0)
    mhf_agent_client_call_async (e->client, "AddTemplate",
                                 g_variant_new ("(xssss)", e->clinic, name, subject, text, html),
                                 e->cancellable, saved_cb, e);
  else
    mhf_agent_client_call_async (e->client, "UpdateTemplate",
                                 g_variant_new ("(xxssss)", e->clinic, e->id, name, subject, text,
                                                html),
                                 e->cancellable, saved_cb, e);
}

/**
 * mhf_template_editor_new:
 * @template: (nullable): a template as ListTemplates() gave it, or %NULL
 *   for a new one
 */
GtkWindow *
mhf_template_editor_new (GtkWindow      *parent,
                         MhfAgentClient *client,
                         gint64          clinic,
                         GVariant       *template,
                         MhfEditorDone   done,
                         gpointer        user_data)
{
  GtkWidget *content, *group, *picker, *insert, *preview_box;
  GtkStringList *names = gtk_string_list_new ((const char * const *) mhf_template_variable_names ());
  Editor *e;

  e = editor_window (parent, client, clinic,
                     template != NULL ? _("Edit Template") : _("New Template"), &content,
                     G_CALLBACK (save_template_cb));
  e->done = done;
  e->user_data = user_data;
  if (template != NULL)
    g_variant_lookup (template, "id", "x", &e->id);

  group = adw_preferences_group_new ();
  e->name_row = entry_row (group, _("Name"), dict_s (template, "name"));
  e->subject_row = entry_row (group, _("Subject"), dict_s (template, "subject"));
  gtk_box_append (GTK_BOX (content), group);

  /* The variable picker inserts a placeholder where the cursor is. */
  picker = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  /* The drop-down takes the list. */
  e->variable_dropdown = GTK_DROP_DOWN (gtk_drop_down_new (G_LIST_MODEL (names), NULL));
  gtk_accessible_update_property (GTK_ACCESSIBLE (e->variable_dropdown),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Variable"), -1);
  insert = gtk_button_new_with_mnemonic (_("_Insert Variable"));
  g_signal_connect (insert, "clicked", G_CALLBACK (insert_variable_cb), e);
  gtk_box_append (GTK_BOX (picker), GTK_WIDGET (e->variable_dropdown));
  gtk_box_append (GTK_BOX (picker), insert);

  gtk_box_append (GTK_BOX (content),
                  labelled (_("Text"), text_area (&e->text_view, _("Text"),
                                                  dict_s (template, "body-text"))));
  gtk_box_append (GTK_BOX (content), picker);
  gtk_box_append (GTK_BOX (content),
                  labelled (_("HTML (optional)"),
                            text_area (&e->html_view, _("HTML"), dict_s (template, "body-html"))));

  e->preview_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (e->preview_label, TRUE);
  gtk_label_set_xalign (e->preview_label, 0);
  gtk_label_set_selectable (e->preview_label, TRUE);
  preview_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_add_css_class (preview_box, "card");
  gtk_widget_set_margin_bottom (GTK_WIDGET (e->preview_label), 12);
  gtk_widget_set_margin_top (GTK_WIDGET (e->preview_label), 12);
  gtk_widget_set_margin_start (GTK_WIDGET (e->preview_label), 12);
  gtk_widget_set_margin_end (GTK_WIDGET (e->preview_label), 12);
  gtk_box_append (GTK_BOX (preview_box), GTK_WIDGET (e->preview_label));
  gtk_box_append (GTK_BOX (content), labelled (_("Preview with sample data"), preview_box));

  g_signal_connect_swapped (e->subject_row, "changed", G_CALLBACK (schedule_preview), e);
  g_signal_connect_swapped (gtk_text_view_get_buffer (e->text_view), "changed",
                            G_CALLBACK (schedule_preview), e);
  g_signal_connect_swapped (gtk_text_view_get_buffer (e->html_view), "changed",
                            G_CALLBACK (schedule_preview), e);
  schedule_preview (e);
  /* Typing starts with the name, not on the header bar's Cancel. */
  gtk_window_set_focus (e->window, GTK_WIDGET (e->name_row));
  return e->window;
}

/* ---- Rule --------------------------------------------------------------------------------------- */

static const char * const categories[] = { "care", "marketing", NULL };

/* A rule's filters, as AddRule() names them and ListReference() kinds. */
static const char * const filter_keys[] = { "businesses", "practitioners", "appointment-types" };
static const char * const reference_kinds[] = { "business", "practitioner", "appointment-type" };

static void
update_filter_subtitle (AdwExpanderRow *row,
                        GPtrArray      *checks)
{
  g_autofree char *text = NULL;
  guint n = 0;

  for (guint i = 0; i < checks->len; i++)
    n += gtk_check_button_get_active (g_ptr_array_index (checks, i));
  if (n == 0)
    text = g_strdup (_("All (none chosen)"));
  else
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u chosen", "%u chosen", n), n);
  adw_expander_row_set_subtitle (row, text);
}

static void
filter_toggled_cb (GtkCheckButton *check,
                   Editor         *e)
{
  for (guint i = 0; i < G_N_ELEMENTS (e->filter_rows); i++)
    if (g_ptr_array_find (e->filter_checks[i], check, NULL))
      update_filter_subtitle (e->filter_rows[i], e->filter_checks[i]);
}

static gboolean
rule_has_filter_id (Editor     *e,
                    guint       filter,
                    const char *id)
{
  g_autoptr(GVariant) ids = NULL;

  if (e->rule == NULL)
    return FALSE;
  ids = g_variant_lookup_value (e->rule, filter_keys[filter], G_VARIANT_TYPE_STRING_ARRAY);
  for (gsize i = 0; ids != NULL && i < g_variant_n_children (ids); i++)
    {
      const char *candidate = NULL;

      g_variant_get_child (ids, i, "&s", &candidate);
      if (g_str_equal (candidate, id))
        return TRUE;
    }
  return FALSE;
}

static void
reference_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Editor *e = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) items = NULL;
  g_autoptr(GError) error = NULL;

  reply = mhf_agent_client_call_finish (MHF_AGENT_CLIENT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      /* The filters then stay as they are, unseen. */
      for (guint i = 0; i < G_N_ELEMENTS (e->filter_rows); i++)
        adw_expander_row_set_subtitle (e->filter_rows[i], _("Not available: Cliniko not read yet"));
      return;
    }
  g_variant_get (reply, "(@aa{sv})", &items);
  for (gsize j = 0; j < g_variant_n_children (items); j++)
    {
      g_autoptr(GVariant) item = g_variant_get_child_value (items, j);
      const char *kind = dict_s (item, "kind"), *id = dict_s (item, "id");

      for (guint i = 0; i < G_N_ELEMENTS (reference_kinds); i++)
        if (g_str_equal (kind, reference_kinds[i]))
          {
            GtkWidget *row = adw_action_row_new ();
            GtkWidget *check = gtk_check_button_new ();

            adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
            adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), dict_s (item, "name"));
            gtk_check_button_set_active (GTK_CHECK_BUTTON (check), rule_has_filter_id (e, i, id));
            gtk_accessible_update_property (GTK_ACCESSIBLE (check), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                            dict_s (item, "name"), -1);
            g_object_set_data_full (G_OBJECT (check), "cliniko-id", g_strdup (id), g_free);
            g_signal_connect (check, "toggled", G_CALLBACK (filter_toggled_cb), e);
            adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
            adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);
            adw_expander_row_add_row (e->filter_rows[i], row);
            g_ptr_array_add (e->filter_checks[i], check);
          }
    }
  for (guint i = 0; i < G_N_ELEMENTS (e->filter_rows); i++)
    update_filter_subtitle (e->filter_rows[i], e->filter_checks[i]);
  e->reference_loaded = TRUE;
}

static void
add_filters (Editor              *e,
             AdwPreferencesGroup *group)
{
  const char *titles[] = { _("Businesses"), _("Practitioners"), _("Appointment types") };

  for (guint i = 0; i < G_N_ELEMENTS (e->filter_rows); i++)
    {
      GtkWidget *row = adw_expander_row_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), titles[i]);
      adw_expander_row_set_subtitle (ADW_EXPANDER_ROW (row), "…");
      adw_preferences_group_add (group, row);
      e->filter_rows[i] = ADW_EXPANDER_ROW (row);
      e->filter_checks[i] = g_ptr_array_new ();
    }
  mhf_agent_client_call_async (e->client, "ListReference", g_variant_new ("(x)", e->clinic),
                               e->cancellable, reference_cb, e);
}

static void
save_rule_cb (Editor *e)
{
  GVariantBuilder dict;
  guint kind = adw_combo_row_get_selected (e->kind_row);
  guint template = adw_combo_row_get_selected (e->template_row);

  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&dict, "{sv}", "name",
                         g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (e->name_row))));
  g_variant_builder_add (&dict, "{sv}", "kind",
                         g_variant_new_string (kinds[MIN (kind, G_N_ELEMENTS (kinds) - 2)]));
  if (template < e->template_ids->len)
    g_variant_builder_add (&dict, "{sv}", "template",
                           g_variant_new_int64 (g_array_index (e->template_ids, gint64, template)));
  g_variant_builder_add (&dict, "{sv}", "timing",
                         g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (e->timing_row))));
  g_variant_builder_add (&dict, "{sv}", "window",
                         g_variant_new_string (gtk_editable_get_text (GTK_EDITABLE (e->window_row))));
  g_variant_builder_add (&dict, "{sv}", "latest-useful-minutes",
                         g_variant_new_int64 (gtk_spin_button_get_value_as_int (e->latest_spin)));
  if (kind == 0)
    g_variant_builder_add (&dict, "{sv}", "last-minute",
                           g_variant_new_boolean (gtk_switch_get_active (e->last_minute_switch)));
  /* A recall is always marketing: the agent decides that one. */
  if (kind != 3)
    g_variant_builder_add (&dict, "{sv}", "category",
                           g_variant_new_string (categories[MIN (adw_combo_row_get_selected (e->category_row), 1)]));
  /* The filters as chosen; before the names arrive, as they were. */
  for (guint i = 0; i < G_N_ELEMENTS (filter_keys); i++)
    if (e->reference_loaded)
      {
        GVariantBuilder ids;

        g_variant_builder_init (&ids, G_VARIANT_TYPE_STRING_ARRAY);
        for (guint j = 0; j < e->filter_checks[i]->len; j++)
          if (gtk_check_button_get_active (g_ptr_array_index (e->filter_checks[i], j)))
            g_variant_builder_add (&ids, "s",
                                   g_object_get_data (g_ptr_array_index (e->filter_checks[i], j),
                                                      "cliniko-id"));
        g_variant_builder_add (&dict, "{sv}", filter_keys[i], g_variant_builder_end (&ids));
      }
    else if (e->rule != NULL)
      {
        g_autoptr(GVariant) ids = g_variant_lookup_value (e->rule, filter_keys[i],
                                                          G_VARIANT_TYPE_STRING_ARRAY);

        if (ids != NULL)
          g_variant_builder_add (&dict, "{sv}", filter_keys[i], ids);
      }

  if (e->id == 0)
    mhf_agent_client_call_async (e->client, "AddRule",
                                 g_variant_new ("(xa{sv})", e->clinic, &dict),
                                 e->cancellable, saved_cb, e);
  else
    mhf_agent_client_call_async (e->client, "UpdateRule",
                                 g_variant_new ("(xxa{sv})", e->clinic, e->id, &dict),
                                 e->cancellable, saved_cb, e);
}

static void
kind_selected_cb (AdwComboRow *row,
                  GParamSpec  *pspec,
                  Editor      *e)
{
  guint kind = adw_combo_row_get_selected (row);

  /* Late bookings only matter to reminders; recalls are always marketing. */
  gtk_widget_set_sensitive (gtk_widget_get_ancestor (GTK_WIDGET (e->last_minute_switch),
                                                     ADW_TYPE_ACTION_ROW), kind == 0);
  gtk_widget_set_sensitive (GTK_WIDGET (e->category_row), kind != 3);
  if (kind == 3)
    adw_combo_row_set_selected (e->category_row, 1);
}

/**
 * mhf_rule_editor_new:
 * @templates: the clinic's templates, as ListTemplates() gave them
 * @rule: (nullable): a rule as ListRules() gave it, or %NULL for a new one
 *
 * A new rule is saved disabled: the dry run on the Rules page shows what
 * it would send before anyone enables it. Saving an existing rule keeps it
 * enabled or disabled as it was; the agent re-plans what it had planned.
 */
GtkWindow *
mhf_rule_editor_new (GtkWindow      *parent,
                     MhfAgentClient *client,
                     gint64          clinic,
                     GVariant       *templates,
                     GVariant       *rule,
                     MhfEditorDone   done,
                     gpointer        user_data)
{
  const char *category_labels[] = { C_("rule category", "Care"),
                                    C_("rule category", "Marketing (with an unsubscribe link)"),
                                    NULL };
  g_autoptr(GtkStringList) category_names = gtk_string_list_new (category_labels);
  gint64 rule_template = 0, latest = 120;
  gboolean last_minute = FALSE;
  guint selected_template = 0;
  const char *kind_labels[] = { C_("rule kind", "Reminder"), C_("rule kind", "Follow-up"),
                                C_("rule kind", "Did not arrive"), C_("rule kind", "Recall"),
                                NULL };
  g_autoptr(GtkStringList) template_names = gtk_string_list_new (NULL);
  g_autoptr(GtkStringList) kind_names = gtk_string_list_new (kind_labels);
  GtkWidget *content, *group, *row;
  Editor *e;

  e = editor_window (parent, client, clinic, rule != NULL ? _("Edit Rule") : _("New Rule"),
                     &content, G_CALLBACK (save_rule_cb));
  e->done = done;
  e->user_data = user_data;
  e->template_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (rule != NULL)
    {
      e->rule = g_variant_ref (rule);
      g_variant_lookup (rule, "id", "x", &e->id);
      g_variant_lookup (rule, "template", "x", &rule_template);
      g_variant_lookup (rule, "latest-useful-minutes", "x", &latest);
      g_variant_lookup (rule, "last-minute", "b", &last_minute);
    }
  for (gsize i = 0; templates != NULL && i < g_variant_n_children (templates); i++)
    {
      g_autoptr(GVariant) template = g_variant_get_child_value (templates, i);
      gint64 id = 0;

      g_variant_lookup (template, "id", "x", &id);
      if (id == rule_template)
        selected_template = e->template_ids->len;
      g_array_append_val (e->template_ids, id);
      gtk_string_list_append (template_names, dict_s (template, "name"));
    }

  group = adw_preferences_group_new ();
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group),
                                         rule == NULL
                                         ? _("A new rule starts disabled. Try its dry run, then "
                                             "enable it: it never sends for the past.")
                                         : _("Messages this rule planned and not sent yet are "
                                             "planned again with the new settings; sent ones "
                                             "stay as they were."));
  e->name_row = entry_row (group, _("Name"), dict_s (rule, "name"));

  row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Kind"));
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (kind_names));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  e->kind_row = ADW_COMBO_ROW (row);
  for (guint i = 0; rule != NULL && kinds[i] != NULL; i++)
    if (g_str_equal (dict_s (rule, "kind"), kinds[i]))
      adw_combo_row_set_selected (e->kind_row, i);

  row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Template"));
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (template_names));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  e->template_row = ADW_COMBO_ROW (row);
  adw_combo_row_set_selected (e->template_row, selected_template);

  row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Category"));
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (category_names));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  e->category_row = ADW_COMBO_ROW (row);
  adw_combo_row_set_selected (e->category_row,
                              g_str_equal (dict_s (rule, "category"), "marketing") ? 1 : 0);

  e->timing_row = entry_row (group, _("When (e.g. “24h before”, “2d after”, “1d before at 17:00”)"),
                             rule != NULL ? dict_s (rule, "timing") : "24h before");
  e->window_row = entry_row (group, _("Send window (e.g. “mon-fri 08:00-18:00”; empty for any time)"),
                             dict_s (rule, "window"));

  row = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Latest useful time (minutes)"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                               _("A reminder goes at least this long before the start; other "
                                 "kinds at most this late; 0 for no limit"));
  e->latest_spin = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (0, 525600, 15));
  gtk_spin_button_set_value (e->latest_spin, (double) latest);
  gtk_widget_set_valign (GTK_WIDGET (e->latest_spin), GTK_ALIGN_CENTER);
  gtk_accessible_update_property (GTK_ACCESSIBLE (e->latest_spin), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Latest useful time (minutes)"), -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), GTK_WIDGET (e->latest_spin));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);

  row = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Remind late bookings at once"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("Reminders only, while still useful"));
  e->last_minute_switch = GTK_SWITCH (gtk_switch_new ());
  gtk_widget_set_valign (GTK_WIDGET (e->last_minute_switch), GTK_ALIGN_CENTER);
  gtk_accessible_update_property (GTK_ACCESSIBLE (e->last_minute_switch),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Remind late bookings at once"), -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), GTK_WIDGET (e->last_minute_switch));
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row),
                                         GTK_WIDGET (e->last_minute_switch));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  gtk_switch_set_active (e->last_minute_switch, last_minute);

  g_signal_connect (e->kind_row, "notify::selected", G_CALLBACK (kind_selected_cb), e);
  kind_selected_cb (e->kind_row, NULL, e);
  gtk_box_append (GTK_BOX (content), group);

  group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Only For"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group),
                                         _("Choose none to include all."));
  add_filters (e, ADW_PREFERENCES_GROUP (group));
  gtk_box_append (GTK_BOX (content), group);
  gtk_window_set_focus (e->window, GTK_WIDGET (e->name_row));
  return e->window;
}
