/* mhf-fake-cliniko.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A SoupServer double of the Cliniko REST API (docs: cliniko-api.md §8).
 * It runs in its own thread with its own GMainContext, so tests may use
 * any client, sync or async, from their own thread. See README.md next to
 * this file for the behaviour it reproduces and the choices it makes where
 * the real API is unconfirmed.
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define MHF_FAKE_CLINIKO_ERROR (mhf_fake_cliniko_error_quark ())

typedef enum
{
  MHF_FAKE_CLINIKO_ERROR_FIXTURE,
  MHF_FAKE_CLINIKO_ERROR_SERVER,
} MhfFakeClinikoError;

GQuark mhf_fake_cliniko_error_quark (void);

/* How an injected fault treats the response body. */
typedef enum
{
  MHF_FAKE_BODY_NORMAL,     /* the real body, or {"message": ...} with a forced status */
  MHF_FAKE_BODY_MALFORMED,  /* invalid JSON syntax */
  MHF_FAKE_BODY_TRUNCATED,  /* the real body cut in half */
  MHF_FAKE_BODY_NOT_OBJECT, /* valid JSON whose root is an array */
} MhfFakeBody;

typedef struct
{
  guint       status;    /* 0: keep the status the request would have had */
  guint       delay_ms;  /* delay before the response is sent */
  MhfFakeBody body;
  int         count;     /* how many requests it hits; -1: forever */
  const char *method;    /* only requests with this method; NULL: any */
} MhfFakeFault;

/* One entry of the request log. Never holds a body or a credential. */
typedef struct
{
  char      *method;
  char      *path;              /* as received, e.g. "/v1/patients" */
  char      *query;             /* raw, still percent-encoded; NULL if none */
  GStrv      q;                 /* decoded q[] (and q) values, in order */
  char      *accept;            /* NULL when absent */
  char      *user_agent;        /* NULL when absent */
  gboolean   has_authorization;
  char      *owner;             /* authenticated key owner, NULL if none */
  guint      status;            /* status sent back */
  gint64     time;              /* fake clock, unix seconds */
} MhfFakeRequest;

void mhf_fake_request_free (MhfFakeRequest *request);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhfFakeRequest, mhf_fake_request_free)

#define MHF_TYPE_FAKE_CLINIKO (mhf_fake_cliniko_get_type ())

G_DECLARE_FINAL_TYPE (MhfFakeCliniko, mhf_fake_cliniko, MHF, FAKE_CLINIKO, GObject)

MhfFakeCliniko *mhf_fake_cliniko_new                (const char         *fixture_path,
                                                     GError            **error);

/* Configuration; may be changed while the server runs. */
void            mhf_fake_cliniko_set_port           (MhfFakeCliniko     *self,
                                                     guint               port);
void            mhf_fake_cliniko_set_shard          (MhfFakeCliniko     *self,
                                                     const char         *shard);
const char     *mhf_fake_cliniko_get_shard          (MhfFakeCliniko     *self);
void            mhf_fake_cliniko_add_api_key        (MhfFakeCliniko     *self,
                                                     const char         *key,
                                                     const char         *owner);
void            mhf_fake_cliniko_clear_api_keys     (MhfFakeCliniko     *self);
void            mhf_fake_cliniko_set_role           (MhfFakeCliniko     *self,
                                                     const char         *role);
void            mhf_fake_cliniko_set_strict         (MhfFakeCliniko     *self,
                                                     gboolean            strict);
void            mhf_fake_cliniko_set_rate_limit     (MhfFakeCliniko     *self,
                                                     guint               per_minute);
void            mhf_fake_cliniko_set_clock          (MhfFakeCliniko     *self,
                                                     gint64              unix_seconds);
void            mhf_fake_cliniko_advance_clock      (MhfFakeCliniko     *self,
                                                     gint64              seconds);
gint64          mhf_fake_cliniko_get_clock          (MhfFakeCliniko     *self);
gint64          mhf_fake_cliniko_get_anchor         (MhfFakeCliniko     *self);
void            mhf_fake_cliniko_add_fault          (MhfFakeCliniko     *self,
                                                     const char         *path_prefix,
                                                     const MhfFakeFault *fault);
void            mhf_fake_cliniko_clear_faults       (MhfFakeCliniko     *self);

/* Server lifetime. */
gboolean        mhf_fake_cliniko_start              (MhfFakeCliniko     *self,
                                                     GError            **error);
void            mhf_fake_cliniko_stop               (MhfFakeCliniko     *self);
const char     *mhf_fake_cliniko_get_base_url       (MhfFakeCliniko     *self);

/* Request log. */
GPtrArray      *mhf_fake_cliniko_get_requests       (MhfFakeCliniko     *self);
guint           mhf_fake_cliniko_count_requests     (MhfFakeCliniko     *self,
                                                     const char         *method,
                                                     const char         *path_prefix);
void            mhf_fake_cliniko_clear_requests     (MhfFakeCliniko     *self);

/* Data inspection and mutation for tests. Ids are Cliniko ids as strings;
 * each returns FALSE when the id is unknown. */
char           *mhf_fake_cliniko_dup_record_json    (MhfFakeCliniko     *self,
                                                     const char         *collection,
                                                     const char         *id);
guint           mhf_fake_cliniko_count_records      (MhfFakeCliniko     *self,
                                                     const char         *collection);
gboolean        mhf_fake_cliniko_cancel_appointment (MhfFakeCliniko     *self,
                                                     const char         *id,
                                                     int                 reason,
                                                     const char         *note);
gboolean        mhf_fake_cliniko_reschedule_appointment (MhfFakeCliniko *self,
                                                     const char         *id,
                                                     gint64              starts_at);
gboolean        mhf_fake_cliniko_delete_appointment (MhfFakeCliniko     *self,
                                                     const char         *id);
gboolean        mhf_fake_cliniko_set_did_not_arrive (MhfFakeCliniko     *self,
                                                     const char         *id,
                                                     int                 value);
gboolean        mhf_fake_cliniko_archive_patient    (MhfFakeCliniko     *self,
                                                     const char         *id);
gboolean        mhf_fake_cliniko_set_patient_email  (MhfFakeCliniko     *self,
                                                     const char         *id,
                                                     const char         *email);
gboolean        mhf_fake_cliniko_set_patient_reminder_type (MhfFakeCliniko *self,
                                                     const char         *id,
                                                     const char         *reminder_type);

G_END_DECLS
