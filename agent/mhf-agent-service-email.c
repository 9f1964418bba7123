/* mhf-agent-service-email.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * How each clinic sends email: SetEmailSettings, GetEmailSettings and
 * SendTestEmail. The SMTP password goes to the keyring (kind
 * smtp-password) and never comes back out over D-Bus.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-error.h"
#include "mhf-keyring.h"
#include "mhf-mail.h"
#include "mhf-template.h"

#include <string.h>

void
mhf_clinic_email_clear (MhfClinicEmail *email)
{
  g_clear_pointer (&email->mail, mhf_mail_settings_free);
  g_clear_pointer (&email->from_name, g_free);
  g_clear_pointer (&email->from_address, g_free);
  g_clear_pointer (&email->reply_to, g_free);
  g_clear_pointer (&email->problem, g_free);
}

/**
 * mhf_clinic_email_load:
 *
 * Reads a clinic's email settings on the store thread. Without settings
 * it fails with NotAllowed. The password is not read here: it is in the
 * keyring.
 */
gboolean
mhf_clinic_email_load (sqlite3         *db,
                       gint64           clinic_id,
                       MhfClinicEmail  *email,
                       GError         **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  memset (email, 0, sizeof *email);
  rc = sqlite3_prepare_v2 (db,
                           "SELECT email_transport, smtp_host, coalesce(smtp_port, 0), smtp_security,"
                           "       smtp_username, smtp_password_set, smtp_ca_pem, file_folder,"
                           "       from_name, from_address, reply_to, write_back, email_problem"
                           "  FROM clinics WHERE id = ?1",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, clinic_id);
      rc = sqlite3_step (stmt);
    }
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND, "No clinic %" G_GINT64_FORMAT,
                   clinic_id);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading email settings");
      return FALSE;
    }
  if (sqlite3_column_type (stmt, 0) == SQLITE_NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                           "Email sending is not set up for this clinic");
      return FALSE;
    }

  email->mail = g_new0 (MhfMailSettings, 1);
  email->mail->transport = mhf_store_column_dup (stmt, 0);
  email->mail->host = mhf_store_column_dup (stmt, 1);
  email->mail->port = (guint) sqlite3_column_int (stmt, 2);
  email->mail->security = mhf_store_column_dup (stmt, 3);
  email->mail->username = mhf_store_column_dup (stmt, 4);
  email->password_set = sqlite3_column_int (stmt, 5) != 0;
  email->mail->ca_pem = mhf_store_column_dup (stmt, 6);
  email->mail->folder = mhf_store_column_dup (stmt, 7);
  email->mail->timeout_seconds = 60;
  email->from_name = mhf_store_column_dup (stmt, 8);
  email->from_address = mhf_store_column_dup (stmt, 9);
  email->reply_to = mhf_store_column_dup (stmt, 10);
  email->write_back = sqlite3_column_int (stmt, 11) != 0;
  email->problem = mhf_store_column_dup (stmt, 12);
  return TRUE;
}

/* ---- SetEmailSettings ---------------------------------------------------------------------------- */

typedef struct
{
  MhfClinicEmail  email;
  char           *password;      /* NULL: keep the current one */
  gboolean        clear_password;
} SetData;

static void
set_data_free (SetData *data)
{
  mhf_clinic_email_clear (&data->email);
  if (data->password != NULL)
    {
      memset (data->password, 0, strlen (data->password));
      g_free (data->password);
    }
  g_free (data);
}

static gboolean
lookup_text (GVariant    *dict,
             const char  *key,
             gboolean     required,
             guint        max_chars,
             char       **out,
             GError     **error)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (dict, key, NULL);

  if (value == NULL)
    {
      if (required)
        {
          g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "%s: needed", key);
          return FALSE;
        }
      return TRUE;
    }
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ||
      (required && *g_variant_get_string (value, NULL) == '\0') ||
      g_utf8_strlen (g_variant_get_string (value, NULL), -1) > (glong) max_chars)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "%s: a text of %s%u characters",
                   key, required ? "1 to " : "at most ", max_chars);
      return FALSE;
    }
  *out = g_variant_dup_string (value, NULL);
  return TRUE;
}

static gboolean
parse_settings (GVariant  *dict,
                SetData   *data,
                GError   **error)
{
  MhfMailSettings *mail = g_new0 (MhfMailSettings, 1);
  MhfClinicEmail *email = &data->email;
  guint32 port = 0;

  email->mail = mail;
  email->write_back = TRUE;
  g_variant_lookup (dict, "write-back", "b", &email->write_back);

  if (!lookup_text (dict, "transport", TRUE, 8, &mail->transport, error))
    return FALSE;
  if (!g_str_equal (mail->transport, "smtp") && !g_str_equal (mail->transport, "file"))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "transport: smtp or file");
      return FALSE;
    }

  if (!lookup_text (dict, "from-name", TRUE, 128, &email->from_name, error) ||
      !lookup_text (dict, "from-address", TRUE, 254, &email->from_address, error) ||
      !lookup_text (dict, "reply-to", FALSE, 254, &email->reply_to, error))
    return FALSE;
  if (strpbrk (email->from_name, "\r\n") != NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "from-name: one line, without line breaks");
      return FALSE;
    }
  if (!mhf_mail_address_is_valid (email->from_address))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "from-address: not a valid email address");
      return FALSE;
    }
  if (email->reply_to != NULL && *email->reply_to != '\0' &&
      !mhf_mail_address_is_valid (email->reply_to))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "reply-to: not a valid email address");
      return FALSE;
    }

  if (g_str_equal (mail->transport, "file"))
    {
      if (!lookup_text (dict, "folder", TRUE, 4096, &mail->folder, error))
        return FALSE;
      if (!g_path_is_absolute (mail->folder))
        {
          g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                               "folder: an absolute path");
          return FALSE;
        }
      return TRUE;
    }

  if (!lookup_text (dict, "host", TRUE, 253, &mail->host, error) ||
      !lookup_text (dict, "security", TRUE, 8, &mail->security, error) ||
      !lookup_text (dict, "username", FALSE, 254, &mail->username, error) ||
      !lookup_text (dict, "ca-pem", FALSE, 64 * 1024, &mail->ca_pem, error) ||
      !lookup_text (dict, "password", FALSE, 1024, &data->password, error))
    return FALSE;

  if (strpbrk (mail->host, " /:@\r\n") != NULL && g_inet_address_new_from_string (mail->host) == NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "host: a host name or an IP address");
      return FALSE;
    }
  if (!g_str_equal (mail->security, "starttls") && !g_str_equal (mail->security, "tls") &&
      !g_str_equal (mail->security, "none"))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "security: starttls, tls or none");
      return FALSE;
    }
  if (g_str_equal (mail->security, "none") && !mhf_mail_host_is_loopback (mail->host))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "security: without TLS, only to this computer (a loopback address)");
      return FALSE;
    }

  if (g_variant_lookup (dict, "port", "u", &port) && (port < 1 || port > 65535))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "port: 1 to 65535");
      return FALSE;
    }
  mail->port = port != 0 ? port : g_str_equal (mail->security, "tls") ? 465 : 587;

  if (mail->ca_pem != NULL && *mail->ca_pem != '\0')
    {
      g_autoptr(GTlsCertificate) ca = g_tls_certificate_new_from_pem (mail->ca_pem, -1, NULL);

      if (ca == NULL)
        {
          g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                               "ca-pem: not a PEM certificate");
          return FALSE;
        }
    }

  /* No login: no password to keep. */
  if (mail->username == NULL || *mail->username == '\0')
    {
      data->clear_password = TRUE;
      g_clear_pointer (&data->password, g_free);
    }
  return TRUE;
}

static gboolean
set_worker (MhfCall  *call,
            sqlite3  *db,
            GError  **error)
{
  SetData *data = call->data;
  MhfClinicEmail *email = &data->email;
  MhfMailSettings *mail = email->mail;
  g_autofree char *target = NULL;
  g_autofree char *summary = NULL;
  gint64 clinic_id = 0;
  gboolean smtp = g_str_equal (mail->transport, "smtp");

  g_variant_get_child (call->params, 0, "x", &clinic_id);

  if (!mhf_store_exec_bound (db,
                             "UPDATE clinics SET email_transport = ?1, smtp_host = ?2,"
                             "       smtp_port = nullif(?3, 0), smtp_security = ?4,"
                             "       smtp_username = nullif(?5, ''), smtp_ca_pem = nullif(?6, ''),"
                             "       file_folder = ?7, from_name = ?8, from_address = ?9,"
                             "       reply_to = nullif(?10, ''), write_back = ?11,"
                             "       email_problem = NULL,"
                             "       smtp_password_set = CASE WHEN ?12 THEN 0 WHEN ?13 THEN 1"
                             "                                ELSE smtp_password_set END"
                             " WHERE id = ?14",
                             error, "ssxsssssssxxxx",
                             mail->transport, smtp ? mail->host : NULL, (gint64) mail->port,
                             smtp ? mail->security : NULL, mail->username ?: "",
                             mail->ca_pem ?: "", smtp ? NULL : mail->folder, email->from_name,
                             email->from_address, email->reply_to ?: "",
                             (gint64) email->write_back, (gint64) data->clear_password,
                             (gint64) (data->password != NULL), clinic_id))
    return FALSE;

  target = g_strdup_printf ("clinic %" G_GINT64_FORMAT, clinic_id);
  if (smtp)
    summary = g_strdup_printf ("email settings: SMTP %s:%u (%s)%s%s, from %s <%s>, write-back %s",
                               mail->host, mail->port, mail->security,
                               mail->username != NULL && *mail->username != '\0'
                               ? ", login " : "", mail->username ?: "", email->from_name,
                               email->from_address, email->write_back ? "on" : "off");
  else
    summary = g_strdup_printf ("email settings: files in %s, from %s <%s>, write-back %s",
                               mail->folder, email->from_name, email->from_address,
                               email->write_back ? "on" : "off");
  if (data->password != NULL)
    {
      g_autofree char *with = g_strconcat (summary, "; SMTP password changed", NULL);

      g_free (summary);
      summary = g_steal_pointer (&with);
    }
  return mhf_call_audit (call, db, clinic_id, "email.settings", target, summary, error);
}

static void
set_done (MhfCall *call)
{
  mhf_agent_service_arm_send_timer (call->self);
}

typedef struct
{
  MhfAgentService       *self;
  GDBusMethodInvocation *invocation;
  SetData               *data;
} PasswordStore;

static void
password_stored_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  PasswordStore *p = user_data;
  g_autoptr(GError) error = NULL;

  if (!mhf_keyring_store_finish (result, &error))
    {
      g_dbus_method_invocation_return_gerror (p->invocation, error);
      set_data_free (p->data);
    }
  else
    mhf_agent_service_call (p->self, p->invocation, set_worker, set_done, p->data,
                            (GDestroyNotify) set_data_free);

  g_object_unref (p->self);
  g_object_unref (p->invocation);
  g_free (p);
}

static gboolean
handle_set_email_settings (MhfIpcAgent1          *object,
                           GDBusMethodInvocation *invocation,
                           gint64                 clinic,
                           GVariant              *settings)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  SetData *data = g_new0 (SetData, 1);
  g_autoptr(GError) error = NULL;

  if (!parse_settings (settings, data, &error))
    {
      set_data_free (data);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (data->password != NULL)
    {
      PasswordStore *p = g_new0 (PasswordStore, 1);
      g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, clinic);
      g_autofree char *label = g_strdup_printf ("MyHealthFollowup SMTP password for clinic %s",
                                                id);

      p->self = g_object_ref (self);
      p->invocation = g_object_ref (invocation);
      p->data = data;
      mhf_keyring_store_async (MHF_SECRET_KIND_SMTP_PASSWORD, id, label, data->password, NULL,
                               password_stored_cb, p);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (self, invocation, set_worker, set_done, data,
                          (GDestroyNotify) set_data_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- GetEmailSettings ---------------------------------------------------------------------------- */

static gboolean
get_worker (MhfCall  *call,
            sqlite3  *db,
            GError  **error)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  MhfClinicEmail email = { 0, };
  GError *local_error = NULL;
  gint64 clinic_id = 0, waiting = 0;

  g_variant_get_child (call->params, 0, "x", &clinic_id);

  if (!mhf_store_query_int64 (db,
                              "SELECT count(*) FROM outbox WHERE clinic_id = ?1"
                              "   AND state IN ('planned', 'retry_wait')",
                              &waiting, error, "x", clinic_id))
    return FALSE;
  g_variant_dict_insert (&dict, "waiting", "u", (guint32) waiting);

  if (!mhf_clinic_email_load (db, clinic_id, &email, &local_error))
    {
      if (!g_error_matches (local_error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED))
        {
          g_propagate_error (error, local_error);
          return FALSE;
        }
      g_error_free (local_error);
      g_variant_dict_insert (&dict, "transport", "s", "");
      g_variant_dict_insert (&dict, "problem", "s", "Email sending is not set up");
      call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
      return TRUE;
    }

  g_variant_dict_insert (&dict, "transport", "s", email.mail->transport);
  g_variant_dict_insert (&dict, "host", "s", email.mail->host ?: "");
  g_variant_dict_insert (&dict, "port", "u", email.mail->port);
  g_variant_dict_insert (&dict, "security", "s", email.mail->security ?: "");
  g_variant_dict_insert (&dict, "username", "s", email.mail->username ?: "");
  g_variant_dict_insert (&dict, "password-set", "b", email.password_set);
  g_variant_dict_insert (&dict, "ca-pem", "s", email.mail->ca_pem ?: "");
  g_variant_dict_insert (&dict, "folder", "s", email.mail->folder ?: "");
  g_variant_dict_insert (&dict, "from-name", "s", email.from_name ?: "");
  g_variant_dict_insert (&dict, "from-address", "s", email.from_address ?: "");
  g_variant_dict_insert (&dict, "reply-to", "s", email.reply_to ?: "");
  g_variant_dict_insert (&dict, "write-back", "b", email.write_back);
  g_variant_dict_insert (&dict, "problem", "s", email.problem ?: "");
  mhf_clinic_email_clear (&email);

  call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
  return TRUE;
}

static gboolean
handle_get_email_settings (MhfIpcAgent1          *object,
                           GDBusMethodInvocation *invocation,
                           gint64                 clinic)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, get_worker, NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- SendTestEmail --------------------------------------------------------------------------------- */

typedef struct
{
  MhfAgentService       *self;
  GDBusMethodInvocation *invocation;
  gint64                 clinic_id;
  gint64                 template_id;
  char                  *address;
  MhfClinicEmail         email;
  char                  *subject;
  char                  *body_text;
  char                  *body_html;
  char                  *template_name;
  GPtrArray             *jobs;
} TestEmail;

static void
test_email_free (TestEmail *t)
{
  g_clear_object (&t->self);
  g_clear_object (&t->invocation);
  g_free (t->address);
  mhf_clinic_email_clear (&t->email);
  g_free (t->subject);
  g_free (t->body_text);
  g_free (t->body_html);
  g_free (t->template_name);
  g_clear_pointer (&t->jobs, g_ptr_array_unref);
  g_free (t);
}

static void
test_fail (TestEmail *t,
           GError    *error)
{
  g_dbus_method_invocation_return_gerror (t->invocation, error);
  g_error_free (error);
  test_email_free (t);
}

static gboolean
test_audit_worker (MhfCall  *call,
                   sqlite3  *db,
                   GError  **error)
{
  TestEmail *t = call->data;
  MhfMailJob *job = g_ptr_array_index (t->jobs, 0);
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autofree char *masked = mhf_mail_mask_address (t->address);
  g_autofree char *target = g_strdup_printf ("template %" G_GINT64_FORMAT, t->template_id);
  g_autofree char *summary = g_strdup_printf ("test email of “%s” to %s: %s", t->template_name,
                                              masked, job->outcome == MHF_MAIL_OUTCOME_SENT
                                              ? "accepted" : "refused");

  if (!mhf_call_audit (call, db, t->clinic_id, "email.test", target, summary, error))
    return FALSE;

  if (job->outcome != MHF_MAIL_OUTCOME_SENT)
    {
      call->reply_error = g_error_new (MHF_ERROR, MHF_ERROR_SMTP_FAILED, "%s",
                                       job->detail ?: "The mail server refused the message");
      return TRUE;
    }
  g_variant_dict_insert (&dict, "message-id", "s", job->message_id);
  g_variant_dict_insert (&dict, "smtp-code", "u", (guint32) job->smtp_code);
  call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_dict_end (&dict)));
  return TRUE;
}

static void
test_sent_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  TestEmail *t = user_data;
  GDBusMethodInvocation *invocation = g_steal_pointer (&t->invocation);

  mhf_mail_send_finish (result, NULL);
  mhf_agent_service_call (t->self, invocation, test_audit_worker, NULL, t,
                          (GDestroyNotify) test_email_free);
  g_object_unref (invocation);
}

static void
test_send (TestEmail *t)
{
  g_autoptr(GHashTable) values = mhf_template_sample_values ();
  g_autoptr(MhfTemplate) subject = NULL;
  g_autoptr(MhfTemplate) text = NULL;
  g_autoptr(MhfTemplate) html = NULL;
  g_autofree char *r_subject = NULL;
  g_autofree char *r_text = NULL;
  g_autofree char *r_html = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *nonce = g_uuid_string_random ();
  MhfMailJob *job = g_new0 (MhfMailJob, 1);
  GError *error = NULL;
  MhfMailParts parts = { 0, };

  g_hash_table_insert (values, "sender.name", t->email.from_name);
  g_hash_table_insert (values, "sender.email", t->email.from_address);

  subject = mhf_template_parse (t->subject, &error);
  if (subject != NULL)
    text = mhf_template_parse (t->body_text, &error);
  if (text != NULL && t->body_html != NULL && *t->body_html != '\0')
    html = mhf_template_parse (t->body_html, &error);
  if (error != NULL)
    {
      mhf_mail_job_free (job);
      test_fail (t, error);
      return;
    }

  r_subject = mhf_template_render (subject, values, MHF_TEMPLATE_SUBJECT);
  r_text = mhf_template_render (text, values, MHF_TEMPLATE_TEXT);
  r_html = html != NULL ? mhf_template_render (html, values, MHF_TEMPLATE_HTML) : NULL;
  message_id = g_strdup_printf ("mhf-test-%s@%s", nonce, strrchr (t->email.from_address, '@') + 1);

  parts.from_name = t->email.from_name;
  parts.from_address = t->email.from_address;
  parts.reply_to = t->email.reply_to;
  parts.to_address = t->address;
  parts.subject = r_subject;
  parts.text = r_text;
  parts.html = r_html;
  parts.message_id = message_id;
  parts.date = g_get_real_time ();

  job->envelope_from = g_strdup (t->email.from_address);
  job->recipient = g_strdup (t->address);
  job->message = mhf_mail_compose (&parts);
  job->message_id = g_steal_pointer (&message_id);
  t->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) mhf_mail_job_free);
  g_ptr_array_add (t->jobs, job);

  mhf_mail_send_async (t->email.mail, t->jobs, NULL, test_sent_cb, t);
}

static void
test_password_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  TestEmail *t = user_data;
  g_autoptr(GError) error = NULL;

  t->email.mail->password = mhf_keyring_lookup_finish (result, &error);
  if (error != NULL)
    {
      test_fail (t, g_steal_pointer (&error));
      return;
    }
  test_send (t);
}

static void
test_read_worker (GTask   *task,
                  sqlite3 *db,
                  gpointer task_data)
{
  TestEmail *t = task_data;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GError *error = NULL;
  int rc;

  if (!mhf_clinic_email_load (db, t->clinic_id, &t->email, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  rc = sqlite3_prepare_v2 (db, "SELECT name, subject, body_text, body_html FROM templates"
                               " WHERE clinic_id = ?1 AND id = ?2", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, t->clinic_id);
      sqlite3_bind_int64 (stmt, 2, t->template_id);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_ROW)
    {
      g_task_return_new_error (task, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                               "This clinic has no template %" G_GINT64_FORMAT, t->template_id);
      return;
    }
  t->template_name = mhf_store_column_dup (stmt, 0);
  t->subject = mhf_store_column_dup (stmt, 1);
  t->body_text = mhf_store_column_dup (stmt, 2);
  t->body_html = mhf_store_column_dup (stmt, 3);
  g_task_return_boolean (task, TRUE);
}

static void
test_read_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  TestEmail *t = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      test_fail (t, error);
      return;
    }

  if (g_str_equal (t->email.mail->transport, "smtp") && t->email.password_set)
    {
      g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, t->clinic_id);

      mhf_keyring_lookup_async (MHF_SECRET_KIND_SMTP_PASSWORD, id, NULL, test_password_cb, t);
      return;
    }
  test_send (t);
}

static gboolean
handle_send_test_email (MhfIpcAgent1          *object,
                        GDBusMethodInvocation *invocation,
                        gint64                 clinic,
                        gint64                 template_id,
                        const char            *address)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  TestEmail *t;

  if (!mhf_mail_address_is_valid (address))
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_INVALID_INPUT,
                                                     "address: not a valid email address");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (self->store == NULL || !mhf_store_is_open (self->store))
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_DATABASE_UNAVAILABLE,
                                                     "The database is not open; see GetStatus");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  t = g_new0 (TestEmail, 1);
  t->self = g_object_ref (self);
  t->invocation = g_object_ref (invocation);
  t->clinic_id = clinic;
  t->template_id = template_id;
  t->address = g_strdup (address);
  mhf_store_run_async (self->store, test_read_worker, t, NULL, NULL, test_read_cb, t);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_email_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_set_email_settings = handle_set_email_settings;
  iface->handle_get_email_settings = handle_get_email_settings;
  iface->handle_send_test_email = handle_send_test_email;
}
