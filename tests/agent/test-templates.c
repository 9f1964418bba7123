/* test-templates.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Templates through the real agent and the CLI: validation with line and
 * column, previews with sample data only, audit, and the rule guard.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "mhf-error.h"
#include "mhf-ipc-agent.h"
#include "mhf-test-bus.h"

#define WAIT_MS    30000
#define OWNER_PASS "correct horse battery"

#define call_ok(call, err) \
  G_STMT_START { \
    gboolean ok_ = (call); \
    g_assert_no_error (err); \
    g_assert_true (ok_); \
  } G_STMT_END

typedef struct
{
  MhfTestBus   *bus;
  MhfIpcAgent1 *proxy;
  gint64        clinic;
  gint64        other_clinic;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;

  f->bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING);
  status = mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS);
  g_assert_nonnull (status);

  f->proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (f->bus),
                                            G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                            AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  call_ok (mhf_ipc_agent1_call_create_owner_sync (f->proxy, "olivia", "Olivia Owner", OWNER_PASS,
                                                  NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_clinic_sync (f->proxy, "Harbour Physio", &f->clinic,
                                                NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_clinic_sync (f->proxy, "Other Clinic", &f->other_clinic,
                                                NULL, &error), error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->proxy);
  g_clear_pointer (&f->bus, mhf_test_bus_free);
}

static gint64
add (Fixture    *f,
     const char *name,
     const char *subject,
     const char *text,
     const char *html)
{
  g_autoptr(GError) error = NULL;
  gint64 id = 0;

  call_ok (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, name, subject, text, html,
                                                  &id, NULL, &error), error);
  return id;
}

static char *
audit_text (Fixture *f)
{
  g_autoptr(GVariant) entries = NULL;
  g_autoptr(GError) error = NULL;
  gint64 next = 0;

  call_ok (mhf_ipc_agent1_call_list_audit_sync (f->proxy, f->clinic, 0, 100, &entries, &next,
                                                NULL, &error), error);
  return g_variant_print (entries, FALSE);
}

static void
test_add_list_update (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GVariant) templates = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *audit = NULL;
  const char *name = NULL;
  gint64 id;

  id = add (f, "24-hour reminder", "See you {{ appointment.date }}",
            "Hi {{ patient.first_name | \"there\" }},\nsee you at {{ appointment.time }}.", "");

  call_ok (mhf_ipc_agent1_call_list_templates_sync (f->proxy, f->clinic, &templates, NULL,
                                                    &error), error);
  g_assert_cmpuint (g_variant_n_children (templates), ==, 1);
  first = g_variant_get_child_value (templates, 0);
  g_assert_true (g_variant_lookup (first, "name", "&s", &name));
  g_assert_cmpstr (name, ==, "24-hour reminder");

  call_ok (mhf_ipc_agent1_call_update_template_sync (f->proxy, f->clinic, id, "Day-before reminder",
                                                     "Tomorrow at {{ business.name }}",
                                                     "Hi {{ patient.first_name }}.", "",
                                                     NULL, &error), error);

  audit = audit_text (f);
  g_assert_nonnull (strstr (audit, "template.add"));
  g_assert_nonnull (strstr (audit, "name: “24-hour reminder” → “Day-before reminder”"));
  g_assert_nonnull (strstr (audit, "subject: “See you {{ appointment.date }}” → "
                                   "“Tomorrow at {{ business.name }}”"));

  /* Names are unique in a clinic. */
  g_assert_false (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, "Day-before reminder",
                                                         "x", "y", "", &id, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
}

static void
test_invalid_input (Fixture       *f,
                    gconstpointer  data)
{
  static const struct { const char *subject; const char *text; const char *html; const char *msg; }
  cases[] = {
    { "Hi", "Hello\n  {{ patient.surname }}", "", "body_text: line 2, column 6" },
    { "Hi {{ business.name", "Hello", "", "subject: line 1, column 4" },
    { "Hi\nBcc: x@example.com", "Hello", "", "subject: one line only" },
    { "Hi", "", "", "body_text: must not be empty" },
    { "Hi", "Hello", "<p>{{ appointment.when }}</p>", "body_html: line 1, column 7" },
    { "Hi {{ patient.first_name }}", "Hello", "", "subject: the patient's name may only" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 id = 0;

      g_assert_false (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, "t", cases[i].subject,
                                                             cases[i].text, cases[i].html, &id,
                                                             NULL, &error));
      g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
      g_test_message ("case %u: %s", i, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].msg));
    }
}

static void
test_preview_sample_data (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GVariant) preview = NULL;
  g_autoptr(GError) error = NULL;
  const char *subject = NULL, *text = NULL, *html = NULL;

  call_ok (mhf_ipc_agent1_call_preview_template_sync (f->proxy, f->clinic,
                                                      "Your {{ appointment.type }} visit",
                                                      "Hi {{ patient.first_name }}, see you on "
                                                      "{{ appointment.date }}.",
                                                      "<p>{{ business.name }} & co</p>",
                                                      &preview, NULL, &error), error);
  g_assert_true (g_variant_lookup (preview, "subject", "&s", &subject));
  g_assert_true (g_variant_lookup (preview, "text", "&s", &text));
  g_assert_true (g_variant_lookup (preview, "html", "&s", &html));
  g_assert_cmpstr (subject, ==, "Your Follow-up Consultation visit");
  g_assert_cmpstr (text, ==, "Hi Alex, see you on Monday 5 October 2026.");
  g_assert_cmpstr (html, ==, "<p>Example Physio & co</p>");
}

/* The database as someone with its key would change it; the agent must
 * be stopped. Rules have no D-Bus methods yet (issue 5). */
static void
add_rule_directly (Fixture *f,
                   gint64   template_id)
{
  g_autofree char *hex = NULL;
  g_autofree char *material = NULL;
  g_autofree char *sql = NULL;
  g_autofree char *path = g_build_filename (mhf_test_bus_get_data_dir (f->bus), "agent.db", NULL);
  sqlite3 *db = NULL;

  g_assert_cmpint (mhf_test_run (NULL, &hex, NULL, MHF_TEST_SECRET_PATH, "lookup", "database-key",
                                 "none", NULL), ==, 0);
  material = g_strdup_printf ("x'%s'", hex);

  sql = g_strdup_printf ("INSERT INTO rules (clinic_id, name, kind, category, timing, template_id,"
                         "                   created_at, updated_at)"
                         " VALUES (%" G_GINT64_FORMAT ", 'Reminders', 'reminder', 'care', '{}', %"
                         G_GINT64_FORMAT ", 0, 0)", f->clinic, template_id);
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_key (db, material, (int) strlen (material)), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static void
test_delete (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GVariant) templates = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  gint64 used, unused;

  used = add (f, "Used", "Hi", "Hello", "");
  unused = add (f, "Unused", "Hi", "Hello", "");

  /* Another clinic's id for the template: as if it did not exist. */
  g_assert_false (mhf_ipc_agent1_call_delete_template_sync (f->proxy, f->other_clinic, unused,
                                                            NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND);
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_delete_template_sync (f->proxy, f->clinic, unused, NULL, &error),
           error);

  g_clear_object (&f->proxy);
  mhf_test_bus_stop_agent (f->bus);
  add_rule_directly (f, used);
  status = mhf_test_bus_wait_for_state (f->bus, "ready", WAIT_MS);
  g_assert_nonnull (status);
  f->proxy = mhf_ipc_agent1_proxy_new_sync (mhf_test_bus_get_connection (f->bus),
                                            G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                            AGENT_BUS_NAME, AGENT_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  call_ok (mhf_ipc_agent1_call_sign_in_sync (f->proxy, "olivia", OWNER_PASS, &session, NULL,
                                             &error), error);

  /* A template a rule uses cannot go, and says which rule. */
  g_assert_false (mhf_ipc_agent1_call_delete_template_sync (f->proxy, f->clinic, used, NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_assert_nonnull (strstr (error->message, "Reminders"));
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_list_templates_sync (f->proxy, f->clinic, &templates, NULL,
                                                    &error), error);
  g_assert_cmpuint (g_variant_n_children (templates), ==, 1);
}

static void
test_ctl (Fixture       *f,
          gconstpointer  data)
{
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *body = g_build_filename (g_get_user_cache_dir (), "body.txt", NULL);
  g_autofree char *bad = g_build_filename (g_get_user_cache_dir (), "bad.txt", NULL);
  g_autofree char *out = NULL, *err = NULL, *list = NULL, *list_err = NULL;
  g_autofree char *preview = NULL, *preview_err = NULL, *bad_out = NULL, *bad_err = NULL;

  g_mkdir_with_parents (g_get_user_cache_dir (), 0700);
  g_assert_true (g_file_set_contents (body, "Hi {{ patient.first_name }},\n"
                                      "see you at {{ appointment.time }}.\n", -1, NULL));
  g_assert_true (g_file_set_contents (bad, "Hi {{ patient.nickname }}\n", -1, NULL));

  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &out, &err, "--user", "olivia", "--passphrase-stdin",
                            "template", "add", clinic, "Reminder", "--subject",
                            "Your visit {{ appointment.date }}", "--text-file", body, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Added template"));

  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &list, &list_err, "--user", "olivia",
                            "--passphrase-stdin", "template", "list", clinic, "--json", NULL), ==, 0);
  g_assert_nonnull (strstr (list, "\"name\" : \"Reminder\""));

  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &preview, &preview_err, "--user", "olivia",
                            "--passphrase-stdin", "template", "preview", clinic, "1", NULL), ==, 0);
  g_assert_nonnull (strstr (preview, "Subject: Your visit Monday 5 October 2026"));
  g_assert_nonnull (strstr (preview, "Hi Alex,"));

  /* A malformed file: exit 1, with where the problem is. */
  g_assert_cmpint (mhf_test_run_ctl (OWNER_PASS "\n", &bad_out, &bad_err, "--user", "olivia",
                            "--passphrase-stdin", "template", "add", clinic, "Bad", "--subject",
                            "Hi", "--text-file", bad, NULL), ==, 1);
  g_assert_nonnull (strstr (bad_err, "line 1, column 7"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/mhf/agent/templates/add-list-update", test_add_list_update);
  ADD ("/mhf/agent/templates/invalid-input", test_invalid_input);
  ADD ("/mhf/agent/templates/preview-sample-data", test_preview_sample_data);
  ADD ("/mhf/agent/templates/delete", test_delete);
  ADD ("/mhf/agent/templates/ctl", test_ctl);

#undef ADD

  return g_test_run ();
}
