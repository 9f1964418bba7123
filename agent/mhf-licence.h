/* mhf-licence.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Trial length from the database's creation, and the grace period after a
 * licence's expiry during which sending goes on. */
#define MHF_LICENCE_TRIAL_DAYS 30
#define MHF_LICENCE_GRACE_DAYS 14

typedef enum
{
  MHF_LICENCE_STATE_TRIAL,
  MHF_LICENCE_STATE_ACTIVE,
  MHF_LICENCE_STATE_GRACE,
  MHF_LICENCE_STATE_EXPIRED,
  MHF_LICENCE_STATE_INVALID,
} MhfLicenceState;

/* What a verified token says. */
typedef struct
{
  char   *plan;
  guint   clinics;
  gint64  expires_at;   /* µs UTC */
  char   *portal_url;
} MhfLicence;

MhfLicence      *mhf_licence_verify            (const char      *token,
                                                GError         **error);
MhfLicence      *mhf_licence_verify_with_key   (const char      *token,
                                                const char      *public_key_hex,
                                                GError         **error);
void             mhf_licence_free              (MhfLicence      *licence);
MhfLicenceState  mhf_licence_compute_state     (const MhfLicence *licence,
                                                gboolean         stored_invalid,
                                                gint64           trial_start,
                                                gint64           now,
                                                gint64          *sending_until,
                                                gint64          *next_change);
const char      *mhf_licence_state_to_string   (MhfLicenceState  state);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhfLicence, mhf_licence_free)

G_END_DECLS
