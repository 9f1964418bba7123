/* mhf-mail-transport.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* How a clinic sends. The password is only ever in memory, from the
 * keyring, and wiped when the settings are freed. */
typedef struct
{
  char  *transport;   /* "smtp" or "file" */
  char  *host;
  guint  port;
  char  *security;    /* "starttls", "tls" or "none" (loopback only) */
  char  *username;    /* nullable: no AUTH */
  char  *password;    /* nullable */
  char  *ca_pem;      /* nullable: an extra trusted CA */
  char  *folder;      /* file transport */
  guint  timeout_seconds;
} MhfMailSettings;

typedef enum
{
  MHF_MAIL_OUTCOME_NONE,         /* not tried */
  MHF_MAIL_OUTCOME_SENT,
  MHF_MAIL_OUTCOME_TEMPORARY,    /* 4xx, network, timeout: try again later */
  MHF_MAIL_OUTCOME_PERMANENT,    /* 5xx: do not try again */
  MHF_MAIL_OUTCOME_AUTH_FAILED,  /* the server refused the login */
  MHF_MAIL_OUTCOME_UNTRUSTED,    /* the certificate is not trusted, or no TLS offered */
} MhfMailOutcome;

typedef struct
{
  char           *envelope_from;
  char           *recipient;
  GBytes         *message;
  char           *message_id;
  /* Results */
  MhfMailOutcome  outcome;
  int             smtp_code;
  char           *detail;        /* for logs and reasons; never an address */
} MhfMailJob;

void             mhf_mail_settings_free    (MhfMailSettings     *settings);
MhfMailSettings *mhf_mail_settings_copy    (const MhfMailSettings *settings);
gboolean         mhf_mail_host_is_loopback (const char          *host);
void             mhf_mail_job_free         (MhfMailJob          *job);

void             mhf_mail_send_async       (const MhfMailSettings *settings,
                                            GPtrArray           *jobs,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean         mhf_mail_send_finish      (GAsyncResult        *result,
                                            GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhfMailSettings, mhf_mail_settings_free)

G_END_DECLS
