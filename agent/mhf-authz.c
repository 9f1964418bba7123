/* mhf-authz.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The one authorization table: every method of the Agent1 interface and
 * the least it needs. MhfAgentService enforces it in g_authorize_method for
 * every call; handlers never check roles themselves. A method missing here
 * is refused (and the role-matrix test fails).
 */

#include "config.h"

#include "mhf-authz.h"

static const MhfAuthzRule rules[] = {
  /* Health and sign-in: before anyone can sign in. */
  { "GetStatus",        MHF_ACCESS_PUBLIC,       MHF_ROLE_NONE,    -1 },
  { "WhoAmI",           MHF_ACCESS_PUBLIC,       MHF_ROLE_NONE,    -1 },
  { "SignIn",           MHF_ACCESS_PUBLIC,       MHF_ROLE_NONE,    -1 },
  /* Allowed only while no user exists (checked by the handler). */
  { "CreateOwner",      MHF_ACCESS_PUBLIC,       MHF_ROLE_NONE,    -1 },
  /* Allowed only while the database cannot be opened, when nobody can sign
   * in (checked by the handler). */
  { "ResetDatabase",    MHF_ACCESS_PUBLIC,       MHF_ROLE_NONE,    -1 },

  /* One's own session. */
  { "SignOut",          MHF_ACCESS_SIGNED_IN,    MHF_ROLE_NONE,    -1 },
  { "ChangePassphrase", MHF_ACCESS_SIGNED_IN,    MHF_ROLE_NONE,    -1 },
  { "ListClinics",      MHF_ACCESS_SIGNED_IN,    MHF_ROLE_NONE,    -1 },

  /* Users, clinics and settings of the whole installation. */
  { "ListUsers",        MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "AddUser",          MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "RemoveUser",       MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "SetRole",          MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "ResetPassphrase",  MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "SetIdleTimeout",   MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "AddClinic",        MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },
  { "SetLicence",       MHF_ACCESS_EVERY_CLINIC, MHF_ROLE_OWNER,   -1 },

  /* One clinic. */
  { "RemoveClinic",     MHF_ACCESS_CLINIC,       MHF_ROLE_OWNER,    0 },
  { "SetRetention",     MHF_ACCESS_CLINIC,       MHF_ROLE_OWNER,    0 },
  { "SetClinikoBaseUrl", MHF_ACCESS_CLINIC,      MHF_ROLE_OWNER,    0 },
  { "SetClinikoKey",    MHF_ACCESS_CLINIC,       MHF_ROLE_OWNER,    0 },
  { "RemoveClinikoKey", MHF_ACCESS_CLINIC,       MHF_ROLE_OWNER,    0 },
  { "GetClinikoStatus", MHF_ACCESS_CLINIC,       MHF_ROLE_STAFF,    0 },
  { "ListReference",    MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "ListTemplates",    MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "AddTemplate",      MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "UpdateTemplate",   MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "DeleteTemplate",   MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "PreviewTemplate",  MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "ListRules",        MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "AddRule",          MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "UpdateRule",       MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "DeleteRule",       MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "SetRuleEnabled",   MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "DryRunRule",       MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "ScanNow",          MHF_ACCESS_CLINIC,       MHF_ROLE_STAFF,    0 },
  { "SetScanInterval",  MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "ListOutbox",       MHF_ACCESS_CLINIC,       MHF_ROLE_STAFF,    0 },
  { "CancelMessage",    MHF_ACCESS_CLINIC,       MHF_ROLE_STAFF,    0 },
  { "RetryMessage",     MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "SetEmailSettings", MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "GetEmailSettings", MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "SendTestEmail",    MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "ListHistory",      MHF_ACCESS_CLINIC,       MHF_ROLE_STAFF,    0 },
  { "ExportHistory",    MHF_ACCESS_CLINIC,       MHF_ROLE_OWNER,    0 },
  { "GetDailyCounts",   MHF_ACCESS_CLINIC,       MHF_ROLE_STAFF,    0 },
  { "ListAudit",        MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
  { "VerifyAudit",      MHF_ACCESS_CLINIC,       MHF_ROLE_MANAGER,  0 },
};

const MhfAuthzRule *
mhf_authz_lookup (const char *method)
{
  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    {
      if (g_strcmp0 (rules[i].method, method) == 0)
        return &rules[i];
    }

  return NULL;
}

const MhfAuthzRule *
mhf_authz_get_rules (guint *n_rules)
{
  *n_rules = G_N_ELEMENTS (rules);
  return rules;
}

const char *
mhf_role_to_string (MhfRole role)
{
  switch (role)
    {
    case MHF_ROLE_OWNER:
      return "owner";
    case MHF_ROLE_MANAGER:
      return "manager";
    case MHF_ROLE_STAFF:
      return "staff";
    case MHF_ROLE_NONE:
    default:
      return "";
    }
}

MhfRole
mhf_role_from_string (const char *str)
{
  if (g_strcmp0 (str, "owner") == 0)
    return MHF_ROLE_OWNER;
  if (g_strcmp0 (str, "manager") == 0)
    return MHF_ROLE_MANAGER;
  if (g_strcmp0 (str, "staff") == 0)
    return MHF_ROLE_STAFF;
  return MHF_ROLE_NONE;
}
