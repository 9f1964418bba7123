/* mhf-agent-service.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "mhf-ipc-agent.h"

G_BEGIN_DECLS

#define MHF_TYPE_AGENT_SERVICE (mhf_agent_service_get_type ())

G_DECLARE_FINAL_TYPE (MhfAgentService, mhf_agent_service, MHF, AGENT_SERVICE, MhfIpcAgent1Skeleton)

MhfAgentService *mhf_agent_service_new            (const char      *data_dir);
void             mhf_agent_service_start          (MhfAgentService *self,
                                                   GDBusConnection *connection);
gboolean         mhf_agent_service_get_configured (MhfAgentService *self);
gboolean         mhf_agent_service_get_busy       (MhfAgentService *self);
GVariant        *mhf_agent_service_dup_status     (MhfAgentService *self);
void             mhf_agent_service_shutdown       (MhfAgentService *self);

G_END_DECLS
