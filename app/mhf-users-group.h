/* mhf-users-group.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "mhf-agent-client.h"

G_BEGIN_DECLS

#define MHF_TYPE_USERS_GROUP (mhf_users_group_get_type ())

G_DECLARE_FINAL_TYPE (MhfUsersGroup, mhf_users_group, MHF, USERS_GROUP, AdwPreferencesGroup)

GtkWidget *mhf_users_group_new     (MhfAgentClient *client,
                                    gint64          clinic);
void       mhf_users_group_refresh (MhfUsersGroup  *self);
guint      mhf_users_group_get_n_users (MhfUsersGroup *self);

G_END_DECLS
