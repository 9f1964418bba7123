/* mhf-cliniko-client.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "mhf-cliniko-limiter.h"

G_BEGIN_DECLS

#define MHF_CLINIKO_ERROR (mhf_cliniko_error_quark ())

/**
 * MhfClinikoError:
 * @MHF_CLINIKO_ERROR_UNAUTHORIZED: Cliniko rejected the API key (401): wrong
 *   key, revoked key or wrong shard. The client then refuses every further
 *   call without sending it.
 * @MHF_CLINIKO_ERROR_FORBIDDEN: The key's user may not see the resource (403).
 * @MHF_CLINIKO_ERROR_NOT_FOUND: Unknown id or path (404).
 * @MHF_CLINIKO_ERROR_INVALID: Cliniko refused the request as invalid (422,
 *   or another 4xx such as 400).
 * @MHF_CLINIKO_ERROR_RATE_LIMITED: Still rate limited (429) after the
 *   bounded number of waits.
 * @MHF_CLINIKO_ERROR_SERVER: A server fault (5xx) that outlasted the retries.
 * @MHF_CLINIKO_ERROR_NETWORK: Cliniko could not be reached (connection,
 *   TLS or timeout) after the retries.
 * @MHF_CLINIKO_ERROR_MALFORMED: The answer was not what the API documents:
 *   not JSON, truncated, a non-object root or members of the wrong type.
 *
 * Error codes of the %MHF_CLINIKO_ERROR domain. Cancellation is reported
 * as %G_IO_ERROR_CANCELLED. Messages are for developers; they never hold
 * the key, a query string or a response body.
 */
typedef enum
{
  MHF_CLINIKO_ERROR_UNAUTHORIZED,
  MHF_CLINIKO_ERROR_FORBIDDEN,
  MHF_CLINIKO_ERROR_NOT_FOUND,
  MHF_CLINIKO_ERROR_INVALID,
  MHF_CLINIKO_ERROR_RATE_LIMITED,
  MHF_CLINIKO_ERROR_SERVER,
  MHF_CLINIKO_ERROR_NETWORK,
  MHF_CLINIKO_ERROR_MALFORMED,
} MhfClinikoError;

#define MHF_CLINIKO_N_ERRORS (MHF_CLINIKO_ERROR_MALFORMED + 1)

GQuark mhf_cliniko_error_quark (void);

/* Wall-clock time in microseconds since the epoch, like g_get_real_time(). */
typedef gint64 (*MhfClinikoClockFunc) (gpointer user_data);

#define MHF_TYPE_CLINIKO_CLIENT (mhf_cliniko_client_get_type ())

G_DECLARE_FINAL_TYPE (MhfClinikoClient, mhf_cliniko_client, MHF, CLINIKO_CLIENT, GObject)

const char       *mhf_cliniko_user_agent                (void);

MhfClinikoClient *mhf_cliniko_client_new                (const char           *base_url,
                                                         const char           *api_key,
                                                         const char           *user_agent,
                                                         MhfClinikoLimiter    *limiter);
const char       *mhf_cliniko_client_get_base_url       (MhfClinikoClient     *self);
gboolean          mhf_cliniko_client_get_key_rejected   (MhfClinikoClient     *self);
void              mhf_cliniko_client_set_retry          (MhfClinikoClient     *self,
                                                         guint                 max_attempts,
                                                         guint                 base_delay_ms);
void              mhf_cliniko_client_set_timeout        (MhfClinikoClient     *self,
                                                         guint                 seconds);
void              mhf_cliniko_client_set_clock_func     (MhfClinikoClient     *self,
                                                         MhfClinikoClockFunc   func,
                                                         gpointer              user_data);

void              mhf_cliniko_client_get_async          (MhfClinikoClient     *self,
                                                         const char           *path,
                                                         const char * const   *params,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
JsonNode         *mhf_cliniko_client_get_finish         (MhfClinikoClient     *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

void              mhf_cliniko_client_list_async         (MhfClinikoClient     *self,
                                                         const char           *path,
                                                         const char           *collection_key,
                                                         const char * const   *params,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
GPtrArray        *mhf_cliniko_client_list_finish        (MhfClinikoClient     *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

void              mhf_cliniko_client_post_async         (MhfClinikoClient     *self,
                                                         const char           *path,
                                                         JsonNode             *body,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
JsonNode         *mhf_cliniko_client_post_finish        (MhfClinikoClient     *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

G_END_DECLS
