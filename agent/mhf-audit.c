/* mhf-audit.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The append-only, hash-chained audit log. Each entry's hash covers its
 * canonical form and the previous entry's hash, so editing or removing any
 * entry breaks the chain from there on.
 */

#include "config.h"

#include "mhf-audit.h"

#include "mhf-store.h"

static void
append_field (GString    *out,
              const char *name,
              const char *value)
{
  /* Length-prefixed fields: no value can fake a field boundary. */
  g_string_append_printf (out, "%s:%zu:%s\n", name, strlen (value ?: ""), value ?: "");
}

/**
 * mhf_audit_entry_hash:
 *
 * Returns: (transfer full): the lowercase hex SHA-256 over the entry's
 *   canonical form and @prev_hash
 */
char *
mhf_audit_entry_hash (gint64               id,
                      const MhfAuditEntry *entry,
                      const char          *prev_hash)
{
  g_autoptr(GString) canonical = g_string_new ("mhf-audit-v1\n");
  char number[32];

  g_snprintf (number, sizeof number, "%" G_GINT64_FORMAT, id);
  append_field (canonical, "id", number);
  g_snprintf (number, sizeof number, "%" G_GINT64_FORMAT, entry->at);
  append_field (canonical, "at", number);
  append_field (canonical, "user", entry->user_name);
  g_snprintf (number, sizeof number, "%" G_GINT64_FORMAT, entry->clinic_id);
  append_field (canonical, "clinic", number);
  append_field (canonical, "action", entry->action);
  append_field (canonical, "target", entry->target);
  append_field (canonical, "summary", entry->summary);
  append_field (canonical, "prev", prev_hash);

  return g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                      (const guchar *) canonical->str, canonical->len);
}

/**
 * mhf_audit_append:
 *
 * Appends @entry. Runs on the store's worker thread, inside the caller's
 * transaction when there is one, so that a change and its audit entry
 * commit together.
 */
gboolean
mhf_audit_append (sqlite3             *db,
                  const MhfAuditEntry *entry,
                  GError             **error)
{
  g_autoptr(sqlite3_stmt) last = NULL;
  g_autoptr(sqlite3_stmt) insert = NULL;
  g_autofree char *prev_hash = NULL;
  g_autofree char *hash = NULL;
  gint64 id = 1;
  int rc;

  g_assert (db != NULL);
  g_assert (entry != NULL && entry->action != NULL);

  rc = sqlite3_prepare_v2 (db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", -1, &last, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }

  rc = sqlite3_step (last);
  if (rc == SQLITE_ROW)
    {
      id = sqlite3_column_int64 (last, 0) + 1;
      prev_hash = g_strdup ((const char *) sqlite3_column_text (last, 1));
    }
  else if (rc == SQLITE_DONE)
    prev_hash = g_strdup (MHF_AUDIT_GENESIS_HASH);
  else
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }

  hash = mhf_audit_entry_hash (id, entry, prev_hash);

  rc = sqlite3_prepare_v2 (db,
                           "INSERT INTO audit (id, at, user_name, clinic_id, action, target, summary,"
                           "                   prev_hash, hash)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &insert, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Writing the audit log");
      return FALSE;
    }

  sqlite3_bind_int64 (insert, 1, id);
  sqlite3_bind_int64 (insert, 2, entry->at);
  sqlite3_bind_text (insert, 3, entry->user_name ?: "", -1, SQLITE_TRANSIENT);
  if (entry->clinic_id > 0)
    sqlite3_bind_int64 (insert, 4, entry->clinic_id);
  else
    sqlite3_bind_null (insert, 4);
  sqlite3_bind_text (insert, 5, entry->action, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (insert, 6, entry->target ?: "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (insert, 7, entry->summary ?: "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (insert, 8, prev_hash, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (insert, 9, hash, -1, SQLITE_TRANSIENT);

  rc = sqlite3_step (insert);
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Writing the audit log");
      return FALSE;
    }

  return TRUE;
}
