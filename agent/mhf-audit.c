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

  /* Each clinic (and clinic 0, for entries about no clinic) has its own
   * chain, so that one clinic's log can be verified and shown alone. */
  rc = sqlite3_prepare_v2 (db,
                           "SELECT (SELECT coalesce(max(id), 0) + 1 FROM audit),"
                           "       (SELECT hash FROM audit WHERE coalesce(clinic_id, 0) = ?1"
                           "        ORDER BY id DESC LIMIT 1)",
                           -1, &last, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }
  sqlite3_bind_int64 (last, 1, MAX (entry->clinic_id, 0));

  rc = sqlite3_step (last);
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }
  id = sqlite3_column_int64 (last, 0);
  if (sqlite3_column_type (last, 1) == SQLITE_NULL)
    prev_hash = g_strdup (MHF_AUDIT_GENESIS_HASH);
  else
    prev_hash = g_strdup ((const char *) sqlite3_column_text (last, 1));

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

/**
 * mhf_audit_verify:
 * @clinic_id: the chain to check; 0 for entries about no clinic
 * @n_entries: (out): how many entries were checked
 * @first_broken: (out): the id of the first entry whose stored hash or
 *   link does not match, or 0 when the chain is intact
 *
 * Recomputes a chain from its first entry. Runs on the store's worker thread.
 *
 * Returns: %FALSE only when the log could not be read
 */
gboolean
mhf_audit_verify (sqlite3  *db,
                  gint64    clinic_id,
                  guint    *n_entries,
                  gint64   *first_broken,
                  GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *expected_prev = g_strdup (MHF_AUDIT_GENESIS_HASH);
  int rc;

  *n_entries = 0;
  *first_broken = 0;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, at, user_name, coalesce(clinic_id, 0), action, target,"
                           "       summary, prev_hash, hash"
                           "  FROM audit WHERE coalesce(clinic_id, 0) = ?1 ORDER BY id",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      MhfAuditEntry entry;
      g_autofree char *hash = NULL;
      gint64 id = sqlite3_column_int64 (stmt, 0);
      const char *prev_hash = (const char *) sqlite3_column_text (stmt, 7);
      const char *stored = (const char *) sqlite3_column_text (stmt, 8);

      entry.at = sqlite3_column_int64 (stmt, 1);
      entry.user_name = (const char *) sqlite3_column_text (stmt, 2);
      entry.clinic_id = sqlite3_column_int64 (stmt, 3);
      entry.action = (const char *) sqlite3_column_text (stmt, 4);
      entry.target = (const char *) sqlite3_column_text (stmt, 5);
      entry.summary = (const char *) sqlite3_column_text (stmt, 6);

      (*n_entries)++;

      /* The link to the previous entry, then the entry itself: an edited
       * row fails the second check, a removed row the first check of the
       * row after it. */
      hash = mhf_audit_entry_hash (id, &entry, prev_hash ?: "");
      if (g_strcmp0 (prev_hash, expected_prev) != 0 || g_strcmp0 (hash, stored) != 0)
        {
          *first_broken = id;
          return TRUE;
        }

      g_free (expected_prev);
      expected_prev = g_strdup (stored);
    }

  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading the audit log");
      return FALSE;
    }

  return TRUE;
}
