/* mhf-rule.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

#include "mhf-plan-time.h"

G_BEGIN_DECLS

/* A rule's settings, as checked from the a{sv} a client sends. */
typedef struct
{
  char          *name;
  char          *kind;             /* reminder, follow-up, did-not-arrive, recall */
  char          *category;         /* care, marketing */
  gint64         template_id;
  char          *timing_text;      /* "24h before", "2d after", "1d before at 17:00" */
  MhfTiming      timing;
  char          *window_text;      /* "" or "mon-fri 08:00-18:00" */
  MhfSendWindow  window;
  gint64         latest_useful_minutes;
  gboolean       last_minute;
  GStrv          businesses;
  GStrv          practitioners;
  GStrv          appointment_types;
} MhfRuleSpec;

gboolean  mhf_rule_spec_parse        (GVariant     *dict,
                                      MhfRuleSpec  *spec,
                                      GError      **error);
gboolean  mhf_rule_parse_timing      (const char   *text,
                                      MhfTiming    *timing,
                                      GError      **error);
gboolean  mhf_rule_parse_window      (const char   *text,
                                      MhfSendWindow *window,
                                      GError      **error);
gboolean  mhf_rule_spec_load         (MhfRuleSpec  *spec,
                                      const char   *name,
                                      const char   *kind,
                                      const char   *category,
                                      gint64        template_id,
                                      const char   *timing,
                                      const char   *filters,
                                      const char   *window,
                                      gint64        latest_useful_minutes,
                                      GError      **error);
char     *mhf_rule_spec_filters_json (const MhfRuleSpec *spec);
const char *mhf_rule_gated_by        (const char   *kind);
void      mhf_rule_spec_clear        (MhfRuleSpec  *spec);

G_END_DECLS
