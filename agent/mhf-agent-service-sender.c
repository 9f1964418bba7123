/* mhf-agent-service-sender.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "mhf-agent-service-private.h"

void
mhf_agent_service_send_due (MhfAgentService *self)
{
  /* Filled in by the send path. */
  mhf_agent_service_arm_send_timer (self);
}
