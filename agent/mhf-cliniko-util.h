/* mhf-cliniko-util.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Pure helpers around Cliniko's conventions (cliniko-api.md §1, §4, §7).
 * None of them touches the network or logs its arguments.
 */

#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The shard used by keys issued before sharding (no "-suffix"). */
#define MHF_CLINIKO_DEFAULT_SHARD "au1"

gboolean    mhf_cliniko_shard_from_key               (const char  *key,
                                                      char       **shard,
                                                      GError     **error);
char       *mhf_cliniko_base_url_for_shard           (const char  *shard);
char       *mhf_cliniko_key_fingerprint              (const char  *key);
char       *mhf_cliniko_id_from_link                 (const char  *url);
gboolean    mhf_cliniko_base_url_is_allowed_override (const char  *url,
                                                      GError     **error);
const char *mhf_cliniko_json_string                  (JsonObject  *object,
                                                      const char  *member);
const char *mhf_cliniko_rails_zone_to_iana           (const char  *label);

G_END_DECLS
