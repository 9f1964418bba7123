/* test-cliniko-client.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The Cliniko client, its rate limiter and helpers, against the fake
 * Cliniko server (tests/fake-cliniko) running in its own thread. Expected
 * counts come from the fake's own answers and request log.
 */

#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "mhf-cliniko-client.h"
#include "mhf-cliniko-limiter.h"
#include "mhf-cliniko-util.h"
#include "mhf-error.h"
#include "mhf-fake-cliniko.h"

#define KEY "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define KEY_WRONG "MS0xLTAwMDAwMDAwMDAtYWJj-au2"
#define BIG_ID "836447129235883061"
#define TIME_ZONES_RESOURCE RESOURCE_BASE "/agent/cliniko-time-zones.tsv"

typedef struct
{
  MhfFakeCliniko   *fake;
  MhfClinikoClient *client;
} Fixture;

typedef struct
{
  gboolean  done;
  JsonNode *node;
  GPtrArray *rows;
  GError   *error;
} Wait;

static void
wait_clear (Wait *wait)
{
  g_clear_pointer (&wait->node, json_node_unref);
  g_clear_pointer (&wait->rows, g_ptr_array_unref);
  g_clear_error (&wait->error);
  wait->done = FALSE;
}

static void
wait_run (Wait *wait)
{
  while (!wait->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
get_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  Wait *wait = user_data;

  wait->node = mhf_cliniko_client_get_finish (MHF_CLINIKO_CLIENT (object), result, &wait->error);
  wait->done = TRUE;
}

static void
post_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wait *wait = user_data;

  wait->node = mhf_cliniko_client_post_finish (MHF_CLINIKO_CLIENT (object), result, &wait->error);
  wait->done = TRUE;
}

static void
list_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wait *wait = user_data;

  wait->rows = mhf_cliniko_client_list_finish (MHF_CLINIKO_CLIENT (object), result, &wait->error);
  wait->done = TRUE;
}

static void
do_get (MhfClinikoClient   *client,
        const char         *path,
        const char * const *params,
        Wait               *wait)
{
  wait_clear (wait);
  mhf_cliniko_client_get_async (client, path, params, NULL, get_cb, wait);
  wait_run (wait);
}

static void
do_list (MhfClinikoClient   *client,
         const char         *path,
         const char         *key,
         const char * const *params,
         Wait               *wait)
{
  wait_clear (wait);
  mhf_cliniko_client_list_async (client, path, key, params, NULL, list_cb, wait);
  wait_run (wait);
}

static gint64
total_entries (MhfClinikoClient   *client,
               const char         *path,
               const char * const *params)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) all = NULL;
  Wait wait = { 0 };
  gint64 total;

  if (params)
    g_strv_builder_addv (builder, (const char **) params);
  g_strv_builder_add (builder, "per_page=1");
  all = g_strv_builder_end (builder);

  do_get (client, path, (const char * const *) all, &wait);
  g_assert_no_error (wait.error);
  total = json_object_get_int_member_with_default (json_node_get_object (wait.node), "total_entries", -1);
  g_assert_cmpint (total, >=, 0);
  wait_clear (&wait);
  return total;
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *fixture_path = g_test_build_filename (G_TEST_DIST, "fake-cliniko", "sample-clinic.json", NULL);
  g_autoptr(GError) error = NULL;

  f->fake = mhf_fake_cliniko_new (fixture_path, &error);
  g_assert_no_error (error);
  mhf_fake_cliniko_start (f->fake, &error);
  g_assert_no_error (error);

  f->client = mhf_cliniko_client_new (mhf_fake_cliniko_get_base_url (f->fake),
                                      data ? data : KEY, NULL, NULL);
  g_assert_nonnull (f->client);
  mhf_cliniko_client_set_retry (f->client, 5, 5);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_object (&f->client);
  mhf_fake_cliniko_stop (f->fake);
  g_clear_object (&f->fake);
}

/* ---- helpers ---------------------------------------------------------- */

static void
test_util_shard (void)
{
  static const struct { const char *key; const char *shard; } cases[] = {
    { "MS0xLTEyMzQ1Njc4OTAtYWJj", "au1" },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-au2", "au2" },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-UK1", "uk1" },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-eu12", "eu12" },
    { "a-b-ca1", "ca1" },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-abc", NULL },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-a1", NULL },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-au123", NULL },
    { "MS0xLTEyMzQ1Njc4OTAtYWJj-", NULL },
    { "-au2", NULL },
    { "", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *shard = NULL;
      gboolean ok;

      ok = mhf_cliniko_shard_from_key (cases[i].key, &shard, &error);
      if (cases[i].shard)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpstr (shard, ==, cases[i].shard);
        }
      else
        {
          g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
          g_assert_false (ok);
          g_assert_null (shard);
          if (*cases[i].key != '\0')
            g_assert_null (strstr (error->message, cases[i].key));
          g_assert_null (strstr (error->message, "MS0x"));
        }
    }

  {
    g_autofree char *url = mhf_cliniko_base_url_for_shard ("au2");
    g_assert_cmpstr (url, ==, "https://api.au2.cliniko.com/v1");
  }
}

static void
test_util_fingerprint (void)
{
  g_autofree char *a = mhf_cliniko_key_fingerprint (KEY);
  g_autofree char *b = mhf_cliniko_key_fingerprint (KEY);
  g_autofree char *c = mhf_cliniko_key_fingerprint (KEY_WRONG);
  g_autofree char *full = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY, -1);

  g_assert_cmpuint (strlen (a), ==, 12);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (a, !=, c);
  g_assert_true (g_str_has_prefix (full, a));
  g_assert_null (strstr (KEY, a));
}

static void
test_util_id_from_link (void)
{
  static const struct { const char *url; const char *id; } cases[] = {
    { "https://api.au1.cliniko.com/v1/patients/82", "82" },
    { "https://api.au1.cliniko.com/v1/patients/82?page=1", "82" },
    { "https://api.au1.cliniko.com/v1/patients/1/invoices?page=1", "invoices" },
    { "http://127.0.0.1:4567/v1/individual_appointments/" BIG_ID, BIG_ID },
    { "https://api.uk2.cliniko.com/v1/users/7#frag", "7" },
    { "https://api.au1.cliniko.com/v1/patients/", NULL },
    { "not a url", NULL },
    { "", NULL },
    { NULL, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *id = mhf_cliniko_id_from_link (cases[i].url);

      g_assert_cmpstr (id, ==, cases[i].id);
    }
}

static void
test_util_override (void)
{
  static const struct { const char *url; gboolean ok; } cases[] = {
    { "http://127.0.0.1:8080/v1", TRUE },
    { "http://localhost", TRUE },
    { "https://localhost:4443/v1", TRUE },
    { "http://[::1]", TRUE },
    { "http://[::1]:9000/v1", TRUE },
    { "http://example.com", FALSE },
    { "https://api.au1.cliniko.com", FALSE },
    { "https://api.au1.cliniko.com/v1", FALSE },
    { "http://127.0.0.2/v1", FALSE },
    { "http://localhost.example.com/v1", FALSE },
    { "ftp://127.0.0.1/v1", FALSE },
    { "http://user@127.0.0.1/v1", FALSE },
    { "127.0.0.1:8080", FALSE },
    { "", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = mhf_cliniko_base_url_is_allowed_override (cases[i].url, &error);

      g_test_message ("override %s", cases[i].url);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_no_error (error);
      else
        {
          g_assert_error (error, MHF_ERROR, MHF_ERROR_INVALID_INPUT);
          g_assert_cmpstr (error->message, ==, "only a loopback address may replace Cliniko's address");
        }
    }
}

static void
test_util_rails_zones (void)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *text = NULL;
  guint n = 0;

  g_assert_cmpstr (mhf_cliniko_rails_zone_to_iana ("Melbourne"), ==, "Australia/Melbourne");
  g_assert_cmpstr (mhf_cliniko_rails_zone_to_iana ("Eastern Time (US & Canada)"), ==, "America/New_York");
  g_assert_null (mhf_cliniko_rails_zone_to_iana ("Atlantis"));
  g_assert_null (mhf_cliniko_rails_zone_to_iana (""));
  g_assert_null (mhf_cliniko_rails_zone_to_iana (NULL));
  g_assert_null (mhf_cliniko_rails_zone_to_iana ("# Cliniko's Rails-style time zone labels and the IANA zones they mean."));

  bytes = g_resources_lookup_data (TIME_ZONES_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      g_auto(GStrv) parts = NULL;
      g_autoptr(GTimeZone) tz = NULL;
      const char *iana;

      if (lines[i][0] == '\0' || lines[i][0] == '#')
        continue;
      parts = g_strsplit (lines[i], "\t", 2);
      g_assert_cmpuint (g_strv_length (parts), ==, 2);
      iana = mhf_cliniko_rails_zone_to_iana (parts[0]);
      g_assert_cmpstr (iana, ==, parts[1]);
      tz = g_time_zone_new_identifier (iana);
      if (tz == NULL)
        g_error ("%s → %s is not a zone this system knows", parts[0], iana);
      n++;
    }
  g_assert_cmpuint (n, >=, 140);
}

/* ---- limiter ---------------------------------------------------------- */

typedef struct
{
  guint   n_done;
  guint   n_cancelled;
  GArray *order;
} LimiterWait;

static void
acquire_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  LimiterWait *wait = user_data;
  g_autoptr(GError) error = NULL;

  if (mhf_cliniko_limiter_acquire_finish (MHF_CLINIKO_LIMITER (object), result, &error))
    g_array_append_val (wait->order, wait->n_done);
  else
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      wait->n_cancelled++;
    }
  wait->n_done++;
}

static void
assert_window (GArray *times,
               guint   max,
               guint   window_ms)
{
  for (guint i = 0; i + max < times->len; i++)
    {
      gint64 span = g_array_index (times, gint64, i + max) - g_array_index (times, gint64, i);

      if (span < (gint64) window_ms * 1000)
        g_error ("grants %u and %u are %" G_GINT64_FORMAT " µs apart: more than %u in %u ms",
                 i, i + max, span, max, window_ms);
    }
}

static void
test_limiter_window (void)
{
  g_autoptr(MhfClinikoLimiter) limiter = mhf_cliniko_limiter_new (5, 300);
  g_autoptr(GArray) times = NULL;
  LimiterWait wait = { 0, 0, g_array_new (FALSE, FALSE, sizeof (guint)) };
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < 20; i++)
    mhf_cliniko_limiter_acquire_async (limiter, NULL, acquire_cb, &wait);
  g_assert_cmpuint (mhf_cliniko_limiter_get_n_waiting (limiter), ==, 15);

  while (wait.n_done < 20)
    g_main_context_iteration (NULL, TRUE);

  times = mhf_cliniko_limiter_dup_grant_times (limiter);
  g_assert_cmpuint (times->len, ==, 20);
  assert_window (times, 5, 300);
  /* Four windows' worth: the last grants come after three windows. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);

  /* First come, first served. */
  for (guint i = 0; i < 20; i++)
    g_assert_cmpuint (g_array_index (wait.order, guint, i), ==, i);
  g_array_unref (wait.order);
}

static void
test_limiter_cancel (void)
{
  g_autoptr(MhfClinikoLimiter) limiter = mhf_cliniko_limiter_new (1, 60000);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  LimiterWait wait = { 0, 0, g_array_new (FALSE, FALSE, sizeof (guint)) };
  gint64 start;

  mhf_cliniko_limiter_acquire_async (limiter, NULL, acquire_cb, &wait);
  mhf_cliniko_limiter_acquire_async (limiter, cancellable, acquire_cb, &wait);
  while (wait.n_done < 1)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (mhf_cliniko_limiter_get_n_waiting (limiter), ==, 1);

  start = g_get_monotonic_time ();
  g_cancellable_cancel (cancellable);
  while (wait.n_done < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (wait.n_cancelled, ==, 1);
  g_assert_cmpuint (mhf_cliniko_limiter_get_n_waiting (limiter), ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_array_unref (wait.order);
}

/* ---- client against the fake ------------------------------------------ */

static void
test_user (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(GPtrArray) requests = NULL;
  MhfFakeRequest *request;
  JsonObject *user;
  Wait wait = { 0 };

  do_get (f->client, "/user", NULL, &wait);
  g_assert_no_error (wait.error);
  user = json_node_get_object (wait.node);
  g_assert_cmpstr (json_object_get_string_member_with_default (user, "id", NULL), ==, "1");
  g_assert_cmpstr (json_object_get_string_member_with_default (user, "time_zone_identifier", NULL),
                   ==, "Australia/Melbourne");
  g_assert_false (mhf_cliniko_client_get_key_rejected (f->client));

  requests = mhf_fake_cliniko_get_requests (f->fake);
  g_assert_cmpuint (requests->len, ==, 1);
  request = g_ptr_array_index (requests, 0);
  g_assert_cmpstr (request->method, ==, "GET");
  g_assert_cmpstr (request->path, ==, "/v1/user");
  g_assert_cmpstr (request->accept, ==, "application/json");
  g_assert_cmpstr (request->user_agent, ==, mhf_cliniko_user_agent ());
  g_assert_true (g_str_has_prefix (request->user_agent, "MyHealthFollowup Desktop/" PACKAGE_VERSION " ("));
  g_assert_true (request->has_authorization);
  g_assert_cmpstr (request->owner, ==, "1");
  g_assert_cmpuint (request->status, ==, 200);

  wait_clear (&wait);
}

static void
key_rejected_notify_cb (GObject    *object,
                        GParamSpec *pspec,
                        gpointer    user_data)
{
  (*(guint *) user_data)++;
}

static void
test_unauthorized (Fixture       *f,
                   gconstpointer  data)
{
  Wait wait = { 0 };
  guint notified = 0;

  g_signal_connect (f->client, "notify::key-rejected", G_CALLBACK (key_rejected_notify_cb), &notified);

  do_get (f->client, "/user", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED);
  g_assert_null (strstr (wait.error->message, KEY_WRONG));
  g_assert_true (mhf_cliniko_client_get_key_rejected (f->client));
  g_assert_cmpuint (notified, ==, 1);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, NULL, NULL), ==, 1);

  /* No retry storm: later calls fail without reaching the server. */
  do_get (f->client, "/user", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED);
  do_list (f->client, "/patients", "patients", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_UNAUTHORIZED);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, NULL, NULL), ==, 1);
  g_assert_cmpuint (notified, ==, 1);

  wait_clear (&wait);
}

static void
test_pagination (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) requests = NULL;
  gint64 total;
  guint pages;
  gboolean found_big = FALSE;
  Wait wait = { 0 };

  total = total_entries (f->client, "/individual_appointments", NULL);
  g_assert_cmpint (total, >, 400);
  mhf_fake_cliniko_clear_requests (f->fake);

  do_list (f->client, "/individual_appointments", "individual_appointments", NULL, &wait);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.rows->len, ==, total);

  for (guint i = 0; i < wait.rows->len; i++)
    {
      JsonObject *row = g_ptr_array_index (wait.rows, i);
      const char *id = json_object_get_string_member_with_default (row, "id", NULL);

      g_assert_nonnull (id);
      g_assert_false (g_hash_table_contains (ids, id));
      g_hash_table_add (ids, (gpointer) id);
      if (strcmp (id, BIG_ID) == 0)
        found_big = TRUE;
    }
  /* An id above 2^53 survives exactly. */
  g_assert_true (found_big);

  pages = (guint) ((total + 99) / 100);
  g_assert_cmpuint (pages, >=, 5);
  requests = mhf_fake_cliniko_get_requests (f->fake);
  g_assert_cmpuint (requests->len, ==, pages);
  for (guint i = 0; i < requests->len; i++)
    {
      MhfFakeRequest *request = g_ptr_array_index (requests, i);

      g_assert_cmpuint (request->status, ==, 200);
      g_assert_nonnull (strstr (request->query, "per_page=100"));
    }

  wait_clear (&wait);
}

static void
test_filters (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) from = g_date_time_add_days (now, -20);
  g_autoptr(GDateTime) to = g_date_time_add_days (now, 20);
  g_autofree char *from_s = g_date_time_format (from, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *to_s = g_date_time_format (to, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *q1 = g_strconcat ("starts_at:>=", from_s, NULL);
  g_autofree char *q2 = g_strconcat ("starts_at:<", to_s, NULL);
  g_autofree char *p1 = g_strconcat ("q[]=", q1, NULL);
  g_autofree char *p2 = g_strconcat ("q[]=", q2, NULL);
  const char *params[] = { p1, p2, "sort=starts_at:desc,created_at", "per_page=25", NULL };
  g_autoptr(GPtrArray) requests = NULL;
  const char *previous = NULL;
  gint64 total;
  Wait wait = { 0 };

  total = total_entries (f->client, "/individual_appointments", (const char * const *) params);
  g_assert_cmpint (total, >, 25);
  mhf_fake_cliniko_clear_requests (f->fake);

  do_list (f->client, "/individual_appointments", "individual_appointments", params, &wait);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.rows->len, ==, total);

  /* Every page carried both filters, decoded by the server as sent. */
  requests = mhf_fake_cliniko_get_requests (f->fake);
  g_assert_cmpuint (requests->len, ==, (total + 24) / 25);
  for (guint i = 0; i < requests->len; i++)
    {
      MhfFakeRequest *request = g_ptr_array_index (requests, i);

      g_assert_cmpuint (request->status, ==, 200);
      g_assert_cmpuint (g_strv_length (request->q), ==, 2);
      g_assert_cmpstr (request->q[0], ==, q1);
      g_assert_cmpstr (request->q[1], ==, q2);
    }

  /* The sort reached the server: starts_at descending. */
  for (guint i = 0; i < wait.rows->len; i++)
    {
      const char *starts_at = json_object_get_string_member_with_default (g_ptr_array_index (wait.rows, i),
                                                                          "starts_at", NULL);

      g_assert_nonnull (starts_at);
      g_assert_cmpstr (starts_at, >=, from_s);
      g_assert_cmpstr (starts_at, <, to_s);
      if (previous)
        g_assert_cmpstr (previous, >=, starts_at);
      previous = starts_at;
    }

  wait_clear (&wait);
}

static void
test_big_id (Fixture       *f,
             gconstpointer  data)
{
  Wait wait = { 0 };
  JsonObject *row;
  JsonNode *id;
  g_autofree char *patient_id = NULL;
  JsonObject *patient;

  do_get (f->client, "/individual_appointments/" BIG_ID, NULL, &wait);
  g_assert_no_error (wait.error);
  row = json_node_get_object (wait.node);
  id = json_object_get_member (row, "id");
  g_assert_nonnull (id);
  g_assert_true (json_node_get_value_type (id) == G_TYPE_STRING);
  g_assert_cmpstr (json_node_get_string (id), ==, BIG_ID);

  patient = json_object_get_object_member (row, "patient");
  g_assert_nonnull (patient);
  patient_id = mhf_cliniko_id_from_link (json_object_get_string_member_with_default (
                                           json_object_get_object_member (patient, "links"), "self", NULL));
  g_assert_nonnull (patient_id);
  g_assert_true (strlen (patient_id) > 0);

  wait_clear (&wait);
}

static void
test_http_errors (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(JsonNode) body = NULL;
  g_autoptr(JsonNode) bad = NULL;
  Wait wait = { 0 };

  do_get (f->client, "/patients/999", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_NOT_FOUND);

  mhf_fake_cliniko_set_role (f->fake, "receptionist");
  do_get (f->client, "/settings", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_FORBIDDEN);
  g_assert_nonnull (strstr (wait.error->message, "/v1/settings"));
  do_get (f->client, "/settings/public", NULL, &wait);
  g_assert_no_error (wait.error);

  /* 422 carries Cliniko's message; never retried. */
  bad = json_from_string ("{\"category_code\": 3, \"content\": \"x\"}", NULL);
  mhf_fake_cliniko_clear_requests (f->fake);
  wait_clear (&wait);
  mhf_cliniko_client_post_async (f->client, "/communications", bad, NULL, post_cb, &wait);
  wait_run (&wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_INVALID);
  g_assert_nonnull (strstr (wait.error->message, "Validation Failed"));
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "POST", NULL), ==, 1);

  body = json_from_string ("{\"category_code\":12,\"confidential\":false,\"direction_code\":1,"
                           "\"type_code\":2,\"patient_id\":\"" "308280147696131749" "\","
                           "\"from\":\"Harbourside Physio\",\"to\":\"someone@example.com\","
                           "\"content\":\"Reminder sent\"}", NULL);
  g_assert_nonnull (body);
  wait_clear (&wait);
  mhf_cliniko_client_post_async (f->client, "/communications", body, NULL, post_cb, &wait);
  wait_run (&wait);
  g_assert_no_error (wait.error);
  g_assert_nonnull (json_object_get_string_member_with_default (json_node_get_object (wait.node), "id", NULL));
  g_assert_false (mhf_cliniko_client_get_key_rejected (f->client));

  wait_clear (&wait);
}

static void
test_retry_then_success (Fixture       *f,
                         gconstpointer  data)
{
  MhfFakeFault fault = { .status = 502, .body = MHF_FAKE_BODY_NORMAL, .count = 2 };
  Wait wait = { 0 };

  mhf_fake_cliniko_add_fault (f->fake, "/user", &fault);
  do_get (f->client, "/user", NULL, &wait);
  g_assert_no_error (wait.error);
  g_assert_nonnull (wait.node);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/user"), ==, 3);

  wait_clear (&wait);
}

static void
test_server_error (Fixture       *f,
                   gconstpointer  data)
{
  MhfFakeFault fault = { .status = 503, .body = MHF_FAKE_BODY_NORMAL, .count = -1 };
  Wait wait = { 0 };

  mhf_cliniko_client_set_retry (f->client, 4, 5);
  mhf_fake_cliniko_add_fault (f->fake, "/user", &fault);
  do_get (f->client, "/user", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_SERVER);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/user"), ==, 4);
  g_assert_false (mhf_cliniko_client_get_key_rejected (f->client));

  wait_clear (&wait);
}

static void
test_malformed (Fixture       *f,
                gconstpointer  data)
{
  static const MhfFakeBody bodies[] = {
    MHF_FAKE_BODY_MALFORMED, MHF_FAKE_BODY_TRUNCATED, MHF_FAKE_BODY_NOT_OBJECT,
  };
  Wait wait = { 0 };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      MhfFakeFault fault = { .status = 0, .body = bodies[i], .count = 1 };

      mhf_fake_cliniko_clear_requests (f->fake);
      mhf_fake_cliniko_add_fault (f->fake, "/user", &fault);
      do_get (f->client, "/user", NULL, &wait);
      g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED);
      g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, NULL, NULL), ==, 1);

      /* The same in the middle of a list. */
      mhf_fake_cliniko_clear_faults (f->fake);
      mhf_fake_cliniko_add_fault (f->fake, "/patients", &fault);
      {
        const char *params[] = { "per_page=10", NULL };
        do_list (f->client, "/patients", "patients", params, &wait);
      }
      g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED);
      mhf_fake_cliniko_clear_faults (f->fake);
    }

  /* A list whose collection member is missing. */
  do_list (f->client, "/patients", "individual_appointments", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED);

  wait_clear (&wait);
}

static void
test_timeout_retry (Fixture       *f,
                    gconstpointer  data)
{
  MhfFakeFault fault = { .status = 0, .delay_ms = 2500, .body = MHF_FAKE_BODY_NORMAL, .count = 1 };
  Wait wait = { 0 };

  mhf_cliniko_client_set_timeout (f->client, 1);
  mhf_fake_cliniko_add_fault (f->fake, "/user", &fault);
  do_get (f->client, "/user", NULL, &wait);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, "GET", "/v1/user"), ==, 2);

  wait_clear (&wait);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel_backoff (Fixture       *f,
                     gconstpointer  data)
{
  MhfFakeFault fault = { .status = 500, .body = MHF_FAKE_BODY_NORMAL, .count = -1 };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Wait wait = { 0 };
  gint64 start = g_get_monotonic_time ();

  /* The backoff after the first failure would take 10-20 s. */
  mhf_cliniko_client_set_retry (f->client, 5, 20000);
  mhf_fake_cliniko_add_fault (f->fake, "/user", &fault);
  mhf_cliniko_client_get_async (f->client, "/user", NULL, cancellable, get_cb, &wait);
  g_timeout_add (300, cancel_cb, cancellable);
  wait_run (&wait);
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (mhf_fake_cliniko_count_requests (f->fake, NULL, NULL), ==, 1);

  wait_clear (&wait);
}

/* The client compares X-RateLimit-Reset with this clock. It stands for the
 * wall clock at the moment the client reads it after a 429: 59 s into the
 * fake's 60 s window, one second before the reset. By the time the client
 * retries, the fake's window is over. */
static gint64
reset_soon_clock (gpointer user_data)
{
  MhfFakeCliniko *fake = user_data;

  mhf_fake_cliniko_advance_clock (fake, 60);
  return (mhf_fake_cliniko_get_clock (fake) - 1) * G_USEC_PER_SEC;
}

/* A reset already in the past: the client waits only its minimum. */
static gint64
reset_past_clock (gpointer user_data)
{
  MhfFakeCliniko *fake = user_data;

  mhf_fake_cliniko_advance_clock (fake, 60);
  return (mhf_fake_cliniko_get_clock (fake) + 3600) * G_USEC_PER_SEC;
}

static void
run_rate_limited_list (Fixture             *f,
                       MhfClinikoClockFunc  clock,
                       gint64              *elapsed_us)
{
  const char *params[] = { "per_page=10", NULL };
  g_autoptr(GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) requests = NULL;
  guint n_429 = 0, n_200 = 0;
  gint64 total, start;
  Wait wait = { 0 };

  total = total_entries (f->client, "/patients", NULL);
  g_assert_cmpint (total, >, 60);

  mhf_fake_cliniko_set_clock (f->fake, g_get_real_time () / G_USEC_PER_SEC);
  mhf_fake_cliniko_set_rate_limit (f->fake, 3);
  mhf_fake_cliniko_clear_requests (f->fake);
  mhf_cliniko_client_set_clock_func (f->client, clock, f->fake);

  start = g_get_monotonic_time ();
  do_list (f->client, "/patients", "patients", params, &wait);
  *elapsed_us = g_get_monotonic_time () - start;
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.rows->len, ==, total);
  for (guint i = 0; i < wait.rows->len; i++)
    g_hash_table_add (ids, (gpointer) json_object_get_string_member_with_default (g_ptr_array_index (wait.rows, i), "id", ""));
  g_assert_cmpuint (g_hash_table_size (ids), ==, total);

  requests = mhf_fake_cliniko_get_requests (f->fake);
  for (guint i = 0; i < requests->len; i++)
    {
      MhfFakeRequest *request = g_ptr_array_index (requests, i);

      if (request->status == 429)
        n_429++;
      else if (request->status == 200)
        n_200++;
      else
        g_error ("unexpected status %u", request->status);
    }
  g_assert_cmpuint (n_200, ==, (total + 9) / 10);
  /* Three requests per window: every 4th one is refused, then waited out. */
  g_assert_cmpuint (n_429, ==, (n_200 - 1) / 3);
  g_assert_cmpuint (n_429, >=, 2);

  wait_clear (&wait);
}

static void
test_rate_limit_wait (Fixture       *f,
                      gconstpointer  data)
{
  gint64 elapsed;

  run_rate_limited_list (f, reset_soon_clock, &elapsed);
  /* Each 429 was waited out until its reset, about a second. */
  g_assert_cmpint (elapsed, >=, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (elapsed, <, 20 * G_USEC_PER_SEC);
}

static void
test_rate_limit_past_reset (Fixture       *f,
                            gconstpointer  data)
{
  gint64 elapsed;

  run_rate_limited_list (f, reset_past_clock, &elapsed);
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC);
}

static void
test_client_limiter (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(MhfClinikoLimiter) limiter = mhf_cliniko_limiter_new (3, 200);
  g_autoptr(MhfClinikoClient) client = NULL;
  g_autoptr(GArray) times = NULL;
  const char *params[] = { "per_page=10", NULL };
  gint64 total;
  Wait wait = { 0 };

  client = mhf_cliniko_client_new (mhf_fake_cliniko_get_base_url (f->fake), KEY, NULL, limiter);
  total = total_entries (client, "/patients", NULL);
  do_list (client, "/patients", "patients", params, &wait);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.rows->len, ==, total);

  times = mhf_cliniko_limiter_dup_grant_times (limiter);
  g_assert_cmpuint (times->len, ==, mhf_fake_cliniko_count_requests (f->fake, NULL, NULL));
  g_assert_cmpuint (times->len, >=, 7);
  assert_window (times, 3, 200);

  wait_clear (&wait);
}

/* ---- odd "next" links, from a tiny server in the test's main context ---- */

typedef struct
{
  SoupServer *server;
  char       *origin;
  GPtrArray  *queries;   /* query of each request, "" when none */
} OddServer;

static void
odd_server_cb (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  OddServer *odd = user_data;
  const char *raw = g_uri_get_query (soup_server_message_get_uri (msg));
  g_autofree char *body = NULL;

  g_ptr_array_add (odd->queries, g_strdup (raw ? raw : ""));

  if (strcmp (path, "/v1/things") == 0 && (raw == NULL || strstr (raw, "page=2") == NULL))
    /* Page 1: its next link drops our q[] and per_page. */
    body = g_strdup_printf ("{\"things\": [{\"id\": \"1\"}, {\"id\": 9007199254740993}],"
                            " \"total_entries\": 3,"
                            " \"links\": {\"self\": \"%s/v1/things\", \"next\": \"%s/v1/things?page=2\"}}",
                            odd->origin, odd->origin);
  else if (strcmp (path, "/v1/things") == 0)
    /* Page 2 repeats a row of page 1, as offset paging can. */
    body = g_strdup_printf ("{\"things\": [{\"id\": \"9007199254740993\"}, {\"id\": \"3\"}],"
                            " \"total_entries\": 3, \"links\": {\"self\": \"%s/v1/things?page=2\"}}",
                            odd->origin);
  else if (strcmp (path, "/v1/elsewhere") == 0)
    /* A next link to another host must not get the key. */
    body = g_strdup ("{\"things\": [], \"links\": {\"next\": \"http://127.0.0.2:1/v1/things?page=2\"}}");
  else if (strcmp (path, "/v1/loop") == 0)
    body = g_strdup_printf ("{\"things\": [], \"links\": {\"next\": \"%s/v1/loop?per_page=100\"}}",
                            odd->origin);
  else if (strcmp (path, "/v1/wrong-types") == 0)
    body = g_strdup ("{\"things\": [{\"id\": 1.5}]}");

  if (body == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    g_steal_pointer (&body), strlen (body));
}

static void
test_odd_links (void)
{
  OddServer odd = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(MhfClinikoClient) client = NULL;
  g_autoptr(GSList) uris = NULL;
  g_autofree char *base = NULL;
  const char *params[] = { "q[]=name:~a b+c%", NULL };
  Wait wait = { 0 };
  const char *second;

  odd.server = soup_server_new (NULL, NULL);
  odd.queries = g_ptr_array_new_with_free_func (g_free);
  soup_server_add_handler (odd.server, NULL, odd_server_cb, &odd, NULL);
  soup_server_listen_local (odd.server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (odd.server);
  odd.origin = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->data));
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  base = g_strconcat (odd.origin, "/v1", NULL);
  client = mhf_cliniko_client_new (base, KEY, NULL, NULL);

  /* Dropped parameters are put back; duplicates go; ids become strings. */
  do_list (client, "/things", "things", params, &wait);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.rows->len, ==, 3);
  g_assert_cmpstr (json_object_get_string_member_with_default (g_ptr_array_index (wait.rows, 1), "id", NULL),
                   ==, "9007199254740993");
  g_assert_cmpuint (odd.queries->len, ==, 2);
  second = g_ptr_array_index (odd.queries, 1);
  g_assert_true (g_str_has_prefix (second, "page=2&"));
  g_assert_nonnull (strstr (second, "q%5B%5D=name%3A~a%20b%2Bc%25"));
  g_assert_nonnull (strstr (second, "per_page=100"));

  g_ptr_array_set_size (odd.queries, 0);
  do_list (client, "/elsewhere", "things", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED);
  g_assert_cmpuint (odd.queries->len, ==, 1);

  do_list (client, "/loop", "things", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED);

  do_list (client, "/wrong-types", "things", NULL, &wait);
  g_assert_error (wait.error, MHF_CLINIKO_ERROR, MHF_CLINIKO_ERROR_MALFORMED);

  wait_clear (&wait);
  g_clear_object (&client);
  soup_server_disconnect (odd.server);
  g_clear_object (&odd.server);
  g_ptr_array_unref (odd.queries);
  g_free (odd.origin);
}

int
main (int   argc,
      char *argv[])
{
  /* The client keeps the system's proxy settings; GNOME's resolver needs a
   * schema the test environment does not have, and the fake is on
   * loopback anyway. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/mhf/agent/cliniko-client/util/shard", test_util_shard);
  g_test_add_func ("/mhf/agent/cliniko-client/util/fingerprint", test_util_fingerprint);
  g_test_add_func ("/mhf/agent/cliniko-client/util/id-from-link", test_util_id_from_link);
  g_test_add_func ("/mhf/agent/cliniko-client/util/override", test_util_override);
  g_test_add_func ("/mhf/agent/cliniko-client/util/rails-zones", test_util_rails_zones);
  g_test_add_func ("/mhf/agent/cliniko-client/limiter/window", test_limiter_window);
  g_test_add_func ("/mhf/agent/cliniko-client/limiter/cancel", test_limiter_cancel);
  g_test_add_func ("/mhf/agent/cliniko-client/odd-links", test_odd_links);

#define ADD(path, func, key) \
  g_test_add ("/mhf/agent/cliniko-client/" path, Fixture, key, fixture_set_up, func, fixture_tear_down)

  ADD ("user", test_user, KEY);
  ADD ("unauthorized", test_unauthorized, KEY_WRONG);
  ADD ("pagination", test_pagination, KEY);
  ADD ("filters", test_filters, KEY);
  ADD ("big-id", test_big_id, KEY);
  ADD ("http-errors", test_http_errors, KEY);
  ADD ("retry-then-success", test_retry_then_success, KEY);
  ADD ("server-error", test_server_error, KEY);
  ADD ("malformed", test_malformed, KEY);
  ADD ("timeout-retry", test_timeout_retry, KEY);
  ADD ("cancel-during-backoff", test_cancel_backoff, KEY);
  ADD ("rate-limit/wait-for-reset", test_rate_limit_wait, KEY);
  ADD ("rate-limit/reset-in-past", test_rate_limit_past_reset, KEY);
  ADD ("limiter", test_client_limiter, KEY);

#undef ADD

  return g_test_run ();
}
