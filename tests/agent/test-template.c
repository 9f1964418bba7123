/* test-template.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The placeholder language: what it accepts, where it says it fails, and
 * how values are placed in text, HTML and subjects.
 */

#include "config.h"

#include <string.h>

#include "mhf-error.h"
#include "mhf-template.h"

static char *
render (const char      *text,
        GHashTable      *values,
        MhfTemplateMode  mode)
{
  g_autoptr(MhfTemplate) tmpl = NULL;
  g_autoptr(GError) error = NULL;

  tmpl = mhf_template_parse (text, &error);
  g_assert_no_error (error);
  return mhf_template_render (tmpl, values, mode);
}

static void
test_render (void)
{
  g_autoptr(GHashTable) values = mhf_template_sample_values ();
  g_autofree char *text = NULL;

  text = render ("Hello {{ patient.first_name }},\nsee you {{appointment.date}} at "
                 "{{ appointment.time }} with {{ practitioner.name | \"your practitioner\" }}.",
                 values, MHF_TEMPLATE_TEXT);
  g_assert_cmpstr (text, ==, "Hello Alex,\nsee you Monday 5 October 2026 at 9:00 am with "
                   "Dr Sam Example.");
}

static void
test_fallback (void)
{
  g_autoptr(GHashTable) values = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *missing = NULL;
  g_autofree char *empty = NULL;

  missing = render ("Hi {{ patient.first_name | \"there\" }}!", values, MHF_TEMPLATE_TEXT);
  g_assert_cmpstr (missing, ==, "Hi there!");

  g_hash_table_insert (values, "patient.first_name", "");
  empty = render ("Hi {{ patient.first_name | \"there\" }}{{ business.name }}!", values,
                  MHF_TEMPLATE_TEXT);
  g_assert_cmpstr (empty, ==, "Hi there!");
}

static void
test_html_escaped (void)
{
  g_autoptr(GHashTable) values = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *html = NULL;
  g_autofree char *text = NULL;

  g_hash_table_insert (values, "patient.first_name", "<b>Zoë</b> & “O’Brien”");
  html = render ("<p>Hi {{ patient.first_name }}</p>", values, MHF_TEMPLATE_HTML);
  g_assert_cmpstr (html, ==, "<p>Hi &lt;b&gt;Zoë&lt;/b&gt; &amp; “O’Brien”</p>");

  /* Plain text keeps the value as it is. */
  text = render ("Hi {{ patient.first_name }}", values, MHF_TEMPLATE_TEXT);
  g_assert_cmpstr (text, ==, "Hi <b>Zoë</b> & “O’Brien”");
}

static void
test_subject_one_line (void)
{
  g_autoptr(GHashTable) values = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *subject = NULL;

  g_hash_table_insert (values, "business.name", "Example\r\nBcc: someone@example.com");
  subject = render ("Your visit at {{ business.name }}", values, MHF_TEMPLATE_SUBJECT);
  g_assert_null (strchr (subject, '\n'));
  g_assert_null (strchr (subject, '\r'));
  g_assert_cmpstr (subject, ==, "Your visit at Example  Bcc: someone@example.com");
}

static void
test_errors (void)
{
  static const struct { const char *text; const char *where; const char *what; } cases[] = {
    { "Hello {{ patient.name }}", "line 1, column 10", "not a variable" },
    { "Hello\nthere {{ patient.first_name", "line 2, column 7", "not closed" },
    { "A\nB\n  {{ }}", "line 3, column 6", "variable name is expected" },
    { "{{ business.name | there }}", "line 1, column 20", "fallback in double quotes" },
    { "{{ business.name extra }}", "line 1, column 18", "“}}” is expected" },
    { "Hi patient.first_name }}", "line 1, column 23", "without “{{”" },
    { "{{ business.name\n}}", "line 1, column 1", "not closed" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MhfTemplate) tmpl = NULL;
      g_autoptr(GError) error = NULL;

      tmpl = mhf_template_parse (cases[i].text, &error);
      g_test_message ("case %u: %s", i, error ? error->message : "(no error)");
      g_assert_null (tmpl);
      g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
      g_assert_true (g_str_has_prefix (error->message, cases[i].where));
      g_assert_nonnull (strstr (error->message, cases[i].what));
    }
}

static void
test_variables_listed (void)
{
  const char * const *variables = mhf_template_variables ();
  g_autoptr(GHashTable) samples = mhf_template_sample_values ();
  guint n = 0;

  /* Every variable has sample data for previews, and parses. */
  for (; variables[n] != NULL; n++)
    {
      g_autofree char *text = g_strdup_printf ("{{ %s }}", variables[n]);
      g_autofree char *rendered = render (text, samples, MHF_TEMPLATE_TEXT);

      g_assert_cmpstr (rendered, !=, "");
    }
  g_assert_cmpuint (n, ==, g_hash_table_size (samples));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mhf/agent/template/render", test_render);
  g_test_add_func ("/mhf/agent/template/fallback", test_fallback);
  g_test_add_func ("/mhf/agent/template/html-escaped", test_html_escaped);
  g_test_add_func ("/mhf/agent/template/subject-one-line", test_subject_one_line);
  g_test_add_func ("/mhf/agent/template/errors", test_errors);
  g_test_add_func ("/mhf/agent/template/variables-listed", test_variables_listed);

  return g_test_run ();
}
