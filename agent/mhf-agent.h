/* mhf-agent.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MHF_TYPE_AGENT (mhf_agent_get_type ())

G_DECLARE_FINAL_TYPE (MhfAgent, mhf_agent, MHF, AGENT, GApplication)

MhfAgent *mhf_agent_new (void);

G_END_DECLS
