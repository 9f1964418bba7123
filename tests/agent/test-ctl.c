/* test-ctl.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * myhealthfollowupctl as an administrator or a script would run it,
 * against the real agent, D-Bus activated from the build tree on a private
 * bus with a real gnome-keyring-daemon. Every run checks that no
 * passphrase ever shows up in what the command prints.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "mhf-error.h"
#include "mhf-store.h"
#include "mhf-test-bus.h"

#define OWNER_PASS     "owner passphrase 0001"
#define BOB_PASS       "bob first passphrase 0002"
#define BOB_NEW_PASS   "bob changed passphrase 0003"
#define BOB_RESET_PASS "bob reset passphrase 0004"
#define CAROL_PASS     "carol passphrase 0005"
#define WRONG_PASS     "wrong passphrase 0006"

static const char * const secrets[] = {
  OWNER_PASS, BOB_PASS, BOB_NEW_PASS, BOB_RESET_PASS, CAROL_PASS, WRONG_PASS,
};

/* Runs myhealthfollowupctl with @input on standard input (never the
 * terminal, so that it cannot wait for someone to type) and returns its
 * exit status. Asserts that no test passphrase appears in its output. */
static int
ctl (const char  *input,
     char       **out,
     char       **err,
     const char  *first,
     ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *stdout_text = NULL;
  g_autofree char *stderr_text = NULL;
  va_list args;
  int status;

  g_ptr_array_add (argv, (char *) mhf_test_bus_get_ctl_path ());
  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  status = mhf_test_run_argv (input, &stdout_text, &stderr_text,
                              (const char * const *) argv->pdata);

  if (g_test_verbose ())
    {
      g_autofree char *line = g_strjoinv (" ", (char **) argv->pdata + 1);

      g_test_message ("$ myhealthfollowupctl %s  → %d\n%s%s", line, status,
                      stdout_text, stderr_text);
    }

  for (guint i = 0; i < G_N_ELEMENTS (secrets); i++)
    {
      g_assert_null (strstr (stdout_text, secrets[i]));
      g_assert_null (strstr (stderr_text, secrets[i]));
    }

  if (out != NULL)
    *out = g_steal_pointer (&stdout_text);
  if (err != NULL)
    *err = g_steal_pointer (&stderr_text);

  return status;
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (text);
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static gboolean
has_role (JsonObject *object,
          gint64      clinic,
          const char *role)
{
  JsonArray *roles = json_object_get_array_member (object, "roles");

  for (guint i = 0; i < json_array_get_length (roles); i++)
    {
      JsonObject *r = json_array_get_object_element (roles, i);

      if (json_object_get_int_member (r, "clinic") == clinic &&
          g_strcmp0 (json_object_get_string_member (r, "role"), role) == 0)
        return TRUE;
    }
  return FALSE;
}

static JsonObject *
find_object (JsonArray  *array,
             const char *member,
             const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *object = json_array_get_object_element (array, i);

      if (g_strcmp0 (json_object_get_string_member_with_default (object, member, NULL),
                     value) == 0)
        return object;
    }
  return NULL;
}

/* A bus with a keyring and an agent whose owner is alice. */
static MhfTestBus *
bus_with_owner (void)
{
  MhfTestBus *bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--passphrase-stdin", "owner", "create",
                        "alice", "--display-name", "Alice Owner", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "alice"));
  return bus;
}

static gint64
add_clinic (const char *name)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *out = NULL;
  JsonObject *object;

  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, NULL, "--user", "alice", "--passphrase-stdin",
                        "clinic", "add", name, "--json", NULL), ==, 0);
  root = parse_json (out);
  object = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (object, "name"), ==, name);
  g_assert_cmpint (json_object_get_int_member (object, "id"), >, 0);
  return json_object_get_int_member (object, "id");
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_whoami_first_run (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonObject *session;

  /* Signed out is fine for whoami, and says that the owner is missing. */
  g_assert_cmpint (ctl (NULL, &out, &err, "whoami", "--json", NULL), ==, 0);
  root = parse_json (out);
  session = json_node_get_object (root);
  g_assert_false (json_object_get_boolean_member (session, "signed-in"));
  g_assert_true (json_object_get_boolean_member (session, "first-run"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &out, &err, "whoami", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Not signed in"));
  g_assert_nonnull (strstr (out, "owner create"));

  /* A command that needs a user, without one, is a usage error. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &out, &err, "user", "list", NULL), ==, 2);
  g_assert_nonnull (strstr (err, "myhealthfollowupctl user list:"));
  g_assert_nonnull (strstr (err, "--user"));

  /* Standard input that is no terminal is only read when asked to. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "clinic", "list", NULL),
                   ==, 2);
  g_assert_nonnull (strstr (err, "--passphrase-stdin"));

  /* There is no way to give a passphrase on the command line. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &out, &err, "--user", "alice", "--passphrase", "signin", NULL),
                   ==, 2);

  /* Unknown commands and bad arguments are usage errors too. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &out, &err, "user", "frobnicate", NULL), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &out, &err, "--user", "alice", "user", "role", "bob", "north",
                        "manager", NULL), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (NULL, &out, &err, "--user", "alice", "user", "role", "bob", "1",
                        "boss", NULL), ==, 2);
}

static void
test_owner_create (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonObject *session;

  /* The owner can sign in, with --user before or after the command. */
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "whoami", "--json", NULL), ==, 0);
  root = parse_json (out);
  session = json_node_get_object (root);
  g_assert_true (json_object_get_boolean_member (session, "signed-in"));
  g_assert_false (json_object_get_boolean_member (session, "first-run"));
  g_assert_cmpstr (json_object_get_string_member (session, "username"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (session, "display-name"), ==, "Alice Owner");
  g_assert_true (has_role (session, 0, "owner"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "whoami", "--user", "alice",
                        "--passphrase-stdin", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Alice Owner (alice)"));
  g_assert_nonnull (strstr (out, "every clinic: owner"));

  /* MHF_USER stands in for --user. */
  g_setenv ("MHF_USER", "alice", TRUE);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--passphrase-stdin", "signin", NULL), ==, 0);
  g_unsetenv ("MHF_USER");
  g_assert_nonnull (strstr (out, "Alice Owner (alice)"));

  /* There is only ever one first owner. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (CAROL_PASS "\n", &out, &err, "--passphrase-stdin", "owner", "create",
                        "carol", "--display-name", "Carol", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "myhealthfollowupctl owner create:"));
  g_assert_nonnull (strstr (err, "already exists"));

  /* The display name is required. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (CAROL_PASS "\n", &out, &err, "--passphrase-stdin", "owner", "create",
                        "carol", NULL), ==, 2);
  g_assert_nonnull (strstr (err, "--display-name"));
}

static void
test_signin_failures (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autofree char *out = NULL;
  g_autofree char *wrong_passphrase = NULL;
  g_autofree char *unknown_user = NULL;
  g_autofree char *err = NULL;

  /* A wrong passphrase and an unknown name read the same. */
  g_assert_cmpint (ctl (WRONG_PASS "\n", &out, &wrong_passphrase, "--user", "alice",
                        "--passphrase-stdin", "signin", NULL), ==, 1);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (WRONG_PASS "\n", &out, &unknown_user, "--user", "nobody",
                        "--passphrase-stdin", "signin", NULL), ==, 1);
  g_assert_cmpstr (wrong_passphrase, ==, unknown_user);
  g_assert_nonnull (strstr (wrong_passphrase, "myhealthfollowupctl signin: "));
  g_assert_nonnull (strstr (wrong_passphrase, "username or the passphrase is wrong"));

  /* The right passphrase works, and says that the session is short. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "signin", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Alice Owner (alice)"));
  g_assert_nonnull (strstr (out, "owner"));
  g_assert_nonnull (strstr (out, "ends when this command exits"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "signout", NULL), ==, 0);

  /* An empty line is refused before it reaches the agent. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl ("\n", &out, &err, "--user", "alice", "--passphrase-stdin", "signin",
                        NULL), ==, 2);

  /* Five failures in a row lock the name, even for the right passphrase. */
  for (guint i = 0; i < 5; i++)
    {
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (ctl (WRONG_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                            "signin", NULL), ==, 1);
    }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "signin", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "locked"));
}

static void
test_users_and_roles (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *clinic_id = NULL;
  JsonArray *users;
  JsonObject *bob;
  gint64 clinic;

  clinic = add_clinic ("North Clinic");
  clinic_id = g_strdup_printf ("%" G_GINT64_FORMAT, clinic);

  /* The new user's passphrase is the second line. */
  g_assert_cmpint (ctl (OWNER_PASS "\n" BOB_PASS "\n", &out, &err, "--user", "alice",
                        "--passphrase-stdin", "user", "add", "bob", "--display-name",
                        "Bob Manager", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "role", "bob", clinic_id, "manager", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "manager"));

  /* Missing the second line is a usage error, and nothing is added. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "add", "dave", "--display-name", "Dave", NULL), ==, 2);
  g_assert_nonnull (strstr (err, "standard input"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "list", "--json", NULL), ==, 0);
  root = parse_json (out);
  users = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (users), ==, 2);
  g_assert_null (find_object (users, "username", "dave"));
  g_assert_true (has_role (find_object (users, "username", "alice"), 0, "owner"));
  bob = find_object (users, "username", "bob");
  g_assert_nonnull (bob);
  g_assert_cmpstr (json_object_get_string_member (bob, "display-name"), ==, "Bob Manager");
  g_assert_true (has_role (bob, clinic, "manager"));
  g_assert_cmpint (json_object_get_int_member (bob, "locked-until"), ==, 0);

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "list", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "USERNAME"));
  g_assert_nonnull (strstr (out, "Bob Manager"));
  g_assert_nonnull (strstr (out, "manager"));

  /* A manager cannot add users. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n" CAROL_PASS "\n", &out, &err, "--user", "bob",
                        "--passphrase-stdin", "user", "add", "carol", "--display-name", "Carol",
                        NULL), ==, 1);
  g_assert_nonnull (strstr (err, "myhealthfollowupctl user add: Access denied"));

  /* A manager sees their clinic. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&root, json_node_unref);
  g_assert_cmpint (ctl (BOB_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "clinic", "list", "--json", NULL), ==, 0);
  root = parse_json (out);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (root)), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_node_get_array (root), 0), "role"),
                   ==, "manager");

  /* Bob changes his own passphrase; the old one stops working. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n" BOB_NEW_PASS "\n", &out, &err, "--user", "bob",
                        "--passphrase-stdin", "user", "passwd", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "signin", NULL), ==, 1);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_NEW_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "signin", NULL), ==, 0);

  /* The owner resets it. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n" BOB_RESET_PASS "\n", &out, &err, "--user", "alice",
                        "--passphrase-stdin", "user", "reset-passphrase", "bob", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_RESET_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "signin", NULL), ==, 0);

  /* The idle timeout is the owner's to set, and shows in whoami. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_RESET_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "settings", "idle-timeout", "30", NULL), ==, 1);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "settings", "idle-timeout", "30", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&root, json_node_unref);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "whoami", "--json", NULL), ==, 0);
  root = parse_json (out);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (root), "idle-timeout"), ==,
                   30);

  /* Taking the role away, then the user. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "role", "bob", clinic_id, "none", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&root, json_node_unref);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "list", "--json", NULL), ==, 0);
  root = parse_json (out);
  bob = find_object (json_node_get_array (root), "username", "bob");
  g_assert_nonnull (bob);
  g_assert_false (has_role (bob, clinic, "manager"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "remove", "bob", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&root, json_node_unref);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "list", "--json", NULL), ==, 0);
  root = parse_json (out);
  g_assert_null (find_object (json_node_get_array (root), "username", "bob"));

  /* The last owner stays. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "remove", "alice", NULL), ==, 1);
}

static void
test_manager_via_cli (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  /* A manager of every clinic, made entirely with the CLI, still cannot
   * manage users. */
  g_assert_cmpint (ctl (OWNER_PASS "\n" BOB_PASS "\n", &out, &err, "--user", "alice",
                        "--passphrase-stdin", "user", "add", "bob", "--display-name", "Bob",
                        NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "role", "bob", "all", "manager", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "every clinic"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n" CAROL_PASS "\n", &out, &err, "--user", "bob",
                        "--passphrase-stdin", "user", "add", "carol", "--display-name", "Carol",
                        NULL), ==, 1);
  g_assert_nonnull (strstr (err, "Access denied"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "user", "list", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "Access denied"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "clinic", "add", "Bob's Clinic", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "Access denied"));
}

static void
test_clinics (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *south_id = NULL;
  JsonArray *clinics;
  JsonObject *north;
  gint64 north_clinic;
  gint64 south_clinic;

  north_clinic = add_clinic ("North Clinic");
  south_clinic = add_clinic ("Süd Klinik");
  g_assert_cmpint (north_clinic, !=, south_clinic);
  south_id = g_strdup_printf ("%" G_GINT64_FORMAT, south_clinic);

  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "clinic", "list", "--json", NULL), ==, 0);
  root = parse_json (out);
  clinics = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (clinics), ==, 2);
  north = find_object (clinics, "name", "North Clinic");
  g_assert_nonnull (north);
  g_assert_cmpint (json_object_get_int_member (north, "id"), ==, north_clinic);
  g_assert_cmpstr (json_object_get_string_member (north, "role"), ==, "owner");
  g_assert_nonnull (find_object (clinics, "name", "Süd Klinik"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "clinic", "list", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "North Clinic"));
  g_assert_nonnull (strstr (out, "Süd Klinik"));
  g_assert_nonnull (strstr (out, "owner"));

  /* Removing needs --confirm. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "clinic", "remove", south_id, NULL), ==, 2);
  g_assert_nonnull (strstr (err, "--confirm"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "clinic", "remove", south_id, "--confirm", NULL), ==, 0);

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&root, json_node_unref);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "clinic", "list", "--json", NULL), ==, 0);
  root = parse_json (out);
  clinics = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (clinics), ==, 1);
  g_assert_null (find_object (clinics, "name", "Süd Klinik"));

  /* A clinic that is gone cannot be removed again. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "clinic", "remove", south_id, "--confirm", NULL), ==, 1);
}

/* Every entry of a clinic's audit log, through --all. */
static JsonNode *
audit_entries (const char *clinic,
               const char *limit)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonObject *object;

  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "list", clinic, "--all", "--limit", limit, "--json", NULL),
                   ==, 0);
  root = parse_json (out);
  object = json_node_get_object (root);
  g_assert_cmpint (json_object_get_int_member (object, "next"), ==, 0);
  return json_node_copy (json_object_get_member (object, "entries"));
}

static gboolean
audit_has (JsonArray  *entries,
           const char *action,
           const char *user,
           const char *target)
{
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      if (g_strcmp0 (json_object_get_string_member (entry, "action"), action) == 0 &&
          (user == NULL ||
           g_strcmp0 (json_object_get_string_member (entry, "user"), user) == 0) &&
          g_strcmp0 (json_object_get_string_member (entry, "target"), target) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
test_audit (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autoptr(JsonNode) none = NULL;
  g_autoptr(JsonNode) none_paged = NULL;
  g_autoptr(JsonNode) clinic_entries = NULL;
  g_autoptr(JsonNode) page = NULL;
  g_autoptr(JsonNode) verify = NULL;
  g_autoptr(GRegex) time_regex = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *clinic_id = NULL;
  JsonArray *entries;
  JsonArray *paged;
  JsonObject *object;
  gint64 clinic;
  gint64 last_id = G_MAXINT64;
  gint64 newest;
  guint skip = 0;

  clinic = add_clinic ("North Clinic");
  clinic_id = g_strdup_printf ("%" G_GINT64_FORMAT, clinic);
  g_assert_cmpint (ctl (OWNER_PASS "\n" BOB_PASS "\n", &out, &err, "--user", "alice",
                        "--passphrase-stdin", "user", "add", "bob", "--display-name", "Bob",
                        NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "user", "role", "bob", clinic_id, "staff", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (WRONG_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "signin", NULL), ==, 1);

  /* The entries about no clinic record the users and the sign-ins; the
   * clinic's own log the clinic's changes. Newest first, each with its
   * time and summary. */
  none = audit_entries ("all", "500");
  entries = json_node_get_array (none);
  g_assert_true (audit_has (entries, "user.create-owner", "alice", "alice"));
  g_assert_true (audit_has (entries, "user.add", "alice", "bob"));
  g_assert_true (audit_has (entries, "session.sign-in", "alice", "alice"));
  /* Who failed to sign in is not known, only the name tried. */
  g_assert_true (audit_has (entries, "session.sign-in-failed", NULL, "bob"));
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      g_assert_cmpint (json_object_get_int_member (entry, "id"), <, last_id);
      last_id = json_object_get_int_member (entry, "id");
      g_assert_cmpint (json_object_get_int_member (entry, "clinic"), ==, 0);
      g_assert_cmpint (json_object_get_int_member (entry, "at"), >, 0);
      g_assert_nonnull (json_object_get_string_member (entry, "summary"));
    }

  clinic_entries = audit_entries (clinic_id, "500");
  g_assert_true (audit_has (json_node_get_array (clinic_entries), "clinic.add", "alice",
                            "clinic 1"));
  g_assert_true (audit_has (json_node_get_array (clinic_entries), "user.role", "alice", "bob"));

  /* One entry a page, following the cursor, gives the same entries. Each
   * run signs in, which is audited too, so only the entries up to the
   * newest one seen above are compared. */
  none_paged = audit_entries ("0", "1");
  paged = json_node_get_array (none_paged);
  newest = json_object_get_int_member (json_array_get_object_element (entries, 0), "id");
  while (skip < json_array_get_length (paged) &&
         json_object_get_int_member (json_array_get_object_element (paged, skip), "id") > newest)
    skip++;
  g_assert_cmpuint (skip, >=, 1);
  g_assert_cmpuint (json_array_get_length (paged) - skip, ==, json_array_get_length (entries));
  for (guint i = 0; i < json_array_get_length (entries); i++)
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (paged, i + skip),
                                                 "id"),
                     ==,
                     json_object_get_int_member (json_array_get_object_element (entries, i),
                                                 "id"));

  /* Without --all, one page and where the next one starts. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "list", "all", "--limit", "1", "--json", NULL), ==, 0);
  page = parse_json (out);
  object = json_node_get_object (page);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (object, "entries")), ==,
                    1);
  g_assert_cmpint (json_object_get_int_member (object, "next"), >, 0);

  /* People read local times to the minute. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "list", "all", "--limit", "2", NULL), ==, 0);
  time_regex = g_regex_new ("^[0-9]+ +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  ",
                            G_REGEX_MULTILINE, 0, NULL);
  g_assert_true (g_regex_match (time_regex, out, 0, NULL));
  g_assert_nonnull (strstr (out, "--before"));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "list", "all", "--limit", "501", NULL), ==, 2);

  /* Both chains are intact. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "verify", "all", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "intact"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "verify", clinic_id, "--json", NULL), ==, 0);
  verify = parse_json (out);
  object = json_node_get_object (verify);
  g_assert_true (json_object_get_boolean_member (object, "intact"));
  g_assert_cmpint (json_object_get_int_member (object, "first-broken"), ==, 0);

  /* Staff cannot read the audit log. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (BOB_PASS "\n", &out, &err, "--user", "bob", "--passphrase-stdin",
                        "audit", "list", clinic_id, NULL), ==, 1);
  g_assert_nonnull (strstr (err, "Access denied"));
}

/* Opens the agent's database the way someone with the key could, and
 * runs @sql in it. The agent must be stopped. */
static void
tamper (MhfTestBus *bus,
        const char *sql)
{
  g_autofree char *hex = NULL;
  g_autofree char *material = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  char *errmsg = NULL;
  sqlite3 *db = NULL;

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "secret-tool", "lookup",
                           "kind", "database-key", "clinic", "none", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &hex, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (hex), ==, 64);

  material = g_strdup_printf ("x'%s'", hex);
  path = g_build_filename (mhf_test_bus_get_data_dir (bus), "agent.db", NULL);
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  if (sqlite3_exec (db, sql, NULL, NULL, &errmsg) != SQLITE_OK)
    g_error ("tampering failed: %s", errmsg);
  sqlite3_close (db);
}

static void
test_audit_broken (void)
{
  g_autoptr(MhfTestBus) bus = bus_with_owner ();
  g_autoptr(JsonNode) none = NULL;
  g_autoptr(JsonNode) verify = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *edit = NULL;
  g_autofree char *broken_text = NULL;
  JsonArray *entries;
  JsonObject *object;
  gint64 victim = 0;

  g_assert_cmpint (ctl (OWNER_PASS "\n" BOB_PASS "\n", &out, &err, "--user", "alice",
                        "--passphrase-stdin", "user", "add", "bob", "--display-name", "Bob",
                        NULL), ==, 0);

  none = audit_entries ("all", "500");
  entries = json_node_get_array (none);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      if (g_strcmp0 (json_object_get_string_member (entry, "action"), "user.add") == 0)
        victim = json_object_get_int_member (entry, "id");
    }
  g_assert_cmpint (victim, >, 0);

  /* Someone with the key rewrites history behind the agent's back. */
  mhf_test_bus_stop_agent (bus);
  edit = g_strdup_printf ("UPDATE audit SET summary = 'nothing to see' WHERE id = %"
                          G_GINT64_FORMAT, victim);
  tamper (bus, edit);

  /* Exit status 4 says so, and which entry is the first that is off. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "verify", "all", NULL), ==, 4);
  broken_text = g_strdup_printf ("entry %" G_GINT64_FORMAT " does not match", victim);
  g_assert_nonnull (strstr (out, "BROKEN"));
  g_assert_nonnull (strstr (out, broken_text));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (ctl (OWNER_PASS "\n", &out, &err, "--user", "alice", "--passphrase-stdin",
                        "audit", "verify", "all", "--json", NULL), ==, 4);
  verify = parse_json (out);
  object = json_node_get_object (verify);
  g_assert_false (json_object_get_boolean_member (object, "intact"));
  g_assert_cmpint (json_object_get_int_member (object, "first-broken"), ==, victim);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

  /* The CLI reads MHF_USER; only the test that means to sets it. */
  g_unsetenv ("MHF_USER");

  g_test_add_func ("/mhf/agent/ctl/whoami-first-run", test_whoami_first_run);
  g_test_add_func ("/mhf/agent/ctl/owner-create", test_owner_create);
  g_test_add_func ("/mhf/agent/ctl/signin-failures", test_signin_failures);
  g_test_add_func ("/mhf/agent/ctl/users-and-roles", test_users_and_roles);
  g_test_add_func ("/mhf/agent/ctl/manager-cannot-add-users", test_manager_via_cli);
  g_test_add_func ("/mhf/agent/ctl/clinics", test_clinics);
  g_test_add_func ("/mhf/agent/ctl/audit", test_audit);
  g_test_add_func ("/mhf/agent/ctl/audit-broken", test_audit_broken);

  return g_test_run ();
}
