/* mhf-template.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The placeholder language of message templates, small on purpose:
 *
 *   Hello {{ patient.first_name }},
 *   see you on {{ appointment.date }} at {{ appointment.time }}
 *   with {{ practitioner.name | "your practitioner" }}.
 *
 * A placeholder is a variable from a fixed list (mhf_template_variables()),
 * optionally followed by "|" and a fallback in double quotes, used when the
 * value is empty. There are no loops, conditions or expressions. Errors
 * name the line and column where they are, counted in characters from 1.
 */

#include "config.h"

#include "mhf-template.h"

#include "mhf-variables.h"

#include "mhf-error.h"

#include <string.h>


typedef struct
{
  char  *literal;   /* text, or NULL for a placeholder */
  char  *variable;
  char  *fallback;
  gsize  offset;    /* where the literal starts in the template */
} Segment;

struct _MhfTemplate
{
  GArray *segments;
};

const char * const *
mhf_template_variables (void)
{
  return mhf_template_variable_names ();
}

/* Whether the template uses @variable anywhere. */
gboolean
mhf_template_uses (MhfTemplate *self,
                   const char  *variable)
{
  for (guint i = 0; i < self->segments->len; i++)
    {
      const Segment *segment = &g_array_index (self->segments, Segment, i);

      if (segment->literal == NULL && g_strcmp0 (segment->variable, variable) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
is_variable (const char *name)
{
  return g_strv_contains (mhf_template_variable_names (), name);
}

static void
segment_clear (gpointer data)
{
  Segment *segment = data;

  g_free (segment->literal);
  g_free (segment->variable);
  g_free (segment->fallback);
}

void
mhf_template_free (MhfTemplate *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->segments);
  g_free (self);
}

/* Line and column (1-based, in characters) of @at within @text. */
static void
position (const char *text,
          const char *at,
          int        *line,
          int        *column)
{
  *line = 1;
  *column = 1;
  for (const char *p = text; p < at; p = g_utf8_next_char (p))
    {
      if (*p == '\n')
        {
          (*line)++;
          *column = 1;
        }
      else
        (*column)++;
    }
}

G_GNUC_PRINTF (4, 5)
static void
set_error_at (GError    **error,
              const char *text,
              const char *at,
              const char *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;
  int line, column;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  position (text, at, &line, &column);
  g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
               "line %d, column %d: %s", line, column, message);
}

static const char *
skip_spaces (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/**
 * mhf_template_parse:
 *
 * Returns: (transfer full) (nullable): the template, or %NULL with an
 *   %MHF_ERROR_INVALID_INPUT error naming the line and column
 */
MhfTemplate *
mhf_template_parse (const char  *text,
                    GError     **error)
{
  g_autoptr(MhfTemplate) self = g_new0 (MhfTemplate, 1);
  const char *p = text;

  g_return_val_if_fail (text != NULL, NULL);

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "not valid UTF-8 text");
      return NULL;
    }

  self->segments = g_array_new (FALSE, TRUE, sizeof (Segment));
  g_array_set_clear_func (self->segments, segment_clear);

  while (*p != '\0')
    {
      const char *open = strstr (p, "{{");
      const char *start, *end, *close;
      Segment segment = { 0 };

      if (open == NULL)
        {
          segment.literal = g_strdup (p);
          segment.offset = p - text;
          g_array_append_val (self->segments, segment);
          break;
        }

      if (open > p)
        {
          Segment literal = { g_strndup (p, open - p), NULL, NULL, p - text };
          g_array_append_val (self->segments, literal);
        }

      close = strstr (open + 2, "}}");
      {
        const char *nested = strstr (open + 2, "{{");
        const char *newline = strchr (open + 2, '\n');

        if (close == NULL || (nested != NULL && nested < close) ||
            (newline != NULL && newline < close))
          {
            set_error_at (error, text, open, "“{{” is not closed with “}}” on the same line");
            return NULL;
          }
      }

      /* The variable name. */
      start = skip_spaces (open + 2);
      end = start;
      while (end < close && (g_ascii_isalnum (*end) || *end == '_' || *end == '.'))
        end++;
      if (end == start)
        {
          set_error_at (error, text, start, "a variable name is expected here");
          return NULL;
        }
      segment.variable = g_strndup (start, end - start);
      if (!is_variable (segment.variable))
        {
          set_error_at (error, text, start, "“%s” is not a variable; see the list of variables",
                        segment.variable);
          segment_clear (&segment);
          return NULL;
        }

      /* An optional fallback: | "text" */
      p = skip_spaces (end);
      if (*p == '|')
        {
          const char *quote = skip_spaces (p + 1);
          const char *endquote;

          if (*quote != '"' || (endquote = strchr (quote + 1, '"')) == NULL || endquote > close)
            {
              set_error_at (error, text, quote, "a fallback in double quotes is expected after “|”");
              segment_clear (&segment);
              return NULL;
            }
          segment.fallback = g_strndup (quote + 1, endquote - quote - 1);
          p = skip_spaces (endquote + 1);
        }

      if (p != close)
        {
          set_error_at (error, text, p, "“}}” is expected here");
          segment_clear (&segment);
          return NULL;
        }

      g_array_append_val (self->segments, segment);
      p = close + 2;
    }

  /* A stray "}}" is most likely a placeholder missing its "{{". */
  for (guint i = 0; i < self->segments->len; i++)
    {
      Segment *segment = &g_array_index (self->segments, Segment, i);
      const char *stray;

      if (segment->literal != NULL && (stray = strstr (segment->literal, "}}")) != NULL)
        {
          set_error_at (error, text, text + segment->offset + (stray - segment->literal),
                        "“}}” without “{{”");
          return NULL;
        }
    }

  return g_steal_pointer (&self);
}

static void
append_value (GString         *out,
              const char      *value,
              MhfTemplateMode  mode)
{
  g_autofree char *escaped = NULL;

  switch (mode)
    {
    case MHF_TEMPLATE_HTML:
      escaped = g_markup_escape_text (value, -1);
      g_string_append (out, escaped);
      break;

    case MHF_TEMPLATE_SUBJECT:
      /* A header must stay one line, whatever a value holds. */
      for (const char *p = value; *p != '\0'; p++)
        g_string_append_c (out, (*p == '\r' || *p == '\n') ? ' ' : *p);
      break;

    case MHF_TEMPLATE_TEXT:
    default:
      g_string_append (out, value);
      break;
    }
}

/**
 * mhf_template_render:
 * @values: variable name → value; a missing or empty value uses the
 *   placeholder's fallback, or nothing
 *
 * Returns: (transfer full): the rendered text. In %MHF_TEMPLATE_SUBJECT
 *   mode the result never contains a line break.
 */
char *
mhf_template_render (MhfTemplate     *self,
                     GHashTable      *values,
                     MhfTemplateMode  mode)
{
  GString *out = g_string_new (NULL);

  g_return_val_if_fail (self != NULL, NULL);

  for (guint i = 0; i < self->segments->len; i++)
    {
      Segment *segment = &g_array_index (self->segments, Segment, i);
      const char *value;

      if (segment->literal != NULL)
        {
          if (mode == MHF_TEMPLATE_SUBJECT)
            append_value (out, segment->literal, mode);
          else
            g_string_append (out, segment->literal);
          continue;
        }

      value = values != NULL ? g_hash_table_lookup (values, segment->variable) : NULL;
      if (value == NULL || *value == '\0')
        value = segment->fallback != NULL ? segment->fallback : "";
      append_value (out, value, mode);
    }

  return g_string_free (out, FALSE);
}

/**
 * mhf_template_sample_values:
 *
 * Built-in sample data for previews: made up, never a real patient's.
 */
GHashTable *
mhf_template_sample_values (void)
{
  GHashTable *values = g_hash_table_new (g_str_hash, g_str_equal);

  g_hash_table_insert (values, "patient.first_name", "Alex");
  g_hash_table_insert (values, "practitioner.name", "Dr Sam Example");
  g_hash_table_insert (values, "business.name", "Example Physio");
  g_hash_table_insert (values, "business.address", "1 Sample Street, Exampleton");
  g_hash_table_insert (values, "business.phone", "(00) 0000 0000");
  g_hash_table_insert (values, "appointment.date", "Monday 5 October 2026");
  g_hash_table_insert (values, "appointment.time", "9:00 am");
  g_hash_table_insert (values, "appointment.duration", "45 minutes");
  g_hash_table_insert (values, "appointment.type", "Follow-up Consultation");
  g_hash_table_insert (values, "terminology.patient", "patient");
  g_hash_table_insert (values, "sender.name", "Example Physio");
  g_hash_table_insert (values, "sender.email", "reception@example.com");
  return values;
}
