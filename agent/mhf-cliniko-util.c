/* mhf-cliniko-util.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Shards, key fingerprints, ids from links, the loopback override rule and
 * Rails time zone labels. Error messages here never quote an API key.
 */

#include "config.h"

#include "mhf-cliniko-util.h"

#include "mhf-agent-resources.h"
#include "mhf-error.h"

#include <gio/gio.h>
#include <string.h>

#define TIME_ZONES_RESOURCE RESOURCE_BASE "/agent/cliniko-time-zones.tsv"
#define FINGERPRINT_LENGTH 12

static gboolean
is_valid_shard (const char *text)
{
  size_t len = strlen (text);

  /* ^[A-Za-z]{2}[0-9]{1,2}$ */
  if (len < 3 || len > 4)
    return FALSE;
  if (!g_ascii_isalpha (text[0]) || !g_ascii_isalpha (text[1]))
    return FALSE;
  for (size_t i = 2; i < len; i++)
    if (!g_ascii_isdigit (text[i]))
      return FALSE;
  return TRUE;
}

/**
 * mhf_cliniko_shard_from_key:
 * @key: a Cliniko API key
 * @shard: (out) (transfer full): the shard, lowercase, e.g. "au2"
 * @error: return location for a %MHF_ERROR_INVALID_INPUT error
 *
 * The shard is the suffix after the key's final dash; a key without a dash
 * predates sharding and belongs to "au1". The suffix must look like a
 * shard (two letters, one or two digits) so that new shards keep working
 * without a hard-coded list.
 *
 * Returns: %TRUE if @shard was set
 */
gboolean
mhf_cliniko_shard_from_key (const char  *key,
                            char       **shard,
                            GError     **error)
{
  const char *dash;

  g_return_val_if_fail (shard != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *shard = NULL;

  if (key == NULL || *key == '\0')
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "The Cliniko API key is empty");
      return FALSE;
    }

  dash = strrchr (key, '-');
  if (dash == NULL)
    {
      *shard = g_strdup (MHF_CLINIKO_DEFAULT_SHARD);
      return TRUE;
    }

  if (dash == key || !is_valid_shard (dash + 1))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "The Cliniko API key does not end in a valid shard: "
                           "after its last dash must come two letters and one or two digits");
      return FALSE;
    }

  *shard = g_ascii_strdown (dash + 1, -1);
  return TRUE;
}

/**
 * mhf_cliniko_base_url_for_shard:
 * @shard: a shard as returned by mhf_cliniko_shard_from_key()
 *
 * Returns: (transfer full): "https://api.SHARD.cliniko.com/v1"
 */
char *
mhf_cliniko_base_url_for_shard (const char *shard)
{
  g_autofree char *lower = NULL;

  g_return_val_if_fail (shard != NULL && is_valid_shard (shard), NULL);

  lower = g_ascii_strdown (shard, -1);
  return g_strdup_printf ("https://api.%s.cliniko.com/v1", lower);
}

/**
 * mhf_cliniko_key_fingerprint:
 * @key: a Cliniko API key
 *
 * A short, stable, non-reversible name for a key, fit for logs and for
 * telling two keys apart: the first 12 hex digits of its SHA-256.
 *
 * Returns: (transfer full): the fingerprint
 */
char *
mhf_cliniko_key_fingerprint (const char *key)
{
  g_autofree char *digest = NULL;

  g_return_val_if_fail (key != NULL, NULL);

  digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  return g_strndup (digest, FINGERPRINT_LENGTH);
}

/**
 * mhf_cliniko_id_from_link:
 * @url: an absolute link such as "https://api.au1.cliniko.com/v1/patients/82"
 *
 * Relations are link objects; the id is the last segment of the URL's path,
 * whatever the host and query.
 *
 * Returns: (transfer full) (nullable): the id, or %NULL if @url is not an
 *   absolute URL with a non-empty last path segment
 */
char *
mhf_cliniko_id_from_link (const char *url)
{
  g_autoptr(GUri) uri = NULL;
  const char *path;
  const char *slash;
  g_autofree char *segment = NULL;

  if (url == NULL)
    return NULL;

  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    return NULL;

  path = g_uri_get_path (uri);
  slash = strrchr (path, '/');
  if (slash == NULL || slash[1] == '\0')
    return NULL;

  segment = g_uri_unescape_string (slash + 1, "/");
  if (segment == NULL || *segment == '\0')
    return NULL;
  return g_steal_pointer (&segment);
}

/**
 * mhf_cliniko_base_url_is_allowed_override:
 * @url: a base URL that would replace Cliniko's
 * @error: return location for a %MHF_ERROR_INVALID_INPUT error
 *
 * Only a loopback address (127.0.0.1, ::1 or localhost) may replace
 * Cliniko's sharded address, over http or https. Anything else, including
 * Cliniko's own hosts, is refused: the real address always comes from the
 * key's shard.
 *
 * Returns: %TRUE if @url may be used as an override
 */
gboolean
mhf_cliniko_base_url_is_allowed_override (const char  *url,
                                          GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;
  const char *host;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (url != NULL)
    uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  if (uri != NULL)
    {
      scheme = g_uri_get_scheme (uri);
      host = g_uri_get_host (uri);

      if (host != NULL &&
          g_uri_get_userinfo (uri) == NULL &&
          (g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "https") == 0) &&
          (strcmp (host, "127.0.0.1") == 0 ||
           strcmp (host, "::1") == 0 ||
           strcmp (host, "[::1]") == 0 ||
           g_ascii_strcasecmp (host, "localhost") == 0))
        return TRUE;
    }

  g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                       "only a loopback address may replace Cliniko's address");
  return FALSE;
}

static GHashTable *
load_time_zones (void)
{
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *text = NULL;
  gsize size;
  const char *data;

  /* Referencing the resource keeps it linked in from the static library. */
  (void) mhf_agent_get_resource ();
  bytes = g_resources_lookup_data (TIME_ZONES_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  if (bytes == NULL)
    {
      g_warning ("Cliniko time zone table missing: %s", error->message);
      return table;
    }

  data = g_bytes_get_data (bytes, &size);
  text = g_strndup (data, size);
  lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *tab;

      if (*line == '\0' || *line == '#')
        continue;
      tab = strchr (line, '\t');
      if (tab == NULL || tab == line || tab[1] == '\0')
        {
          g_warning ("Cliniko time zone table: line %u is malformed", i + 1);
          continue;
        }
      g_hash_table_replace (table,
                            g_strndup (line, tab - line),
                            g_strstrip (g_strdup (tab + 1)));
    }

  return table;
}

/**
 * mhf_cliniko_rails_zone_to_iana:
 * @label: a Rails time zone label such as "Melbourne"
 *
 * Cliniko's account, business and user zone labels are Rails
 * ActiveSupport::TimeZone names; this maps one to its IANA identifier.
 *
 * Returns: (transfer none) (nullable): the IANA zone, owned by a table that
 *   lives as long as the process, or %NULL for an unknown label
 */
const char *
mhf_cliniko_rails_zone_to_iana (const char *label)
{
  static GHashTable *table;

  if (label == NULL)
    return NULL;

  if (g_once_init_enter (&table))
    g_once_init_leave (&table, load_time_zones ());

  return g_hash_table_lookup (table, label);
}

/**
 * mhf_cliniko_json_string:
 *
 * Returns: (nullable): @object's string @member, or %NULL when it is
 *   missing, null or not a string
 */
const char *
mhf_cliniko_json_string (JsonObject *object,
                         const char *member)
{
  JsonNode *node;

  if (object == NULL || !json_object_has_member (object, member))
    return NULL;
  node = json_object_get_member (object, member);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}
