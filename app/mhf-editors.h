/* mhf-editors.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "mhf-agent-client.h"

G_BEGIN_DECLS

/* Called once the agent saved (or the user closed the editor). */
typedef void (*MhfEditorDone) (gpointer user_data,
                               gboolean saved);

GtkWindow *mhf_template_editor_new (GtkWindow      *parent,
                                    MhfAgentClient *client,
                                    gint64          clinic,
                                    GVariant       *template,
                                    MhfEditorDone   done,
                                    gpointer        user_data);
GtkWindow *mhf_rule_editor_new     (GtkWindow      *parent,
                                    MhfAgentClient *client,
                                    gint64          clinic,
                                    GVariant       *templates,
                                    GVariant       *rule,
                                    MhfEditorDone   done,
                                    gpointer        user_data);

G_END_DECLS
