/* test-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The main window against a real agent on a private bus: the page it shows
 * must follow what the agent reports, live.
 */

#include "config.h"

#include "mhf-test-bus.h"
#include "mhf-onboarding.h"
#include "mhf-window.h"

#include <adwaita.h>

/* Agent activation, keyring unlocking and database creation all happen
 * inside this; a slow CI machine needs the margin.
 */
#define WAIT_TIMEOUT_MS 20000

#define AGENT_INTERFACE "com.myhealthfollowup.MyHealthFollowup.Agent1"
#define OWNER_USERNAME "olivia"
#define OWNER_DISPLAY_NAME "Olivia Owner"
#define OWNER_PASSPHRASE "correct horse battery"

/* How a test case's bus and agent are set up before the window exists. */
typedef struct
{
  MhfTestBusFlags     flags;
  /* Create the owner (on a connection of its own, so the window is not
   * signed in by it) before the window connects.
   */
  gboolean            with_owner;
  /* With the owner, set this idle timeout in the agent's minutes; 0 leaves
   * the default.
   */
  guint               idle_timeout;
  const char * const *agent_env;
} Config;

static const Config config_keyring = { MHF_TEST_BUS_KEYRING, FALSE, 0, NULL };
static const Config config_owner = { MHF_TEST_BUS_KEYRING, TRUE, 0, NULL };
static const Config config_no_agent = { MHF_TEST_BUS_NO_AGENT, FALSE, 0, NULL };
static const Config config_no_keyring = { MHF_TEST_BUS_NONE, FALSE, 0, NULL };
/* One of the agent's minutes lasts a second here. */
static const char * const fast_minutes[] = { "MHF_AGENT_MINUTE_SECONDS=1", NULL };
static const Config config_owner_idle = { MHF_TEST_BUS_KEYRING, TRUE, 1, fast_minutes };

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

/* The page called @name in the window's stack, shown or not. */
static GtkWidget *
find_page (GtkWidget  *widget,
           const char *name)
{
  if (GTK_IS_STACK (widget))
    {
      GtkWidget *page = gtk_stack_get_child_by_name (GTK_STACK (widget), name);

      if (page != NULL)
        return page;
    }

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_page (child, name);

      if (found != NULL)
        return found;
    }

  return NULL;
}

/* The entry row titled @title inside @widget. */
static GtkWidget *
find_row (GtkWidget  *widget,
          const char *title)
{
  if (ADW_IS_ENTRY_ROW (widget) &&
      g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0)
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_row (child, title);

      if (found != NULL)
        return found;
    }

  return NULL;
}

/* The button labelled @label inside @widget. */
static GtkWidget *
find_button (GtkWidget  *widget,
             const char *label)
{
  if (GTK_IS_BUTTON (widget) &&
      g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_button (child, label);

      if (found != NULL)
        return found;
    }

  return NULL;
}

static GtkWidget *
page_row (Fixture    *fixture,
          const char *page_name,
          const char *title)
{
  GtkWidget *page = find_page (GTK_WIDGET (fixture->window), page_name);
  GtkWidget *row;

  g_assert_nonnull (page);
  row = find_row (page, title);
  g_assert_nonnull (row);

  return row;
}

static GtkWidget *
page_button (Fixture    *fixture,
             const char *page_name,
             const char *label)
{
  GtkWidget *page = find_page (GTK_WIDGET (fixture->window), page_name);
  GtkWidget *button;

  g_assert_nonnull (page);
  button = find_button (page, label);
  g_assert_nonnull (button);

  return button;
}

static void
set_row_text (Fixture    *fixture,
              const char *page_name,
              const char *title,
              const char *text)
{
  gtk_editable_set_text (GTK_EDITABLE (page_row (fixture, page_name, title)), text);
}

static const char *
row_text (Fixture    *fixture,
          const char *page_name,
          const char *title)
{
  return gtk_editable_get_text (GTK_EDITABLE (page_row (fixture, page_name, title)));
}

static void
on_button_clicked_cb (GtkButton *button,
                      gboolean  *clicked)
{
  *clicked = TRUE;
}

static gboolean
flag_set (Fixture       *fixture,
          gconstpointer  data)
{
  return *(const gboolean *) data;
}

/* Activates @button as the keyboard would, and waits for its "clicked",
 * which GtkButton emits only after a short press animation.
 */
static void
click (Fixture   *fixture,
       GtkWidget *button)
{
  gboolean clicked = FALSE;
  gulong handler;

  g_assert_true (gtk_widget_is_sensitive (button));
  handler = g_signal_connect (button, "clicked", G_CALLBACK (on_button_clicked_cb), &clicked);
  g_assert_true (gtk_widget_activate (button));
  g_assert_true (wait_until (fixture, flag_set, &clicked, WAIT_TIMEOUT_MS));
  g_signal_handler_disconnect (button, handler);
}

static gboolean
client_signed_in (Fixture       *fixture,
                  gconstpointer  data)
{
  return mhf_agent_client_get_signed_in (fixture->client) == GPOINTER_TO_INT (data);
}

static gboolean
page_shows_text (Fixture       *fixture,
                 gconstpointer  data)
{
  GtkWidget *page = find_page (GTK_WIDGET (fixture->window), "sign-in");

  return widget_shows_text (page, data);
}

/* Signs in through the sign-in page, as a user would. */
static void
sign_in_through_page (Fixture    *fixture,
                      const char *passphrase)
{
  GtkWidget *button;

  assert_page_seen (fixture, "sign-in");
  set_row_text (fixture, "sign-in", "Username", OWNER_USERNAME);
  set_row_text (fixture, "sign-in", "Passphrase", passphrase);
  button = page_button (fixture, "sign-in", "_Sign In");
  click (fixture, button);
}

static GVariant *
call_agent (GDBusConnection *connection,
            const char      *method,
            GVariant        *parameters)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  reply = g_dbus_connection_call_sync (connection, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                       AGENT_INTERFACE, method, parameters, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
  g_assert_no_error (error);

  return reply;
}

/* Creates the owner from a connection of its own, which then leaves the
 * bus, ending that session. The window's connection stays signed out.
 */
static void
create_owner_elsewhere (MhfTestBus *bus,
                        guint       idle_timeout)
{
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_TIMEOUT_MS);
  g_assert_nonnull (status);

  connection =
    g_dbus_connection_new_for_address_sync (mhf_test_bus_get_address (bus),
                                            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                            NULL, NULL, &error);
  g_assert_no_error (error);

  reply = call_agent (connection, "CreateOwner",
                      g_variant_new ("(sss)", OWNER_USERNAME, OWNER_DISPLAY_NAME,
                                     OWNER_PASSPHRASE));
  if (idle_timeout > 0)
    {
      g_clear_pointer (&reply, g_variant_unref);
      reply = call_agent (connection, "SetIdleTimeout", g_variant_new ("(u)", idle_timeout));
    }

  g_dbus_connection_close_sync (connection, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  const Config *config = data;

  fixture->pages_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fixture->bus = mhf_test_bus_new_full (config->flags, config->agent_env);
  if (config->with_owner)
    create_owner_elsewhere (fixture->bus, config->idle_timeout);
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

  sign_in_through_page (fixture, OWNER_PASSPHRASE);
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

  sign_in_through_page (fixture, OWNER_PASSPHRASE);
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

  /* Sessions do not survive the agent: a new one asks to sign in again. */
  assert_page_seen (fixture, "sign-in");
  g_assert_false (mhf_agent_client_get_signed_in (fixture->client));
  forget_pages (fixture);
  sign_in_through_page (fixture, OWNER_PASSPHRASE);
  assert_page_seen (fixture, "ready");
  g_assert_true (row_shows_value (GTK_WIDGET (fixture->window), "Version", PACKAGE_VERSION));
}

static void
test_window_first_run (Fixture       *fixture,
                       gconstpointer  data)
{
  GtkWidget *button;

  assert_page_seen (fixture, "create-owner");
  g_assert_false (g_hash_table_contains (fixture->pages_seen, "ready"));
  g_assert_false (g_hash_table_contains (fixture->pages_seen, "sign-in"));
  g_assert_true (mhf_agent_client_get_first_run (fixture->client));
  g_assert_false (mhf_agent_client_get_signed_in (fixture->client));

  set_row_text (fixture, "create-owner", "Username", OWNER_USERNAME);
  set_row_text (fixture, "create-owner", "Display Name", OWNER_DISPLAY_NAME);
  button = page_button (fixture, "create-owner", "_Create Owner");

  /* Checked before the agent is asked: too short, then not the same. */
  set_row_text (fixture, "create-owner", "Passphrase", "short");
  set_row_text (fixture, "create-owner", "Confirm Passphrase", "short");
  click (fixture, button);
  g_assert_true (widget_shows_text (find_page (GTK_WIDGET (fixture->window), "create-owner"),
                                    "The passphrase must have at least 10 characters."));
  g_assert_cmpstr (row_text (fixture, "create-owner", "Passphrase"), ==, "");
  g_assert_cmpstr (row_text (fixture, "create-owner", "Confirm Passphrase"), ==, "");

  set_row_text (fixture, "create-owner", "Passphrase", OWNER_PASSPHRASE);
  set_row_text (fixture, "create-owner", "Confirm Passphrase", "correct horse battery!");
  click (fixture, button);
  g_assert_true (widget_shows_text (find_page (GTK_WIDGET (fixture->window), "create-owner"),
                                    "The two passphrases are not the same."));
  g_assert_cmpstr (row_text (fixture, "create-owner", "Passphrase"), ==, "");
  g_assert_true (mhf_agent_client_get_first_run (fixture->client));

  set_row_text (fixture, "create-owner", "Passphrase", OWNER_PASSPHRASE);
  set_row_text (fixture, "create-owner", "Confirm Passphrase", OWNER_PASSPHRASE);
  forget_pages (fixture);
  click (fixture, button);
  g_assert_cmpstr (row_text (fixture, "create-owner", "Passphrase"), ==, "");
  g_assert_cmpstr (row_text (fixture, "create-owner", "Confirm Passphrase"), ==, "");

  assert_page_seen (fixture, "ready");
  g_assert_true (mhf_agent_client_get_signed_in (fixture->client));
  g_assert_false (mhf_agent_client_get_first_run (fixture->client));
  g_assert_cmpstr (mhf_agent_client_get_username (fixture->client), ==, OWNER_USERNAME);
  g_assert_cmpstr (mhf_agent_client_get_display_name (fixture->client), ==, OWNER_DISPLAY_NAME);
  g_assert_false (g_hash_table_contains (fixture->pages_seen, "sign-in"));
}

static void
test_window_sign_in (Fixture       *fixture,
                     gconstpointer  data)
{
  const char *failed = "The username or passphrase is not right.";

  assert_page_seen (fixture, "sign-in");
  g_assert_false (g_hash_table_contains (fixture->pages_seen, "create-owner"));
  g_assert_false (mhf_agent_client_get_first_run (fixture->client));

  /* The agent's health is in view before anyone signs in. */
  {
    GtkLabel *health = GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (fixture->window),
                                                                 MHF_TYPE_WINDOW,
                                                                 "sign_in_status_label"));
    g_autofree char *expected = g_strdup_printf ("version %s", PACKAGE_VERSION);

    g_assert_nonnull (strstr (gtk_label_get_text (health), "Background agent: Ready"));
    g_assert_nonnull (strstr (gtk_label_get_text (health), expected));
  }

  /* A wrong passphrase: the page stays, says so, and forgets the passphrase. */
  sign_in_through_page (fixture, "not the passphrase");
  g_assert_cmpstr (row_text (fixture, "sign-in", "Passphrase"), ==, "");
  if (!wait_until (fixture, page_shows_text, failed, WAIT_TIMEOUT_MS))
    g_error ("The sign-in page never said \"%s\"", failed);
  g_assert_cmpstr (mhf_window_get_visible_page_name (fixture->window), ==, "sign-in");
  g_assert_false (mhf_agent_client_get_signed_in (fixture->client));
  g_assert_cmpstr (row_text (fixture, "sign-in", "Passphrase"), ==, "");
  g_assert_cmpstr (row_text (fixture, "sign-in", "Username"), ==, OWNER_USERNAME);

  /* The right one. */
  forget_pages (fixture);
  sign_in_through_page (fixture, OWNER_PASSPHRASE);
  g_assert_cmpstr (row_text (fixture, "sign-in", "Passphrase"), ==, "");
  assert_page_seen (fixture, "ready");
  g_assert_true (mhf_agent_client_get_signed_in (fixture->client));
  g_assert_cmpstr (mhf_agent_client_get_display_name (fixture->client), ==, OWNER_DISPLAY_NAME);
  g_assert_false (page_shows_text (fixture, failed));
}

static GtkWidget *
find_widget_of_type (GtkWidget *widget,
                     GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget_of_type (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* An owner without a clinic is asked for one; adding it opens the
 * clinic's pages. */
static GtkWidget *onboarding;

static gboolean
onboarding_shown (Fixture       *fixture,
                  gconstpointer  data)
{
  GListModel *toplevels = gtk_window_get_toplevels ();   /* transfer none */

  onboarding = NULL;
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (MHF_IS_ONBOARDING (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
        onboarding = GTK_WIDGET (window);
    }
  return onboarding != NULL;
}

static gboolean
widget_has_row (Fixture       *fixture,
                gconstpointer  data)
{
  GtkWidget *row = find_row (onboarding, data);

  return row != NULL && gtk_widget_get_mapped (row);
}

static void
test_window_add_first_clinic (Fixture       *fixture,
                              gconstpointer  data)
{
  assert_page_seen (fixture, "sign-in");
  sign_in_through_page (fixture, OWNER_PASSPHRASE);
  assert_page_seen (fixture, "no-clinic");

  click (fixture, page_button (fixture, "no-clinic", "_Set Up a Clinic…"));
  if (!wait_until (fixture, onboarding_shown, NULL, WAIT_TIMEOUT_MS))
    g_error ("The assistant did not open");
  gtk_editable_set_text (GTK_EDITABLE (find_row (onboarding, "Clinic name")), "Harbour Physio");
  click (fixture, find_button (onboarding, "_Continue"));
  if (!wait_until (fixture, widget_has_row, "Cliniko API key", WAIT_TIMEOUT_MS))
    g_error ("The assistant did not go on to Cliniko");

  /* Closed part-way: the clinic exists and opens on its settings, to
   * connect it to Cliniko there. */
  g_signal_emit_by_name (find_button (onboarding, "Finish _Later"), "clicked");   /* gone after */
  assert_page_seen (fixture, "clinic");
  {
    GtkWidget *stack = find_widget_of_type (GTK_WIDGET (fixture->window), ADW_TYPE_VIEW_STACK);

    g_assert_nonnull (stack);
    g_assert_cmpstr (adw_view_stack_get_visible_child_name (ADW_VIEW_STACK (stack)), ==,
                     "settings");
  }
}

static void
on_session_ended_cb (MhfAgentClient *client,
                     const char     *reason,
                     char          **out_reason)
{
  g_free (*out_reason);
  *out_reason = g_strdup (reason);
}

static void
test_window_idle_timeout (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *reason = NULL;

  g_signal_connect (fixture->client, "session-ended",
                    G_CALLBACK (on_session_ended_cb), &reason);

  sign_in_through_page (fixture, OWNER_PASSPHRASE);
  if (!wait_until (fixture, client_signed_in, GINT_TO_POINTER (TRUE), WAIT_TIMEOUT_MS))
    g_error ("Timed out signing in");
  g_assert_cmpstr (mhf_window_get_visible_page_name (fixture->window), ==, "ready");

  /* A minute is a second here; without calls the session ends after it. */
  forget_pages (fixture);
  if (!wait_until (fixture, client_signed_in, GINT_TO_POINTER (FALSE), 10000))
    g_error ("The session did not end after the idle timeout");
  g_assert_cmpstr (reason, ==, "idle-timeout");
  assert_page_seen (fixture, "sign-in");
  g_assert_cmpstr (mhf_window_get_visible_page_name (fixture->window), ==, "sign-in");

  g_signal_handlers_disconnect_by_func (fixture->client, on_session_ended_cb, &reason);
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

  g_test_add ("/mhf/app/window/ready", Fixture, &config_owner,
              fixture_set_up, test_window_ready, fixture_tear_down);
  g_test_add ("/mhf/app/window/unreachable", Fixture, &config_no_agent,
              fixture_set_up, test_window_unreachable, fixture_tear_down);
  g_test_add ("/mhf/app/window/keyring-unavailable", Fixture, &config_no_keyring,
              fixture_set_up, test_window_keyring_unavailable, fixture_tear_down);
  g_test_add ("/mhf/app/window/live-update", Fixture, &config_owner,
              fixture_set_up, test_window_live_update, fixture_tear_down);
  g_test_add ("/mhf/app/window/first-run", Fixture, &config_keyring,
              fixture_set_up, test_window_first_run, fixture_tear_down);
  g_test_add ("/mhf/app/window/sign-in", Fixture, &config_owner,
              fixture_set_up, test_window_sign_in, fixture_tear_down);
  g_test_add ("/mhf/app/window/add-first-clinic", Fixture, &config_owner,
              fixture_set_up, test_window_add_first_clinic, fixture_tear_down);
  g_test_add ("/mhf/app/window/idle-timeout", Fixture, &config_owner_idle,
              fixture_set_up, test_window_idle_timeout, fixture_tear_down);

  return g_test_run ();
}
