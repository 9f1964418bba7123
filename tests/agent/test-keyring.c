/* test-keyring.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * MhfKeyring against a real gnome-keyring-daemon on a private bus.
 */

#include "config.h"

#include "mhf-error.h"
#include "mhf-keyring.h"
#include "mhf-test-bus.h"

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static void
result_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static MhfKeyringState
probe (void)
{
  g_autoptr(GAsyncResult) result = NULL;

  mhf_keyring_probe_async (NULL, result_cb, &result);
  return mhf_keyring_probe_finish (wait_result (&result), NULL);
}

static gboolean
store (const char  *kind,
       const char  *clinic,
       const char  *secret,
       GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  mhf_keyring_store_async (kind, clinic, "test secret", secret, NULL, result_cb, &result);
  return mhf_keyring_store_finish (wait_result (&result), error);
}

static char *
lookup (const char  *kind,
        const char  *clinic,
        GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  mhf_keyring_lookup_async (kind, clinic, NULL, result_cb, &result);
  return mhf_keyring_lookup_finish (wait_result (&result), error);
}

static gboolean
clear (const char  *kind,
       const char  *clinic,
       GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  mhf_keyring_clear_async (kind, clinic, NULL, result_cb, &result);
  return mhf_keyring_clear_finish (wait_result (&result), error);
}

/* Not static, so that the compiler keeps the store below. */
MhfTestBus *kept_until_exit;

static void
store_lookup_clear (void)
{
  MhfTestBus *bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING | MHF_TEST_BUS_NO_AGENT);
  g_autoptr(GError) error = NULL;
  char *value;

  g_assert_cmpint (probe (), ==, MHF_KEYRING_STATE_OK);

  value = lookup (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", &error);
  g_assert_no_error (error);
  g_assert_null (value);

  g_assert_true (store (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", "first-value", &error));
  g_assert_no_error (error);
  g_assert_true (store (MHF_SECRET_KIND_CLINIKO_API_KEY, "2", "other-clinic", &error));
  g_assert_no_error (error);

  value = lookup (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "first-value");
  mhf_keyring_secret_free (value);

  /* Same kind and clinic: replaced, not duplicated. */
  g_assert_true (store (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", "second-value", &error));
  value = lookup (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", &error);
  g_assert_cmpstr (value, ==, "second-value");
  mhf_keyring_secret_free (value);

  /* Another kind for the same clinic is another item. */
  value = lookup (MHF_SECRET_KIND_SMTP_PASSWORD, "1", &error);
  g_assert_no_error (error);
  g_assert_null (value);

  g_assert_true (clear (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", &error));
  g_assert_no_error (error);
  value = lookup (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", &error);
  g_assert_no_error (error);
  g_assert_null (value);

  /* Clearing what is not there is not an error. */
  g_assert_false (clear (MHF_SECRET_KIND_CLINIKO_API_KEY, "1", &error));
  g_assert_no_error (error);

  value = lookup (MHF_SECRET_KIND_CLINIKO_API_KEY, "2", &error);
  g_assert_cmpstr (value, ==, "other-clinic");
  mhf_keyring_secret_free (value);

  /* libsecret 0.20 keeps a reference to the session bus connection after a
   * second call on its shared service, so this process cannot wait for the
   * connection to be released. It runs in a subprocess of its own and keeps
   * the bus until it exits; GTestDBus's watcher then stops the bus and the
   * keyring with it. */
  kept_until_exit = bus;
}

static void
test_store_lookup_clear (void)
{
  if (g_test_subprocess ())
    {
      store_lookup_clear ();
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_unavailable (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_NO_AGENT);
  g_autoptr(GError) error = NULL;
  char *value;

  g_assert_cmpint (probe (), ==, MHF_KEYRING_STATE_UNAVAILABLE);

  g_assert_false (store (MHF_SECRET_KIND_SMTP_PASSWORD, "1", "x", &error));
  g_assert_error (error, MHF_ERROR, MHF_ERROR_KEYRING_UNAVAILABLE);
  g_clear_error (&error);

  value = lookup (MHF_SECRET_KIND_SMTP_PASSWORD, "1", &error);
  g_assert_null (value);
  g_assert_error (error, MHF_ERROR, MHF_ERROR_KEYRING_UNAVAILABLE);
}

static void
test_locked (void)
{
  g_autoptr(MhfTestBus) bus = mhf_test_bus_new (MHF_TEST_BUS_KEYRING_LOCKED | MHF_TEST_BUS_NO_AGENT);

  /* Probing never prompts; it reports the lock. */
  g_assert_cmpint (probe (), ==, MHF_KEYRING_STATE_LOCKED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  (void) mhf_error_quark ();

  g_test_add_func ("/mhf/agent/keyring/store-lookup-clear", test_store_lookup_clear);
  g_test_add_func ("/mhf/agent/keyring/unavailable", test_unavailable);
  g_test_add_func ("/mhf/agent/keyring/locked", test_locked);

  return g_test_run ();
}
