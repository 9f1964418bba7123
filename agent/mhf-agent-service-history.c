/* mhf-agent-service-history.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The redacted delivery history: ListHistory (keyset paging),
 * ExportHistory (CSV) and GetDailyCounts (a chart's numbers). Events hold a masked recipient and a keyed hash of
 * the address, never the address, a name or a body.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-error.h"
#include "mhf-reason.h"

#include <string.h>

typedef struct
{
  const char *state;
  gint64      rule;
  gint64      from;
  gint64      to;
  gint64      before;
  guint       limit;
} Filter;

static gboolean
parse_filter (GVariant  *dict,
              Filter    *filter,
              gboolean   paged,
              GError   **error)
{
  memset (filter, 0, sizeof *filter);
  filter->limit = paged ? 100 : G_MAXUINT32;
  g_variant_lookup (dict, "state", "&s", &filter->state);
  g_variant_lookup (dict, "rule", "x", &filter->rule);
  g_variant_lookup (dict, "from", "x", &filter->from);
  g_variant_lookup (dict, "to", "x", &filter->to);
  if (paged)
    {
      g_variant_lookup (dict, "before", "x", &filter->before);
      g_variant_lookup (dict, "limit", "u", &filter->limit);
      if (filter->limit < 1 || filter->limit > 500)
        {
          g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "limit: 1 to 500");
          return FALSE;
        }
    }
  if (filter->to != 0 && filter->from >= filter->to)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "from: must be before “to”");
      return FALSE;
    }
  return TRUE;
}

/* Only the conditions given, so that SQLite reads the first page from an
 * index in id order instead of sorting the clinic's whole history. */
static sqlite3_stmt *
query (sqlite3       *db,
       gint64         clinic_id,
       const Filter  *filter,
       GError       **error)
{
  g_autoptr(GString) sql = g_string_new ("SELECT id, at, coalesce(outbox_id, 0), coalesce(rule_id, 0),"
                                         "       coalesce(template_name, ''), state,"
                                         "       coalesce(reason, ''), coalesce(masked_recipient, ''),"
                                         "       coalesce(recipient_hash, ''), coalesce(smtp_code, 0)"
                                         "  FROM delivery_events WHERE clinic_id = ?1");
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (filter->state != NULL)
    g_string_append (sql, " AND state = ?2");
  if (filter->rule != 0)
    g_string_append (sql, " AND rule_id = ?3");
  if (filter->from != 0)
    g_string_append (sql, " AND at >= ?4");
  if (filter->to != 0)
    g_string_append (sql, " AND at < ?5");
  if (filter->before != 0)
    g_string_append (sql, " AND id < ?6");
  g_string_append (sql, " ORDER BY id DESC LIMIT ?7");

  rc = sqlite3_prepare_v2 (db, sql->str, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading the history");
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);
  if (filter->state != NULL)
    sqlite3_bind_text (stmt, 2, filter->state, -1, SQLITE_TRANSIENT);
  if (filter->rule != 0)
    sqlite3_bind_int64 (stmt, 3, filter->rule);
  if (filter->from != 0)
    sqlite3_bind_int64 (stmt, 4, filter->from);
  if (filter->to != 0)
    sqlite3_bind_int64 (stmt, 5, filter->to);
  if (filter->before != 0)
    sqlite3_bind_int64 (stmt, 6, filter->before);
  sqlite3_bind_int64 (stmt, 7, filter->limit);
  return stmt;
}

static gboolean
list_worker (MhfCall  *call,
             sqlite3  *db,
             GError  **error)
{
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder events;
  GError *local_error = NULL;
  gint64 clinic_id = 0, last = 0;
  Filter filter;
  guint n = 0;
  int rc;

  g_variant_get (call->params, "(x@a{sv})", &clinic_id, &dict);
  if (!parse_filter (dict, &filter, TRUE, &local_error))
    {
      call->reply_error = local_error;
      return TRUE;
    }
  stmt = query (db, clinic_id, &filter, error);
  if (stmt == NULL)
    return FALSE;

  g_variant_builder_init (&events, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_auto(GVariantDict) event = G_VARIANT_DICT_INIT (NULL);
      const char *reason = (const char *) sqlite3_column_text (stmt, 6);

      last = sqlite3_column_int64 (stmt, 0);
      g_variant_dict_insert (&event, "id", "x", last);
      g_variant_dict_insert (&event, "at", "x", sqlite3_column_int64 (stmt, 1));
      g_variant_dict_insert (&event, "message", "x", sqlite3_column_int64 (stmt, 2));
      g_variant_dict_insert (&event, "rule", "x", sqlite3_column_int64 (stmt, 3));
      g_variant_dict_insert (&event, "template", "s", sqlite3_column_text (stmt, 4));
      g_variant_dict_insert (&event, "state", "s", sqlite3_column_text (stmt, 5));
      g_variant_dict_insert (&event, "reason", "s", reason);
      g_variant_dict_insert (&event, "reason-text", "s", mhf_reason_describe (reason));
      g_variant_dict_insert (&event, "recipient", "s", sqlite3_column_text (stmt, 7));
      g_variant_dict_insert (&event, "smtp-code", "u", (guint32) sqlite3_column_int (stmt, 9));
      g_variant_builder_add_value (&events, g_variant_dict_end (&event));
      n++;
    }
  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&events);
      mhf_store_set_error (error, db, rc, "Reading the history");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv}x)", &events,
                                                   n == filter.limit ? last : (gint64) 0));
  return TRUE;
}

static void
csv_field (GString    *out,
           const char *value,
           gboolean    last)
{
  /* RFC 4180: quote every field, double the quotes inside. A leading
   * formula character is defused for spreadsheets. */
  g_string_append_c (out, '"');
  if (value != NULL && strchr ("=+-@", value[0]) != NULL && value[0] != '\0')
    g_string_append_c (out, '\'');
  for (const char *p = value; p != NULL && *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append (out, last ? "\"\r\n" : "\",");
}

static gboolean
export_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GString) csv = g_string_new (NULL);
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  GError *local_error = NULL;
  gint64 clinic_id = 0;
  Filter filter;
  guint n = 0;
  int rc;

  g_variant_get (call->params, "(x@a{sv})", &clinic_id, &dict);
  if (!parse_filter (dict, &filter, FALSE, &local_error))
    {
      call->reply_error = local_error;
      return TRUE;
    }
  stmt = query (db, clinic_id, &filter, error);
  if (stmt == NULL)
    return FALSE;

  g_string_append (csv, "time,message,rule,template,state,reason,recipient,recipient_hash,"
                        "smtp_code\r\n");
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (sqlite3_column_int64 (stmt, 1) /
                                                                G_USEC_PER_SEC);
      g_autofree char *when = g_date_time_format_iso8601 (at);
      g_autofree char *message = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                  (gint64) sqlite3_column_int64 (stmt, 2));
      g_autofree char *rule = g_strdup_printf ("%" G_GINT64_FORMAT,
                                               (gint64) sqlite3_column_int64 (stmt, 3));
      g_autofree char *code = g_strdup_printf ("%d", sqlite3_column_int (stmt, 9));

      csv_field (csv, when, FALSE);
      csv_field (csv, message, FALSE);
      csv_field (csv, rule, FALSE);
      csv_field (csv, (const char *) sqlite3_column_text (stmt, 4), FALSE);
      csv_field (csv, (const char *) sqlite3_column_text (stmt, 5), FALSE);
      csv_field (csv, (const char *) sqlite3_column_text (stmt, 6), FALSE);
      csv_field (csv, (const char *) sqlite3_column_text (stmt, 7), FALSE);
      csv_field (csv, (const char *) sqlite3_column_text (stmt, 8), FALSE);
      csv_field (csv, code, TRUE);
      n++;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading the history");
      return FALSE;
    }

  target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, clinic_id);
  summary = g_strdup_printf ("history exported as CSV: %u events", n);
  if (!mhf_call_audit (call, db, clinic_id, "history.export", target, summary, error))
    return FALSE;

  call->reply = g_variant_ref_sink (g_variant_new ("(s)", csv->str));
  return TRUE;
}

/* ---- GetDailyCounts ------------------------------------------------------------------------ */

#define DAILY_MAX_DAYS 90

static GTimeZone *
clinic_zone (sqlite3     *db,
             gint64       clinic_id,
             GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GTimeZone *zone = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT coalesce(time_zone, '') FROM clinics WHERE id = ?1",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      rc = sqlite3_step (stmt);
    }
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
      return NULL;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading a clinic");
      return NULL;
    }

  /* The account's zone, as planning uses it; UTC until Cliniko told us. */
  if (*sqlite3_column_text (stmt, 0) != '\0')
    zone = g_time_zone_new_identifier ((const char *) sqlite3_column_text (stmt, 0));
  return zone != NULL ? zone : g_time_zone_new_utc ();
}

/* Midnight at the start of @date in @zone, in microseconds UTC. On a day
 * whose midnight does not exist (a DST jump at 00:00) GLib moves it to the
 * first time that does. */
static gint64
day_start (GTimeZone   *zone,
           const GDate *date)
{
  g_autoptr(GDateTime) start = g_date_time_new (zone, g_date_get_year (date),
                                                g_date_get_month (date), g_date_get_day (date),
                                                0, 0, 0);

  return g_date_time_to_unix (start) * G_USEC_PER_SEC;
}

static gboolean
daily_worker (MhfCall  *call,
              sqlite3  *db,
              GError  **error)
{
  g_autoptr(GTimeZone) zone = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder days_builder;
  GDate date;
  gint64 clinic_id = 0;
  guint days = 0;
  int rc;

  g_variant_get (call->params, "(xu)", &clinic_id, &days);
  zone = clinic_zone (db, clinic_id, error);
  if (zone == NULL)
    return FALSE;

  /* One aggregate a day over the (clinic, time, state) index: nothing but
   * the index is read, and no sorting. */
  rc = sqlite3_prepare_v2 (db,
                           "SELECT coalesce(sum(state = 'sent'), 0),"
                           "       coalesce(sum(state = 'skipped'), 0),"
                           "       coalesce(sum(state = 'failed'), 0),"
                           "       coalesce(sum(state = 'cancelled'), 0)"
                           "  FROM delivery_events"
                           " WHERE clinic_id = ?1 AND at >= ?2 AND at < ?3",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Counting the history");
      return FALSE;
    }

  now = g_date_time_new_from_unix_utc (call->now / G_USEC_PER_SEC);
  {
    g_autoptr(GDateTime) local = g_date_time_to_timezone (now, zone);

    g_date_clear (&date, 1);
    g_date_set_dmy (&date, g_date_time_get_day_of_month (local), g_date_time_get_month (local),
                    g_date_time_get_year (local));
  }
  g_date_subtract_days (&date, days - 1);

  g_variant_builder_init (&days_builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < days; i++)
    {
      g_auto(GVariantDict) day = G_VARIANT_DICT_INIT (NULL);
      GDate next = date;
      char text[16];

      g_date_add_days (&next, 1);
      sqlite3_reset (stmt);
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, day_start (zone, &date));
      sqlite3_bind_int64 (stmt, 3, day_start (zone, &next));
      rc = sqlite3_step (stmt);
      if (rc != SQLITE_ROW)
        {
          g_variant_builder_clear (&days_builder);
          mhf_store_set_error (error, db, rc, "Counting the history");
          return FALSE;
        }

      g_snprintf (text, sizeof text, "%04u-%02u-%02u", (guint) g_date_get_year (&date),
                  (guint) g_date_get_month (&date), (guint) g_date_get_day (&date));
      g_variant_dict_insert (&day, "day", "s", text);
      g_variant_dict_insert (&day, "sent", "u", (guint32) sqlite3_column_int64 (stmt, 0));
      g_variant_dict_insert (&day, "skipped", "u", (guint32) sqlite3_column_int64 (stmt, 1));
      g_variant_dict_insert (&day, "failed", "u", (guint32) sqlite3_column_int64 (stmt, 2));
      g_variant_dict_insert (&day, "cancelled", "u", (guint32) sqlite3_column_int64 (stmt, 3));
      g_variant_builder_add_value (&days_builder, g_variant_dict_end (&day));
      date = next;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv})", &days_builder));
  return TRUE;
}

static gboolean
handle_get_daily_counts (MhfIpcAgent1          *object,
                         GDBusMethodInvocation *invocation,
                         gint64                 clinic,
                         guint                  days)
{
  if (days < 1 || days > DAILY_MAX_DAYS)
    {
      g_dbus_method_invocation_return_error (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                             "days: 1 to %d", DAILY_MAX_DAYS);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, daily_worker, NULL, NULL,
                          NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_history (MhfIpcAgent1          *object,
                     GDBusMethodInvocation *invocation,
                     gint64                 clinic,
                     GVariant              *filter)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_export_history (MhfIpcAgent1          *object,
                       GDBusMethodInvocation *invocation,
                       gint64                 clinic,
                       GVariant              *filter)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, export_worker, NULL, NULL,
                          NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_history_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_list_history = handle_list_history;
  iface->handle_export_history = handle_export_history;
  iface->handle_get_daily_counts = handle_get_daily_counts;
}
