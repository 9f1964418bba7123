/* mhf-test-secret.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A stand-in for a person in a keyring manager, for tests: stores, looks
 * up or clears one of the agent's secrets through the agent's own
 * MhfKeyring code (and so its schema), in a process of its own.
 *
 *   mhf-test-secret store KIND CLINIC   (the secret on standard input)
 *   mhf-test-secret lookup KIND CLINIC  (prints it; exit 1 when absent)
 *   mhf-test-secret clear KIND CLINIC
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mhf-keyring.h"

static void
result_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  if (argc != 4)
    {
      g_printerr ("usage: %s store|lookup|clear KIND CLINIC\n", argv[0]);
      return 2;
    }

  if (g_str_equal (argv[1], "store"))
    {
      char line[4096] = { 0 };

      if (fgets (line, sizeof line, stdin) == NULL)
        return 2;
      line[strcspn (line, "\n")] = '\0';
      mhf_keyring_store_async (argv[2], argv[3], "test", line, NULL, result_cb, &result);
      if (!mhf_keyring_store_finish (wait_for (&result), &error))
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      return 0;
    }

  if (g_str_equal (argv[1], "lookup"))
    {
      char *secret;

      mhf_keyring_lookup_async (argv[2], argv[3], NULL, result_cb, &result);
      secret = mhf_keyring_lookup_finish (wait_for (&result), &error);
      if (secret == NULL)
        return 1;
      g_print ("%s", secret);
      mhf_keyring_secret_free (secret);
      return 0;
    }

  if (g_str_equal (argv[1], "clear"))
    {
      mhf_keyring_clear_async (argv[2], argv[3], NULL, result_cb, &result);
      mhf_keyring_clear_finish (wait_for (&result), &error);
      return error == NULL ? 0 : 1;
    }

  return 2;
}
