/* mhf-agent-client.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "mhf-status.h"

G_BEGIN_DECLS

#define MHF_TYPE_AGENT_CLIENT (mhf_agent_client_get_type ())

G_DECLARE_FINAL_TYPE (MhfAgentClient, mhf_agent_client, MHF, AGENT_CLIENT, GObject)

MhfAgentClient   *mhf_agent_client_new                (void);
void              mhf_agent_client_connect_async      (MhfAgentClient       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean          mhf_agent_client_connect_finish     (MhfAgentClient       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
void              mhf_agent_client_refresh_async      (MhfAgentClient       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean          mhf_agent_client_refresh_finish     (MhfAgentClient       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
gboolean          mhf_agent_client_get_reachable      (MhfAgentClient       *self);
MhfAgentState     mhf_agent_client_get_agent_state    (MhfAgentClient       *self);
MhfKeyringState   mhf_agent_client_get_keyring_state  (MhfAgentClient       *self);
MhfDatabaseState  mhf_agent_client_get_database_state (MhfAgentClient       *self);
GVariant         *mhf_agent_client_get_status         (MhfAgentClient       *self);
const char       *mhf_agent_client_get_version        (MhfAgentClient       *self);
const char       *mhf_agent_client_get_data_directory (MhfAgentClient       *self);
guint             mhf_agent_client_get_schema_version (MhfAgentClient       *self);
gboolean          mhf_agent_client_error_is_unreachable (const GError       *error);

void              mhf_agent_client_who_am_i_async     (MhfAgentClient       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
GVariant         *mhf_agent_client_who_am_i_finish    (MhfAgentClient       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
void              mhf_agent_client_create_owner_async (MhfAgentClient       *self,
                                                       const char           *username,
                                                       const char           *display_name,
                                                       const char           *passphrase,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean          mhf_agent_client_create_owner_finish (MhfAgentClient      *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
void              mhf_agent_client_sign_in_async      (MhfAgentClient       *self,
                                                       const char           *username,
                                                       const char           *passphrase,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean          mhf_agent_client_sign_in_finish     (MhfAgentClient       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
void              mhf_agent_client_sign_out_async     (MhfAgentClient       *self,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
gboolean          mhf_agent_client_sign_out_finish    (MhfAgentClient       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);
gboolean          mhf_agent_client_get_session_known  (MhfAgentClient       *self);
gboolean          mhf_agent_client_get_signed_in      (MhfAgentClient       *self);
gboolean          mhf_agent_client_get_first_run      (MhfAgentClient       *self);
const char       *mhf_agent_client_get_username       (MhfAgentClient       *self);
const char       *mhf_agent_client_get_display_name   (MhfAgentClient       *self);

void              mhf_agent_client_call_async         (MhfAgentClient       *self,
                                                       const char           *method,
                                                       GVariant             *parameters,
                                                       GCancellable         *cancellable,
                                                       GAsyncReadyCallback   callback,
                                                       gpointer              user_data);
GVariant         *mhf_agent_client_call_finish        (MhfAgentClient       *self,
                                                       GAsyncResult         *result,
                                                       GError              **error);

G_END_DECLS
