/* mhf-passphrase.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MHF_PASSPHRASE_MIN_CHARS 10
#define MHF_PASSPHRASE_MAX_CHARS 1024

gboolean  mhf_passphrase_validate (const char  *passphrase,
                                   GError     **error);
char     *mhf_passphrase_hash     (const char  *passphrase,
                                   GError     **error);
gboolean  mhf_passphrase_verify   (const char  *hash,
                                   const char  *passphrase);
void      mhf_passphrase_verify_dummy (const char *passphrase);

G_END_DECLS
