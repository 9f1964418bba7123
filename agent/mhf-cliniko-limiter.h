/* mhf-cliniko-limiter.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Cliniko allows 200 requests a minute per user (cliniko-api.md §2); we
 * keep a margin. */
#define MHF_CLINIKO_LIMITER_DEFAULT_MAX_REQUESTS 180
#define MHF_CLINIKO_LIMITER_DEFAULT_WINDOW_MS    60000

#define MHF_TYPE_CLINIKO_LIMITER (mhf_cliniko_limiter_get_type ())

G_DECLARE_FINAL_TYPE (MhfClinikoLimiter, mhf_cliniko_limiter, MHF, CLINIKO_LIMITER, GObject)

MhfClinikoLimiter *mhf_cliniko_limiter_new            (guint                max_requests,
                                                       guint                window_ms);
guint              mhf_cliniko_limiter_get_max_requests (MhfClinikoLimiter *self);
guint              mhf_cliniko_limiter_get_window_ms  (MhfClinikoLimiter   *self);
guint              mhf_cliniko_limiter_get_n_waiting  (MhfClinikoLimiter   *self);
void               mhf_cliniko_limiter_acquire_async  (MhfClinikoLimiter   *self,
                                                       GCancellable        *cancellable,
                                                       GAsyncReadyCallback  callback,
                                                       gpointer             user_data);
gboolean           mhf_cliniko_limiter_acquire_finish (MhfClinikoLimiter   *self,
                                                       GAsyncResult        *result,
                                                       GError             **error);
GArray            *mhf_cliniko_limiter_dup_grant_times (MhfClinikoLimiter  *self);

G_END_DECLS
