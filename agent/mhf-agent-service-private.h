/* mhf-agent-service-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Shared between the files that make up MhfAgentService.
 */

#pragma once

#include "mhf-agent-service.h"
#include "mhf-status.h"
#include "mhf-store.h"

G_BEGIN_DECLS

struct _MhfAgentService
{
  MhfIpcAgent1Skeleton  parent_instance;

  /* Owned references */
  MhfStore             *store;
  GCancellable         *cancellable;
  GDBusConnection      *connection;
  GVariant             *last_status;

  /* State */
  char                 *data_dir;
  char                 *db_path;
  gint64                started_at;
  MhfKeyringState       keyring_state;
  MhfDatabaseState      database_state;
  guint                 secrets_watch_id;
  guint                 configured : 1;
  guint                 initialising : 1;
  guint                 init_again : 1;
  guint                 resetting : 1;
};

void mhf_agent_service_update_status (MhfAgentService *self);
void mhf_agent_service_reinit        (MhfAgentService *self);

G_END_DECLS
