/* mhf-agent-service-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Shared between the files that make up MhfAgentService.
 */

#pragma once

#include "mhf-agent-service.h"
#include "mhf-authz.h"
#include "mhf-licence.h"
#include "mhf-status.h"
#include "mhf-mail-transport.h"
#include "mhf-store.h"

G_BEGIN_DECLS

/* A signed-in caller: one per unique bus name. Lives on the main thread. */
typedef struct
{
  char       *sender;
  gint64      user_id;
  char       *username;
  char       *display_name;
  /* clinic id (gint64 *) -> MhfRole; clinic 0 means every clinic */
  GHashTable *roles;
  gint64      last_activity;
  guint       watch_id;
  guint       timer_id;
} MhfSession;

typedef struct _MhfCall MhfCall;

/* Runs on the store's worker thread inside a transaction, which commits
 * when it returns TRUE (even with call->reply_error set, so that failed
 * sign-ins and their audit entries are kept) and rolls back otherwise. */
typedef gboolean (*MhfCallWorker) (MhfCall  *call,
                                   sqlite3  *db,
                                   GError  **error);
/* Runs on the main thread after a commit, before the reply is sent. */
typedef void     (*MhfCallDone)   (MhfCall  *call);

struct _MhfCall
{
  MhfAgentService       *self;
  GDBusMethodInvocation *invocation;
  GVariant              *params;      /* the call's arguments, borrowed */
  char                  *actor;       /* who, for the audit log */
  gint64                 user_id;     /* 0 when signed out */
  gint64                 now;         /* wall clock, microseconds UTC */
  MhfCallWorker          worker;
  MhfCallDone            done;
  GVariant              *reply;       /* the reply tuple, from worker or done */
  GError                *reply_error; /* committed, but the caller gets this */
  gpointer               data;
  GDestroyNotify         data_free;
};

struct _MhfAgentService
{
  MhfIpcAgent1Skeleton  parent_instance;

  /* Owned references */
  MhfStore             *store;
  GCancellable         *cancellable;
  GDBusConnection      *connection;
  GVariant             *last_status;

  /* State */
  char                 *data_dir;
  char                 *db_path;
  gint64                started_at;
  MhfKeyringState       keyring_state;
  MhfDatabaseState      database_state;
  guint                 secrets_watch_id;
  guint                 purge_timer_id;
  GHashTable           *sessions;        /* sender -> MhfSession */
  GHashTable           *clients;         /* sender -> name watch id */
  GPtrArray            *pending_calls;   /* MhfCall waiting for start-up */
  GHashTable           *limiters;        /* Cliniko user -> MhfClinikoLimiter */
  guint                 reference_timer_id;
  GHashTable           *scan_timers;     /* clinic id -> ScanTimer */
  GHashTable           *scan_results;    /* clinic id -> ScanResult */
  GHashTable           *scans_running;   /* clinic id -> scan */
  guint                 heartbeat_id;
  int                   send_timer_fd;
  guint                 send_timer_source;
  gint64                next_due;
  gboolean              sending;         /* a send batch is running */
  gboolean              send_again;      /* something became due meanwhile */
  gint64                last_seen;       /* before this start, µs UTC */
  gint64                offline_usec;
  gint64                n_users;         /* -1 until the database is open */
  guint                 idle_timeout_minutes;
  gint64                minute_usec;     /* a minute, shortened in tests */
  /* The licence, read when the database opens. */
  MhfLicence           *licence;         /* NULL: none stored (trial) */
  gboolean              licence_invalid; /* stored, but it no longer verifies */
  gint64                trial_start;     /* the database's creation, µs UTC */
  gint64                licence_sending_until; /* 0 until read */
  MhfLicenceState       licence_state;
  guint                 licence_loaded : 1;
  guint                 licence_timer_id;
  guint                 configured : 1;
  guint                 initialising : 1;
  guint                 init_again : 1;
  guint                 resetting : 1;
};

void        mhf_agent_service_update_status   (MhfAgentService       *self);
gboolean    mhf_agent_service_load_licence    (sqlite3               *db,
                                               MhfLicence           **licence,
                                               gboolean              *invalid,
                                               gint64                *trial_start,
                                               GError               **error);
void        mhf_agent_service_set_licence     (MhfAgentService       *self,
                                               MhfLicence            *licence,
                                               gboolean               invalid,
                                               gint64                 trial_start);
GVariant   *mhf_agent_service_dup_licence     (MhfAgentService       *self);
gboolean    mhf_agent_service_licence_allows_sending (MhfAgentService *self);
void        mhf_agent_service_reinit          (MhfAgentService       *self);
void        mhf_agent_service_call            (MhfAgentService       *self,
                                               GDBusMethodInvocation *invocation,
                                               MhfCallWorker          worker,
                                               MhfCallDone            done,
                                               gpointer               data,
                                               GDestroyNotify         data_free);
gboolean    mhf_call_audit                    (MhfCall               *call,
                                               sqlite3               *db,
                                               gint64                 clinic_id,
                                               const char            *action,
                                               const char            *target,
                                               const char            *summary,
                                               GError               **error);
MhfSession *mhf_agent_service_get_session     (MhfAgentService       *self,
                                               const char            *sender);
MhfSession *mhf_agent_service_begin_session   (MhfAgentService       *self,
                                               const char            *sender,
                                               gint64                 user_id,
                                               const char            *username,
                                               const char            *display_name,
                                               GHashTable            *roles);
void        mhf_agent_service_end_session     (MhfAgentService       *self,
                                               const char            *sender,
                                               const char            *reason);
void        mhf_agent_service_end_user_sessions (MhfAgentService     *self,
                                                 gint64               user_id,
                                                 const char          *except_sender,
                                                 const char          *reason);
MhfRole     mhf_session_get_role              (MhfSession            *session,
                                               gint64                 clinic_id);
GVariant   *mhf_session_dup_roles_variant     (MhfSession            *session);
GHashTable *mhf_roles_new                     (void);
void        mhf_roles_set                     (GHashTable            *roles,
                                               gint64                 clinic_id,
                                               MhfRole                role);
GVariant   *mhf_agent_service_dup_whoami      (MhfAgentService       *self,
                                               const char            *sender);
void        mhf_agent_service_load_settings   (MhfAgentService       *self);
void        mhf_agent_service_purge_now       (MhfAgentService       *self);
gboolean    mhf_agent_service_check_name      (const char            *what,
                                               const char            *value,
                                               guint                  max_chars,
                                               GError               **error);

void        mhf_agent_service_refresh_configured (MhfAgentService    *self);
void        mhf_agent_service_refresh_reference (MhfAgentService     *self,
                                                 gint64               clinic_id,
                                                 const char          *key);
void        mhf_agent_service_schedule_reference_refresh (MhfAgentService *self);
void        mhf_agent_service_record_cliniko_problem (MhfAgentService *self,
                                                      gint64           clinic_id,
                                                      const char      *fingerprint,
                                                      const char      *path,
                                                      const GError    *error);
struct _MhfClinikoClient *mhf_agent_service_new_cliniko_client (MhfAgentService *self,
                                                                const char      *base_url,
                                                                const char      *key,
                                                                const char      *fingerprint);
void        mhf_agent_service_sessions_init   (MhfAgentService       *self);
void        mhf_agent_service_reschedule_sessions (MhfAgentService   *self);
void        mhf_agent_service_touch_session   (MhfAgentService       *self,
                                               MhfSession            *session);

void        mhf_agent_service_scan_clinic     (MhfAgentService       *self,
                                               gint64                 clinic_id,
                                               GDBusMethodInvocation *invocation,
                                               const char            *actor);
void        mhf_agent_service_schedule_scans  (MhfAgentService       *self,
                                               gint64                 clinic_id);
void        mhf_agent_service_stop_scans      (MhfAgentService       *self);
void        mhf_agent_service_stop_clinic_scans (MhfAgentService     *self,
                                                 gint64               clinic_id);
void        mhf_agent_service_get_scan_times  (MhfAgentService       *self,
                                               gint64                 clinic_id,
                                               gint64                *last_at,
                                               gboolean              *last_ok,
                                               gint64                *next_at);
void        mhf_agent_service_outbox_start    (MhfAgentService       *self);
void        mhf_agent_service_outbox_stop     (MhfAgentService       *self);
void        mhf_agent_service_arm_send_timer  (MhfAgentService       *self);
void        mhf_agent_service_send_due        (MhfAgentService       *self);

/* A clinic's email settings, read on the store thread. */
typedef struct
{
  MhfMailSettings *mail;
  char            *from_name;
  char            *from_address;
  char            *reply_to;       /* nullable: each business's own */
  gboolean         write_back;
  gboolean         password_set;
  char            *problem;        /* nullable: why sending is paused */
} MhfClinicEmail;

gboolean    mhf_clinic_email_load             (sqlite3               *db,
                                               gint64                 clinic_id,
                                               MhfClinicEmail        *email,
                                               GError               **error);
void        mhf_clinic_email_clear            (MhfClinicEmail        *email);

/* Handlers, by area. */
void mhf_agent_service_users_init   (MhfIpcAgent1Iface *iface);
void mhf_agent_service_clinics_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_audit_init   (MhfIpcAgent1Iface *iface);
void mhf_agent_service_cliniko_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_templates_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_rules_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_dry_run_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_scanner_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_outbox_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_email_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_history_init (MhfIpcAgent1Iface *iface);
void mhf_agent_service_licence_init (MhfIpcAgent1Iface *iface);

G_END_DECLS
