/* test-rules.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Rules through the real agent and the CLI: every field checked and named
 * in its error, enabling recorded, changes audited old → new.
 */

#include "config.h"

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
  gint64        template_id;
  gint64        other_template;
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
  call_ok (mhf_ipc_agent1_call_add_clinic_sync (f->proxy, "Other", &f->other_clinic,
                                                NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->clinic, "Reminder", "See you",
                                                  "Hi {{ patient.first_name }}", "",
                                                  &f->template_id, NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_add_template_sync (f->proxy, f->other_clinic, "Theirs", "Hi",
                                                  "Hello", "", &f->other_template, NULL, &error),
           error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->proxy);
  g_clear_pointer (&f->bus, mhf_test_bus_free);
}

static GVariant *
reminder (Fixture    *f,
          const char *timing)
{
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  const char *businesses[] = { "71", NULL };

  g_variant_dict_insert (&dict, "name", "s", "24-hour reminder");
  g_variant_dict_insert (&dict, "kind", "s", "reminder");
  g_variant_dict_insert (&dict, "template", "x", f->template_id);
  g_variant_dict_insert (&dict, "timing", "s", timing);
  g_variant_dict_insert (&dict, "window", "s", "mon-fri 08:00-18:00");
  g_variant_dict_insert (&dict, "latest-useful-minutes", "x", (gint64) 120);
  g_variant_dict_insert (&dict, "last-minute", "b", TRUE);
  g_variant_dict_insert (&dict, "businesses", "^as", businesses);
  return g_variant_dict_end (&dict);
}

static GVariant *
only_rule (Fixture *f)
{
  g_autoptr(GVariant) rules = NULL;
  g_autoptr(GError) error = NULL;

  call_ok (mhf_ipc_agent1_call_list_rules_sync (f->proxy, f->clinic, &rules, NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (rules), ==, 1);
  return g_variant_get_child_value (rules, 0);
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
test_add_enable_update (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GVariant) rule = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *audit = NULL;
  const char *s = NULL;
  gboolean b = TRUE;
  gint64 id = 0, enabled_at = 0, before;

  call_ok (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic, reminder (f, "24h before"), &id,
                                              NULL, &error), error);

  rule = only_rule (f);
  g_assert_true (g_variant_lookup (rule, "enabled", "b", &b));
  g_assert_false (b);
  g_assert_true (g_variant_lookup (rule, "category", "&s", &s));
  g_assert_cmpstr (s, ==, "care");
  g_assert_true (g_variant_lookup (rule, "window", "&s", &s));
  g_assert_cmpstr (s, ==, "mon-fri 08:00-18:00");
  g_assert_true (g_variant_lookup (rule, "gated-by", "&s", &s));
  g_assert_nonnull (strstr (s, "reminder type"));
  g_clear_pointer (&rule, g_variant_unref);

  /* Enabling records when: nothing before it will ever be planned. */
  before = g_get_real_time ();
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, id, TRUE, NULL, &error),
           error);
  call_ok (mhf_ipc_agent1_call_set_rule_enabled_sync (f->proxy, f->clinic, id, TRUE, NULL, &error),
           error);
  rule = only_rule (f);
  g_assert_true (g_variant_lookup (rule, "enabled", "b", &b));
  g_assert_true (b);
  g_assert_true (g_variant_lookup (rule, "enabled-at", "x", &enabled_at));
  g_assert_cmpint (enabled_at, >=, before);
  g_assert_cmpint (enabled_at, <=, g_get_real_time ());

  call_ok (mhf_ipc_agent1_call_update_rule_sync (f->proxy, f->clinic, id,
                                                 reminder (f, "1d before at 17:00"), NULL, &error),
           error);

  audit = audit_text (f);
  g_assert_nonnull (strstr (audit, "rule.add"));
  g_assert_nonnull (strstr (audit, "disabled → enabled"));
  g_assert_nonnull (strstr (audit, "timing: 24h before → 1d before at 17:00"));
  /* Enabling an enabled rule changes nothing and writes nothing. */
  g_assert_null (strstr (strstr (audit, "disabled → enabled") + 1, "disabled → enabled"));
}

typedef struct
{
  const char *key;
  const char *value;   /* a string, or NULL to remove the key */
  const char *field;
} Change;

static void
test_invalid_input (Fixture       *f,
                    gconstpointer  data)
{
  static const Change changes[] = {
    { "kind", "newsletter", "kind:" },
    { "timing", "24 hours before", "timing:" },
    { "timing", "2d after", "timing: a reminder goes before" },
    { "timing", "0h before", "timing:" },
    { "window", "weekdays 8-6", "window:" },
    { "window", "fri-mon 08:00-18:00", "window:" },
    { "category", "spam", "category:" },
    { "name", "", "name:" },
    { "timing", NULL, "timing: is needed" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (changes); i++)
    {
      g_autoptr(GVariant) base = g_variant_ref_sink (reminder (f, "24h before"));
      g_autoptr(GVariantDict) dict = g_variant_dict_new (base);
      g_autoptr(GError) error = NULL;
      gint64 id = 0;

      if (changes[i].value != NULL)
        g_variant_dict_insert (dict, changes[i].key, "s", changes[i].value);
      else
        g_variant_dict_remove (dict, changes[i].key);

      g_assert_false (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic,
                                                         g_variant_dict_end (dict), &id, NULL,
                                                         &error));
      g_test_message ("case %u: %s", i, error ? error->message : "(none)");
      g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
      g_assert_nonnull (strstr (error->message, changes[i].field));
    }

  /* A recall is always marketing; the last-minute option is for reminders. */
  {
    g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
    g_autoptr(GError) error = NULL;
    gint64 id = 0;

    g_variant_dict_insert (&dict, "name", "s", "Recall");
    g_variant_dict_insert (&dict, "kind", "s", "recall");
    g_variant_dict_insert (&dict, "template", "x", f->template_id);
    g_variant_dict_insert (&dict, "timing", "s", "90d after");
    g_variant_dict_insert (&dict, "category", "s", "care");
    g_assert_false (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic,
                                                       g_variant_dict_end (&dict), &id, NULL,
                                                       &error));
    g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
    g_assert_nonnull (strstr (error->message, "category: a recall is always marketing"));
  }

  /* Another clinic's template is not this clinic's. */
  {
    g_autoptr(GVariant) base = g_variant_ref_sink (reminder (f, "24h before"));
    g_autoptr(GVariantDict) dict = g_variant_dict_new (base);
    g_autoptr(GError) error = NULL;
    gint64 id = 0;

    g_variant_dict_insert (dict, "template", "x", f->other_template);
    g_assert_false (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic,
                                                       g_variant_dict_end (dict), &id, NULL,
                                                       &error));
    g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
    g_assert_nonnull (strstr (error->message, "template:"));
  }
}

static void
test_delete (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GVariant) rules = NULL;
  g_autoptr(GError) error = NULL;
  gint64 id = 0;

  call_ok (mhf_ipc_agent1_call_add_rule_sync (f->proxy, f->clinic, reminder (f, "24h before"), &id,
                                              NULL, &error), error);

  /* Its template cannot go while the rule uses it. */
  g_assert_false (mhf_ipc_agent1_call_delete_template_sync (f->proxy, f->clinic, f->template_id,
                                                            NULL, &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  g_assert_false (mhf_ipc_agent1_call_delete_rule_sync (f->proxy, f->other_clinic, id, NULL,
                                                        &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_NOT_FOUND);
  g_clear_error (&error);

  call_ok (mhf_ipc_agent1_call_delete_rule_sync (f->proxy, f->clinic, id, NULL, &error), error);
  call_ok (mhf_ipc_agent1_call_list_rules_sync (f->proxy, f->clinic, &rules, NULL, &error), error);
  g_assert_cmpuint (g_variant_n_children (rules), ==, 0);
  call_ok (mhf_ipc_agent1_call_delete_template_sync (f->proxy, f->clinic, f->template_id, NULL,
                                                     &error), error);
}

/* myhealthfollowupctl signed in as the owner, with these arguments. */
static int
run_ctl (char **out,
         char **err,
         ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (argv, (char *) mhf_test_bus_get_ctl_path ());
  g_ptr_array_add (argv, "--user");
  g_ptr_array_add (argv, "olivia");
  g_ptr_array_add (argv, "--passphrase-stdin");
  va_start (args, err);
  for (const char *arg = va_arg (args, const char *); arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  return mhf_test_run_argv (OWNER_PASS "\n", out, err, (const char * const *) argv->pdata);
}

static void
test_ctl (Fixture       *f,
          gconstpointer  data)
{
  g_autofree char *clinic = g_strdup_printf ("%" G_GINT64_FORMAT, f->clinic);
  g_autofree char *template_id = g_strdup_printf ("%" G_GINT64_FORMAT, f->template_id);
  g_autofree char *o1 = NULL, *e1 = NULL, *o2 = NULL, *e2 = NULL, *o3 = NULL, *e3 = NULL;
  g_autofree char *o4 = NULL, *e4 = NULL, *o5 = NULL, *e5 = NULL;

  g_assert_cmpint (run_ctl (&o1, &e1, "rule", "add", clinic, "Follow-up", "--kind", "follow-up",
                            "--template", template_id, "--timing", "2d after", "--window",
                            "mon-fri 09:00-17:00", NULL), ==, 0);
  g_assert_nonnull (strstr (o1, "(disabled)"));

  g_assert_cmpint (run_ctl (&o2, &e2, "rule", "enable", clinic, "1", NULL), ==, 0);
  g_assert_cmpint (run_ctl (&o3, &e3, "rule", "edit", clinic, "1", "--timing", "3d after", NULL),
                   ==, 0);
  g_assert_cmpint (run_ctl (&o4, &e4, "rule", "list", clinic, NULL), ==, 0);
  g_assert_nonnull (strstr (o4, "Follow-up"));
  g_assert_nonnull (strstr (o4, "3d after"));
  g_assert_nonnull (strstr (o4, "enabled"));

  /* A timing the agent refuses: exit 1 and the field named. */
  g_assert_cmpint (run_ctl (&o5, &e5, "rule", "edit", clinic, "1", "--timing", "soon", NULL), ==, 1);
  g_assert_nonnull (strstr (e5, "timing:"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/mhf/agent/rules/add-enable-update", test_add_enable_update);
  ADD ("/mhf/agent/rules/invalid-input", test_invalid_input);
  ADD ("/mhf/agent/rules/delete", test_delete);
  ADD ("/mhf/agent/rules/ctl", test_ctl);

#undef ADD

  return g_test_run ();
}
