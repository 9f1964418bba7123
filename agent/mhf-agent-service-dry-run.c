/* mhf-agent-service-dry-run.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * What a rule would plan over the next days: the clinic's appointments
 * from Cliniko, each decided by mhf_planner_decide(), nothing stored and
 * nothing sent.
 */

#include "config.h"

#include "mhf-agent-service-private.h"

#include "mhf-cliniko-client.h"
#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-keyring.h"
#include "mhf-planner.h"
#include "mhf-scan.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define DAY_USEC    ((gint64) 24 * 60 * 60 * G_USEC_PER_SEC)
#define MAX_FIRST   10

typedef struct
{
  MhfAgentService       *self;
  GDBusMethodInvocation *invocation;
  gint64                 clinic_id;
  guint                  days;
  MhfRuleSpec            spec;
  char                  *base_url;
  char                  *fingerprint;
  GTimeZone             *account_zone;
  GHashTable            *business_zones;   /* business id -> GTimeZone */
  char                  *key;
  MhfClinikoClient      *client;
} DryRun;

static void
dry_run_free (DryRun *d)
{
  g_clear_object (&d->self);
  g_clear_object (&d->invocation);
  mhf_rule_spec_clear (&d->spec);
  g_free (d->base_url);
  g_free (d->fingerprint);
  g_clear_pointer (&d->account_zone, g_time_zone_unref);
  g_clear_pointer (&d->business_zones, g_hash_table_unref);
  if (d->key != NULL)
    {
      memset (d->key, 0, strlen (d->key));
      g_free (d->key);
    }
  g_clear_object (&d->client);
  g_free (d);
}

static void
fail (DryRun *d,
      GError *error)
{
  if (error->domain == MHF_CLINIKO_ERROR)
    {
      MhfError code = g_error_matches (error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED)
        ? MHF_ERROR_CLINIKO_KEY_REJECTED : MHF_ERROR_NETWORK;
      GError *wrapped = g_error_new (MHF_ERROR, code, "Cliniko: %s", error->message);

      g_error_free (error);
      error = wrapped;
    }
  g_dbus_method_invocation_return_gerror (d->invocation, error);
  g_error_free (error);
  dry_run_free (d);
}

static int
compare_times (gconstpointer a,
               gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static void
listed_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  DryRun *d = user_data;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) planned_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder first;
  guint counts[MHF_PLAN_BEFORE_ENABLED + 1] = { 0 };
  gint64 now = g_get_real_time ();
  gint64 horizon = now + (gint64) d->days * DAY_USEC;

  rows = mhf_cliniko_client_list_finish (d->client, result, &error);
  if (rows == NULL)
    {
      fail (d, g_steal_pointer (&error));
      return;
    }

  for (guint i = 0; i < rows->len; i++)
    {
      g_autoptr(MhfScanItem) item = mhf_scan_item_from_appointment (g_ptr_array_index (rows, i));
      MhfAppointmentInfo info = { 0, };
      GTimeZone *zone;
      MhfPlanOutcome outcome;
      gint64 planned = 0;

      if (item == NULL)
        continue;
      mhf_scan_item_to_info (item, &info);

      /* The business's zone, else the account's: as the scanner plans. */
      zone = item->business_id != NULL ? g_hash_table_lookup (d->business_zones,
                                                              item->business_id) : NULL;
      outcome = mhf_planner_decide (&d->spec, &info, zone != NULL ? zone : d->account_zone, now,
                                    &planned, NULL);

      /* Only sends inside the days asked about count. */
      if (outcome == MHF_PLAN_PLANNED && planned >= horizon)
        continue;
      counts[outcome]++;
      if (outcome == MHF_PLAN_PLANNED)
        g_array_append_val (planned_times, planned);
    }

  g_array_sort (planned_times, compare_times);
  g_variant_builder_init (&first, G_VARIANT_TYPE ("ax"));
  for (guint i = 0; i < planned_times->len && i < MAX_FIRST; i++)
    g_variant_builder_add (&first, "x", g_array_index (planned_times, gint64, i));

  g_variant_dict_insert (&dict, "appointments", "u",
                         counts[MHF_PLAN_PLANNED] + counts[MHF_PLAN_FILTERED_OUT] +
                         counts[MHF_PLAN_CANCELLED] + counts[MHF_PLAN_TOO_LATE] +
                         counts[MHF_PLAN_BEFORE_ENABLED]);
  g_variant_dict_insert (&dict, "planned", "u", counts[MHF_PLAN_PLANNED]);
  g_variant_dict_insert (&dict, "filtered-out", "u", counts[MHF_PLAN_FILTERED_OUT]);
  g_variant_dict_insert (&dict, "cancelled", "u", counts[MHF_PLAN_CANCELLED]);
  g_variant_dict_insert (&dict, "too-late", "u", counts[MHF_PLAN_TOO_LATE]);
  g_variant_dict_insert (&dict, "in-the-past", "u", counts[MHF_PLAN_BEFORE_ENABLED]);
  g_variant_dict_insert_value (&dict, "first-planned", g_variant_builder_end (&first));

  mhf_ipc_agent1_complete_dry_run_rule (MHF_IPC_AGENT1 (d->self), d->invocation,
                                        g_variant_dict_end (&dict));
  dry_run_free (d);
}

static void
start_listing (DryRun *d)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) from = NULL;
  g_autoptr(GDateTime) to = NULL;
  g_autofree char *from_text = NULL;
  g_autofree char *to_text = NULL;
  g_autofree char *q_from = NULL;
  g_autofree char *q_to = NULL;
  gint64 offset_days = d->spec.timing.kind == MHF_TIMING_DAYS_BEFORE_AT
    ? d->spec.timing.days : d->spec.timing.offset_minutes / (24 * 60);
  const char *params[] = { NULL, NULL, "sort=starts_at", NULL };

  /* Appointments whose message could fall in the days asked about: for a
   * reminder, starting up to the offset after them; for other kinds,
   * having started up to the offset before. */
  if (d->spec.timing.kind == MHF_TIMING_AFTER_END)
    {
      from = g_date_time_add_days (now, -(gint) offset_days - 1);
      to = g_date_time_add_days (now, (gint) d->days + 1);
    }
  else
    {
      from = g_date_time_add_days (now, -1);
      to = g_date_time_add_days (now, (gint) (d->days + offset_days + 1));
    }

  from_text = g_date_time_format (from, "%Y-%m-%dT%H:%M:%SZ");
  to_text = g_date_time_format (to, "%Y-%m-%dT%H:%M:%SZ");
  q_from = g_strdup_printf ("q[]=starts_at:>=%s", from_text);
  q_to = g_strdup_printf ("q[]=starts_at:<%s", to_text);
  params[0] = q_from;
  params[1] = q_to;

  d->client = mhf_agent_service_new_cliniko_client (d->self, d->base_url, d->key, d->fingerprint);
  mhf_cliniko_client_list_async (d->client, "/individual_appointments", "individual_appointments",
                                 params, NULL, listed_cb, d);
}

static void
key_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  DryRun *d = user_data;
  g_autoptr(GError) error = NULL;

  d->key = mhf_keyring_lookup_finish (result, &error);
  if (d->key == NULL)
    {
      fail (d, error != NULL ? g_steal_pointer (&error)
                             : g_error_new_literal (MHF_ERROR, MHF_ERROR_NOT_ALLOWED,
                                                    "This clinic is not connected to Cliniko"));
      return;
    }
  start_listing (d);
}

static void
read_worker (GTask   *task,
             sqlite3 *db,
             gpointer task_data)
{
  DryRun *d = task_data;
  GError *error = NULL;

  if (!mhf_scan_read_clinic (db, d->clinic_id, &d->base_url, &d->fingerprint, &d->account_zone,
                             d->business_zones, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  DryRun *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *clinic = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      fail (d, g_steal_pointer (&error));
      return;
    }

  clinic = g_strdup_printf ("%" G_GINT64_FORMAT, d->clinic_id);
  mhf_keyring_lookup_async (MHF_SECRET_KIND_CLINIKO_API_KEY, clinic, NULL, key_cb, d);
}

static gboolean
handle_dry_run_rule (MhfIpcAgent1          *object,
                     GDBusMethodInvocation *invocation,
                     gint64                 clinic,
                     GVariant              *rule,
                     guint                  days)
{
  MhfAgentService *self = MHF_AGENT_SERVICE (object);
  g_autoptr(GError) error = NULL;
  DryRun *d;

  if (days < 1 || days > 60)
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR, MHF_ERROR_INVALID_INPUT,
                                                     "days: 1 to 60");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  if (self->store == NULL || !mhf_store_is_open (self->store))
    {
      g_dbus_method_invocation_return_error_literal (invocation, MHF_ERROR,
                                                     MHF_ERROR_DATABASE_UNAVAILABLE,
                                                     "The database is not open; see GetStatus");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  d = g_new0 (DryRun, 1);
  if (!mhf_rule_spec_parse (rule, &d->spec, &error))
    {
      dry_run_free (d);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  d->self = g_object_ref (self);
  d->invocation = g_object_ref (invocation);
  d->clinic_id = clinic;
  d->days = days;
  d->business_zones = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) g_time_zone_unref);
  mhf_store_run_async (self->store, read_worker, d, NULL, NULL, read_cb, d);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mhf_agent_service_dry_run_init (MhfIpcAgent1Iface *iface)
{
  iface->handle_dry_run_rule = handle_dry_run_rule;
}
