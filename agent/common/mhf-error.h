/* mhf-error.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MHF_ERROR (mhf_error_quark ())

/**
 * MhfError:
 * @MHF_ERROR_FAILED: An unexpected failure; the message says what failed.
 * @MHF_ERROR_NOT_SIGNED_IN: The call needs a signed-in session.
 * @MHF_ERROR_ACCESS_DENIED: The caller's role does not allow the call.
 * @MHF_ERROR_INVALID_INPUT: An argument was malformed or out of range.
 * @MHF_ERROR_NOT_FOUND: The named object does not exist.
 * @MHF_ERROR_NOT_ALLOWED: The call is not allowed in the agent's current state.
 * @MHF_ERROR_KEYRING_UNAVAILABLE: No Secret Service is reachable.
 * @MHF_ERROR_KEYRING_LOCKED: The keyring is locked.
 * @MHF_ERROR_DATABASE_UNAVAILABLE: The database is not open (see GetStatus).
 * @MHF_ERROR_CLINIKO_KEY_REJECTED: Cliniko refused the API key.
 * @MHF_ERROR_NETWORK: A remote service could not be reached.
 * @MHF_ERROR_SIGN_IN_FAILED: The username or passphrase is wrong (the same
 *   error for both, so that it tells nobody which names exist).
 * @MHF_ERROR_SIGN_IN_LOCKED: Too many failed sign-ins; try again later.
 * @MHF_ERROR_SESSION_EXPIRED: The session ended after being idle too long.
 * @MHF_ERROR_SMTP_FAILED: The mail server refused the message or the login,
 *   its certificate was not trusted, or it could not be reached.
 *
 * Error codes of the %MHF_ERROR domain. Each code has one stable D-Bus error
 * name, `com.myhealthfollowup.MyHealthFollowup.Error.<Name>`; codes are only
 * ever appended so that the numbers stay stable.
 */
typedef enum
{
  MHF_ERROR_FAILED,
  MHF_ERROR_NOT_SIGNED_IN,
  MHF_ERROR_ACCESS_DENIED,
  MHF_ERROR_INVALID_INPUT,
  MHF_ERROR_NOT_FOUND,
  MHF_ERROR_NOT_ALLOWED,
  MHF_ERROR_KEYRING_UNAVAILABLE,
  MHF_ERROR_KEYRING_LOCKED,
  MHF_ERROR_DATABASE_UNAVAILABLE,
  MHF_ERROR_CLINIKO_KEY_REJECTED,
  MHF_ERROR_NETWORK,
  MHF_ERROR_SIGN_IN_FAILED,
  MHF_ERROR_SIGN_IN_LOCKED,
  MHF_ERROR_SESSION_EXPIRED,
  MHF_ERROR_SMTP_FAILED,
} MhfError;

#define MHF_N_ERRORS (MHF_ERROR_SMTP_FAILED + 1)

GQuark      mhf_error_quark         (void);
const char *mhf_error_dbus_name     (MhfError code);

G_END_DECLS
