/* mhf-status.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "mhf-status.h"

static const char * const keyring_states[] = {
  [MHF_KEYRING_STATE_UNKNOWN] = "unknown",
  [MHF_KEYRING_STATE_OK] = "ok",
  [MHF_KEYRING_STATE_UNAVAILABLE] = "unavailable",
  [MHF_KEYRING_STATE_LOCKED] = "locked",
};

static const char * const database_states[] = {
  [MHF_DATABASE_STATE_NOT_CREATED] = "not-created",
  [MHF_DATABASE_STATE_OK] = "ok",
  [MHF_DATABASE_STATE_KEY_MISSING] = "key-missing",
  [MHF_DATABASE_STATE_CORRUPT] = "corrupt",
  [MHF_DATABASE_STATE_WAITING_FOR_KEYRING] = "waiting-for-keyring",
};

static const char * const agent_states[] = {
  [MHF_AGENT_STATE_STARTING] = "starting",
  [MHF_AGENT_STATE_READY] = "ready",
  [MHF_AGENT_STATE_KEYRING_UNAVAILABLE] = "keyring-unavailable",
  [MHF_AGENT_STATE_KEYRING_LOCKED] = "keyring-locked",
  [MHF_AGENT_STATE_DATABASE_KEY_MISSING] = "database-key-missing",
  [MHF_AGENT_STATE_DATABASE_CORRUPT] = "database-corrupt",
};

static int
lookup (const char * const *table,
        guint               n,
        const char         *str)
{
  if (str == NULL)
    return 0;

  for (guint i = 0; i < n; i++)
    {
      if (g_strcmp0 (table[i], str) == 0)
        return (int) i;
    }

  return 0;
}

const char *
mhf_keyring_state_to_string (MhfKeyringState state)
{
  g_return_val_if_fail (state < G_N_ELEMENTS (keyring_states), NULL);
  return keyring_states[state];
}

MhfKeyringState
mhf_keyring_state_from_string (const char *str)
{
  return lookup (keyring_states, G_N_ELEMENTS (keyring_states), str);
}

const char *
mhf_database_state_to_string (MhfDatabaseState state)
{
  g_return_val_if_fail (state < G_N_ELEMENTS (database_states), NULL);
  return database_states[state];
}

MhfDatabaseState
mhf_database_state_from_string (const char *str)
{
  return lookup (database_states, G_N_ELEMENTS (database_states), str);
}

const char *
mhf_agent_state_to_string (MhfAgentState state)
{
  g_return_val_if_fail (state < G_N_ELEMENTS (agent_states), NULL);
  return agent_states[state];
}

MhfAgentState
mhf_agent_state_from_string (const char *str)
{
  return lookup (agent_states, G_N_ELEMENTS (agent_states), str);
}

/**
 * mhf_agent_state_compute:
 *
 * Sums the keyring and database states up in the one word a user needs
 * first. The keyring comes first because nothing can be opened without it.
 */
MhfAgentState
mhf_agent_state_compute (MhfKeyringState  keyring,
                         MhfDatabaseState database)
{
  switch (keyring)
    {
    case MHF_KEYRING_STATE_UNKNOWN:
      return MHF_AGENT_STATE_STARTING;
    case MHF_KEYRING_STATE_UNAVAILABLE:
      return MHF_AGENT_STATE_KEYRING_UNAVAILABLE;
    case MHF_KEYRING_STATE_LOCKED:
      return MHF_AGENT_STATE_KEYRING_LOCKED;
    case MHF_KEYRING_STATE_OK:
    default:
      break;
    }

  switch (database)
    {
    case MHF_DATABASE_STATE_OK:
      return MHF_AGENT_STATE_READY;
    case MHF_DATABASE_STATE_KEY_MISSING:
      return MHF_AGENT_STATE_DATABASE_KEY_MISSING;
    case MHF_DATABASE_STATE_CORRUPT:
      return MHF_AGENT_STATE_DATABASE_CORRUPT;
    case MHF_DATABASE_STATE_NOT_CREATED:
    case MHF_DATABASE_STATE_WAITING_FOR_KEYRING:
    default:
      return MHF_AGENT_STATE_STARTING;
    }
}
