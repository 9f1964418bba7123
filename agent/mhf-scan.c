/* mhf-scan.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The planning half of a scan: what Cliniko said about appointments, turned
 * into outbox rows. Runs on the store's thread inside the scan's
 * transaction. One row per idempotency key (clinic, rule, appointment,
 * attendee, and for reminders the start time): planning the same key again
 * only moves a pending row's time, and rows that were sent are never
 * touched. The decision for each appointment is mhf_planner_decide(), the
 * one the dry run uses.
 */

#include "config.h"

#include "mhf-scan.h"

#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-reason.h"
#include "mhf-store.h"

#include <string.h>

#define MINUTE_USEC ((gint64) 60 * G_USEC_PER_SEC)

void
mhf_scan_item_free (MhfScanItem *item)
{
  if (item == NULL)
    return;
  g_free (item->appointment_id);
  g_free (item->attendee_id);
  g_free (item->patient_id);
  g_free (item->business_id);
  g_free (item->practitioner_id);
  g_free (item->appointment_type_id);
  g_free (item);
}

/**
 * mhf_scan_item_new_gone:
 * @attendee_id: (nullable): one attendee, "" for an individual
 *   appointment, or %NULL for every row of the appointment
 *
 * An appointment (or a place in a class) known only from a tombstone list.
 */
MhfScanItem *
mhf_scan_item_new_gone (const char *appointment_id,
                        const char *attendee_id,
                        const char *reason)
{
  MhfScanItem *item = g_new0 (MhfScanItem, 1);

  item->appointment_id = g_strdup (appointment_id);
  item->attendee_id = g_strdup (attendee_id ?: "");
  item->whole_appointment = attendee_id == NULL;
  item->gone = reason;
  return item;
}

gint64
mhf_scan_parse_time (JsonObject *row,
                     const char *member)
{
  const char *text = mhf_cliniko_json_string (row, member);
  g_autoptr(GDateTime) at = NULL;

  if (text == NULL || *text == '\0')
    return 0;
  at = g_date_time_new_from_iso8601 (text, NULL);
  return at != NULL ? g_date_time_to_unix (at) * G_USEC_PER_SEC
                      + g_date_time_get_microsecond (at) : 0;
}

/* The id at the end of a relation's link, e.g. "patient". */
char *
mhf_scan_linked_id (JsonObject *row,
                    const char *member)
{
  JsonObject *link;

  if (!json_object_has_member (row, member) ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (row, member)))
    return NULL;
  link = json_object_get_object_member (row, member);
  if (!json_object_has_member (link, "links") ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (link, "links")))
    return NULL;
  return mhf_cliniko_id_from_link (mhf_cliniko_json_string (json_object_get_object_member (link,
                                                                                           "links"),
                                                            "self"));
}

/* Why an appointment (or a place, or a class) takes no messages, or %NULL. */
const char *
mhf_scan_gone_reason (JsonObject *row)
{
  if (mhf_scan_parse_time (row, "deleted_at") != 0)
    return MHF_REASON_APPOINTMENT_DELETED;
  if (mhf_scan_parse_time (row, "cancelled_at") != 0)
    return MHF_REASON_APPOINTMENT_CANCELLED;
  if (mhf_scan_parse_time (row, "archived_at") != 0)
    return MHF_REASON_APPOINTMENT_ARCHIVED;
  return NULL;
}

/**
 * mhf_scan_item_from_appointment:
 * @row: an individual appointment as Cliniko lists it
 *
 * Returns: (nullable): the item, or %NULL for a row without an id or times
 */
MhfScanItem *
mhf_scan_item_from_appointment (JsonObject *row)
{
  const char *id = mhf_cliniko_json_string (row, "id");
  MhfScanItem *item;

  if (id == NULL || *id == '\0')
    return NULL;

  item = g_new0 (MhfScanItem, 1);
  item->appointment_id = g_strdup (id);
  item->attendee_id = g_strdup ("");
  item->patient_id = mhf_scan_linked_id (row, "patient");
  item->business_id = mhf_scan_linked_id (row, "business");
  item->practitioner_id = mhf_scan_linked_id (row, "practitioner");
  item->appointment_type_id = mhf_scan_linked_id (row, "appointment_type");
  item->starts_at = mhf_scan_parse_time (row, "starts_at");
  item->ends_at = mhf_scan_parse_time (row, "ends_at");
  item->updated_at = mhf_scan_parse_time (row, "updated_at");
  item->gone = mhf_scan_gone_reason (row);

  if (item->gone == NULL && (item->starts_at == 0 || item->ends_at == 0))
    {
      mhf_scan_item_free (item);
      return NULL;
    }
  return item;
}

/**
 * mhf_scan_item_from_attendee:
 * @group: the class (a group appointment)
 * @attendee: one of its attendees
 *
 * One place in a class: the class's times, business and practitioner,
 * the attendee's own patient and cancellation.
 */
MhfScanItem *
mhf_scan_item_from_attendee (JsonObject *group,
                             JsonObject *attendee)
{
  const char *group_id = mhf_cliniko_json_string (group, "id");
  const char *attendee_id = mhf_cliniko_json_string (attendee, "id");
  MhfScanItem *item;

  if (group_id == NULL || attendee_id == NULL)
    return NULL;

  item = g_new0 (MhfScanItem, 1);
  item->appointment_id = g_strdup (group_id);
  item->attendee_id = g_strdup (attendee_id);
  item->patient_id = mhf_scan_linked_id (attendee, "patient");
  item->business_id = mhf_scan_linked_id (group, "business");
  item->practitioner_id = mhf_scan_linked_id (group, "practitioner");
  item->appointment_type_id = mhf_scan_linked_id (group, "appointment_type");
  item->starts_at = mhf_scan_parse_time (group, "starts_at");
  item->ends_at = mhf_scan_parse_time (group, "ends_at");
  item->updated_at = MAX (mhf_scan_parse_time (group, "updated_at"),
                          mhf_scan_parse_time (attendee, "updated_at"));
  item->gone = mhf_scan_gone_reason (group);
  if (item->gone == NULL)
    item->gone = mhf_scan_gone_reason (attendee);

  if (item->gone == NULL && (item->starts_at == 0 || item->ends_at == 0))
    {
      mhf_scan_item_free (item);
      return NULL;
    }
  return item;
}

void
mhf_scan_item_to_info (const MhfScanItem  *item,
                       MhfAppointmentInfo *info)
{
  info->id = item->appointment_id;
  info->business_id = item->business_id;
  info->practitioner_id = item->practitioner_id;
  info->appointment_type_id = item->appointment_type_id;
  info->starts_at = item->starts_at;
  info->ends_at = item->ends_at;
  info->cancelled = item->gone != NULL;
}

void
mhf_scan_rule_free (MhfScanRule *rule)
{
  if (rule == NULL)
    return;
  mhf_rule_spec_clear (&rule->spec);
  g_free (rule);
}

/**
 * mhf_scan_load_rules:
 *
 * The clinic's enabled rules. A rule whose stored settings no longer read
 * (which the agent never writes) is left out with a message, never guessed.
 *
 * Returns: (transfer full) (element-type MhfScanRule): the rules
 */
GPtrArray *
mhf_scan_load_rules (sqlite3  *db,
                     gint64    clinic_id,
                     GError  **error)
{
  g_autoptr(GPtrArray) rules = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_scan_rule_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, name, kind, category, template_id, timing, filters,"
                           "       send_window, coalesce(latest_useful, 0), coalesce(enabled_at, 0)"
                           "  FROM rules WHERE clinic_id = ?1 AND enabled ORDER BY id",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading rules");
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      MhfScanRule *rule = g_new0 (MhfScanRule, 1);
      g_autoptr(GError) local_error = NULL;

      rule->id = sqlite3_column_int64 (stmt, 0);
      rule->enabled_at = sqlite3_column_int64 (stmt, 9);
      if (!mhf_rule_spec_load (&rule->spec,
                               (const char *) sqlite3_column_text (stmt, 1),
                               (const char *) sqlite3_column_text (stmt, 2),
                               (const char *) sqlite3_column_text (stmt, 3),
                               sqlite3_column_int64 (stmt, 4),
                               (const char *) sqlite3_column_text (stmt, 5),
                               (const char *) sqlite3_column_text (stmt, 6),
                               (const char *) sqlite3_column_text (stmt, 7),
                               sqlite3_column_int64 (stmt, 8),
                               &local_error))
        {
          g_message ("Rule %" G_GINT64_FORMAT " is left out of planning: %s", rule->id,
                     local_error->message);
          mhf_scan_rule_free (rule);
          continue;
        }
      g_ptr_array_add (rules, rule);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading rules");
      return NULL;
    }

  return g_steal_pointer (&rules);
}

/* How far before an appointment's start the enabled rules reach, in µs. */
gint64
mhf_scan_rules_reach_before (GPtrArray *rules)
{
  gint64 reach = 0;

  for (guint i = 0; i < rules->len; i++)
    {
      const MhfTiming *timing = &((MhfScanRule *) g_ptr_array_index (rules, i))->spec.timing;

      if (timing->kind == MHF_TIMING_BEFORE_START)
        reach = MAX (reach, timing->offset_minutes * MINUTE_USEC);
      else if (timing->kind == MHF_TIMING_DAYS_BEFORE_AT)
        reach = MAX (reach, (gint64) (timing->days + 1) * 24 * 60 * MINUTE_USEC);
    }
  return reach;
}

/* How far after an appointment's end the enabled rules reach, in µs,
 * including how late their messages may still go. */
gint64
mhf_scan_rules_reach_after (GPtrArray *rules)
{
  gint64 reach = 0;

  for (guint i = 0; i < rules->len; i++)
    {
      const MhfScanRule *rule = g_ptr_array_index (rules, i);

      if (rule->spec.timing.kind == MHF_TIMING_AFTER_END)
        reach = MAX (reach, (rule->spec.timing.offset_minutes +
                             rule->spec.latest_useful_minutes) * MINUTE_USEC);
    }
  return reach;
}

/* ---- Applying ------------------------------------------------------------------------------------ */

enum
{
  STMT_RESCHEDULED,
  STMT_PLAN,
  STMT_SKIP,
  STMT_CANCEL_KEY,
  STMT_CANCEL_GONE,
  N_STMTS
};

/* Bound by name throughout: ?clinic ?rule ?appointment ?attendee ?start
 * ?patient ?business ?planned ?latest ?now ?reason */
static const char * const statements[N_STMTS] = {
  /* A reminder planned for another start: the appointment moved. */
  [STMT_RESCHEDULED] =
    "UPDATE outbox SET state = 'cancelled', reason = 'rescheduled', updated_at = :now"
    " WHERE clinic_id = :clinic AND rule_id = :rule AND appointment_id = :appointment"
    "   AND attendee_id = :attendee AND appointment_start != :start"
    "   AND state IN ('planned', 'retry_wait')",
  /* New key → a planned row. A pending row gets the new time (unless both
   * times are already due); a row cancelled or skipped because of the rule
   * itself comes back. Anything else (sent, failed, cancelled by a user…)
   * stays as it is. */
  [STMT_PLAN] =
    "INSERT INTO outbox (clinic_id, rule_id, appointment_id, attendee_id, appointment_start,"
    "                    patient_id, business_id, planned_at, latest_at, state, created_at,"
    "                    updated_at)"
    " VALUES (:clinic, :rule, :appointment, :attendee, :start, :patient, :business, :planned,"
    "         :latest, 'planned', :now, :now)"
    " ON CONFLICT (clinic_id, rule_id, appointment_id, attendee_id, appointment_start)"
    " DO UPDATE SET planned_at = excluded.planned_at, latest_at = excluded.latest_at,"
    "               patient_id = excluded.patient_id, business_id = excluded.business_id,"
    "               state = 'planned', reason = NULL, updated_at = excluded.updated_at"
    " WHERE (outbox.state = 'planned'"
    "        AND (outbox.planned_at != excluded.planned_at"
    "             OR outbox.latest_at IS NOT excluded.latest_at)"
    "        AND NOT (outbox.planned_at <= :now AND excluded.planned_at <= :now))"
    "    OR (outbox.state IN ('cancelled', 'skipped')"
    "        AND outbox.reason IN ('rule-disabled', 'rule-changed', 'no-useful-time'))"
    " RETURNING created_at",
  /* No useful time left: a recorded skip, or a pending row skipped. */
  [STMT_SKIP] =
    "INSERT INTO outbox (clinic_id, rule_id, appointment_id, attendee_id, appointment_start,"
    "                    patient_id, business_id, planned_at, state, reason, created_at,"
    "                    updated_at)"
    " VALUES (:clinic, :rule, :appointment, :attendee, :start, :patient, :business, :now,"
    "         'skipped', 'no-useful-time', :now, :now)"
    " ON CONFLICT (clinic_id, rule_id, appointment_id, attendee_id, appointment_start)"
    " DO UPDATE SET state = 'skipped', reason = 'no-useful-time', updated_at = excluded.updated_at"
    " WHERE outbox.state = 'planned' AND outbox.planned_at > :now"
    " RETURNING created_at",
  /* The rule no longer applies (filters changed, or its time moved into
   * the past): pending future rows of this rule for it. */
  [STMT_CANCEL_KEY] =
    "UPDATE outbox SET state = 'cancelled', reason = :reason, updated_at = :now"
    " WHERE clinic_id = :clinic AND rule_id = :rule AND appointment_id = :appointment"
    "   AND attendee_id = :attendee AND state = 'planned' AND planned_at > :now",
  /* Cancelled, deleted or archived: every pending row, whatever the rule. */
  [STMT_CANCEL_GONE] =
    "UPDATE outbox SET state = 'cancelled', reason = :reason, updated_at = :now"
    " WHERE clinic_id = :clinic AND appointment_id = :appointment"
    "   AND (:attendee IS NULL OR attendee_id = :attendee)"
    "   AND state IN ('planned', 'retry_wait')",
};

static void
bind_text (sqlite3_stmt *stmt,
           const char   *name,
           const char   *value)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  if (index > 0)
    sqlite3_bind_text (stmt, index, value, -1, SQLITE_STATIC);
}

static void
bind_int64 (sqlite3_stmt *stmt,
            const char   *name,
            gint64        value)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  if (index > 0)
    sqlite3_bind_int64 (stmt, index, value);
}

static void
bind_null (sqlite3_stmt *stmt,
           const char   *name)
{
  int index = sqlite3_bind_parameter_index (stmt, name);

  if (index > 0)
    sqlite3_bind_null (stmt, index);
}

/* Runs a statement; returns the number of rows it changed, or -1. */
static int
run (sqlite3      *db,
     sqlite3_stmt *stmt,
     gint64       *created_at)
{
  int rc, changed = 0;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      changed++;
      if (created_at != NULL)
        *created_at = sqlite3_column_int64 (stmt, 0);
    }
  if (rc == SQLITE_DONE && created_at == NULL)
    changed = sqlite3_changes (db);
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return rc == SQLITE_DONE ? changed : -1;
}

static void
format_start (gint64 starts_at,
              char   buf[32])
{
  g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (starts_at / G_USEC_PER_SEC);
  g_autofree char *text = at != NULL ? g_date_time_format (at, "%Y-%m-%dT%H:%M:%SZ") : NULL;

  g_strlcpy (buf, text ?: "", 32);
}

/**
 * mhf_scan_apply:
 * @rules: (element-type MhfScanRule): the clinic's enabled rules
 * @items: (element-type MhfScanItem): what the scan fetched
 * @zones: business id → #GTimeZone
 * @default_zone: the account's zone, for businesses without one
 * @counts: (out caller-allocates): what changed
 *
 * Plans and reconciles @items against the outbox. The caller owns the
 * transaction.
 */
gboolean
mhf_scan_apply (sqlite3        *db,
                gint64          clinic_id,
                GPtrArray      *rules,
                GPtrArray      *items,
                GHashTable     *zones,
                GTimeZone      *default_zone,
                gint64          now,
                MhfScanCounts  *counts,
                GError        **error)
{
  sqlite3_stmt *stmts[N_STMTS] = { NULL, };
  gboolean ok = FALSE;
  int rc = SQLITE_OK;

  memset (counts, 0, sizeof *counts);

  for (guint i = 0; i < N_STMTS; i++)
    {
      rc = sqlite3_prepare_v3 (db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts[i], NULL);
      if (rc != SQLITE_OK)
        {
          mhf_store_set_error (error, db, rc, "Preparing planning");
          goto out;
        }
    }

  for (guint i = 0; i < items->len; i++)
    {
      const MhfScanItem *item = g_ptr_array_index (items, i);
      MhfAppointmentInfo info = { 0, };
      GTimeZone *zone = NULL;
      char start[32];
      int changed;

      counts->items++;

      if (item->gone != NULL)
        {
          sqlite3_stmt *stmt = stmts[STMT_CANCEL_GONE];

          bind_int64 (stmt, ":clinic", clinic_id);
          bind_text (stmt, ":appointment", item->appointment_id);
          if (item->whole_appointment)
            bind_null (stmt, ":attendee");
          else
            bind_text (stmt, ":attendee", item->attendee_id);
          bind_text (stmt, ":reason", item->gone);
          bind_int64 (stmt, ":now", now);
          if ((changed = run (db, stmt, NULL)) < 0)
            goto failed;
          counts->cancelled += changed;
          continue;
        }

      mhf_scan_item_to_info (item, &info);
      if (item->business_id != NULL)
        zone = g_hash_table_lookup (zones, item->business_id);
      if (zone == NULL)
        zone = default_zone;
      format_start (item->starts_at, start);

      for (guint r = 0; r < rules->len; r++)
        {
          const MhfScanRule *rule = g_ptr_array_index (rules, r);
          gboolean reminder = g_str_equal (rule->spec.kind, "reminder");
          const char *key_start = reminder ? start : "";
          gint64 planned = 0, latest = 0, created_at = 0;
          MhfPlanOutcome outcome;
          sqlite3_stmt *stmt;

          outcome = mhf_planner_decide (&rule->spec, &info, zone, MAX (now, rule->enabled_at),
                                        &planned, &latest);

          if (reminder)
            {
              stmt = stmts[STMT_RESCHEDULED];
              bind_int64 (stmt, ":clinic", clinic_id);
              bind_int64 (stmt, ":rule", rule->id);
              bind_text (stmt, ":appointment", item->appointment_id);
              bind_text (stmt, ":attendee", item->attendee_id);
              bind_text (stmt, ":start", key_start);
              bind_int64 (stmt, ":now", now);
              if ((changed = run (db, stmt, NULL)) < 0)
                goto failed;
              counts->cancelled += changed;
            }

          switch (outcome)
            {
            case MHF_PLAN_PLANNED:
            case MHF_PLAN_TOO_LATE:
              stmt = stmts[outcome == MHF_PLAN_PLANNED ? STMT_PLAN : STMT_SKIP];
              bind_int64 (stmt, ":clinic", clinic_id);
              bind_int64 (stmt, ":rule", rule->id);
              bind_text (stmt, ":appointment", item->appointment_id);
              bind_text (stmt, ":attendee", item->attendee_id);
              bind_text (stmt, ":start", key_start);
              bind_text (stmt, ":patient", item->patient_id);
              bind_text (stmt, ":business", item->business_id);
              bind_int64 (stmt, ":planned", planned);
              if (latest != 0)
                bind_int64 (stmt, ":latest", latest);
              else
                bind_null (stmt, ":latest");
              bind_int64 (stmt, ":now", now);
              if ((changed = run (db, stmt, &created_at)) < 0)
                goto failed;
              if (changed > 0 && outcome == MHF_PLAN_TOO_LATE)
                counts->skipped++;
              else if (changed > 0 && created_at == now)
                counts->planned++;
              else if (changed > 0)
                counts->replanned++;
              break;

            case MHF_PLAN_FILTERED_OUT:
            case MHF_PLAN_BEFORE_ENABLED:
              stmt = stmts[STMT_CANCEL_KEY];
              bind_int64 (stmt, ":clinic", clinic_id);
              bind_int64 (stmt, ":rule", rule->id);
              bind_text (stmt, ":appointment", item->appointment_id);
              bind_text (stmt, ":attendee", item->attendee_id);
              bind_text (stmt, ":reason", MHF_REASON_RULE_CHANGED);
              bind_int64 (stmt, ":now", now);
              if ((changed = run (db, stmt, NULL)) < 0)
                goto failed;
              counts->cancelled += changed;
              break;

            case MHF_PLAN_CANCELLED:
            default:
              g_assert_not_reached ();
            }
        }
    }

  ok = TRUE;
  goto out;

failed:
  mhf_store_set_error (error, db, sqlite3_errcode (db), "Planning");
out:
  for (guint i = 0; i < N_STMTS; i++)
    sqlite3_finalize (stmts[i]);
  return ok;
}

/**
 * mhf_scan_read_clinic:
 * @base_url: (out): where the clinic's Cliniko is
 * @fingerprint: (out): its key's fingerprint
 * @account_zone: (out): the account's zone, UTC when unknown
 * @zones: business id → #GTimeZone, filled for businesses with a zone
 *
 * What planning needs to know of a clinic. A clinic without a key, or
 * whose key Cliniko refused, fails with NotAllowed.
 */
gboolean
mhf_scan_read_clinic (sqlite3     *db,
                      gint64       clinic_id,
                      char       **base_url,
                      char       **fingerprint,
                      GTimeZone  **account_zone,
                      GHashTable  *zones,
                      GError     **error)
{
  g_autoptr(sqlite3_stmt) clinic = NULL;
  g_autoptr(sqlite3_stmt) rows = NULL;
  const char *zone_id;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT base_url_override, cliniko_shard, key_fingerprint, time_zone,"
                           "       key_state"
                           "  FROM clinics WHERE id = ?1",
                           -1, &clinic, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (clinic, 1, clinic_id);
      rc = sqlite3_step (clinic);
    }
  if (rc != SQLITE_ROW || sqlite3_column_type (clinic, 2) == SQLITE_NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                           "This clinic is not connected to Cliniko");
      return FALSE;
    }
  if (g_strcmp0 ((const char *) sqlite3_column_text (clinic, 4), "rejected") == 0)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                           "Cliniko refused this clinic's API key: connect a new key");
      return FALSE;
    }

  if (sqlite3_column_type (clinic, 0) != SQLITE_NULL)
    *base_url = g_strdup ((const char *) sqlite3_column_text (clinic, 0));
  else
    *base_url = mhf_cliniko_base_url_for_shard ((const char *) sqlite3_column_text (clinic, 1)
                                                ?: "au1");
  *fingerprint = g_strdup ((const char *) sqlite3_column_text (clinic, 2));
  zone_id = (const char *) sqlite3_column_text (clinic, 3);
  *account_zone = zone_id != NULL && *zone_id != '\0' ? g_time_zone_new_identifier (zone_id)
                                                      : NULL;
  if (*account_zone == NULL)
    *account_zone = g_time_zone_new_utc ();

  rc = sqlite3_prepare_v2 (db,
                           "SELECT cliniko_id, json_extract(details, '$.time_zone_identifier')"
                           "  FROM reference_items WHERE clinic_id = ?1 AND kind = 'business'",
                           -1, &rows, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading businesses");
      return FALSE;
    }
  sqlite3_bind_int64 (rows, 1, clinic_id);
  while (sqlite3_step (rows) == SQLITE_ROW)
    {
      const char *business_zone = (const char *) sqlite3_column_text (rows, 1);
      GTimeZone *zone = business_zone != NULL && *business_zone != '\0'
                        ? g_time_zone_new_identifier (business_zone) : NULL;

      if (zone != NULL)
        g_hash_table_insert (zones, g_strdup ((const char *) sqlite3_column_text (rows, 0)), zone);
    }
  return TRUE;
}
