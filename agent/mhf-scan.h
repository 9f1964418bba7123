/* mhf-scan.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "mhf-planner.h"
#include "mhf-rule.h"

G_BEGIN_DECLS

/* What a scan learnt of one appointment, or of one attendee of a class:
 * Cliniko ids and times only, never a name. */
typedef struct
{
  char   *appointment_id;
  char   *attendee_id;       /* "" for an individual appointment */
  char   *patient_id;
  char   *business_id;
  char   *practitioner_id;
  char   *appointment_type_id;
  gint64  starts_at;         /* UTC µs */
  gint64  ends_at;
  gint64  updated_at;
  /* NULL, or why it no longer takes messages: a reason code */
  const char *gone;
  /* with @gone: every attendee's rows of the appointment */
  gboolean whole_appointment;
} MhfScanItem;

typedef struct
{
  gint64      id;
  MhfRuleSpec spec;
  gint64      enabled_at;
} MhfScanRule;

typedef struct
{
  guint items;        /* appointments and attendees looked at */
  guint planned;      /* new rows */
  guint replanned;    /* pending rows given a new time */
  guint cancelled;    /* pending rows cancelled, by reason */
  guint skipped;      /* new rows recorded as skipped */
} MhfScanCounts;

void         mhf_scan_item_free            (MhfScanItem  *item);
MhfScanItem *mhf_scan_item_new_gone        (const char   *appointment_id,
                                            const char   *attendee_id,
                                            const char   *reason);
MhfScanItem *mhf_scan_item_from_appointment (JsonObject  *row);
MhfScanItem *mhf_scan_item_from_attendee   (JsonObject   *group,
                                            JsonObject   *attendee);
char        *mhf_scan_linked_id            (JsonObject   *row,
                                            const char   *member);
const char  *mhf_scan_gone_reason          (JsonObject   *row);
gint64       mhf_scan_parse_time           (JsonObject   *row,
                                            const char   *member);
void         mhf_scan_item_to_info         (const MhfScanItem  *item,
                                            MhfAppointmentInfo *info);

void         mhf_scan_rule_free            (MhfScanRule  *rule);
GPtrArray   *mhf_scan_load_rules           (sqlite3      *db,
                                            gint64        clinic_id,
                                            GError      **error);
gint64       mhf_scan_rules_reach_before   (GPtrArray    *rules);
gint64       mhf_scan_rules_reach_after    (GPtrArray    *rules);

gboolean     mhf_scan_read_clinic          (sqlite3      *db,
                                            gint64        clinic_id,
                                            char        **base_url,
                                            char        **fingerprint,
                                            GTimeZone   **account_zone,
                                            GHashTable   *zones,
                                            GError      **error);
gboolean     mhf_scan_apply                (sqlite3      *db,
                                            gint64        clinic_id,
                                            GPtrArray    *rules,
                                            GPtrArray    *items,
                                            GHashTable   *zones,
                                            GTimeZone    *default_zone,
                                            gint64        now,
                                            MhfScanCounts *counts,
                                            GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MhfScanItem, mhf_scan_item_free)

G_END_DECLS
