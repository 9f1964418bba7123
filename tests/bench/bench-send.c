/* bench-send.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Issue 6's benchmark. Figures, not assertions: machines are noisy.
 *
 *  1. 1,000 messages composed with GMime and sent by the agent's own
 *     transport over one STARTTLS connection to a loopback aiosmtpd,
 *     beside Postfix's smtp-source -d against the same server in the same
 *     run: messages per second and the ratio (goal ≥ 0.8).
 *  2. Cliniko requests per message of the send path without write-back,
 *     through the real agent (file transport) on the large fixture
 *     (goal ≤ 0.05).
 */

#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "mhf-fake-cliniko.h"
#include "mhf-ipc-agent.h"
#include "mhf-mail-transport.h"
#include "mhf-mail.h"
#include "mhf-test-bus.h"

#define N_MESSAGES 1000
#define KEY        "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define PASS       "correct horse battery"

static void
done_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  *(gboolean *) user_data = TRUE;
}

static double
smtp_source_rate (guint port)
{
  g_autofree char *target = g_strdup_printf ("127.0.0.1:%u", port);
  g_autofree char *count = g_strdup_printf ("%d", N_MESSAGES);
  const char *path = "/usr/sbin/smtp-source";
  gint64 t0, t1;
  int status;

  if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    return 0;
  t0 = g_get_monotonic_time ();
  status = mhf_test_run (NULL, NULL, NULL, path, "-d", "-s", "1", "-l", "800", "-m", count,
                         "-f", "bench@example.com", "-t", "patient@example.org", target, NULL);
  t1 = g_get_monotonic_time ();
  return status == 0 ? N_MESSAGES / ((t1 - t0) / 1e6) : 0;
}

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Sends every job through the agent's transport; messages per second. */
static double
send_all (MhfMailSettings *settings,
          GPtrArray       *jobs,
          guint           *sent)
{
  gboolean done = FALSE;
  gint64 t0, t1;

  for (guint i = 0; i < jobs->len; i++)
    ((MhfMailJob *) g_ptr_array_index (jobs, i))->outcome = MHF_MAIL_OUTCOME_NONE;
  t0 = g_get_monotonic_time ();
  mhf_mail_send_async (settings, jobs, NULL, done_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  t1 = g_get_monotonic_time ();
  *sent = 0;
  for (guint i = 0; i < jobs->len; i++)
    *sent += ((MhfMailJob *) g_ptr_array_index (jobs, i))->outcome == MHF_MAIL_OUTCOME_SENT;
  return *sent / ((t1 - t0) / 1e6);
}

static int
bench_smtp (void)
{
  g_autofree char *server_py = g_test_build_filename (G_TEST_DIST, "mail", "smtp-server.py", NULL);
  g_autofree char *dir = g_dir_make_tmp ("mhf-bench-smtp-XXXXXX", NULL);
  g_autofree char *certs = g_build_filename (dir, "certs", NULL);
  g_autofree char *out = g_build_filename (dir, "received", NULL);
  g_autofree char *cert = g_build_filename (certs, "server.pem", NULL);
  g_autofree char *key = g_build_filename (certs, "server.key", NULL);
  g_autofree char *ca_path = g_build_filename (certs, "ca.pem", NULL);
  g_autofree char *port_line = NULL;
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_mail_job_free);
  g_autoptr(GError) error = NULL;
  MhfMailSettings settings = { 0, };
  guint sent = 0, sent_plain = 0, port;
  double ours, ours_plain, theirs;

  if (mhf_test_run (NULL, NULL, NULL, "/usr/bin/python3", server_py, "--certs", certs, NULL) != 0)
    return 1;
  /* STARTTLS offered but not required, so that smtp-source (no TLS) can
   * talk to the same server. */
  {
    g_autoptr(GSubprocessLauncher) launcher =
      g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);

    g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
    server = g_subprocess_launcher_spawn (launcher, &error, "/usr/bin/python3", server_py,
                                          "--out", out, "--cert", cert, "--key", key,
                                          "--tls-optional", NULL);
  }
  if (server == NULL)
    return 1;
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  port_line = g_data_input_stream_read_line (lines, NULL, NULL, NULL);
  port = port_line != NULL ? (guint) g_ascii_strtoull (port_line, NULL, 10) : 0;
  if (port == 0)
    return 1;

  for (guint i = 0; i < N_MESSAGES; i++)
    {
      g_autofree char *id = g_strdup_printf ("bench-%u@example.com", i);
      MhfMailParts parts = {
        .from_name = "Harbourside Reception",
        .from_address = "reception@harbourside.example.com",
        .to_address = "patient@example.org",
        .subject = "Reminder: Monday 5 October at 9:00 am",
        .text = "Hi Alex,\n\nThis is a reminder of your appointment with Dr Sam Example on "
                "Monday 5 October 2026 at 9:00 am (45 minutes).\n\nExample Physio\n"
                "1 Sample Street, Exampleton\n(00) 0000 0000\n",
        .message_id = id,
        .date = g_get_real_time (),
      };
      MhfMailJob *job = g_new0 (MhfMailJob, 1);

      job->envelope_from = g_strdup (parts.from_address);
      job->recipient = g_strdup (parts.to_address);
      job->message = mhf_mail_compose (&parts);
      job->message_id = g_strdup (id);
      g_ptr_array_add (jobs, job);
    }

  settings.transport = (char *) "smtp";
  settings.host = (char *) "127.0.0.1";
  settings.port = port;
  settings.security = (char *) "starttls";
  settings.timeout_seconds = 60;
  g_file_get_contents (ca_path, &settings.ca_pem, NULL, NULL);

  ours = send_all (&settings, jobs, &sent);
  /* smtp-source speaks no TLS: the like-for-like figure is plaintext, which
   * the agent allows to a loopback address. */
  settings.security = (char *) "none";
  ours_plain = send_all (&settings, jobs, &sent_plain);
  g_free (settings.ca_pem);
  theirs = smtp_source_rate (port);

  g_print ("SMTP: %u of %d messages over one STARTTLS connection: %.0f msg/s\n", sent,
           N_MESSAGES, ours);
  g_print ("SMTP: the same, plaintext on loopback: %.0f msg/s\n", ours_plain);
  if (theirs > 0)
    g_print ("SMTP: Postfix smtp-source -d -l 800 (plaintext) to the same server: %.0f msg/s; "
             "ratio STARTTLS/smtp-source %.2f, plaintext/smtp-source %.2f (goal ≥ 0.8)\n",
             theirs, ours / theirs, ours_plain / theirs);
  else
    g_print ("SMTP: smtp-source is not installed; no ratio\n");

  g_subprocess_send_signal (server, SIGTERM);
  g_subprocess_wait (server, NULL, NULL);
  return sent == N_MESSAGES && sent_plain == N_MESSAGES ? 0 : 1;
}

/* Delivery events so far: one per message gated and sent or skipped. */
static guint
count_events (MhfIpcAgent1 *proxy,
              gint64        clinic)
{
  guint n = 0;

  for (gint64 before_id = 0;;)
    {
      g_auto(GVariantDict) page = G_VARIANT_DICT_INIT (NULL);
      g_autoptr(GVariant) events = NULL;
      gint64 next = 0;

      g_variant_dict_insert (&page, "limit", "u", (guint32) 500);
      if (before_id > 0)
        g_variant_dict_insert (&page, "before", "x", before_id);
      if (!mhf_ipc_agent1_call_list_history_sync (proxy, clinic, g_variant_dict_end (&page),
                                                  &events, &next, NULL, NULL))
        return n;
      n += g_variant_n_children (events);
      if (next == 0)
        return n;
      before_id = next;
    }
}

static int
bench_requests (const char *fixture)
{
  static const char * const env[] = { "MHF_AGENT_CLINIKO_FAST_RETRY=1", NULL };
  g_autoptr(MhfFakeCliniko) fake = NULL;
  g_autoptr(MhfTestBus) bus = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GVariant) result = NULL;
  g_auto(GVariantDict) settings = G_VARIANT_DICT_INIT (NULL);
  g_auto(GVariantDict) rule = G_VARIANT_DICT_INIT (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *folder = g_dir_make_tmp ("mhf-bench-mail-XXXXXX", NULL);
  gint64 clinic = 0, template_id = 0, rule_id = 0, deadline;
  guint before, processed = 0;

  fake = mhf_fake_cliniko_new (fixture, &error);
  if (fake == NULL || !mhf_fake_cliniko_start (fake, &error))
    {
      g_printerr ("fake Cliniko: %s\n", error->message);
      return 1;
    }
  mhf_fake_cliniko_set_rate_limit (fake, 100000);
  bus = mhf_test_bus_new_full (MHF_TEST_BUS_KEYRING, env);
  if (mhf_test_bus_wait_for_state (bus, "ready", 30000) == NULL)
    return 1;
  proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (bus),
                                         G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                         AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), 300000);

  g_variant_dict_insert (&settings, "transport", "s", "file");
  g_variant_dict_insert (&settings, "folder", "s", folder);
  g_variant_dict_insert (&settings, "from-name", "s", "Bench");
  g_variant_dict_insert (&settings, "from-address", "s", "bench@example.com");
  g_variant_dict_insert (&settings, "write-back", "b", FALSE);
  if (!mhf_ipc_agent1_call_create_owner_sync (proxy, "olivia", "Olivia", PASS, NULL, &error) ||
      !mhf_ipc_agent1_call_add_clinic_sync (proxy, "Bench", &clinic, NULL, &error) ||
      !mhf_ipc_agent1_call_set_cliniko_base_url_sync (proxy, clinic,
                                                      mhf_fake_cliniko_get_base_url (fake),
                                                      NULL, &error) ||
      !mhf_ipc_agent1_call_set_cliniko_key_sync (proxy, clinic, KEY, &summary, NULL, &error) ||
      !mhf_ipc_agent1_call_add_template_sync (proxy, clinic, "T", "Reminder", "Hi "
                                              "{{ patient.first_name }}", "", &template_id,
                                              NULL, &error) ||
      !mhf_ipc_agent1_call_set_email_settings_sync (proxy, clinic, g_variant_dict_end (&settings),
                                                    NULL, &error))
    {
      g_printerr ("setting up: %s\n", error->message);
      return 1;
    }

  /* Every appointment of the next three days is due at once. */
  g_variant_dict_insert (&rule, "name", "s", "Reminder");
  g_variant_dict_insert (&rule, "kind", "s", "reminder");
  g_variant_dict_insert (&rule, "template", "x", template_id);
  g_variant_dict_insert (&rule, "timing", "s", "72h before");
  g_variant_dict_insert (&rule, "last-minute", "b", TRUE);
  if (!mhf_ipc_agent1_call_add_rule_sync (proxy, clinic, g_variant_dict_end (&rule), &rule_id,
                                          NULL, &error) ||
      !mhf_ipc_agent1_call_scan_now_sync (proxy, clinic, &result, NULL, &error))
    {
      g_printerr ("planning: %s\n", error->message);
      return 1;
    }

  /* Only the send path is counted: enabled after the horizon was read. */
  before = mhf_fake_cliniko_count_requests (fake, NULL, NULL);
  if (!mhf_ipc_agent1_call_set_rule_enabled_sync (proxy, clinic, rule_id, TRUE, NULL, &error))
    return 1;

  /* Until nothing due is left and the history stops growing. */
  deadline = g_get_monotonic_time () + 240 * G_USEC_PER_SEC;
  for (guint last = G_MAXUINT; g_get_monotonic_time () < deadline; )
    {
      g_usleep (500 * 1000);
      processed = count_events (proxy, clinic);
      if (processed > 0 && processed == last)
        break;
      last = processed;
    }

  {
    g_autoptr(GPtrArray) log = mhf_fake_cliniko_get_requests (fake);
    guint send_requests = 0;

    /* The send path asks by id lists; the scan that enabling starts does
     * not, and is left out. */
    for (guint i = before; i < log->len; i++)
      {
        MhfFakeRequest *request = g_ptr_array_index (log, i);

        for (guint q = 0; request->q != NULL && request->q[q] != NULL; q++)
          if (g_str_has_prefix (request->q[q], "id:=") ||
              g_str_has_prefix (request->q[q], "patient_id:="))
            {
              send_requests++;
              break;
            }
      }
    g_print ("Cliniko: %u requests for %u messages gated and sent or skipped: %.3f per message "
             "(goal ≤ 0.05)\n", send_requests, processed,
             processed > 0 ? (double) send_requests / processed : 0);
  }

  mhf_fake_cliniko_stop (fake);
  return 0;
}

static const char *fixture_path;

/* Inside a test case, so that the isolated HOME and XDG folders exist. */
static void
run_bench (void)
{
  if (bench_smtp () != 0 || bench_requests (fixture_path) != 0)
    g_test_fail ();
}

int
main (int   argc,
      char *argv[])
{
  /* Its own HOME and XDG folders: the agent's database is the bench's. */
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  if (argc < 2)
    {
      g_printerr ("usage: %s LARGE-CLINIC.json\n", argv[0]);
      return 2;
    }
  fixture_path = argv[1];
  g_test_add_func ("/bench/run", run_bench);
  return g_test_run ();
}
