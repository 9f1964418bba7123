/* main.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * mhf-fake-cliniko: serves a fixture on 127.0.0.1 for the demo and for
 * manual poking. The first line on stdout is the base URL; it runs until
 * SIGINT or SIGTERM. Keys given with --key are added to the fixture's own.
 */

#include "config.h"

#include "mhf-fake-cliniko.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MhfFakeCliniko) fake = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *fixture = NULL;
  g_autofree char *role = NULL;
  g_autofree char *shard = NULL;
  g_auto(GStrv) keys = NULL;
  int port = 0;
  int rate_limit = 0;
  gboolean lenient = FALSE;
  const GOptionEntry entries[] = {
    { "fixture", 'f', 0, G_OPTION_ARG_FILENAME, &fixture,
      "Fixture to serve (default: the sample clinic)", "PATH" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (default: random)", "N" },
    { "key", 'k', 0, G_OPTION_ARG_STRING_ARRAY, &keys,
      "Accept this API key too, owned by user 1 (repeatable)", "KEY" },
    { "rate-limit", 'r', 0, G_OPTION_ARG_INT, &rate_limit,
      "Requests per 60 s per key owner (default 200)", "N" },
    { "shard", 's', 0, G_OPTION_ARG_STRING, &shard, "Shard this server pretends to be", "SHARD" },
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, "Role of the key's user", "ROLE" },
    { "lenient", 0, 0, G_OPTION_ARG_NONE, &lenient,
      "Do not insist on Accept and User-Agent headers", NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- a fake Cliniko API for tests and demos");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (port < 0 || port > 65535 || rate_limit < 0)
    {
      g_printerr ("Invalid --port or --rate-limit\n");
      return 2;
    }

  fake = mhf_fake_cliniko_new (fixture ? fixture : MHF_SAMPLE_CLINIC_JSON, &error);
  if (fake == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  for (guint i = 0; keys && keys[i]; i++)
    mhf_fake_cliniko_add_api_key (fake, keys[i], "1");
  if (rate_limit > 0)
    mhf_fake_cliniko_set_rate_limit (fake, (guint) rate_limit);
  if (shard)
    mhf_fake_cliniko_set_shard (fake, shard);
  if (role)
    mhf_fake_cliniko_set_role (fake, role);
  mhf_fake_cliniko_set_strict (fake, !lenient);
  mhf_fake_cliniko_set_port (fake, (guint) port);

  if (!mhf_fake_cliniko_start (fake, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  printf ("%s\n", mhf_fake_cliniko_get_base_url (fake));
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_unix_signal_add (SIGTERM, quit_cb, loop);
  g_main_loop_run (loop);

  mhf_fake_cliniko_stop (fake);
  return 0;
}
