/* mhf-email-group.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define MHF_TYPE_EMAIL_GROUP (mhf_email_group_get_type ())

G_DECLARE_FINAL_TYPE (MhfEmailGroup, mhf_email_group, MHF, EMAIL_GROUP, AdwPreferencesGroup)

GtkWidget *mhf_email_group_new             (void);
void       mhf_email_group_set_settings    (MhfEmailGroup *self,
                                            GVariant      *settings);
GVariant  *mhf_email_group_take_settings   (MhfEmailGroup *self);
char      *mhf_email_group_describe_error  (const GError  *error);

G_END_DECLS
