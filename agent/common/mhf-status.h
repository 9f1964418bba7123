/* mhf-status.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Keys of the a{sv} dictionary returned by GetStatus() and StatusChanged. */
#define MHF_STATUS_VERSION               "version"
#define MHF_STATUS_STATE                 "state"
#define MHF_STATUS_DATABASE              "database"
#define MHF_STATUS_KEYRING               "keyring"
#define MHF_STATUS_DATA_DIRECTORY        "data-directory"
#define MHF_STATUS_SCHEMA_VERSION        "schema-version"
#define MHF_STATUS_DATABASE_FILE_PRESENT "database-file-present"
#define MHF_STATUS_STARTED_AT            "started-at"
#define MHF_STATUS_SESSIONS              "sessions"
#define MHF_STATUS_LAST_SEEN             "last-seen"
#define MHF_STATUS_OFFLINE_SECONDS       "offline-seconds"
#define MHF_STATUS_LICENCE               "licence"

/* The confirmation text ResetDatabase() requires. */
#define MHF_RESET_CONFIRMATION "reset-all-data"

typedef enum
{
  MHF_KEYRING_STATE_UNKNOWN,
  MHF_KEYRING_STATE_OK,
  MHF_KEYRING_STATE_UNAVAILABLE,
  MHF_KEYRING_STATE_LOCKED,
} MhfKeyringState;

typedef enum
{
  MHF_DATABASE_STATE_NOT_CREATED,
  MHF_DATABASE_STATE_OK,
  MHF_DATABASE_STATE_KEY_MISSING,
  MHF_DATABASE_STATE_CORRUPT,
  MHF_DATABASE_STATE_WAITING_FOR_KEYRING,
} MhfDatabaseState;

typedef enum
{
  MHF_AGENT_STATE_STARTING,
  MHF_AGENT_STATE_READY,
  MHF_AGENT_STATE_KEYRING_UNAVAILABLE,
  MHF_AGENT_STATE_KEYRING_LOCKED,
  MHF_AGENT_STATE_DATABASE_KEY_MISSING,
  MHF_AGENT_STATE_DATABASE_CORRUPT,
} MhfAgentState;

const char       *mhf_keyring_state_to_string  (MhfKeyringState   state);
MhfKeyringState   mhf_keyring_state_from_string (const char       *str);
const char       *mhf_database_state_to_string (MhfDatabaseState  state);
MhfDatabaseState  mhf_database_state_from_string (const char      *str);
const char       *mhf_agent_state_to_string    (MhfAgentState     state);
MhfAgentState     mhf_agent_state_from_string  (const char       *str);
MhfAgentState     mhf_agent_state_compute      (MhfKeyringState   keyring,
                                                MhfDatabaseState  database);

G_END_DECLS
