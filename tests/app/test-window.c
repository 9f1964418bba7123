/* test-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The main window against a real agent on a private bus: the page it shows
 * must follow what the agent reports, live.
 */

#include "config.h"

#include "mhf-test-bus.h"
#include "mhf-window.h"

#include <adwaita.h>

/* Agent activation, keyring unlocking and database creation all happen
 * inside this; a slow CI machine needs the margin.
 */
#define WAIT_TIMEOUT_MS 20000

typedef struct
{
  MhfTestBus     *bus;
  MhfAgentClient *client;
  MhfWindow      *window;
  /* Every page the window showed since the last reset. An agent with
   * nothing to do may leave the bus soon after answering, so a test asks
   * whether a page was shown rather than whether it is still shown.
   */
  GHashTable     *pages_seen;
} Fixture;

typedef gboolean (*Predicate) (Fixture *fixture,
                               gconstpointer data);

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main context until @predicate holds or the time is up, so that
 * D-Bus replies, signals and frame clock ticks are all dispatched.
 */
static gboolean
wait_until (Fixture       *fixture,
            Predicate      predicate,
            gconstpointer  data,
            guint          timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint wake_id = g_timeout_add (50, wake_cb, NULL);
  gboolean result;

  while (!(result = predicate (fixture, data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (wake_id);

  return result;
}

static void
record_page (Fixture *fixture)
{
  const char *page = mhf_window_get_visible_page_name (fixture->window);

  if (page != NULL)
    g_hash_table_add (fixture->pages_seen, g_strdup (page));
}

/* Connected after the window's own handler, so the window has already
 * picked its page for the client's new state.
 */
static void
on_client_notify_cb (MhfAgentClient *client,
                     GParamSpec     *pspec,
                     Fixture        *fixture)
{
  record_page (fixture);
}

static gboolean
page_seen (Fixture       *fixture,
           gconstpointer  data)
{
  record_page (fixture);

  return g_hash_table_contains (fixture->pages_seen, data);
}

static void
assert_page_seen (Fixture    *fixture,
                  const char *page)
{
  if (!wait_until (fixture, page_seen, page, WAIT_TIMEOUT_MS))
    g_error ("Timed out waiting for page \"%s\"; the window shows \"%s\"",
             page, mhf_window_get_visible_page_name (fixture->window));
}

static void
forget_pages (Fixture *fixture)
{
  g_hash_table_remove_all (fixture->pages_seen);
}

static gboolean
widget_shows_text (GtkWidget  *widget,
                   const char *text)
{
  if (GTK_IS_LABEL (widget) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (widget)), text) == 0)
    return TRUE;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      if (widget_shows_text (child, text))
        return TRUE;
    }

  return FALSE;
}

/* Whether the row titled @title shows @value, as a user would read it. */
static gboolean
row_shows_value (GtkWidget  *widget,
                 const char *title,
                 const char *value)
{
  if (ADW_IS_ACTION_ROW (widget) &&
      g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0)
    return widget_shows_text (widget, value);

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      if (row_shows_value (child, title, value))
        return TRUE;
    }

  return FALSE;
}

/* The "Try Again" button of the page on screen. */
static GtkWidget *
find_visible_try_again (GtkWidget *widget)
{
  if (GTK_IS_BUTTON (widget) &&
      gtk_widget_get_mapped (widget) &&
      g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), "_Try Again") == 0)
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_visible_try_again (child);

      if (found != NULL)
        return found;
    }

  return NULL;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  MhfTestBusFlags flags = GPOINTER_TO_UINT (data);

  fixture->pages_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fixture->bus = mhf_test_bus_new (flags);
  fixture->client = mhf_agent_client_new ();
  /* GTK owns windows; the fixture keeps its own reference until tear-down. */
  fixture->window = g_object_ref (mhf_window_new (NULL, fixture->client));
  g_signal_connect (fixture->client, "notify", G_CALLBACK (on_client_notify_cb), fixture);
  record_page (fixture);
  gtk_window_present (GTK_WINDOW (fixture->window));

  g_assert_true (mhf_window_get_client (fixture->window) == fixture->client);
}

static gboolean
objects_gone (Fixture       *fixture,
              gconstpointer  data)
{
  return fixture->window == NULL && fixture->client == NULL;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  /* Everything holding the session bus must be gone before the bus goes
   * down; pending replies still hold references until they are dispatched.
   */
  g_signal_handlers_disconnect_by_data (fixture->client, fixture);
  g_object_add_weak_pointer (G_OBJECT (fixture->window), (gpointer *) &fixture->window);
  g_object_add_weak_pointer (G_OBJECT (fixture->client), (gpointer *) &fixture->client);
  gtk_window_destroy (GTK_WINDOW (fixture->window));
  g_object_unref (fixture->window);
  g_object_unref (fixture->client);

  g_assert_true (wait_until (fixture, objects_gone, NULL, WAIT_TIMEOUT_MS));

  g_clear_pointer (&fixture->bus, mhf_test_bus_free);
  g_clear_pointer (&fixture->pages_seen, g_hash_table_unref);
}

static void
test_window_ready (Fixture       *fixture,
                   gconstpointer  data)
{
  GtkWidget *window = GTK_WIDGET (fixture->window);

  assert_page_seen (fixture, "ready");

  /* The rows keep the last status even if the agent has gone idle since. */
  g_assert_cmpstr (mhf_agent_client_get_version (fixture->client), ==, PACKAGE_VERSION);
  g_assert_true (row_shows_value (window, "Version", PACKAGE_VERSION));
  g_assert_true (row_shows_value (window, "Status", "Ready"));
  g_assert_true (row_shows_value (window, "Keyring", "Unlocked"));
  g_assert_true (row_shows_value (window, "Database", "Open"));
  g_assert_true (row_shows_value (window, "Data folder",
                                  mhf_agent_client_get_data_directory (fixture->client)));
}

static void
test_window_unreachable (Fixture       *fixture,
                         gconstpointer  data)
{
  assert_page_seen (fixture, "unreachable");

  g_assert_false (mhf_agent_client_get_reachable (fixture->client));
  g_assert_null (mhf_agent_client_get_status (fixture->client));
  g_assert_nonnull (find_visible_try_again (GTK_WIDGET (fixture->window)));
}

static void
test_window_keyring_unavailable (Fixture       *fixture,
                                 gconstpointer  data)
{
  assert_page_seen (fixture, "keyring-unavailable");

  g_assert_false (g_hash_table_contains (fixture->pages_seen, "ready"));
  g_assert_cmpint (mhf_agent_client_get_agent_state (fixture->client), ==,
                   MHF_AGENT_STATE_KEYRING_UNAVAILABLE);
  g_assert_cmpint (mhf_agent_client_get_keyring_state (fixture->client), ==,
                   MHF_KEYRING_STATE_UNAVAILABLE);
}

static void
test_window_live_update (Fixture       *fixture,
                         gconstpointer  data)
{
  GtkWidget *button;

  assert_page_seen (fixture, "ready");

  /* The agent vanishing from the bus is news enough; no call is made. */
  forget_pages (fixture);
  mhf_test_bus_stop_agent (fixture->bus);
  assert_page_seen (fixture, "unreachable");
  g_assert_cmpstr (mhf_window_get_visible_page_name (fixture->window), ==, "unreachable");
  g_assert_false (mhf_agent_client_get_reachable (fixture->client));

  /* Pressing the button activates the agent again. */
  button = find_visible_try_again (GTK_WIDGET (fixture->window));
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_sensitive (button));
  forget_pages (fixture);
  g_assert_true (gtk_widget_activate (button));

  assert_page_seen (fixture, "ready");
  g_assert_true (row_shows_value (GTK_WIDGET (fixture->window), "Version", PACKAGE_VERSION));
}

int
main (int   argc,
      char *argv[])
{
  /* libadwaita would otherwise reach for the settings portal on whatever
   * session bus exists before the first test bus is up.
   */
  g_setenv ("ADW_DISABLE_PORTAL", "1", TRUE);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");

  /* Icons are SVG, and gdk-pixbuf needs the system's MIME database to
   * recognise them; isolation would hide it (see g_content_type_set_mime_dirs()).
   */
  g_content_type_set_mime_dirs (NULL);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  gtk_init ();
  adw_init ();

  g_test_add ("/mhf/app/window/ready", Fixture,
              GUINT_TO_POINTER (MHF_TEST_BUS_KEYRING),
              fixture_set_up, test_window_ready, fixture_tear_down);
  g_test_add ("/mhf/app/window/unreachable", Fixture,
              GUINT_TO_POINTER (MHF_TEST_BUS_NO_AGENT),
              fixture_set_up, test_window_unreachable, fixture_tear_down);
  g_test_add ("/mhf/app/window/keyring-unavailable", Fixture,
              GUINT_TO_POINTER (MHF_TEST_BUS_NONE),
              fixture_set_up, test_window_keyring_unavailable, fixture_tear_down);
  g_test_add ("/mhf/app/window/live-update", Fixture,
              GUINT_TO_POINTER (MHF_TEST_BUS_KEYRING),
              fixture_set_up, test_window_live_update, fixture_tear_down);

  return g_test_run ();
}
