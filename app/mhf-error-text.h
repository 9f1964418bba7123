/* mhf-error-text.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

const char *mhf_error_text (const GError *error);

G_END_DECLS
