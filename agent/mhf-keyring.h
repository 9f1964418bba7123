/* mhf-keyring.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "mhf-status.h"

G_BEGIN_DECLS

/* Values of the "kind" attribute: which secret an item is, never what it
 * contains. */
#define MHF_SECRET_KIND_DATABASE_KEY     "database-key"
#define MHF_SECRET_KIND_CLINIKO_API_KEY  "cliniko-api-key"
#define MHF_SECRET_KIND_SMTP_PASSWORD    "smtp-password"
#define MHF_SECRET_KIND_ADDRESS_HASH_KEY "address-hash-key"

/* The "clinic" attribute of secrets that belong to no clinic. */
#define MHF_SECRET_NO_CLINIC "none"

const SecretSchema *mhf_keyring_get_schema  (void);

void             mhf_keyring_probe_async    (GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
MhfKeyringState  mhf_keyring_probe_finish   (GAsyncResult         *result,
                                             GError              **error);

void             mhf_keyring_store_async    (const char           *kind,
                                             const char           *clinic,
                                             const char           *label,
                                             const char           *secret,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean         mhf_keyring_store_finish   (GAsyncResult         *result,
                                             GError              **error);

void             mhf_keyring_lookup_async   (const char           *kind,
                                             const char           *clinic,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
char            *mhf_keyring_lookup_finish  (GAsyncResult         *result,
                                             GError              **error);

void             mhf_keyring_clear_async    (const char           *kind,
                                             const char           *clinic,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean         mhf_keyring_clear_finish   (GAsyncResult         *result,
                                             GError              **error);

void             mhf_keyring_secret_free    (char                 *secret);


G_END_DECLS
