/* mhf-passphrase.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Passphrases are stored as argon2id hashes (libsodium's crypto_pwhash_str,
 * interactive limits). These functions are CPU- and memory-heavy; they run
 * on the store's worker thread, never on the main loop.
 */

#include "config.h"

#include "mhf-passphrase.h"

#include "mhf-error.h"

#include <sodium.h>
#include <string.h>

static gboolean
ensure_sodium (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      gsize ok = sodium_init () >= 0 ? 1 : 2;
      g_once_init_leave (&initialized, ok);
    }

  return initialized == 1;
}

/**
 * mhf_passphrase_validate:
 *
 * 10 to 1024 characters of valid UTF-8. The message never repeats the
 * passphrase.
 */
gboolean
mhf_passphrase_validate (const char  *passphrase,
                         GError     **error)
{
  glong chars;

  if (passphrase == NULL || !g_utf8_validate (passphrase, -1, NULL))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "passphrase: not valid text");
      return FALSE;
    }

  chars = g_utf8_strlen (passphrase, -1);
  if (chars < MHF_PASSPHRASE_MIN_CHARS)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "passphrase: at least %d characters are needed", MHF_PASSPHRASE_MIN_CHARS);
      return FALSE;
    }
  if (chars > MHF_PASSPHRASE_MAX_CHARS)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "passphrase: at most %d characters are allowed", MHF_PASSPHRASE_MAX_CHARS);
      return FALSE;
    }

  return TRUE;
}

/**
 * mhf_passphrase_hash:
 *
 * Returns: (transfer full): an argon2id hash string with its own salt and
 *   parameters, or %NULL on error
 */
char *
mhf_passphrase_hash (const char  *passphrase,
                     GError     **error)
{
  char out[crypto_pwhash_STRBYTES];

  if (!mhf_passphrase_validate (passphrase, error))
    return NULL;

  if (!ensure_sodium () ||
      crypto_pwhash_str_alg (out, passphrase, strlen (passphrase),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE,
                             crypto_pwhash_ALG_ARGON2ID13) != 0)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_FAILED,
                           "Not enough memory to protect the passphrase");
      return NULL;
    }

  return g_strdup (out);
}

/**
 * mhf_passphrase_verify:
 *
 * Compares in constant time (libsodium's verification does).
 */
gboolean
mhf_passphrase_verify (const char *hash,
                       const char *passphrase)
{
  if (hash == NULL || passphrase == NULL || !ensure_sodium ())
    return FALSE;

  return crypto_pwhash_str_verify (hash, passphrase, strlen (passphrase)) == 0;
}

/**
 * mhf_passphrase_verify_dummy:
 *
 * Spends the time a real verification takes, for names that do not exist,
 * so that timing tells nobody which usernames are real.
 */
void
mhf_passphrase_verify_dummy (const char *passphrase)
{
  static char *dummy_hash = NULL;

  /* Only ever called on the store's worker thread. */
  if (dummy_hash == NULL)
    dummy_hash = mhf_passphrase_hash ("mhf-dummy-passphrase-for-timing", NULL);

  (void) mhf_passphrase_verify (dummy_hash, passphrase ?: "");
}
