/* mhf-variables.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The fixed list of template variables: the agent validates and renders
 * them; the app offers them in its variable picker. */
const char * const *mhf_template_variable_names (void);

G_END_DECLS
