/* bench-app.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Issue 7's benchmark, under a real X server (build-aux/dev bench runs it
 * in the private session). Figures, not assertions.
 *
 *  - Cold start: from creating the window to its first frame.
 *  - History with 1,000,000 events: the agent's first page over D-Bus, its
 *    daily counts for 30 and 90 days (GetDailyCounts), and in the app from opening the clinic's pages to the first rows of the
 *    History list; peak RSS of the app process (goal ≤ 300 ms, ≤ 150 MB).
 */

#include "config.h"

#include <adwaita.h>
#include <libsecret/secret.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/resource.h>

#include "mhf-clinic-view.h"
#include "mhf-keyring.h"
#include "mhf-test-bus.h"
#include "mhf-window.h"

#define N_EVENTS   1000000
#define INTERFACE  "com.myhealthfollowup.MyHealthFollowup.Agent1"
#define PASS       "correct horse battery"

static GVariant *
call (GDBusConnection *connection,
      const char      *method,
      GVariant        *parameters)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  reply = g_dbus_connection_call_sync (connection, AGENT_BUS_NAME, AGENT_OBJECT_PATH, INTERFACE,
                                       method, parameters, NULL, G_DBUS_CALL_FLAGS_NONE, 300000,
                                       NULL, &error);
  if (reply == NULL)
    g_error ("%s: %s", method, error->message);
  return reply;
}

static void
fill_history (MhfTestBus *bus)
{
  g_autofree char *hex = secret_password_lookup_sync (mhf_keyring_get_schema (), NULL, NULL,
                                                      "kind", MHF_SECRET_KIND_DATABASE_KEY,
                                                      "clinic", "none", NULL);
  g_autofree char *material = g_strdup_printf ("x'%s'", hex);
  g_autofree char *path = g_build_filename (mhf_test_bus_get_data_dir (bus), "agent.db", NULL);
  g_autofree char *sql = NULL;
  gint64 now = g_get_real_time ();
  char *message = NULL;
  sqlite3 *db = NULL;

  g_assert_nonnull (hex);
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  /* A year of history: one event every 30 s or so, mostly sent. */
  sql = g_strdup_printf ("BEGIN;"
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                         "                        WHERE i < %d)"
                         "INSERT INTO delivery_events (clinic_id, rule_id, template_name, at, state,"
                         "  reason, masked_recipient, recipient_hash, smtp_code)"
                         "SELECT 1, 1, 'Reminder', %" G_GINT64_FORMAT " - i * 31000000,"
                         "  CASE WHEN i %% 5 = 0 THEN 'skipped' ELSE 'sent' END,"
                         "  CASE WHEN i %% 5 = 0 THEN 'no-email' END, 'p***@e***.com',"
                         "  hex(randomblob(16)), CASE WHEN i %% 5 = 0 THEN NULL ELSE 250 END FROM n;"
                         "COMMIT;", N_EVENTS, now);
  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("filling the history: %s", message);
  sqlite3_close (db);
}

typedef struct
{
  gint64 started;
  gint64 first_frame;
} Frame;

static void
after_paint_cb (GdkFrameClock *clock,
                Frame         *frame)
{
  if (frame->first_frame == 0)
    frame->first_frame = g_get_monotonic_time ();
}

static void
realize_cb (GtkWidget *widget,
            Frame     *frame)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (widget);

  g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), frame);
}

static void
signed_in_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!mhf_agent_client_sign_in_finish (MHF_AGENT_CLIENT (object), result, &error))
    g_error ("signing in: %s", error->message);
  *(gboolean *) user_data = TRUE;
}

static GtkWidget *
find_view (GtkWidget *widget)
{
  if (MHF_IS_CLINIC_VIEW (widget))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_view (child);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
run_bench (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(GDBusConnection) setup = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MhfAgentClient) client = NULL;
  GtkWidget *view = NULL;
  MhfWindow *window;
  Frame frame = { 0, };
  struct rusage usage;
  gboolean signed_in = FALSE;
  gint64 t0, t1, deadline;

  g_assert_nonnull (mhf_test_bus_wait_for_state (bus, "ready", 30000));
  setup = g_dbus_connection_new_for_address_sync (mhf_test_bus_get_address (bus),
                                                  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                  NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_unref (call (setup, "CreateOwner", g_variant_new ("(sss)", "olivia", "Olivia", PASS)));
  g_variant_unref (call (setup, "AddClinic", g_variant_new ("(s)", "Bench")));

  t0 = g_get_monotonic_time ();
  fill_history (bus);
  t1 = g_get_monotonic_time ();
  g_print ("filled %d history events in %.1f s\n", N_EVENTS, (t1 - t0) / 1e6);

  /* The agent's own first page, over D-Bus. */
  t0 = g_get_monotonic_time ();
  reply = call (setup, "ListHistory", g_variant_new_parsed ("(%x, {'limit': <uint32 100>})",
                                                            (gint64) 1));
  t1 = g_get_monotonic_time ();
  g_print ("agent: first page of %d events over D-Bus: %.1f ms\n", N_EVENTS, (t1 - t0) / 1e3);
  g_clear_pointer (&reply, g_variant_unref);
  t0 = g_get_monotonic_time ();
  reply = call (setup, "ListHistory",
                g_variant_new_parsed ("(%x, {'state': <'skipped'>, 'limit': <uint32 100>})",
                                      (gint64) 1));
  t1 = g_get_monotonic_time ();
  g_print ("agent: first page of skipped events only: %.1f ms\n", (t1 - t0) / 1e3);

  /* The chart's numbers: a day at a time from the (clinic, time, state)
   * index, over a year of history (about 2,800 events a day). */
  for (guint i = 0; i < 2; i++)
    {
      static const guint32 days[] = { 30, 90 };

      g_clear_pointer (&reply, g_variant_unref);
      t0 = g_get_monotonic_time ();
      reply = call (setup, "GetDailyCounts", g_variant_new ("(xu)", (gint64) 1, days[i]));
      t1 = g_get_monotonic_time ();
      g_print ("agent: daily counts for %u days of %d events over D-Bus: %.1f ms\n", days[i],
               N_EVENTS, (t1 - t0) / 1e3);
    }

  /* The app: cold start to first frame, then to History's first rows. */
  client = mhf_agent_client_new ();
  frame.started = g_get_monotonic_time ();
  window = mhf_window_new (NULL, client);
  g_signal_connect (window, "realize", G_CALLBACK (realize_cb), &frame);
  gtk_window_present (GTK_WINDOW (window));
  for (deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
       frame.first_frame == 0 && g_get_monotonic_time () < deadline; )
    g_main_context_iteration (NULL, TRUE);
  g_print ("app: window created to first frame: %.0f ms\n",
           (frame.first_frame - frame.started) / 1e3);

  while (!mhf_agent_client_get_session_known (client))
    g_main_context_iteration (NULL, TRUE);
  mhf_agent_client_sign_in_async (client, "olivia", PASS, NULL, signed_in_cb, &signed_in);
  t0 = g_get_monotonic_time ();
  for (deadline = t0 + 60 * G_USEC_PER_SEC; g_get_monotonic_time () < deadline; )
    {
      g_main_context_iteration (NULL, TRUE);
      view = find_view (GTK_WIDGET (window));
      if (view != NULL && mhf_clinic_view_get_n_history_rows (MHF_CLINIC_VIEW (view)) > 0)
        break;
    }
  t1 = g_get_monotonic_time ();
  g_print ("app: sign-in to the clinic's pages with History's first %u of %d rows: %.0f ms "
           "(goal ≤ 300 ms for the first page)\n",
           view != NULL ? mhf_clinic_view_get_n_history_rows (MHF_CLINIC_VIEW (view)) : 0,
           N_EVENTS, (t1 - t0) / 1e3);

  getrusage (RUSAGE_SELF, &usage);
  {
    g_autofree char *status = NULL;
    const char *rss = NULL;

    g_file_get_contents ("/proc/self/status", &status, NULL, NULL);
    rss = status != NULL ? strstr (status, "VmRSS:") : NULL;
    g_print ("app: peak RSS %.1f MiB (this process also inserted the events; goal ≤ 150 MB); "
             "now %.*s\n", usage.ru_maxrss / 1024.0,
             rss != NULL ? (int) strcspn (rss, "\n") : 0, rss != NULL ? rss : "");
  }

  gtk_window_destroy (GTK_WINDOW (window));
  g_dbus_connection_close_sync (setup, NULL, NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("ADW_DISABLE_PORTAL", "1", TRUE);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  g_content_type_set_mime_dirs (NULL);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  if (g_getenv ("DISPLAY") == NULL)
    {
      g_print ("no X display: run it with build-aux/dev bench\n");
      return 77;   /* skipped, and reported so */
    }
  gtk_init ();
  adw_init ();
  g_test_add_func ("/bench/app", run_bench);
  return g_test_run ();
}
