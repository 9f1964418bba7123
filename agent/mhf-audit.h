/* mhf-audit.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* The hash the first entry of a log chains to. */
#define MHF_AUDIT_GENESIS_HASH \
  "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct
{
  gint64      at;
  const char *user_name;
  gint64      clinic_id;   /* 0: no clinic */
  const char *action;
  const char *target;
  const char *summary;
} MhfAuditEntry;

char     *mhf_audit_entry_hash (gint64               id,
                                const MhfAuditEntry *entry,
                                const char          *prev_hash);
gboolean  mhf_audit_append     (sqlite3             *db,
                                const MhfAuditEntry *entry,
                                GError             **error);

gboolean  mhf_audit_verify     (sqlite3             *db,
                                gint64               clinic_id,
                                guint               *n_entries,
                                gint64              *first_broken,
                                GError             **error);

G_END_DECLS
