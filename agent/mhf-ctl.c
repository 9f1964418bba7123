/* mhf-ctl.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * myhealthfollowupctl: the command-line face of the agent's D-Bus
 * interface, for IT support and scripts. It is a client like the app: it
 * holds no secret and opens no database.
 */

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdlib.h>

#include "mhf-error.h"
#include "mhf-ipc-agent.h"
#include "mhf-status.h"

/* Exit codes, documented in the README. */
enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_NOT_READY = 3,
};

typedef int (*VerbFunc) (int argc, char **argv);

typedef struct
{
  const char *name;
  VerbFunc    func;
  const char *summary;
} Verb;

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

static const char *
describe_error (const GError *error)
{
  if (error->domain == MHF_ERROR)
    return error->message;

  if (error->domain == G_DBUS_ERROR)
    {
      switch (error->code)
        {
        case G_DBUS_ERROR_SERVICE_UNKNOWN:
        case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
        case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
        case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
        case G_DBUS_ERROR_SPAWN_FAILED:
          return _("The agent is not running and could not be started. Is MyHealthFollowup "
                   "installed for this user?");
        case G_DBUS_ERROR_NO_REPLY:
        case G_DBUS_ERROR_TIMEOUT:
          return _("The agent did not answer in time.");
        default:
          break;
        }
    }

  return error->message;
}

static void
print_error (const char   *what,
             const GError *error)
{
  g_autofree char *stripped = NULL;

  /* D-Bus errors carry their name in the message; our own domain's message
   * is already the readable part. */
  if (error->domain == MHF_ERROR)
    stripped = g_strdup (error->message);
  else
    stripped = g_strdup (describe_error (error));

  g_printerr ("myhealthfollowupctl: %s: %s\n", what, stripped);
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

static JsonNode *
status_to_json (GVariant *status)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  GVariantIter iter;
  const char *key;
  GVariant *value;

  json_builder_begin_object (builder);
  g_variant_iter_init (&iter, status);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      json_builder_set_member_name (builder, key);
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        json_builder_add_string_value (builder, g_variant_get_string (value, NULL));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        json_builder_add_boolean_value (builder, g_variant_get_boolean (value));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
        json_builder_add_int_value (builder, g_variant_get_uint32 (value));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
        json_builder_add_int_value (builder, g_variant_get_int64 (value));
      else
        {
          g_autofree char *text = g_variant_print (value, FALSE);
          json_builder_add_string_value (builder, text);
        }
      g_variant_unref (value);
    }
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
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
    {
      g_autoptr(JsonNode) root = status_to_json (status);
      g_autofree char *text = json_to_string (root, TRUE);

      g_print ("%s\n", text);
    }
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

typedef struct
{
  GMainLoop *loop;
  GVariant  *status;
} WaitData;

static void
status_changed_cb (MhfIpcAgent1 *proxy,
                   GVariant     *status,
                   WaitData     *data)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (status);
  const char *state = NULL;

  if (g_variant_dict_lookup (dict, MHF_STATUS_STATE, "&s", &state) &&
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

  g_main_loop_quit (data->loop);
  return G_SOURCE_REMOVE;
}

static int
verb_status (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariantDict) dict = NULL;
  gboolean as_json = FALSE;
  const char *state = NULL;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print the status as JSON"), NULL },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Show the agent's health. Exit status: 0 ready, "
                                           "3 running but not ready, 1 unreachable."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("myhealthfollowupctl status: %s\n", error->message);
      return EXIT_USAGE;
    }

  proxy = connect_agent (&error);
  if (proxy == NULL)
    {
      print_error (_("cannot reach the agent"), error);
      return EXIT_ERROR;
    }

  if (!mhf_ipc_agent1_call_get_status_sync (proxy, &status, NULL, &error))
    {
      print_error (_("cannot reach the agent"), error);
      return EXIT_ERROR;
    }

  /* A freshly activated agent answers at once, while it is still opening
   * the keyring; wait a little for the outcome rather than print
   * "starting". */
  dict = g_variant_dict_new (status);
  if (g_variant_dict_lookup (dict, MHF_STATUS_STATE, "&s", &state) &&
      g_strcmp0 (state, "starting") == 0)
    {
      WaitData data = { g_main_loop_new (NULL, FALSE), NULL };
      guint timeout_id;
      gulong handler;

      handler = g_signal_connect (proxy, "status-changed", G_CALLBACK (status_changed_cb), &data);
      timeout_id = g_timeout_add_seconds (15, wait_timeout_cb, &data);

      /* Ask again in case the change landed before we subscribed. */
      g_clear_pointer (&status, g_variant_unref);
      if (mhf_ipc_agent1_call_get_status_sync (proxy, &status, NULL, NULL))
        status_changed_cb (proxy, status, &data);
      if (data.status == NULL)
        g_main_loop_run (data.loop);

      g_signal_handler_disconnect (proxy, handler);
      if (data.status != NULL)
        g_source_remove (timeout_id);
      if (data.status != NULL)
        {
          g_clear_pointer (&status, g_variant_unref);
          status = data.status;
        }
      g_main_loop_unref (data.loop);
    }

  return print_status (status, as_json);
}

static int
verb_reset (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(MhfIpcAgent1) proxy = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  gboolean confirm = FALSE;
  const GOptionEntry entries[] = {
    { "confirm", 0, 0, G_OPTION_ARG_NONE, &confirm,
      N_("Confirm that the unreadable database should be set aside"), NULL },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
                                _("Start over with a new, empty database when the current one "
                                  "cannot be opened (its key is missing or it is damaged). The "
                                  "old file is renamed, never deleted, and its key, if any, is "
                                  "kept in the keyring beside it."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("myhealthfollowupctl reset: %s\n", error->message);
      return EXIT_USAGE;
    }

  if (!confirm)
    {
      g_printerr (_("myhealthfollowupctl reset: this starts over with an empty database; "
                    "add --confirm to do it.\n"));
      return EXIT_USAGE;
    }

  proxy = connect_agent (&error);
  if (proxy == NULL ||
      !mhf_ipc_agent1_call_reset_database_sync (proxy, MHF_RESET_CONFIRMATION, &status,
                                                NULL, &error))
    {
      g_dbus_error_strip_remote_error (error);
      print_error (_("reset refused"), error);
      return EXIT_ERROR;
    }

  g_print (_("The database was reset. The old file was kept in the data folder.\n\n"));
  return print_status (status, FALSE);
}

static const Verb verbs[] = {
  { "status", verb_status, N_("Show the agent's health") },
  { "reset", verb_reset, N_("Start over when the database cannot be opened") },
};

static void
usage (void)
{
  g_printerr (_("Usage: myhealthfollowupctl COMMAND [OPTIONS]\n\nCommands:\n"));
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    g_printerr ("  %-10s %s\n", verbs[i].name, _(verbs[i].summary));
  g_printerr (_("\nRun “myhealthfollowupctl COMMAND --help” for a command's options.\n"));
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* Typed D-Bus errors map back to MHF_ERROR codes. */
  (void) mhf_error_quark ();

  if (argc < 2 || g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help"))
    {
      usage ();
      return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }

  if (g_str_equal (argv[1], "--version"))
    {
      g_print ("myhealthfollowupctl %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }

  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      if (g_str_equal (argv[1], verbs[i].name))
        {
          g_autofree char *prgname = g_strdup_printf ("myhealthfollowupctl %s", verbs[i].name);

          g_set_prgname (prgname);
          return verbs[i].func (argc - 1, argv + 1);
        }
    }

  g_printerr (_("myhealthfollowupctl: unknown command “%s”\n\n"), argv[1]);
  usage ();
  return EXIT_USAGE;
}
