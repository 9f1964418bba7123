/* test-clinic-view.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The clinic's pages (Overview, Outbox, History) in the real window,
 * against the real agent on a private bus with a real keyring and the fake
 * Cliniko: a clinic connected, rules planned and sent into a folder, then
 * the window signed in shows the outbox and the history; a message is
 * cancelled through the dialog and found in the history with its reason;
 * a staff member sees no export and no retry. With MHF_SCREENSHOT_DIR set,
 * each page is saved as a PNG.
 */

#include "config.h"

#include <adwaita.h>
#include <gdk/x11/gdkx.h>
#include <string.h>

#include "mhf-clinic-view.h"
#include "mhf-daily-chart.h"
#include "mhf-users-group.h"
#include "mhf-fake-cliniko.h"
#include "mhf-onboarding.h"
#include "mhf-test-bus.h"
#include "mhf-test-licence.h"
#include "mhf-window.h"

#define WAIT_MS     30000
#define INTERFACE   "com.myhealthfollowup.MyHealthFollowup.Agent1"
#define OWNER_PASS  "correct horse battery"
#define STAFF_PASS  "staff passphrase 1"
#define KEY         "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"

typedef struct
{
  MhfTestBus      *bus;
  MhfFakeCliniko  *fake;
  GDBusConnection *setup;     /* the owner, setting up the clinic */
  MhfAgentClient  *client;
  MhfWindow       *window;
  gint64           clinic;
  char            *mail;
} Fixture;

typedef gboolean (*Predicate) (Fixture *f);

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
wait_until (Fixture   *f,
            Predicate  predicate)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;
  guint wake_id = g_timeout_add (50, wake_cb, NULL);
  gboolean result;

  while (!(result = predicate (f)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake_id);
  return result;
}

static GVariant *
call (Fixture    *f,
      const char *method,
      GVariant   *parameters)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  reply = g_dbus_connection_call_sync (f->setup, AGENT_BUS_NAME, AGENT_OBJECT_PATH, INTERFACE,
                                       method, parameters, NULL, G_DBUS_CALL_FLAGS_NONE, 60000,
                                       NULL, &error);
  g_assert_no_error (error);
  return reply;
}

static gint64
call_x (Fixture    *f,
        const char *method,
        GVariant   *parameters)
{
  g_autoptr(GVariant) reply = call (f, method, parameters);
  gint64 id = 0;

  g_variant_get_child (reply, 0, "x", &id);
  return id;
}

static guint
count_outbox (Fixture    *f,
              const char *state)
{
  g_autoptr(GVariant) reply = call (f, "ListOutbox",
                                    g_variant_new_parsed ("(%x, {'state': <%s>, "
                                                          "'limit': <uint32 500>})",
                                                          f->clinic, state));
  g_autoptr(GVariant) messages = g_variant_get_child_value (reply, 0);

  return (guint) g_variant_n_children (messages);
}

static gboolean
reference_ready (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "GetClinikoStatus", g_variant_new ("(x)", f->clinic));
  g_autoptr(GVariant) status = g_variant_get_child_value (reply, 0);
  gint64 at = 0;

  return g_variant_lookup (status, "reference-refreshed-at", "x", &at) && at > 0;
}

static gboolean
nothing_due (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "ListOutbox",
                                    g_variant_new_parsed ("(%x, {'limit': <uint32 500>})",
                                                          f->clinic));
  g_autoptr(GVariant) messages = g_variant_get_child_value (reply, 0);
  gint64 now = g_get_real_time ();

  for (gsize i = 0; i < g_variant_n_children (messages); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (messages, i);
      const char *state = NULL;
      gint64 at = 0;

      g_variant_lookup (row, "state", "&s", &state);
      g_variant_lookup (row, "planned-at", "x", &at);
      if (g_str_equal (state, "sending") || (g_str_equal (state, "planned") && at <= now))
        return FALSE;
    }
  return TRUE;
}

static void
open_window (Fixture *f)
{
  f->client = mhf_agent_client_new ();
  f->window = g_object_ref (mhf_window_new (NULL, f->client));
  gtk_window_set_default_size (GTK_WINDOW (f->window), 900, 700);
  gtk_window_present (GTK_WINDOW (f->window));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *fixture = g_test_build_filename (G_TEST_DIST, "fake-cliniko",
                                                    "sample-clinic.json", NULL);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  gint64 template_id, rule;

  f->fake = mhf_fake_cliniko_new (fixture, &error);
  g_assert_no_error (error);
  mhf_fake_cliniko_start (f->fake, &error);
  g_assert_no_error (error);
  f->bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->setup = g_dbus_connection_new_for_address_sync (mhf_test_bus_get_address (f->bus),
                                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                     NULL, NULL, &error);
  g_assert_no_error (error);

  /* A connected clinic whose rules have planned and sent messages. */
  g_variant_unref (call (f, "CreateOwner", g_variant_new ("(sss)", "olivia", "Olivia Owner",
                                                          OWNER_PASS)));
  if (data != NULL)   /* "bare": the owner only, the clinic is set up by the test */
    {
      open_window (f);
      return;
    }
  f->clinic = call_x (f, "AddClinic", g_variant_new ("(s)", "Harbour Physio"));
  g_variant_unref (call (f, "SetClinikoBaseUrl",
                         g_variant_new ("(xs)", f->clinic, mhf_fake_cliniko_get_base_url (f->fake))));
  g_variant_unref (call (f, "SetClinikoKey", g_variant_new ("(xs)", f->clinic, KEY)));
  g_assert_true (wait_until (f, reference_ready));
  f->mail = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "..", "mail", NULL);
  g_variant_unref (call (f, "SetEmailSettings",
                         g_variant_new_parsed ("(%x, {'transport': <'file'>, 'folder': <%s>,"
                                               " 'from-name': <'Harbour Physio'>,"
                                               " 'from-address': <'hello@harbour.example.com'>})",
                                               f->clinic, f->mail)));
  template_id = call_x (f, "AddTemplate",
                        g_variant_new ("(xssss)", f->clinic, "Reminder", "See you soon",
                                       "Hi {{ patient.first_name }}", ""));
  rule = call_x (f, "AddRule",
                 g_variant_new_parsed ("(%x, {'name': <'Now'>, 'kind': <'reminder'>,"
                                       " 'template': <%x>, 'timing': <'72h before'>,"
                                       " 'last-minute': <true>})", f->clinic, template_id));
  g_variant_unref (call (f, "SetRuleEnabled", g_variant_new ("(xxb)", f->clinic, rule, TRUE)));
  rule = call_x (f, "AddRule",
                 g_variant_new_parsed ("(%x, {'name': <'Day before'>, 'kind': <'reminder'>,"
                                       " 'template': <%x>, 'timing': <'24h before'>})",
                                       f->clinic, template_id));
  g_variant_unref (call (f, "SetRuleEnabled", g_variant_new ("(xxb)", f->clinic, rule, TRUE)));
  g_variant_unref (call (f, "ScanNow", g_variant_new ("(x)", f->clinic)));
  g_assert_true (wait_until (f, nothing_due));
  g_assert_cmpuint (count_outbox (f, "planned"), >, 0);
  open_window (f);
}

static gboolean
objects_gone (Fixture *f)
{
  return f->window == NULL && f->client == NULL;
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_object_add_weak_pointer (G_OBJECT (f->window), (gpointer *) &f->window);
  g_object_add_weak_pointer (G_OBJECT (f->client), (gpointer *) &f->client);
  gtk_window_destroy (GTK_WINDOW (f->window));
  g_object_unref (f->window);
  g_object_unref (f->client);
  g_assert_true (wait_until (f, objects_gone));

  g_dbus_connection_close_sync (f->setup, NULL, NULL);
  g_clear_object (&f->setup);
  g_clear_pointer (&f->bus, mhf_test_bus_free);
  mhf_fake_cliniko_stop (f->fake);
  g_clear_object (&f->fake);
  g_free (f->mail);
}

/* ---- helpers over the widget tree ------------------------------------------------------------ */

static GtkWidget *
find_widget (GtkWidget *widget,
             GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* A button by the start of its accessible label, e.g. "Cancel message". */
static GtkButton *
find_button (GtkWidget  *widget,
             const char *label_prefix)
{
  if (GTK_IS_BUTTON (widget) && gtk_widget_get_mapped (widget))
    {
      const char *text = gtk_button_get_label (GTK_BUTTON (widget));

      if (text != NULL && g_str_has_prefix (text, label_prefix))
        return GTK_BUTTON (widget);
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkButton *found = find_button (child, label_prefix);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static gboolean
entry_has_text (GtkWidget  *widget,
                const char *text)
{
  if (GTK_IS_EDITABLE (widget) && g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (widget)), text) == 0)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (entry_has_text (child, text))
      return TRUE;
  return FALSE;
}

static gboolean
shows_text (GtkWidget  *widget,
            const char *needle)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_mapped (widget) &&
      strstr (gtk_label_get_text (GTK_LABEL (widget)), needle) != NULL)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (shows_text (child, needle))
      return TRUE;
  return FALSE;
}

/* Lets a page that was just shown map and draw. */
static void
settle (void)
{
  for (int i = 0; i < 25; i++)
    {
      g_usleep (20 * 1000);
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
}

static MhfClinicView *
view (Fixture *f)
{
  return MHF_CLINIC_VIEW (find_widget (GTK_WIDGET (f->window), MHF_TYPE_CLINIC_VIEW));
}

static gboolean
clinic_shown (Fixture *f)
{
  return g_strcmp0 (mhf_window_get_visible_page_name (f->window), "clinic") == 0 &&
         view (f) != NULL && mhf_clinic_view_get_n_outbox_rows (view (f)) > 0 &&
         mhf_clinic_view_get_n_history_rows (view (f)) > 0;
}

static void
screenshot_window (Fixture    *f,
                   GtkWidget  *window,
                   const char *name)
{
  const char *dir = g_getenv ("MHF_SCREENSHOT_DIR");
  g_autofree char *path = NULL;
  g_autofree char *window_id = NULL;

  if (dir == NULL)
    return;
  settle ();
  path = g_build_filename (dir, name, NULL);
  window_id = g_strdup_printf ("0x%lx", (unsigned long)
                               gdk_x11_surface_get_xid (gtk_native_get_surface (GTK_NATIVE (window))));
  g_assert_cmpint (mhf_test_run (NULL, NULL, NULL, "/usr/bin/import", "-window", window_id,
                                 path, NULL), ==, 0);
}

static void
screenshot (Fixture    *f,
            const char *name)
{
  const char *dir = g_getenv ("MHF_SCREENSHOT_DIR");
  g_autofree char *path = NULL;
  g_autofree char *window_id = NULL;
  GdkSurface *surface;

  if (dir == NULL)
    return;
  settle ();
  surface = gtk_native_get_surface (GTK_NATIVE (f->window));
  path = g_build_filename (dir, name, NULL);
  window_id = g_strdup_printf ("0x%lx",
                               (unsigned long) gdk_x11_surface_get_xid (surface));
  g_assert_cmpint (mhf_test_run (NULL, NULL, NULL, "/usr/bin/import", "-window", window_id,
                                 path, NULL), ==, 0);
}

/* One widget rendered on its own, for what lies below the fold. */
static void
screenshot_widget (GtkWidget  *widget,
                   const char *name)
{
  const char *dir = g_getenv ("MHF_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = NULL;
  int width, height;

  if (dir == NULL)
    return;
  settle ();
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  g_assert_cmpint (width, >, 0);
  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0.98f, 0.98f, 0.98f, 1.0f },
                             &GRAPHENE_RECT_INIT (0, 0, width, height));
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_to_node (snapshot);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (gtk_widget_get_native (widget)),
                                         node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  path = g_build_filename (dir, name, NULL);
  g_assert_true (gdk_texture_save_to_png (texture, path));
}

typedef struct
{
  Fixture *f;
  gboolean done;
  GError  *error;
} SignIn;

static void
signed_in_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  SignIn *s = user_data;

  mhf_agent_client_sign_in_finish (MHF_AGENT_CLIENT (object), result, &s->error);
  s->done = TRUE;
}

static gboolean
client_ready (Fixture *f)
{
  return mhf_agent_client_get_session_known (f->client);
}

static void
sign_in (Fixture    *f,
         const char *user,
         const char *pass)
{
  SignIn s = { f, FALSE, NULL };

  g_assert_true (wait_until (f, client_ready));
  mhf_agent_client_sign_in_async (f->client, user, pass, NULL, signed_in_cb, &s);
  while (!s.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (s.error);
}

/* ---- tests --------------------------------------------------------------------------------- */

static GtkWidget *
dialog_shown (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();   /* transfer none */

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return GTK_WIDGET (window);
    }
  return NULL;
}

static gboolean
has_dialog (Fixture *f)
{
  return dialog_shown () != NULL;
}

static gboolean
cancelled_in_history (Fixture *f)
{
  return count_outbox (f, "cancelled") == 1 && shows_text (GTK_WIDGET (view (f)),
                                                           "Cancelled by a user.");
}

static gboolean
toast_scanned (Fixture *f)
{
  return shows_text (GTK_WIDGET (f->window), "Scanned:");
}

static gboolean
health_shown (Fixture *f)
{
  return shows_text (GTK_WIDGET (view (f)), "Connected to Harbourside Health Group") &&
         shows_text (GTK_WIDGET (view (f)), "Writing messages into a folder") &&
         shows_text (GTK_WIDGET (view (f)), "Running; keyring and database ready");
}

static gboolean
scan_times_shown (Fixture *f)
{
  return shows_text (GTK_WIDGET (view (f)), "Last at ") &&
         shows_text (GTK_WIDGET (view (f)), ", next at ");
}

static guint
history_count (Fixture    *f,
               const char *state)
{
  g_autoptr(GVariant) reply = call (f, "ListHistory",
                                    g_variant_new_parsed ("(%x, {'state': <%s>, "
                                                          "'limit': <uint32 500>})",
                                                          f->clinic, state));
  g_autoptr(GVariant) events = g_variant_get_child_value (reply, 0);

  return (guint) g_variant_n_children (events);
}

static gboolean
chart_matches_history (Fixture *f)
{
  MhfDailyChart *chart = MHF_DAILY_CHART (find_widget (GTK_WIDGET (view (f)),
                                                       MHF_TYPE_DAILY_CHART));

  return chart != NULL && mhf_daily_chart_get_n_days (chart) == 30 &&
         mhf_daily_chart_get_total (chart, "sent") == history_count (f, "sent") &&
         mhf_daily_chart_get_total (chart, "skipped") == history_count (f, "skipped") &&
         history_count (f, "sent") + history_count (f, "skipped") > 0;
}

/* The mapped drop-down whose first item is @first_item, e.g. "Every rule"
 * for a rule filter or "Any time" for the history's period. */
static GtkWidget *
find_dropdown_listing (GtkWidget  *widget,
                       const char *first_item)
{
  if (GTK_IS_DROP_DOWN (widget) && gtk_widget_get_mapped (widget))
    {
      GListModel *model = gtk_drop_down_get_model (GTK_DROP_DOWN (widget));
      g_autoptr(GObject) first = g_list_model_get_item (model, 0);

      if (GTK_IS_STRING_OBJECT (first) &&
          g_str_equal (gtk_string_object_get_string (GTK_STRING_OBJECT (first)), first_item))
        return widget;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_dropdown_listing (child, first_item);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Selects @item in the drop-down whose first item is @first_item. */
static void
select_item (GtkWidget  *page,
             const char *first_item,
             const char *item)
{
  GtkDropDown *dropdown = GTK_DROP_DOWN (find_dropdown_listing (page, first_item));
  GListModel *model;

  g_assert_nonnull (dropdown);
  model = gtk_drop_down_get_model (dropdown);
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(GtkStringObject) entry = g_list_model_get_item (model, i);

      if (g_str_equal (gtk_string_object_get_string (entry), item))
        {
          gtk_drop_down_set_selected (dropdown, i);
          return;
        }
    }
  g_error ("No “%s” to choose", item);
}

static gint64
rule_id (Fixture    *f,
         const char *name)
{
  g_autoptr(GVariant) reply = call (f, "ListRules", g_variant_new ("(x)", f->clinic));
  g_autoptr(GVariant) rules = g_variant_get_child_value (reply, 0);

  for (gsize i = 0; i < g_variant_n_children (rules); i++)
    {
      g_autoptr(GVariant) rule = g_variant_get_child_value (rules, i);
      const char *rule_name = NULL;
      gint64 id = 0;

      g_variant_lookup (rule, "name", "&s", &rule_name);
      g_variant_lookup (rule, "id", "x", &id);
      if (g_str_equal (rule_name, name))
        return id;
    }
  return 0;
}

static gboolean
masked_recipient_listed (Fixture *f)
{
  return shows_text (GTK_WIDGET (view (f)), "Sent · ") &&
         shows_text (GTK_WIDGET (view (f)), "***@") &&
         !shows_text (GTK_WIDGET (view (f)), "@example.com");
}

static gboolean
only_now_listed (Fixture *f)
{
  return shows_text (GTK_WIDGET (view (f)), "Now ·") &&
         !shows_text (GTK_WIDGET (view (f)), "Day before ·");
}

static gboolean
history_of_now_listed (Fixture *f)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) midnight = g_date_time_new_local (g_date_time_get_year (now),
                                                         g_date_time_get_month (now),
                                                         g_date_time_get_day_of_month (now),
                                                         0, 0, 0);
  g_autoptr(GVariant) reply = call (f, "ListHistory",
                                    g_variant_new_parsed ("(%x, {'rule': <%x>, 'from': <%x>, "
                                                          "'limit': <uint32 500>})",
                                                          f->clinic, rule_id (f, "Now"),
                                                          g_date_time_to_unix (midnight) *
                                                          G_USEC_PER_SEC));
  g_autoptr(GVariant) events = g_variant_get_child_value (reply, 0);
  g_autoptr(GVariant) all = call (f, "ListHistory",
                                  g_variant_new_parsed ("(%x, {'limit': <uint32 500>})",
                                                        f->clinic));
  g_autoptr(GVariant) all_events = g_variant_get_child_value (all, 0);

  /* Fewer than all: the filter took some away, and the list agrees. */
  return g_variant_n_children (events) > 0 &&
         g_variant_n_children (events) < g_variant_n_children (all_events) &&
         mhf_clinic_view_get_n_history_rows (view (f)) == g_variant_n_children (events);
}

static void
collect_calendars (GtkWidget *widget,
                   GPtrArray *out)
{
  if (GTK_IS_CALENDAR (widget))
    g_ptr_array_add (out, widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_calendars (child, out);
}

/* Picks From and To in the period's popover, days from today, and shows them. */
static void
choose_days (Fixture *f,
             int      from_days,
             int      to_days)
{
  g_autoptr(GPtrArray) calendars = g_ptr_array_new ();
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) from = g_date_time_add_days (now, from_days);
  g_autoptr(GDateTime) to = g_date_time_add_days (now, to_days);
  GtkWidget *popover;

  collect_calendars (GTK_WIDGET (view (f)), calendars);
  g_assert_cmpuint (calendars->len, ==, 2);
  popover = gtk_widget_get_ancestor (g_ptr_array_index (calendars, 0), GTK_TYPE_POPOVER);
  gtk_popover_popup (GTK_POPOVER (popover));
  settle ();
  gtk_calendar_select_day (g_ptr_array_index (calendars, 0), from);
  gtk_calendar_select_day (g_ptr_array_index (calendars, 1), to);
  g_signal_emit_by_name (find_button (popover, "_Show These Days"), "clicked");
}

static gboolean
no_history_listed (Fixture *f)
{
  settle ();
  return mhf_clinic_view_get_n_history_rows (view (f)) == 0;
}

static void
test_pages_and_cancel (Fixture       *f,
                       gconstpointer  data)
{
  GtkButton *cancel;
  GtkWidget *dialog;
  GtkWidget *entry;

  sign_in (f, "olivia", OWNER_PASS);
  g_assert_true (wait_until (f, clinic_shown));
  settle ();

  /* Overview: health, today's counts and the next sends. */
  g_assert_true (wait_until (f, health_shown));
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "Sent today"));
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "Next Sends"));
  /* The fixture's scan ran: its time is shown, and so is the next one. */
  g_assert_true (wait_until (f, scan_times_shown));
  /* The chart: 30 days, today's bar as many sent and skipped as the
   * history holds for today. */
  g_assert_true (wait_until (f, chart_matches_history));
  screenshot (f, "overview.png");
  screenshot_widget (gtk_widget_get_ancestor (find_widget (GTK_WIDGET (view (f)),
                                                           MHF_TYPE_DAILY_CHART),
                                              ADW_TYPE_PREFERENCES_GROUP),
                     "overview-chart.png");

  /* Outbox: the planned messages, each with its Cancel button. */
  mhf_clinic_view_show_page (view (f), "outbox");
  screenshot (f, "outbox.png");
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "Day before ·"));
  g_assert_false (shows_text (GTK_WIDGET (view (f)), "Sent"));
  /* Filtered by rule: only that rule's messages. */
  select_item (GTK_WIDGET (view (f)), "Every rule", "Now");
  g_assert_true (wait_until (f, only_now_listed));
  select_item (GTK_WIDGET (view (f)), "Every rule", "Every rule");
  /* Sent messages show their recipient, masked. */
  select_item (GTK_WIDGET (view (f)), "Planned", "Sent");
  g_assert_true (wait_until (f, masked_recipient_listed));
  select_item (GTK_WIDGET (view (f)), "Planned", "Planned");
  /* The front desk can ask for a scan now. */
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Scan Cliniko Now"), "clicked");
  g_assert_true (wait_until (f, toast_scanned));
  cancel = find_button (GTK_WIDGET (view (f)), "_Cancel");
  g_assert_nonnull (cancel);
  g_signal_emit_by_name (cancel, "clicked");
  g_assert_true (wait_until (f, has_dialog));
  settle ();
  dialog = dialog_shown ();
  entry = find_widget (dialog, GTK_TYPE_ENTRY);
  g_assert_nonnull (entry);
  gtk_editable_set_text (GTK_EDITABLE (entry), "patient phoned");
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "cancel-message");

  /* History: the cancellation, with its reason in words, and no clear
   * address anywhere. */
  mhf_clinic_view_show_page (view (f), "history");
  g_assert_true (wait_until (f, cancelled_in_history));
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "***@"));
  g_assert_false (shows_text (GTK_WIDGET (view (f)), "@example.com"));
  g_assert_nonnull (find_button (GTK_WIDGET (view (f)), "_Export"));
  screenshot (f, "history.png");

  /* Filtered by rule and period, the list holds what the agent holds. */
  select_item (GTK_WIDGET (view (f)), "Every rule", "Now");
  gtk_drop_down_set_selected (GTK_DROP_DOWN (find_dropdown_listing (GTK_WIDGET (view (f)),
                                                                    "Any time")), 1);
  g_assert_true (wait_until (f, history_of_now_listed));

  /* Chosen dates: a week that ended five days ago holds nothing; up to
   * today, everything of the rule. */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (find_dropdown_listing (GTK_WIDGET (view (f)),
                                                                    "Any time")), 5);
  settle ();
  choose_days (f, -12, -5);
  g_assert_true (wait_until (f, no_history_listed));
  choose_days (f, -12, 0);
  g_assert_true (wait_until (f, history_of_now_listed));
}

static gboolean
admin_loaded (Fixture *f)
{
  return mhf_clinic_view_get_n_rules_rows (view (f)) == 2 &&
         mhf_clinic_view_get_n_audit_rows (view (f)) > 0;
}

static gboolean
rule_disabled (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "ListRules", g_variant_new ("(x)", f->clinic));
  g_autoptr(GVariant) rules = g_variant_get_child_value (reply, 0);
  guint enabled = 0;

  for (gsize i = 0; i < g_variant_n_children (rules); i++)
    {
      g_autoptr(GVariant) rule = g_variant_get_child_value (rules, i);
      gboolean on = FALSE;

      g_variant_lookup (rule, "enabled", "b", &on);
      enabled += on;
    }
  return enabled == 1;
}

static void
close_dialog (void)
{
  GtkWidget *dialog = dialog_shown ();

  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "close");
  gtk_window_destroy (GTK_WINDOW (dialog));
}

static GtkWidget *
toplevel_titled (const char *title)
{
  GListModel *toplevels = gtk_window_get_toplevels ();   /* transfer none */

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);

      if (g_strcmp0 (gtk_window_get_title (window), title) == 0 &&
          gtk_widget_get_visible (GTK_WIDGET (window)))
        return GTK_WIDGET (window);
    }
  return NULL;
}

static GtkWidget *editor_under_test;

static gboolean
editor_says (Fixture *f)
{
  const char *needle = g_object_get_data (G_OBJECT (editor_under_test), "expect");

  return shows_text (editor_under_test, needle);
}

static void
wait_for_editor_text (Fixture    *f,
                      GtkWidget  *editor,
                      const char *text)
{
  editor_under_test = editor;
  g_object_set_data_full (G_OBJECT (editor), "expect", g_strdup (text), g_free);
  if (!wait_until (f, editor_says))
    g_error ("The editor never showed “%s”", text);
}

/* The entry row (or text view) whose title (accessible name) starts so. */
static GtkWidget *
field (GtkWidget  *widget,
       const char *title)
{
  if (ADW_IS_ENTRY_ROW (widget) &&
      g_str_has_prefix (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = field (child, title);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static guint
count_list (Fixture    *f,
            const char *method)
{
  g_autoptr(GVariant) reply = call (f, method, g_variant_new ("(x)", f->clinic));
  g_autoptr(GVariant) list = g_variant_get_child_value (reply, 0);

  return (guint) g_variant_n_children (list);
}

static gboolean
three_templates_gone (Fixture *f)
{
  return toplevel_titled ("New Template") == NULL && count_list (f, "ListTemplates") == 2;
}

static gboolean
rule_added (Fixture *f)
{
  return toplevel_titled ("New Rule") == NULL && count_list (f, "ListRules") == 3;
}

static GtkWidget *
find_row_titled (GtkWidget  *widget,
                 const char *title)
{
  if (ADW_IS_PREFERENCES_ROW (widget) && gtk_widget_get_mapped (widget) &&
      g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_row_titled (child, title);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static gboolean
practitioners_listed (Fixture *f)
{
  GtkWidget *row = find_row_titled (editor_under_test, "Practitioners");

  return row != NULL && find_widget (row, GTK_TYPE_CHECK_BUTTON) != NULL;
}

static gboolean
rule_window_saved (Fixture *f)
{
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *text = NULL;

  if (toplevel_titled ("Edit Rule") != NULL)
    return FALSE;
  reply = call (f, "ListRules", g_variant_new ("(x)", f->clinic));
  text = g_variant_print (reply, FALSE);
  return strstr (text, "'name': <'Day before'>") != NULL &&
         g_pattern_match_simple ("*'practitioners': <['*']>*", text) &&
         strstr (text, "'window': <'mon-fri 08:00-18:00'>") != NULL &&
         strstr (text, "'enabled': <false>") != NULL /* only the new one */ &&
         strstr (strstr (text, "'enabled': <false>") + 1, "'enabled': <false>") == NULL;
}

static void
test_editors (Fixture       *f,
              gconstpointer  data)
{
  GtkWidget *editor;
  GtkTextView *text;

  sign_in (f, "olivia", OWNER_PASS);
  g_assert_true (wait_until (f, clinic_shown));
  g_assert_true (wait_until (f, admin_loaded));

  /* A template: an error at its line and column, then a live preview. */
  mhf_clinic_view_show_page (view (f), "templates");
  settle ();
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_New Template"), "clicked");
  editor = toplevel_titled ("New Template");
  g_assert_nonnull (editor);
  settle ();
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "Name")), "Day-after check-in");
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "Subject")), "How are you? {{ business.name");
  text = GTK_TEXT_VIEW (find_widget (editor, GTK_TYPE_TEXT_VIEW));
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (text),
                            "Hello {{ patient.first_name }}, from {{ business.name }}.", -1);
  wait_for_editor_text (f, editor, "subject: line 1, column");
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "Subject")), "How are you?");
  wait_for_editor_text (f, editor, "Hello Alex, from");
  screenshot_window (f, editor, "template-editor.png");
  g_signal_emit_by_name (find_button (editor, "_Save"), "clicked");
  g_assert_true (wait_until (f, three_templates_gone));

  /* A rule: the field the agent names, then saved, disabled. */
  mhf_clinic_view_show_page (view (f), "rules");
  settle ();
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_New Rule"), "clicked");
  editor = toplevel_titled ("New Rule");
  g_assert_nonnull (editor);
  settle ();
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "Name")), "Two-day follow-up");
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "When")), "soon");
  g_signal_emit_by_name (find_button (editor, "_Save"), "clicked");
  wait_for_editor_text (f, editor, "timing:");
  adw_combo_row_set_selected (ADW_COMBO_ROW (find_widget (editor, ADW_TYPE_COMBO_ROW)), 1);
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "When")), "2d after");
  g_signal_emit_by_name (find_button (editor, "_Save"), "clicked");
  g_assert_true (wait_until (f, rule_added));

  /* An existing rule opens with its settings; a changed window is saved
   * and the rule stays enabled. */
  settle ();
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Edit"), "clicked");
  editor = toplevel_titled ("Edit Rule");
  g_assert_nonnull (editor);
  settle ();
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (field (editor, "Name"))), ==, "Day before");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (field (editor, "When"))), ==,
                   "24h before");
  gtk_editable_set_text (GTK_EDITABLE (field (editor, "Send window")), "mon-fri 08:00-18:00");
  /* Only for one practitioner, chosen by name from what Cliniko lists. */
  editor_under_test = editor;
  g_assert_true (wait_until (f, practitioners_listed));
  adw_expander_row_set_expanded (ADW_EXPANDER_ROW (find_row_titled (editor, "Practitioners")), TRUE);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (find_widget (find_row_titled (editor, "Practitioners"),
                                                              GTK_TYPE_CHECK_BUTTON)), TRUE);
  screenshot_window (f, editor, "rule-editor.png");
  g_signal_emit_by_name (find_button (editor, "_Save"), "clicked");
  g_assert_true (wait_until (f, rule_window_saved));
}

static gboolean
sender_shown (Fixture *f)
{
  GtkWidget *stack = find_widget (GTK_WIDGET (view (f)), ADW_TYPE_VIEW_STACK);
  GtkWidget *page = adw_view_stack_get_child_by_name (ADW_VIEW_STACK (stack), "settings");

  return shows_text (page, "Sender address") && entry_has_text (page, "hello@harbour.example.com");
}

static gboolean
interval_saved (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "ListAudit", g_variant_new ("(xxu)", f->clinic,
                                                                   (gint64) 0, 50));
  g_autofree char *text = g_variant_print (reply, FALSE);

  return strstr (text, "clinic.scan-interval") != NULL;
}

/* The form says which field is wrong, by its title: SMTP needs a server. */
static gboolean
field_named (Fixture *f)
{
  return shows_text (GTK_WIDGET (f->window), "Check “Server”");
}

static guint
audit_total (Fixture *f)
{
  guint total = 0;
  gint64 before = 0;

  do
    {
      g_autoptr(GVariant) reply = call (f, "ListAudit", g_variant_new ("(xxu)", f->clinic,
                                                                        before, 500));
      g_autoptr(GVariant) entries = g_variant_get_child_value (reply, 0);

      total += g_variant_n_children (entries);
      g_variant_get_child (reply, 1, "x", &before);
    }
  while (before != 0);
  return total;
}

static gboolean
audit_first_page (Fixture *f)
{
  return mhf_clinic_view_get_n_audit_rows (view (f)) == 100 &&
         find_button (GTK_WIDGET (view (f)), "Show _Older") != NULL;
}

static gboolean
audit_all_pages (Fixture *f)
{
  return mhf_clinic_view_get_n_audit_rows (view (f)) == audit_total (f) &&
         audit_total (f) > 120 && find_button (GTK_WIDGET (view (f)), "Show _Older") == NULL;
}

static void
test_rules_templates_audit (Fixture       *f,
                            gconstpointer  data)
{
  GtkWidget *dialog;
  GtkWidget *toggle;

  sign_in (f, "olivia", OWNER_PASS);
  g_assert_true (wait_until (f, clinic_shown));
  g_assert_true (wait_until (f, admin_loaded));

  /* Rules: which Cliniko setting gates each, a dry run, enable/disable. */
  mhf_clinic_view_show_page (view (f), "rules");
  settle ();
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "reminder type in Cliniko includes Email"));
  screenshot (f, "rules.png");
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Dry Run"), "clicked");
  g_assert_true (wait_until (f, has_dialog));
  dialog = dialog_shown ();
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)),
                            "in the next 7 days"));
  close_dialog ();
  toggle = find_widget (GTK_WIDGET (view (f)), GTK_TYPE_SWITCH);
  g_assert_nonnull (toggle);
  gtk_switch_set_active (GTK_SWITCH (toggle), !gtk_switch_get_active (GTK_SWITCH (toggle)));
  g_assert_true (wait_until (f, rule_disabled));

  /* Templates: a preview with sample data. */
  mhf_clinic_view_show_page (view (f), "templates");
  settle ();
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Preview"), "clicked");
  g_assert_true (wait_until (f, has_dialog));
  dialog = dialog_shown ();
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)),
                            "Hi Alex"));
  close_dialog ();

  /* Audit: the chain checked, the rule change listed. */
  mhf_clinic_view_show_page (view (f), "audit");
  settle ();
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "Intact:"));
  g_assert_true (shows_text (GTK_WIDGET (view (f)), "rule.enable"));
  screenshot (f, "audit.png");

  /* More than a page: the older entries come a page at a time. */
  for (guint i = 0; i < 120; i++)
    g_variant_unref (call (f, "SetScanInterval", g_variant_new ("(xu)", f->clinic, 5 + i % 2)));
  mhf_clinic_view_refresh (view (f));
  g_assert_true (wait_until (f, audit_first_page));
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "Show _Older"), "clicked");
  g_assert_true (wait_until (f, audit_all_pages));

  /* Settings: the saved sender is shown, a wrong address named, the scan
   * interval saved (and audited). */
  mhf_clinic_view_show_page (view (f), "settings");
  g_assert_true (wait_until (f, sender_shown));
  screenshot (f, "settings.png");
  {
    GtkSpinButton *spin = GTK_SPIN_BUTTON (find_widget (GTK_WIDGET (view (f)),
                                                        GTK_TYPE_SPIN_BUTTON));

    gtk_spin_button_set_value (spin, 15);
    g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "Sa_ve"), "clicked");
    g_assert_true (wait_until (f, interval_saved));
  }
  /* The test clinic writes into a folder; a mail server without a name
   * is refused and named, and the folder setting is kept. */
  adw_combo_row_set_selected (ADW_COMBO_ROW (find_widget (GTK_WIDGET (view (f)),
                                                          ADW_TYPE_COMBO_ROW)), 0);
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Save Email"), "clicked");
  g_assert_true (wait_until (f, field_named));
  {
    g_autoptr(GVariant) reply = call (f, "GetEmailSettings", g_variant_new ("(x)", f->clinic));
    g_autofree char *text = g_variant_print (reply, FALSE);

    g_assert_nonnull (strstr (text, "'transport': <'file'>"));
  }
}

static gboolean
history_shown (Fixture *f)
{
  return view (f) != NULL && mhf_clinic_view_get_n_history_rows (view (f)) > 0;
}

static gboolean
skipped_listed (Fixture *f)
{
  return shows_text (GTK_WIDGET (view (f)), "Skipped —");
}

static void
test_staff_sees_no_owner_controls (Fixture       *f,
                                   gconstpointer  data)
{
  /* A receptionist: can cancel, cannot export or retry. */
  g_variant_unref (call (f, "AddUser", g_variant_new ("(sss)", "sam", "Sam Staff", STAFF_PASS)));
  g_variant_unref (call (f, "SetRole", g_variant_new ("(sxs)", "sam", f->clinic, "staff")));

  sign_in (f, "sam", STAFF_PASS);
  g_assert_true (wait_until (f, clinic_shown));
  mhf_clinic_view_show_page (view (f), "history");
  g_assert_true (wait_until (f, history_shown));
  settle ();
  g_assert_null (find_button (GTK_WIDGET (view (f)), "_Export"));
  mhf_clinic_view_show_page (view (f), "outbox");
  settle ();
  g_assert_nonnull (find_button (GTK_WIDGET (view (f)), "_Cancel"));
  /* Skipped messages: a manager could plan them again, staff cannot. */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (find_widget (GTK_WIDGET (view (f)),
                                                          GTK_TYPE_DROP_DOWN)), 3);
  g_assert_true (wait_until (f, skipped_listed));
  settle ();
  g_assert_null (find_button (GTK_WIDGET (view (f)), "_Retry"));

  /* No Rules, Templates or Audit pages at all. */
  {
    AdwViewStack *stack = ADW_VIEW_STACK (find_widget (GTK_WIDGET (view (f)),
                                                       ADW_TYPE_VIEW_STACK));

    g_assert_null (adw_view_stack_get_child_by_name (stack, "rules"));
    g_assert_null (adw_view_stack_get_child_by_name (stack, "audit"));
    g_assert_nonnull (adw_view_stack_get_child_by_name (stack, "history"));
  }
}

static gboolean
no_clinic_shown (Fixture *f)
{
  return g_strcmp0 (mhf_window_get_visible_page_name (f->window), "no-clinic") == 0;
}

/* A button by its accessible name, e.g. "Remove person: rory". */
static GtkWidget *
find_labelled_button (GtkWidget  *widget,
                      const char *name)
{
  if (GTK_IS_BUTTON (widget) && gtk_widget_get_mapped (widget))
    {
      GValue value = G_VALUE_INIT;
      gboolean match = FALSE;

      /* GTK 4.8 has no getter for accessible properties; the tooltip
       * names the action and the row names the person. */
      g_value_init (&value, G_TYPE_STRING);
      g_object_get_property (G_OBJECT (widget), "tooltip-text", &value);
      if (g_value_get_string (&value) != NULL &&
          g_str_has_prefix (name, g_value_get_string (&value)))
        {
          GtkWidget *row = gtk_widget_get_ancestor (widget, ADW_TYPE_ACTION_ROW);

          match = row != NULL &&
                  g_str_has_suffix (name, adw_action_row_get_subtitle (ADW_ACTION_ROW (row)));
        }
      g_value_unset (&value);
      if (match)
        return widget;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_labelled_button (child, name);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static gboolean
rory_listed (Fixture *f)
{
  return find_row_titled (GTK_WIDGET (view (f)), "Rory Reception") != NULL;
}

/* ---- settings: people, Cliniko key, the clinic itself ----------------------------------------- */

static const char *wanted_users;

static gboolean
users_are (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "ListUsers", NULL);
  g_autofree char *text = g_variant_print (reply, FALSE);

  return dialog_shown () == NULL && g_pattern_match_simple (wanted_users, text);
}

static void
wait_for_users (Fixture    *f,
                const char *pattern)
{
  wanted_users = pattern;
  if (!wait_until (f, users_are))
    {
      g_autoptr(GVariant) reply = call (f, "ListUsers", NULL);
      g_autofree char *text = g_variant_print (reply, FALSE);

      g_error ("ListUsers never matched %s: %s", pattern, text);
    }
}

static gboolean
people_listed (Fixture *f)
{
  return shows_text (GTK_WIDGET (view (f)), "Olivia Owner");
}

static gboolean
key_removed (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "GetClinikoStatus", g_variant_new ("(x)", f->clinic));
  g_autofree char *text = g_variant_print (reply, FALSE);

  return dialog_shown () == NULL && strstr (text, "'key-state': <'none'>") != NULL;
}

static gint64 bay_clinic;
static gint64 wanted_clinic;

static gboolean
clinic_is_shown (Fixture *f)
{
  return g_strcmp0 (mhf_window_get_visible_page_name (f->window), "clinic") == 0 &&
         view (f) != NULL && mhf_clinic_view_get_clinic (view (f)) == wanted_clinic;
}

static gboolean
licence_refused (Fixture *f)
{
  return shows_text (GTK_WIDGET (f->window), "That licence is not valid");
}

static gboolean
licence_shown (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "GetStatus", NULL);
  g_autofree char *text = g_variant_print (reply, FALSE);

  return strstr (text, "'state': <'active'>") != NULL &&
         shows_text (GTK_WIDGET (view (f)), "clinic-5 plan, until") &&
         entry_has_text (GTK_WIDGET (view (f)), "") /* the pasted licence cleared */;
}

static gboolean
retention_saved (Fixture *f)
{
  g_autoptr(GVariant) reply = call (f, "ListClinics", NULL);
  g_autofree char *text = g_variant_print (reply, FALSE);

  return strstr (text, "'retention-days': <uint32 90>") != NULL;
}

static void
respond (const char *response)
{
  GtkWidget *dialog = dialog_shown ();

  g_assert_nonnull (dialog);
  /* As a click does: the response, then the dialog closes. */
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), response);
  gtk_window_close (GTK_WINDOW (dialog));
}

/* An owner adds a person with a role, changes the role, removes them;
 * disconnects Cliniko; and removes the clinic, which leaves the window
 * asking for one. Every step is checked in the agent. */
static void
test_settings_owner (Fixture       *f,
                     gconstpointer  data)
{
  GtkWidget *dialog;
  GtkWidget *dropdown = NULL;
  GtkDropDown *switcher;

  bay_clinic = call_x (f, "AddClinic", g_variant_new ("(s)", "Bay Clinic"));
  sign_in (f, "olivia", OWNER_PASS);
  /* Two clinics: the first by name opens, and the header switches. */
  wanted_clinic = bay_clinic;
  g_assert_true (wait_until (f, clinic_is_shown));
  switcher = GTK_DROP_DOWN (find_widget (GTK_WIDGET (f->window), GTK_TYPE_DROP_DOWN));
  g_assert_nonnull (switcher);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (switcher)));
  g_assert_cmpuint (g_list_model_get_n_items (gtk_drop_down_get_model (switcher)), ==, 2);
  g_assert_cmpuint (gtk_drop_down_get_selected (switcher), ==, 0);
  gtk_drop_down_set_selected (switcher, 1);
  wanted_clinic = f->clinic;
  g_assert_true (wait_until (f, clinic_is_shown));
  g_assert_true (wait_until (f, clinic_shown));

  mhf_clinic_view_show_page (view (f), "settings");
  g_assert_true (wait_until (f, people_listed));
  screenshot_widget (find_widget (GTK_WIDGET (view (f)), MHF_TYPE_USERS_GROUP),
                     "settings-people.png");

  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Add Person"), "clicked");
  g_assert_true (wait_until (f, has_dialog));
  dialog = dialog_shown ();
  gtk_editable_set_text (GTK_EDITABLE (field (dialog, "User name")), "rory");
  gtk_editable_set_text (GTK_EDITABLE (field (dialog, "Full name")), "Rory Reception");
  gtk_editable_set_text (GTK_EDITABLE (field (dialog, "First passphrase")), "front desk phrase 1");
  respond ("ok");
  wait_for_users (f, "*'Rory Reception'>, 'roles': <{*'staff'}>, 'username': <'rory'>*");

  /* The role drop-down of that person's row. */
  {
    g_autofree char *text = NULL;

    g_assert_true (wait_until (f, rory_listed));
    dropdown = find_widget (find_row_titled (GTK_WIDGET (view (f)), "Rory Reception"),
                            GTK_TYPE_DROP_DOWN);
    g_assert_nonnull (dropdown);
    gtk_drop_down_set_selected (GTK_DROP_DOWN (dropdown), 1);
    wait_for_users (f, "*'Rory Reception'>, 'roles': <{*'manager'}>, 'username': <'rory'>*");
    text = g_strdup_printf ("Remove person: rory");
    g_signal_emit_by_name (find_labelled_button (GTK_WIDGET (view (f)), text), "clicked");
  }
  g_assert_true (wait_until (f, has_dialog));
  respond ("ok");
  wait_for_users (f, "*");
  {
    g_autoptr(GVariant) reply = call (f, "ListUsers", NULL);
    g_autofree char *text = g_variant_print (reply, FALSE);

    g_assert_null (strstr (text, "rory"));
  }

  /* The retention period, saved and shown by the agent. */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (find_widget (find_row_titled (GTK_WIDGET (view (f)),
                                                                            "Keep history for (days)"),
                                                           GTK_TYPE_SPIN_BUTTON)), 90);
  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "Save _Period"), "clicked");
  g_assert_true (wait_until (f, retention_saved));

  /* A licence: a damaged one refused, a valid one shown with its plan. */
  {
    g_autofree char *token = mhf_test_licence_token ("clinic-5", 5,
                                                     g_get_real_time () + (gint64) 365 * 86400 * G_USEC_PER_SEC,
                                                     FALSE);
    g_autofree char *damaged = g_strdup (token);

    damaged[strlen (damaged) - 3] = damaged[strlen (damaged) - 3] == 'A' ? 'B' : 'A';
    gtk_editable_set_text (GTK_EDITABLE (field (GTK_WIDGET (view (f)), "New licence")), damaged);
    g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Add Licence"), "clicked");
    g_assert_true (wait_until (f, licence_refused));
    gtk_editable_set_text (GTK_EDITABLE (field (GTK_WIDGET (view (f)), "New licence")), token);
    g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Add Licence"), "clicked");
    g_assert_true (wait_until (f, licence_shown));
  }

  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Disconnect"), "clicked");
  g_assert_true (wait_until (f, has_dialog));
  respond ("remove-key");
  g_assert_true (wait_until (f, key_removed));

  g_signal_emit_by_name (find_button (GTK_WIDGET (view (f)), "_Remove Clinic"), "clicked");
  g_assert_true (wait_until (f, has_dialog));
  respond ("remove-clinic");
  /* The other clinic is what is left. */
  wanted_clinic = bay_clinic;
  g_assert_true (wait_until (f, clinic_is_shown));
  {
    g_autoptr(GVariant) reply = call (f, "ListClinics", NULL);

    g_assert_cmpuint (g_variant_n_children (g_variant_get_child_value (reply, 0)), ==, 1);
  }
}

/* ---- onboarding -------------------------------------------------------------------------- */

static const char *wanted_step;
static const char *wanted_text;

static GtkWidget *
onboarding (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();   /* transfer none */

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (MHF_IS_ONBOARDING (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return GTK_WIDGET (window);
    }
  return NULL;
}

static gboolean
at_step (Fixture *f)
{
  GtkWidget *o = onboarding ();

  return o != NULL && g_str_equal (mhf_onboarding_get_step (MHF_ONBOARDING (o)), wanted_step) &&
         (wanted_text == NULL || shows_text (o, wanted_text));
}

static void
wait_for_step (Fixture    *f,
               const char *step,
               const char *text)
{
  wanted_step = step;
  wanted_text = text;
  if (!wait_until (f, at_step))
    g_error ("The assistant did not reach “%s” showing “%s”", step, text ? text : "");
}

static void
press (const char *label)
{
  GtkButton *button = find_button (onboarding (), label);

  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (button)));
  g_signal_emit_by_name (button, "clicked");
}

static gboolean
onboarded_clinic_shown (Fixture *f)
{
  GtkWidget *stack;

  if (onboarding () != NULL || view (f) == NULL ||
      g_strcmp0 (mhf_window_get_visible_page_name (f->window), "clinic") != 0)
    return FALSE;
  stack = find_widget (GTK_WIDGET (view (f)), ADW_TYPE_VIEW_STACK);
  return mhf_clinic_view_get_clinic (view (f)) == f->clinic &&
         g_strcmp0 (adw_view_stack_get_visible_child_name (ADW_VIEW_STACK (stack)),
                    "overview") == 0;
}

/* The owner's first clinic, one step after another: a name, the key (a
 * wrong one first), the preset messages, email (a wrong sender named,
 * then skipped) and the first scan; then the clinic opens on its overview. */
static void
test_onboarding (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GVariant) rules = NULL;
  GtkWidget *o;

  sign_in (f, "olivia", OWNER_PASS);
  g_assert_true (wait_until (f, no_clinic_shown));
  g_signal_emit_by_name (find_button (GTK_WIDGET (f->window), "_Set Up a Clinic"), "clicked");
  wait_for_step (f, "name", NULL);
  o = onboarding ();

  press ("_Continue");
  wait_for_step (f, "name", "Give the clinic a name of 1 to 128 characters.");
  gtk_editable_set_text (GTK_EDITABLE (field (o, "Clinic name")), "Harbour Physio");
  press ("_Continue");
  wait_for_step (f, "cliniko", NULL);
  f->clinic = mhf_onboarding_get_clinic (MHF_ONBOARDING (o));
  g_assert_cmpint (f->clinic, >, 0);
  /* Test only: the fake Cliniko on loopback instead of the key's shard. */
  g_variant_unref (call (f, "SetClinikoBaseUrl",
                         g_variant_new ("(xs)", f->clinic, mhf_fake_cliniko_get_base_url (f->fake))));

  gtk_editable_set_text (GTK_EDITABLE (field (o, "Cliniko API key")), "MS0xLTAwMDAwMDAwMDAtenp6-au2");
  press ("_Connect");
  wait_for_step (f, "cliniko", "Cliniko refused this API key");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (field (o, "Cliniko API key"))), ==, "");
  gtk_editable_set_text (GTK_EDITABLE (field (o, "Cliniko API key")), KEY);
  press ("_Connect");
  wait_for_step (f, "cliniko", "Harbourside Health Group");
  g_assert_true (shows_text (o, "Key fingerprint"));
  screenshot_window (f, o, "onboarding-cliniko.png");

  press ("_Continue");
  wait_for_step (f, "messages", NULL);
  screenshot_window (f, o, "onboarding-messages.png");
  press ("_Create");
  wait_for_step (f, "email", NULL);
  g_assert_cmpuint (count_list (f, "ListTemplates"), ==, 2);
  g_assert_cmpuint (count_list (f, "ListRules"), ==, 2);

  gtk_editable_set_text (GTK_EDITABLE (field (o, "Server")), "smtp.example.com");
  gtk_editable_set_text (GTK_EDITABLE (field (o, "Sender address")), "not an address");
  press ("_Save and Continue");
  wait_for_step (f, "email", "Check “Sender address”");
  screenshot_window (f, o, "onboarding-email.png");
  press ("_Skip for Now");

  wait_for_step (f, "sync", NULL);
  press ("_Start");
  wait_for_step (f, "sync", "planned");
  screenshot_window (f, o, "onboarding-sync.png");
  g_assert_cmpfloat (gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (find_widget (o, GTK_TYPE_PROGRESS_BAR))), ==, 1.0);
  rules = call (f, "ListRules", g_variant_new ("(x)", f->clinic));
  {
    g_autofree char *text = g_variant_print (rules, FALSE);

    g_assert_null (strstr (text, "'enabled': <false>"));
  }
  g_assert_cmpuint (count_outbox (f, "planned"), >, 0);

  press ("_Open Clinic");
  g_assert_true (wait_until (f, onboarded_clinic_shown));
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("ADW_DISABLE_PORTAL", "1", TRUE);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  g_content_type_set_mime_dirs (NULL);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  gtk_init ();
  adw_init ();

  g_test_add ("/mhf/app/clinic/pages-and-cancel", Fixture, NULL, fixture_setup,
              test_pages_and_cancel, fixture_teardown);
  g_test_add ("/mhf/app/clinic/rules-templates-audit", Fixture, NULL, fixture_setup,
              test_rules_templates_audit, fixture_teardown);
  g_test_add ("/mhf/app/clinic/editors", Fixture, NULL, fixture_setup, test_editors,
              fixture_teardown);
  g_test_add ("/mhf/app/clinic/settings-owner", Fixture, NULL, fixture_setup, test_settings_owner,
              fixture_teardown);
  g_test_add ("/mhf/app/clinic/onboarding", Fixture, "bare", fixture_setup, test_onboarding,
              fixture_teardown);
  g_test_add ("/mhf/app/clinic/staff", Fixture, NULL, fixture_setup,
              test_staff_sees_no_owner_controls, fixture_teardown);

  return g_test_run ();
}
