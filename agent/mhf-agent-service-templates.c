/* mhf-agent-service-templates.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Message templates: per clinic, validated when saved, previewed with
 * sample data only.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-error.h"
#include "mhf-template.h"

#include <string.h>

/* Checks every field of a template; @error names the field, line and
 * column of the first problem. */
static gboolean
check_template (const char  *subject,
                const char  *body_text,
                const char  *body_html,
                GError     **error)
{
  g_autoptr(MhfTemplate) parsed = NULL;
  const struct { const char *field; const char *text; gboolean optional; } fields[] = {
    { "subject", subject, FALSE },
    { "body_text", body_text, FALSE },
    { "body_html", body_html, TRUE },
  };

  if (strchr (subject, '\n') != NULL || strchr (subject, '\r') != NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "subject: one line only, without line breaks");
      return FALSE;
    }

  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      if (*fields[i].text == '\0')
        {
          if (fields[i].optional)
            continue;
          g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "%s: must not be empty",
                       fields[i].field);
          return FALSE;
        }

      g_clear_pointer (&parsed, mhf_template_free);
      parsed = mhf_template_parse (fields[i].text, error);
      if (parsed == NULL)
        {
          g_prefix_error (error, "%s: ", fields[i].field);
          return FALSE;
        }

      /* Headers travel and are logged by every server on the way: the
       * patient's name goes in the body only. */
      if (i == 0 && mhf_template_uses (parsed, "patient.first_name"))
        {
          g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                               "subject: the patient's name may only appear in the body");
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
find_template (sqlite3     *db,
               gint64       clinic_id,
               gint64       template_id,
               char       **name,
               char       **subject,
               GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT name, subject FROM templates WHERE clinic_id = ?1 AND id = ?2",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, template_id);
      rc = sqlite3_step (stmt);
    }
  if (rc == SQLITE_DONE)
    {
      /* Another clinic's template is as absent as one that never was. */
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                   "This clinic has no template %" G_GINT64_FORMAT, template_id);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading templates");
      return FALSE;
    }

  *name = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  *subject = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  return TRUE;
}

static gboolean
name_taken (sqlite3     *db,
            gint64       clinic_id,
            const char  *name,
            gint64       except_id,
            GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT 1 FROM templates WHERE clinic_id = ?1 AND name = ?2 AND id != ?3",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_text (stmt, 2, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 3, except_id);
      rc = sqlite3_step (stmt);
    }
  if (rc == SQLITE_ROW)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "name: this clinic has a template called “%s” already", name);
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading templates");
      return TRUE;
    }
  return FALSE;
}

static char *
target_of (gint64 template_id)
{
  return g_strdup_printf ("template %" G_GINT64_FORMAT, template_id);
}

/* ---- ListTemplates ------------------------------------------------------------------------ */

static gboolean
list_worker (MhfCall  *call,
             sqlite3  *db,
             GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder templates;
  gint64 clinic_id = 0;
  int rc;

  g_variant_get (call->params, "(x)", &clinic_id);

  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, name, subject, body_text, coalesce(body_html, ''), updated_at"
                           "  FROM templates WHERE clinic_id = ?1 ORDER BY name, id",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading templates");
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, clinic_id);

  g_variant_builder_init (&templates, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      GVariantDict dict;

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "id", "x", sqlite3_column_int64 (stmt, 0));
      g_variant_dict_insert (&dict, "name", "s", sqlite3_column_text (stmt, 1));
      g_variant_dict_insert (&dict, "subject", "s", sqlite3_column_text (stmt, 2));
      g_variant_dict_insert (&dict, "body-text", "s", sqlite3_column_text (stmt, 3));
      g_variant_dict_insert (&dict, "body-html", "s", sqlite3_column_text (stmt, 4));
      g_variant_dict_insert (&dict, "updated-at", "x", sqlite3_column_int64 (stmt, 5));
      g_variant_builder_add_value (&templates, g_variant_dict_end (&dict));
    }
  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&templates);
      mhf_store_set_error (error, db, rc, "Reading templates");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv})", &templates));
  return TRUE;
}

static gboolean
handle_list_templates (MhfIpcAgent1          *object,
                       GDBusMethodInvocation *invocation,
                       gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- AddTemplate / UpdateTemplate ------------------------------------------------------------------- */

static gboolean
add_worker (MhfCall  *call,
            sqlite3  *db,
            GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *target = NULL;
  const char *name, *subject, *body_text, *body_html;
  gint64 clinic_id = 0, id;
  int rc;

  g_variant_get (call->params, "(x&s&s&s&s)", &clinic_id, &name, &subject, &body_text, &body_html);

  if (name_taken (db, clinic_id, name, 0, error))
    return FALSE;

  rc = sqlite3_prepare_v2 (db,
                           "INSERT INTO templates (clinic_id, name, subject, body_text, body_html,"
                           "                       created_at, updated_at)"
                           " VALUES (?1, ?2, ?3, ?4, nullif(?5, ''), ?6, ?6)",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_text (stmt, 2, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 3, subject, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 4, body_text, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 5, body_html, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 6, call->now);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Saving a template");
      return FALSE;
    }

  id = sqlite3_last_insert_rowid (db);
  call->reply = g_variant_ref_sink (g_variant_new ("(x)", id));

  target = target_of (id);
  summary = g_strdup_printf ("template added: name “%s”, subject “%s”%s", name, subject,
                             *body_html != '\0' ? ", with an HTML body" : "");
  return mhf_call_audit (call, db, clinic_id, "template.add", target, summary, error);
}

static gboolean
update_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GString) summary = g_string_new ("template changed");
  g_autofree char *old_name = NULL;
  g_autofree char *old_subject = NULL;
  g_autofree char *target = NULL;
  const char *name, *subject, *body_text, *body_html;
  gint64 clinic_id = 0, id = 0;
  int rc;

  g_variant_get (call->params, "(xx&s&s&s&s)", &clinic_id, &id, &name, &subject, &body_text,
                 &body_html);

  if (!find_template (db, clinic_id, id, &old_name, &old_subject, error))
    return FALSE;
  if (name_taken (db, clinic_id, name, id, error))
    return FALSE;

  rc = sqlite3_prepare_v2 (db,
                           "UPDATE templates SET name = ?1, subject = ?2, body_text = ?3,"
                           "       body_html = nullif(?4, ''), updated_at = ?5"
                           " WHERE clinic_id = ?6 AND id = ?7",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 2, subject, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 3, body_text, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 4, body_html, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 5, call->now);
      sqlite3_bind_int64 (stmt, 6, clinic_id);
      sqlite3_bind_int64 (stmt, 7, id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Saving a template");
      return FALSE;
    }

  if (g_strcmp0 (old_name, name) != 0)
    g_string_append_printf (summary, "; name: “%s” → “%s”", old_name, name);
  if (g_strcmp0 (old_subject, subject) != 0)
    g_string_append_printf (summary, "; subject: “%s” → “%s”", old_subject, subject);
  g_string_append (summary, "; bodies saved");

  target = target_of (id);
  return mhf_call_audit (call, db, clinic_id, "template.update", target, summary->str, error);
}

static gboolean
reject_invalid (GDBusMethodInvocation *invocation,
                const char            *name,
                const char            *subject,
                const char            *body_text,
                const char            *body_html)
{
  g_autoptr(GError) error = NULL;

  if ((name != NULL && !mhf_agent_service_check_name ("name", name, 128, &error)) ||
      !check_template (subject, body_text, body_html, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  return FALSE;
}

static gboolean
handle_add_template (MhfIpcAgent1          *object,
                     GDBusMethodInvocation *invocation,
                     gint64                 clinic,
                     const char            *name,
                     const char            *subject,
                     const char            *body_text,
                     const char            *body_html)
{
  if (!reject_invalid (invocation, name, subject, body_text, body_html))
    mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, add_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_update_template (MhfIpcAgent1          *object,
                        GDBusMethodInvocation *invocation,
                        gint64                 clinic,
                        gint64                 template_id,
                        const char            *name,
                        const char            *subject,
                        const char            *body_text,
                        const char            *body_html)
{
  if (!reject_invalid (invocation, name, subject, body_text, body_html))
    mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, update_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- DeleteTemplate ------------------------------------------------------------------------------ */

static gboolean
delete_worker (MhfCall  *call,
               sqlite3  *db,
               GError  **error)
{
  g_autoptr(sqlite3_stmt) used = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree char *name = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *target = NULL;
  gint64 clinic_id = 0, id = 0;
  int rc;

  g_variant_get (call->params, "(xx)", &clinic_id, &id);

  if (!find_template (db, clinic_id, id, &name, &subject, error))
    return FALSE;

  rc = sqlite3_prepare_v2 (db, "SELECT name FROM rules WHERE template_id = ?1 ORDER BY name LIMIT 1",
                           -1, &used, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (used, 1, id);
      rc = sqlite3_step (used);
    }
  if (rc == SQLITE_ROW)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                   "The rule “%s” uses this template; change or delete that rule first",
                   sqlite3_column_text (used, 0));
      return FALSE;
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading rules");
      return FALSE;
    }

  rc = sqlite3_prepare_v2 (db, "DELETE FROM templates WHERE clinic_id = ?1 AND id = ?2",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      sqlite3_bind_int64 (stmt, 2, id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Deleting a template");
      return FALSE;
    }

  target = target_of (id);
  summary = g_strdup_printf ("template “%s” deleted", name);
  return mhf_call_audit (call, db, clinic_id, "template.delete", target, summary, error);
}

static gboolean
handle_delete_template (MhfIpcAgent1          *object,
                        GDBusMethodInvocation *invocation,
                        gint64                 clinic,
                        gint64                 template_id)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, delete_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- PreviewTemplate ------------------------------------------------------------------------------ */

static gboolean
handle_preview_template (MhfIpcAgent1          *object,
                         GDBusMethodInvocation *invocation,
                         gint64                 clinic,
                         const char            *subject,
                         const char            *body_text,
                         const char            *body_html)
{
  g_autoptr(GHashTable) samples = mhf_template_sample_values ();
  g_autoptr(MhfTemplate) s = NULL;
  g_autoptr(MhfTemplate) t = NULL;
  g_autoptr(MhfTemplate) h = NULL;
  g_autofree char *subject_out = NULL;
  g_autofree char *text_out = NULL;
  g_autofree char *html_out = NULL;
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  if (reject_invalid (invocation, NULL, subject, body_text, body_html))
    return G_DBUS_METHOD_INVOCATION_HANDLED;

  /* Sample data only: a preview never touches a patient's record. */
  s = mhf_template_parse (subject, NULL);
  t = mhf_template_parse (body_text, NULL);
  subject_out = mhf_template_render (s, samples, MHF_TEMPLATE_SUBJECT);
  text_out = mhf_template_render (t, samples, MHF_TEMPLATE_TEXT);
  if (*body_html != '\0')
    {
      h = mhf_template_parse (body_html, NULL);
      html_out = mhf_template_render (h, samples, MHF_TEMPLATE_HTML);
    }

  g_variant_dict_insert (&dict, "subject", "s", subject_out);
  g_variant_dict_insert (&dict, "text", "s", text_out);
  g_variant_dict_insert (&dict, "html", "s", html_out != NULL ? html_out : "");
  mhf_ipc_agent1_complete_preview_template (object, invocation, g_variant_dict_end (&dict));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_templates_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_list_templates = handle_list_templates;
  iface->handle_add_template = handle_add_template;
  iface->handle_update_template = handle_update_template;
  iface->handle_delete_template = handle_delete_template;
  iface->handle_preview_template = handle_preview_template;
}
