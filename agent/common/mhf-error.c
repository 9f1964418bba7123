/* mhf-error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "mhf-error.h"

#define MHF_ERROR_PREFIX "com.myhealthfollowup.MyHealthFollowup.Error."

static const GDBusErrorEntry mhf_error_entries[] = {
  { MHF_ERROR_FAILED, MHF_ERROR_PREFIX "Failed" },
  { MHF_ERROR_NOT_SIGNED_IN, MHF_ERROR_PREFIX "NotSignedIn" },
  { MHF_ERROR_ACCESS_DENIED, MHF_ERROR_PREFIX "AccessDenied" },
  { MHF_ERROR_INVALID_INPUT, MHF_ERROR_PREFIX "InvalidInput" },
  { MHF_ERROR_NOT_FOUND, MHF_ERROR_PREFIX "NotFound" },
  { MHF_ERROR_NOT_ALLOWED, MHF_ERROR_PREFIX "NotAllowed" },
  { MHF_ERROR_KEYRING_UNAVAILABLE, MHF_ERROR_PREFIX "KeyringUnavailable" },
  { MHF_ERROR_KEYRING_LOCKED, MHF_ERROR_PREFIX "KeyringLocked" },
  { MHF_ERROR_DATABASE_UNAVAILABLE, MHF_ERROR_PREFIX "DatabaseUnavailable" },
  { MHF_ERROR_CLINIKO_KEY_REJECTED, MHF_ERROR_PREFIX "ClinikoKeyRejected" },
  { MHF_ERROR_NETWORK, MHF_ERROR_PREFIX "Network" },
  { MHF_ERROR_SIGN_IN_FAILED, MHF_ERROR_PREFIX "SignInFailed" },
  { MHF_ERROR_SIGN_IN_LOCKED, MHF_ERROR_PREFIX "SignInLocked" },
  { MHF_ERROR_SESSION_EXPIRED, MHF_ERROR_PREFIX "SessionExpired" },
  { MHF_ERROR_SMTP_FAILED, MHF_ERROR_PREFIX "SmtpFailed" },
};

/* Every code needs exactly one D-Bus name, in enum order. */
G_STATIC_ASSERT (G_N_ELEMENTS (mhf_error_entries) == MHF_N_ERRORS);

GQuark
mhf_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("mhf-error-quark",
                                      &quark,
                                      mhf_error_entries,
                                      G_N_ELEMENTS (mhf_error_entries));
  return (GQuark) quark;
}

/**
 * mhf_error_dbus_name:
 * @code: an #MhfError
 *
 * Returns: (transfer none): the stable D-Bus error name of @code
 */
const char *
mhf_error_dbus_name (MhfError code)
{
  g_return_val_if_fail (code < MHF_N_ERRORS, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (mhf_error_entries); i++)
    {
      if (mhf_error_entries[i].error_code == (int) code)
        return mhf_error_entries[i].dbus_error_name;
    }

  g_assert_not_reached ();
}
