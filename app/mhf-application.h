/* mhf-application.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define MHF_TYPE_APPLICATION (mhf_application_get_type ())

G_DECLARE_FINAL_TYPE (MhfApplication, mhf_application, MHF, APPLICATION, AdwApplication)

MhfApplication *mhf_application_new (void);

G_END_DECLS
