/* main.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "mhf-agent.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MhfAgent) agent = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_set_prgname ("myhealthfollowup-agent");

  agent = mhf_agent_new ();
  return g_application_run (G_APPLICATION (agent), argc, argv);
}
