/* mhf-test-licence.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Licence tokens for tests, signed with the TEST key pair in
 * tests/licence/ that test builds are configured to trust.
 */

#include "config.h"

#include "mhf-test-licence.h"

#include <sodium.h>
#include <string.h>

static char *
base64url (const guchar *data,
           gsize         len)
{
  gsize size = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = g_malloc (size);

  sodium_bin2base64 (out, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

/**
 * mhf_test_licence_token:
 *
 * A token signed with the TEST key pair in tests/licence/ (or, with
 * @other_key, with a key the agent does not know).
 */
char *
mhf_test_licence_token (const char *plan,
            guint       clinics,
            gint64      expires_usec,
            gboolean    other_key)
{
  g_autofree char *seed_path = g_test_build_filename (G_TEST_DIST, "licence", "test-key.seed", NULL);
  g_autofree char *seed_hex = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *payload_b64 = NULL;
  g_autofree char *signature_b64 = NULL;
  guchar seed[crypto_sign_SEEDBYTES];
  guchar pk[crypto_sign_PUBLICKEYBYTES];
  guchar sk[crypto_sign_SECRETKEYBYTES];
  guchar signature[crypto_sign_BYTES];
  size_t seed_len = 0;

  g_assert_cmpint (sodium_init (), >=, 0);
  g_assert_true (g_file_get_contents (seed_path, &seed_hex, NULL, NULL));
  g_strstrip (seed_hex);
  g_assert_cmpint (sodium_hex2bin (seed, sizeof seed, seed_hex, strlen (seed_hex), NULL,
                                   &seed_len, NULL), ==, 0);
  g_assert_cmpuint (seed_len, ==, sizeof seed);
  if (other_key)
    seed[0] ^= 0xff;
  crypto_sign_seed_keypair (pk, sk, seed);

  payload = g_strdup_printf ("{\"plan\": \"%s\", \"clinics\": %u, \"expires\": %" G_GINT64_FORMAT
                             ", \"portal\": \"https://billing.example.com/portal/test\"}",
                             plan, clinics, expires_usec / G_USEC_PER_SEC);
  crypto_sign_detached (signature, NULL, (const guchar *) payload, strlen (payload), sk);
  sodium_memzero (sk, sizeof sk);
  payload_b64 = base64url ((const guchar *) payload, strlen (payload));
  signature_b64 = base64url (signature, sizeof signature);
  return g_strdup_printf ("%s.%s", payload_b64, signature_b64);
}

