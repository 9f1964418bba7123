/* test-smtp.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Sending over SMTP to a real server on loopback (aiosmtpd, STARTTLS with
 * a test CA, AUTH): a test email and a batch accepted and parsed back;
 * STARTTLS enforced and an untrusted certificate refused, never falling
 * back to plaintext; a refused login pausing the clinic after one
 * attempt; 4xx retried then sent; 5xx failed with the server's code; and
 * the agent killed in the middle of a batch leaving rows "interrupted"
 * and no duplicate Message-ID at the server.
 */

#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "clinic-fixture.h"

#define FROM_ADDRESS "reception@harbourside.example.com"
#define SMTP_USER    "harbourside"
#define SMTP_PASS    "s3cret smtp pass"

static const char * const agent_env[] = {
  "G_MESSAGES_DEBUG=all",
  "MHF_AGENT_CLINIKO_FAST_RETRY=1",
  /* Retry back-off in seconds rather than minutes. */
  "MHF_AGENT_MINUTE_SECONDS=1",
  NULL
};

typedef struct
{
  char        *dir;
  char        *certs;
  char        *out;
  GSubprocess *server;
  guint        port;
} Smtp;

static char *
script (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "mail", name, NULL);
}

/* A test that fails must not leave the server behind (holding the test
 * runner's output open). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static Smtp *
smtp_start (const char *first_arg,
            ...)
{
  g_autofree char *server_py = script ("smtp-server.py");
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  Smtp *smtp = g_new0 (Smtp, 1);
  va_list args;

  smtp->dir = g_dir_make_tmp ("mhf-smtp-XXXXXX", &error);
  g_assert_no_error (error);
  smtp->certs = g_build_filename (smtp->dir, "certs", NULL);
  smtp->out = g_build_filename (smtp->dir, "received", NULL);
  g_assert_cmpint (mhf_test_run (NULL, NULL, NULL, "/usr/bin/python3", server_py, "--certs",
                                 smtp->certs, NULL), ==, 0);

  g_ptr_array_add (argv, g_strdup ("/usr/bin/python3"));
  g_ptr_array_add (argv, g_strdup (server_py));
  g_ptr_array_add (argv, g_strdup ("--out"));
  g_ptr_array_add (argv, g_strdup (smtp->out));
  g_ptr_array_add (argv, g_strdup ("--cert"));
  g_ptr_array_add (argv, g_build_filename (smtp->certs, "server.pem", NULL));
  g_ptr_array_add (argv, g_strdup ("--key"));
  g_ptr_array_add (argv, g_build_filename (smtp->certs, "server.key", NULL));
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (args);
  g_ptr_array_add (argv, NULL);

  {
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);

    g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
    smtp->server = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata,
                                                 &error);
  }
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (smtp->server));
  port = g_data_input_stream_read_line (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (port);
  smtp->port = (guint) g_ascii_strtoull (port, NULL, 10);
  g_assert_cmpuint (smtp->port, >, 0);
  return smtp;
}

static void
smtp_stop (Smtp *smtp)
{
  g_subprocess_send_signal (smtp->server, SIGTERM);
  g_subprocess_wait (smtp->server, NULL, NULL);
  g_object_unref (smtp->server);
  g_free (smtp->certs);
  g_free (smtp->out);
  g_free (smtp->dir);
  g_free (smtp);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Smtp, smtp_stop)

/* The server's events.log, or "" before the first event. */
static char *
smtp_events (Smtp *smtp)
{
  g_autofree char *path = g_build_filename (smtp->out, "events.log", NULL);
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static guint
count_lines (const char *text,
             const char *prefix)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    n += g_str_has_prefix (lines[i], prefix);
  return n;
}

static void
set_smtp (Fixture    *f,
          Smtp       *smtp,
          const char *password,
          gboolean    trust_ca)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *ca_path = g_build_filename (smtp->certs, "ca.pem", NULL);
  g_autofree char *ca = NULL;

  g_assert_true (g_file_get_contents (ca_path, &ca, NULL, NULL));
  g_variant_dict_insert (&dict, "transport", "s", "smtp");
  g_variant_dict_insert (&dict, "host", "s", "127.0.0.1");
  g_variant_dict_insert (&dict, "port", "u", (guint32) smtp->port);
  g_variant_dict_insert (&dict, "security", "s", "starttls");
  g_variant_dict_insert (&dict, "username", "s", SMTP_USER);
  g_variant_dict_insert (&dict, "password", "s", password);
  if (trust_ca)
    g_variant_dict_insert (&dict, "ca-pem", "s", ca);
  g_variant_dict_insert (&dict, "from-name", "s", "Harbourside Reception");
  g_variant_dict_insert (&dict, "from-address", "s", FROM_ADDRESS);
  g_variant_dict_insert (&dict, "write-back", "b", FALSE);
  call_ok (mhf_ipc_agent1_call_set_email_settings_sync (f->proxy, f->clinic,
                                                        g_variant_dict_end (&dict), NULL, &error),
           error);
}

static gint64
enable_due_reminders (Fixture *f)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_variant_dict_insert (&dict, "name", "s", "Reminder");
  g_variant_dict_insert (&dict, "kind", "s", "reminder");
  g_variant_dict_insert (&dict, "template", "x", f->template_id);
  g_variant_dict_insert (&dict, "timing", "s", "72h before");
  g_variant_dict_insert (&dict, "last-minute", "b", TRUE);
  g_variant_dict_insert (&dict, "latest-useful-minutes", "x", (gint64) 30);
  return enable_rule (f, g_variant_dict_end (&dict));
}

/* Waits until no row is in @state_a or @state_b; returns every row. */
static GVariant *
wait_until_none (Fixture    *f,
                 const char *state_a,
                 const char *state_b)
{
  gint64 deadline = g_get_monotonic_time () + 90 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(GVariant) all = outbox (f, NULL);
      gint64 now = g_get_real_time ();
      gboolean busy = FALSE;

      for (gsize i = 0; i < g_variant_n_children (all) && !busy; i++)
        {
          g_autoptr(GVariant) row = g_variant_get_child_value (all, i);
          const char *state = row_s (row, "state");

          busy = g_strcmp0 (state, state_a) == 0 || g_strcmp0 (state, state_b) == 0 ||
                 g_str_equal (state, "sending") ||
                 (g_str_equal (state, "planned") && row_x (row, "planned-at") <= now &&
                  g_strcmp0 (row_s (row, "reason"), "smtp-login-failed") != 0);
        }
      if (!busy)
        return g_steal_pointer (&all);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100 * 1000);
    }
}

static guint
count_state (GVariant   *rows,
             const char *state,
             const char *reason)
{
  guint n = 0;

  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);

      n += g_str_equal (row_s (row, "state"), state) &&
           (reason == NULL || g_str_equal (row_s (row, "reason"), reason));
    }
  return n;
}

static void
test_starttls_batch (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--auth", SMTP_USER ":" SMTP_PASS, NULL);
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *events = NULL;
  g_autofree char *parse_py = script ("parse-mail.py");
  g_autofree char *parsed = NULL;
  g_autofree char *printed = NULL;
  g_auto(GStrv) lines = NULL;
  const char *message_id = NULL;
  gboolean password_set = FALSE;
  guint sent;

  set_smtp (f, smtp, SMTP_PASS, TRUE);

  /* The password is kept, never shown. */
  call_ok (mhf_ipc_agent1_call_get_email_settings_sync (f->proxy, f->clinic, &settings, NULL,
                                                        &error), error);
  g_assert_true (g_variant_lookup (settings, "password-set", "b", &password_set));
  g_assert_true (password_set);
  printed = g_variant_print (settings, FALSE);
  g_assert_null (strstr (printed, SMTP_PASS));

  call_ok (mhf_ipc_agent1_call_send_test_email_sync (f->proxy, f->clinic, f->template_id,
                                                     "it.support@example.com", &result, NULL,
                                                     &error), error);
  g_assert_true (g_variant_lookup (result, "message-id", "&s", &message_id));

  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_none (f, NULL, NULL);
  sent = count_state (rows, "sent", NULL);
  g_assert_cmpuint (sent, >, 0);

  /* Over TLS, logged in once per batch, every Message-ID once. */
  events = smtp_events (smtp);
  g_assert_cmpuint (count_lines (events, "data 250"), ==, sent + 1);
  g_assert_cmpuint (count_lines (events, "auth refused"), ==, 0);
  lines = g_strsplit (events, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) words = g_strsplit (lines[i], " ", -1);

      if (!g_str_has_prefix (lines[i], "data 250"))
        continue;
      g_assert_cmpstr (words[3], ==, "tls");
      g_assert_true (g_hash_table_add (ids, g_strdup (words[2])));
    }

  /* Read back by Python: UTF-8 text, our headers. */
  g_assert_cmpint (mhf_test_run (NULL, &parsed, NULL, "/usr/bin/python3", parse_py, smtp->out,
                                 NULL), ==, 0);
  g_assert_nonnull (strstr (parsed, "\"auto_submitted\": \"auto-generated\""));
  g_assert_nonnull (strstr (parsed, "it.support@example.com"));
  g_assert_null (strstr (parsed, "\"crlf\": false"));
}

static void
test_untrusted_certificate (Fixture       *f,
                            gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--auth", SMTP_USER ":" SMTP_PASS, NULL);
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *events = NULL;

  /* The test CA is not trusted: no message, no plaintext fallback. */
  set_smtp (f, smtp, SMTP_PASS, FALSE);
  g_assert_false (mhf_ipc_agent1_call_send_test_email_sync (f->proxy, f->clinic, f->template_id,
                                                            "it.support@example.com", &result,
                                                            NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_SMTP_FAILED);

  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_none (f, NULL, NULL);
  g_assert_cmpuint (count_state (rows, "failed", "certificate-untrusted"), >, 0);
  g_assert_cmpuint (count_state (rows, "sent", NULL), ==, 0);
  events = smtp_events (smtp);
  g_assert_cmpuint (count_lines (events, "data"), ==, 0);
  g_assert_cmpuint (count_lines (events, "auth"), ==, 0);
}

static void
test_starttls_required (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--no-tls", NULL);
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *events = NULL;

  /* A server that offers no STARTTLS gets nothing. */
  set_smtp (f, smtp, SMTP_PASS, TRUE);
  g_assert_false (mhf_ipc_agent1_call_send_test_email_sync (f->proxy, f->clinic, f->template_id,
                                                            "it.support@example.com", &result,
                                                            NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_SMTP_FAILED);
  events = smtp_events (smtp);
  g_assert_cmpuint (count_lines (events, "data"), ==, 0);
}

static void
test_login_refused_pauses (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--auth", SMTP_USER ":" SMTP_PASS, NULL);
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *events = NULL;
  const char *problem = NULL;
  gint64 deadline;

  set_smtp (f, smtp, "the wrong password", TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));

  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  for (;;)
    {
      g_clear_pointer (&settings, g_variant_unref);
      call_ok (mhf_ipc_agent1_call_get_email_settings_sync (f->proxy, f->clinic, &settings, NULL,
                                                            &error), error);
      g_assert_true (g_variant_lookup (settings, "problem", "&s", &problem));
      if (*problem != '\0')
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100 * 1000);
    }
  g_assert_cmpstr (problem, ==, "SMTP login failed");

  /* Paused: one refused login, nothing sent, nothing failed; the rows
   * wait for new settings. Seconds are minutes here: no storm follows. */
  g_usleep (3 * G_USEC_PER_SEC);
  events = smtp_events (smtp);
  g_assert_cmpuint (count_lines (events, "auth refused"), ==, 1);
  g_assert_cmpuint (count_lines (events, "data"), ==, 0);
  rows = outbox (f, NULL);
  g_assert_cmpuint (count_state (rows, "sent", NULL), ==, 0);
  g_assert_cmpuint (count_state (rows, "failed", NULL), ==, 0);
  g_assert_cmpuint (count_state (rows, "planned", "smtp-login-failed"), >, 0);

  /* The right password resumes sending. */
  set_smtp (f, smtp, SMTP_PASS, TRUE);
  for (deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
       count_state (rows, "planned", "smtp-login-failed") > 0; )
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100 * 1000);
      g_clear_pointer (&rows, g_variant_unref);
      rows = outbox (f, NULL);
    }
  g_clear_pointer (&rows, g_variant_unref);
  rows = wait_until_none (f, "retry_wait", NULL);
  g_assert_cmpuint (count_state (rows, "sent", NULL), >, 0);
}

static void
test_temporary_then_sent (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--auth", SMTP_USER ":" SMTP_PASS, "--fail-first", "1", NULL);
  g_autoptr(GVariant) rows = NULL;
  g_autofree char *events = NULL;
  gboolean retried = FALSE;

  set_smtp (f, smtp, SMTP_PASS, TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));

  /* 451 for the first message: it waits (a "minute" is a second here),
   * then goes. */
  rows = wait_until_none (f, "retry_wait", NULL);
  g_assert_cmpuint (count_state (rows, "failed", NULL), ==, 0);
  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      guint32 attempts = 0;

      g_variant_lookup (row, "attempts", "u", &attempts);
      if (attempts == 2)
        {
          g_assert_cmpstr (row_s (row, "state"), ==, "sent");
          retried = TRUE;
        }
    }
  g_assert_true (retried);
  events = smtp_events (smtp);
  g_assert_cmpuint (count_lines (events, "rcpt 451"), ==, 1);
  g_assert_cmpuint (count_lines (events, "data 250"), ==, count_state (rows, "sent", NULL));
}

static void
test_permanent_failure (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--auth", SMTP_USER ":" SMTP_PASS,
                                     "--reject-domain", "example.net", NULL);
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GVariant) history = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 next = 0;

  set_smtp (f, smtp, SMTP_PASS, TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));
  rows = wait_until_none (f, "retry_wait", NULL);
  g_assert_cmpuint (count_state (rows, "failed", "smtp-rejected"), >, 0);

  call_ok (mhf_ipc_agent1_call_list_history_sync (f->proxy, f->clinic,
                                                  g_variant_new_parsed ("{'state': <'failed'>}"),
                                                  &history, &next, NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (history), >, 0);
  text = g_variant_print (history, FALSE);
  g_assert_nonnull (strstr (text, "'smtp-code': <uint32 550>"));
  g_assert_nonnull (strstr (text, "@e***.net"));
}

static void
test_killed_mid_batch (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(Smtp) smtp = smtp_start ("--auth", SMTP_USER ":" SMTP_PASS, "--data-delay", "0.5",
                                     NULL);
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *events = NULL;
  g_auto(GStrv) lines = NULL;
  gint64 deadline;

  set_smtp (f, smtp, SMTP_PASS, TRUE);
  enable_due_reminders (f);
  g_variant_unref (scan (f));

  /* Killed once the server has taken the first message. */
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autofree char *so_far = smtp_events (smtp);

      if (count_lines (so_far, "data 250") > 0)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20 * 1000);
    }
  mhf_test_bus_stop_agent (f->bus);

  g_clear_object (&f->proxy);
  g_assert_nonnull (mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS));
  f->proxy = new_proxy (f);
  sign_in (f);
  g_usleep (2 * G_USEC_PER_SEC);
  rows = wait_until_none (f, "retry_wait", NULL);

  /* The batch is "interrupted", never sent again on its own; the server
   * saw each Message-ID once. */
  g_assert_cmpuint (count_state (rows, "interrupted", "interrupted"), >, 0);
  events = smtp_events (smtp);
  lines = g_strsplit (events, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) words = g_strsplit (lines[i], " ", -1);

      if (g_str_has_prefix (lines[i], "data 250"))
        g_assert_true (g_hash_table_add (ids, g_strdup (words[2])));
    }
  g_assert_cmpuint (g_hash_table_size (ids), >, 0);
}

static void
test_settings_checked (Fixture       *f,
                       gconstpointer  data)
{
  static const struct { const char *key; const char *value; const char *field; } cases[] = {
    { "security", "none", "security:" },       /* plaintext to a remote host */
    { "from-address", "no-at-sign.example.net", "from-address:" },
    { "transport", "carrier-pigeon", "transport:" },
    { "ca-pem", "not a certificate", "ca-pem:" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
      g_autoptr(GError) error = NULL;

      g_variant_dict_insert (&dict, "transport", "s", "smtp");
      g_variant_dict_insert (&dict, "host", "s", "smtp.example.com");
      g_variant_dict_insert (&dict, "security", "s", "starttls");
      g_variant_dict_insert (&dict, "from-name", "s", "Harbourside");
      g_variant_dict_insert (&dict, "from-address", "s", FROM_ADDRESS);
      g_variant_dict_insert (&dict, cases[i].key, "s", cases[i].value);
      g_assert_false (mhf_ipc_agent1_call_set_email_settings_sync (f->proxy, f->clinic,
                                                                   g_variant_dict_end (&dict),
                                                                   NULL, &error));
      g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
      g_assert_true (g_str_has_prefix (error->message, cases[i].field) ||
                     strstr (error->message, cases[i].field) != NULL);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

#define ADD(path, func) \
  g_test_add (path, Fixture, agent_env, fixture_setup, func, fixture_teardown)

  ADD ("/smtp/starttls-batch", test_starttls_batch);
  ADD ("/smtp/untrusted-certificate", test_untrusted_certificate);
  ADD ("/smtp/starttls-required", test_starttls_required);
  ADD ("/smtp/login-refused-pauses", test_login_refused_pauses);
  ADD ("/smtp/temporary-then-sent", test_temporary_then_sent);
  ADD ("/smtp/permanent-failure", test_permanent_failure);
  ADD ("/smtp/killed-mid-batch", test_killed_mid_batch);
  ADD ("/smtp/settings-checked", test_settings_checked);

  return g_test_run ();
}
