/* mhf-error-text.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One sentence per agent error code, for screens that show what went
 * wrong. The agent's own messages are for logs and IT support; people see
 * these.
 */

#include "config.h"

#include "mhf-error-text.h"

#include "mhf-error.h"

#include <glib/gi18n.h>

const char *
mhf_error_text (const GError *error)
{
  if (error == NULL || error->domain != MHF_ERROR)
    return _("The background agent could not be reached. Check that it is running.");

  switch ((MhfError) error->code)
    {
    case MHF_ERROR_NOT_SIGNED_IN:
    case MHF_ERROR_SESSION_EXPIRED:
      return _("Your session ended. Sign in again.");
    case MHF_ERROR_ACCESS_DENIED:
      return _("Your role does not allow this.");
    case MHF_ERROR_INVALID_INPUT:
      return _("Check what you typed: the agent could not use it.");
    case MHF_ERROR_NOT_FOUND:
      return _("It is not there any more. Someone may have removed it.");
    case MHF_ERROR_NOT_ALLOWED:
      return _("That is not possible right now.");
    case MHF_ERROR_KEYRING_UNAVAILABLE:
      return _("The keyring is not available, so secrets cannot be kept safely.");
    case MHF_ERROR_KEYRING_LOCKED:
      return _("The keyring is locked. Unlock it by signing in to this computer again.");
    case MHF_ERROR_DATABASE_UNAVAILABLE:
      return _("The agent’s database cannot be opened.");
    case MHF_ERROR_CLINIKO_KEY_REJECTED:
      return _("Cliniko refused this API key. Check that it was copied whole and not revoked.");
    case MHF_ERROR_NETWORK:
      return _("Cliniko could not be reached. Check the internet connection and try again.");
    case MHF_ERROR_SIGN_IN_FAILED:
      return _("That user name and passphrase do not match.");
    case MHF_ERROR_SIGN_IN_LOCKED:
      return _("Too many attempts. Wait a few minutes, then try again.");
    case MHF_ERROR_SMTP_FAILED:
      return _("The mail server refused or could not be reached. Check the email settings.");
    case MHF_ERROR_FAILED:
    default:
      return _("The agent could not do that. Try again.");
    }
}
