/* mhf-window.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "mhf-agent-client.h"

G_BEGIN_DECLS

#define MHF_TYPE_WINDOW (mhf_window_get_type ())

G_DECLARE_FINAL_TYPE (MhfWindow, mhf_window, MHF, WINDOW, AdwApplicationWindow)

MhfWindow      *mhf_window_new                   (AdwApplication *application,
                                                  MhfAgentClient *client);
MhfAgentClient *mhf_window_get_client            (MhfWindow      *self);
const char     *mhf_window_get_visible_page_name (MhfWindow      *self);

G_END_DECLS
