/* mhf-rule.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Checking a rule's settings. Timings and send windows are short texts a
 * practice manager can read back:
 *
 *   timing  "24h before", "90m before", "2d after", "1d before at 17:00"
 *   window  "mon-fri 08:00-18:00", "mon,wed,fri 09:00-17:30", "daily 07:00-20:00"
 *
 * Every error names the field it is about.
 */

#include "config.h"

#include "mhf-rule.h"

#include "mhf-error.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

static const char * const kinds[] = { "reminder", "follow-up", "did-not-arrive", "recall", NULL };
static const char * const day_names[] = { "", "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

#define MAX_OFFSET_MINUTES (365 * 24 * 60)

void
mhf_rule_spec_clear (MhfRuleSpec *spec)
{
  g_clear_pointer (&spec->name, g_free);
  g_clear_pointer (&spec->kind, g_free);
  g_clear_pointer (&spec->category, g_free);
  g_clear_pointer (&spec->timing_text, g_free);
  g_clear_pointer (&spec->window_text, g_free);
  g_clear_pointer (&spec->businesses, g_strfreev);
  g_clear_pointer (&spec->practitioners, g_strfreev);
  g_clear_pointer (&spec->appointment_types, g_strfreev);
}

static gboolean
parse_hhmm (const char *text,
            int        *minutes)
{
  int h, m;
  char extra;

  if (sscanf (text, "%2d:%2d%c", &h, &m, &extra) != 2 || strlen (text) != 5)
    return FALSE;
  if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0))
    return FALSE;
  *minutes = h * 60 + m;
  return TRUE;
}

/**
 * mhf_rule_parse_timing:
 *
 * "N{m,h,d} before", "N{m,h,d} after" or "Nd before at HH:MM".
 */
gboolean
mhf_rule_parse_timing (const char  *text,
                       MhfTiming   *timing,
                       GError     **error)
{
  g_auto(GStrv) words = g_strsplit (text, " ", -1);
  guint64 amount;
  char *end = NULL;
  gint64 unit;
  int at = 0;

  memset (timing, 0, sizeof *timing);

  if (g_strv_length (words) < 2 || words[0][0] == '\0')
    goto invalid;

  amount = g_ascii_strtoull (words[0], &end, 10);
  if (end == words[0] || amount == 0)
    goto invalid;

  switch (*end)
    {
    case 'm': unit = 1; break;
    case 'h': unit = 60; break;
    case 'd': unit = 24 * 60; break;
    default: goto invalid;
    }
  if (end[1] != '\0' || amount * unit > MAX_OFFSET_MINUTES)
    goto invalid;

  if (g_strv_length (words) == 2 && g_str_equal (words[1], "before"))
    {
      timing->kind = MHF_TIMING_BEFORE_START;
      timing->offset_minutes = (gint64) (amount * unit);
      return TRUE;
    }
  if (g_strv_length (words) == 2 && g_str_equal (words[1], "after"))
    {
      timing->kind = MHF_TIMING_AFTER_END;
      timing->offset_minutes = (gint64) (amount * unit);
      return TRUE;
    }
  if (g_strv_length (words) == 4 && *end == 'd' && g_str_equal (words[1], "before") &&
      g_str_equal (words[2], "at") && parse_hhmm (words[3], &at) && at < 24 * 60)
    {
      timing->kind = MHF_TIMING_DAYS_BEFORE_AT;
      timing->days = (int) amount;
      timing->hour = at / 60;
      timing->minute = at % 60;
      return TRUE;
    }

invalid:
  g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
               "timing: “%s” is not a timing; write e.g. “24h before”, “2d after” or "
               "“1d before at 17:00” (up to a year)", text);
  return FALSE;
}

static int
day_number (const char *name)
{
  for (int i = 1; i <= 7; i++)
    {
      if (g_ascii_strcasecmp (name, day_names[i]) == 0)
        return i;
    }
  return 0;
}

/**
 * mhf_rule_parse_window:
 *
 * "" (any time), or "DAYS HH:MM-HH:MM" with DAYS "daily", a range
 * "mon-fri" or a list "mon,wed,fri".
 */
gboolean
mhf_rule_parse_window (const char     *text,
                       MhfSendWindow  *window,
                       GError        **error)
{
  g_auto(GStrv) words = NULL;
  g_auto(GStrv) hours = NULL;
  guint weekdays = 0;

  memset (window, 0, sizeof *window);
  window->weekdays = MHF_WEEKDAYS_ALL;
  window->end_minute = 24 * 60;

  if (*text == '\0')
    return TRUE;

  words = g_strsplit (text, " ", -1);
  if (g_strv_length (words) != 2)
    goto invalid;

  if (g_ascii_strcasecmp (words[0], "daily") == 0)
    weekdays = MHF_WEEKDAYS_ALL;
  else if (strchr (words[0], '-') != NULL)
    {
      g_auto(GStrv) range = g_strsplit (words[0], "-", 2);
      int from = day_number (range[0]);
      int to = range[1] != NULL ? day_number (range[1]) : 0;

      if (from == 0 || to == 0 || to < from)
        goto invalid;
      for (int d = from; d <= to; d++)
        weekdays |= 1u << d;
    }
  else
    {
      g_auto(GStrv) list = g_strsplit (words[0], ",", -1);

      for (guint i = 0; list[i] != NULL; i++)
        {
          int d = day_number (list[i]);

          if (d == 0)
            goto invalid;
          weekdays |= 1u << d;
        }
    }

  hours = g_strsplit (words[1], "-", 2);
  if (g_strv_length (hours) != 2 ||
      !parse_hhmm (hours[0], &window->start_minute) ||
      !parse_hhmm (hours[1], &window->end_minute) ||
      window->end_minute <= window->start_minute)
    goto invalid;

  window->weekdays = weekdays;
  return TRUE;

invalid:
  g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
               "window: “%s” is not a send window; write e.g. “mon-fri 08:00-18:00”, "
               "“mon,wed,fri 09:00-17:00” or “daily 07:00-20:00”", text);
  return FALSE;
}

static GStrv
lookup_ids (GVariant    *dict,
            const char  *key,
            GError     **error)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (dict, key, NULL);
  const char **ids;

  if (value == NULL)
    return g_new0 (char *, 1);

  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY))
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "%s: a list of Cliniko ids (as) is expected", key);
      return NULL;
    }

  ids = g_variant_get_strv (value, NULL);
  for (guint i = 0; ids[i] != NULL; i++)
    {
      guint64 unused;

      /* Cliniko ids are integers, sent as strings. */
      if (!g_ascii_string_to_unsigned (ids[i], 10, 1, G_MAXUINT64, &unused, NULL))
        {
          g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                       "%s: “%s” is not a Cliniko id", key, ids[i]);
          g_free (ids);
          return NULL;
        }
    }

  {
    GStrv copy = g_strdupv ((char **) ids);
    g_free (ids);
    return copy;
  }
}

static gboolean
lookup_string (GVariant    *dict,
               const char  *key,
               gboolean     required,
               char       **out,
               GError     **error)
{
  g_autoptr(GVariant) present = g_variant_lookup_value (dict, key, NULL);
  const char *value = NULL;

  if (!g_variant_lookup (dict, key, "&s", &value))
    {
      if (present != NULL || required)
        {
          g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                       required ? "%s: is needed (a string)" : "%s: must be a string", key);
          return FALSE;
        }
      *out = NULL;
      return TRUE;
    }

  *out = g_strdup (value);
  return TRUE;
}

/**
 * mhf_rule_spec_parse:
 * @dict: the rule as a client sent it (a{sv})
 *
 * Keys: "name" (s), "kind" (s), "template" (x), "timing" (s), and
 * optionally "category" (s), "window" (s), "latest-useful-minutes" (x),
 * "last-minute" (b), "businesses", "practitioners", "appointment-types" (as).
 */
gboolean
mhf_rule_spec_parse (GVariant     *dict,
                     MhfRuleSpec  *spec,
                     GError      **error)
{
  g_autoptr(GVariant) latest = NULL;
  gboolean before;

  memset (spec, 0, sizeof *spec);

  if (!lookup_string (dict, "name", TRUE, &spec->name, error))
    return FALSE;
  if (*g_strstrip (spec->name) == '\0' || g_utf8_strlen (spec->name, -1) > 128 ||
      strpbrk (spec->name, "\r\n\t") != NULL)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "name: 1 to 128 characters on one line");
      return FALSE;
    }

  if (!lookup_string (dict, "kind", TRUE, &spec->kind, error))
    return FALSE;
  if (!g_strv_contains (kinds, spec->kind))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "kind: one of reminder, follow-up, did-not-arrive or recall");
      return FALSE;
    }

  if (!g_variant_lookup (dict, "template", "x", &spec->template_id) || spec->template_id <= 0)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "template: the id of one of this clinic's templates is needed");
      return FALSE;
    }

  if (!lookup_string (dict, "timing", TRUE, &spec->timing_text, error) ||
      !mhf_rule_parse_timing (spec->timing_text, &spec->timing, error))
    return FALSE;

  before = spec->timing.kind != MHF_TIMING_AFTER_END;
  if (g_str_equal (spec->kind, "reminder") && !before)
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "timing: a reminder goes before the appointment");
      return FALSE;
    }
  if (!g_str_equal (spec->kind, "reminder") && before)
    {
      g_set_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                   "timing: a %s goes after the appointment", spec->kind);
      return FALSE;
    }

  if (!lookup_string (dict, "category", FALSE, &spec->category, error))
    return FALSE;
  if (spec->category == NULL)
    spec->category = g_strdup (g_str_equal (spec->kind, "recall") ? "marketing" : "care");
  if (!g_str_equal (spec->category, "care") && !g_str_equal (spec->category, "marketing"))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT, "category: care or marketing");
      return FALSE;
    }
  if (g_str_equal (spec->kind, "recall") && !g_str_equal (spec->category, "marketing"))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "category: a recall is always marketing");
      return FALSE;
    }

  if (!lookup_string (dict, "window", FALSE, &spec->window_text, error))
    return FALSE;
  if (spec->window_text == NULL)
    spec->window_text = g_strdup ("");
  if (!mhf_rule_parse_window (spec->window_text, &spec->window, error))
    return FALSE;

  latest = g_variant_lookup_value (dict, "latest-useful-minutes", NULL);
  if (latest != NULL &&
      (!g_variant_lookup (dict, "latest-useful-minutes", "x", &spec->latest_useful_minutes) ||
       spec->latest_useful_minutes < 0 || spec->latest_useful_minutes > MAX_OFFSET_MINUTES))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "latest-useful-minutes: 0 to 525600 minutes");
      return FALSE;
    }

  g_variant_lookup (dict, "last-minute", "b", &spec->last_minute);
  if (spec->last_minute && !g_str_equal (spec->kind, "reminder"))
    {
      g_set_error_literal (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                           "last-minute: only reminders have a last-minute option");
      return FALSE;
    }

  if ((spec->businesses = lookup_ids (dict, "businesses", error)) == NULL ||
      (spec->practitioners = lookup_ids (dict, "practitioners", error)) == NULL ||
      (spec->appointment_types = lookup_ids (dict, "appointment-types", error)) == NULL)
    return FALSE;

  return TRUE;
}

static void
add_ids (JsonBuilder *builder,
         const char  *name,
         GStrv        ids)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    json_builder_add_string_value (builder, ids[i]);
  json_builder_end_array (builder);
}

char *
mhf_rule_spec_filters_json (const MhfRuleSpec *spec)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  add_ids (builder, "businesses", spec->businesses);
  add_ids (builder, "practitioners", spec->practitioners);
  add_ids (builder, "appointment-types", spec->appointment_types);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/**
 * mhf_rule_gated_by:
 *
 * Which Cliniko patient setting decides, at send time, whether a message
 * of this kind may go; for people, in the app and the CLI.
 */
const char *
mhf_rule_gated_by (const char *kind)
{
  if (g_strcmp0 (kind, "recall") == 0)
    return "the patient accepted email marketing in Cliniko";
  return "the patient's reminder type in Cliniko includes Email";
}

static GStrv
stored_ids (JsonObject *filters,
            const char *member)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array = NULL;

  if (filters != NULL && json_object_has_member (filters, member) &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (filters, member)))
    array = json_object_get_array_member (filters, member);
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        g_strv_builder_add (builder, json_node_get_string (node));
    }
  return g_strv_builder_end (builder);
}

static JsonObject *
stored_object (JsonParser *parser,
               const char *json)
{
  if (json == NULL || !json_parser_load_from_data (parser, json, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return NULL;
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/**
 * mhf_rule_spec_load:
 * @timing: the stored timing document ({"text", "last-minute"})
 * @filters: the stored filters document
 * @window: the stored window document ({"text"})
 *
 * Rebuilds a rule's settings from what the rules table holds, checking
 * the texts again, so that planning and listing read rules one way.
 */
gboolean
mhf_rule_spec_load (MhfRuleSpec  *spec,
                    const char   *name,
                    const char   *kind,
                    const char   *category,
                    gint64        template_id,
                    const char   *timing,
                    const char   *filters,
                    const char   *window,
                    gint64        latest_useful_minutes,
                    GError      **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonObject) timing_object = stored_object (parser, timing);
  g_autoptr(JsonObject) window_object = stored_object (parser, window);
  g_autoptr(JsonObject) filters_object = stored_object (parser, filters);

  memset (spec, 0, sizeof *spec);
  spec->name = g_strdup (name);
  spec->kind = g_strdup (kind);
  spec->category = g_strdup (category);
  spec->template_id = template_id;
  spec->latest_useful_minutes = latest_useful_minutes;
  spec->timing_text = g_strdup (timing_object != NULL
                                ? json_object_get_string_member_with_default (timing_object,
                                                                              "text", "")
                                : "");
  spec->last_minute = timing_object != NULL &&
                      json_object_get_boolean_member_with_default (timing_object, "last-minute",
                                                                   FALSE);
  spec->window_text = g_strdup (window_object != NULL
                                ? json_object_get_string_member_with_default (window_object,
                                                                              "text", "")
                                : "");
  spec->businesses = stored_ids (filters_object, "businesses");
  spec->practitioners = stored_ids (filters_object, "practitioners");
  spec->appointment_types = stored_ids (filters_object, "appointment-types");

  return mhf_rule_parse_timing (spec->timing_text, &spec->timing, error) &&
         mhf_rule_parse_window (spec->window_text, &spec->window, error);
}
