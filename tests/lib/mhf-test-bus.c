/* mhf-test-bus.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "mhf-test-bus.h"

#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>

#define SECRETS_BUS_NAME "org.freedesktop.secrets"
/* A throwaway password for a throwaway keyring in a per-test folder. */
#define TEST_KEYRING_PASSWORD "mhf-test-keyring"

struct _MhfTestBus
{
  GSubprocess     *daemon;
  char            *address;
  char            *config_path;
  char            *log_path;
  GStrv            extra_env;
  GDBusConnection *connection;
  char            *data_dir;
};

const char *
mhf_test_bus_get_agent_path (void)
{
  return MHF_TEST_AGENT_PATH;
}

const char *
mhf_test_bus_get_ctl_path (void)
{
  return MHF_TEST_CTL_PATH;
}

static void
name_appeared_cb (GDBusConnection *connection,
                  const char      *name,
                  const char      *owner,
                  gpointer         user_data)
{
  int *state = user_data;

  *state = 1;
}

static void
name_vanished_cb (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  int *state = user_data;

  *state = 0;
}

static gboolean
timeout_cb (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
mhf_test_bus_wait_for_name (MhfTestBus *self,
                            const char *name,
                            gboolean    owned,
                            guint       timeout_ms)
{
  int state = -1;
  gboolean timed_out = FALSE;
  guint watch_id;
  guint timeout_id;

  watch_id = g_bus_watch_name_on_connection (self->connection, name,
                                             G_BUS_NAME_WATCHER_FLAGS_NONE,
                                             name_appeared_cb, name_vanished_cb,
                                             &state, NULL);
  timeout_id = g_timeout_add (timeout_ms, timeout_cb, &timed_out);

  while (!timed_out && state != (owned ? 1 : 0))
    g_main_context_iteration (NULL, TRUE);

  g_bus_unwatch_name (watch_id);
  if (!timed_out)
    g_source_remove (timeout_id);

  return state == (owned ? 1 : 0);
}

void
mhf_test_bus_start_keyring (MhfTestBus *self,
                            gboolean    locked)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  const char *runtime_dir = g_get_user_runtime_dir ();

  /* gnome-keyring keeps its control socket there and insists on 0700. */
  g_mkdir_with_parents (runtime_dir, 0700);
  g_chmod (runtime_dir, 0700);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                self->address, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  /* The daemon is not ours to debug: fatal warnings and malloc checks
   * meant for our code would only make it fall over. */
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  g_subprocess_launcher_unsetenv (launcher, "MALLOC_CHECK_");
  g_subprocess_launcher_unsetenv (launcher, "MALLOC_PERTURB_");
  /* The daemon forks itself away and the first process exits after
   * printing its environment, once the keyring is unlocked. */
  daemon = g_subprocess_launcher_spawn (launcher, &error,
                                        "gnome-keyring-daemon", "--unlock",
                                        "--components=secrets", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (daemon, TEST_KEYRING_PASSWORD, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (daemon));

  g_assert_true (mhf_test_bus_wait_for_name (self, SECRETS_BUS_NAME, TRUE, 20000));

  /* The daemon owns its name a moment before the unlocked login keyring
   * becomes the default collection; wait for that, as a session's login
   * would have. */
  for (guint i = 0; i < 200; i++)
    {
      g_autoptr(GVariant) reply = NULL;
      const char *path = "/";

      reply = g_dbus_connection_call_sync (self->connection, SECRETS_BUS_NAME,
                                           "/org/freedesktop/secrets",
                                           "org.freedesktop.Secret.Service", "ReadAlias",
                                           g_variant_new ("(s)", "default"),
                                           G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE,
                                           -1, NULL, NULL);
      if (reply != NULL)
        g_variant_get (reply, "(&o)", &path);
      if (g_strcmp0 (path, "/") != 0)
        break;
      g_usleep (50 * 1000);
    }

  if (locked)
    {
      g_autoptr(SecretService) service = NULL;
      g_autoptr(SecretCollection) collection = NULL;
      GList *objects;

      service = secret_service_get_sync (SECRET_SERVICE_NONE, NULL, &error);
      g_assert_no_error (error);
      collection = secret_collection_for_alias_sync (service, SECRET_COLLECTION_DEFAULT,
                                                     SECRET_COLLECTION_NONE, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (collection);

      objects = g_list_append (NULL, collection);
      secret_service_lock_sync (service, objects, NULL, NULL, &error);
      g_list_free (objects);
      g_assert_no_error (error);
      g_assert_true (secret_collection_get_locked (collection));

      /* Drop libsecret's shared proxy: it is bound to this bus. */
      g_clear_object (&collection);
      g_clear_object (&service);
      secret_service_disconnect ();
    }
}

typedef struct
{
  char     *line;
  gboolean  done;
} ReadLine;

static void
read_line_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadLine *rl = user_data;

  rl->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result,
                                                        NULL, NULL);
  rl->done = TRUE;
}

/* A test that crashes must not leave its bus (and the keyring and agent
 * on it) behind. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* GTestDBus does the same, but in GLib 2.74 it sometimes waits forever
 * for the daemon's address; this reads it from a GSubprocess pipe, with a
 * time limit. */
static void
start_daemon (MhfTestBus *self,
              gboolean    with_agent)
{
  g_autoptr(GString) config = g_string_new (NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  ReadLine rl = { NULL, FALSE };
  gboolean timed_out = FALSE;
  guint timeout_id;
  int fd;

  if (self->config_path == NULL)
    {
      fd = g_file_open_tmp ("mhf-test-bus-XXXXXX.conf", &self->config_path, &error);
      g_assert_no_error (error);
      g_close (fd, NULL);

      g_string_append (config,
                       "<busconfig>\n"
                       "  <type>session</type>\n"
                       "  <listen>unix:tmpdir=/tmp</listen>\n");
      if (with_agent)
        g_string_append_printf (config, "  <servicedir>%s</servicedir>\n", MHF_TEST_SERVICES_DIR);
      g_string_append (config,
                       "  <policy context=\"default\">\n"
                       "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                       "    <allow eavesdrop=\"true\"/>\n"
                       "    <allow own=\"*\"/>\n"
                       "  </policy>\n"
                       "</busconfig>\n");
      g_file_set_contents (self->config_path, config->str, -1, &error);
      g_assert_no_error (error);
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  /* Everything the bus starts (the agent above all) logs to a file the
   * test can search, e.g. for data that must never be logged. */
  if (self->log_path == NULL)
    self->log_path = g_build_filename (g_get_user_cache_dir (), "bus-services.log", NULL);
  g_subprocess_launcher_set_stderr_file_path (launcher, self->log_path);
  for (guint i = 0; self->extra_env != NULL && self->extra_env[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (self->extra_env[i], "=", 2);

      g_subprocess_launcher_setenv (launcher, pair[0], pair[1] ?: "", TRUE);
    }
  daemon = g_subprocess_launcher_spawn (launcher, &error,
                                        "dbus-daemon", "--nofork", "--print-address=1",
                                        "--config-file", self->config_path, NULL);
  g_assert_no_error (error);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, read_line_cb, &rl);
  timeout_id = g_timeout_add (10000, timeout_cb, &timed_out);
  while (!rl.done && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  if (!rl.done)
    {
      g_test_message ("dbus-daemon did not print its address in time; starting another");
      g_subprocess_force_exit (daemon);
      while (!rl.done)
        g_main_context_iteration (NULL, TRUE);
      g_free (rl.line);
      return;
    }
  g_source_remove (timeout_id);

  if (rl.line == NULL || *rl.line == '\0')
    {
      g_free (rl.line);
      return;
    }

  self->address = g_strstrip (rl.line);
  self->daemon = g_steal_pointer (&daemon);
}

/**
 * mhf_test_bus_new:
 *
 * Starts a private bus for this test case and makes it the session bus of
 * this process (and of everything it spawns or the bus activates).
 */
MhfTestBus *
mhf_test_bus_new (MhfTestBusFlags flags)
{
  return mhf_test_bus_new_full (flags, NULL);
}

/**
 * mhf_test_bus_new_full:
 * @extra_env: (nullable): "NAME=value" strings for the bus and everything
 *   it starts (the agent), not for this process
 */
MhfTestBus *
mhf_test_bus_new_full (MhfTestBusFlags     flags,
                       const char * const *extra_env)
{
  MhfTestBus *self = g_new0 (MhfTestBus, 1);

  self->extra_env = g_strdupv ((char **) extra_env);
  g_autoptr(GError) error = NULL;
  const struct { const char *name; const char *value; } dirs[] = {
    { "HOME", g_get_home_dir () },
    { "XDG_DATA_HOME", g_get_user_data_dir () },
    { "XDG_CONFIG_HOME", g_get_user_config_dir () },
    { "XDG_CACHE_HOME", g_get_user_cache_dir () },
    { "XDG_STATE_HOME", g_get_user_state_dir () },
    { "XDG_RUNTIME_DIR", g_get_user_runtime_dir () },
  };

  /* G_TEST_OPTION_ISOLATE_DIRS gives each test case its own folders but
   * leaves the environment pointing at /dev/null; export them, so that the
   * bus, and the agent and keyring it starts, live in this test's folders. */
  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_mkdir_with_parents (dirs[i].value, 0700);
      g_setenv (dirs[i].name, dirs[i].value, TRUE);
    }
  g_chmod (g_get_user_runtime_dir (), 0700);

  /* Up to three tries: a daemon that does not say where it listens within
   * ten seconds is killed and replaced. */
  for (guint attempt = 0; attempt < 3 && self->address == NULL; attempt++)
    start_daemon (self, !(flags & MHF_TEST_BUS_NO_AGENT));
  g_assert_nonnull (self->address);
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", self->address, TRUE);

  self->connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (self->connection, FALSE);

  self->data_dir = g_build_filename (g_get_user_data_dir (), "myhealthfollowup", NULL);

  if (flags & (MHF_TEST_BUS_KEYRING | MHF_TEST_BUS_KEYRING_LOCKED))
    mhf_test_bus_start_keyring (self, (flags & MHF_TEST_BUS_KEYRING_LOCKED) != 0);

  return self;
}

GDBusConnection *
mhf_test_bus_get_connection (MhfTestBus *self)
{
  return self->connection;
}

const char *
mhf_test_bus_get_address (MhfTestBus *self)
{
  return self->address;
}

/**
 * mhf_test_bus_dup_log:
 *
 * Returns: (transfer full): everything the bus and the services it started
 *   wrote to stderr so far
 */
char *
mhf_test_bus_dup_log (MhfTestBus *self)
{
  char *contents = NULL;

  if (!g_file_get_contents (self->log_path, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

const char *
mhf_test_bus_get_data_dir (MhfTestBus *self)
{
  return self->data_dir;
}

/**
 * mhf_test_bus_stop_agent:
 *
 * Kills the agent, if one runs, and waits until its name has left the bus.
 */
void
mhf_test_bus_stop_agent (MhfTestBus *self)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 pid = 0;

  reply = g_dbus_connection_call_sync (self->connection,
                                       "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", AGENT_BUS_NAME),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE,
                                       -1, NULL, NULL);
  if (reply == NULL)
    return;

  g_variant_get (reply, "(u)", &pid);
  if (pid > 0)
    kill ((pid_t) pid, SIGKILL);

  g_assert_true (mhf_test_bus_wait_for_name (self, AGENT_BUS_NAME, FALSE, 10000));
}

typedef struct
{
  const char *state;
  GVariant   *status;
} WaitState;

static gboolean
status_has_state (GVariant   *status,
                  const char *state)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (status);
  const char *value = NULL;

  return g_variant_dict_lookup (dict, "state", "&s", &value) && g_strcmp0 (value, state) == 0;
}

static void
status_changed_signal_cb (GDBusConnection *connection,
                          const char      *sender,
                          const char      *path,
                          const char      *interface,
                          const char      *signal,
                          GVariant        *parameters,
                          gpointer         user_data)
{
  WaitState *wait = user_data;
  g_autoptr(GVariant) status = g_variant_get_child_value (parameters, 0);

  if (status_has_state (status, wait->state))
    {
      g_clear_pointer (&wait->status, g_variant_unref);
      wait->status = g_variant_ref (status);
    }
}

/**
 * mhf_test_bus_wait_for_state:
 * @state: the "state" value to wait for
 *
 * Calls GetStatus (activating the agent if needed) and waits for a status
 * whose "state" is @state, from the reply or a StatusChanged signal.
 *
 * Returns: (transfer full) (nullable): that status, or %NULL on timeout
 */
GVariant *
mhf_test_bus_wait_for_state (MhfTestBus *self,
                             const char *state,
                             guint       timeout_ms)
{
  WaitState wait = { state, NULL };
  gboolean timed_out = FALSE;
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint subscription;

  subscription = g_dbus_connection_signal_subscribe (self->connection, NULL,
                                                     "com.myhealthfollowup.MyHealthFollowup.Agent1",
                                                     "StatusChanged", AGENT_OBJECT_PATH, NULL,
                                                     G_DBUS_SIGNAL_FLAGS_NONE,
                                                     status_changed_signal_cb, &wait, NULL);

  while (wait.status == NULL && !timed_out)
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GError) error = NULL;
      guint timeout_id;

      reply = g_dbus_connection_call_sync (self->connection, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                           "com.myhealthfollowup.MyHealthFollowup.Agent1",
                                           "GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"),
                                           G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
      if (reply != NULL)
        {
          g_autoptr(GVariant) status = g_variant_get_child_value (reply, 0);

          if (status_has_state (status, state))
            {
              wait.status = g_variant_ref (status);
              break;
            }
        }

      /* Between polls, let StatusChanged arrive. */
      timeout_id = g_timeout_add (200, timeout_cb, &timed_out);
      while (!timed_out && wait.status == NULL)
        g_main_context_iteration (NULL, TRUE);
      if (!timed_out)
        g_source_remove (timeout_id);
      timed_out = g_get_monotonic_time () > deadline;
    }

  g_dbus_connection_signal_unsubscribe (self->connection, subscription);
  return wait.status;
}

void
mhf_test_bus_free (MhfTestBus *self)
{
  if (self == NULL)
    return;

  GDBusConnection *connection = self->connection;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  if (g_test_failed ())
    {
      g_autofree char *log = mhf_test_bus_dup_log (self);
      g_test_message ("What the agent and keyring logged:\n%s", log);
    }

  mhf_test_bus_stop_agent (self);
  secret_service_disconnect ();

  /* Watchers and proxies drop their last references from idle callbacks.
   * The session bus connection is a process-wide singleton: one left
   * alive would be handed to the next test case, so it must go. */
  g_object_add_weak_pointer (G_OBJECT (connection), (gpointer *) &connection);
  g_clear_object (&self->connection);
  while (connection != NULL && g_get_monotonic_time () < deadline)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (connection != NULL)
        g_usleep (10 * 1000);
    }
  if (connection != NULL)
    g_error ("A reference to the test's session bus connection was leaked");

  /* The bus goes, and with it every service it started (keyring, agent). */
  if (self->daemon != NULL)
    {
      g_subprocess_send_signal (self->daemon, SIGTERM);
      g_subprocess_wait (self->daemon, NULL, NULL);
    }
  g_clear_object (&self->daemon);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  if (self->config_path != NULL)
    g_unlink (self->config_path);
  g_clear_pointer (&self->config_path, g_free);
  g_clear_pointer (&self->log_path, g_free);
  g_clear_pointer (&self->extra_env, g_strfreev);
  g_clear_pointer (&self->address, g_free);
  g_clear_pointer (&self->data_dir, g_free);
  g_free (self);
}

/**
 * mhf_test_run_argv:
 * @stdin_text: (nullable): what the program reads on standard input
 * @out: (out) (optional): its standard output
 * @err: (out) (optional): its standard error
 *
 * Runs a program with this test's environment, and so on its private bus.
 * Standard input comes from a file, not a pipe: a program that exits
 * before reading it must not fail the run.
 *
 * Returns: its exit status, or -1 when it did not exit normally
 */
int
mhf_test_run_argv (const char         *stdin_text,
                   char              **out,
                   char              **err,
                   const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stdin_path = NULL;
  g_autofree char *out_buf = NULL;
  g_autofree char *err_buf = NULL;
  int fd;

  fd = g_file_open_tmp ("mhf-test-stdin-XXXXXX", &stdin_path, &error);
  g_assert_no_error (error);
  g_close (fd, NULL);
  g_file_set_contents (stdin_path, stdin_text != NULL ? stdin_text : "", -1, &error);
  g_assert_no_error (error);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_stdin_file_path (launcher, stdin_path);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);

  /* Always collect both streams: GLib 2.74 leaks a buffer it collected
   * for a caller that asked for none. */
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out_buf, &err_buf, &error);
  g_assert_no_error (error);
  g_unlink (stdin_path);

  if (out != NULL)
    *out = g_steal_pointer (&out_buf);
  if (err != NULL)
    *err = g_steal_pointer (&err_buf);

  return g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
}

static int
run_valist (const char *stdin_text,
            char      **out,
            char      **err,
            const char *program,
            const char *first,
            va_list     args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  if (program != NULL)
    g_ptr_array_add (argv, (char *) program);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  g_ptr_array_add (argv, NULL);

  return mhf_test_run_argv (stdin_text, out, err, (const char * const *) argv->pdata);
}

/* mhf_test_run_argv() with the program and its arguments listed. */
int
mhf_test_run (const char  *stdin_text,
              char       **out,
              char       **err,
              const char  *program,
              ...)
{
  va_list args;
  int status;

  va_start (args, program);
  status = run_valist (stdin_text, out, err, NULL, program, args);
  va_end (args);
  return status;
}

/* myhealthfollowupctl from the build tree, with these arguments. */
int
mhf_test_run_ctl (const char  *stdin_text,
                  char       **out,
                  char       **err,
                  const char  *first,
                  ...)
{
  va_list args;
  int status;

  va_start (args, first);
  status = run_valist (stdin_text, out, err, mhf_test_bus_get_ctl_path (), first, args);
  va_end (args);
  return status;
}
