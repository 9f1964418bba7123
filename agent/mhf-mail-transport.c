/* mhf-mail-transport.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Sending a batch of messages, off the main thread: over SMTP with
 * libcurl (one connection reused for the whole batch; STARTTLS required or
 * implicit TLS, certificates always verified, plaintext only to a loopback
 * address), or into a folder as .eml files (the demo, template testing).
 *
 * Each job gets an outcome. A refused login or an untrusted certificate
 * ends the batch: the remaining jobs get the same outcome without being
 * tried, so a wrong password never turns into a retry storm.
 */

#include "config.h"

#include "mhf-mail-transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

void
mhf_mail_settings_free (MhfMailSettings *settings)
{
  if (settings == NULL)
    return;
  g_free (settings->transport);
  g_free (settings->host);
  g_free (settings->security);
  g_free (settings->username);
  if (settings->password != NULL)
    {
      memset (settings->password, 0, strlen (settings->password));
      g_free (settings->password);
    }
  g_free (settings->ca_pem);
  g_free (settings->folder);
  g_free (settings);
}

MhfMailSettings *
mhf_mail_settings_copy (const MhfMailSettings *settings)
{
  MhfMailSettings *copy = g_new0 (MhfMailSettings, 1);

  copy->transport = g_strdup (settings->transport);
  copy->host = g_strdup (settings->host);
  copy->port = settings->port;
  copy->security = g_strdup (settings->security);
  copy->username = g_strdup (settings->username);
  copy->password = g_strdup (settings->password);
  copy->ca_pem = g_strdup (settings->ca_pem);
  copy->folder = g_strdup (settings->folder);
  copy->timeout_seconds = settings->timeout_seconds;
  return copy;
}

gboolean
mhf_mail_host_is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (host == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

void
mhf_mail_job_free (MhfMailJob *job)
{
  if (job == NULL)
    return;
  g_free (job->envelope_from);
  g_free (job->recipient);
  g_clear_pointer (&job->message, g_bytes_unref);
  g_free (job->message_id);
  g_free (job->detail);
  g_free (job);
}

/* ---- file ----------------------------------------------------------------------------------- */

static void
send_to_folder (const MhfMailSettings *settings,
                GPtrArray             *jobs)
{
  if (g_mkdir_with_parents (settings->folder, 0700) != 0)
    {
      int saved = errno;

      for (guint i = 0; i < jobs->len; i++)
        {
          MhfMailJob *job = g_ptr_array_index (jobs, i);

          job->outcome = MHF_MAIL_OUTCOME_TEMPORARY;
          job->detail = g_strdup_printf ("cannot create the folder: %s", g_strerror (saved));
        }
      return;
    }

  for (guint i = 0; i < jobs->len; i++)
    {
      MhfMailJob *job = g_ptr_array_index (jobs, i);
      g_autofree char *name = g_strdup_printf ("%s.eml", job->message_id);
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;
      gsize size = 0;
      const char *data = g_bytes_get_data (job->message, &size);

      g_strdelimit (name, "/\\", '_');
      path = g_build_filename (settings->folder, name, NULL);
      if (g_file_set_contents_full (path, data, (gssize) size,
                                    G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
        job->outcome = MHF_MAIL_OUTCOME_SENT;
      else
        {
          job->outcome = MHF_MAIL_OUTCOME_TEMPORARY;
          job->detail = g_strdup (error->message);
        }
    }
}

/* ---- SMTP ------------------------------------------------------------------------------------ */

typedef struct
{
  const char *data;
  gsize       size;
  gsize       offset;
} Upload;

static size_t
read_cb (char   *buffer,
         size_t  size,
         size_t  n,
         void   *user_data)
{
  Upload *upload = user_data;
  size_t room = size * n, left = upload->size - upload->offset, count = MIN (room, left);

  memcpy (buffer, upload->data + upload->offset, count);
  upload->offset += count;
  return count;
}

/* The system's trusted CAs plus the clinic's extra one: libcurl's CA blob
 * replaces its default bundle rather than adding to it. */
static char *
ca_bundle (const char *extra)
{
  g_autofree char *system = NULL;
  char *default_path = NULL;
  CURL *probe = curl_easy_init ();

  if (probe != NULL && curl_easy_getinfo (probe, CURLINFO_CAINFO, &default_path) == CURLE_OK &&
      default_path != NULL)
    g_file_get_contents (default_path, &system, NULL, NULL);
  if (probe != NULL)
    curl_easy_cleanup (probe);
  return g_strconcat (system ?: "", "\n", extra, NULL);
}

static MhfMailOutcome
classify (CURLcode  rc,
          long      code)
{
  switch (rc)
    {
    case CURLE_OK:
      return MHF_MAIL_OUTCOME_SENT;
    case CURLE_LOGIN_DENIED:
      return MHF_MAIL_OUTCOME_AUTH_FAILED;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CONNECT_ERROR:
      return MHF_MAIL_OUTCOME_UNTRUSTED;
    default:
      break;
    }

  if (code == 535 || code == 534 || code == 530)
    return MHF_MAIL_OUTCOME_AUTH_FAILED;
  if (code >= 500 && code < 600)
    return MHF_MAIL_OUTCOME_PERMANENT;
  return MHF_MAIL_OUTCOME_TEMPORARY;
}

static void
send_over_smtp (const MhfMailSettings *settings,
                GPtrArray             *jobs)
{
  g_autofree char *url = NULL;
  g_autofree char *bundle = NULL;
  MhfMailOutcome stop = MHF_MAIL_OUTCOME_NONE;
  const char *stop_detail = NULL;
  char error_buffer[CURL_ERROR_SIZE];
  gboolean implicit = g_strcmp0 (settings->security, "tls") == 0;
  gboolean plain = g_strcmp0 (settings->security, "none") == 0;
  CURL *curl;

  /* Plaintext only to this machine; settings refuse it too. */
  if (plain && !mhf_mail_host_is_loopback (settings->host))
    {
      stop = MHF_MAIL_OUTCOME_UNTRUSTED;
      stop_detail = "plaintext SMTP is only allowed to this computer";
    }

  curl = curl_easy_init ();
  url = g_strdup_printf ("%s://%s:%u", implicit ? "smtps" : "smtp", settings->host,
                         settings->port);

  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt (curl, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) MAX (settings->timeout_seconds, 5));
  curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!implicit)
    curl_easy_setopt (curl, CURLOPT_USE_SSL, plain ? (long) CURLUSESSL_NONE
                                                   : (long) CURLUSESSL_ALL);
  if (settings->ca_pem != NULL && *settings->ca_pem != '\0')
    {
      struct curl_blob blob;

      bundle = ca_bundle (settings->ca_pem);
      blob.data = bundle;
      blob.len = strlen (bundle);
      blob.flags = CURL_BLOB_COPY;
      curl_easy_setopt (curl, CURLOPT_CAINFO_BLOB, &blob);
    }
  if (settings->username != NULL && *settings->username != '\0')
    {
      curl_easy_setopt (curl, CURLOPT_USERNAME, settings->username);
      curl_easy_setopt (curl, CURLOPT_PASSWORD, settings->password ?: "");
    }

  for (guint i = 0; i < jobs->len; i++)
    {
      MhfMailJob *job = g_ptr_array_index (jobs, i);
      g_autofree char *from = g_strdup_printf ("<%s>", job->envelope_from);
      g_autofree char *to = g_strdup_printf ("<%s>", job->recipient);
      struct curl_slist *recipients = NULL;
      Upload upload = { 0, };
      long code = 0;
      CURLcode rc;

      if (stop != MHF_MAIL_OUTCOME_NONE)
        {
          job->outcome = stop;
          job->detail = g_strdup (stop_detail);
          continue;
        }

      upload.data = g_bytes_get_data (job->message, &upload.size);
      recipients = curl_slist_append (NULL, to);
      curl_easy_setopt (curl, CURLOPT_MAIL_FROM, from);
      curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, recipients);
      curl_easy_setopt (curl, CURLOPT_READDATA, &upload);
      curl_easy_setopt (curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) upload.size);
      error_buffer[0] = '\0';

      rc = curl_easy_perform (curl);
      curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
      curl_slist_free_all (recipients);

      job->smtp_code = (int) code;
      job->outcome = classify (rc, code);
      if (job->outcome != MHF_MAIL_OUTCOME_SENT)
        {
          /* curl's sentence names the step, not the message or address. */
          job->detail = g_strdup_printf ("%s (%d)", curl_easy_strerror (rc), (int) code);
          g_strstrip (job->detail);
        }

      if (job->outcome == MHF_MAIL_OUTCOME_AUTH_FAILED ||
          job->outcome == MHF_MAIL_OUTCOME_UNTRUSTED)
        {
          stop = job->outcome;
          stop_detail = job->detail;
        }
    }

  curl_easy_cleanup (curl);
}

static void
send_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  const MhfMailSettings *settings = g_object_get_data (G_OBJECT (task), "settings");
  GPtrArray *jobs = task_data;

  if (g_strcmp0 (settings->transport, "file") == 0)
    send_to_folder (settings, jobs);
  else
    send_over_smtp (settings, jobs);
  g_task_return_boolean (task, TRUE);
}

/**
 * mhf_mail_send_async:
 * @jobs: (element-type MhfMailJob): filled in with outcomes
 *
 * Sends every job in a worker thread; the main loop never waits on a
 * mail server.
 */
void
mhf_mail_send_async (const MhfMailSettings *settings,
                     GPtrArray             *jobs,
                     GCancellable          *cancellable,
                     GAsyncReadyCallback    callback,
                     gpointer               user_data)
{
  static gsize curl_ready = 0;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }

  g_task_set_source_tag (task, mhf_mail_send_async);
  g_object_set_data_full (G_OBJECT (task), "settings", mhf_mail_settings_copy (settings),
                          (GDestroyNotify) mhf_mail_settings_free);
  g_task_set_task_data (task, g_ptr_array_ref (jobs), (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, send_thread);
}

gboolean
mhf_mail_send_finish (GAsyncResult  *result,
                      GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
