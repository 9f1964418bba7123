/* mhf-clinic-view.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "mhf-agent-client.h"

G_BEGIN_DECLS

#define MHF_TYPE_CLINIC_VIEW (mhf_clinic_view_get_type ())

G_DECLARE_FINAL_TYPE (MhfClinicView, mhf_clinic_view, MHF, CLINIC_VIEW, AdwBin)

MhfClinicView *mhf_clinic_view_new         (MhfAgentClient *client,
                                            gint64          clinic,
                                            const char     *clinic_name,
                                            const char     *role);
gint64         mhf_clinic_view_get_clinic  (MhfClinicView  *self);
void           mhf_clinic_view_refresh     (MhfClinicView  *self);
void           mhf_clinic_view_show_page   (MhfClinicView  *self,
                                            const char     *name);
void           mhf_clinic_view_focus_cliniko_key (MhfClinicView *self);
guint          mhf_clinic_view_get_n_outbox_rows  (MhfClinicView *self);
guint          mhf_clinic_view_get_n_history_rows (MhfClinicView *self);
guint          mhf_clinic_view_get_n_rules_rows   (MhfClinicView *self);
guint          mhf_clinic_view_get_n_audit_rows   (MhfClinicView *self);

G_END_DECLS
