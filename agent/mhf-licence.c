/* mhf-licence.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Licence tokens: base64url(JSON payload) "." base64url(Ed25519 signature
 * over the payload bytes), the payload being {"plan": s, "clinics": n,
 * "expires": unix seconds, "portal": "https://…"}. The vendor's public key
 * is built in (meson option licence_public_key). A token's text is never
 * logged, stored anywhere but the licence table, or put in an error.
 */

#include "config.h"

#include "mhf-licence.h"

#include "mhf-error.h"

#include <json-glib/json-glib.h>
#include <sodium.h>
#include <string.h>

#define DAY_USEC         ((gint64) 24 * 60 * 60 * G_USEC_PER_SEC)
#define MAX_TOKEN_CHARS  4096

/* The meson option licence_public_key: empty, or 64 hex digits. */
G_STATIC_ASSERT (sizeof MHF_LICENCE_PUBLIC_KEY == 1 ||
                 sizeof MHF_LICENCE_PUBLIC_KEY == crypto_sign_PUBLICKEYBYTES * 2 + 1);

void
mhf_licence_free (MhfLicence *licence)
{
  if (licence == NULL)
    return;
  g_free (licence->plan);
  g_free (licence->portal_url);
  g_free (licence);
}

/* base64url, padded or not. */
static GBytes *
decode_part (const char *text,
             gsize       len)
{
  guchar *out = g_malloc (len + 1);
  size_t out_len = 0;

  if (len == 0 ||
      sodium_base642bin (out, len + 1, text, len, "=", &out_len, NULL,
                         sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    {
      /* A padded form: the "=" are ignored above, but the no-padding
       * variant refuses a length that is not padding-free; try padded. */
      if (len == 0 ||
          sodium_base642bin (out, len + 1, text, len, NULL, &out_len, NULL,
                             sodium_base64_VARIANT_URLSAFE) != 0)
        {
          g_free (out);
          return NULL;
        }
    }
  return g_bytes_new_take (out, out_len);
}

static gboolean
invalid (GError     **error,
         const char  *why)
{
  g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "token: %s", why);
  return FALSE;
}

static MhfLicence *
parse_payload (GBytes  *payload,
               GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(MhfLicence) licence = g_new0 (MhfLicence, 1);
  JsonObject *object;
  JsonNode *root;
  gsize len = 0;
  const char *data = g_bytes_get_data (payload, &len);
  const char *plan, *portal;
  gint64 clinics, expires;

  if (!g_utf8_validate (data, (gssize) len, NULL) ||
      !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    {
      invalid (error, "the payload is not JSON");
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      invalid (error, "the payload is not an object");
      return NULL;
    }
  object = json_node_get_object (root);

  plan = json_object_get_string_member_with_default (object, "plan", NULL);
  portal = json_object_get_string_member_with_default (object, "portal", NULL);
  clinics = json_object_get_int_member_with_default (object, "clinics", 0);
  expires = json_object_get_int_member_with_default (object, "expires", 0);
  if (plan == NULL || *plan == '\0' || g_utf8_strlen (plan, -1) > 64)
    {
      invalid (error, "no plan");
      return NULL;
    }
  if (clinics < 1 || clinics > 10000)
    {
      invalid (error, "clinics: 1 to 10000");
      return NULL;
    }
  if (expires <= 0 || expires > G_MAXINT64 / G_USEC_PER_SEC)
    {
      invalid (error, "no expiry");
      return NULL;
    }
  if (portal == NULL || !g_str_has_prefix (portal, "https://") || strlen (portal) > 512)
    {
      invalid (error, "portal: an https address");
      return NULL;
    }

  licence->plan = g_strdup (plan);
  licence->clinics = (guint) clinics;
  licence->expires_at = expires * G_USEC_PER_SEC;
  licence->portal_url = g_strdup (portal);
  return g_steal_pointer (&licence);
}

/**
 * mhf_licence_verify_with_key:
 * @public_key_hex: the Ed25519 public key, 64 hex digits
 *
 * Checks @token's signature and reads its payload. Fails with
 * MHF_ERROR_INVALID_INPUT; the message never quotes the token.
 */
MhfLicence *
mhf_licence_verify_with_key (const char  *token,
                             const char  *public_key_hex,
                             GError     **error)
{
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GBytes) signature = NULL;
  guchar key[crypto_sign_PUBLICKEYBYTES];
  const char *dot;
  size_t key_len = 0;

  g_return_val_if_fail (token != NULL, NULL);
  g_return_val_if_fail (public_key_hex != NULL, NULL);

  if (sodium_init () < 0)
    g_error ("libsodium could not start");

  if (strlen (public_key_hex) != crypto_sign_PUBLICKEYBYTES * 2 ||
      sodium_hex2bin (key, sizeof key, public_key_hex, strlen (public_key_hex), NULL, &key_len,
                      NULL) != 0 ||
      key_len != sizeof key)
    {
      invalid (error, "this build has no licence key");
      return NULL;
    }

  if (strlen (token) > MAX_TOKEN_CHARS || (dot = strchr (token, '.')) == NULL ||
      strchr (dot + 1, '.') != NULL)
    {
      invalid (error, "not a licence token");
      return NULL;
    }

  payload = decode_part (token, (gsize) (dot - token));
  signature = decode_part (dot + 1, strlen (dot + 1));
  if (payload == NULL || signature == NULL ||
      g_bytes_get_size (signature) != crypto_sign_BYTES)
    {
      invalid (error, "not a licence token");
      return NULL;
    }

  if (crypto_sign_verify_detached (g_bytes_get_data (signature, NULL),
                                   g_bytes_get_data (payload, NULL), g_bytes_get_size (payload),
                                   key) != 0)
    {
      invalid (error, "the signature does not match");
      return NULL;
    }

  return parse_payload (payload, error);
}

/**
 * mhf_licence_verify:
 *
 * As mhf_licence_verify_with_key(), with the public key built in.
 */
MhfLicence *
mhf_licence_verify (const char  *token,
                    GError     **error)
{
  return mhf_licence_verify_with_key (token, MHF_LICENCE_PUBLIC_KEY, error);
}

/**
 * mhf_licence_compute_state:
 * @licence: (nullable): the stored, verified licence; %NULL for none
 * @stored_invalid: a licence is stored but no longer verifies
 * @trial_start: when the database was created (µs UTC)
 * @sending_until: (out): sending is allowed before this time (µs UTC)
 * @next_change: (out): when the state changes next, 0 for never
 *
 * No licence: a trial of MHF_LICENCE_TRIAL_DAYS from @trial_start. A
 * licence: active until its expiry, then MHF_LICENCE_GRACE_DAYS of grace
 * during which sending goes on, then expired.
 */
MhfLicenceState
mhf_licence_compute_state (const MhfLicence *licence,
                           gboolean          stored_invalid,
                           gint64            trial_start,
                           gint64            now,
                           gint64           *sending_until,
                           gint64           *next_change)
{
  *next_change = 0;

  if (stored_invalid)
    {
      *sending_until = 0;
      return MHF_LICENCE_STATE_INVALID;
    }

  if (licence == NULL)
    {
      gint64 trial_end = trial_start + MHF_LICENCE_TRIAL_DAYS * DAY_USEC;

      *sending_until = trial_end;
      if (now < trial_end)
        {
          *next_change = trial_end;
          return MHF_LICENCE_STATE_TRIAL;
        }
      return MHF_LICENCE_STATE_EXPIRED;
    }

  *sending_until = licence->expires_at + MHF_LICENCE_GRACE_DAYS * DAY_USEC;
  if (now < licence->expires_at)
    {
      *next_change = licence->expires_at;
      return MHF_LICENCE_STATE_ACTIVE;
    }
  if (now < *sending_until)
    {
      *next_change = *sending_until;
      return MHF_LICENCE_STATE_GRACE;
    }
  return MHF_LICENCE_STATE_EXPIRED;
}

const char *
mhf_licence_state_to_string (MhfLicenceState state)
{
  switch (state)
    {
    case MHF_LICENCE_STATE_TRIAL:
      return "trial";
    case MHF_LICENCE_STATE_ACTIVE:
      return "active";
    case MHF_LICENCE_STATE_GRACE:
      return "grace";
    case MHF_LICENCE_STATE_EXPIRED:
      return "expired";
    case MHF_LICENCE_STATE_INVALID:
    default:
      return "invalid";
    }
}
