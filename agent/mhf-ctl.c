/* mhf-ctl.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * myhealthfollowupctl: the command-line face of the agent's D-Bus
 * interface, for IT support and scripts. It is a client like the app: it
 * holds no secret and opens no database.
 *
 * Sessions are bound to the caller's bus connection, so every command that
 * needs one signs in for itself and its session ends when it exits.
 * Passphrases never come from the command line, where other users could
 * read them: they are typed at the terminal with echo off, or read from
 * standard input with --passphrase-stdin, and wiped after use.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "mhf-error.h"
#include "mhf-ipc-agent.h"
#include "mhf-status.h"

#define CTL_NAME "myhealthfollowupctl"

/* The agent takes at most 1024 characters, and UTF-8 needs at most four
 * bytes for each. */
#define PASSPHRASE_MAX_BYTES (1024 * 4)

#define AUDIT_DEFAULT_LIMIT 50
#define AUDIT_MAX_LIMIT     500

/* Exit codes, documented in the README. */
enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_NOT_READY = 3,
  EXIT_AUDIT_BROKEN = 4,
};

typedef struct _Verb Verb;

typedef struct
{
  /* Global options; --user and --passphrase-stdin are also accepted after
   * the command, where late_user catches the name. */
  char         *user;
  char         *late_user;
  gboolean      passphrase_stdin;

  /* The command being run. */
  const Verb   *verb;
  char         *verb_name;

  /* Owned, once connected. */
  MhfIpcAgent1 *proxy;
} Ctl;

typedef int (*VerbFunc) (Ctl   *ctl,
                         int    argc,
                         char **argv);

struct _Verb
{
  const char *name;
  const char *sub;      /* NULL for a one-word command */
  const char *args;     /* its positional arguments, for --help */
  VerbFunc    func;
  const char *summary;
};

static void
ctl_clear (Ctl *ctl)
{
  g_clear_pointer (&ctl->user, g_free);
  g_clear_pointer (&ctl->late_user, g_free);
  g_clear_pointer (&ctl->verb_name, g_free);
  g_clear_object (&ctl->proxy);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ctl, ctl_clear)

/* ---- passphrases ------------------------------------------------------------------ */

/* A passphrase: plain memory, wiped before it is freed. */
typedef char CtlSecret;

static void
ctl_secret_free (CtlSecret *secret)
{
  if (secret == NULL)
    return;

  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlSecret, ctl_secret_free)

/* While echo is off, a signal that ends the program must turn it back on,
 * or the user's shell is left typing blind. */
static int tty_guard_fd = -1;
static struct termios tty_guard_saved;
static const int tty_guard_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static struct sigaction tty_guard_previous[G_N_ELEMENTS (tty_guard_signals)];

static void
tty_guard_signal_handler (int signum)
{
  if (tty_guard_fd >= 0)
    tcsetattr (tty_guard_fd, TCSANOW, &tty_guard_saved);

  /* Die of the same signal once this handler returns. */
  signal (signum, SIG_DFL);
  raise (signum);
}

static void
tty_guard_begin (int                   fd,
                 const struct termios *saved)
{
  struct sigaction action;

  memset (&action, 0, sizeof action);
  action.sa_handler = tty_guard_signal_handler;
  sigemptyset (&action.sa_mask);

  tty_guard_saved = *saved;
  tty_guard_fd = fd;
  for (guint i = 0; i < G_N_ELEMENTS (tty_guard_signals); i++)
    sigaction (tty_guard_signals[i], &action, &tty_guard_previous[i]);
}

static void
tty_guard_end (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (tty_guard_signals); i++)
    sigaction (tty_guard_signals[i], &tty_guard_previous[i], NULL);
  tty_guard_fd = -1;
}

typedef enum
{
  LINE_OK,
  LINE_EOF,
  LINE_TOO_LONG,
  LINE_FAILED,
} LineResult;

/* Reads one line from @fd a byte at a time, so that nothing past the line
 * sits in a buffer (the next line may be another passphrase), with echo
 * off when @fd is a terminal. The newline, and a carriage return before
 * it, are dropped. */
static LineResult
read_secret_line (int         fd,
                  CtlSecret **out)
{
  g_autoptr(CtlSecret) buffer = g_malloc0 (PASSPHRASE_MAX_BYTES + 1);
  struct termios saved;
  gboolean hidden = FALSE;
  gboolean got_any = FALSE;
  LineResult result = LINE_OK;
  gsize len = 0;
  char c = 0;

  if (isatty (fd) && tcgetattr (fd, &saved) == 0)
    {
      struct termios quiet = saved;

      quiet.c_lflag &= ~(tcflag_t) (ECHO | ECHOE | ECHOK);
      quiet.c_lflag |= ECHONL;
      tty_guard_begin (fd, &saved);
      hidden = tcsetattr (fd, TCSAFLUSH, &quiet) == 0;
    }

  for (;;)
    {
      ssize_t n = read (fd, &c, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          result = LINE_FAILED;
          break;
        }
      if (n == 0)
        {
          if (!got_any)
            result = LINE_EOF;
          break;
        }

      got_any = TRUE;
      if (c == '\n')
        break;
      if (len == PASSPHRASE_MAX_BYTES)
        {
          result = LINE_TOO_LONG;
          break;
        }
      buffer[len++] = c;
    }
  explicit_bzero (&c, sizeof c);

  if (hidden)
    tcsetattr (fd, TCSAFLUSH, &saved);
  if (tty_guard_fd >= 0)
    tty_guard_end ();

  if (len > 0 && buffer[len - 1] == '\r')
    buffer[--len] = '\0';

  if (result == LINE_OK)
    *out = g_steal_pointer (&buffer);
  return result;
}

static int usage_error (Ctl        *ctl,
                        const char *format,
                        ...) G_GNUC_PRINTF (2, 3);

static int
usage_error (Ctl        *ctl,
             const char *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_printerr ("%s %s: %s\n", CTL_NAME, ctl->verb_name, message);
  g_printerr (_("Run “%s %s --help” for help.\n"), CTL_NAME, ctl->verb_name);
  return EXIT_USAGE;
}

static int
fail_message (Ctl        *ctl,
              const char *message)
{
  g_printerr ("%s %s: %s\n", CTL_NAME, ctl->verb_name, message);
  return EXIT_ERROR;
}

static int
check_secret_text (Ctl       *ctl,
                   CtlSecret *secret)
{
  /* Whatever the agent does with it, D-Bus only carries valid UTF-8. */
  if (!g_utf8_validate (secret, -1, NULL))
    return usage_error (ctl, _("the passphrase is not valid UTF-8 text"));
  if (*secret == '\0')
    return usage_error (ctl, _("the passphrase is empty"));
  return EXIT_OK;
}

/* Prompts on the terminal with echo off. */
static int
prompt_secret (Ctl         *ctl,
               const char  *prompt,
               CtlSecret  **out)
{
  g_autoptr(CtlSecret) secret = NULL;
  LineResult result;
  int fd;

  fd = open ("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return fail_message (ctl, _("cannot open the terminal to ask for the passphrase"));

  if (write (fd, prompt, strlen (prompt)) < 0)
    {
      close (fd);
      return fail_message (ctl, _("cannot open the terminal to ask for the passphrase"));
    }
  result = read_secret_line (fd, &secret);
  close (fd);

  switch (result)
    {
    case LINE_OK:
      break;
    case LINE_EOF:
      return fail_message (ctl, _("no passphrase was typed; nothing was done"));
    case LINE_TOO_LONG:
      return fail_message (ctl, _("the passphrase is too long"));
    case LINE_FAILED:
    default:
      return fail_message (ctl, _("cannot read the passphrase from the terminal"));
    }

  *out = g_steal_pointer (&secret);
  return EXIT_OK;
}

/* Reads the next passphrase: the next line of standard input with
 * --passphrase-stdin, otherwise typed at the terminal, twice when
 * @repeat_prompt is given, since nobody can see what they typed. */
static int
read_passphrase (Ctl         *ctl,
                 const char  *prompt,
                 const char  *repeat_prompt,
                 CtlSecret  **out)
{
  g_autoptr(CtlSecret) secret = NULL;
  int code;

  if (ctl->passphrase_stdin)
    {
      switch (read_secret_line (STDIN_FILENO, &secret))
        {
        case LINE_OK:
          break;
        case LINE_EOF:
          return usage_error (ctl, _("standard input ended before the passphrase "
                                     "(--passphrase-stdin reads one passphrase a line)"));
        case LINE_TOO_LONG:
          return usage_error (ctl, _("the passphrase on standard input is too long"));
        case LINE_FAILED:
        default:
          return fail_message (ctl, _("cannot read the passphrase from standard input"));
        }
    }
  else
    {
      if (!isatty (STDIN_FILENO))
        return usage_error (ctl, _("standard input is not a terminal, so nobody can type a "
                                   "passphrase; pass --passphrase-stdin to read it from standard "
                                   "input"));

      code = prompt_secret (ctl, prompt, &secret);
      if (code != EXIT_OK)
        return code;

      if (repeat_prompt != NULL)
        {
          g_autoptr(CtlSecret) again = NULL;

          code = prompt_secret (ctl, repeat_prompt, &again);
          if (code != EXIT_OK)
            return code;
          if (strcmp (secret, again) != 0)
            return fail_message (ctl, _("the two passphrases differ; nothing was changed"));
        }
    }

  code = check_secret_text (ctl, secret);
  if (code != EXIT_OK)
    return code;

  *out = g_steal_pointer (&secret);
  return EXIT_OK;
}

/* ---- talking to the agent --------------------------------------------------------- */

static MhfIpcAgent1 *
connect_agent (GError **error)
{
  MhfIpcAgent1 *proxy;

  proxy = mhf_ipc_agent1_proxy_new_for_bus_sync (G_BUS_TYPE_SESSION,
                                                 G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                 AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                                 NULL, error);
  if (proxy != NULL)
    g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), 60 * 1000);
  return proxy;
}

static char *
describe_error (const GError *error)
{
  if (error->domain == MHF_ERROR)
    {
      switch (error->code)
        {
        case MHF_ERROR_SIGN_IN_FAILED:
          /* The same sentence for an unknown name and a wrong passphrase,
           * as the agent intends. */
          return g_strdup (_("Sign-in failed: the username or the passphrase is wrong."));
        case MHF_ERROR_SIGN_IN_LOCKED:
          return g_strdup (_("Sign-in is locked after too many failed attempts. Wait a few "
                             "minutes, then try again, or ask an owner to reset the passphrase."));
        case MHF_ERROR_NOT_SIGNED_IN:
          return g_strdup (_("This needs a signed-in user: pass --user NAME."));
        case MHF_ERROR_SESSION_EXPIRED:
          return g_strdup (_("The session ended after being idle for too long; run the command "
                             "again."));
        case MHF_ERROR_ACCESS_DENIED:
          {
            g_autofree char *detail = g_strdup (error->message);
            gsize len = strlen (detail);

            while (len > 0 && (detail[len - 1] == '.' || g_ascii_isspace (detail[len - 1])))
              detail[--len] = '\0';
            if (len == 0)
              return g_strdup (_("Access denied: your role does not allow this."));

            /* The agent's detail says which role is needed: "This needs
             * the owner role" reads "Access denied: this needs the owner
             * role." */
            if (g_ascii_isupper (detail[0]) && g_ascii_islower (detail[1]))
              detail[0] = g_ascii_tolower (detail[0]);
            return g_strdup_printf (_("Access denied: %s."), detail);
          }
        default:
          return g_strdup (error->message);
        }
    }

  if (error->domain == G_DBUS_ERROR)
    {
      switch (error->code)
        {
        case G_DBUS_ERROR_SERVICE_UNKNOWN:
        case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
        case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
        case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
        case G_DBUS_ERROR_SPAWN_FAILED:
          return g_strdup (_("The agent is not running and could not be started. Is "
                             "MyHealthFollowup installed for this user?"));
        case G_DBUS_ERROR_NO_REPLY:
          return g_strdup (_("The agent did not answer; it may have stopped."));
        case G_DBUS_ERROR_TIMEOUT:
          return g_strdup (_("The agent did not answer in time."));
        default:
          break;
        }
    }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_strdup (_("The agent did not answer in time."));

  return g_strdup (error->message);
}

/* Prints "myhealthfollowupctl VERB: WHAT: message". */
static void
print_error (Ctl        *ctl,
             const char *what,
             GError     *error)
{
  g_autofree char *message = NULL;

  g_dbus_error_strip_remote_error (error);
  message = describe_error (error);
  g_printerr ("%s %s: %s: %s\n", CTL_NAME, ctl->verb_name, what, message);
}

/* Prints "myhealthfollowupctl VERB: message" and returns the exit code. */
static int
fail (Ctl    *ctl,
      GError *error)
{
  g_autofree char *message = NULL;

  g_dbus_error_strip_remote_error (error);
  message = describe_error (error);
  return fail_message (ctl, message);
}

static const char *
hint_for_state (MhfAgentState state)
{
  switch (state)
    {
    case MHF_AGENT_STATE_READY:
      return NULL;
    case MHF_AGENT_STATE_STARTING:
      return _("The agent is still starting; run this again in a moment.");
    case MHF_AGENT_STATE_KEYRING_UNAVAILABLE:
      return _("No keyring (Secret Service) is running in this session. MyHealthFollowup keeps "
               "its keys only in the keyring: install and start GNOME Keyring, then try again.");
    case MHF_AGENT_STATE_KEYRING_LOCKED:
      return _("The keyring is locked. Unlock it (sign out and in again, or open Passwords and "
               "Keys), then try again.");
    case MHF_AGENT_STATE_DATABASE_KEY_MISSING:
      return _("The database exists but its key is not in this user's keyring. Restore the "
               "keyring from a backup, or start over with “myhealthfollowupctl reset --confirm” "
               "(the old file is kept aside).");
    case MHF_AGENT_STATE_DATABASE_CORRUPT:
      return _("The database cannot be read with the key in the keyring: the key is wrong or the "
               "file is damaged. Nothing was changed. Restore a backup, or start over with "
               "“myhealthfollowupctl reset --confirm” (the old file is kept aside).");
    default:
      return NULL;
    }
}

typedef struct
{
  GMainLoop *loop;
  GVariant  *status;
  guint      timeout_id;
} WaitData;

static gboolean
status_is_starting (GVariant *status)
{
  const char *state = NULL;

  return g_variant_lookup (status, MHF_STATUS_STATE, "&s", &state) &&
         g_strcmp0 (state, "starting") == 0;
}

static void
status_changed_cb (MhfIpcAgent1 *proxy,
                   GVariant     *status,
                   WaitData     *data)
{
  const char *state = NULL;

  if (g_variant_lookup (status, MHF_STATUS_STATE, "&s", &state) &&
      g_strcmp0 (state, "starting") != 0)
    {
      g_clear_pointer (&data->status, g_variant_unref);
      data->status = g_variant_ref (status);
      g_main_loop_quit (data->loop);
    }
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  WaitData *data = user_data;

  data->timeout_id = 0;
  g_main_loop_quit (data->loop);
  return G_SOURCE_REMOVE;
}

/* Returns the agent's status. A freshly activated agent answers at once,
 * while it is still opening the keyring; this waits a little for the
 * outcome rather than report "starting". */
static GVariant *
get_settled_status (MhfIpcAgent1  *proxy,
                    GError       **error)
{
  g_autoptr(GVariant) status = NULL;
  WaitData data = { NULL, NULL, 0 };
  gulong handler;

  if (!mhf_ipc_agent1_call_get_status_sync (proxy, &status, NULL, error))
    return NULL;
  if (!status_is_starting (status))
    return g_steal_pointer (&status);

  data.loop = g_main_loop_new (NULL, FALSE);
  handler = g_signal_connect (proxy, "status-changed", G_CALLBACK (status_changed_cb), &data);
  data.timeout_id = g_timeout_add_seconds (15, wait_timeout_cb, &data);

  /* Ask again in case the change landed before we subscribed. */
  g_clear_pointer (&status, g_variant_unref);
  if (mhf_ipc_agent1_call_get_status_sync (proxy, &status, NULL, NULL))
    status_changed_cb (proxy, status, &data);
  if (data.status == NULL)
    g_main_loop_run (data.loop);

  g_signal_handler_disconnect (proxy, handler);
  g_clear_handle_id (&data.timeout_id, g_source_remove);
  g_main_loop_unref (data.loop);

  if (data.status != NULL)
    {
      g_clear_pointer (&status, g_variant_unref);
      status = data.status;
    }

  return g_steal_pointer (&status);
}

/* Connects to the agent, activating it if needed, and makes sure that it
 * is ready: signing in is pointless while the database cannot be opened. */
static int
ctl_connect (Ctl *ctl)
{
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  const char *state = "starting";
  const char *hint;
  MhfAgentState agent_state;

  if (ctl->proxy != NULL)
    return EXIT_OK;

  ctl->proxy = connect_agent (&error);
  if (ctl->proxy != NULL)
    status = get_settled_status (ctl->proxy, &error);
  if (status == NULL)
    {
      print_error (ctl, _("cannot reach the agent"), error);
      g_clear_object (&ctl->proxy);
      return EXIT_ERROR;
    }

  g_variant_lookup (status, MHF_STATUS_STATE, "&s", &state);
  agent_state = mhf_agent_state_from_string (state);
  if (agent_state != MHF_AGENT_STATE_READY)
    {
      g_printerr (_("%s %s: the agent is not ready (%s).\n"), CTL_NAME, ctl->verb_name, state);
      hint = hint_for_state (agent_state);
      if (hint != NULL)
        g_printerr ("%s\n", hint);
      g_clear_object (&ctl->proxy);
      return EXIT_NOT_READY;
    }

  return EXIT_OK;
}

/* Signs in as --user, binding a session to this process's connection.
 * The passphrase is handed back when @out_passphrase is set (to change
 * it), and wiped otherwise. */
static int
ctl_sign_in (Ctl        *ctl,
             CtlSecret **out_passphrase,
             GVariant  **out_session)
{
  g_autoptr(CtlSecret) passphrase = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *prompt = NULL;
  int code;

  if (ctl->user == NULL)
    return usage_error (ctl, _("this command needs a signed-in user: pass --user NAME before the "
                               "command (or set MHF_USER)"));

  code = ctl_connect (ctl);
  if (code != EXIT_OK)
    return code;

  prompt = g_strdup_printf (_("Passphrase for %s: "), ctl->user);
  code = read_passphrase (ctl, prompt, NULL, &passphrase);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_sign_in_sync (ctl->proxy, ctl->user, passphrase, &session,
                                         NULL, &error))
    return fail (ctl, error);

  if (out_passphrase != NULL)
    *out_passphrase = g_steal_pointer (&passphrase);
  if (out_session != NULL)
    *out_session = g_steal_pointer (&session);
  return EXIT_OK;
}

/* ---- command-line helpers --------------------------------------------------------- */

static void
add_sign_in_entries (Ctl            *ctl,
                     GOptionContext *context,
                     gboolean        with_user)
{
  const GOptionEntry user_entries[] = {
    { "user", 'u', 0, G_OPTION_ARG_STRING, &ctl->late_user,
      N_("Sign in as NAME (default: $MHF_USER)"), N_("NAME") },
    { NULL }
  };
  const GOptionEntry stdin_entries[] = {
    { "passphrase-stdin", 0, 0, G_OPTION_ARG_NONE, &ctl->passphrase_stdin,
      N_("Read passphrases from standard input, one a line, instead of asking"), NULL },
    { NULL }
  };

  if (with_user)
    g_option_context_add_main_entries (context, user_entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, stdin_entries, GETTEXT_PACKAGE);
}

/* A GOptionContext for the current command, with its positional arguments,
 * its summary and, unless @sign_in is NONE, the sign-in options. */
typedef enum
{
  SIGN_IN_NONE,
  SIGN_IN_STDIN_ONLY,
  SIGN_IN_FULL,
} SignInOptions;

static GOptionContext *
verb_context_new (Ctl                *ctl,
                  const GOptionEntry *entries,
                  SignInOptions       sign_in,
                  const char         *summary)
{
  GOptionContext *context;

  context = g_option_context_new (ctl->verb->args != NULL ? _(ctl->verb->args) : NULL);
  g_option_context_set_summary (context, summary);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (sign_in != SIGN_IN_NONE)
    add_sign_in_entries (ctl, context, sign_in == SIGN_IN_FULL);
  return context;
}

/* Parses the command's options and checks that exactly @n_args positional
 * arguments, all valid UTF-8, are left. Prints the reason on failure. */
static int
parse_verb (Ctl            *ctl,
            GOptionContext *context,
            int            *argc,
            char         ***argv,
            int             n_args)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    return usage_error (ctl, "%s", error->message);

  if (ctl->late_user != NULL)
    {
      g_free (ctl->user);
      ctl->user = g_steal_pointer (&ctl->late_user);
    }

  if (*argc - 1 < n_args)
    {
      /* The command's arguments are translated in its parameter string. */
      return usage_error (ctl, _("missing arguments; expected %s"), _(ctl->verb->args));
    }
  if (*argc - 1 > n_args)
    return usage_error (ctl, _("unexpected argument “%s”"), (*argv)[n_args + 1]);

  for (int i = 1; i < *argc; i++)
    {
      if (!g_utf8_validate ((*argv)[i], -1, NULL))
        return usage_error (ctl, _("argument %d is not valid UTF-8 text"), i);
    }

  return EXIT_OK;
}

/* CLINIC on the command line: a numeric id, or "all" for 0 (every clinic,
 * or in the audit log, entries about no clinic). */
static gboolean
parse_clinic (Ctl        *ctl,
              const char *text,
              gint64      min,
              gint64     *out)
{
  if (min == 0 && (g_str_equal (text, "all") || g_str_equal (text, "none")))
    {
      *out = 0;
      return TRUE;
    }

  if (!g_ascii_string_to_signed (text, 10, min, G_MAXINT64, out, NULL))
    {
      if (min == 0)
        usage_error (ctl, _("“%s” is not a clinic: give its numeric id, or “all”"), text);
      else
        usage_error (ctl, _("“%s” is not a clinic id"), text);
      return FALSE;
    }

  return TRUE;
}

/* ---- output ----------------------------------------------------------------------- */

static void
add_variant_to_json (JsonBuilder *builder,
                     GVariant    *value)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);

      add_variant_to_json (builder, inner);
    }
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    json_builder_add_string_value (builder, g_variant_get_string (value, NULL));
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    json_builder_add_boolean_value (builder, g_variant_get_boolean (value));
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    json_builder_add_int_value (builder, g_variant_get_int32 (value));
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    json_builder_add_int_value (builder, g_variant_get_uint32 (value));
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    json_builder_add_int_value (builder, g_variant_get_int64 (value));
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    json_builder_add_double_value (builder, g_variant_get_double (value));
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE ("a{xs}")))
    {
      /* Roles: JSON keys must be strings, so clinic ids become a list of
       * {"clinic": id, "role": role}. */
      GVariantIter iter;
      gint64 clinic;
      const char *role;

      json_builder_begin_array (builder);
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{x&s}", &clinic, &role))
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "clinic");
          json_builder_add_int_value (builder, clinic);
          json_builder_set_member_name (builder, "role");
          json_builder_add_string_value (builder, role);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
    }
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
    {
      GVariantIter iter;
      const char *key;
      GVariant *member;

      json_builder_begin_object (builder);
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &member))
        {
          json_builder_set_member_name (builder, key);
          add_variant_to_json (builder, member);
          g_variant_unref (member);
        }
      json_builder_end_object (builder);
    }
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_ARRAY))
    {
      GVariantIter iter;
      GVariant *child;

      json_builder_begin_array (builder);
      g_variant_iter_init (&iter, value);
      while ((child = g_variant_iter_next_value (&iter)) != NULL)
        {
          add_variant_to_json (builder, child);
          g_variant_unref (child);
        }
      json_builder_end_array (builder);
    }
  else
    {
      g_autofree char *text = g_variant_print (value, FALSE);

      json_builder_add_string_value (builder, text);
    }
}

static JsonNode *
variant_to_json (GVariant *value)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  add_variant_to_json (builder, value);
  return json_builder_get_root (builder);
}

static void
print_json (JsonNode *root)
{
  g_autofree char *text = json_to_string (root, TRUE);

  g_print ("%s\n", text);
}

static void
print_variant_as_json (GVariant *value)
{
  g_autoptr(JsonNode) root = variant_to_json (value);

  print_json (root);
}

/* Local time, to the minute; empty for 0. */
static char *
format_time (gint64 usec)
{
  g_autoptr(GDateTime) local = NULL;

  if (usec <= 0)
    return g_strdup ("");

  local = g_date_time_new_from_unix_local (usec / G_USEC_PER_SEC);
  if (local == NULL)
    return g_strdup ("?");
  return g_date_time_format (local, "%Y-%m-%d %H:%M");
}

static char *
format_id (gint64 id)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT, id);
}

static const char *
role_label (const char *role)
{
  if (g_strcmp0 (role, "owner") == 0)
    return C_("role", "owner");
  if (g_strcmp0 (role, "manager") == 0)
    return C_("role", "manager");
  if (g_strcmp0 (role, "staff") == 0)
    return C_("role", "staff");
  return role;
}

typedef struct
{
  gint64      clinic;
  const char *role;
} RoleItem;

static int
compare_role_items (gconstpointer a,
                    gconstpointer b)
{
  const RoleItem *ra = a;
  const RoleItem *rb = b;

  return (ra->clinic > rb->clinic) - (ra->clinic < rb->clinic);
}

/* "every clinic: owner, clinic 3: staff", by clinic id; empty for none. */
static char *
format_roles (GVariant *roles)
{
  g_autoptr(GArray) items = g_array_new (FALSE, FALSE, sizeof (RoleItem));
  g_autoptr(GString) text = g_string_new (NULL);
  GVariantIter iter;
  RoleItem item;

  if (roles == NULL)
    return g_strdup ("");

  g_variant_iter_init (&iter, roles);
  while (g_variant_iter_next (&iter, "{x&s}", &item.clinic, &item.role))
    g_array_append_val (items, item);
  g_array_sort (items, compare_role_items);

  for (guint i = 0; i < items->len; i++)
    {
      const RoleItem *r = &g_array_index (items, RoleItem, i);

      if (text->len > 0)
        g_string_append (text, ", ");
      if (r->clinic == 0)
        {
          /* Translators: a role on every clinic, e.g. "every clinic: owner". */
          g_string_append_printf (text, _("every clinic: %s"), role_label (r->role));
        }
      else
        {
          g_autofree char *id = format_id (r->clinic);

          /* Translators: a role on one clinic, e.g. "clinic 3: staff". */
          g_string_append_printf (text, _("clinic %s: %s"), id, role_label (r->role));
        }
    }

  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* A table printed with aligned columns, two spaces apart. */
typedef struct
{
  guint      n_columns;
  GPtrArray *rows;
} CtlTable;

static void
ctl_table_free (CtlTable *table)
{
  g_ptr_array_unref (table->rows);
  g_free (table);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlTable, ctl_table_free)

/* Takes the column headers, then NULL. */
static CtlTable *
ctl_table_new (const char *first_header,
               ...)
{
  CtlTable *table = g_new0 (CtlTable, 1);
  g_autoptr(GPtrArray) header = g_ptr_array_new ();
  va_list args;

  va_start (args, first_header);
  for (const char *h = first_header; h != NULL; h = va_arg (args, const char *))
    g_ptr_array_add (header, g_strdup (h));
  va_end (args);

  table->n_columns = header->len;
  g_ptr_array_add (header, NULL);
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_ptr_array_add (table->rows, g_ptr_array_steal (header, NULL));
  return table;
}

/* Takes one string for each column; the row keeps copies. */
static void
ctl_table_add_row (CtlTable   *table,
                   const char *first,
                   ...)
{
  char **row = g_new0 (char *, table->n_columns + 1);
  va_list args;

  row[0] = g_strdup (first);
  va_start (args, first);
  for (guint i = 1; i < table->n_columns; i++)
    row[i] = g_strdup (va_arg (args, const char *));
  va_end (args);

  g_ptr_array_add (table->rows, row);
}

static void
ctl_table_print (CtlTable *table)
{
  g_autofree glong *widths = g_new0 (glong, table->n_columns);

  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = g_ptr_array_index (table->rows, r);

      for (guint c = 0; c < table->n_columns; c++)
        widths[c] = MAX (widths[c], g_utf8_strlen (row[c], -1));
    }

  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = g_ptr_array_index (table->rows, r);
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint c = 0; c < table->n_columns; c++)
        {
          g_string_append (line, row[c]);
          if (c + 1 < table->n_columns)
            {
              glong pad = widths[c] - g_utf8_strlen (row[c], -1) + 2;

              for (glong p = 0; p < pad; p++)
                g_string_append_c (line, ' ');
            }
        }

      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      g_print ("%s\n", line->str);
    }
}

static const char *
words_for_database (const char *state)
{
  switch (mhf_database_state_from_string (state))
    {
    case MHF_DATABASE_STATE_OK:
      return _("ok");
    case MHF_DATABASE_STATE_KEY_MISSING:
      return _("key missing");
    case MHF_DATABASE_STATE_CORRUPT:
      return _("cannot be read");
    case MHF_DATABASE_STATE_WAITING_FOR_KEYRING:
      return _("waiting for the keyring");
    case MHF_DATABASE_STATE_NOT_CREATED:
    default:
      return _("not created yet");
    }
}

static int
print_status (GVariant *status,
              gboolean  as_json)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (status);
  const char *version = "?";
  const char *state = "starting";
  const char *keyring = "unknown";
  const char *database = "not-created";
  const char *data_dir = "";
  guint32 schema = 0;
  gint64 started_at = 0;
  MhfAgentState agent_state;
  const char *hint;

  g_variant_dict_lookup (dict, MHF_STATUS_VERSION, "&s", &version);
  g_variant_dict_lookup (dict, MHF_STATUS_STATE, "&s", &state);
  g_variant_dict_lookup (dict, MHF_STATUS_KEYRING, "&s", &keyring);
  g_variant_dict_lookup (dict, MHF_STATUS_DATABASE, "&s", &database);
  g_variant_dict_lookup (dict, MHF_STATUS_DATA_DIRECTORY, "&s", &data_dir);
  g_variant_dict_lookup (dict, MHF_STATUS_SCHEMA_VERSION, "u", &schema);
  g_variant_dict_lookup (dict, MHF_STATUS_STARTED_AT, "x", &started_at);
  agent_state = mhf_agent_state_from_string (state);

  if (as_json)
    print_variant_as_json (status);
  else
    {
      g_autoptr(GDateTime) since = g_date_time_new_from_unix_utc (started_at / G_USEC_PER_SEC);
      g_autofree char *since_text = since ? g_date_time_format (since, "%Y-%m-%d %H:%M:%S UTC")
                                          : g_strdup ("?");

      g_print (_("MyHealthFollowup agent %s\n"), version);
      g_print ("  %-16s %s\n", _("State:"), state);
      g_print ("  %-16s %s\n", _("Keyring:"), keyring);
      if (schema > 0)
        g_print ("  %-16s %s (%s %u)\n", _("Database:"), words_for_database (database),
                 _("schema"), schema);
      else
        g_print ("  %-16s %s\n", _("Database:"), words_for_database (database));
      g_print ("  %-16s %s\n", _("Data folder:"), data_dir);
      g_print ("  %-16s %s\n", _("Running since:"), since_text);

      hint = hint_for_state (agent_state);
      if (hint != NULL)
        g_print ("\n%s\n", hint);
    }

  return agent_state == MHF_AGENT_STATE_READY ? EXIT_OK : EXIT_NOT_READY;
}

/* A label and its value, the labels padded to one width. */
static void
print_field (const char *label,
             const char *value)
{
  glong pad = 16 - g_utf8_strlen (label, -1);

  g_print ("  %s%*s %s\n", label, (int) MAX (pad, 0), "", value);
}

static void
print_session (GVariant *session,
               gboolean  as_json)
{
  g_autoptr(GVariant) roles = NULL;
  gboolean signed_in = FALSE;
  gboolean first_run = FALSE;
  const char *username = "";
  const char *display_name = "";
  guint32 idle_timeout = 0;

  if (as_json)
    {
      print_variant_as_json (session);
      return;
    }

  g_variant_lookup (session, "signed-in", "b", &signed_in);
  g_variant_lookup (session, "first-run", "b", &first_run);

  if (!signed_in)
    {
      g_print (_("Not signed in.\n"));
      if (first_run)
        g_print (_("No user exists yet. Create the owner first:\n"
                   "  myhealthfollowupctl owner create USERNAME --display-name NAME\n"));
      return;
    }

  g_variant_lookup (session, "username", "&s", &username);
  g_variant_lookup (session, "display-name", "&s", &display_name);
  g_variant_lookup (session, "idle-timeout", "u", &idle_timeout);
  roles = g_variant_lookup_value (session, "roles", G_VARIANT_TYPE ("a{xs}"));

  g_print (_("Signed in as %s (%s)\n"), display_name, username);
  {
    g_autofree char *roles_text = format_roles (roles);
    g_autofree char *idle_text = NULL;

    print_field (_("Roles:"), *roles_text != '\0' ? roles_text
                                                   : _("none yet (an owner gives roles)"));
    if (idle_timeout > 0)
      {
        idle_text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u minute", "%u minutes",
                                                  idle_timeout),
                                     idle_timeout);
        print_field (_("Idle timeout:"), idle_text);
      }
  }
}

/* ---- commands: agent -------------------------------------------------------------- */

static int
verb_status (Ctl   *ctl,
             int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the status as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_NONE,
                              _("Show the agent's health. Exit status: 0 ready, "
                                "3 running but not ready, 1 unreachable."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  proxy = connect_agent (&error);
  if (proxy != NULL)
    status = get_settled_status (proxy, &error);
  if (status == NULL)
    {
      print_error (ctl, _("cannot reach the agent"), error);
      return EXIT_ERROR;
    }

  return print_status (status, as_json);
}

static int
verb_reset (Ctl   *ctl,
            int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean confirm = FALSE;
  int code;
  const GOptionEntry entries[] = {
    { "confirm", 0, 0, G_OPTION_ARG_NONE, &confirm,
      N_("Confirm that the unreadable database should be set aside"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_NONE,
                              _("Start over with a new, empty database when the current one "
                                "cannot be opened (its key is missing or it is damaged). The "
                                "old file is renamed, never deleted, and its key, if any, is "
                                "kept in the keyring beside it."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  if (!confirm)
    return usage_error (ctl, _("this starts over with an empty database; add --confirm to do "
                               "it"));

  proxy = connect_agent (&error);
  if (proxy == NULL ||
      !mhf_ipc_agent1_call_reset_database_sync (proxy, MHF_RESET_CONFIRMATION, &status,
                                                NULL, &error))
    {
      print_error (ctl, _("reset refused"), error);
      return EXIT_ERROR;
    }

  g_print (_("The database was reset. The old file was kept in the data folder.\n\n"));
  return print_status (status, FALSE);
}

/* ---- commands: sessions ----------------------------------------------------------- */

static int
verb_whoami (Ctl   *ctl,
             int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the session as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Show who is signed in. With --user, signs in first and shows "
                                "that user's roles; without, shows that nobody is signed in "
                                "and whether the owner still has to be created."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  if (ctl->user != NULL)
    code = ctl_sign_in (ctl, NULL, NULL);
  else
    code = ctl_connect (ctl);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_who_am_i_sync (ctl->proxy, &session, NULL, &error))
    return fail (ctl, error);

  print_session (session, as_json);
  return EXIT_OK;
}

static int
verb_signin (Ctl   *ctl,
             int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) session = NULL;
  gboolean as_json = FALSE;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the session as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Sign in as --user and show who you are and your roles. This "
                                "checks a passphrase; it does not keep you signed in: the "
                                "session belongs to this command and ends when it exits. Every "
                                "command that needs a user signs in for itself."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  code = ctl_sign_in (ctl, NULL, &session);
  if (code != EXIT_OK)
    return code;

  print_session (session, as_json);
  if (!as_json)
    g_print (_("\nThe session ends when this command exits.\n"));
  return EXIT_OK;
}

static int
verb_signout (Ctl   *ctl,
              int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Sign in as --user, then sign out again. Sessions end anyway "
                                "when the command that signed in exits, so this only shows that "
                                "signing out works."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_sign_out_sync (ctl->proxy, NULL, &error))
    return fail (ctl, error);

  g_print (_("Signed in as %s and out again.\n"), ctl->user);
  return EXIT_OK;
}

static int
verb_owner_create (Ctl   *ctl,
                   int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(CtlSecret) passphrase = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *display_name = NULL;
  g_autofree char *prompt = NULL;
  gboolean first_run = FALSE;
  const char *username;
  int code;
  const GOptionEntry entries[] = {
    { "display-name", 0, 0, G_OPTION_ARG_STRING, &display_name,
      N_("The name shown in the app (required)"), N_("NAME") },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_STDIN_ONLY,
                              _("Create the first user, an owner of every clinic. Only allowed "
                                "while no user exists. The passphrase (10 to 1024 characters) "
                                "is asked twice, or read from the first line of standard input "
                                "with --passphrase-stdin."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  username = argv[1];

  if (display_name == NULL)
    return usage_error (ctl, _("--display-name NAME is required"));

  code = ctl_connect (ctl);
  if (code != EXIT_OK)
    return code;

  /* Say so before asking for a passphrase that could not be used. */
  if (!mhf_ipc_agent1_call_who_am_i_sync (ctl->proxy, &session, NULL, &error))
    return fail (ctl, error);
  g_variant_lookup (session, "first-run", "b", &first_run);
  if (!first_run)
    return fail_message (ctl, _("the owner already exists; an owner can add users with "
                                "“myhealthfollowupctl user add”"));

  prompt = g_strdup_printf (_("Passphrase for the new owner %s: "), username);
  code = read_passphrase (ctl, prompt, _("Type the same passphrase again: "), &passphrase);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_create_owner_sync (ctl->proxy, username, display_name, passphrase,
                                              NULL, &error))
    return fail (ctl, error);

  g_print (_("Created the owner “%s”. Commands that need a user take --user %s.\n"),
           username, username);
  return EXIT_OK;
}

/* ---- commands: users -------------------------------------------------------------- */

static int
verb_user_list (Ctl   *ctl,
                int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) users = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CtlTable) table = NULL;
  gboolean as_json = FALSE;
  GVariantIter iter;
  GVariant *user;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the users as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("List the users, their roles and lockouts. Owners only."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_list_users_sync (ctl->proxy, &users, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (users);
      return EXIT_OK;
    }

  table = ctl_table_new (_("USERNAME"), _("NAME"), _("ROLES"), _("LOCKED UNTIL"), NULL);
  g_variant_iter_init (&iter, users);
  while ((user = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = user;
      g_autoptr(GVariant) roles = NULL;
      g_autofree char *roles_text = NULL;
      g_autofree char *locked_text = NULL;
      const char *username = "";
      const char *display_name = "";
      gint64 locked_until = 0;

      g_variant_lookup (owned, "username", "&s", &username);
      g_variant_lookup (owned, "display-name", "&s", &display_name);
      g_variant_lookup (owned, "locked-until", "x", &locked_until);
      roles = g_variant_lookup_value (owned, "roles", G_VARIANT_TYPE ("a{xs}"));
      roles_text = format_roles (roles);
      if (*roles_text == '\0')
        {
          g_free (roles_text);
          roles_text = g_strdup (_("none"));
        }
      locked_text = locked_until > g_get_real_time () ? format_time (locked_until) : g_strdup ("");

      ctl_table_add_row (table, username, display_name, roles_text, locked_text);
    }
  ctl_table_print (table);
  return EXIT_OK;
}

static int
verb_user_add (Ctl   *ctl,
               int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(CtlSecret) passphrase = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *display_name = NULL;
  g_autofree char *prompt = NULL;
  const char *username;
  int code;
  const GOptionEntry entries[] = {
    { "display-name", 0, 0, G_OPTION_ARG_STRING, &display_name,
      N_("The name shown in the app (required)"), N_("NAME") },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Add a user, with no role yet (see “user role”). Owners only. "
                                "The new user's first passphrase is asked twice, or, with "
                                "--passphrase-stdin, read from the second line of standard "
                                "input (the first is your own)."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  username = argv[1];

  if (display_name == NULL)
    return usage_error (ctl, _("--display-name NAME is required"));

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  prompt = g_strdup_printf (_("Passphrase for the new user %s: "), username);
  code = read_passphrase (ctl, prompt, _("Type the same passphrase again: "), &passphrase);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_add_user_sync (ctl->proxy, username, display_name, passphrase,
                                          NULL, &error))
    return fail (ctl, error);

  g_print (_("Added the user “%s”. Give them a role with:\n"
             "  myhealthfollowupctl user role %s CLINIC ROLE\n"),
           username, username);
  return EXIT_OK;
}

static int
verb_user_remove (Ctl   *ctl,
                  int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *username;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Remove a user; their sessions end. Owners only. The last owner "
                                "of every clinic cannot be removed."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  username = argv[1];

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_remove_user_sync (ctl->proxy, username, NULL, &error))
    return fail (ctl, error);

  g_print (_("Removed the user “%s”.\n"), username);
  return EXIT_OK;
}

static int
verb_user_role (Ctl   *ctl,
                int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *clinic_text = NULL;
  const char *username;
  const char *role;
  gint64 clinic;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Set a user's role on a clinic. CLINIC is a clinic id, or “all” "
                                "for every clinic; ROLE is owner, manager, staff, or none to "
                                "remove the role. Owners only; the last owner of every clinic "
                                "cannot be demoted."));
  code = parse_verb (ctl, context, &argc, &argv, 3);
  if (code != EXIT_OK)
    return code;
  username = argv[1];

  if (!parse_clinic (ctl, argv[2], 0, &clinic))
    return EXIT_USAGE;

  if (g_str_equal (argv[3], "owner") || g_str_equal (argv[3], "manager") ||
      g_str_equal (argv[3], "staff"))
    role = argv[3];
  else if (g_str_equal (argv[3], "none"))
    role = "";
  else
    return usage_error (ctl, _("“%s” is not a role: use owner, manager, staff or none"), argv[3]);

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_role_sync (ctl->proxy, username, clinic, role, NULL, &error))
    return fail (ctl, error);

  if (clinic == 0)
    clinic_text = g_strdup (_("every clinic"));
  else
    {
      g_autofree char *id = format_id (clinic);

      clinic_text = g_strdup_printf (_("clinic %s"), id);
    }

  if (*role == '\0')
    g_print (_("“%s” no longer has a role on %s.\n"), username, clinic_text);
  else
    /* Translators: "“bob” is now manager of clinic 3." */
    g_print (_("“%s” is now %s of %s.\n"), username, role_label (role), clinic_text);
  return EXIT_OK;
}

static int
verb_user_passwd (Ctl   *ctl,
                  int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(CtlSecret) old_passphrase = NULL;
  g_autoptr(CtlSecret) new_passphrase = NULL;
  g_autoptr(GError) error = NULL;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Change your own passphrase. You sign in with the current one; "
                                "the new one (10 to 1024 characters) is asked twice, or, with "
                                "--passphrase-stdin, read from the second line of standard "
                                "input."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  code = ctl_sign_in (ctl, &old_passphrase, NULL);
  if (code != EXIT_OK)
    return code;

  code = read_passphrase (ctl, _("New passphrase: "), _("Type the new passphrase again: "),
                          &new_passphrase);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_change_passphrase_sync (ctl->proxy, old_passphrase, new_passphrase,
                                                   NULL, &error))
    return fail (ctl, error);

  g_print (_("Your passphrase was changed.\n"));
  return EXIT_OK;
}

static int
verb_user_reset_passphrase (Ctl   *ctl,
                            int    argc,
                            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(CtlSecret) passphrase = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *prompt = NULL;
  const char *username;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Set another user's passphrase and clear their lockout; their "
                                "sessions end. Owners only. The new passphrase is asked twice, "
                                "or, with --passphrase-stdin, read from the second line of "
                                "standard input (the first is your own)."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  username = argv[1];

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  prompt = g_strdup_printf (_("New passphrase for %s: "), username);
  code = read_passphrase (ctl, prompt, _("Type the new passphrase again: "), &passphrase);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_reset_passphrase_sync (ctl->proxy, username, passphrase,
                                                  NULL, &error))
    return fail (ctl, error);

  g_print (_("The passphrase of “%s” was reset.\n"), username);
  return EXIT_OK;
}

/* ---- commands: settings and clinics ----------------------------------------------- */

static int
verb_settings_idle_timeout (Ctl   *ctl,
                            int    argc,
                            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  guint64 minutes;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Set how many minutes (1 to 480) a session may stay idle before "
                                "it ends. Owners only."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!g_ascii_string_to_unsigned (argv[1], 10, 0, G_MAXUINT32, &minutes, NULL))
    return usage_error (ctl, _("“%s” is not a number of minutes"), argv[1]);

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_idle_timeout_sync (ctl->proxy, (guint32) minutes, NULL, &error))
    return fail (ctl, error);

  g_print (g_dngettext (GETTEXT_PACKAGE,
                        "Sessions now end after %u idle minute.\n",
                        "Sessions now end after %u idle minutes.\n",
                        (gulong) minutes),
           (guint) minutes);
  return EXIT_OK;
}

static int
verb_clinic_add (Ctl   *ctl,
                 int    argc,
                 char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  gboolean as_json = FALSE;
  const char *name;
  gint64 clinic = 0;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the new clinic as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Add a clinic (one Cliniko account) and print its id. Owners of "
                                "every clinic only."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  name = argv[1];

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_add_clinic_sync (ctl->proxy, name, &clinic, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_int_value (builder, clinic);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      print_json (root);
      return EXIT_OK;
    }

  id = format_id (clinic);
  g_print (_("Added the clinic “%s” with id %s.\n"), name, id);
  return EXIT_OK;
}

static int
verb_clinic_list (Ctl   *ctl,
                  int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) clinics = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CtlTable) table = NULL;
  gboolean as_json = FALSE;
  GVariantIter iter;
  GVariant *clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the clinics as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("List the clinics you have a role on."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_list_clinics_sync (ctl->proxy, &clinics, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (clinics);
      return EXIT_OK;
    }

  if (g_variant_n_children (clinics) == 0)
    {
      g_print (_("You have no clinics yet.\n"));
      return EXIT_OK;
    }

  table = ctl_table_new (_("ID"), _("NAME"), _("YOUR ROLE"), _("HISTORY KEPT"), NULL);
  g_variant_iter_init (&iter, clinics);
  while ((clinic = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = clinic;
      g_autofree char *id_text = NULL;
      g_autofree char *retention_text = NULL;
      const char *name = "";
      const char *role = "";
      gint64 id = 0;
      guint32 retention = 0;

      g_variant_lookup (owned, "id", "x", &id);
      g_variant_lookup (owned, "name", "&s", &name);
      g_variant_lookup (owned, "role", "&s", &role);
      g_variant_lookup (owned, "retention-days", "u", &retention);
      id_text = format_id (id);
      retention_text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u day", "%u days",
                                                     retention),
                                        retention);

      ctl_table_add_row (table, id_text, name, role_label (role), retention_text);
    }
  ctl_table_print (table);
  return EXIT_OK;
}

static int
verb_clinic_remove (Ctl   *ctl,
                    int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gboolean confirm = FALSE;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "confirm", 0, 0, G_OPTION_ARG_NONE, &confirm,
      N_("Confirm that the clinic and its settings should be removed"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Remove a clinic with its configuration and delivery state; its "
                                "audit entries are kept. Owners of that clinic only. Needs "
                                "--confirm."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;

  if (!confirm)
    return usage_error (ctl, _("this removes the clinic and its settings; add --confirm to do "
                               "it"));

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_remove_clinic_sync (ctl->proxy, clinic, NULL, &error))
    return fail (ctl, error);

  g_print (_("Removed clinic %s. Its audit entries are kept.\n"), argv[1]);
  return EXIT_OK;
}

/* ---- commands: audit -------------------------------------------------------------- */

static int
verb_audit_list (Ctl   *ctl,
                 int    argc,
                 char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GPtrArray) pages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  gboolean all = FALSE;
  int limit = 0;
  gint64 before = 0;
  gint64 next = 0;
  gint64 clinic;
  guint n_entries = 0;
  int code;
  const GOptionEntry entries[] = {
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit,
      N_("Show at most N entries (1 to 500; 50 by default), or with --all, fetch N at a time"),
      N_("N") },
    { "before", 0, 0, G_OPTION_ARG_INT64, &before,
      N_("Start with entries older than the entry ID, to page through the log"), N_("ID") },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, N_("Show every entry, following pages to the end"),
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the entries as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Show a clinic's audit log, newest first. CLINIC is a clinic id, "
                                "or “all” (or 0) for the entries about no clinic: users, "
                                "sign-ins and the database. Managers and owners of the clinic."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 0, &clinic))
    return EXIT_USAGE;
  if (limit == 0)
    limit = all ? AUDIT_MAX_LIMIT : AUDIT_DEFAULT_LIMIT;
  if (limit < 1 || limit > AUDIT_MAX_LIMIT)
    return usage_error (ctl, _("--limit must be 1 to %d"), AUDIT_MAX_LIMIT);
  if (before < 0)
    return usage_error (ctl, _("--before must be an entry id"));

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  /* Keyset paging: each page hands back the @before of the next. */
  for (;;)
    {
      g_autoptr(GVariant) page = NULL;

      if (!mhf_ipc_agent1_call_list_audit_sync (ctl->proxy, clinic, before, (guint32) limit,
                                                &page, &next, NULL, &error))
        return fail (ctl, error);

      n_entries += g_variant_n_children (page);
      g_ptr_array_add (pages, g_steal_pointer (&page));

      if (!all || next == 0)
        break;
      if (before != 0 && next >= before)
        return fail_message (ctl, _("the agent sent a page cursor that does not move on"));
      before = next;
    }

  if (as_json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "clinic");
      json_builder_add_int_value (builder, clinic);
      json_builder_set_member_name (builder, "entries");
      json_builder_begin_array (builder);
      for (guint p = 0; p < pages->len; p++)
        {
          GVariantIter iter;
          GVariant *entry;

          g_variant_iter_init (&iter, g_ptr_array_index (pages, p));
          while ((entry = g_variant_iter_next_value (&iter)) != NULL)
            {
              add_variant_to_json (builder, entry);
              g_variant_unref (entry);
            }
        }
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "next");
      json_builder_add_int_value (builder, next);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      print_json (root);
      return EXIT_OK;
    }

  if (n_entries == 0)
    {
      g_print (_("No audit entries.\n"));
      return EXIT_OK;
    }

  {
    g_autoptr(CtlTable) table = NULL;

    table = ctl_table_new (_("ID"), _("TIME"), _("USER"), _("ACTION"), _("TARGET"), _("SUMMARY"),
                           NULL);
    for (guint p = 0; p < pages->len; p++)
      {
        GVariantIter iter;
        GVariant *entry;

        g_variant_iter_init (&iter, g_ptr_array_index (pages, p));
        while ((entry = g_variant_iter_next_value (&iter)) != NULL)
          {
            g_autoptr(GVariant) owned = entry;
            g_autofree char *id_text = NULL;
            g_autofree char *at_text = NULL;
            const char *user = "";
            const char *action = "";
            const char *target = "";
            const char *summary = "";
            gint64 id = 0;
            gint64 at = 0;

            g_variant_lookup (owned, "id", "x", &id);
            g_variant_lookup (owned, "at", "x", &at);
            g_variant_lookup (owned, "user", "&s", &user);
            g_variant_lookup (owned, "action", "&s", &action);
            g_variant_lookup (owned, "target", "&s", &target);
            g_variant_lookup (owned, "summary", "&s", &summary);
            id_text = format_id (id);
            at_text = format_time (at);

            ctl_table_add_row (table, id_text, at_text, user, action, target, summary);
          }
      }
    ctl_table_print (table);
  }

  if (next != 0)
    {
      g_autofree char *next_text = format_id (next);

      g_print (_("\nOlder entries: add --before %s, or --all.\n"), next_text);
    }
  return EXIT_OK;
}

static int
verb_audit_verify (Ctl   *ctl,
                   int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *where = NULL;
  gboolean as_json = FALSE;
  gboolean intact = FALSE;
  guint32 n_checked = 0;
  gint64 first_broken = 0;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the result as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Check that a clinic's audit log has not been tampered with, by "
                                "recomputing its hash chain. CLINIC is a clinic id, or “all” "
                                "(or 0) for the entries about no clinic. Managers and owners of "
                                "the clinic. Exit status: 0 intact, 4 broken, 1 error."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 0, &clinic))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_verify_audit_sync (ctl->proxy, clinic, &result, NULL, &error))
    return fail (ctl, error);

  g_variant_lookup (result, "intact", "b", &intact);
  g_variant_lookup (result, "entries", "u", &n_checked);
  g_variant_lookup (result, "first-broken", "x", &first_broken);

  if (as_json)
    print_variant_as_json (result);
  else
    {
      if (clinic == 0)
        where = g_strdup (_("The audit log of entries about no clinic"));
      else
        {
          g_autofree char *id = format_id (clinic);

          where = g_strdup_printf (_("The audit log of clinic %s"), id);
        }

      if (intact)
        g_print (g_dngettext (GETTEXT_PACKAGE,
                              "%s is intact (%u entry checked).\n",
                              "%s is intact (%u entries checked).\n",
                              n_checked),
                 where, n_checked);
      else
        {
          g_autofree char *broken = format_id (first_broken);

          g_print (_("%s is BROKEN: entry %s does not match its hash. That entry, or one "
                     "before it, was changed or removed outside MyHealthFollowup.\n"),
                   where, broken);
        }
    }

  return intact ? EXIT_OK : EXIT_AUDIT_BROKEN;
}

/* ---- the command table ------------------------------------------------------------ */

/* GetClinikoStatus()'s scan keys; SetClinikoKey()'s summary has none. */
static void
print_scan_times (GVariant *status)
{
  gint64 last_at = 0, next_at = 0;
  gboolean last_ok = FALSE;
  guint32 interval = 0;
  const char *paused = NULL;

  if (g_variant_lookup (status, "scan-interval", "u", &interval))
    {
      g_autofree char *every = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u minute",
                                                             "%u minutes", interval),
                                                interval);

      g_print ("  %-20s %s\n", _("Scanned every:"), every);
    }
  if (g_variant_lookup (status, "last-scan-at", "x", &last_at))
    {
      g_autofree char *when = last_at != 0 ? format_time (last_at) : NULL;

      g_variant_lookup (status, "last-scan-ok", "b", &last_ok);
      if (when == NULL)
        g_print ("  %-20s %s\n", _("Last scan:"), _("none since the agent started"));
      else
        g_print ("  %-20s %s (%s)\n", _("Last scan:"), when,
                 last_ok ? _("succeeded") : _("failed"));
    }
  if (g_variant_lookup (status, "next-scan-at", "x", &next_at))
    {
      g_autofree char *when = next_at != 0 ? format_time (next_at) : NULL;

      g_print ("  %-20s %s\n", _("Next scan:"), when != NULL ? when : _("not scheduled"));
    }
  if (g_variant_lookup (status, "sending-paused-text", "&s", &paused) && *paused != '\0')
    g_print ("  %-20s %s\n", _("Sending paused:"), paused);
}

static void
print_cliniko_summary (GVariant *summary)
{
  const char *value = NULL;
  gboolean connected = TRUE;

  if (g_variant_lookup (summary, "connected", "b", &connected) && !connected)
    {
      const char *key_state = "none";

      g_variant_lookup (summary, "key-state", "&s", &key_state);
      g_print (_("Not connected to Cliniko (key: %s).\n"), key_state);
      print_scan_times (summary);
      return;
    }

  if (g_variant_lookup (summary, "account-name", "&s", &value))
    g_print ("  %-20s %s\n", _("Cliniko account:"), value);
  if (g_variant_lookup (summary, "user-name", "&s", &value))
    g_print ("  %-20s %s\n", _("Cliniko user:"), value);
  if (g_variant_lookup (summary, "user-role", "&s", &value))
    g_print ("  %-20s %s\n", _("Role in Cliniko:"), value);
  if (g_variant_lookup (summary, "shard", "&s", &value))
    g_print ("  %-20s %s\n", _("Shard:"), value);
  if (g_variant_lookup (summary, "fingerprint", "&s", &value))
    g_print ("  %-20s %s\n", _("Key fingerprint:"), value);
  if (g_variant_lookup (summary, "time-zone", "&s", &value))
    g_print ("  %-20s %s\n", _("Time zone:"), *value != '\0' ? value : _("(from each business)"));
  if (g_variant_lookup (summary, "key-state", "&s", &value))
    g_print ("  %-20s %s\n", _("Key state:"), value);
  if (g_variant_lookup (summary, "base-url-override", "&s", &value) && *value != '\0')
    g_print ("  %-20s %s\n", _("Cliniko address:"), value);
  print_scan_times (summary);
}

static int
verb_cliniko_connect (Ctl   *ctl,
                      int    argc,
                      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) summary = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CtlSecret) key = NULL;
  gboolean as_json = FALSE;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the connection as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Connect a clinic to Cliniko with an API key. The key is asked "
                                "on the terminal, or read from the line after your passphrase "
                                "with --passphrase-stdin; never give it on the command line. "
                                "Use a Cliniko user made for this integration: a key can do "
                                "whatever its user can. Owners of the clinic only."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  code = read_passphrase (ctl, _("Cliniko API key: "), NULL, &key);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_cliniko_key_sync (ctl->proxy, clinic, key, &summary,
                                                 NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (summary);
      return EXIT_OK;
    }

  g_print (_("Clinic %s is connected to Cliniko. The key is in the keyring.\n"), argv[1]);
  print_cliniko_summary (summary);
  return EXIT_OK;
}

static int
verb_cliniko_status (Ctl   *ctl,
                     int    argc,
                     char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the status as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Show a clinic's Cliniko connection: account, user, shard and "
                                "key fingerprint, never the key."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_get_cliniko_status_sync (ctl->proxy, clinic, &status, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    print_variant_as_json (status);
  else
    print_cliniko_summary (status);
  return EXIT_OK;
}

static const char *dict_string (GVariant   *dict,
                                const char *key);

static int
verb_cliniko_reference (Ctl   *ctl,
                        int    argc,
                        char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) items = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  GVariantIter iter;
  GVariant *entry;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the list as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("List a clinic's businesses, practitioners and appointment types "
                                "as last read from Cliniko, with the ids a rule's filters use. "
                                "Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_list_reference_sync (ctl->proxy, clinic, &items, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (items);
      return EXIT_OK;
    }

  g_variant_iter_init (&iter, items);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_print ("%-18s %-12s %s\n", dict_string (entry, "kind"), dict_string (entry, "id"),
               dict_string (entry, "name"));
      g_variant_unref (entry);
    }
  return EXIT_OK;
}

static int
verb_cliniko_disconnect (Ctl   *ctl,
                         int    argc,
                         char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Remove a clinic's Cliniko key from the keyring and pause the "
                                "clinic. Owners of the clinic only."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_remove_cliniko_key_sync (ctl->proxy, clinic, NULL, &error))
    return fail (ctl, error);

  g_print (_("Removed clinic %s's Cliniko key; the clinic is paused.\n"), argv[1]);
  return EXIT_OK;
}

static int
verb_cliniko_base_url (Ctl   *ctl,
                       int    argc,
                       char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("For the demo and tests: talk to a Cliniko stand-in on this "
                                "computer (http://127.0.0.1:PORT/v1) instead of Cliniko; "
                                "“default” goes back to Cliniko. Only loopback addresses are "
                                "accepted. Owners of the clinic only."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;

  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_cliniko_base_url_sync (ctl->proxy, clinic,
                                                      g_str_equal (argv[2], "default") ? "" : argv[2],
                                                      NULL, &error))
    return fail (ctl, error);

  g_print (_("Clinic %s now talks to %s.\n"), argv[1],
           g_str_equal (argv[2], "default") ? _("Cliniko") : argv[2]);
  return EXIT_OK;
}

/* ---- templates ------------------------------------------------------------------ */

static gboolean
read_text_file (Ctl         *ctl,
                const char  *path,
                char       **out)
{
  g_autoptr(GError) error = NULL;

  if (path == NULL)
    return TRUE;
  if (!g_file_get_contents (path, out, NULL, &error))
    {
      usage_error (ctl, _("cannot read %s: %s"), path, error->message);
      return FALSE;
    }
  return TRUE;
}

/* The stored template @id of @clinic, or NULL (after printing why). */
static GVariant *
fetch_template (Ctl    *ctl,
                gint64  clinic,
                gint64  id)
{
  g_autoptr(GVariant) templates = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  GVariant *entry;

  if (!mhf_ipc_agent1_call_list_templates_sync (ctl->proxy, clinic, &templates, NULL, &error))
    {
      fail (ctl, error);
      return NULL;
    }

  g_variant_iter_init (&iter, templates);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      gint64 entry_id = 0;

      if (g_variant_lookup (entry, "id", "x", &entry_id) && entry_id == id)
        return entry;
      g_variant_unref (entry);
    }

  fail_message (ctl, _("this clinic has no such template"));
  return NULL;
}

static const char *
dict_string (GVariant   *dict,
             const char *key)
{
  const char *value = "";

  g_variant_lookup (dict, key, "&s", &value);
  return value;
}

static int
verb_template_list (Ctl   *ctl,
                    int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) templates = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  GVariantIter iter;
  GVariant *entry;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the templates as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("List a clinic's templates. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_list_templates_sync (ctl->proxy, clinic, &templates, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (templates);
      return EXIT_OK;
    }

  g_variant_iter_init (&iter, templates);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      gint64 id = 0;

      g_variant_lookup (entry, "id", "x", &id);
      g_print ("%6" G_GINT64_FORMAT "  %-32s %s\n", id, dict_string (entry, "name"),
               dict_string (entry, "subject"));
      g_variant_unref (entry);
    }
  return EXIT_OK;
}

static int
verb_template_add (Ctl   *ctl,
                   int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *text_file = NULL;
  g_autofree char *html_file = NULL;
  g_autofree char *text = NULL;
  g_autofree char *html = NULL;
  gboolean as_json = FALSE;
  gint64 clinic, id = 0;
  int code;
  const GOptionEntry entries[] = {
    { "subject", 0, 0, G_OPTION_ARG_STRING, &subject, N_("The subject line"), N_("TEXT") },
    { "text-file", 0, 0, G_OPTION_ARG_FILENAME, &text_file, N_("The plain-text body"), N_("FILE") },
    { "html-file", 0, 0, G_OPTION_ARG_FILENAME, &html_file, N_("An HTML body"), N_("FILE") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the new template's id as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Add a template. Placeholders are {{ variable }} or "
                                "{{ variable | \"fallback\" }}; the README lists the variables. "
                                "Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (subject == NULL || text_file == NULL)
    return usage_error (ctl, _("--subject and --text-file are needed"));
  if (!read_text_file (ctl, text_file, &text) || !read_text_file (ctl, html_file, &html))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_add_template_sync (ctl->proxy, clinic, argv[2], subject, text,
                                              html != NULL ? html : "", &id, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    g_print ("{\"id\": %" G_GINT64_FORMAT "}\n", id);
  else
    g_print (_("Added template %" G_GINT64_FORMAT " “%s”.\n"), id, argv[2]);
  return EXIT_OK;
}

static int
verb_template_edit (Ctl   *ctl,
                    int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) current = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *text_file = NULL;
  g_autofree char *html_file = NULL;
  g_autofree char *text = NULL;
  g_autofree char *html = NULL;
  gint64 clinic, id;
  int code;
  const GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, N_("A new name"), N_("NAME") },
    { "subject", 0, 0, G_OPTION_ARG_STRING, &subject, N_("A new subject line"), N_("TEXT") },
    { "text-file", 0, 0, G_OPTION_ARG_FILENAME, &text_file, N_("A new plain-text body"), N_("FILE") },
    { "html-file", 0, 0, G_OPTION_ARG_FILENAME, &html_file,
      N_("A new HTML body (an empty file removes it)"), N_("FILE") },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Change a template; what is not given stays. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a template id"), argv[2]);
  if (!read_text_file (ctl, text_file, &text) || !read_text_file (ctl, html_file, &html))
    return EXIT_USAGE;

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  current = fetch_template (ctl, clinic, id);
  if (current == NULL)
    return EXIT_ERROR;

  if (!mhf_ipc_agent1_call_update_template_sync (ctl->proxy, clinic, id,
                                                 name ? name : dict_string (current, "name"),
                                                 subject ? subject : dict_string (current, "subject"),
                                                 text ? text : dict_string (current, "body-text"),
                                                 html ? html : dict_string (current, "body-html"),
                                                 NULL, &error))
    return fail (ctl, error);

  g_print (_("Saved template %" G_GINT64_FORMAT ".\n"), id);
  return EXIT_OK;
}

static int
verb_template_preview (Ctl   *ctl,
                       int    argc,
                       char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) current = NULL;
  g_autoptr(GVariant) preview = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic, id;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Show a template filled in with made-up sample data, never a "
                                "patient's. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a template id"), argv[2]);

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  current = fetch_template (ctl, clinic, id);
  if (current == NULL)
    return EXIT_ERROR;

  if (!mhf_ipc_agent1_call_preview_template_sync (ctl->proxy, clinic,
                                                  dict_string (current, "subject"),
                                                  dict_string (current, "body-text"),
                                                  dict_string (current, "body-html"),
                                                  &preview, NULL, &error))
    return fail (ctl, error);

  g_print (_("Subject: %s\n\n%s\n"), dict_string (preview, "subject"), dict_string (preview, "text"));
  if (*dict_string (preview, "html") != '\0')
    g_print ("\n--- HTML ---\n%s\n", dict_string (preview, "html"));
  return EXIT_OK;
}

static int
verb_template_delete (Ctl   *ctl,
                      int    argc,
                      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic, id;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Delete a template no rule uses. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a template id"), argv[2]);

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_delete_template_sync (ctl->proxy, clinic, id, NULL, &error))
    return fail (ctl, error);

  g_print (_("Deleted template %" G_GINT64_FORMAT ".\n"), id);
  return EXIT_OK;
}

/* ---- rules --------------------------------------------------------------------------- */

typedef struct
{
  char     *kind;
  gint64    template_id;
  char     *timing;
  char     *window;
  char     *category;
  gint64    latest;
  gboolean  last_minute;
  char    **businesses;
  char    **practitioners;
  char    **types;
} RuleOptions;

static void
rule_options_clear (RuleOptions *o)
{
  g_free (o->kind);
  g_free (o->timing);
  g_free (o->window);
  g_free (o->category);
  g_strfreev (o->businesses);
  g_strfreev (o->practitioners);
  g_strfreev (o->types);
}

static void
rule_entries (RuleOptions  *o,
              GOptionEntry *entries)
{
  const GOptionEntry template[] = {
    { "kind", 0, 0, G_OPTION_ARG_STRING, &o->kind,
      N_("reminder, follow-up, did-not-arrive or recall"), N_("KIND") },
    { "template", 0, 0, G_OPTION_ARG_INT64, &o->template_id, N_("The template's id"), N_("ID") },
    { "timing", 0, 0, G_OPTION_ARG_STRING, &o->timing,
      N_("e.g. “24h before”, “2d after”, “1d before at 17:00”"), N_("TIMING") },
    { "window", 0, 0, G_OPTION_ARG_STRING, &o->window,
      N_("Local send window, e.g. “mon-fri 08:00-18:00”; “” for any time"), N_("WINDOW") },
    { "category", 0, 0, G_OPTION_ARG_STRING, &o->category, N_("care or marketing"), N_("CATEGORY") },
    { "latest-useful-minutes", 0, 0, G_OPTION_ARG_INT64, &o->latest,
      N_("A reminder goes at least this long before the start; other kinds at most this late"),
      N_("MINUTES") },
    { "last-minute", 0, 0, G_OPTION_ARG_NONE, &o->last_minute,
      N_("Reminders: remind late bookings at once while still useful"), NULL },
    { "business", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->businesses,
      N_("Only appointments at this Cliniko business (repeatable)"), N_("ID") },
    { "practitioner", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->practitioners,
      N_("Only this practitioner's appointments (repeatable)"), N_("ID") },
    { "appointment-type", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->types,
      N_("Only this appointment type (repeatable)"), N_("ID") },
    { NULL }
  };

  memcpy (entries, template, sizeof template);
}

/* Without the terminating entry, which rule_entries() copies too. */
#define N_RULE_ENTRIES 10

/* The options given, over @base (a rule from ListRules, or none). */
static GVariant *
rule_dict (RuleOptions *o,
           const char  *name,
           GVariant    *base)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  static const char * const kept[] = { "name", "kind", "template", "timing", "window", "category",
                                       "latest-useful-minutes", "last-minute", "businesses",
                                       "practitioners", "appointment-types", NULL };

  for (guint i = 0; base != NULL && kept[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_variant_lookup_value (base, kept[i], NULL);

      if (value != NULL)
        g_variant_dict_insert_value (&dict, kept[i], value);
    }

  if (name != NULL)
    g_variant_dict_insert (&dict, "name", "s", name);
  if (o->kind != NULL)
    g_variant_dict_insert (&dict, "kind", "s", o->kind);
  if (o->template_id != 0)
    g_variant_dict_insert (&dict, "template", "x", o->template_id);
  if (o->timing != NULL)
    g_variant_dict_insert (&dict, "timing", "s", o->timing);
  if (o->window != NULL)
    g_variant_dict_insert (&dict, "window", "s", o->window);
  if (o->category != NULL)
    g_variant_dict_insert (&dict, "category", "s", o->category);
  if (o->latest != 0)
    g_variant_dict_insert (&dict, "latest-useful-minutes", "x", o->latest);
  if (o->last_minute)
    g_variant_dict_insert (&dict, "last-minute", "b", TRUE);
  if (o->businesses != NULL)
    g_variant_dict_insert (&dict, "businesses", "^as", o->businesses);
  if (o->practitioners != NULL)
    g_variant_dict_insert (&dict, "practitioners", "^as", o->practitioners);
  if (o->types != NULL)
    g_variant_dict_insert (&dict, "appointment-types", "^as", o->types);

  return g_variant_dict_end (&dict);
}

static int
verb_rule_list (Ctl   *ctl,
                int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) rules = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  GVariantIter iter;
  GVariant *entry;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the rules as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("List a clinic's rules, with the Cliniko setting that gates each. "
                                "Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_list_rules_sync (ctl->proxy, clinic, &rules, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (rules);
      return EXIT_OK;
    }

  g_variant_iter_init (&iter, rules);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      gint64 id = 0;
      gboolean enabled = FALSE;

      g_variant_lookup (entry, "id", "x", &id);
      g_variant_lookup (entry, "enabled", "b", &enabled);
      g_print ("%6" G_GINT64_FORMAT "  %-28s %-15s %-22s %s\n", id, dict_string (entry, "name"),
               dict_string (entry, "kind"), dict_string (entry, "timing"),
               enabled ? _("enabled") : _("disabled"));
      g_print ("        %s\n", dict_string (entry, "gated-by"));
      g_variant_unref (entry);
    }
  return EXIT_OK;
}

static int
verb_rule_add (Ctl   *ctl,
               int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  GOptionEntry entries[N_RULE_ENTRIES + 2];
  RuleOptions o = { 0 };
  gboolean as_json = FALSE;
  gint64 clinic, id = 0;
  int code;

  rule_entries (&o, entries);
  entries[N_RULE_ENTRIES] = (GOptionEntry) { "json", 0, 0, G_OPTION_ARG_NONE, &as_json,
                                             N_("Print the new rule's id as JSON"), NULL };
  entries[N_RULE_ENTRIES + 1] = (GOptionEntry) { NULL };
  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Add a rule, disabled; enable it when its dry run looks right. "
                                "--kind, --template and --timing are needed. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code == EXIT_OK && !parse_clinic (ctl, argv[1], 1, &clinic))
    code = EXIT_USAGE;
  if (code == EXIT_OK)
    code = ctl_sign_in (ctl, NULL, NULL);
  if (code == EXIT_OK &&
      !mhf_ipc_agent1_call_add_rule_sync (ctl->proxy, clinic, rule_dict (&o, argv[2], NULL), &id,
                                          NULL, &error))
    code = fail (ctl, error);
  if (code == EXIT_OK && as_json)
    g_print ("{\"id\": %" G_GINT64_FORMAT "}\n", id);
  else if (code == EXIT_OK)
    g_print (_("Added rule %" G_GINT64_FORMAT " “%s” (disabled).\n"), id, argv[2]);

  rule_options_clear (&o);
  return code;
}

static GVariant *
fetch_rule (Ctl    *ctl,
            gint64  clinic,
            gint64  id)
{
  g_autoptr(GVariant) rules = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  GVariant *entry;

  if (!mhf_ipc_agent1_call_list_rules_sync (ctl->proxy, clinic, &rules, NULL, &error))
    {
      fail (ctl, error);
      return NULL;
    }

  g_variant_iter_init (&iter, rules);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      gint64 entry_id = 0;

      if (g_variant_lookup (entry, "id", "x", &entry_id) && entry_id == id)
        return entry;
      g_variant_unref (entry);
    }

  fail_message (ctl, _("this clinic has no such rule"));
  return NULL;
}

static int
verb_rule_edit (Ctl   *ctl,
                int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) current = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  GOptionEntry entries[N_RULE_ENTRIES + 2];
  RuleOptions o = { 0 };
  gint64 clinic, id = 0;
  int code;

  rule_entries (&o, entries);
  entries[N_RULE_ENTRIES] = (GOptionEntry) { "name", 0, 0, G_OPTION_ARG_STRING, &name,
                                             N_("A new name"), N_("NAME") };
  entries[N_RULE_ENTRIES + 1] = (GOptionEntry) { NULL };
  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Change a rule; what is not given stays. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code == EXIT_OK && !parse_clinic (ctl, argv[1], 1, &clinic))
    code = EXIT_USAGE;
  if (code == EXIT_OK && !g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    code = usage_error (ctl, _("“%s” is not a rule id"), argv[2]);
  if (code == EXIT_OK)
    code = ctl_sign_in (ctl, NULL, NULL);
  if (code == EXIT_OK && (current = fetch_rule (ctl, clinic, id)) == NULL)
    code = EXIT_ERROR;
  if (code == EXIT_OK &&
      !mhf_ipc_agent1_call_update_rule_sync (ctl->proxy, clinic, id, rule_dict (&o, name, current),
                                             NULL, &error))
    code = fail (ctl, error);
  if (code == EXIT_OK)
    g_print (_("Saved rule %" G_GINT64_FORMAT ".\n"), id);

  rule_options_clear (&o);
  return code;
}

static int
rule_set_enabled (Ctl      *ctl,
                  int       argc,
                  char    **argv,
                  gboolean  enabled)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic, id;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              enabled ? _("Enable a rule: it plans messages from now on, never for "
                                          "the past. Managers and owners.")
                                      : _("Disable a rule. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a rule id"), argv[2]);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_rule_enabled_sync (ctl->proxy, clinic, id, enabled, NULL, &error))
    return fail (ctl, error);

  g_print (enabled ? _("Enabled rule %" G_GINT64_FORMAT ".\n")
                   : _("Disabled rule %" G_GINT64_FORMAT ".\n"), id);
  return EXIT_OK;
}

static int
verb_rule_enable (Ctl   *ctl,
                  int    argc,
                  char **argv)
{
  return rule_set_enabled (ctl, argc, argv, TRUE);
}

static int
verb_rule_disable (Ctl   *ctl,
                   int    argc,
                   char **argv)
{
  return rule_set_enabled (ctl, argc, argv, FALSE);
}

static int
verb_rule_delete (Ctl   *ctl,
                  int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic, id;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Delete a rule that has no messages yet. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a rule id"), argv[2]);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_delete_rule_sync (ctl->proxy, clinic, id, NULL, &error))
    return fail (ctl, error);

  g_print (_("Deleted rule %" G_GINT64_FORMAT ".\n"), id);
  return EXIT_OK;
}

static int
verb_rule_dry_run (Ctl   *ctl,
                   int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) current = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic, id = 0, days = 7;
  gboolean as_json = FALSE;
  guint32 n = 0;
  int code;
  const GOptionEntry entries[] = {
    { "days", 0, 0, G_OPTION_ARG_INT64, &days, N_("How many days ahead (1 to 60)"), N_("DAYS") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the result as JSON"), NULL },
    { NULL }
  };
  static const struct { const char *key; const char *label; } lines[] = {
    { "appointments", N_("Appointments looked at:") },
    { "planned", N_("Would be planned:") },
    { "filtered-out", N_("Left out by the filters:") },
    { "cancelled", N_("Cancelled or deleted:") },
    { "too-late", N_("No useful time left:") },
    { "in-the-past", N_("Would have gone already:") },
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("What a rule would plan in the next days, from the clinic's "
                                "appointments in Cliniko; nothing is planned or sent. Managers "
                                "and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a rule id"), argv[2]);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  current = fetch_rule (ctl, clinic, id);
  if (current == NULL)
    return EXIT_ERROR;

  if (!mhf_ipc_agent1_call_dry_run_rule_sync (ctl->proxy, clinic, rule_dict (&(RuleOptions) { 0 },
                                                                             NULL, current),
                                              (guint) CLAMP (days, 0, G_MAXUINT32), &result,
                                              NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (result);
      return EXIT_OK;
    }

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      n = 0;
      g_variant_lookup (result, lines[i].key, "u", &n);
      g_print ("  %-28s %u\n", _(lines[i].label), n);
    }

  first = g_variant_lookup_value (result, "first-planned", G_VARIANT_TYPE ("ax"));
  if (first != NULL && g_variant_n_children (first) > 0)
    {
      g_print ("%s\n", _("First planned sends:"));
      for (gsize i = 0; i < g_variant_n_children (first); i++)
        {
          g_autoptr(GDateTime) at = NULL;
          g_autoptr(GDateTime) local = NULL;
          g_autofree char *text = NULL;
          gint64 when = 0;

          g_variant_get_child (first, i, "x", &when);
          at = g_date_time_new_from_unix_utc (when / G_USEC_PER_SEC);
          local = g_date_time_to_local (at);
          text = g_date_time_format (local, "%Y-%m-%d %H:%M %Z");
          g_print ("  %s\n", text);
        }
    }
  return EXIT_OK;
}

/* {"clinic": N, "<member>": [...], "next": N} for a page of a list. */
static void
print_page_as_json (gint64      clinic,
                    const char *member,
                    GVariant   *items,
                    gint64      next)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  GVariantIter iter;
  GVariant *item;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "clinic");
  json_builder_add_int_value (builder, clinic);
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  g_variant_iter_init (&iter, items);
  while ((item = g_variant_iter_next_value (&iter)) != NULL)
    {
      add_variant_to_json (builder, item);
      g_variant_unref (item);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "next");
  json_builder_add_int_value (builder, next);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  print_json (root);
}

static int
verb_scan (Ctl   *ctl,
           int    argc,
           char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the result as JSON"), NULL },
    { NULL }
  };
  static const struct { const char *key; const char *label; } lines[] = {
    { "items", N_("Appointments and class places looked at:") },
    { "planned", N_("New messages planned:") },
    { "replanned", N_("Messages given a new time:") },
    { "cancelled", N_("Messages cancelled:") },
    { "skipped", N_("Skipped (no useful time left):") },
    { "lists", N_("Cliniko lists read:") },
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Scan a clinic's appointments in Cliniko now and plan or "
                                "reconcile its messages, as the agent does on its timer. Staff, "
                                "managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_scan_now_sync (ctl->proxy, clinic, &result, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (result);
      return EXIT_OK;
    }
  for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      guint32 n = 0;

      g_variant_lookup (result, lines[i].key, "u", &n);
      g_print ("  %-42s %u\n", _(lines[i].label), n);
    }
  return EXIT_OK;
}

static int
verb_clinic_scan_interval (Ctl   *ctl,
                           int    argc,
                           char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic;
  guint64 minutes;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("How often the agent scans the clinic's appointments, in minutes "
                                "(1 to 60; 5 by default). Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_unsigned (argv[2], 10, 1, 60, &minutes, NULL))
    return usage_error (ctl, _("MINUTES must be 1 to 60"));
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_scan_interval_sync (ctl->proxy, clinic, (guint32) minutes, NULL,
                                                   &error))
    return fail (ctl, error);

  g_print (_("Clinic %" G_GINT64_FORMAT " is scanned every %u minutes.\n"), clinic,
           (guint) minutes);
  return EXIT_OK;
}

static int
verb_clinic_retention (Ctl   *ctl,
                       int    argc,
                       char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic;
  guint64 days;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("How many days of delivery history a clinic keeps (30 to 3650; "
                                "400 by default). Older history and finished messages are "
                                "removed at once and daily after; the audit log is kept. "
                                "Owners of the clinic only."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_unsigned (argv[2], 10, 30, 3650, &days, NULL))
    return usage_error (ctl, _("DAYS must be 30 to 3650"));
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_retention_sync (ctl->proxy, clinic, (guint32) days, NULL, &error))
    return fail (ctl, error);

  g_print (_("Clinic %" G_GINT64_FORMAT " keeps %u days of delivery history.\n"), clinic,
           (guint) days);
  return EXIT_OK;
}

static int
verb_outbox (Ctl   *ctl,
             int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) messages = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GVariantDict) filter = G_VARIANT_DICT_INIT (NULL);
  g_autofree char *state = NULL;
  gboolean as_json = FALSE;
  gint64 clinic, rule = 0, before = 0, next = 0;
  int limit = 100;
  int code;
  const GOptionEntry entries[] = {
    { "state", 0, 0, G_OPTION_ARG_STRING, &state,
      N_("Only messages in this state: planned, sending, sent, skipped, retry_wait, failed, "
         "cancelled or interrupted"), N_("STATE") },
    { "rule", 0, 0, G_OPTION_ARG_INT64, &rule, N_("Only this rule's messages"), N_("ID") },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, N_("At most N messages (1 to 500; 100 by default)"),
      N_("N") },
    { "before", 0, 0, G_OPTION_ARG_INT64, &before,
      N_("Messages older than the message ID, to page through"), N_("ID") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the messages as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Show a clinic's planned and past messages, newest first: when, "
                                "which rule and appointment, the state and the reason. Never a "
                                "name or an address. Staff, managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (limit < 1 || limit > 500)
    return usage_error (ctl, _("--limit must be 1 to %d"), 500);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (state != NULL)
    g_variant_dict_insert (&filter, "state", "s", state);
  if (rule > 0)
    g_variant_dict_insert (&filter, "rule", "x", rule);
  if (before > 0)
    g_variant_dict_insert (&filter, "before", "x", before);
  g_variant_dict_insert (&filter, "limit", "u", (guint32) limit);

  if (!mhf_ipc_agent1_call_list_outbox_sync (ctl->proxy, clinic, g_variant_dict_end (&filter),
                                             &messages, &next, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_page_as_json (clinic, "messages", messages, next);
      return EXIT_OK;
    }

  if (g_variant_n_children (messages) == 0)
    {
      g_print (_("No messages.\n"));
      return EXIT_OK;
    }

  {
    g_autoptr(CtlTable) table = ctl_table_new (_("ID"), _("PLANNED FOR"), _("STATE"), _("RULE"),
                                               _("APPOINTMENT"), _("REASON"), NULL);
    GVariantIter iter;
    GVariant *message;

    g_variant_iter_init (&iter, messages);
    while ((message = g_variant_iter_next_value (&iter)) != NULL)
      {
        g_autoptr(GVariant) owned = message;
        g_autofree char *id_text = NULL;
        g_autofree char *at_text = NULL;
        g_autofree char *appointment_text = NULL;
        const char *state_text = "", *rule_name = "", *appointment = "", *attendee = "";
        const char *reason_text = "";
        gint64 id = 0, planned = 0;

        g_variant_lookup (owned, "id", "x", &id);
        g_variant_lookup (owned, "planned-at", "x", &planned);
        g_variant_lookup (owned, "state", "&s", &state_text);
        g_variant_lookup (owned, "rule-name", "&s", &rule_name);
        g_variant_lookup (owned, "appointment", "&s", &appointment);
        g_variant_lookup (owned, "attendee", "&s", &attendee);
        g_variant_lookup (owned, "reason-text", "&s", &reason_text);
        id_text = format_id (id);
        at_text = format_time (planned);
        appointment_text = *attendee != '\0'
          ? g_strdup_printf ("%s/%s", appointment, attendee) : g_strdup (appointment);
        ctl_table_add_row (table, id_text, at_text, state_text, rule_name, appointment_text,
                           reason_text);
      }
    ctl_table_print (table);
  }

  if (next != 0)
    {
      g_autofree char *next_text = format_id (next);

      g_print (_("\nOlder messages: add --before %s.\n"), next_text);
    }
  return EXIT_OK;
}

static int
verb_cancel (Ctl   *ctl,
             int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  gint64 clinic, id;
  int code;
  const GOptionEntry entries[] = {
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, N_("Why, for the audit log"), N_("TEXT") },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Cancel a planned or retrying message. Staff, managers and "
                                "owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a message id"), argv[2]);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_cancel_message_sync (ctl->proxy, clinic, id, reason ?: "", NULL,
                                                &error))
    return fail (ctl, error);

  g_print (_("Cancelled message %" G_GINT64_FORMAT ".\n"), id);
  return EXIT_OK;
}

static int
verb_retry (Ctl   *ctl,
            int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gint64 clinic, id;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Plan a failed, interrupted, skipped or cancelled message again, "
                                "due now; it passes every check again before it goes. Managers "
                                "and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 2);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &id, NULL))
    return usage_error (ctl, _("“%s” is not a message id"), argv[2]);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_retry_message_sync (ctl->proxy, clinic, id, NULL, &error))
    return fail (ctl, error);

  g_print (_("Message %" G_GINT64_FORMAT " is planned again.\n"), id);
  return EXIT_OK;
}

static int
verb_smtp_set (Ctl   *ctl,
               int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CtlSecret) password = NULL;
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autofree char *transport = NULL, *host = NULL, *security = NULL, *username = NULL;
  g_autofree char *ca_file = NULL, *folder = NULL, *from_name = NULL, *from_address = NULL;
  g_autofree char *reply_to = NULL;
  gboolean ask_password = FALSE, no_write_back = FALSE;
  gint64 clinic;
  int port = 0;
  int code;
  const GOptionEntry entries[] = {
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport,
      N_("smtp (default), or file to write .eml files into --folder"), N_("KIND") },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host, N_("SMTP server"), N_("HOST") },
    { "port", 0, 0, G_OPTION_ARG_INT, &port, N_("SMTP port (587 for STARTTLS, 465 for TLS)"),
      N_("PORT") },
    { "security", 0, 0, G_OPTION_ARG_STRING, &security,
      N_("starttls (default), tls, or none (only to this computer)"), N_("MODE") },
    { "username", 0, 0, G_OPTION_ARG_STRING, &username, N_("SMTP login"), N_("NAME") },
    { "password", 0, 0, G_OPTION_ARG_NONE, &ask_password,
      N_("Set the SMTP password: asked on the terminal, or read from the line after your "
         "passphrase with --passphrase-stdin"), NULL },
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
      N_("An extra trusted CA certificate (PEM), for an on-premises server"), N_("FILE") },
    { "folder", 0, 0, G_OPTION_ARG_FILENAME, &folder, N_("Where the file transport writes"),
      N_("DIR") },
    { "from-name", 0, 0, G_OPTION_ARG_STRING, &from_name, N_("Sender name"), N_("NAME") },
    { "from-address", 0, 0, G_OPTION_ARG_STRING, &from_address, N_("Sender address"),
      N_("ADDRESS") },
    { "reply-to", 0, 0, G_OPTION_ARG_STRING, &reply_to,
      N_("Reply-To address (default: each business's reply-to in Cliniko)"), N_("ADDRESS") },
    { "no-write-back", 0, 0, G_OPTION_ARG_NONE, &no_write_back,
      N_("Do not record a memo in Cliniko after each send"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Set how a clinic sends email. The password goes to the keyring "
                                "and is never shown again. Managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;

  g_variant_dict_insert (&dict, "transport", "s", transport ?: "smtp");
  if (host != NULL)
    g_variant_dict_insert (&dict, "host", "s", host);
  if (port != 0)
    g_variant_dict_insert (&dict, "port", "u", (guint32) CLAMP (port, 0, 65535));
  g_variant_dict_insert (&dict, "security", "s", security ?: "starttls");
  if (username != NULL)
    g_variant_dict_insert (&dict, "username", "s", username);
  if (folder != NULL)
    g_variant_dict_insert (&dict, "folder", "s", folder);
  if (from_name != NULL)
    g_variant_dict_insert (&dict, "from-name", "s", from_name);
  if (from_address != NULL)
    g_variant_dict_insert (&dict, "from-address", "s", from_address);
  if (reply_to != NULL)
    g_variant_dict_insert (&dict, "reply-to", "s", reply_to);
  g_variant_dict_insert (&dict, "write-back", "b", !no_write_back);
  if (ca_file != NULL)
    {
      g_autofree char *pem = NULL;

      if (!g_file_get_contents (ca_file, &pem, NULL, &error))
        return fail (ctl, error);
      g_variant_dict_insert (&dict, "ca-pem", "s", pem);
    }

  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;
  if (ask_password)
    {
      code = read_passphrase (ctl, _("SMTP password: "), NULL, &password);
      if (code != EXIT_OK)
        return code;
      g_variant_dict_insert (&dict, "password", "s", password);
    }

  if (!mhf_ipc_agent1_call_set_email_settings_sync (ctl->proxy, clinic, g_variant_dict_end (&dict),
                                                    NULL, &error))
    return fail (ctl, error);

  g_print (_("Email settings saved for clinic %s.\n"), argv[1]);
  return EXIT_OK;
}

static int
verb_smtp_show (Ctl   *ctl,
                int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GError) error = NULL;
  gboolean as_json = FALSE;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the settings as JSON"), NULL },
    { NULL }
  };
  static const char * const keys[] = {
    "transport", "host", "port", "security", "username", "password-set", "folder", "from-name",
    "from-address", "reply-to", "write-back", "problem", "waiting",
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Show how a clinic sends email (never the password). Managers "
                                "and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_get_email_settings_sync (ctl->proxy, clinic, &settings, NULL, &error))
    return fail (ctl, error);
  if (as_json)
    {
      print_variant_as_json (settings);
      return EXIT_OK;
    }
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autoptr(GVariant) value = g_variant_lookup_value (settings, keys[i], NULL);
      g_autofree char *text = NULL;

      if (value == NULL)
        continue;
      text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
             ? g_variant_dup_string (value, NULL) : g_variant_print (value, FALSE);
      g_print ("  %-14s %s\n", keys[i], text);
    }
  return EXIT_OK;
}

static int
verb_smtp_test (Ctl   *ctl,
                int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  const char *message_id = "";
  gint64 clinic, template_id;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Send a template, filled with sample data (never a patient's), "
                                "to ADDRESS through the clinic's email settings. Managers and "
                                "owners."));
  code = parse_verb (ctl, context, &argc, &argv, 3);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (!g_ascii_string_to_signed (argv[2], 10, 1, G_MAXINT64, &template_id, NULL))
    return usage_error (ctl, _("“%s” is not a template id"), argv[2]);
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_send_test_email_sync (ctl->proxy, clinic, template_id, argv[3], &result,
                                                 NULL, &error))
    return fail (ctl, error);
  g_variant_lookup (result, "message-id", "&s", &message_id);
  g_print (_("Sent; the server accepted it as <%s>.\n"), message_id);
  return EXIT_OK;
}

static GVariant *
history_filter (const char *state,
                gint64      rule,
                gint64      before,
                int         limit)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  if (state != NULL)
    g_variant_dict_insert (&dict, "state", "s", state);
  if (rule > 0)
    g_variant_dict_insert (&dict, "rule", "x", rule);
  if (before > 0)
    g_variant_dict_insert (&dict, "before", "x", before);
  if (limit > 0)
    g_variant_dict_insert (&dict, "limit", "u", (guint32) limit);
  return g_variant_dict_end (&dict);
}

/* history --daily: one line a day, oldest first. */
static int
print_daily_counts (Ctl     *ctl,
                    gint64   clinic,
                    int      days,
                    gboolean as_json)
{
  g_autoptr(GVariant) counts = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CtlTable) table = NULL;
  GVariantIter iter;
  GVariant *day;

  if (!mhf_ipc_agent1_call_get_daily_counts_sync (ctl->proxy, clinic, (guint32) days, &counts,
                                                  NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_variant_as_json (counts);
      return EXIT_OK;
    }

  table = ctl_table_new (_("DAY"), _("SENT"), _("SKIPPED"), _("FAILED"), _("CANCELLED"), NULL);
  g_variant_iter_init (&iter, counts);
  while ((day = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = day;
      g_autofree char *sent = NULL, *skipped = NULL, *failed = NULL, *cancelled = NULL;
      const char *date = "";
      guint32 n[4] = { 0, };

      g_variant_lookup (owned, "day", "&s", &date);
      g_variant_lookup (owned, "sent", "u", &n[0]);
      g_variant_lookup (owned, "skipped", "u", &n[1]);
      g_variant_lookup (owned, "failed", "u", &n[2]);
      g_variant_lookup (owned, "cancelled", "u", &n[3]);
      sent = g_strdup_printf ("%u", n[0]);
      skipped = g_strdup_printf ("%u", n[1]);
      failed = g_strdup_printf ("%u", n[2]);
      cancelled = g_strdup_printf ("%u", n[3]);
      ctl_table_add_row (table, date, sent, skipped, failed, cancelled);
    }
  ctl_table_print (table);
  return EXIT_OK;
}

static int
verb_history (Ctl   *ctl,
              int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state = NULL;
  gboolean as_json = FALSE, daily = FALSE;
  gint64 clinic, rule = 0, before = 0, next = 0;
  int limit = 100;
  int days = 14;
  int code;
  const GOptionEntry entries[] = {
    { "daily", 0, 0, G_OPTION_ARG_NONE, &daily,
      N_("Count the events of each day by state instead"), NULL },
    { "days", 0, 0, G_OPTION_ARG_INT, &days,
      N_("With --daily: how many days, ending today (1 to 90; 14 by default)"), N_("N") },
    { "state", 0, 0, G_OPTION_ARG_STRING, &state, N_("Only events in this state"), N_("STATE") },
    { "rule", 0, 0, G_OPTION_ARG_INT64, &rule, N_("Only this rule's events"), N_("ID") },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, N_("At most N events (1 to 500)"), N_("N") },
    { "before", 0, 0, G_OPTION_ARG_INT64, &before, N_("Events older than the event ID"),
      N_("ID") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the events as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Show a clinic's delivery history, newest first, with masked "
                                "recipients; or with --daily, how many messages were sent, "
                                "skipped, failed or cancelled each day, in the clinic's time "
                                "zone. Staff, managers and owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (daily && (days < 1 || days > 90))
    return usage_error (ctl, _("--days must be 1 to 90"));
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (daily)
    return print_daily_counts (ctl, clinic, days, as_json);

  if (!mhf_ipc_agent1_call_list_history_sync (ctl->proxy, clinic,
                                              history_filter (state, rule, before, limit),
                                              &events, &next, NULL, &error))
    return fail (ctl, error);

  if (as_json)
    {
      print_page_as_json (clinic, "events", events, next);
      return EXIT_OK;
    }

  if (g_variant_n_children (events) == 0)
    {
      g_print (_("No delivery history.\n"));
      return EXIT_OK;
    }

  {
    g_autoptr(CtlTable) table = ctl_table_new (_("TIME"), _("MESSAGE"), _("TEMPLATE"), _("STATE"),
                                               _("RECIPIENT"), _("REASON"), NULL);
    GVariantIter iter;
    GVariant *event;

    g_variant_iter_init (&iter, events);
    while ((event = g_variant_iter_next_value (&iter)) != NULL)
      {
        g_autoptr(GVariant) owned = event;
        g_autofree char *at_text = NULL;
        g_autofree char *message_text = NULL;
        const char *template_name = "", *state_text = "", *recipient = "", *reason = "";
        gint64 at = 0, message = 0;

        g_variant_lookup (owned, "at", "x", &at);
        g_variant_lookup (owned, "message", "x", &message);
        g_variant_lookup (owned, "template", "&s", &template_name);
        g_variant_lookup (owned, "state", "&s", &state_text);
        g_variant_lookup (owned, "recipient", "&s", &recipient);
        g_variant_lookup (owned, "reason-text", "&s", &reason);
        at_text = format_time (at);
        message_text = format_id (message);
        ctl_table_add_row (table, at_text, message_text, template_name, state_text, recipient,
                           reason);
      }
    ctl_table_print (table);
  }
  if (next != 0)
    {
      g_autofree char *next_text = format_id (next);

      g_print (_("\nOlder events: add --before %s.\n"), next_text);
    }
  return EXIT_OK;
}

static int
verb_export (Ctl   *ctl,
             int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *csv_path = NULL;
  g_autofree char *csv = NULL;
  g_autofree char *state = NULL;
  gint64 clinic;
  int code;
  const GOptionEntry entries[] = {
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv_path, N_("Write the history to FILE as CSV"),
      N_("FILE") },
    { "state", 0, 0, G_OPTION_ARG_STRING, &state, N_("Only events in this state"), N_("STATE") },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_FULL,
                              _("Export a clinic's redacted delivery history: masked recipients "
                                "and keyed hashes, never an address. Owners."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!parse_clinic (ctl, argv[1], 1, &clinic))
    return EXIT_USAGE;
  if (csv_path == NULL)
    return usage_error (ctl, _("--csv FILE is needed"));
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_export_history_sync (ctl->proxy, clinic,
                                                history_filter (state, 0, 0, 0), &csv, NULL,
                                                &error))
    return fail (ctl, error);
  if (!g_file_set_contents_full (csv_path, csv, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    return fail (ctl, error);
  g_print (_("Wrote %s.\n"), csv_path);
  return EXIT_OK;
}

/* ---- licence ------------------------------------------------------------------------ */

static int
verb_licence_set (Ctl   *ctl,
                  int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  int code;

  context = verb_context_new (ctl, NULL, SIGN_IN_FULL,
                              _("Enter the licence token from FILE (as sent by the vendor). "
                                "Sending paused for the licence resumes at once. Owners of "
                                "every clinic only."));
  code = parse_verb (ctl, context, &argc, &argv, 1);
  if (code != EXIT_OK)
    return code;
  if (!read_text_file (ctl, argv[1], &token))
    return EXIT_USAGE;
  code = ctl_sign_in (ctl, NULL, NULL);
  if (code != EXIT_OK)
    return code;

  if (!mhf_ipc_agent1_call_set_licence_sync (ctl->proxy, token, NULL, &error))
    return fail (ctl, error);

  g_print (_("The licence is in place.\n"));
  return EXIT_OK;
}

static int
verb_licence_show (Ctl   *ctl,
                   int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) licence = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expires = NULL;
  g_autofree char *trial_ends = NULL;
  g_autofree char *until = NULL;
  gboolean as_json = FALSE;
  const char *state = "", *plan = "", *portal = "";
  gint64 expires_at = 0, trial_ends_at = 0, sending_until = 0;
  guint32 clinics = 0;
  int code;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the licence as JSON"), NULL },
    { NULL }
  };

  context = verb_context_new (ctl, entries, SIGN_IN_NONE,
                              _("Show the licence: trial, active, grace (expired, still "
                                "sending), expired (sending paused) or invalid."));
  code = parse_verb (ctl, context, &argc, &argv, 0);
  if (code != EXIT_OK)
    return code;

  proxy = connect_agent (&error);
  if (proxy != NULL)
    status = get_settled_status (proxy, &error);
  if (status == NULL)
    {
      print_error (ctl, _("cannot reach the agent"), error);
      return EXIT_ERROR;
    }
  licence = g_variant_lookup_value (status, "licence", G_VARIANT_TYPE_VARDICT);
  if (licence == NULL)
    {
      g_printerr (_("myhealthfollowupctl: the agent cannot read its database yet; see "
                    "“myhealthfollowupctl status”\n"));
      return EXIT_NOT_READY;
    }

  if (as_json)
    {
      print_variant_as_json (licence);
      return EXIT_OK;
    }

  g_variant_lookup (licence, "state", "&s", &state);
  g_variant_lookup (licence, "plan", "&s", &plan);
  g_variant_lookup (licence, "clinics", "u", &clinics);
  g_variant_lookup (licence, "expires-at", "x", &expires_at);
  g_variant_lookup (licence, "trial-ends-at", "x", &trial_ends_at);
  g_variant_lookup (licence, "sending-until", "x", &sending_until);
  g_variant_lookup (licence, "portal-url", "&s", &portal);
  expires = format_time (expires_at);
  trial_ends = format_time (trial_ends_at);
  until = format_time (sending_until);

  g_print ("  %-20s %s\n", _("State:"), state);
  g_print ("  %-20s %s\n", _("Plan:"), plan);
  if (expires_at != 0)
    {
      g_print ("  %-20s %u\n", _("Clinics:"), clinics);
      g_print ("  %-20s %s\n", _("Expires:"), expires);
    }
  else
    g_print ("  %-20s %s\n", _("Trial ends:"), trial_ends);
  if (g_str_equal (state, "expired") || g_str_equal (state, "invalid"))
    g_print ("  %-20s %s\n", _("Sending:"), _("paused; due messages are kept"));
  else
    {
      g_autofree char *until_text = g_strdup_printf (_("until %s"), until);

      g_print ("  %-20s %s\n", _("Sending:"), until_text);
    }
  if (*portal != '\0')
    g_print ("  %-20s %s\n", _("Billing portal:"), portal);
  return EXIT_OK;
}

static const Verb verbs[] = {
  { "status", NULL, NULL, verb_status, N_("Show the agent's health") },
  { "reset", NULL, NULL, verb_reset, N_("Start over when the database cannot be opened") },
  { "whoami", NULL, NULL, verb_whoami, N_("Show who is signed in, or that nobody is") },
  { "signin", NULL, NULL, verb_signin, N_("Check a passphrase and show your roles") },
  { "signout", NULL, NULL, verb_signout, N_("Sign in and out again") },
  { "owner", "create", N_("USERNAME"), verb_owner_create,
    N_("Create the first user, an owner of every clinic") },
  { "user", "list", NULL, verb_user_list, N_("List users and their roles") },
  { "user", "add", N_("USERNAME"), verb_user_add, N_("Add a user") },
  { "user", "remove", N_("USERNAME"), verb_user_remove, N_("Remove a user") },
  { "user", "role", N_("USERNAME CLINIC ROLE"), verb_user_role,
    N_("Set or remove a user's role on a clinic") },
  { "user", "passwd", NULL, verb_user_passwd, N_("Change your own passphrase") },
  { "user", "reset-passphrase", N_("USERNAME"), verb_user_reset_passphrase,
    N_("Set another user's passphrase") },
  { "settings", "idle-timeout", N_("MINUTES"), verb_settings_idle_timeout,
    N_("Set how long an idle session lasts") },
  { "clinic", "add", N_("NAME"), verb_clinic_add, N_("Add a clinic") },
  { "clinic", "list", NULL, verb_clinic_list, N_("List your clinics") },
  { "clinic", "remove", N_("ID"), verb_clinic_remove, N_("Remove a clinic") },
  { "cliniko", "connect", N_("CLINIC"), verb_cliniko_connect,
    N_("Connect a clinic to Cliniko with an API key") },
  { "cliniko", "status", N_("CLINIC"), verb_cliniko_status,
    N_("Show a clinic's Cliniko connection") },
  { "cliniko", "reference", N_("CLINIC"), verb_cliniko_reference,
    N_("List businesses, practitioners and appointment types") },
  { "cliniko", "disconnect", N_("CLINIC"), verb_cliniko_disconnect,
    N_("Remove a clinic's Cliniko key and pause it") },
  { "cliniko", "base-url", N_("CLINIC URL"), verb_cliniko_base_url,
    N_("Use a local Cliniko stand-in (demo, tests)") },
  { "template", "list", N_("CLINIC"), verb_template_list, N_("List a clinic's templates") },
  { "template", "add", N_("CLINIC NAME"), verb_template_add, N_("Add a template") },
  { "template", "edit", N_("CLINIC ID"), verb_template_edit, N_("Change a template") },
  { "template", "preview", N_("CLINIC ID"), verb_template_preview,
    N_("Show a template with sample data") },
  { "template", "delete", N_("CLINIC ID"), verb_template_delete, N_("Delete a template") },
  { "rule", "list", N_("CLINIC"), verb_rule_list, N_("List a clinic's rules") },
  { "rule", "add", N_("CLINIC NAME"), verb_rule_add, N_("Add a rule") },
  { "rule", "edit", N_("CLINIC ID"), verb_rule_edit, N_("Change a rule") },
  { "rule", "enable", N_("CLINIC ID"), verb_rule_enable, N_("Enable a rule") },
  { "rule", "disable", N_("CLINIC ID"), verb_rule_disable, N_("Disable a rule") },
  { "rule", "delete", N_("CLINIC ID"), verb_rule_delete, N_("Delete a rule") },
  { "rule", "dry-run", N_("CLINIC ID"), verb_rule_dry_run,
    N_("Show what a rule would plan, sending nothing") },
  { "clinic", "scan-interval", N_("CLINIC MINUTES"), verb_clinic_scan_interval,
    N_("Set how often a clinic is scanned") },
  { "clinic", "retention", N_("CLINIC DAYS"), verb_clinic_retention,
    N_("Set how long a clinic keeps its delivery history") },
  { "scan", NULL, N_("CLINIC"), verb_scan, N_("Scan a clinic's appointments now") },
  { "outbox", NULL, N_("CLINIC"), verb_outbox, N_("Show a clinic's messages and their states") },
  { "cancel", NULL, N_("CLINIC ID"), verb_cancel, N_("Cancel a planned message") },
  { "retry", NULL, N_("CLINIC ID"), verb_retry, N_("Plan a message again") },
  { "smtp", "set", N_("CLINIC"), verb_smtp_set, N_("Set how a clinic sends email") },
  { "smtp", "show", N_("CLINIC"), verb_smtp_show, N_("Show how a clinic sends email") },
  { "smtp", "test", N_("CLINIC TEMPLATE ADDRESS"), verb_smtp_test,
    N_("Send a template with sample data to an address") },
  { "history", NULL, N_("CLINIC"), verb_history, N_("Show the redacted delivery history") },
  { "export", NULL, N_("CLINIC"), verb_export, N_("Export the redacted history as CSV") },
  { "audit", "list", N_("CLINIC"), verb_audit_list, N_("Show the audit log") },
  { "audit", "verify", N_("CLINIC"), verb_audit_verify, N_("Check the audit log's hash chain") },
  { "licence", "set", N_("FILE"), verb_licence_set, N_("Enter a licence token") },
  { "licence", "show", NULL, verb_licence_show, N_("Show the licence and whether sending is paused") },
};

/* The command list, optionally only one group's. */
static char *
describe_commands (const char *group)
{
  g_autoptr(GString) text = g_string_new (_("Commands:\n"));
  g_autoptr(GPtrArray) usages = g_ptr_array_new_with_free_func (g_free);
  glong width = 0;

  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      const Verb *v = &verbs[i];
      g_autoptr(GString) u = g_string_new (v->name);

      if (v->sub != NULL)
        g_string_append_printf (u, " %s", v->sub);
      if (v->args != NULL)
        g_string_append_printf (u, " %s", _(v->args));
      width = MAX (width, g_utf8_strlen (u->str, -1));
      g_ptr_array_add (usages, g_string_free (g_steal_pointer (&u), FALSE));
    }

  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      const char *u = g_ptr_array_index (usages, i);

      if (group != NULL && !g_str_equal (verbs[i].name, group))
        continue;
      g_string_append_printf (text, "  %s%*s  %s\n", u,
                              (int) (width - g_utf8_strlen (u, -1)), "",
                              _(verbs[i].summary));
    }

  g_string_append (text,
                   _("\nCommands that need a user sign in for themselves: pass --user NAME (or "
                     "set MHF_USER). The passphrase is asked on the terminal, or read from "
                     "standard input with --passphrase-stdin, one a line; never give it on the "
                     "command line.\n"
                     "\nExit status: 0 done, 1 failed, 2 wrong usage, 3 agent not ready, "
                     "4 audit log broken (audit verify).\n"
                     "\nRun “myhealthfollowupctl COMMAND --help” for a command's options."));

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static int
run_verb (Ctl        *ctl,
          const Verb *verb,
          int         argc,
          char      **argv)
{
  g_autofree char *prgname = NULL;

  ctl->verb = verb;
  ctl->verb_name = verb->sub != NULL ? g_strdup_printf ("%s %s", verb->name, verb->sub)
                                     : g_strdup (verb->name);
  prgname = g_strdup_printf ("%s %s", CTL_NAME, ctl->verb_name);
  g_set_prgname (prgname);

  return verb->func (ctl, argc, argv);
}

int
main (int   argc,
      char *argv[])
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *commands = NULL;
  gboolean show_version = FALSE;
  gboolean group_found = FALSE;
  const char *env_user;
  const GOptionEntry entries[] = {
    { "user", 'u', 0, G_OPTION_ARG_STRING, &ctl.user,
      N_("Sign in as NAME (default: $MHF_USER)"), N_("NAME") },
    { "passphrase-stdin", 0, 0, G_OPTION_ARG_NONE, &ctl.passphrase_stdin,
      N_("Read passphrases from standard input, one a line, instead of asking"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &show_version, N_("Show the version"), NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* Typed D-Bus errors map back to MHF_ERROR codes. */
  (void) mhf_error_quark ();

  commands = describe_commands (NULL);
  context = g_option_context_new (_("COMMAND [ARGUMENTS…]"));
  g_option_context_set_summary (context, _("Look after the MyHealthFollowup agent: its health, "
                                           "users, clinics and audit log."));
  g_option_context_set_description (context, commands);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  /* Options after the command belong to the command. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s: %s\n", CTL_NAME, error->message);
      return EXIT_USAGE;
    }

  if (show_version)
    {
      g_print ("%s %s\n", CTL_NAME, PACKAGE_VERSION);
      return EXIT_OK;
    }

  if (argc < 2 || g_str_equal (argv[1], "help"))
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      if (argc < 2)
        {
          g_printerr ("%s", help);
          return EXIT_USAGE;
        }
      g_print ("%s", help);
      return EXIT_OK;
    }

  env_user = g_getenv ("MHF_USER");
  if (ctl.user == NULL && env_user != NULL && *env_user != '\0')
    {
      if (!g_utf8_validate (env_user, -1, NULL))
        {
          g_printerr (_("%s: MHF_USER is not valid UTF-8 text\n"), CTL_NAME);
          return EXIT_USAGE;
        }
      ctl.user = g_strdup (env_user);
    }

  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      const Verb *v = &verbs[i];

      if (!g_str_equal (argv[1], v->name))
        continue;
      if (v->sub == NULL)
        return run_verb (&ctl, v, argc - 1, argv + 1);

      group_found = TRUE;
      if (argc >= 3 && g_str_equal (argv[2], v->sub))
        return run_verb (&ctl, v, argc - 2, argv + 2);
    }

  if (group_found)
    {
      g_autofree char *group_commands = describe_commands (argv[1]);

      if (argc >= 3 && (g_str_equal (argv[2], "--help") || g_str_equal (argv[2], "-h") ||
                        g_str_equal (argv[2], "help")))
        {
          g_print ("%s\n", group_commands);
          return EXIT_OK;
        }

      if (argc < 3)
        g_printerr (_("%s %s: which one?\n\n"), CTL_NAME, argv[1]);
      else
        g_printerr (_("%s: unknown command “%s %s”\n\n"), CTL_NAME, argv[1], argv[2]);
      g_printerr ("%s\n", group_commands);
      return EXIT_USAGE;
    }

  g_printerr (_("%s: unknown command “%s”\n\n"), CTL_NAME, argv[1]);
  g_printerr ("%s\n", commands);
  return EXIT_USAGE;
}
