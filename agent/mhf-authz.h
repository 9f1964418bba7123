/* mhf-authz.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  MHF_ROLE_NONE,
  MHF_ROLE_STAFF,
  MHF_ROLE_MANAGER,
  MHF_ROLE_OWNER,
} MhfRole;

typedef enum
{
  /* Anyone, signed in or not. */
  MHF_ACCESS_PUBLIC,
  /* Any signed-in user. */
  MHF_ACCESS_SIGNED_IN,
  /* A role on clinic 0, "every clinic": installation-wide changes. */
  MHF_ACCESS_EVERY_CLINIC,
  /* A role on the clinic named by the method's "clinic" argument. */
  MHF_ACCESS_CLINIC,
} MhfAccess;

typedef struct
{
  const char *method;
  MhfAccess   access;
  MhfRole     min_role;
  /* For MHF_ACCESS_CLINIC: the index of the clinic argument (type x). */
  int         clinic_arg;
} MhfAuthzRule;

const MhfAuthzRule *mhf_authz_lookup       (const char *method);
const MhfAuthzRule *mhf_authz_get_rules    (guint      *n_rules);
const char         *mhf_role_to_string     (MhfRole     role);
MhfRole             mhf_role_from_string   (const char *str);

G_END_DECLS
