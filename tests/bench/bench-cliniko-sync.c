/* bench-cliniko-sync.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Issue 4's benchmark: sync a 30-day window of about 20,000 appointments (the fixture has 80,000 over 60 days, some cancelled or deleted)
 * from the fake Cliniko through MhfClinikoClient and print what it cost.
 * Figures, not assertions: machines are noisy.
 *
 *   requests used vs the minimum ceil(n / 100)   (goal: ≤ 1.02 ×)
 *   most requests in any window of the limiter    (goal: ≤ its cap)
 *   wall time and peak RSS
 *
 * The limiter runs on a compressed clock: a cap of 30 requests per
 * second stands in for 180 a minute, so a run takes seconds, not minutes.
 */

#include "config.h"

#include <math.h>
#include <sys/resource.h>

#include "mhf-cliniko-client.h"
#include "mhf-cliniko-limiter.h"
#include "mhf-fake-cliniko.h"

#define KEY        "MS0xLTEyMzQ1Njc4OTAtYWJj-au2"
#define CAP        30
#define WINDOW_MS  1000

static void
done_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static char *
utc (GDateTime *when)
{
  return g_date_time_format (when, "%Y-%m-%dT%H:%M:%SZ");
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MhfFakeCliniko) fake = NULL;
  g_autoptr(MhfClinikoLimiter) limiter = NULL;
  g_autoptr(MhfClinikoClient) client = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) grants = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) from = g_date_time_add_days (now, -15);
  g_autoptr(GDateTime) to = g_date_time_add_days (now, 15);
  g_autoptr(GError) error = NULL;
  g_autofree char *from_s = utc (from);
  g_autofree char *to_s = utc (to);
  g_autofree char *q_from = g_strdup_printf ("q[]=starts_at:>=%s", from_s);
  g_autofree char *q_to = g_strdup_printf ("q[]=starts_at:<%s", to_s);
  const char *params[] = { q_from, q_to, "sort=starts_at", NULL };
  struct rusage usage;
  gint64 started, elapsed;
  guint requests, minimum, window_max = 0;

  if (argc < 2)
    {
      g_printerr ("usage: %s FIXTURE.json\n", argv[0]);
      return 2;
    }

  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);

  fake = mhf_fake_cliniko_new (argv[1], &error);
  g_assert_no_error (error);
  mhf_fake_cliniko_set_rate_limit (fake, 1000000);
  mhf_fake_cliniko_start (fake, &error);
  g_assert_no_error (error);

  limiter = mhf_cliniko_limiter_new (CAP, WINDOW_MS);
  client = mhf_cliniko_client_new (mhf_fake_cliniko_get_base_url (fake), KEY,
                                   mhf_cliniko_user_agent (), limiter);

  started = g_get_monotonic_time ();
  mhf_cliniko_client_list_async (client, "/individual_appointments", "individual_appointments",
                                 params, NULL, done_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  rows = mhf_cliniko_client_list_finish (client, result, &error);
  g_assert_no_error (error);
  elapsed = g_get_monotonic_time () - started;

  requests = mhf_fake_cliniko_count_requests (fake, "GET", "/v1/individual_appointments");
  minimum = (rows->len + 99) / 100;

  /* The busiest window of the limiter's own length, over every grant. */
  grants = mhf_cliniko_limiter_dup_grant_times (limiter);
  for (guint i = 0, j = 0; i < grants->len; i++)
    {
      gint64 t = g_array_index (grants, gint64, i);

      while (t - g_array_index (grants, gint64, j) >= WINDOW_MS * 1000)
        j++;
      window_max = MAX (window_max, i - j + 1);
    }

  getrusage (RUSAGE_SELF, &usage);

  g_print ("cliniko-sync: %u appointments in the 30-day window\n", rows->len);
  g_print ("cliniko-sync: requests %u, minimum ceil(n/100) %u, ratio %.3f (goal <= 1.02)\n",
           requests, minimum, minimum > 0 ? (double) requests / minimum : 0.0);
  g_print ("cliniko-sync: most requests in any %u ms window: %u (cap %u)\n",
           WINDOW_MS, window_max, CAP);
  g_print ("cliniko-sync: wall time %.2f s, peak RSS %.1f MiB (includes the fake server)\n",
           elapsed / 1e6, usage.ru_maxrss / 1024.0);

  mhf_fake_cliniko_stop (fake);
  return 0;
}
