/* mhf-agent-service-users.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Users, passphrases, roles and sign-in. Roles are checked by the
 * authorization table before any handler here runs; these handlers check
 * only the rules about the data (first run, the last owner, lockouts).
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-audit.h"
#include "mhf-error.h"
#include "mhf-passphrase.h"

#include <string.h>

#define MAX_FAILURES          5
#define LOCKOUT_BASE_MINUTES  5

/* ---- helpers (worker thread) ------------------------------------------------------ */

static gboolean
check_username (const char  *username,
                GError     **error)
{
  gsize len = username != NULL ? strlen (username) : 0;

  if (len == 0 || len > 64)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "username: 1 to 64 characters are needed");
      return FALSE;
    }

  for (gsize i = 0; i < len; i++)
    {
      char c = username[i];

      if (!g_ascii_isalnum (c) && c != '.' && c != '_' && c != '-')
        {
          g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                               "username: only letters, digits, “.”, “_” and “-” are allowed");
          return FALSE;
        }
    }

  return TRUE;
}

typedef struct
{
  gint64  id;
  char   *username;
  char   *display_name;
  char   *hash;
  gint64  failed_attempts;
  gint64  lockouts;
  gint64  locked_until;
} UserRow;

static void
user_row_free (UserRow *row)
{
  if (row == NULL)
    return;
  g_free (row->username);
  g_free (row->display_name);
  g_free (row->hash);
  g_free (row);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (UserRow, user_row_free)

static gboolean
find_user (sqlite3     *db,
           const char  *username,
           UserRow    **out,
           GError     **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  UserRow *row;
  int rc;

  *out = NULL;
  rc = sqlite3_prepare_v2 (db,
                           "SELECT id, username, display_name, passphrase_hash, failed_attempts,"
                           "       lockouts, locked_until FROM users WHERE username = ?1",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading users");
      return FALSE;
    }
  sqlite3_bind_text (stmt, 1, username, -1, SQLITE_TRANSIENT);

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    {
      mhf_store_set_error (error, db, rc, "Reading users");
      return FALSE;
    }

  row = g_new0 (UserRow, 1);
  row->id = sqlite3_column_int64 (stmt, 0);
  row->username = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  row->display_name = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  row->hash = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
  row->failed_attempts = sqlite3_column_int64 (stmt, 4);
  row->lockouts = sqlite3_column_int64 (stmt, 5);
  row->locked_until = sqlite3_column_int64 (stmt, 6);
  *out = row;
  return TRUE;
}

static GHashTable *
load_roles (sqlite3  *db,
            gint64    user_id,
            GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GHashTable) roles = mhf_roles_new ();
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT clinic_id, role FROM user_roles WHERE user_id = ?1",
                           -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading roles");
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, user_id);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    mhf_roles_set (roles, sqlite3_column_int64 (stmt, 0),
                   mhf_role_from_string ((const char *) sqlite3_column_text (stmt, 1)));

  if (rc != SQLITE_DONE)
    {
      mhf_store_set_error (error, db, rc, "Reading roles");
      return NULL;
    }

  return g_steal_pointer (&roles);
}

static GVariant *
roles_to_variant (GHashTable *roles)
{
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer key, value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{xs}"));
  g_hash_table_iter_init (&iter, roles);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_variant_builder_add (&builder, "{xs}", *(gint64 *) key,
                           mhf_role_to_string (GPOINTER_TO_INT (value)));
  return g_variant_builder_end (&builder);
}

/* ---- a signed-in session from a worker result ------------------------------------- */

typedef struct
{
  gint64      user_id;
  char       *username;
  char       *display_name;
  GHashTable *roles;
} SignedIn;

static void
signed_in_free (gpointer data)
{
  SignedIn *si = data;

  g_free (si->username);
  g_free (si->display_name);
  g_clear_pointer (&si->roles, g_hash_table_unref);
  g_free (si);
}

static void
begin_session_done (MhfCall *call)
{
  SignedIn *si = call->data;
  const char *sender = g_dbus_method_invocation_get_sender (call->invocation);
  g_autoptr(GVariant) whoami = NULL;

  mhf_agent_service_begin_session (call->self, sender, si->user_id, si->username,
                                   si->display_name, si->roles);

  if (g_str_equal (g_dbus_method_invocation_get_method_name (call->invocation), "SignIn"))
    {
      whoami = mhf_agent_service_dup_whoami (call->self, sender);
      call->reply = g_variant_ref_sink (g_variant_new ("(@a{sv})", whoami));
    }
}

/* ---- CreateOwner --------------------------------------------------------------------- */

static gboolean
create_owner_worker (MhfCall  *call,
                     sqlite3  *db,
                     GError  **error)
{
  SignedIn *si = call->data;
  const char *passphrase = NULL;
  g_autofree char *hash = NULL;
  g_autofree char *summary = NULL;
  gint64 n_users = 0;

  g_variant_get (call->params, "(&s&s&s)", NULL, NULL, &passphrase);

  if (!mhf_store_query_int64 (db, "SELECT count(*) FROM users", &n_users, error, ""))
    return FALSE;
  if (n_users > 0)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                           "An owner exists already; ask them to add you");
      return FALSE;
    }

  hash = mhf_passphrase_hash (passphrase, error);
  if (hash == NULL)
    return FALSE;

  if (!mhf_store_exec_bound (db, "INSERT INTO users (username, display_name, passphrase_hash, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)", error,
                   "sssx", si->username, si->display_name, hash, call->now))
    return FALSE;
  si->user_id = sqlite3_last_insert_rowid (db);

  if (!mhf_store_exec_bound (db, "INSERT INTO user_roles (user_id, clinic_id, role) VALUES (?1, 0, 'owner')",
                   error, "x", si->user_id))
    return FALSE;

  si->roles = mhf_roles_new ();
  mhf_roles_set (si->roles, 0, MHF_ROLE_OWNER);

  g_free (call->actor);
  call->actor = g_strdup (si->username);
  summary = g_strdup_printf ("first owner “%s” created, owner of every clinic", si->display_name);
  return mhf_call_audit (call, db, 0, "user.create-owner", si->username, summary, error);
}

static void
create_owner_done (MhfCall *call)
{
  call->self->n_users = 1;
  begin_session_done (call);
}

static gboolean
handle_create_owner (MhfIpcAgent1          *object,
                     GDBusMethodInvocation *invocation,
                     const char            *username,
                     const char            *display_name,
                     const char            *passphrase)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  g_autoptr(GError) error = NULL;
  SignedIn *si;

  if (self->n_users > 0)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                                     "An owner exists already; ask them to add you");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (!check_username (username, &error) ||
      !mhf_agent_service_check_name ("display_name", display_name, 128, &error) ||
      !mhf_passphrase_validate (passphrase, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  si = g_new0 (SignedIn, 1);
  si->username = g_strdup (username);
  si->display_name = g_strdup (display_name);
  mhf_agent_service_call (self, invocation, create_owner_worker, create_owner_done,
                          si, signed_in_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- SignIn ------------------------------------------------------------------------------ */

/* Failures for names that do not exist, kept like real users' so that the
 * replies tell nobody which names exist. Only touched on the worker thread. */
typedef struct
{
  gint64 failed_attempts;
  gint64 lockouts;
  gint64 locked_until;
} Failures;

static GHashTable *unknown_failures;

static gint64
lockout_duration (MhfCall *call,
                  gint64   lockouts)
{
  /* 5 minutes, doubling with each lockout in a row, capped at a day. */
  gint64 minutes = LOCKOUT_BASE_MINUTES << MIN (lockouts - 1, 8);

  return MIN (minutes, 24 * 60) * call->self->minute_usec;
}

static void
set_locked_error (MhfCall *call,
                  gint64   locked_until)
{
  gint64 minutes = (locked_until - call->now + call->self->minute_usec - 1) / call->self->minute_usec;

  g_clear_error (&call->reply_error);
  call->reply_error = g_error_new (MHF_ERROR, MHF_ERROR_SIGN_IN_LOCKED,
                                   "Too many failed sign-ins; try again in %" G_GINT64_FORMAT
                                   " minute(s)", MAX (minutes, 1));
}

static gboolean
sign_in_worker (MhfCall  *call,
                sqlite3  *db,
                GError  **error)
{
  SignedIn *si = call->data;
  g_autoptr(UserRow) user = NULL;
  const char *passphrase = NULL;
  Failures unknown = { 0 };
  Failures *f;
  gboolean ok;

  g_variant_get (call->params, "(&s&s)", NULL, &passphrase);

  if (!find_user (db, si->username, &user, error))
    return FALSE;

  if (user != NULL)
    {
      unknown.failed_attempts = user->failed_attempts;
      unknown.lockouts = user->lockouts;
      unknown.locked_until = user->locked_until;
      f = &unknown;
    }
  else
    {
      if (unknown_failures == NULL)
        unknown_failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      f = g_hash_table_lookup (unknown_failures, si->username);
      if (f == NULL)
        {
          f = g_new0 (Failures, 1);
          g_hash_table_insert (unknown_failures, g_strdup (si->username), f);
        }
    }

  if (f->locked_until > call->now)
    {
      set_locked_error (call, f->locked_until);
      return TRUE;
    }

  if (user != NULL)
    ok = mhf_passphrase_verify (user->hash, passphrase);
  else
    {
      mhf_passphrase_verify_dummy (passphrase);
      ok = FALSE;
    }

  if (ok)
    {
      if (!mhf_store_exec_bound (db, "UPDATE users SET failed_attempts = 0, lockouts = 0, locked_until = 0"
                           " WHERE id = ?1", error, "x", user->id))
        return FALSE;

      si->user_id = user->id;
      g_free (si->display_name);
      si->display_name = g_strdup (user->display_name);
      si->roles = load_roles (db, user->id, error);
      if (si->roles == NULL)
        return FALSE;

      g_free (call->actor);
      call->actor = g_strdup (user->username);
      return mhf_call_audit (call, db, 0, "session.sign-in", user->username, "signed in", error);
    }

  f->failed_attempts++;
  call->reply_error = g_error_new_literal (MHF_ERROR, MHF_ERROR_SIGN_IN_FAILED,
                                           "The username or passphrase is not right");

  /* Audit without the name typed when it is no user's: it may well be a
   * passphrase typed into the wrong field. */
  if (!mhf_call_audit (call, db, 0, "session.sign-in-failed",
              user != NULL ? user->username : "(unknown user)",
              "wrong username or passphrase", error))
    return FALSE;

  if (f->failed_attempts >= MAX_FAILURES)
    {
      g_autofree char *summary = NULL;

      f->lockouts++;
      f->failed_attempts = 0;
      f->locked_until = call->now + lockout_duration (call, f->lockouts);
      summary = g_strdup_printf ("locked for %" G_GINT64_FORMAT " minute(s) after %d failures "
                                 "(lockout %" G_GINT64_FORMAT ")",
                                 lockout_duration (call, f->lockouts) / call->self->minute_usec,
                                 MAX_FAILURES, f->lockouts);
      if (!mhf_call_audit (call, db, 0, "session.lockout",
                  user != NULL ? user->username : "(unknown user)", summary, error))
        return FALSE;
    }

  if (user != NULL &&
      !mhf_store_exec_bound (db, "UPDATE users SET failed_attempts = ?1, lockouts = ?2, locked_until = ?3"
                       " WHERE id = ?4", error,
                   "xxxx", f->failed_attempts, f->lockouts, f->locked_until, user->id))
    return FALSE;

  return TRUE;
}

static gboolean
handle_sign_in (MhfIpcAgent1          *object,
                GDBusMethodInvocation *invocation,
                const char            *username,
                const char            *passphrase)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  SignedIn *si;

  /* A malformed name gets the same reply as a wrong passphrase. */
  si = g_new0 (SignedIn, 1);
  si->username = g_strdup (username);
  mhf_agent_service_call (self, invocation, sign_in_worker, begin_session_done,
                          si, signed_in_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_sign_out (MhfIpcAgent1          *object,
                 GDBusMethodInvocation *invocation)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);

  mhf_agent_service_end_session (self, g_dbus_method_invocation_get_sender (invocation),
                                 "signed-out");
  mhf_ipc_agent1_complete_sign_out (object, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ChangePassphrase / ResetPassphrase -------------------------------------------------------- */

static gboolean
change_passphrase_worker (MhfCall  *call,
                          sqlite3  *db,
                          GError  **error)
{
  g_autoptr(UserRow) user = NULL;
  g_autofree char *hash = NULL;
  const char *old_passphrase = NULL;
  const char *new_passphrase = NULL;

  g_variant_get (call->params, "(&s&s)", &old_passphrase, &new_passphrase);

  if (!find_user (db, call->actor, &user, error))
    return FALSE;
  if (user == NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_FOUND, "Your user no longer exists");
      return FALSE;
    }

  if (!mhf_passphrase_verify (user->hash, old_passphrase))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_SIGN_IN_FAILED,
                           "The current passphrase is not right");
      return FALSE;
    }

  hash = mhf_passphrase_hash (new_passphrase, error);
  if (hash == NULL)
    return FALSE;

  if (!mhf_store_exec_bound (db, "UPDATE users SET passphrase_hash = ?1 WHERE id = ?2", error,
                   "sx", hash, user->id))
    return FALSE;

  return mhf_call_audit (call, db, 0, "user.change-passphrase", user->username,
                "passphrase changed by the user", error);
}

static gboolean
handle_change_passphrase (MhfIpcAgent1          *object,
                          GDBusMethodInvocation *invocation,
                          const char            *old_passphrase,
                          const char            *new_passphrase)
{
  g_autoptr(GError) error = NULL;

  if (!mhf_passphrase_validate (new_passphrase, &error))
    {
      g_prefix_error (&error, "new_");
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, change_passphrase_worker,
                          NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct
{
  gint64 user_id;
} Target;

static gboolean
reset_passphrase_worker (MhfCall  *call,
                         sqlite3  *db,
                         GError  **error)
{
  Target *target = call->data;
  g_autoptr(UserRow) user = NULL;
  g_autofree char *hash = NULL;
  const char *username = NULL;
  const char *new_passphrase = NULL;

  g_variant_get (call->params, "(&s&s)", &username, &new_passphrase);

  if (!find_user (db, username, &user, error))
    return FALSE;
  if (user == NULL)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND, "No user is called “%s”", username);
      return FALSE;
    }

  hash = mhf_passphrase_hash (new_passphrase, error);
  if (hash == NULL)
    return FALSE;

  if (!mhf_store_exec_bound (db, "UPDATE users SET passphrase_hash = ?1, failed_attempts = 0, lockouts = 0,"
                       " locked_until = 0 WHERE id = ?2", error, "sx", hash, user->id))
    return FALSE;

  target->user_id = user->id;
  return mhf_call_audit (call, db, 0, "user.reset-passphrase", user->username,
                "passphrase reset by an owner; lockout cleared", error);
}

static void
reset_passphrase_done (MhfCall *call)
{
  Target *target = call->data;

  mhf_agent_service_end_user_sessions (call->self, target->user_id,
                                       g_dbus_method_invocation_get_sender (call->invocation),
                                       "passphrase-reset");
}

static gboolean
handle_reset_passphrase (MhfIpcAgent1          *object,
                         GDBusMethodInvocation *invocation,
                         const char            *username,
                         const char            *new_passphrase)
{
  g_autoptr(GError) error = NULL;

  if (!check_username (username, &error) || !mhf_passphrase_validate (new_passphrase, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, reset_passphrase_worker,
                          reset_passphrase_done, g_new0 (Target, 1), g_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ListUsers / AddUser / RemoveUser ------------------------------------------------------- */

static gboolean
list_users_worker (MhfCall  *call,
                   sqlite3  *db,
                   GError  **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  GVariantBuilder users;
  int rc;

  rc = sqlite3_prepare_v2 (db, "SELECT id, username, display_name, locked_until FROM users"
                               " ORDER BY username", -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      mhf_store_set_error (error, db, rc, "Reading users");
      return FALSE;
    }

  g_variant_builder_init (&users, G_VARIANT_TYPE ("aa{sv}"));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(GHashTable) roles = NULL;
      GVariantDict dict;
      gint64 locked_until = sqlite3_column_int64 (stmt, 3);

      roles = load_roles (db, sqlite3_column_int64 (stmt, 0), error);
      if (roles == NULL)
        {
          g_variant_builder_clear (&users);
          return FALSE;
        }

      g_variant_dict_init (&dict, NULL);
      g_variant_dict_insert (&dict, "username", "s", sqlite3_column_text (stmt, 1));
      g_variant_dict_insert (&dict, "display-name", "s", sqlite3_column_text (stmt, 2));
      g_variant_dict_insert_value (&dict, "roles", roles_to_variant (roles));
      g_variant_dict_insert (&dict, "locked-until", "x",
                             locked_until > call->now ? locked_until : (gint64) 0);
      g_variant_builder_add_value (&users, g_variant_dict_end (&dict));
    }

  if (rc != SQLITE_DONE)
    {
      g_variant_builder_clear (&users);
      mhf_store_set_error (error, db, rc, "Reading users");
      return FALSE;
    }

  call->reply = g_variant_ref_sink (g_variant_new ("(aa{sv})", &users));
  return TRUE;
}

static gboolean
handle_list_users (MhfIpcAgent1          *object,
                   GDBusMethodInvocation *invocation)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, list_users_worker,
                          NULL, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
add_user_worker (MhfCall  *call,
                 sqlite3  *db,
                 GError  **error)
{
  g_autoptr(UserRow) existing = NULL;
  g_autofree char *hash = NULL;
  g_autofree char *summary = NULL;
  const char *username = NULL;
  const char *display_name = NULL;
  const char *passphrase = NULL;

  g_variant_get (call->params, "(&s&s&s)", &username, &display_name, &passphrase);

  if (!find_user (db, username, &existing, error))
    return FALSE;
  if (existing != NULL)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "username: “%s” is taken already", username);
      return FALSE;
    }

  hash = mhf_passphrase_hash (passphrase, error);
  if (hash == NULL)
    return FALSE;

  if (!mhf_store_exec_bound (db, "INSERT INTO users (username, display_name, passphrase_hash, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)", error,
                   "sssx", username, display_name, hash, call->now))
    return FALSE;

  summary = g_strdup_printf ("user added, display name “%s”, no role yet", display_name);
  return mhf_call_audit (call, db, 0, "user.add", username, summary, error);
}

static void
add_user_done (MhfCall *call)
{
  call->self->n_users++;
}

static gboolean
handle_add_user (MhfIpcAgent1          *object,
                 GDBusMethodInvocation *invocation,
                 const char            *username,
                 const char            *display_name,
                 const char            *passphrase)
{
  g_autoptr(GError) error = NULL;

  if (!check_username (username, &error) ||
      !mhf_agent_service_check_name ("display_name", display_name, 128, &error) ||
      !mhf_passphrase_validate (passphrase, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, add_user_worker,
                          add_user_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
is_last_owner (sqlite3     *db,
               gint64       user_id,
               gboolean    *last,
               GError     **error)
{
  gint64 is_owner = 0;
  gint64 owners = 0;

  if (!mhf_store_query_int64 (db, "SELECT count(*) FROM user_roles WHERE user_id = ?1 AND clinic_id = 0"
                        " AND role = 'owner'", &is_owner, error, "x", user_id) ||
      !mhf_store_query_int64 (db, "SELECT count(*) FROM user_roles WHERE clinic_id = 0 AND role = 'owner'",
                    &owners, error, ""))
    return FALSE;

  *last = is_owner > 0 && owners <= 1;
  return TRUE;
}

static gboolean
remove_user_worker (MhfCall  *call,
                    sqlite3  *db,
                    GError  **error)
{
  Target *target = call->data;
  g_autoptr(UserRow) user = NULL;
  const char *username = NULL;
  gboolean last = FALSE;

  g_variant_get (call->params, "(&s)", &username);

  if (!find_user (db, username, &user, error))
    return FALSE;
  if (user == NULL)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND, "No user is called “%s”", username);
      return FALSE;
    }

  if (!is_last_owner (db, user->id, &last, error))
    return FALSE;
  if (last)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                           "The last owner of every clinic cannot be removed; make another user "
                           "an owner first");
      return FALSE;
    }

  if (!mhf_store_exec_bound (db, "DELETE FROM users WHERE id = ?1", error, "x", user->id))
    return FALSE;

  target->user_id = user->id;
  return mhf_call_audit (call, db, 0, "user.remove", user->username, "user removed with all roles", error);
}

static void
remove_user_done (MhfCall *call)
{
  Target *target = call->data;

  call->self->n_users = MAX (call->self->n_users - 1, 0);
  mhf_agent_service_end_user_sessions (call->self, target->user_id, NULL, "user-removed");
}

static gboolean
handle_remove_user (MhfIpcAgent1          *object,
                    GDBusMethodInvocation *invocation,
                    const char            *username)
{
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, remove_user_worker,
                          remove_user_done, g_new0 (Target, 1), g_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- SetRole ------------------------------------------------------------------------------------ */

typedef struct
{
  gint64  user_id;
  gint64  clinic_id;
  MhfRole role;
} RoleChange;

static gboolean
set_role_worker (MhfCall  *call,
                 sqlite3  *db,
                 GError  **error)
{
  RoleChange *change = call->data;
  g_autoptr(UserRow) user = NULL;
  g_autoptr(GHashTable) roles = NULL;
  g_autofree char *summary = NULL;
  const char *username = NULL;
  const char *role = NULL;
  gint64 clinic_id = 0;
  gint64 exists = 0;
  MhfRole old_role;
  gboolean last = FALSE;

  g_variant_get (call->params, "(&sx&s)", &username, &clinic_id, &role);

  if (!find_user (db, username, &user, error))
    return FALSE;
  if (user == NULL)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND, "No user is called “%s”", username);
      return FALSE;
    }

  if (clinic_id > 0)
    {
      if (!mhf_store_query_int64 (db, "SELECT count(*) FROM clinics WHERE id = ?1", &exists, error,
                        "x", clinic_id))
        return FALSE;
      if (exists == 0)
        {
          g_set_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND,
                       "No clinic has the id %" G_GINT64_FORMAT, clinic_id);
          return FALSE;
        }
    }

  roles = load_roles (db, user->id, error);
  if (roles == NULL)
    return FALSE;
  old_role = GPOINTER_TO_INT (g_hash_table_lookup (roles, &clinic_id));

  if (clinic_id == 0 && old_role == MHF_ROLE_OWNER && change->role != MHF_ROLE_OWNER)
    {
      if (!is_last_owner (db, user->id, &last, error))
        return FALSE;
      if (last)
        {
          g_set_error_literal (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                               "The last owner of every clinic cannot be demoted; make another "
                               "user an owner first");
          return FALSE;
        }
    }

  if (change->role == MHF_ROLE_NONE)
    {
      if (!mhf_store_exec_bound (db, "DELETE FROM user_roles WHERE user_id = ?1 AND clinic_id = ?2", error,
                       "xx", user->id, clinic_id))
        return FALSE;
    }
  else if (!mhf_store_exec_bound (db, "INSERT INTO user_roles (user_id, clinic_id, role) VALUES (?1, ?2, ?3)"
                            " ON CONFLICT (user_id, clinic_id) DO UPDATE SET role = excluded.role",
                        error, "xxs", user->id, clinic_id, mhf_role_to_string (change->role)))
    return FALSE;

  change->user_id = user->id;
  change->clinic_id = clinic_id;

  summary = g_strdup_printf ("role on %s: %s → %s",
                             clinic_id == 0 ? "every clinic" : "this clinic",
                             old_role == MHF_ROLE_NONE ? "none" : mhf_role_to_string (old_role),
                             change->role == MHF_ROLE_NONE ? "none" : mhf_role_to_string (change->role));
  return mhf_call_audit (call, db, clinic_id, "user.role", user->username, summary, error);
}

static void
set_role_done (MhfCall *call)
{
  RoleChange *change = call->data;
  GHashTableIter iter;
  MhfSession *session;

  /* Live sessions of that user get the new role at once. */
  g_hash_table_iter_init (&iter, call->self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session))
    {
      if (session->user_id == change->user_id)
        mhf_roles_set (session->roles, change->clinic_id, change->role);
    }
}

static gboolean
handle_set_role (MhfIpcAgent1          *object,
                 GDBusMethodInvocation *invocation,
                 const char            *username,
                 gint64                 clinic,
                 const char            *role)
{
  RoleChange *change;

  if (clinic < 0)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                                     "clinic: a clinic id, or 0 for every clinic");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (*role != '\0' && mhf_role_from_string (role) == MHF_ROLE_NONE)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                                     "role: “owner”, “manager”, “staff” or “”");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  change = g_new0 (RoleChange, 1);
  change->role = mhf_role_from_string (role);
  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, set_role_worker,
                          set_role_done, change, g_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- SetIdleTimeout ---------------------------------------------------------------------------- */

static gboolean
set_idle_timeout_worker (MhfCall  *call,
                         sqlite3  *db,
                         GError  **error)
{
  g_autofree char *value = NULL;
  g_autofree char *summary = NULL;
  gint64 old_minutes = 15;
  guint32 minutes = 0;

  g_variant_get (call->params, "(u)", &minutes);

  if (!mhf_store_query_int64 (db, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM settings"
                        " WHERE key = 'idle-timeout-minutes'), 15)", &old_minutes, error, ""))
    return FALSE;

  value = g_strdup_printf ("%u", minutes);
  if (!mhf_store_exec_bound (db, "INSERT INTO settings (key, value) VALUES ('idle-timeout-minutes', ?1)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value", error,
                   "s", value))
    return FALSE;

  summary = g_strdup_printf ("idle timeout: %" G_GINT64_FORMAT " → %u minutes", old_minutes, minutes);
  return mhf_call_audit (call, db, 0, "settings.idle-timeout", "idle-timeout", summary, error);
}

static void
set_idle_timeout_done (MhfCall *call)
{
  guint32 minutes = 0;

  g_variant_get (call->params, "(u)", &minutes);
  call->self->idle_timeout_minutes = minutes;
  mhf_agent_service_reschedule_sessions (call->self);
}

static gboolean
handle_set_idle_timeout (MhfIpcAgent1          *object,
                         GDBusMethodInvocation *invocation,
                         guint                  minutes)
{
  if (minutes < 1 || minutes > 480)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                                     "minutes: 1 to 480");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  mhf_agent_service_call (MHF_AGENT_SERVICE (object), invocation, set_idle_timeout_worker,
                          set_idle_timeout_done, NULL, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_users_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_create_owner = handle_create_owner;
  iface->handle_sign_in = handle_sign_in;
  iface->handle_sign_out = handle_sign_out;
  iface->handle_change_passphrase = handle_change_passphrase;
  iface->handle_reset_passphrase = handle_reset_passphrase;
  iface->handle_list_users = handle_list_users;
  iface->handle_add_user = handle_add_user;
  iface->handle_remove_user = handle_remove_user;
  iface->handle_set_role = handle_set_role;
  iface->handle_set_idle_timeout = handle_set_idle_timeout;
}
