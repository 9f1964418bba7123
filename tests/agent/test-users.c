/* test-users.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Users, roles, sessions and the audit log, through the real agent on a
 * private bus with a real keyring. Each "client" is its own bus
 * connection, as separate app windows or CLI runs would be.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "mhf-error.h"
#include "mhf-ipc-agent.h"
#include "mhf-store.h"
#include "mhf-test-bus.h"

#define WAIT_MS    30000
#define OWNER_PASS "correct horse battery"
#define OTHER_PASS "staple orange violin"
#define INTERFACE  "com.myhealthfollowup.MyHealthFollowup.Agent1"

typedef struct
{
  GDBusConnection *connection;
  MhfIpcAgent1    *proxy;
} Client;

static Client *
client_new (MhfTestBus *bus)
{
  g_autoptr(GError) error = NULL;
  Client *client = g_new0 (Client, 1);

  client->connection =
    g_dbus_connection_new_for_address_sync (mhf_test_bus_get_address (bus),
                                            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                            NULL, NULL, &error);
  g_assert_no_error (error);
  client->proxy = mhf_ipc_agent1_proxy_new_sync (client->connection,
                                                 G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                 AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (client->proxy), 60000);
  return client;
}

static void
client_free (Client *client)
{
  if (client == NULL)
    return;
  g_clear_object (&client->proxy);
  if (client->connection != NULL)
    g_dbus_connection_close_sync (client->connection, NULL, NULL);
  g_clear_object (&client->connection);
  g_free (client);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

static void
sign_in (Client     *client,
         const char *username,
         const char *passphrase)
{
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  gboolean signed_in = FALSE;

  mhf_ipc_agent1_call_sign_in_sync (client->proxy, username, passphrase, &session, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (session, "signed-in", "b", &signed_in));
  g_assert_true (signed_in);
}

/* Evaluates the call before looking at the caller's "error". */
#define call_ok(call, err) \
  G_STMT_START { \
    gboolean ok_ = (call); \
    g_assert_no_error (err); \
    g_assert_true (ok_); \
  } G_STMT_END

/* An agent with an owner "olivia" signed in on @owner, and a clinic. */
static MhfTestBus *
setup_owner_full (Client             **owner,
                  gint64              *clinic,
                  const char * const  *agent_env)
{
  MhfTestBus *bus = mhf_test_bus_new_full (MHF_TEST_BUS_KEYRING, agent_env);
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);

  *owner = client_new (bus);
  call_ok (mhf_ipc_agent1_call_create_owner_sync ((*owner)->proxy, "olivia", "Olivia Owner",
                                                  OWNER_PASS, NULL, &error), error);
  if (clinic != NULL)
    call_ok (mhf_ipc_agent1_call_add_clinic_sync ((*owner)->proxy, "Harbour Physio", clinic,
                                                  NULL, &error), error);
  return bus;
}

static MhfTestBus *
setup_owner (Client  **owner,
             gint64   *clinic)
{
  return setup_owner_full (owner, clinic, NULL);
}

/* One agent "minute" is a second (MHF_AGENT_MINUTE_SECONDS), so tests
 * need not wait for real minutes. */
static const char * const fast_minutes[] = { "MHF_AGENT_MINUTE_SECONDS=1", NULL };

static void
add_user (Client     *owner,
          const char *username,
          gint64      clinic,
          const char *role)
{
  g_autoptr(GError) error = NULL;

  call_ok (mhf_ipc_agent1_call_add_user_sync (owner->proxy, username, username, OTHER_PASS,
                                              NULL, &error), error);
  if (role != NULL)
    call_ok (mhf_ipc_agent1_call_set_role_sync (owner->proxy, username, clinic, role,
                                                NULL, &error), error);
}

/* ---- the role matrix ------------------------------------------------------------------- */

typedef enum { SIGNED_OUT, STAFF, MANAGER, CLINIC_OWNER, OWNER, N_CALLERS } Caller;

static const char * const caller_names[] = { "signed-out", "staff", "manager",
                                             "clinic-owner", "owner" };

/* The specification, written independently of the agent's table: the
 * lowest caller allowed, where the callers are ordered as above. A method
 * the agent exports that is missing here fails the test. */
static const struct { const char *method; Caller lowest; } expected[] = {
  { "GetStatus", SIGNED_OUT },
  { "WhoAmI", SIGNED_OUT },
  { "SignIn", SIGNED_OUT },
  { "CreateOwner", SIGNED_OUT },
  { "ResetDatabase", SIGNED_OUT },
  { "SignOut", STAFF },
  { "ChangePassphrase", STAFF },
  { "ListClinics", STAFF },
  { "ListAudit", MANAGER },
  { "VerifyAudit", MANAGER },
  { "RemoveClinic", CLINIC_OWNER },
  { "SetRetention", CLINIC_OWNER },
  { "SetClinikoBaseUrl", CLINIC_OWNER },
  { "SetClinikoKey", CLINIC_OWNER },
  { "RemoveClinikoKey", CLINIC_OWNER },
  { "GetClinikoStatus", STAFF },
  { "ListReference", MANAGER },
  { "ListTemplates", MANAGER },
  { "AddTemplate", MANAGER },
  { "UpdateTemplate", MANAGER },
  { "DeleteTemplate", MANAGER },
  { "PreviewTemplate", MANAGER },
  { "ListRules", MANAGER },
  { "AddRule", MANAGER },
  { "UpdateRule", MANAGER },
  { "DeleteRule", MANAGER },
  { "SetRuleEnabled", MANAGER },
  { "DryRunRule", MANAGER },
  { "ScanNow", STAFF },
  { "SetScanInterval", MANAGER },
  { "ListOutbox", STAFF },
  { "CancelMessage", STAFF },
  { "RetryMessage", MANAGER },
  { "SetEmailSettings", MANAGER },
  { "GetEmailSettings", MANAGER },
  { "SendTestEmail", MANAGER },
  { "ListHistory", STAFF },
  { "ExportHistory", CLINIC_OWNER },
  { "GetDailyCounts", STAFF },
  { "ListUsers", OWNER },
  { "AddUser", OWNER },
  { "RemoveUser", OWNER },
  { "SetRole", OWNER },
  { "ResetPassphrase", OWNER },
  { "SetIdleTimeout", OWNER },
  { "AddClinic", OWNER },
  { "SetLicence", OWNER },
};

static Caller
expected_lowest (const char *method)
{
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      if (g_str_equal (expected[i].method, method))
        return expected[i].lowest;
    }

  g_test_message ("%s is exported by the agent but has no expected role in this test", method);
  g_test_fail ();
  return N_CALLERS;
}

/* Harmless arguments for any signature: empty strings and zeros, and the
 * given clinic for arguments named "clinic". */
static GVariant *
dummy_args (GDBusMethodInfo *info,
            gint64           clinic)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_TUPLE);
  for (guint i = 0; info->in_args != NULL && info->in_args[i] != NULL; i++)
    {
      GDBusArgInfo *arg = info->in_args[i];
      const GVariantType *type = G_VARIANT_TYPE (arg->signature);

      if (g_str_equal (arg->name, "clinic"))
        g_variant_builder_add (&builder, "x", clinic);
      else if (g_variant_type_equal (type, G_VARIANT_TYPE_STRING))
        g_variant_builder_add (&builder, "s", "");
      else if (g_variant_type_equal (type, G_VARIANT_TYPE_INT64))
        g_variant_builder_add (&builder, "x", (gint64) 0);
      else if (g_variant_type_equal (type, G_VARIANT_TYPE_UINT32))
        g_variant_builder_add (&builder, "u", (guint32) 0);
      else if (g_variant_type_equal (type, G_VARIANT_TYPE_BOOLEAN))
        g_variant_builder_add (&builder, "b", FALSE);
      else
        g_variant_builder_add_value (&builder, g_variant_new_from_data (type, NULL, 0, FALSE,
                                                                        NULL, NULL));
    }
  return g_variant_builder_end (&builder);
}

static void
test_role_matrix (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, NULL);
  g_autoptr(GVariant) xml_reply = NULL;
  g_autoptr(GDBusNodeInfo) node = NULL;
  g_autoptr(GError) error = NULL;
  GDBusInterfaceInfo *iface;
  const char *xml = NULL;
  const char *users[N_CALLERS] = { NULL, "sam", "maria", "carl", "olivia" };
  guint checked = 0;

  add_user (owner, "sam", 0, NULL);
  add_user (owner, "maria", 0, NULL);
  add_user (owner, "carl", 0, NULL);

  /* What the agent really exports, not what this test thinks it does. */
  xml_reply = g_dbus_connection_call_sync (owner->connection, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                           "org.freedesktop.DBus.Introspectable", "Introspect",
                                           NULL, G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE,
                                           -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (xml_reply, "(&s)", &xml);
  node = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  iface = g_dbus_node_info_lookup_interface (node, INTERFACE);
  g_assert_nonnull (iface);

  for (guint m = 0; iface->methods[m] != NULL; m++)
    {
      GDBusMethodInfo *method = iface->methods[m];
      Caller lowest = expected_lowest (method->name);

      for (Caller caller = SIGNED_OUT; caller < N_CALLERS; caller++)
        {
          g_autoptr(Client) client = client_new (bus);
          g_autoptr(GVariant) reply = NULL;
          g_autoptr(GError) call_error = NULL;
          gint64 clinic = 0;
          gboolean refused;

          /* A fresh clinic for each call, with staff, manager and a clinic
           * owner on it, so that even RemoveClinic leaves the next call
           * something to act on. */
          call_ok (mhf_ipc_agent1_call_add_clinic_sync (owner->proxy, "Matrix", &clinic,
                                                        NULL, &error), error);
          call_ok (mhf_ipc_agent1_call_set_role_sync (owner->proxy, "sam", clinic, "staff",
                                                      NULL, &error), error);
          call_ok (mhf_ipc_agent1_call_set_role_sync (owner->proxy, "maria", clinic, "manager",
                                                      NULL, &error), error);
          call_ok (mhf_ipc_agent1_call_set_role_sync (owner->proxy, "carl", clinic, "owner",
                                                      NULL, &error), error);

          if (users[caller] != NULL)
            sign_in (client, users[caller], caller == OWNER ? OWNER_PASS : OTHER_PASS);

          reply = g_dbus_connection_call_sync (client->connection, AGENT_BUS_NAME,
                                               AGENT_OBJECT_PATH, INTERFACE, method->name,
                                               dummy_args (method, clinic), NULL,
                                               G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &call_error);

          refused = g_error_matches (call_error, MHF_ERROR, MHF_ERROR_NOT_SIGNED_IN) ||
                    g_error_matches (call_error, MHF_ERROR, MHF_ERROR_ACCESS_DENIED);

          if (refused != (caller < lowest))
            {
              g_test_message ("%s as %s: expected %s, got %s", method->name,
                              caller_names[caller], caller < lowest ? "refused" : "allowed",
                              call_error ? call_error->message : "a reply");
              g_test_fail ();
            }

          /* Refusals say why in the typed error: signed out is not the same
           * as a role too low. */
          if (refused && caller == SIGNED_OUT)
            g_assert_error (call_error, MHF_ERROR, MHF_ERROR_NOT_SIGNED_IN);
          else if (refused)
            g_assert_error (call_error, MHF_ERROR, MHF_ERROR_ACCESS_DENIED);

          checked++;
        }
    }

  /* Every method was found and checked for every caller. */
  g_assert_cmpuint (checked, ==, G_N_ELEMENTS (expected) * N_CALLERS);
}

/* ---- scope ---------------------------------------------------------------------------------- */

static void
test_cross_clinic_refused (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(Client) manager = NULL;
  g_autoptr(GVariant) clinics = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 mine = 0, theirs = 0, next = 0;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, &mine);

  call_ok (mhf_ipc_agent1_call_add_clinic_sync (owner->proxy, "Other Clinic", &theirs,
                                                NULL, &error), error);
  add_user (owner, "maria", mine, "manager");

  manager = client_new (bus);
  sign_in (manager, "maria", OTHER_PASS);

  /* Lists show only the caller's clinics. */
  call_ok (mhf_ipc_agent1_call_list_clinics_sync (manager->proxy, &clinics, NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (clinics), ==, 1);
  {
    g_autoptr(GVariant) first = g_variant_get_child_value (clinics, 0);
    gint64 id = 0;

    g_assert_true (g_variant_lookup (first, "id", "x", &id));
    g_assert_cmpint (id, ==, mine);
  }

  /* Naming another clinic: refused, and nothing of it comes back. */
  g_assert_false (mhf_ipc_agent1_call_list_audit_sync (manager->proxy, theirs, 0, 50, &entries,
                                                       &next, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_ACCESS_DENIED);
  g_assert_null (entries);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_verify_audit_sync (manager->proxy, theirs, &result,
                                                         NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_ACCESS_DENIED);
  g_clear_error (&error);

  /* A clinic that does not exist gets the same answer as one that does. */
  g_assert_false (mhf_ipc_agent1_call_verify_audit_sync (manager->proxy, 999, &result,
                                                         NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_ACCESS_DENIED);
  g_clear_error (&error);

  /* Their own clinic works. */
  call_ok (mhf_ipc_agent1_call_list_audit_sync (manager->proxy, mine, 0, 50, &entries, &next,
                                                NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (entries), >=, 2);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static guint32
status_sessions (MhfTestBus *bus)
{
  g_autoptr(Client) probe = client_new (bus);
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  guint32 sessions = 0;

  call_ok (mhf_ipc_agent1_call_get_status_sync (probe->proxy, &status, NULL, &error), error);
  g_assert_true (g_variant_lookup (status, "sessions", "u", &sessions));
  return sessions;
}

static void
test_session_ends_with_connection (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, NULL);
  Client *other;
  gint64 deadline;

  g_assert_cmpuint (status_sessions (bus), ==, 1);

  other = client_new (bus);
  sign_in (other, "olivia", OWNER_PASS);
  g_assert_cmpuint (status_sessions (bus), ==, 2);

  /* The app closes (or crashes): its name leaves the bus, its session ends. */
  client_free (other);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (status_sessions (bus) != 1 && g_get_monotonic_time () < deadline)
    g_usleep (50 * 1000);
  g_assert_cmpuint (status_sessions (bus), ==, 1);
}

typedef struct
{
  char *reason;
} Ended;

static void
session_ended_cb (MhfIpcAgent1 *proxy,
                  const char   *reason,
                  Ended        *ended)
{
  g_free (ended->reason);
  ended->reason = g_strdup (reason);
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
test_idle_timeout (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(Client) other = NULL;
  g_autoptr(MhfTestBus) bus = NULL;
  g_autoptr(GVariant) clinics = NULL;
  g_autoptr(GError) error = NULL;
  Ended ended = { NULL };
  gint64 deadline;
  guint tick;

  bus = setup_owner_full (&owner, NULL, fast_minutes);

  call_ok (mhf_ipc_agent1_call_set_idle_timeout_sync (owner->proxy, 2, NULL, &error), error);

  other = client_new (bus);
  g_signal_connect (other->proxy, "session-ended", G_CALLBACK (session_ended_cb), &ended);
  sign_in (other, "olivia", OWNER_PASS);

  /* Activity keeps it alive past the timeout... */
  for (int i = 0; i < 4; i++)
    {
      g_usleep (700 * 1000);
      g_clear_pointer (&clinics, g_variant_unref);
      call_ok (mhf_ipc_agent1_call_list_clinics_sync (other->proxy, &clinics, NULL, &error),
               error);
    }

  /* ...and idleness ends it, with a signal to that client alone. */
  tick = g_timeout_add (50, tick_cb, NULL);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (ended.reason == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  g_assert_cmpstr (ended.reason, ==, "idle-timeout");

  g_clear_pointer (&clinics, g_variant_unref);
  g_assert_false (mhf_ipc_agent1_call_list_clinics_sync (other->proxy, &clinics, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_SIGNED_IN);
  g_free (ended.reason);
}

static gint64
locked_until (Client     *owner,
              const char *username)
{
  g_autoptr(GVariant) users = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  GVariant *user;
  gint64 result = -1;

  call_ok (mhf_ipc_agent1_call_list_users_sync (owner->proxy, &users, NULL, &error), error);
  g_variant_iter_init (&iter, users);
  while ((user = g_variant_iter_next_value (&iter)) != NULL)
    {
      const char *name = NULL;

      g_variant_lookup (user, "username", "&s", &name);
      if (g_strcmp0 (name, username) == 0)
        g_variant_lookup (user, "locked-until", "x", &result);
      g_variant_unref (user);
    }
  return result;
}

static GError *
try_sign_in (Client     *client,
             const char *username,
             const char *passphrase)
{
  g_autoptr(GVariant) session = NULL;
  GError *error = NULL;

  mhf_ipc_agent1_call_sign_in_sync (client->proxy, username, passphrase, &session, NULL, &error);
  return error;
}

static void
test_lockout_doubles (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(Client) client = NULL;
  g_autoptr(MhfTestBus) bus = NULL;
  gint64 before, until1, until2;

  bus = setup_owner_full (&owner, NULL, fast_minutes);
  add_user (owner, "sam", 0, NULL);
  client = client_new (bus);

  /* Five failures in a row lock the user for five (test) minutes. */
  before = g_get_real_time ();
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GError) error = try_sign_in (client, "sam", "wrong passphrase!");
      g_assert_error (error, MHF_ERROR, MHF_ERROR_SIGN_IN_FAILED);
    }
  until1 = locked_until (owner, "sam");
  g_assert_cmpint (until1 - before, >=, 4 * G_USEC_PER_SEC);
  g_assert_cmpint (until1 - before, <=, 7 * G_USEC_PER_SEC);

  /* Locked: even the right passphrase is refused, and says so. */
  {
    g_autoptr(GError) error = try_sign_in (client, "sam", OTHER_PASS);
    g_assert_error (error, MHF_ERROR, MHF_ERROR_SIGN_IN_LOCKED);
  }

  /* After it expires, five more failures lock it for twice as long. */
  while (g_get_real_time () <= until1)
    g_usleep (100 * 1000);
  before = g_get_real_time ();
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GError) error = try_sign_in (client, "sam", "wrong again, sorry");
      g_assert_error (error, MHF_ERROR, MHF_ERROR_SIGN_IN_FAILED);
    }
  until2 = locked_until (owner, "sam");
  g_assert_cmpint (until2 - before, >=, 9 * G_USEC_PER_SEC);
  g_assert_cmpint (until2 - before, <=, 12 * G_USEC_PER_SEC);

  /* An owner's reset clears the lockout. */
  {
    g_autoptr(GError) error = NULL;

    call_ok (mhf_ipc_agent1_call_reset_passphrase_sync (owner->proxy, "sam", "a brand new phrase",
                                                        NULL, &error), error);
    g_assert_cmpint (locked_until (owner, "sam"), ==, 0);
    sign_in (client, "sam", "a brand new phrase");
  }
}

static void
test_unknown_user_same_reply (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(Client) client = NULL;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, NULL);
  g_autoptr(GError) wrong = NULL;
  g_autoptr(GError) unknown = NULL;
  g_autofree char *wrong_name = NULL;
  g_autofree char *unknown_name = NULL;

  add_user (owner, "sam", 0, NULL);
  client = client_new (bus);

  wrong = try_sign_in (client, "sam", "not sams passphrase");
  unknown = try_sign_in (client, "nobody-here", "not sams passphrase");

  wrong_name = g_dbus_error_get_remote_error (wrong);
  unknown_name = g_dbus_error_get_remote_error (unknown);
  g_assert_cmpstr (wrong_name, ==, "com.myhealthfollowup.MyHealthFollowup.Error.SignInFailed");
  g_assert_cmpstr (unknown_name, ==, wrong_name);
  g_assert_cmpstr (unknown->message, ==, wrong->message);

  /* Unknown names lock out like real ones, so that lockouts reveal
   * nothing either. */
  for (int i = 0; i < 4; i++)
    {
      g_autoptr(GError) error = try_sign_in (client, "nobody-here", "guess guess guess");
      g_assert_error (error, MHF_ERROR, MHF_ERROR_SIGN_IN_FAILED);
    }
  {
    g_autoptr(GError) error = try_sign_in (client, "nobody-here", "guess guess guess");
    g_assert_error (error, MHF_ERROR, MHF_ERROR_SIGN_IN_LOCKED);
  }
}

/* ---- first run and the last owner ---------------------------------------------------------------- */

static void
test_first_run_rules (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(Client) client = NULL;
  g_autoptr(Client) late = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) who = NULL;
  g_autoptr(GError) error = NULL;
  gboolean first_run = FALSE;
  gint64 clinic = 0;

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  client = client_new (bus);

  call_ok (mhf_ipc_agent1_call_who_am_i_sync (client->proxy, &who, NULL, &error), error);
  g_assert_true (g_variant_lookup (who, "first-run", "b", &first_run));
  g_assert_true (first_run);

  /* Nothing else changes anything before the owner exists. */
  g_assert_false (mhf_ipc_agent1_call_add_clinic_sync (client->proxy, "Early", &clinic,
                                                       NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_SIGNED_IN);
  g_clear_error (&error);

  /* A weak passphrase is refused with the field named. */
  g_assert_false (mhf_ipc_agent1_call_create_owner_sync (client->proxy, "olivia", "Olivia",
                                                         "short", NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "passphrase"));
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_create_owner_sync (client->proxy, "olivia", "Olivia Owner",
                                                  OWNER_PASS, NULL, &error), error);

  /* Only once. */
  late = client_new (bus);
  g_assert_false (mhf_ipc_agent1_call_create_owner_sync (late->proxy, "mallory", "Mallory",
                                                         OTHER_PASS, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  g_clear_pointer (&who, g_variant_unref);
  call_ok (mhf_ipc_agent1_call_who_am_i_sync (client->proxy, &who, NULL, &error), error);
  g_assert_true (g_variant_lookup (who, "first-run", "b", &first_run));
  g_assert_false (first_run);
}

static void
test_last_owner (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(Client) second = NULL;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, NULL);
  g_autoptr(GError) error = NULL;

  /* Neither removed nor demoted while alone. */
  g_assert_false (mhf_ipc_agent1_call_remove_user_sync (owner->proxy, "olivia", NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_set_role_sync (owner->proxy, "olivia", 0, "manager",
                                                     NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_set_role_sync (owner->proxy, "olivia", 0, "", NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  /* With a second owner, the first may go; then the second is the last. */
  add_user (owner, "otto", 0, "owner");
  second = client_new (bus);
  sign_in (second, "otto", OTHER_PASS);
  call_ok (mhf_ipc_agent1_call_remove_user_sync (second->proxy, "olivia", NULL, &error), error);
  g_assert_false (mhf_ipc_agent1_call_remove_user_sync (second->proxy, "otto", NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  /* The removed user's session ended with the user. */
  {
    g_autoptr(GVariant) clinics = NULL;

    g_assert_false (mhf_ipc_agent1_call_list_clinics_sync (owner->proxy, &clinics, NULL, &error));
    g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_SIGNED_IN);
  }
}

/* ---- the audit log ------------------------------------------------------------------------------- */

static char *
keyring_database_key (void)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "secret-tool", "lookup",
                           "kind", "database-key", "clinic", "none", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (out), ==, 64);
  return g_steal_pointer (&out);
}

/* Opens the agent's database the way an attacker with the key would,
 * and runs @sql in it. The agent must be stopped. */
static void
tamper (MhfTestBus *bus,
        const char *sql)
{
  g_autofree char *hex = keyring_database_key ();
  g_autofree char *material = g_strdup_printf ("x'%s'", hex);
  g_autofree char *path = g_build_filename (mhf_test_bus_get_data_dir (bus), "agent.db", NULL);
  char *errmsg = NULL;
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  if (sqlite3_exec (db, sql, NULL, NULL, &errmsg) != SQLITE_OK)
    g_error ("tampering failed: %s", errmsg);
  sqlite3_close (db);
}

static GVariant *
verify (Client *client,
        gint64  clinic)
{
  g_autoptr(GError) error = NULL;
  GVariant *result = NULL;

  call_ok (mhf_ipc_agent1_call_verify_audit_sync (client->proxy, clinic, &result, NULL, &error),
           error);
  return result;
}

static gint64
nth_entry_id (Client *client,
              gint64  clinic,
              guint   n)
{
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GVariant) entry = NULL;
  g_autoptr(GError) error = NULL;
  gint64 next = 0, id = 0;

  call_ok (mhf_ipc_agent1_call_list_audit_sync (client->proxy, clinic, 0, 500, &entries, &next,
                                                NULL, &error), error);
  /* Newest first: the n-th oldest is counted from the end. */
  entry = g_variant_get_child_value (entries, g_variant_n_children (entries) - 1 - n);
  g_assert_true (g_variant_lookup (entry, "id", "x", &id));
  return id;
}

static void
test_audit_tamper_detected (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *edit = NULL;
  gboolean intact = FALSE;
  guint32 n = 0;
  gint64 first_broken = -1, clinic = 0, target;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, &clinic);

  /* A few entries in the clinic's chain. */
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *name = g_strdup_printf ("user%d", i);
      add_user (owner, name, clinic, "staff");
    }

  result = verify (owner, clinic);
  g_assert_true (g_variant_lookup (result, "intact", "b", &intact));
  g_assert_true (intact);
  g_assert_true (g_variant_lookup (result, "entries", "u", &n));
  g_assert_cmpuint (n, ==, 5);

  target = nth_entry_id (owner, clinic, 2);
  client_free (g_steal_pointer (&owner));

  /* Someone with the key edits a summary. */
  mhf_test_bus_stop_agent (bus);
  edit = g_strdup_printf ("UPDATE audit SET summary = 'nothing to see' WHERE id = %"
                          G_GINT64_FORMAT, target);
  tamper (bus, edit);

  owner = client_new (bus);
  sign_in (owner, "olivia", OWNER_PASS);
  g_clear_pointer (&result, g_variant_unref);
  result = verify (owner, clinic);
  g_assert_true (g_variant_lookup (result, "intact", "b", &intact));
  g_assert_false (intact);
  g_assert_true (g_variant_lookup (result, "first-broken", "x", &first_broken));
  g_assert_cmpint (first_broken, ==, target);

  /* Other chains are unaffected. */
  g_clear_pointer (&result, g_variant_unref);
  result = verify (owner, 0);
  g_assert_true (g_variant_lookup (result, "intact", "b", &intact));
  g_assert_true (intact);

  /* Removing an entry breaks the chain at the entry after it: here in
   * the installation's chain (the users added above). */
  {
    g_autofree char *remove = NULL;
    gint64 removed = nth_entry_id (owner, 0, 1);
    gint64 after = nth_entry_id (owner, 0, 2);

    client_free (g_steal_pointer (&owner));
    mhf_test_bus_stop_agent (bus);
    remove = g_strdup_printf ("DELETE FROM audit WHERE id = %" G_GINT64_FORMAT, removed);
    tamper (bus, remove);

    owner = client_new (bus);
    sign_in (owner, "olivia", OWNER_PASS);
    g_clear_pointer (&result, g_variant_unref);
    result = verify (owner, 0);
    g_assert_true (g_variant_lookup (result, "intact", "b", &intact));
    g_assert_false (intact);
    g_assert_true (g_variant_lookup (result, "first-broken", "x", &first_broken));
    g_assert_cmpint (first_broken, ==, after);
  }
}

static void
test_audit_entries_for_changes (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GVariant) page2 = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) all = g_string_new (NULL);
  gint64 clinic = 0, next = 0, next2 = 0;
  GVariantIter iter;
  GVariant *entry;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, &clinic);

  add_user (owner, "sam", clinic, "staff");
  call_ok (mhf_ipc_agent1_call_set_role_sync (owner->proxy, "sam", clinic, "manager",
                                              NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_set_idle_timeout_sync (owner->proxy, 30, NULL, &error), error);
  {
    g_autoptr(Client) sam = client_new (bus);
    g_autoptr(GError) failed = try_sign_in (sam, "sam", "definitely not it");
    g_assert_nonnull (failed);
  }

  /* The clinic's chain: added, then the role changes, old → new. */
  call_ok (mhf_ipc_agent1_call_list_audit_sync (owner->proxy, clinic, 0, 2, &entries, &next,
                                                NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (entries), ==, 2);
  g_assert_cmpint (next, >, 0);
  call_ok (mhf_ipc_agent1_call_list_audit_sync (owner->proxy, clinic, next, 2, &page2, &next2,
                                                NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (page2), ==, 1);
  g_assert_cmpint (next2, ==, 0);

  g_variant_iter_init (&iter, entries);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      const char *action = NULL, *summary = NULL, *user = NULL;

      g_variant_lookup (entry, "action", "&s", &action);
      g_variant_lookup (entry, "summary", "&s", &summary);
      g_variant_lookup (entry, "user", "&s", &user);
      g_string_append_printf (all, "%s|%s|%s\n", user, action, summary);
      g_variant_unref (entry);
    }
  g_assert_nonnull (strstr (all->str, "olivia|user.role|role on this clinic: staff → manager"));
  g_assert_nonnull (strstr (all->str, "olivia|user.role|role on this clinic: none → staff"));

  /* The installation chain: users, settings and sign-in failures, and
   * never a passphrase. */
  g_clear_pointer (&entries, g_variant_unref);
  g_string_truncate (all, 0);
  call_ok (mhf_ipc_agent1_call_list_audit_sync (owner->proxy, 0, 0, 500, &entries, &next,
                                                NULL, &error), error);
  g_variant_iter_init (&iter, entries);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autofree char *text = g_variant_print (entry, FALSE);
      g_string_append_printf (all, "%s\n", text);
      g_variant_unref (entry);
    }
  g_assert_nonnull (strstr (all->str, "user.create-owner"));
  g_assert_nonnull (strstr (all->str, "user.add"));
  g_assert_nonnull (strstr (all->str, "idle timeout: 15 → 30 minutes"));
  g_assert_nonnull (strstr (all->str, "session.sign-in-failed"));
  g_assert_null (strstr (all->str, OWNER_PASS));
  g_assert_null (strstr (all->str, OTHER_PASS));
  g_assert_null (strstr (all->str, "definitely not it"));
}

static gint64
count_rows (MhfTestBus *bus,
            const char *sql)
{
  g_autofree char *hex = keyring_database_key ();
  g_autofree char *material = g_strdup_printf ("x'%s'", hex);
  g_autofree char *path = g_build_filename (mhf_test_bus_get_data_dir (bus), "agent.db", NULL);
  sqlite3_stmt *stmt = NULL;
  sqlite3 *db = NULL;
  gint64 n;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n;
}

static void
test_retention_purge (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autofree char *seed = NULL;
  gint64 clinic = 0;
  gint64 now = g_get_real_time ();
  gint64 old = now - (gint64) 500 * 24 * 3600 * G_USEC_PER_SEC;
  gint64 recent = now - (gint64) 10 * 24 * 3600 * G_USEC_PER_SEC;
  gint64 deadline;
  gboolean found = FALSE;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, &clinic);

  client_free (g_steal_pointer (&owner));
  mhf_test_bus_stop_agent (bus);

  /* Delivery state from a year and a half ago and from last week, and an
   * old row that is still planned (it must stay: only finished rows go). */
  seed = g_strdup_printf (
    "INSERT INTO templates (id, clinic_id, name, subject, body_text, created_at, updated_at)"
    "  VALUES (1, %1$" G_GINT64_FORMAT ", 't', 's', 'b', 0, 0);"
    "INSERT INTO rules (id, clinic_id, name, kind, category, timing, template_id, created_at,"
    "                   updated_at)"
    "  VALUES (1, %1$" G_GINT64_FORMAT ", 'r', 'reminder', 'care', '{}', 1, 0, 0);"
    "INSERT INTO outbox (clinic_id, rule_id, appointment_id, planned_at, state, created_at,"
    "                    updated_at) VALUES"
    "  (%1$" G_GINT64_FORMAT ", 1, 'old-sent', %2$" G_GINT64_FORMAT ", 'sent', %2$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT "),"
    "  (%1$" G_GINT64_FORMAT ", 1, 'old-planned', %2$" G_GINT64_FORMAT ", 'planned', %2$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT "),"
    "  (%1$" G_GINT64_FORMAT ", 1, 'recent', %3$" G_GINT64_FORMAT ", 'sent', %3$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ");"
    "INSERT INTO delivery_events (clinic_id, at, state) VALUES"
    "  (%1$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT ", 'sent'),"
    "  (%1$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ", 'sent');",
    clinic, old, recent);
  tamper (bus, seed);

  /* The agent purges when it starts (and daily after that). */
  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  owner = client_new (bus);
  sign_in (owner, "olivia", OWNER_PASS);

  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!found && g_get_monotonic_time () < deadline)
    {
      g_autoptr(GVariant) entries = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *text = NULL;
      gint64 next = 0;

      call_ok (mhf_ipc_agent1_call_list_audit_sync (owner->proxy, clinic, 0, 50, &entries, &next,
                                                    NULL, &error), error);
      text = g_variant_print (entries, FALSE);
      found = strstr (text, "retention: removed 1 outbox rows and 1 delivery events older than "
                            "400 days") != NULL;
      if (!found)
        g_usleep (100 * 1000);
    }
  g_assert_true (found);

  client_free (g_steal_pointer (&owner));
  mhf_test_bus_stop_agent (bus);
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM outbox"), ==, 2);
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM outbox WHERE appointment_id = 'old-sent'"),
                   ==, 0);
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM delivery_events"), ==, 1);
  /* The audit log itself is kept, whatever its age. */
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM audit WHERE action = 'clinic.add'"), ==, 1);
}

static gboolean
audit_contains (Client     *client,
                gint64      clinic,
                const char *needle)
{
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 next = 0;

  call_ok (mhf_ipc_agent1_call_list_audit_sync (client->proxy, clinic, 0, 500, &entries, &next,
                                                NULL, &error), error);
  text = g_variant_print (entries, FALSE);
  return strstr (text, needle) != NULL;
}

static guint32
clinic_retention (Client *client,
                  gint64  clinic)
{
  g_autoptr(GVariant) clinics = NULL;
  g_autoptr(GError) error = NULL;
  GVariantIter iter;
  GVariant *entry;
  guint32 days = 0;

  call_ok (mhf_ipc_agent1_call_list_clinics_sync (client->proxy, &clinics, NULL, &error), error);
  g_variant_iter_init (&iter, clinics);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      gint64 id = 0;

      g_variant_lookup (entry, "id", "x", &id);
      if (id == clinic)
        g_assert_true (g_variant_lookup (entry, "retention-days", "u", &days));
      g_variant_unref (entry);
    }
  return days;
}

static void
test_set_retention (void)
{
  g_autoptr(Client) owner = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *seed = NULL;
  g_autofree char *clinic_arg = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  gboolean intact = FALSE;
  gint64 clinic = 0, other = 0;
  gint64 now = g_get_real_time ();
  gint64 old = now - (gint64) 100 * 24 * 3600 * G_USEC_PER_SEC;
  gint64 recent = now - (gint64) 10 * 24 * 3600 * G_USEC_PER_SEC;
  g_autoptr(MhfTestBus) bus = setup_owner (&owner, &clinic);

  call_ok (mhf_ipc_agent1_call_add_clinic_sync (owner->proxy, "Other Clinic", &other, NULL,
                                                &error), error);
  client_free (g_steal_pointer (&owner));
  mhf_test_bus_stop_agent (bus);

  /* A hundred days of history: every finished state, the states still
   * under way, and the same in a second clinic whose period stays. */
  seed = g_strdup_printf (
    "INSERT INTO templates (id, clinic_id, name, subject, body_text, created_at, updated_at)"
    "  VALUES (1, %1$" G_GINT64_FORMAT ", 't', 's', 'b', 0, 0),"
    "         (2, %4$" G_GINT64_FORMAT ", 't', 's', 'b', 0, 0);"
    "INSERT INTO rules (id, clinic_id, name, kind, category, timing, template_id, created_at,"
    "                   updated_at)"
    "  VALUES (1, %1$" G_GINT64_FORMAT ", 'r', 'reminder', 'care', '{}', 1, 0, 0),"
    "         (2, %4$" G_GINT64_FORMAT ", 'r', 'reminder', 'care', '{}', 2, 0, 0);"
    "INSERT INTO outbox (clinic_id, rule_id, appointment_id, planned_at, state, created_at,"
    "                    updated_at)"
    "  SELECT %1$" G_GINT64_FORMAT ", 1, 'old-' || s, %2$" G_GINT64_FORMAT ", s,"
    "         %2$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT
    "    FROM (SELECT 'sent' AS s UNION ALL SELECT 'skipped' UNION ALL SELECT 'failed'"
    "          UNION ALL SELECT 'cancelled' UNION ALL SELECT 'interrupted'"
    "          UNION ALL SELECT 'planned' UNION ALL SELECT 'retry_wait');"
    "INSERT INTO outbox (clinic_id, rule_id, appointment_id, planned_at, state, created_at,"
    "                    updated_at) VALUES"
    "  (%1$" G_GINT64_FORMAT ", 1, 'recent-sent', %3$" G_GINT64_FORMAT ", 'sent', %3$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT "),"
    "  (%4$" G_GINT64_FORMAT ", 2, 'other-old-sent', %2$" G_GINT64_FORMAT ", 'sent', %2$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT ");"
    "INSERT INTO delivery_events (clinic_id, at, state) VALUES"
    "  (%1$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT ", 'sent'),"
    "  (%1$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT ", 'skipped'),"
    "  (%1$" G_GINT64_FORMAT ", %3$" G_GINT64_FORMAT ", 'sent'),"
    "  (%4$" G_GINT64_FORMAT ", %2$" G_GINT64_FORMAT ", 'sent');",
    clinic, old, recent, other);
  tamper (bus, seed);

  status = mhf_test_bus_wait_for_state (bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  owner = client_new (bus);
  sign_in (owner, "olivia", OWNER_PASS);
  g_assert_cmpuint (clinic_retention (owner, clinic), ==, 400);

  /* Out of range: refused, nothing changes. */
  g_assert_false (mhf_ipc_agent1_call_set_retention_sync (owner->proxy, clinic, 29, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_set_retention_sync (owner->proxy, clinic, 3651, NULL,
                                                          &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_false (mhf_ipc_agent1_call_set_retention_sync (owner->proxy, 999, 60, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (clinic_retention (owner, clinic), ==, 400);

  /* Sixty days: the purge runs before the reply. */
  call_ok (mhf_ipc_agent1_call_set_retention_sync (owner->proxy, clinic, 60, NULL, &error), error);
  g_assert_cmpuint (clinic_retention (owner, clinic), ==, 60);
  g_assert_cmpuint (clinic_retention (owner, other), ==, 400);
  g_assert_true (audit_contains (owner, clinic, "retention: 400 → 60 days"));
  g_assert_true (audit_contains (owner, clinic, "retention: removed 5 outbox rows and 2 delivery "
                                                "events older than 60 days"));
  result = verify (owner, clinic);
  g_assert_true (g_variant_lookup (result, "intact", "b", &intact));
  g_assert_true (intact);

  /* The CLI sets it too and lists it. */
  clinic_arg = g_strdup_printf ("%" G_GINT64_FORMAT, clinic);
  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &out, &err, "--user", "olivia",
                                     "--passphrase-stdin", "clinic", "retention", clinic_arg,
                                     "90", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "90 days"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &out, &err, "--user", "olivia",
                                     "--passphrase-stdin", "clinic", "list", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "90 days"));
  g_assert_cmpuint (clinic_retention (owner, clinic), ==, 90);

  client_free (g_steal_pointer (&owner));
  mhf_test_bus_stop_agent (bus);

  /* Finished and old: gone. Under way, recent, or another clinic's: kept. */
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM outbox WHERE appointment_id IN"
                                    " ('old-sent', 'old-skipped', 'old-failed', 'old-cancelled',"
                                    "  'old-interrupted')"), ==, 0);
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM outbox WHERE appointment_id IN"
                                    " ('old-planned', 'old-retry_wait', 'recent-sent',"
                                    "  'other-old-sent')"), ==, 4);
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM delivery_events"), ==, 2);
  g_clear_pointer (&seed, g_free);
  seed = g_strdup_printf ("SELECT count(*) FROM delivery_events WHERE clinic_id = %"
                          G_GINT64_FORMAT " AND at = %" G_GINT64_FORMAT, clinic, recent);
  g_assert_cmpint (count_rows (bus, seed), ==, 1);
  g_assert_cmpint (count_rows (bus, "SELECT count(*) FROM audit WHERE action = 'clinic.retention'"),
                   ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

  g_test_add_func ("/mhf/agent/users/role-matrix", test_role_matrix);
  g_test_add_func ("/mhf/agent/users/cross-clinic-refused", test_cross_clinic_refused);
  g_test_add_func ("/mhf/agent/users/session-ends-with-connection", test_session_ends_with_connection);
  g_test_add_func ("/mhf/agent/users/idle-timeout", test_idle_timeout);
  g_test_add_func ("/mhf/agent/users/lockout-doubles", test_lockout_doubles);
  g_test_add_func ("/mhf/agent/users/unknown-user-same-reply", test_unknown_user_same_reply);
  g_test_add_func ("/mhf/agent/users/first-run-rules", test_first_run_rules);
  g_test_add_func ("/mhf/agent/users/last-owner", test_last_owner);
  g_test_add_func ("/mhf/agent/audit/entries-for-changes", test_audit_entries_for_changes);
  g_test_add_func ("/mhf/agent/audit/tamper-detected", test_audit_tamper_detected);
  g_test_add_func ("/mhf/agent/audit/retention-purge", test_retention_purge);
  g_test_add_func ("/mhf/agent/audit/set-retention", test_set_retention);

  return g_test_run ();
}
