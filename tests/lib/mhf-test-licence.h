/* mhf-test-licence.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *mhf_test_licence_token (const char *plan,
                              guint       clinics,
                              gint64      expires_usec,
                              gboolean    other_key);

G_END_DECLS
