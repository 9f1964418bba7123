/* mhf-onboarding.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "mhf-agent-client.h"

G_BEGIN_DECLS

#define MHF_TYPE_ONBOARDING (mhf_onboarding_get_type ())

G_DECLARE_FINAL_TYPE (MhfOnboarding, mhf_onboarding, MHF, ONBOARDING, AdwWindow)

MhfOnboarding *mhf_onboarding_new        (GtkWindow      *parent,
                                          MhfAgentClient *client);
gint64         mhf_onboarding_get_clinic (MhfOnboarding  *self);
gboolean       mhf_onboarding_get_scanned (MhfOnboarding *self);
const char    *mhf_onboarding_get_step   (MhfOnboarding  *self);

G_END_DECLS
