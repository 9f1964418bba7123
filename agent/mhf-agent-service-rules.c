/* mhf-agent-service-rules.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Rules: when, for which appointments and with which template a message
 * is planned. Stored as checked texts and JSON; the planner reads them.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-error.h"
#include "mhf-rule.h"

#include <json-glib/json-glib.h>
#include <string.h>

typedef struct
{
  MhfRuleSpec spec;
  gboolean    valid;
} RuleData;

static void
rule_data_free (RuleData *data)
{
  mhf_rule_spec_clear (&data->spec);
  g_free (data);
}

typedef struct
{
  char    *name;
  char    *kind;
  char    *category;
  gint64   template_id;
  char    *timing;      /* JSON */
  char    *filters;     /* JSON */
  char    *window;      /* JSON */
  gint64   latest;
  gboolean enabled;
  gint64   enabled_at;
} RuleRow;

static void
rule_row_clear (RuleRow *row)
{
  g_free (row->name);
  g_free (row->kind);
  g_free (row->category);
  g_free (row->timing);
  g_free (row->filters);
  g_free (row->window);
  memset (row, 0, sizeof *row);
}

static char *
timing_json (const MhfRuleSpec *spec)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, spec->timing_text);
  json_builder_set_member_name (builder, "last-minute");
  json_builder_add_boolean_value (builder, spec->last_minute);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

static char *
window_json (const MhfRuleSpec *spec)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, spec->window_text);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* Reads a member of a stored JSON object; stored JSON was written by us. */
static JsonObject *
parse_object (JsonParser *parser,
              const char *json)
{
  if (!json_parser_load_from_data (parser, json, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return NULL;
  return json_node_get_object (json_parser_get_root (parser));
}

static gboolean
read_rule (sqlite3     *db,
           gint64       clinic_id,
           gint64       rule_id,
           RuleRow     *row,
           GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT name, kind, category, template_id, timing, filters, send_window,"
                           "       coalesce(latest_useful, 0), enabled, coalesce(enabled_at, 0)"
                           "  FROM rules WHERE clinic_id = ?1 AND id = ?2",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, rule_id);
      rc = sqlite3_step (stmt);
    }
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "This clinic has no rule %" G_GINT64_FORMAT, rule_id);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading rules");
      return FALSE;
    }

  row->name = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  row->kind = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  row->category = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  row->template_id = sqlite3_column_int64 (stmt, 3);
  row->timing = g_strdup ((const char *) sqlite3_column_text (stmt, 4));
  row->filters = g_strdup ((const char *) sqlite3_column_text (stmt, 5));
  row->window = g_strdup ((const char *) sqlite3_column_text (stmt, 6));
  row->latest = sqlite3_column_int64 (stmt, 7);
  row->enabled = sqlite3_column_int64 (stmt, 8) != 0;
  row->enabled_at = sqlite3_column_int64 (stmt, 9);
  return TRUE;
}

static gboolean
forget_horizon (sqlite3  *db,
                gint64    clinic_id,
                GError  **error)
{
  return mhf_store_exec_bound (db, "DELETE FROM scan_cursors WHERE clinic_id = ?1"
                                   " AND resource = 'horizon'", error, "x", clinic_id);
}

/* After a change to what is planned: scan now, in the background. */
static void
rescan_done (MhfCall *call)
{
  gint64 clinic_id = 0;

  g_variant_get_child (call->params, 0, "x", &clinic_id);
  mhf_agent_service_scan_clinic (call->self, clinic_id, NULL, NULL);
  mhf_agent_service_arm_send_timer (call->self);
}

static gboolean
check_template_and_name (sqlite3            *db,
                         gint64              clinic_id,
                         const MhfRuleSpec  *spec,
                         gint64              except_id,
                         GError            **error)
{
  g_autoptr(sqlite3_stmt) tmpl = NULL;
  g_autoptr(sqlite3_stmt) name = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT 1 FROM templates WHERE clinic_id = ?1 AND id = ?2",
                           -1, &tmpl, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (tmpl, 1, clinic_id);
      sqlite3_bind_int64 (tmpl, 2, spec->template_id);
      rc = sqlite3_step (tmpl);
    }
  if (rc == SQLITE_DONE)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "template: not one of this clinic's templates");
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading templates");
      return FALSE;
    }

  rc = sqlite3_prepare_v2 (db, "SELECT 1 FROM rules WHERE clinic_id = ?1 AND name = ?2 AND id != ?3",
                           -1, &name, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (name, 1, clinic_id);
      sqlite3_bind_text (name, 2, spec->name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (name, 3, except_id);
      rc = sqlite3_step (name);
    }
  if (rc == SQLITE_ROW)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "name: this clinic has a rule called “%s” already", spec->name);
      return FALSE;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading rules");
      return FALSE;
    }
  return TRUE;
}

static char *
describe (const MhfRuleSpec *spec)
{
  return g_strdup_printf ("%s, %s, template %" G_GINT64_FORMAT ", %s%s%s",
                          spec->kind, spec->timing_text, spec->template_id, spec->category,
                          *spec->window_text != '\0' ? ", window " : "", spec->window_text);
}

/* ---- AddRule / UpdateRule -------------------------------------------------------------------- */

static gboolean
bind_spec_and_step (sqlite3_stmt      *stmt,
                    const MhfRuleSpec *spec,
                    gint64             now)
{
  g_autofree char *timing = timing_json (spec);
  g_autofree char *filters = mhf_rule_spec_filters_json (spec);
  g_autofree char *window = window_json (spec);

  sqlite3_bind_text (stmt, 1, spec->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, spec->kind, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 3, spec->category, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 4, timing, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 5, filters, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 6, window, -1, SQLITE_TRANSIENT);
  if (spec->latest_useful_minutes > 0)
    sqlite3_bind_int64 (stmt, 7, spec->latest_useful_minutes);
  else
    sqlite3_bind_null (stmt, 7);
  sqlite3_bind_int64 (stmt, 8, spec->template_id);
  sqlite3_bind_int64 (stmt, 9, now);
  return sqlite3_step (stmt) == SQLITE_DONE;
}

static gboolean
add_worker (MhfCall  *call,
            sqlite3  *db,
            GError  **error)
{
  RuleData *data = call->data;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *target = NULL;
  g_autofree char *what = NULL;
  gint64 clinic_id = 0, id;
  int rc;

  g_variant_get (call->params, "(x@a{sv})", &clinic_id, NULL);

  if (!check_template_and_name (db, clinic_id, &data->spec, 0, error))
    return FALSE;

  rc = sqlite3_prepare_v2 (db,
                           "INSERT INTO rules (name, kind, category, timing, filters, send_window,"
                           "                   latest_useful, template_id, created_at, updated_at,"
                           "                   clinic_id, enabled)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, 0)",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Saving a rule");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 10, clinic_id);
  if (!bind_spec_and_step (stmt, &data->spec, call->now))
    {
      mhf_store_set_error (error, db, sqlite3_errcode (db), "Saving a rule");
      return FALSE;
    }

  id = sqlite3_last_insert_rowid (db);
  call->reply = g_variant_ref_sink (g_variant_new ("(x)", id));

  target = g_strdup_printf ("rule %" G_GINT64_FORMAT, id);
  what = describe (&data->spec);
  summary = g_strdup_printf ("rule “%s” added, disabled: %s", data->spec.name, what);
  return mhf_call_audit (call, db, clinic_id, "rule.add", target, summary, error);
}

static void
append_change (GString    *summary,
               const char *field,
               const char *old_value,
               const char *new_value)
{
  if (g_strcmp0 (old_value, new_value) != 0)
    g_string_append_printf (summary, "; %s: %s → %s", field, old_value, new_value);
}

static gboolean
update_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  RuleData *data = call->data;
  MhfRuleSpec *spec = &data->spec;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GString) summary = g_string_new ("rule changed");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *target = NULL;
  g_autofree char *new_filters = NULL;
  g_autofree char *old_template = NULL;
  g_autofree char *new_template = NULL;
  g_autofree char *old_latest = NULL;
  g_autofree char *new_latest = NULL;
  RuleRow old = { 0 };
  JsonObject *object;
  gint64 clinic_id = 0, rule_id = 0;
  gboolean ok = FALSE;
  int rc;

  g_variant_get (call->params, "(xx@a{sv})", &clinic_id, &rule_id, NULL);

  if (!read_rule (db, clinic_id, rule_id, &old, error) ||
      !check_template_and_name (db, clinic_id, spec, rule_id, error))
    goto out;

  rc = sqlite3_prepare_v2 (db,
                           "UPDATE rules SET name = ?1, kind = ?2, category = ?3, timing = ?4,"
                           "       filters = ?5, send_window = ?6, latest_useful = ?7,"
                           "       template_id = ?8, updated_at = ?9"
                           " WHERE clinic_id = ?10 AND id = ?11",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Saving a rule");
      goto out;
    }
  sqlite3_bind_int64 (stmt, 10, clinic_id);
  sqlite3_bind_int64 (stmt, 11, rule_id);
  if (!bind_spec_and_step (stmt, spec, call->now))
    {
      mhf_store_set_error (error, db, sqlite3_errcode (db), "Saving a rule");
      goto out;
    }

  /* Old → new, field by field, in words a manager recognises. */
  append_change (summary, "name", old.name, spec->name);
  append_change (summary, "kind", old.kind, spec->kind);
  append_change (summary, "category", old.category, spec->category);
  object = parse_object (parser, old.timing);
  append_change (summary, "timing",
                 object ? json_object_get_string_member_with_default (object, "text", "") : "",
                 spec->timing_text);
  object = parse_object (parser, old.window);
  append_change (summary, "window",
                 object ? json_object_get_string_member_with_default (object, "text", "") : "",
                 spec->window_text);
  old_template = g_strdup_printf ("%" G_GINT64_FORMAT, old.template_id);
  new_template = g_strdup_printf ("%" G_GINT64_FORMAT, spec->template_id);
  append_change (summary, "template", old_template, new_template);
  old_latest = g_strdup_printf ("%" G_GINT64_FORMAT " min", old.latest);
  new_latest = g_strdup_printf ("%" G_GINT64_FORMAT " min", spec->latest_useful_minutes);
  append_change (summary, "latest useful", old_latest, new_latest);
  new_filters = mhf_rule_spec_filters_json (spec);
  append_change (summary, "filters", old.filters, new_filters);

  /* Pending rows are planned again from the whole horizon. */
  if (old.enabled && !forget_horizon (db, clinic_id, error))
    goto out;

  target = g_strdup_printf ("rule %" G_GINT64_FORMAT, rule_id);
  ok = mhf_call_audit (call, db, clinic_id, "rule.update", target, summary->str, error);

out:
  rule_row_clear (&old);
  return ok;
}

static gboolean
handle_add_rule (MhfIpcAgent1          *object,
                 GDBusMethodInvocation *invocation,
                 gint64                 clinic,
                 GVariant              *rule)
{
  g_autoptr(GError) error = NULL;
  RuleData *data = g_new0 (RuleData, 1);

  if (!mhf_rule_spec_parse (rule, &data->spec, &error))
    {
      rule_data_free (data);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, add_worker, NULL,
                          data, (GDestroyNotify) rule_data_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_update_rule (MhfIpcAgent1          *object,
                    GDBusMethodInvocation *invocation,
                    gint64                 clinic,
                    gint64                 rule_id,
                    GVariant              *rule)
{
  g_autoptr(GError) error = NULL;
  RuleData *data = g_new0 (RuleData, 1);

  if (!mhf_rule_spec_parse (rule, &data->spec, &error))
    {
      rule_data_free (data);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, update_worker, rescan_done,
                          data, (GDestroyNotify) rule_data_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- DeleteRule / SetRuleEnabled ---------------------------------------------------------------- */

static gboolean
delete_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  g_autoptr(sqlite3_stmt) used = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  RuleRow old = { 0 };
  gint64 clinic_id = 0, rule_id = 0;
  gboolean ok = FALSE;
  int rc;

  g_variant_get (call->params, "(xx)", &clinic_id, &rule_id);

  if (!read_rule (db, clinic_id, rule_id, &old, error))
    goto out;

  rc = sqlite3_prepare_v2 (db, "SELECT 1 FROM outbox WHERE rule_id = ?1 LIMIT 1", -1, &used, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (used, 1, rule_id);
      rc = sqlite3_step (used);
    }
  if (rc == SQLITE_ROW)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                           "This rule has planned or sent messages; disable it instead, so "
                           "that its history stays");
      goto out;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading the outbox");
      goto out;
    }

  rc = sqlite3_prepare_v2 (db, "DELETE FROM rules WHERE clinic_id = ?1 AND id = ?2", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, rule_id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Deleting a rule");
      goto out;
    }

  target = g_strdup_printf ("rule %" G_GINT64_FORMAT, rule_id);
  summary = g_strdup_printf ("rule “%s” deleted", old.name);
  ok = mhf_call_audit (call, db, clinic_id, "rule.delete", target, summary, error);

out:
  rule_row_clear (&old);
  return ok;
}

static gboolean
handle_delete_rule (MhfIpcAgent1          *object,
                    GDBusMethodInvocation *invocation,
                    gint64                 clinic,
                    gint64                 rule_id)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, delete_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
enable_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  RuleRow old = { 0 };
  gint64 clinic_id = 0, rule_id = 0;
  gboolean enabled = FALSE, ok = FALSE;
  int rc;

  g_variant_get (call->params, "(xxb)", &clinic_id, &rule_id, &enabled);

  if (!read_rule (db, clinic_id, rule_id, &old, error))
    goto out;

  if (old.enabled == enabled)
    {
      ok = TRUE;   /* nothing changes, nothing to audit */
      goto out;
    }

  /* Enabling records the moment; the planner plans nothing before it. */
  rc = sqlite3_prepare_v2 (db,
                           "UPDATE rules SET enabled = ?1,"
                           "       enabled_at = CASE WHEN ?1 THEN ?2 ELSE enabled_at END,"
                           "       updated_at = ?2"
                           " WHERE clinic_id = ?3 AND id = ?4",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, enabled);
      sqlite3_bind_int64 (stmt, 2, call->now);
      sqlite3_bind_int64 (stmt, 3, clinic_id);
      sqlite3_bind_int64 (stmt, 4, rule_id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Saving a rule");
      goto out;
    }

  /* Enabling plans from the whole horizon; disabling cancels what the
   * rule planned and has not sent ("rule-disabled"; enabling it again
   * brings those rows back if they are still in the future). */
  if (enabled && !forget_horizon (db, clinic_id, error))
    goto out;
  if (!enabled &&
      !mhf_store_exec_bound (db,
                             "UPDATE outbox SET state = 'cancelled', reason = 'rule-disabled',"
                             "       updated_at = ?1"
                             " WHERE rule_id = ?2 AND state IN ('planned', 'retry_wait')",
                             error, "xx", call->now, rule_id))
    goto out;

  target = g_strdup_printf ("rule %" G_GINT64_FORMAT, rule_id);
  summary = g_strdup_printf ("rule “%s”: %s → %s", old.name,
                             old.enabled ? "enabled" : "disabled",
                             enabled ? "enabled" : "disabled");
  ok = mhf_call_audit (call, db, clinic_id, enabled ? "rule.enable" : "rule.disable", target,
                       summary, error);

out:
  rule_row_clear (&old);
  return ok;
}

static gboolean
handle_set_rule_enabled (MhfIpcAgent1          *object,
                         GDBusMethodInvocation *invocation,
                         gint64                 clinic,
                         gint64                 rule_id,
                         gboolean               enabled)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, enable_worker, rescan_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ListRules ------------------------------------------------------------------------------------ */

static GVariant *
ids_variant (JsonObject *filters,
             const char *member)
{
  GVariantBuilder builder;
  JsonArray *array = NULL;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_STRING_ARRAY);
  if (filters != NULL && json_object_has_member (filters, member) &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (filters, member)))
    array = json_object_get_array_member (filters, member);
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        g_variant_builder_add (&builder, "s", json_node_get_string (node));
    }
  return g_variant_builder_end (&builder);
}

static gboolean
list_worker (MhfCall  *call,
             sqlite3  *db,
             GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder rules;
  gint64 clinic_id = 0;
  int rc;

  g_variant_get (call->params, "(x)", &clinic_id);

  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, name, kind, category, template_id, timing, filters,"
                           "       send_window, coalesce(latest_useful, 0), enabled,"
                           "       coalesce(enabled_at, 0)"
                           "  FROM rules WHERE clinic_id = ?1 ORDER BY name, id",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading rules");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);

  g_variant_builder_init (&rules, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(JsonParser) timing_parser = json_parser_new ();
      g_autoptr(JsonParser) window_parser = json_parser_new ();
      g_autoptr(JsonParser) filters_parser = json_parser_new ();
      JsonObject *timing = parse_object (timing_parser, (const char *) sqlite3_column_text (stmt, 5));
      JsonObject *filters = parse_object (filters_parser, (const char *) sqlite3_column_text (stmt, 6));
      JsonObject *window = parse_object (window_parser, (const char *) sqlite3_column_text (stmt, 7));
      const char *kind = (const char *) sqlite3_column_text (stmt, 2);
      GVariantDict dict;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "id", "x", sqlite3_column_int64 (stmt, 0));
      g_variant_dict_insert (&dict, "name", "s", sqlite3_column_text (stmt, 1));
      g_variant_dict_insert (&dict, "kind", "s", kind);
      g_variant_dict_insert (&dict, "category", "s", sqlite3_column_text (stmt, 3));
      g_variant_dict_insert (&dict, "template", "x", sqlite3_column_int64 (stmt, 4));
      g_variant_dict_insert (&dict, "timing", "s",
                             timing ? json_object_get_string_member_with_default (timing, "text", "") : "");
      g_variant_dict_insert (&dict, "last-minute", "b",
                             timing ? json_object_get_boolean_member_with_default (timing, "last-minute", FALSE)
                                    : FALSE);
      g_variant_dict_insert (&dict, "window", "s",
                             window ? json_object_get_string_member_with_default (window, "text", "") : "");
      g_variant_dict_insert (&dict, "latest-useful-minutes", "x", sqlite3_column_int64 (stmt, 8));
      g_variant_dict_insert_value (&dict, "businesses", ids_variant (filters, "businesses"));
      g_variant_dict_insert_value (&dict, "practitioners", ids_variant (filters, "practitioners"));
      g_variant_dict_insert_value (&dict, "appointment-types",
                                   ids_variant (filters, "appointment-types"));
      g_variant_dict_insert (&dict, "enabled", "b", sqlite3_column_int64 (stmt, 9) != 0);
      g_variant_dict_insert (&dict, "enabled-at", "x", sqlite3_column_int64 (stmt, 10));
      g_variant_dict_insert (&dict, "gated-by", "s", mhf_rule_gated_by (kind));
      g_variant_builder_add_value (&rules, g_variant_dict_end (&dict));
    }
  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&rules);
      mhf_store_set_error (error, db, rc, "Reading rules");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv})", &rules));
  return TRUE;
}

static gboolean
handle_list_rules (MhfIpcAgent1          *object,
                   GDBusMethodInvocation *invocation,
                   gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_rules_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_list_rules = handle_list_rules;
  iface->handle_add_rule = handle_add_rule;
  iface->handle_update_rule = handle_update_rule;
  iface->handle_delete_rule = handle_delete_rule;
  iface->handle_set_rule_enabled = handle_set_rule_enabled;
}
